//! Comment commands in issue threads: `/label off` (sift never touches the issue) and
//! `/label auto` (fresh suggestions wanted), honoured only from the issue's author or from
//! users GitHub marks OWNER, MEMBER or COLLABORATOR.

use crate::model::Comment;

/// A command found in a comment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommandKind {
    Off,
    Auto,
}

/// What the commands of one issue thread add up to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CommandState {
    /// The latest authorised command was `/label off`.
    pub off: bool,
    /// An authorised `/label auto` was written after `since` (or ever, without `since`).
    pub new_auto: bool,
    /// Commands ignored because their author may not give them.
    pub ignored: usize,
}

/// The command a comment body gives: a line that is exactly `/label off` or `/label auto`.
pub fn parse_command(body: &str) -> Option<CommandKind> {
    body.lines().find_map(|line| {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            [cmd, arg] if cmd.eq_ignore_ascii_case("/label") => {
                if arg.eq_ignore_ascii_case("off") {
                    Some(CommandKind::Off)
                } else if arg.eq_ignore_ascii_case("auto") {
                    Some(CommandKind::Auto)
                } else {
                    None
                }
            }
            _ => None,
        }
    })
}

/// Whether a commenter may give commands on an issue by `issue_author`.
pub fn authorised(comment: &Comment, issue_author: Option<&str>) -> bool {
    let assoc = comment.author_association.to_ascii_uppercase();
    matches!(assoc.as_str(), "OWNER" | "MEMBER" | "COLLABORATOR")
        || issue_author.is_some_and(|a| !a.is_empty() && a.eq_ignore_ascii_case(&comment.author))
}

/// Fold a thread's commands (comments in the order GitHub lists them: oldest first).
pub fn command_state(
    issue_author: Option<&str>,
    comments: &[Comment],
    since: Option<&str>,
) -> CommandState {
    let mut st = CommandState::default();
    for c in comments {
        let Some(cmd) = parse_command(&c.body) else { continue };
        if !authorised(c, issue_author) {
            st.ignored += 1;
            continue;
        }
        match cmd {
            CommandKind::Off => st.off = true,
            CommandKind::Auto => {
                st.off = false;
                // RFC 3339 UTC timestamps of equal shape compare as text.
                if since.is_none_or(|s| c.created_at.as_str() > s) {
                    st.new_auto = true;
                }
            }
        }
    }
    st
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(author: &str, assoc: &str, body: &str, at: &str) -> Comment {
        Comment {
            id: None,
            author: author.into(),
            author_association: assoc.into(),
            body: body.into(),
            created_at: at.into(),
        }
    }

    #[test]
    fn parses_commands_on_their_own_line() {
        assert_eq!(parse_command("thanks\n/label off\n"), Some(CommandKind::Off));
        assert_eq!(parse_command("  /LABEL Auto "), Some(CommandKind::Auto));
        assert_eq!(parse_command("please /label off"), None);
        assert_eq!(parse_command("/label offline"), None);
    }

    #[test]
    fn only_authorised_users_count() {
        let cs = [c("mallory", "NONE", "/label off", "2026-01-01T00:00:00Z")];
        let st = command_state(Some("alice"), &cs, None);
        assert!(!st.off);
        assert_eq!(st.ignored, 1);
        let cs = [c("alice", "NONE", "/label off", "2026-01-01T00:00:00Z")];
        assert!(command_state(Some("alice"), &cs, None).off);
        let cs = [c("bob", "MEMBER", "/label off", "2026-01-01T00:00:00Z")];
        assert!(command_state(Some("alice"), &cs, None).off);
        let cs = [c("bob", "CONTRIBUTOR", "/label off", "2026-01-01T00:00:00Z")];
        assert!(!command_state(Some("alice"), &cs, None).off);
    }

    #[test]
    fn latest_command_wins_and_auto_is_new_only_after_since() {
        let cs = [
            c("o", "OWNER", "/label off", "2026-01-01T00:00:00Z"),
            c("o", "OWNER", "/label auto", "2026-01-02T00:00:00Z"),
        ];
        let st = command_state(None, &cs, Some("2026-01-03T00:00:00Z"));
        assert!(!st.off);
        assert!(!st.new_auto);
        assert!(command_state(None, &cs, Some("2026-01-01T12:00:00Z")).new_auto);
    }
}
