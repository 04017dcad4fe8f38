//! Reads issues and chat conversations from JSON, JSONL and CSV files, one record at a time.
//!
//! Containers: a JSON array (first byte `[`), JSON lines (first byte `{`), a stream of
//! pretty-printed objects (first line is a lone `{`), or CSV/TSV with a header row (by the
//! `.csv`/`.tsv` name, or `--format csv`). Record shapes, detected per record by their keys:
//! ShareGPT (`conversations`), OpenAI (`messages`), Alpaca (`instruction`) and issue rows
//! (`title`/`body`). Nothing holds more than one record in memory, so files of any size import
//! in constant space.

use std::fmt;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;
use std::str::FromStr;

use serde::Deserializer as _;
use serde::de::{self, SeqAccess, Visitor};
use serde_json::{Map, Value};

use crate::model::{Item, ItemKind, ToolCall, Turn};

mod chat;
mod issue;
mod stream;
mod table;

use chat::*;
use issue::*;
use stream::*;
use table::*;

/// Longest conversation or issue title derived from text, in chars.
const TITLE_CHARS: usize = 80;

/// Fields that may hold a record's own id, in order of preference.
const ID_FIELDS: [&str; 5] = ["id", "_id", "uuid", "conversation_id", "number"];

/// What the user said the file holds (`--format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    /// Container by name and first byte; record shape by each record's keys.
    #[default]
    Auto,
    ShareGpt,
    OpenAi,
    Alpaca,
    /// Issue rows in CSV (or TSV by a `.tsv` name).
    Csv,
    /// Issue rows as JSON objects (JSON lines or a JSON array).
    Jsonl,
}

impl Format {
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Auto => "auto",
            Format::ShareGpt => "sharegpt",
            Format::OpenAi => "openai",
            Format::Alpaca => "alpaca",
            Format::Csv => "csv",
            Format::Jsonl => "jsonl",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Format {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s.trim().to_ascii_lowercase().as_str() {
            "auto" => Format::Auto,
            "sharegpt" => Format::ShareGpt,
            "openai" => Format::OpenAi,
            "alpaca" => Format::Alpaca,
            "csv" => Format::Csv,
            "jsonl" => Format::Jsonl,
            _ => {
                return Err(format!(
                    "unknown format {s:?} (expected auto, sharegpt, openai, alpaca, csv or jsonl)"
                ));
            }
        })
    }
}

/// How to read a file.
#[derive(Debug, Clone, Default)]
pub struct ReadOptions {
    /// Dataset name: `Item::dataset` and the prefix of every key.
    pub dataset: String,
    pub format: Format,
    /// Field or column holding labels; default `labels`, else `label`.
    pub label_column: Option<String>,
}

/// One record read successfully.
#[derive(Debug, Clone, PartialEq)]
pub struct Parsed {
    pub item: Item,
    /// Labels from the label column/field as written (also in `item.source_labels`).
    pub labels: Vec<String>,
    /// `file:line` (JSON lines, CSV) or `file: record N` (JSON array).
    pub location: String,
}

/// A record that could not be read; the records around it still are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordError {
    pub location: String,
    pub reason: String,
}

impl fmt::Display for RecordError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.location, self.reason)
    }
}

impl std::error::Error for RecordError {}

/// An error that stops reading a file; records before it were already delivered.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: io::Error,
    },
    #[error("{path}: not JSON ({reason}); for CSV use a .csv name or --format csv")]
    NotJson { path: String, reason: String },
    /// A JSON array or object stream broken in the middle, or an unusable CSV header.
    #[error("{location}: {reason}")]
    Broken { location: String, reason: String },
}

/// Reads every record of `path`, handing each to `on_record` in file order.
///
/// Bad records arrive as `Err(RecordError)` and reading goes on. An error returned by
/// `on_record` stops reading and is returned as is; fatal read errors become `E` via `From`.
pub fn read_file<E, F>(path: &Path, opts: &ReadOptions, on_record: F) -> Result<(), E>
where
    E: From<ImportError>,
    F: FnMut(Result<Parsed, RecordError>) -> Result<(), E>,
{
    let name = path.display().to_string();
    let file = File::open(path).map_err(|source| ImportError::Io { path: name.clone(), source })?;
    read_reader(file, &name, opts, on_record)
}

