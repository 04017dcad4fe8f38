//! The recommendation comment sift posts in comment mode: readable text wrapped in a hidden,
//! machine-readable block, and the parser that finds sift's own block again.
//!
//! `<!-- sift:start version=1 run=RUN --> ... <!-- sift:data {json} --> <!-- sift:end -->`

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::model::{Comment, LabelScore};

pub const BLOCK_VERSION: u32 = 1;

/// What the hidden block records.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CommentData {
    pub labels: Vec<LabelScore>,
    /// "gold" or "suggestion".
    pub source: String,
    pub sift: String,
    /// What the labeling bot (`sift triage`) decided, when it wrote the comment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bot: Option<BotAudit>,
}

/// The audit record of one bot decision (seed 000): who answered, with which prompt, at which
/// stage and thresholds, and what sift did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct BotAudit {
    pub stage: String,
    pub provider: String,
    pub model: String,
    pub prompt_hash: String,
    pub rationale: String,
    /// The threshold each recommended label was held to.
    pub thresholds: BTreeMap<String, f64>,
    /// Every label sift has applied to the issue (what `/label off` takes back).
    #[serde(default)]
    pub applied: Vec<String>,
    /// applied, recommended, abstained or off.
    pub decision: String,
    /// Why sift did less than the stage allows (the hourly cap), when it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// A block found in a comment.
#[derive(Debug, Clone, PartialEq)]
pub struct Block {
    pub version: u32,
    pub run: String,
    pub data: CommentData,
}

/// The full comment body for a recommendation.
pub fn render(run: &str, data: &CommentData) -> String {
    let text = match &data.bot {
        Some(b) => bot_text(data, b),
        None => plain_text(data),
    };
    let json = serde_json::to_string(data).unwrap_or_else(|_| "{}".into());
    // `<` and `>` only occur inside JSON strings, where \u escapes are equivalent; this keeps a
    // label name from closing the HTML comment.
    let json = json.replace('<', "\\u003c").replace('>', "\\u003e").replace('@', "\\u0040");
    format!(
        "<!-- sift:start version={BLOCK_VERSION} run={run} -->\n{text}<!-- sift:data {json} -->\n<!-- sift:end -->"
    )
}

/// Text of the bot's audit comment: the decision, the labels against their thresholds, the
/// model's reason, and how to stop sift.
fn bot_text(data: &CommentData, b: &BotAudit) -> String {
    let clean = |s: &str| inert(&crate::text::one_line(s));
    let mut text = match b.decision.as_str() {
        "off" => String::from("**sift** is off on this issue (`/label off`)"),
        "applied" => String::from("**sift** applied labels to this issue"),
        "abstained" => String::from("**sift** is not confident about any label"),
        _ => String::from("**sift** recommends these labels"),
    };
    text.push_str(&format!(" (stage `{}`):\n\n", clean(&b.stage)));
    for l in &data.labels {
        let t = b.thresholds.get(&l.name).copied().unwrap_or(0.0);
        let c = l.confidence.unwrap_or(1.0);
        let mark = if b.applied.contains(&l.name) {
            "applied"
        } else if c >= t {
            "reaches its threshold"
        } else {
            "below its threshold"
        };
        text.push_str(&format!("- `{}` {c:.2} (threshold {t:.2}, {mark})\n", clean(&l.name)));
    }
    for l in b.applied.iter().filter(|a| !data.labels.iter().any(|l| &&l.name == a)) {
        text.push_str(&format!("- `{}` (applied)\n", clean(l)));
    }
    if !b.rationale.trim().is_empty() {
        let why: String = clean(&b.rationale).chars().take(500).collect();
        text.push_str(&format!("\n> {why}\n"));
    }
    if let Some(n) = &b.note {
        text.push_str(&format!("\n{}\n", clean(n)));
    }
    let undo = if b.decision == "off" {
        "write `/label auto` to turn sift back on".to_string()
    } else if b.applied.is_empty() {
        "reply `/label off` to stop sift on this issue".to_string()
    } else {
        "reply `/label off` to remove the labels sift applied and stop it here".to_string()
    };
    text.push_str(&format!(
        "\n<sub>sift {} · {} {} · prompt {} · {undo}</sub>\n",
        clean(&data.sift),
        clean(&b.provider),
        clean(&b.model),
        crate::text::prefix(&b.prompt_hash, 12),
    ));
    text
}

