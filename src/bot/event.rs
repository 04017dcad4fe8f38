//! GitHub webhook payloads as Actions hands them to `sift triage` (`GITHUB_EVENT_PATH`): what
//! the bot is asked to do, or why there is nothing to do. Pure: no IO.

use serde_json::Value;

use crate::model::Comment;

/// What an event asks of the bot.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// An issue to suggest for and act on (opened, reopened, edited with `bot.on_edit`).
    Triage { repo: String, number: i64, action: String },
    /// A comment that may hold `/label auto` or `/label off`.
    Comment { repo: String, number: i64, comment: Comment, issue_author: Option<String> },
    /// Nothing to do, and the one line that says why.
    Nothing(String),
}

/// Read an event. `name` is `GITHUB_EVENT_NAME` when known; otherwise the payload's shape
/// decides (a `comment` object makes it `issue_comment`, an `issue` object `issues`).
pub fn parse(name: Option<&str>, payload: &Value, on_edit: bool) -> Result<Event, String> {
    let name = match name.filter(|n| !n.is_empty()) {
        Some(n) => n.to_string(),
        None if payload.get("comment").is_some() && payload.get("issue").is_some() => {
            "issue_comment".into()
        }
        None if payload.get("issue").is_some() => "issues".into(),
        None if payload.get("pull_request").is_some() => "pull_request".into(),
        None => "unknown".into(),
    };
    let action = payload.get("action").and_then(Value::as_str).unwrap_or("").to_string();
    if name != "issues" && name != "issue_comment" {
        return Ok(Event::Nothing(format!("event `{name}`: nothing to do (sift triages issues)")));
    }
    let issue = payload.get("issue").ok_or("the payload has no `issue` object")?;
    let number = issue.get("number").and_then(Value::as_i64).ok_or("the issue has no number")?;
    let repo = payload
        .pointer("/repository/full_name")
        .and_then(Value::as_str)
        .ok_or("the payload has no repository.full_name")?
        .to_string();
    if issue.get("pull_request").is_some_and(|v| !v.is_null()) {
        return Ok(Event::Nothing(format!("{repo}#{number} is a pull request: nothing to do")));
    }
    if name == "issues" {
        return Ok(match action.as_str() {
            "opened" | "reopened" => Event::Triage { repo, number, action },
            "edited" if on_edit => Event::Triage { repo, number, action },
            "edited" => Event::Nothing(format!(
                "{repo}#{number} edited: nothing to do (bot.on_edit is off)"
            )),
            other => Event::Nothing(format!("issues.{other} on {repo}#{number}: nothing to do")),
        });
    }
    if action != "created" {
        return Ok(Event::Nothing(format!(
            "issue_comment.{action} on {repo}#{number}: nothing to do"
        )));
    }
    let c = payload.get("comment").ok_or("the payload has no `comment` object")?;
    let user = c.get("user").unwrap_or(&Value::Null);
    let author = user.get("login").and_then(Value::as_str).unwrap_or("").to_string();
    if is_bot(user) {
        return Ok(Event::Nothing(format!(
            "comment by {author} on {repo}#{number} is a bot's: nothing to do"
        )));
    }
    let comment = Comment {
        id: c.get("id").and_then(Value::as_i64),
        author,
        author_association: str_of(c, "author_association"),
        body: str_of(c, "body"),
        created_at: str_of(c, "created_at"),
    };
    let issue_author = issue.pointer("/user/login").and_then(Value::as_str).map(str::to_string);
    Ok(Event::Comment { repo, number, comment, issue_author })
}

fn str_of(v: &Value, key: &str) -> String {
    v.get(key).and_then(Value::as_str).unwrap_or("").to_string()
}

/// GitHub marks apps and Actions as `type: Bot`; their logins end in `[bot]`.
fn is_bot(user: &Value) -> bool {
    user.get("type").and_then(Value::as_str) == Some("Bot")
        || user.get("login").and_then(Value::as_str).is_some_and(|l| l.ends_with("[bot]"))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn issue_event(action: &str) -> Value {
        json!({
            "action": action,
            "issue": {"number": 7, "user": {"login": "alice", "type": "User"}, "labels": []},
            "repository": {"full_name": "acme/app"},
            "sender": {"login": "alice", "type": "User"},
        })
    }

    #[test]
    fn issues_opened_and_reopened_are_triaged_edited_only_when_asked() {
        for a in ["opened", "reopened"] {
            assert!(matches!(
                parse(Some("issues"), &issue_event(a), false).unwrap(),
                Event::Triage { number: 7, .. }
            ));
        }
        assert!(matches!(
            parse(Some("issues"), &issue_event("edited"), false).unwrap(),
            Event::Nothing(_)
        ));
        assert!(matches!(parse(None, &issue_event("edited"), true).unwrap(), Event::Triage { .. }));
        assert!(matches!(
            parse(Some("issues"), &issue_event("labeled"), true).unwrap(),
            Event::Nothing(_)
        ));
    }

    #[test]
    fn pull_requests_bots_and_other_events_are_nothing_to_do() {
        let mut pr = issue_event("opened");
        pr["issue"]["pull_request"] = json!({"url": "x"});
        assert!(matches!(parse(Some("issues"), &pr, false).unwrap(), Event::Nothing(_)));
        let mut c = issue_event("created");
        c["comment"] = json!({"id": 1, "body": "/label auto",
            "user": {"login": "sift-app[bot]", "type": "Bot"}});
        assert!(matches!(parse(Some("issue_comment"), &c, false).unwrap(), Event::Nothing(_)));
        assert!(matches!(parse(Some("push"), &json!({}), false).unwrap(), Event::Nothing(_)));
        assert!(parse(Some("issues"), &json!({"action": "opened"}), false).is_err());
    }

    #[test]
    fn a_comment_carries_its_author_and_association() {
        let mut c = issue_event("created");
        c["comment"] = json!({"id": 9, "body": "/label off", "author_association": "NONE",
            "created_at": "2026-01-01T00:00:00Z", "user": {"login": "bob", "type": "User"}});
        let Event::Comment { comment, issue_author, .. } = parse(None, &c, false).unwrap() else {
            panic!("not a comment event")
        };
        assert_eq!((comment.author.as_str(), comment.id), ("bob", Some(9)));
        assert_eq!(issue_author.as_deref(), Some("alice"));
    }
}