/// Like [`read_file`] for any byte source; `name` is used in locations and to spot CSV/TSV.
pub fn read_reader<R, E, F>(
    reader: R,
    name: &str,
    opts: &ReadOptions,
    mut on_record: F,
) -> Result<(), E>
where
    R: Read,
    E: From<ImportError>,
    F: FnMut(Result<Parsed, RecordError>) -> Result<(), E>,
{
    let mut ctx = Ctx { name, opts, on_record: &mut on_record };
    let mut input = BufReader::with_capacity(64 * 1024, reader);
    skip_bom(&mut input).map_err(|e| ctx.io(e))?;
    if let Some(delimiter) = csv_delimiter(name, opts.format) {
        return read_csv(input, delimiter, &mut ctx);
    }
    let start = peek_start(&mut input).map_err(|e| ctx.io(e))?;
    match start.first {
        None => Ok(()),
        Some(b'[') => read_array(input, start.lines_skipped, &mut ctx),
        Some(b'{') if start.lone_brace => read_object_stream(input, start.lines_skipped, &mut ctx),
        Some(b'{') => read_lines(input, start.lines_skipped, &mut ctx),
        Some(byte) => {
            Err(ImportError::NotJson { path: name.to_string(), reason: starts_with(byte) }.into())
        }
    }
}

/// Turns one JSON (or CSV row) object into an item. `position` is the record's 1-based
/// number in its file, used as the id when the record has none. The error is the reason only.
pub fn parse_record(value: Value, position: u64, opts: &ReadOptions) -> Result<Item, String> {
    let mut obj = match value {
        Value::Object(obj) => obj,
        other => return Err(format!("expected a JSON object, found {}", type_name(&other))),
    };
    // Read the id and labels before the shape builders take fields out of the object.
    let id = record_id(&obj).unwrap_or_else(|| position.to_string());
    let labels = labels(&obj, opts.label_column.as_deref())?;
    let mut item = match shape(&obj, opts.format)? {
        Shape::ShareGpt => sharegpt(&mut obj)?,
        Shape::OpenAi => openai(&mut obj)?,
        Shape::Alpaca => alpaca(&mut obj)?,
        Shape::Issue => issue(&mut obj)?,
    };
    item.key = format!("{}:{id}", opts.dataset);
    item.dataset = opts.dataset.clone();
    item.source_labels = labels;
    Ok(item)
}

/// What every container reader needs: where we are, how to parse, where records go.
struct Ctx<'a, E> {
    name: &'a str,
    opts: &'a ReadOptions,
    on_record: &'a mut dyn FnMut(Result<Parsed, RecordError>) -> Result<(), E>,
}

impl<E: From<ImportError>> Ctx<'_, E> {
    fn deliver(
        &mut self,
        value: Result<Value, String>,
        position: u64,
        location: String,
    ) -> Result<(), E> {
        let record = match value.and_then(|v| parse_record(v, position, self.opts)) {
            Ok(item) => Ok(Parsed { labels: item.source_labels.clone(), item, location }),
            Err(reason) => Err(RecordError { location, reason }),
        };
        (self.on_record)(record)
    }

    fn io(&self, source: io::Error) -> ImportError {
        ImportError::Io { path: self.name.to_string(), source }
    }

    fn broken(&self, location: String, reason: String) -> E {
        ImportError::Broken { location, reason }.into()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    ShareGpt,
    OpenAi,
    Alpaca,
    Issue,
}

fn shape(obj: &Map<String, Value>, format: Format) -> Result<Shape, String> {
    Ok(match format {
        Format::ShareGpt => Shape::ShareGpt,
        Format::OpenAi => Shape::OpenAi,
        Format::Alpaca => Shape::Alpaca,
        Format::Csv | Format::Jsonl => Shape::Issue,
        Format::Auto if obj.contains_key("conversations") || obj.contains_key("conversation") => {
            Shape::ShareGpt
        }
        Format::Auto if obj.contains_key("messages") => Shape::OpenAi,
        Format::Auto if obj.contains_key("instruction") => Shape::Alpaca,
        Format::Auto if obj.contains_key("title") || obj.contains_key("body") => Shape::Issue,
        Format::Auto => {
            return Err(format!(
                "unknown record shape: expected \"conversations\", \"messages\", \"instruction\" \
                 or \"title\"/\"body\" (keys: {})",
                key_list(obj)
            ));
        }
    })
}

fn key_list(obj: &Map<String, Value>) -> String {
    let mut keys: Vec<&str> = obj.keys().take(8).map(String::as_str).collect();
    if obj.len() > keys.len() {
        keys.push("...");
    }
    if keys.is_empty() { "none".to_string() } else { keys.join(", ") }
}

