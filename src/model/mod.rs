//! Domain types shared by every layer: items, turns, comments, annotations, suggestions, runs.
//! No IO lives here.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// What an item is: a GitHub-style issue or a chat conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Hash)]
#[serde(rename_all = "snake_case")]
pub enum ItemKind {
    Issue,
    Conversation,
}

impl ItemKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ItemKind::Issue => "issue",
            ItemKind::Conversation => "conversation",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "issue" => Some(ItemKind::Issue),
            "conversation" => Some(ItemKind::Conversation),
            _ => None,
        }
    }
}

/// One tool call made by an assistant turn.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct ToolCall {
    pub name: String,
    /// Arguments as given (usually a JSON object rendered as text).
    pub arguments: String,
}

/// One turn of a conversation. Roles are normalised to
/// system, user, assistant, tool (function results / observations).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Turn {
    pub role: String,
    pub content: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCall>,
}

/// A comment on an issue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Comment {
    pub id: Option<i64>,
    pub author: String,
    /// GitHub's author_association (OWNER, MEMBER, COLLABORATOR, CONTRIBUTOR, NONE, ...).
    pub author_association: String,
    pub body: String,
    pub created_at: String,
}

/// A work item as stored: issue or conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Item {
    /// `github:OWNER/REPO#N` or `<dataset>:<id>`.
    pub key: String,
    pub dataset: String,
    pub kind: Option<ItemKind>,
    pub title: String,
    pub body: String,
    pub repo: Option<String>,
    pub number: Option<i64>,
    pub state: Option<String>,
    pub author: Option<String>,
    pub url: Option<String>,
    pub created_at: Option<String>,
    pub updated_at: Option<String>,
    /// Labels the item carries at its source (GitHub labels, or a file's label column).
    #[serde(default)]
    pub source_labels: Vec<String>,
    #[serde(default)]
    pub turns: Vec<Turn>,
    #[serde(default)]
    pub comments: Vec<Comment>,
    /// Extra structured data kept verbatim (system prompt, tool schemas, ...).
    #[serde(default)]
    pub meta: serde_json::Value,
}

impl Item {
    pub fn kind(&self) -> ItemKind {
        self.kind.unwrap_or(ItemKind::Issue)
    }

    /// SHA-256 over the content that a labeler sees; changes when the item changes.
    pub fn content_hash(&self) -> String {
        let mut h = Sha256::new();
        for part in [&self.title, &self.body] {
            h.update(part.as_bytes());
            h.update([0u8]);
        }
        for t in &self.turns {
            h.update(t.role.as_bytes());
            h.update([1u8]);
            h.update(t.content.as_bytes());
            for c in &t.tool_calls {
                h.update(c.name.as_bytes());
                h.update(c.arguments.as_bytes());
            }
            h.update([2u8]);
        }
        for c in &self.comments {
            h.update(c.author.as_bytes());
            h.update(c.body.as_bytes());
            h.update([3u8]);
        }
        for l in &self.source_labels {
            h.update(l.as_bytes());
            h.update([4u8]);
        }
        if !self.meta.is_null() {
            h.update(self.meta.to_string().as_bytes());
        }
        hex(&h.finalize())
    }

    /// All the text of an item in one string (title, body, turns, comments), for search and models.
    pub fn full_text(&self) -> String {
        let mut s = String::with_capacity(self.title.len() + self.body.len() + 64);
        s.push_str(&self.title);
        if !self.body.is_empty() {
            s.push('\n');
            s.push_str(&self.body);
        }
        for t in &self.turns {
            s.push('\n');
            s.push_str(&t.content);
        }
        for c in &self.comments {
            s.push('\n');
            s.push_str(&c.body);
        }
        s
    }
}

/// Lower-case hex of bytes.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        // Writing to a String cannot fail.
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// SHA-256 of text, lower-case hex.
pub fn sha256_hex(text: &str) -> String {
    hex(&Sha256::digest(text.as_bytes()))
}

/// How an annotation was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Hash, Default)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    #[default]
    Assisted,
    Blind,
    Sample,
    Adjudication,
    Import,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Assisted => "assisted",
            Mode::Blind => "blind",
            Mode::Sample => "sample",
            Mode::Adjudication => "adjudication",
            Mode::Import => "import",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "assisted" => Mode::Assisted,
            "blind" => Mode::Blind,
            "sample" => Mode::Sample,
            "adjudication" => Mode::Adjudication,
            "import" => Mode::Import,
            _ => return None,
        })
    }
}