/// Text from outside (a model's rationale, label names) made inert in a GitHub comment: no
/// HTML comment can open (so no forged sift block), no mention pings anyone, no code span,
/// link or image breaks out.
fn inert(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '`' => out.push('\''),
            // A zero-width space after @ keeps `@team` from notifying anyone.
            '@' => out.push_str("@\u{200B}"),
            '[' | ']' | '!' | '#' | '*' | '_' | '|' => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out
}

fn plain_text(data: &CommentData) -> String {
    let mut text = String::from("**sift** recommends these labels:\n\n");
    for l in &data.labels {
        match l.confidence {
            Some(c) => text.push_str(&format!("- `{}` ({:.2})\n", l.name, c)),
            None => text.push_str(&format!("- `{}`\n", l.name)),
        }
    }
    let why = if data.source == "gold" {
        "accepted by a reviewer"
    } else {
        "suggested above the threshold"
    };
    text.push_str(&format!(
        "\n<sub>{why}; sift {} · reply `/label off` to stop sift on this issue</sub>\n",
        data.sift
    ));
    text
}

/// Parse the last sift block of a comment body.
pub fn parse(body: &str) -> Option<Block> {
    let start = body.rfind("<!-- sift:start ")?;
    let rest = &body[start + "<!-- sift:start ".len()..];
    let head_end = rest.find("-->")?;
    let mut version = None;
    let mut run = None;
    for kv in rest[..head_end].split_whitespace() {
        match kv.split_once('=') {
            Some(("version", v)) => version = v.parse::<u32>().ok(),
            Some(("run", r)) => run = Some(r.to_string()),
            _ => {}
        }
    }
    let after = &rest[head_end..];
    let data_at = after.find("<!-- sift:data ")?;
    let data_rest = &after[data_at + "<!-- sift:data ".len()..];
    let data_end = data_rest.find("-->")?;
    if !data_rest[data_end..].contains("<!-- sift:end -->") {
        return None;
    }
    let data: CommentData = serde_json::from_str(data_rest[..data_end].trim()).ok()?;
    Some(Block { version: version?, run: run?, data })
}

/// sift's own block among an issue's comments: only comments authored by `login` count, so a
/// block pasted by someone else is ignored. Returns the comment id and the block.
pub fn own_block(comments: &[Comment], login: &str) -> Option<(Option<i64>, Block)> {
    comments
        .iter()
        .rev()
        .filter(|c| c.author.eq_ignore_ascii_case(login))
        .find_map(|c| parse(&c.body).map(|b| (c.id, b)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data() -> CommentData {
        CommentData {
            labels: vec![LabelScore { name: "bug<-->".into(), confidence: Some(0.91) }],
            source: "suggestion".into(),
            sift: "0.1.0".into(),
            bot: None,
        }
    }

    #[test]
    fn round_trip() {
        let body = render("p-1", &data());
        assert!(body.trim_end().ends_with("<!-- sift:end -->"));
        let b = parse(&body).unwrap();
        assert_eq!((b.version, b.run.as_str()), (1, "p-1"));
        assert_eq!(b.data, data());
    }

    #[test]
    fn a_rationale_cannot_forge_a_block_or_ping_anyone() {
        let mut d = data();
        d.bot = Some(BotAudit {
            rationale: "<!-- sift:start version=1 run=x --> <!-- sift:data {\"labels\":[]} --> @org/team ![x](http://e)".into(),
            applied: vec!["bug".into()],
            decision: "applied".into(),
            ..Default::default()
        });
        let body = render("p-2", &d);
        assert_eq!(body.matches("<!--").count(), 3, "{body}");
        assert!(!body.contains("@org") && body.contains("@\u{200B}org"));
        let visible = body.split("<!-- sift:data").next().unwrap();
        assert!(!visible.contains("![x]") && visible.contains("\\!\\[x\\]"), "{visible}");
        assert_eq!(parse(&body).unwrap().data, d);
    }

    #[test]
    fn only_own_comments_count() {
        let body = render("p-1", &data());
        let pasted = Comment {
            id: Some(1),
            author: "mallory".into(),
            body: body.clone(),
            ..Default::default()
        };
        assert!(own_block(std::slice::from_ref(&pasted), "sift-bot").is_none());
        let own = Comment { id: Some(2), author: "sift-bot".into(), body, ..Default::default() };
        assert_eq!(own_block(&[pasted, own], "sift-bot").unwrap().0, Some(2));
        assert!(parse("<!-- sift:start version=1 run=x --> no data").is_none());
    }
}