fn number(value: Option<&Value>) -> Option<i64> {
    match value? {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// The record's own id (string or number), if it has one.
fn record_id(obj: &Map<String, Value>) -> Option<String> {
    ID_FIELDS.iter().find_map(|field| match obj.get(*field)? {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    })
}

/// Labels from the label field: a list (of names or `{"name"}` objects), JSON list text,
/// or text separated by commas or semicolons. Duplicates are dropped, order kept.
fn labels(obj: &Map<String, Value>, column: Option<&str>) -> Result<Vec<String>, String> {
    let (field, value) = match column {
        Some(column) => (column, field_ignoring_case(obj, column)),
        None => match obj.get("labels") {
            Some(value) => ("labels", Some(value)),
            None => ("label", obj.get("label")),
        },
    };
    let mut out: Vec<String> = Vec::new();
    let mut push = |name: String| {
        let name = name.trim();
        if !name.is_empty() && !out.iter().any(|l| l == name) {
            out.push(name.to_string());
        }
    };
    match value {
        None | Some(Value::Null) => {}
        Some(Value::String(text)) => split_labels(text)
            .map_err(|e| format!("{field:?}: {e}"))?
            .into_iter()
            .for_each(&mut push),
        Some(Value::Array(list)) => {
            for entry in list {
                push(label_name(entry).map_err(|e| format!("{field:?}: {e}"))?);
            }
        }
        Some(Value::Number(n)) => push(n.to_string()),
        Some(Value::Bool(b)) => push(b.to_string()),
        Some(Value::Object(_)) => {
            return Err(format!("{field:?} must be a list or text, found an object"));
        }
    }
    Ok(out)
}

fn field_ignoring_case<'a>(obj: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    let name = name.trim();
    obj.get(name).or_else(|| obj.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v))
}

fn label_name(entry: &Value) -> Result<String, String> {
    match entry {
        Value::String(name) => Ok(name.clone()),
        Value::Number(n) => Ok(n.to_string()),
        // GitHub API label objects.
        Value::Object(obj) => match obj.get("name") {
            Some(Value::String(name)) => Ok(name.clone()),
            _ => Err("label object has no \"name\"".to_string()),
        },
        other => Err(format!("expected a label name, found {}", type_name(other))),
    }
}

fn split_labels(text: &str) -> Result<Vec<String>, String> {
    let text = text.trim();
    if text.starts_with('[') {
        // CSV exports often hold the list as JSON text.
        let list: Vec<Value> = serde_json::from_str(text)
            .map_err(|e| format!("looks like a JSON list but is not: {}", json_message(&e)))?;
        return list.iter().map(label_name).collect();
    }
    Ok(text.split([',', ';']).map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect())
}

/// Removes a text field. Numbers and booleans count as text; absent, null and "" are None.
fn take_text(obj: &mut Map<String, Value>, field: &str) -> Result<Option<String>, String> {
    match obj.remove(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(Value::Bool(b)) => Ok(Some(b.to_string())),
        Some(other) => Err(format!("{field:?} must be text, found {}", type_name(&other))),
    }
}