/// A label with a confidence in [0, 1].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LabelScore {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confidence: Option<f64>,
}

/// The suggestion an annotator saw when deciding (recorded in the annotation).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SuggestionRef {
    pub run: String,
    pub labels: Vec<LabelScore>,
}

/// One decision in annotations/<dataset>/<annotator>.jsonl.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Annotation {
    pub item: String,
    pub annotator: String,
    pub labels: Vec<String>,
    #[serde(default)]
    pub at: String,
    #[serde(default)]
    pub mode: Mode,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub note: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suggestion: Option<SuggestionRef>,
    /// ISO week of the accuracy sample this record answers (mode sample only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub week: Option<String>,
    /// Set by undo when there was no earlier answer: the annotator withdraws their answer.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub retracted: bool,
}

/// A suggestion of one run for one item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Suggestion {
    pub item: String,
    pub run: String,
    pub labels: Vec<LabelScore>,
    #[serde(default)]
    pub rationale: String,
    /// True when every label fell below min_confidence: the provider answered but sift abstains.
    #[serde(default)]
    pub abstained: bool,
    /// Labels as the provider gave them before validation (for audit), if different.
    #[serde(default)]
    pub raw_labels: Vec<LabelScore>,
    /// Labels dropped by validation (outside the taxonomy).
    #[serde(default)]
    pub dropped: Vec<String>,
    #[serde(default)]
    pub created_at: String,
    /// Who answered when it was not the run's own provider (a fallback): the provider and
    /// model, so every stored answer stays attributable. Empty: the run's provider and model.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub provider: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub model: String,
    /// Consistency rules of labels.yml the labels break, one line each.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub violations: Vec<String>,
    /// What the item is about, from the model (or, when no model summarised it, the title
    /// and the start of the text).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub summary: String,
    /// The model's keywords, preferred by similar-item search.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub keywords: Vec<String>,
}

/// State of a run in its lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum RunState {
    Baseline,
    #[default]
    Experimental,
    Archived,
}

/// A versioned suggestion run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Run {
    pub id: String,
    pub name: Option<String>,
    pub provider: String,
    pub model: String,
    pub prompt_version: String,
    pub prompt_hash: String,
    pub taxonomy: String,
    pub taxonomy_hash: String,
    pub config: serde_json::Value,
    pub dataset_fingerprint: String,
    pub started_at: String,
    pub finished_at: Option<String>,
    /// running, done, interrupted, failed, budget_exhausted
    pub status: String,
    pub tokens_in: i64,
    pub tokens_out: i64,
    pub cost_usd: f64,
    pub state: RunState,
    /// The rendered prompt bundle (system prompt, taxonomy, schema, examples).
    pub bundle: String,
}

/// Current time as RFC 3339 UTC with second precision.
pub fn now_rfc3339() -> String {
    jiff::Timestamp::now().round(jiff::Unit::Second).map(|t| t.to_string()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_hash_changes_with_content() {
        let mut a =
            Item { key: "d:1".into(), title: "t".into(), body: "b".into(), ..Default::default() };
        let h1 = a.content_hash();
        assert_eq!(h1, a.content_hash());
        a.body.push('!');
        assert_ne!(h1, a.content_hash());
        assert_eq!(h1.len(), 64);
    }

    #[test]
    fn annotation_round_trips_in_log_format() {
        let line = r#"{"item":"github:o/r#12","annotator":"alice","labels":["bug"],"at":"2026-11-22T10:00:00Z","mode":"assisted","note":"","duration_ms":5400,"suggestion":{"run":"r-1","labels":[{"name":"bug","confidence":0.91}]}}"#;
        let a: Annotation = serde_json::from_str(line).unwrap();
        assert_eq!(a.mode, Mode::Assisted);
        assert_eq!(a.duration_ms, Some(5400));
        let minimal: Annotation =
            serde_json::from_str(r#"{"item":"x","annotator":"a","labels":[]}"#).unwrap();
        assert_eq!(minimal.mode, Mode::Assisted);
    }
}