/// Removes a list field; a string holding a JSON list is accepted (CSV cells, some exports).
fn take_list(obj: &mut Map<String, Value>, field: &str) -> Result<Option<Vec<Value>>, String> {
    match obj.remove(field) {
        None => Ok(None),
        Some(Value::Array(list)) => Ok(Some(list)),
        Some(Value::String(text)) if text.trim_start().starts_with('[') => {
            serde_json::from_str(&text)
                .map(Some)
                .map_err(|e| format!("{field:?} is not a valid JSON list: {}", json_message(&e)))
        }
        Some(other) => Err(format!("{field:?} must be a list, found {}", type_name(&other))),
    }
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Outcome {
        items: Vec<Parsed>,
        errors: Vec<String>,
        fatal: Option<String>,
    }

    fn read_opts(name: &str, text: &str, opts: &ReadOptions) -> Outcome {
        let (mut items, mut errors) = (Vec::new(), Vec::new());
        let result = read_reader::<_, ImportError, _>(text.as_bytes(), name, opts, |record| {
            match record {
                Ok(parsed) => items.push(parsed),
                Err(e) => errors.push(e.to_string()),
            }
            Ok(())
        });
        Outcome { items, errors, fatal: result.err().map(|e| e.to_string()) }
    }

    fn read(name: &str, text: &str) -> Outcome {
        read_as(name, text, Format::Auto)
    }

    fn read_as(name: &str, text: &str, format: Format) -> Outcome {
        read_opts(name, text, &ReadOptions { dataset: "d".into(), format, label_column: None })
    }

    /// Reads a text that must give exactly one item and nothing else.
    fn one(name: &str, text: &str) -> Item {
        let out = read(name, text);
        assert_eq!(out.errors, Vec::<String>::new());
        assert_eq!(out.fatal, None);
        assert_eq!(out.items.len(), 1);
        out.items.into_iter().next().map(|p| p.item).unwrap()
    }

    fn roles(item: &Item) -> Vec<&str> {
        item.turns.iter().map(|t| t.role.as_str()).collect()
    }

    #[test]
    fn format_names_parse() {
        for name in ["auto", "sharegpt", "openai", "alpaca", "csv", "jsonl"] {
            let format: Format = name.parse().unwrap();
            assert_eq!(format.as_str(), name);
        }
        assert_eq!("ShareGPT".parse::<Format>(), Ok(Format::ShareGpt));
        assert!("yaml".parse::<Format>().unwrap_err().contains("expected auto"));
    }

    #[test]
    fn sharegpt_with_tool_call_observation_system_and_tools_text() {
        let text = r#"{"id": "c1", "system": "Be brief.", "tools": "[{\"name\": \"get_weather\", \"parameters\": {}}]", "conversations": [
            {"from": "human", "value": "Weather in Oslo?\nThanks"},
            {"from": "function_call", "value": "{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Oslo\", \"days\": 2}}"},
            {"from": "observation", "value": "{\"temp\": 3}"},
            {"from": "gpt", "value": "It is 3 degrees."}]}"#
            .replace('\n', " ");
        let item = one("c.jsonl", &text);
        assert_eq!(item.key, "d:c1");
        assert_eq!(item.dataset, "d");
        assert_eq!(item.kind, Some(ItemKind::Conversation));
        assert_eq!(item.title, "Weather in Oslo?");
        assert_eq!(item.body, "");
        assert_eq!(roles(&item), ["system", "user", "assistant", "tool", "assistant"]);
        assert_eq!(item.turns[0].content, "Be brief.");
        let call = &item.turns[2].tool_calls;
        assert_eq!(call.len(), 1);
        assert_eq!(call[0].name, "get_weather");
        assert_eq!(call[0].arguments, r#"{"city":"Oslo","days":2}"#);
        assert_eq!(item.turns[3].content, r#"{"temp": 3}"#);
        assert_eq!(item.meta["tools"][0]["name"], "get_weather");
    }

    #[test]
    fn sharegpt_roles_seen_in_the_wild() {
        let text = r#"{"conversation": [{"from": "system", "value": "s"}, {"from": "user", "value": "u1"}, {"from": "bing", "value": "a1"}, {"from": "USER", "value": "u2"}, {"from": "chatgpt", "value": "a2"}, {"from": "human", "value": "u3"}, {"from": "bard", "value": "a3"}, {"from": "tool", "value": "t"}, {"from": "assistant", "value": "a4"}]}"#;
        let item = one("c.jsonl", text);
        assert_eq!(
            roles(&item),
            [
                "system",
                "user",
                "assistant",
                "user",
                "assistant",
                "user",
                "assistant",
                "tool",
                "assistant"
            ]
        );
    }

    #[test]
    fn function_call_joins_the_assistant_turn_before_it_and_may_hold_a_list() {
        let text = r#"{"conversations": [{"from": "human", "value": "go"}, {"from": "gpt", "value": "Checking."}, {"from": "function_call", "value": "[{\"name\": \"a\", \"arguments\": {}}, {\"name\": \"b\", \"arguments\": \"{\\\"x\\\": 1}\"}]"}, {"from": "observation", "value": "ok"}]}"#;
        let item = one("c.jsonl", text);
        assert_eq!(roles(&item), ["user", "assistant", "tool"]);
        assert_eq!(item.turns[1].content, "Checking.");
        let names: Vec<&str> = item.turns[1].tool_calls.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["a", "b"]);
        assert_eq!(item.turns[1].tool_calls[0].arguments, "{}");
        // Arguments given as text are kept as written.
        assert_eq!(item.turns[1].tool_calls[1].arguments, r#"{"x": 1}"#);
    }

    #[test]
    fn openai_messages_with_content_parts() {
        let text = r#"{"messages": [{"role": "user", "content": [{"type": "text", "value": "hi"}, {"type": "image_url", "image_url": {"url": "x.png"}}, {"type": "text", "text": "what is this?"}], "loss_weight": 0.0}, {"role": "assistant", "content": [{"type": "text", "value": "A cat."}], "loss_weight": 1.0}]}"#;
        let item = one("m.jsonl", text);
        assert_eq!(item.key, "d:1");
        assert_eq!(roles(&item), ["user", "assistant"]);
        assert_eq!(item.turns[0].content, "hi\n[image]\nwhat is this?");
        assert_eq!(item.turns[1].content, "A cat.");
        assert_eq!(item.title, "hi");
    }

    #[test]
    fn openai_tool_calls_legacy_function_call_and_tools_array() {
        let text = r#"{"system": "sys", "tools": [{"type": "function", "function": {"name": "f"}}], "messages": [
            {"role": "user", "content": "call f"},
            {"role": "assistant", "content": null, "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{\"a\": 1}"}},
                {"id": "call_2", "type": "function", "function": {"name": "g", "arguments": {"b": [1, 2]}}}]},
            {"role": "tool", "tool_call_id": "call_1", "content": "r1"},
            {"role": "assistant", "content": "", "function_call": {"name": "h", "arguments": "{}"}},
            {"role": "function", "name": "h", "content": "r2"},
            {"role": "assistant", "content": "done"}]}"#
            .replace('\n', " ");
        let item = one("m.jsonl", &text);
        assert_eq!(
            roles(&item),
            ["system", "user", "assistant", "tool", "assistant", "tool", "assistant"]
        );
        let calls = &item.turns[2].tool_calls;
        assert_eq!((calls[0].name.as_str(), calls[0].arguments.as_str()), ("f", r#"{"a": 1}"#));
        assert_eq!((calls[1].name.as_str(), calls[1].arguments.as_str()), ("g", r#"{"b":[1,2]}"#));
        assert_eq!(item.turns[2].content, "");
        assert_eq!(item.turns[4].tool_calls[0].name, "h");
        assert_eq!(item.turns[5].content, "r2");
        assert_eq!(item.meta["tools"][0]["function"]["name"], "f");
    }

    #[test]
    fn alpaca_with_input_system_and_history() {
        let text = r#"{"instruction": "Translate", "input": "bonjour", "output": "hello", "system": "You translate.", "history": [["q1", "a1"], ["q2", "a2"]]}"#;
        let item = one("a.jsonl", text);
        assert_eq!(
            roles(&item),
            ["system", "user", "assistant", "user", "assistant", "user", "assistant"]
        );
        assert_eq!(item.turns[5].content, "Translate\n\nbonjour");
        assert_eq!(item.turns[6].content, "hello");
        assert_eq!(item.title, "q1");

        let out =
            read("a.jsonl", r#"{"instruction": "i", "output": "o", "history": [["only one"]]}"#);
        assert_eq!(
            out.errors,
            [r#"a.jsonl:1: "history" round 1 must be [user text, assistant text]"#]
        );
        let item = one("a.jsonl", r#"{"instruction": "Say hi", "input": "", "output": "hi"}"#);
        assert_eq!(roles(&item), ["user", "assistant"]);
        assert_eq!(item.turns[0].content, "Say hi");
        assert_eq!(item.title, "Say hi");
    }

    #[test]
    fn issue_csv_with_multiline_quoted_fields_and_label_forms() {
        let text = "id,repo,created_at,labels,title,body\n\
                    7,o/r,2024-01-02,\"bug, ui\",Crash on save,\"line one\nline \"\"two\"\"\"\n\
                    ,o/r,,docs;question,,\"\n\nFirst body line\nmore\"\n\
                    9,o/r,,\"[\"\"bug\"\", \"\"perf\"\"]\",Slow,\n";
        let out = read("issues.csv", text);
        assert_eq!(out.errors, Vec::<String>::new());
        assert_eq!(out.fatal, None);
        let [a, b, c] = &out.items[..] else { panic!("{} items", out.items.len()) };
        assert_eq!(a.item.key, "d:7");
        assert_eq!(a.item.kind, Some(ItemKind::Issue));
        assert_eq!(a.item.body, "line one\nline \"two\"");
        assert_eq!(a.item.repo.as_deref(), Some("o/r"));
        assert_eq!(a.item.created_at.as_deref(), Some("2024-01-02"));
        assert_eq!(a.labels, ["bug", "ui"]);
        assert_eq!(a.item.source_labels, a.labels);
        assert_eq!(a.location, "issues.csv:2");
        // No id: the key is the record number, not the line number.
        assert_eq!(b.item.key, "d:2");
        assert_eq!(b.item.title, "First body line");
        assert_eq!(b.labels, ["docs", "question"]);
        assert_eq!(b.location, "issues.csv:4");
        assert_eq!(c.labels, ["bug", "perf"]);
        assert_eq!(c.location, "issues.csv:8");
    }

    #[test]
    fn label_column_option_and_missing_column() {
        let text = "Title,Body,Kind\nA,b,bug\n";
        let opts = ReadOptions {
            dataset: "d".into(),
            format: Format::Csv,
            label_column: Some("kind".into()),
        };
        let out = read_opts("x.csv", text, &opts);
        assert_eq!(out.items[0].labels, ["bug"]);
        assert_eq!(out.items[0].item.title, "A");
        let opts = ReadOptions { label_column: Some("category".into()), ..opts };
        let out = read_opts("x.csv", text, &opts);
        assert!(out.items.is_empty());
        assert_eq!(
            out.fatal.as_deref(),
            Some(r#"x.csv: no column "category" for labels (columns: title, body, kind)"#)
        );
        // JSON rows have no header: a record without the field just has no labels.
        let opts = ReadOptions { format: Format::Auto, ..opts };
        let out = read_opts(
            "x.jsonl",
            "{\"title\": \"t\", \"category\": [\"q\"]}\n{\"title\": \"u\"}",
            &opts,
        );
        assert_eq!(out.items[1].labels, Vec::<String>::new());
        assert_eq!(out.items[0].labels, ["q"]);
    }

    #[test]
    fn issue_jsonl_rows() {
        let text = "{\"number\": 12, \"title\": \" Crash \", \"body\": null, \"label\": \"bug\", \"user\": {\"login\": \"amy\"}, \"html_url\": \"u\"}\n\
                    \n\
                    {\"title\": \"t\", \"labels\": [{\"name\": \"ux\"}, \"ux\", \"docs\"], \"state\": \"open\"}\n";
        let out = read("i.jsonl", text);
        assert_eq!(out.errors, Vec::<String>::new());
        let (a, b) = (&out.items[0], &out.items[1]);
        assert_eq!(a.item.key, "d:12");
        assert_eq!(a.item.number, Some(12));
        assert_eq!(a.item.title, "Crash");
        assert_eq!(a.item.body, "");
        assert_eq!(a.item.author.as_deref(), Some("amy"));
        assert_eq!(a.item.url.as_deref(), Some("u"));
        assert_eq!(a.labels, ["bug"]);
        // Blank lines count for locations but not for record numbers.
        assert_eq!(b.location, "i.jsonl:3");
        assert_eq!(b.item.key, "d:2");
        assert_eq!(b.labels, ["ux", "docs"]);
        assert_eq!(b.item.state.as_deref(), Some("open"));
    }

    #[test]
    fn keys_use_the_record_id_fields() {
        let text = r#"[{"_id": "m1", "title": "a"}, {"uuid": "u-1", "title": "b"}, {"conversation_id": 5, "title": "c"}, {"id": 3.5, "title": "d"}, {"id": "", "title": "e"}]"#;
        let out = read("k.json", text);
        let keys: Vec<&str> = out.items.iter().map(|p| p.item.key.as_str()).collect();
        assert_eq!(keys, ["d:m1", "d:u-1", "d:5", "d:3.5", "d:5"]);
        assert_eq!(out.items[4].location, "k.json: record 5");
    }

    #[test]
    fn long_titles_are_cut_on_a_char_boundary() {
        let long = "é".repeat(100);
        let item = one(
            "t.jsonl",
            &format!(r#"{{"messages": [{{"role": "user", "content": "{long}\nsecond"}}]}}"#),
        );
        assert_eq!(item.title.chars().count(), TITLE_CHARS);
        assert!(item.title.ends_with('…'));
        assert_eq!(first_line("  \n short \n x"), "short");
    }

    #[test]
    fn bad_json_line_is_reported_and_reading_goes_on() {
        let text = "{\"title\": \"a\"}\n{\"title\": oops}\n{\"title\": \"c\"}\n";
        let out = read("data.jsonl", text);
        assert_eq!(out.items.len(), 2);
        assert_eq!(out.items[1].item.key, "d:3");
        assert_eq!(out.errors.len(), 1);
        assert!(
            out.errors[0].starts_with("data.jsonl:2: invalid JSON: expected value"),
            "{}",
            out.errors[0]
        );
        assert_eq!(out.fatal, None);
    }

    /// A line over the record limit is reported with its line and skipped without being held
    /// whole; the records after it are read, their positions and lines unchanged.
    #[test]
    fn a_record_over_the_limit_is_skipped_and_reading_goes_on() {
        let huge = "x".repeat(stream::MAX_RECORD_BYTES + 10);
        let text =
            format!("{{\"title\": \"a\"}}\n{{\"title\": \"{huge}\"}}\n{{\"title\": \"c\"}}\n");
        let out = read("data.jsonl", &text);
        assert_eq!(out.items.len(), 2);
        assert_eq!(
            (out.items[1].item.key.as_str(), out.items[1].location.as_str()),
            ("d:3", "data.jsonl:3")
        );
        assert_eq!(out.errors.len(), 1);
        assert!(
            out.errors[0].starts_with("data.jsonl:2: record of 32.0 MB is over the 32 MB"),
            "{}",
            out.errors[0]
        );
        // The last line, over the limit and without a newline, is skipped too.
        let out = read("data.jsonl", &format!("{{\"title\": \"a\"}}\n{huge}"));
        assert_eq!((out.items.len(), out.errors.len()), (1, 1));
        assert!(out.errors[0].starts_with("data.jsonl:2: record of"), "{}", out.errors[0]);
    }

    #[test]
    fn truncated_array_is_fatal_after_the_records_before_it() {
        let text = "[\n{\"title\": \"a\"},\n{\"title\": \"b\"},\n{\"title\": \"c";
        let out = read("chats.json", text);
        assert_eq!(out.items.len(), 2);
        assert_eq!(out.items[1].location, "chats.json: record 2");
        let fatal = out.fatal.unwrap();
        assert!(
            fatal.starts_with("chats.json: record 3: the file ends early (truncated?) at line 4"),
            "{fatal}"
        );
        assert!(fatal.contains("line 4"), "{fatal}");

        let out = read("chats.json", "[{\"title\": \"a\"} {\"title\": \"b\"}]");
        assert_eq!(out.items.len(), 1);
        assert!(
            out.fatal
                .unwrap()
                .starts_with("chats.json: record 2: invalid JSON: expected `,` or `]`")
        );

        let out = read("chats.json", "[{\"title\": \"a\"}] x");
        assert_eq!(out.items.len(), 1);
        assert!(out.fatal.unwrap().starts_with("chats.json: unexpected data after the array"));
    }

    #[test]
    fn empty_conversation_and_bad_turns_are_record_errors() {
        let text = r#"[{"conversations": [{"from": "human", "value": "hi"}, {"from": "gpt", "value": "yo"}]}, {"conversations": []}, {"messages": [{"role": "user", "content": "x"}, {"role": "narrator", "content": "y"}]}, {"conversations": [{"value": "no role"}]}, {"conversations": [{"from": "function_call", "value": "not json"}]}, {"conversations": [{"from": "human", "value": "x"}], "tools": "[oops"}, {"conversations": [{"from": "human", "value": "ok"}]}]"#;
        let out = read("chats.json", text);
        assert_eq!(out.fatal, None);
        assert_eq!(out.items.len(), 2);
        assert_eq!(out.items[1].item.key, "d:7");
        assert_eq!(out.errors[0], r#"chats.json: record 2: "conversations" is empty"#);
        assert_eq!(
            out.errors[1],
            r#"chats.json: record 3: "messages" turn 2: unknown role "narrator""#
        );
        assert_eq!(
            out.errors[2],
            r#"chats.json: record 4: "conversations" turn 1: no "from" or "role""#
        );
        assert!(out.errors[3].starts_with(
            r#"chats.json: record 5: "conversations" turn 1: function_call is not JSON"#
        ));
        assert!(out.errors[4].starts_with(r#"chats.json: record 6: "tools" is not valid JSON"#));
    }

    #[test]
    fn unknown_shape_and_non_objects_are_record_errors() {
        let text = "{\"prompt\": \"x\", \"completion\": \"y\"}\n[1, 2]\n";
        let out = read("u.jsonl", text);
        assert_eq!(
            out.errors[0],
            r#"u.jsonl:1: unknown record shape: expected "conversations", "messages", "instruction" or "title"/"body" (keys: completion, prompt)"#
        );
        assert_eq!(out.errors[1], "u.jsonl:2: expected a JSON object, found a list");
    }

    #[test]
    fn issue_needs_a_title_or_a_body() {
        let out = read("i.jsonl", r#"{"title": "", "body": "  ", "labels": "bug"}"#);
        assert_eq!(out.errors, [r#"i.jsonl:1: issue row has neither a "title" nor a "body""#]);
    }

    #[test]
    fn csv_row_with_wrong_field_count() {
        let text = "title,body,label\na,b,bug\nshort,row\n\"multi\nline\",c,ux\nx,y,z,extra\n";
        let out = read("issues.csv", text);
        assert_eq!(out.items.len(), 2);
        assert_eq!(out.items[1].location, "issues.csv:4");
        assert_eq!(out.items[1].item.key, "d:3");
        assert_eq!(
            out.errors,
            [
                "issues.csv:3: expected 3 fields like the header, found 2",
                "issues.csv:6: expected 3 fields like the header, found 4",
            ]
        );
    }

    #[test]
    fn an_unterminated_quote_is_reported_with_its_row() {
        let text = "id,title,body\n1,First,\"body with an open quote\n2,Second,plain body\n\
                    3,Third,another body\n";
        let out = read("issues.csv", text);
        assert!(out.items.is_empty(), "the swallowed rows are not one title: {:?}", out.items);
        let [e] = &out.errors[..] else { panic!("{:?}", out.errors) };
        assert!(e.starts_with("issues.csv:2: a quoted field here runs on over 2 lines"), "{e}");
        // The same in a title: the rows after it become one title, then the quote that opens
        // the next title's field closes it.
        let text = "repo,title,body\no/r,First,b0\no/r,\"Broken title,b1\no/r,Second,b2\no/r,\"Third\",b3\n\
                    o/r,Fourth,b4\n";
        let out = read("t.csv", text);
        assert!(
            out.errors.iter().any(|e| e.starts_with("t.csv:3: a quoted field")),
            "{:?}",
            out.errors
        );
        assert!(out.items.iter().all(|p| !p.item.title.contains('\n')), "{:?}", out.items);
        // Multi-line text with a comma or two stays a normal field.
        let ok = "id,title,body\n1,T,\"line one, with a comma\nline two, and, more\n2. a, b\"\n";
        assert_eq!(read("ok.csv", ok).items.len(), 1);
        let ok = "repo,title,body\no/r,T,\"a, b, c\nx/y, z, w\"\n";
        assert_eq!(read("ok.csv", ok).items.len(), 1);
    }

    #[test]
    fn explicit_format_forces_the_shape() {
        let chat = r#"{"conversations": [{"from": "human", "value": "hi"}]}"#;
        let out = read_as("c.jsonl", chat, Format::Alpaca);
        assert_eq!(out.errors, [r#"c.jsonl:1: no "instruction" field (format alpaca)"#]);
        let out = read_as("c.jsonl", chat, Format::OpenAi);
        assert_eq!(out.errors, [r#"c.jsonl:1: no "messages" field (format openai)"#]);
        let out = read_as("c.jsonl", chat, Format::Jsonl);
        assert_eq!(out.errors, [r#"c.jsonl:1: issue row has neither a "title" nor a "body""#]);
        let out = read_as("c.jsonl", chat, Format::ShareGpt);
        assert_eq!(out.items.len(), 1);
        // --format csv reads CSV whatever the name says.
        let out = read_as("rows.txt", "title,body\nt,b\n", Format::Csv);
        assert_eq!(out.items[0].item.title, "t");
    }

    #[test]
    fn csv_cells_may_hold_conversation_json() {
        let text =
            "id,conversations\nx,\"[{\"\"from\"\": \"\"human\"\", \"\"value\"\": \"\"hi\"\"}]\"\n";
        let item = one("c.csv", text);
        assert_eq!(item.key, "d:x");
        assert_eq!(roles(&item), ["user"]);
    }

    #[test]
    fn not_json_missing_file_and_empty_input() {
        let out = read("rows.txt", "title,body\nt,b\n");
        assert_eq!(
            out.fatal.as_deref(),
            Some("rows.txt: not JSON (starts with 't'); for CSV use a .csv name or --format csv")
        );
        let missing = Path::new("/nonexistent/sift-test.jsonl");
        let opts = ReadOptions::default();
        let err = read_file::<ImportError, _>(missing, &opts, |_| Ok(())).unwrap_err();
        assert!(err.to_string().starts_with("/nonexistent/sift-test.jsonl: "), "{err}");
        assert!(matches!(err, ImportError::Io { .. }));
        let out = read("empty.jsonl", " \n\n ");
        assert!(out.items.is_empty() && out.errors.is_empty() && out.fatal.is_none());
    }

    #[test]
    fn pretty_printed_objects_and_byte_order_mark() {
        let text = "\n{\n  \"title\": \"a\"\n}\n{\n  \"title\": \"b\"\n}\n";
        let out = read("p.json", text);
        assert_eq!(out.errors, Vec::<String>::new());
        assert_eq!(out.items.len(), 2);
        assert_eq!(out.items[1].location, "p.json: record 2");
        let out = read("b.jsonl", "\u{feff}{\"title\": \"a\"}\n");
        assert_eq!(out.items.len(), 1);
        let out = read("b.csv", "\u{feff}title,body\nt,b\n");
        assert_eq!(out.items[0].item.title, "t");
    }

    #[test]
    fn callback_error_stops_reading() {
        #[derive(Debug)]
        enum Stop {
            Full,
            Import,
        }
        impl From<ImportError> for Stop {
            fn from(_: ImportError) -> Self {
                Stop::Import
            }
        }
        for (name, text) in [
            ("s.jsonl", "{\"title\": \"a\"}\n{\"title\": \"b\"}\n{\"title\": \"c\"}\n"),
            ("s.json", "[{\"title\": \"a\"}, {\"title\": \"b\"}, {\"title\": \"c\"}]"),
            ("s.csv", "title\na\nb\nc\n"),
        ] {
            let mut seen = 0;
            let opts = ReadOptions::default();
            let result = read_reader(text.as_bytes(), name, &opts, |_| {
                seen += 1;
                if seen == 2 { Err(Stop::Full) } else { Ok(()) }
            });
            assert!(matches!(result, Err(Stop::Full)), "{name}");
            assert_eq!(seen, 2, "{name}");
        }
    }
}
