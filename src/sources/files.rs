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

// ---------------------------------------------------------------------------------------------
// Containers

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

/// The first meaningful byte of a JSON file, and what follows it.
struct Start {
    first: Option<u8>,
    /// `{` alone on its line: pretty-printed objects, not JSON lines.
    lone_brace: bool,
    /// Newlines consumed before `first`, so reported line numbers stay true.
    lines_skipped: u64,
}

/// Skips a UTF-8 byte-order mark, which spreadsheet and Windows tools put first.
fn skip_bom(input: &mut impl BufRead) -> io::Result<()> {
    if input.fill_buf()?.starts_with(&[0xEF, 0xBB, 0xBF]) {
        input.consume(3);
    }
    Ok(())
}

/// Consumes leading whitespace and looks at the first byte without consuming it.
fn peek_start(input: &mut impl BufRead) -> io::Result<Start> {
    let mut lines_skipped = 0;
    loop {
        let buf = input.fill_buf()?;
        if buf.is_empty() {
            return Ok(Start { first: None, lone_brace: false, lines_skipped });
        }
        let at = buf.iter().position(|b| !b.is_ascii_whitespace()).unwrap_or(buf.len());
        lines_skipped += count_newlines(&buf[..at]);
        if let Some(&first) = buf.get(at) {
            let rest = &buf[at + 1..];
            let lone_brace = first == b'{'
                && rest.iter().find(|b| !matches!(b, b' ' | b'\t' | b'\r')) == Some(&b'\n');
            input.consume(at);
            return Ok(Start { first: Some(first), lone_brace, lines_skipped });
        }
        input.consume(at);
    }
}

fn count_newlines(bytes: &[u8]) -> u64 {
    bytes.iter().filter(|&&b| b == b'\n').count() as u64
}

fn starts_with(byte: u8) -> String {
    if byte.is_ascii_graphic() {
        format!("starts with {:?}", byte as char)
    } else {
        format!("starts with byte 0x{byte:02x}")
    }
}

/// JSON lines: one record per non-blank line; a bad line is that record's error only.
fn read_lines<E: From<ImportError>>(
    mut input: impl BufRead,
    lines_skipped: u64,
    ctx: &mut Ctx<'_, E>,
) -> Result<(), E> {
    let mut line = Vec::new();
    let mut line_no = lines_skipped;
    let mut position = 0;
    loop {
        line.clear();
        if input.read_until(b'\n', &mut line).map_err(|e| ctx.io(e))? == 0 {
            return Ok(());
        }
        line_no += 1;
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        position += 1;
        let value = serde_json::from_slice::<Value>(&line)
            .map_err(|e| format!("invalid JSON: {}", json_message(&e)));
        ctx.deliver(value, position, format!("{}:{line_no}", ctx.name))?;
    }
}

/// A top-level JSON array, deserialized element by element so memory stays flat.
fn read_array<E: From<ImportError>>(
    input: impl Read,
    lines_skipped: u64,
    ctx: &mut Ctx<'_, E>,
) -> Result<(), E> {
    let mut de = serde_json::Deserializer::from_reader(input);
    let mut count = 0u64;
    let mut stopped = None;
    let result = {
        let mut on_element = |value: Value| {
            count += 1;
            let location = format!("{}: record {count}", ctx.name);
            match ctx.deliver(Ok(value), count, location) {
                Ok(()) => true,
                Err(e) => {
                    stopped = Some(e);
                    false
                }
            }
        };
        de.deserialize_seq(Elements { on_element: &mut on_element })
    };
    if let Some(e) = stopped {
        return Err(e);
    }
    if let Err(e) = result {
        let location = format!("{}: record {}", ctx.name, count + 1);
        return Err(stream_error(ctx, location, e, lines_skipped));
    }
    de.end().map_err(|e| {
        let reason =
            format!("unexpected data after the array: {}", json_position(&e, lines_skipped));
        ctx.broken(ctx.name.to_string(), reason)
    })
}

/// A fatal error in a JSON array or object stream: IO, truncation, or bad syntax.
fn stream_error<E: From<ImportError>>(
    ctx: &Ctx<'_, E>,
    location: String,
    e: serde_json::Error,
    lines_skipped: u64,
) -> E {
    let at = json_position(&e, lines_skipped);
    if e.is_io() {
        ctx.io(io::Error::from(e)).into()
    } else if e.is_eof() {
        ctx.broken(location, format!("the file ends early (truncated?) at {at}"))
    } else {
        ctx.broken(location, format!("invalid JSON: {} at {at}", json_message(&e)))
    }
}

/// Hands each element of a JSON array to a callback; the callback returns false to stop.
struct Elements<'a> {
    on_element: &'a mut dyn FnMut(Value) -> bool,
}

impl<'de> Visitor<'de> for Elements<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of records")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(value) = seq.next_element::<Value>()? {
            if !(self.on_element)(value) {
                // The caller's own error is kept aside; this one only unwinds serde.
                return Err(de::Error::custom("stopped by the caller"));
            }
        }
        Ok(())
    }
}

/// Pretty-printed objects one after another. Unlike JSON lines there is no line to skip
/// to after a syntax error, so one is fatal.
fn read_object_stream<E: From<ImportError>>(
    input: impl Read,
    lines_skipped: u64,
    ctx: &mut Ctx<'_, E>,
) -> Result<(), E> {
    let stream = serde_json::Deserializer::from_reader(input).into_iter::<Value>();
    for (index, value) in stream.enumerate() {
        let position = index as u64 + 1;
        let location = format!("{}: record {position}", ctx.name);
        match value {
            Ok(value) => ctx.deliver(Ok(value), position, location)?,
            Err(e) => return Err(stream_error(ctx, location, e, lines_skipped)),
        }
    }
    Ok(())
}

/// `Some(delimiter)` when the file is to be read as CSV/TSV.
fn csv_delimiter(name: &str, format: Format) -> Option<u8> {
    let lower = name.to_ascii_lowercase();
    let tsv = lower.ends_with(".tsv");
    match format {
        Format::Csv => Some(if tsv { b'\t' } else { b',' }),
        // The user said JSON rows; trust that over the name.
        Format::Jsonl => None,
        _ if tsv => Some(b'\t'),
        _ if lower.ends_with(".csv") => Some(b','),
        _ => None,
    }
}

/// CSV with a header row. Each row becomes an object of strings keyed by the lower-cased
/// header, then goes through the same record parser as JSON.
fn read_csv<E: From<ImportError>>(
    input: impl Read,
    delimiter: u8,
    ctx: &mut Ctx<'_, E>,
) -> Result<(), E> {
    let mut reader = csv::ReaderBuilder::new().delimiter(delimiter).from_reader(input);
    let headers: Vec<String> = match reader.headers() {
        Ok(row) => row.iter().map(|h| h.trim().to_ascii_lowercase()).collect(),
        Err(e) => return Err(csv_fatal(ctx, e)),
    };
    check_label_column(&headers, ctx)?;
    let mut row = csv::StringRecord::new();
    let mut position = 0;
    loop {
        let read = reader.read_record(&mut row);
        if matches!(read, Ok(false)) {
            return Ok(());
        }
        position += 1;
        let (value, line) = match read {
            Ok(_) => (Ok(row_object(&headers, &row)), row.position().map_or(0, |p| p.line())),
            Err(e) if e.is_io_error() => return Err(csv_fatal(ctx, e)),
            Err(e) => (Err(csv_reason(&e)), e.position().map_or(0, |p| p.line())),
        };
        ctx.deliver(value, position, format!("{}:{line}", ctx.name))?;
    }
}

fn csv_fatal<E: From<ImportError>>(ctx: &Ctx<'_, E>, e: csv::Error) -> E {
    let reason = csv_reason(&e);
    match e.into_kind() {
        csv::ErrorKind::Io(source) => ctx.io(source).into(),
        _ => ctx.broken(ctx.name.to_string(), reason),
    }
}

fn csv_reason(e: &csv::Error) -> String {
    match e.kind() {
        csv::ErrorKind::UnequalLengths { expected_len, len, .. } => {
            format!("expected {expected_len} fields like the header, found {len}")
        }
        csv::ErrorKind::Utf8 { err, .. } => format!("field {} is not UTF-8", err.field() + 1),
        _ => e.to_string(),
    }
}

/// A label column the user named but the header lacks would fail every row; say it once.
fn check_label_column<E: From<ImportError>>(headers: &[String], ctx: &Ctx<'_, E>) -> Result<(), E> {
    let Some(column) = ctx.opts.label_column.as_deref() else { return Ok(()) };
    if headers.iter().any(|h| h.eq_ignore_ascii_case(column.trim())) {
        return Ok(());
    }
    let reason = format!("no column {column:?} for labels (columns: {})", headers.join(", "));
    Err(ctx.broken(ctx.name.to_string(), reason))
}

fn row_object(headers: &[String], row: &csv::StringRecord) -> Value {
    let obj: Map<String, Value> = headers
        .iter()
        .zip(row.iter())
        .map(|(h, v)| (h.clone(), Value::String(v.to_string())))
        .collect();
    Value::Object(obj)
}

/// serde_json's message without its " at line L column C" tail (we report our own position).
fn json_message(e: &serde_json::Error) -> String {
    let text = e.to_string();
    let tail = format!(" at line {} column {}", e.line(), e.column());
    text.strip_suffix(&tail).unwrap_or(&text).to_string()
}

fn json_position(e: &serde_json::Error, lines_skipped: u64) -> String {
    format!("line {} column {}", e.line() as u64 + lines_skipped, e.column())
}

// ---------------------------------------------------------------------------------------------
// Record shapes

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

fn sharegpt(obj: &mut Map<String, Value>) -> Result<Item, String> {
    let field = if obj.contains_key("conversations") { "conversations" } else { "conversation" };
    let list = take_list(obj, field)?.ok_or("no \"conversations\" field (format sharegpt)")?;
    conversation(obj, field, list)
}

fn openai(obj: &mut Map<String, Value>) -> Result<Item, String> {
    let list = take_list(obj, "messages")?.ok_or("no \"messages\" field (format openai)")?;
    conversation(obj, "messages", list)
}

/// ShareGPT and OpenAI records differ only in where the turn list lives; each turn may use
/// either from/value or role/content, since datasets in the wild mix them.
fn conversation(
    obj: &mut Map<String, Value>,
    field: &str,
    list: Vec<Value>,
) -> Result<Item, String> {
    if list.is_empty() {
        return Err(format!("{field:?} is empty"));
    }
    let mut turns = Vec::with_capacity(list.len() + 1);
    if let Some(system) = take_text(obj, "system")?.filter(|s| !s.trim().is_empty()) {
        turns.push(turn("system", system));
    }
    for (index, message) in list.into_iter().enumerate() {
        add_message(&mut turns, message)
            .map_err(|e| format!("{field:?} turn {}: {e}", index + 1))?;
    }
    Ok(Item {
        kind: Some(ItemKind::Conversation),
        title: conversation_title(&turns),
        created_at: take_text(obj, "created_at")?,
        meta: tools_meta(obj)?,
        turns,
        ..Item::default()
    })
}

fn turn(role: &str, content: String) -> Turn {
    Turn { role: role.to_string(), content, tool_calls: Vec::new() }
}

/// A role as found in files, normalised.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    System,
    User,
    Assistant,
    /// A ShareGPT `function_call` turn: the assistant calling a tool.
    Call,
    Tool,
}

fn role(name: &str) -> Option<Role> {
    Some(match name.trim().to_ascii_lowercase().as_str() {
        "system" => Role::System,
        "human" | "user" | "prompter" => Role::User,
        "gpt" | "assistant" | "bing" | "chatgpt" | "bard" | "model" | "bot" => Role::Assistant,
        "function_call" | "tool_call" => Role::Call,
        "observation" | "tool" | "function" | "ipython" | "tool_response" => Role::Tool,
        _ => return None,
    })
}

fn add_message(turns: &mut Vec<Turn>, message: Value) -> Result<(), String> {
    let Value::Object(mut m) = message else {
        return Err(format!("expected an object, found {}", type_name(&message)));
    };
    let name = match take_text(&mut m, "from")? {
        Some(name) => name,
        None => take_text(&mut m, "role")?.ok_or("no \"from\" or \"role\"")?,
    };
    let role = role(&name).ok_or_else(|| format!("unknown role {name:?}"))?;
    let content = m.remove("value").or_else(|| m.remove("content")).unwrap_or(Value::Null);
    if role == Role::Call {
        let calls = calls_from_text(content)?;
        add_calls(turns, calls);
        return Ok(());
    }
    let mut tool_calls = take_tool_calls(&mut m)?;
    if let Some(legacy) = m.remove("function_call").filter(|v| !v.is_null()) {
        tool_calls.push(tool_call(legacy).map_err(|e| format!("\"function_call\": {e}"))?);
    }
    let role = match role {
        Role::System => "system",
        Role::User => "user",
        Role::Assistant | Role::Call => "assistant",
        Role::Tool => "tool",
    };
    turns.push(Turn { role: role.to_string(), content: content_text(content)?, tool_calls });
    Ok(())
}

/// A `function_call` turn continues the assistant turn right before it (the OpenAI shape has
/// text and calls in one message); otherwise it is an assistant turn of its own.
fn add_calls(turns: &mut Vec<Turn>, calls: Vec<ToolCall>) {
    match turns.last_mut() {
        Some(last) if last.role == "assistant" => last.tool_calls.extend(calls),
        _ => turns.push(Turn {
            role: "assistant".to_string(),
            content: String::new(),
            tool_calls: calls,
        }),
    }
}

/// The value of a `function_call` turn: JSON text (or JSON) holding one call or a list.
fn calls_from_text(content: Value) -> Result<Vec<ToolCall>, String> {
    let value = match content {
        Value::String(text) => serde_json::from_str(&text).map_err(|e| {
            format!("function_call is not JSON {{\"name\", \"arguments\"}}: {}", json_message(&e))
        })?,
        other => other,
    };
    match value {
        Value::Array(calls) => calls.into_iter().map(tool_call).collect(),
        other => Ok(vec![tool_call(other)?]),
    }
}

fn take_tool_calls(m: &mut Map<String, Value>) -> Result<Vec<ToolCall>, String> {
    match m.remove("tool_calls") {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(calls)) => calls
            .into_iter()
            .enumerate()
            .map(|(i, c)| tool_call(c).map_err(|e| format!("tool call {}: {e}", i + 1)))
            .collect(),
        Some(other) => Err(format!("\"tool_calls\" must be a list, found {}", type_name(&other))),
    }
}

/// `{"name", "arguments"}`, or OpenAI's `{"id", "type", "function": {"name", "arguments"}}`.
/// Arguments given as a string are kept as written; an object is rendered as compact JSON.
fn tool_call(value: Value) -> Result<ToolCall, String> {
    let Value::Object(mut obj) = value else {
        return Err(format!("expected {{\"name\", \"arguments\"}}, found {}", type_name(&value)));
    };
    if let Some(Value::Object(function)) = obj.remove("function") {
        obj = function;
    }
    let name = take_text(&mut obj, "name")?.ok_or("tool call has no \"name\"")?;
    let arguments = match obj.remove("arguments").or_else(|| obj.remove("parameters")) {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(text)) => text,
        Some(other) => other.to_string(),
    };
    Ok(ToolCall { name, arguments })
}

/// Message content: a string, null, or a list of parts (`{"type": "text", "text"|"value"}`);
/// parts that are not text become a placeholder such as `[image]`.
fn content_text(content: Value) -> Result<String, String> {
    match content {
        Value::String(text) => Ok(text),
        Value::Null => Ok(String::new()),
        Value::Array(parts) => {
            let mut pieces = Vec::with_capacity(parts.len());
            for (i, part) in parts.into_iter().enumerate() {
                pieces.push(part_text(part).map_err(|e| format!("content part {}: {e}", i + 1))?);
            }
            Ok(pieces.join("\n"))
        }
        Value::Object(_) => part_text(content),
        other => {
            Err(format!("content must be text or a list of parts, found {}", type_name(&other)))
        }
    }
}

fn part_text(part: Value) -> Result<String, String> {
    let mut obj = match part {
        Value::String(text) => return Ok(text),
        Value::Object(obj) => obj,
        other => return Err(format!("expected an object, found {}", type_name(&other))),
    };
    let kind = take_text(&mut obj, "type")?;
    match kind.as_deref() {
        None | Some("text" | "input_text" | "output_text") => {
            // OpenAI says "text"; LLaMA-Factory says "value".
            let text = match take_text(&mut obj, "text")? {
                Some(text) => Some(text),
                None => take_text(&mut obj, "value")?,
            };
            match (text, kind) {
                (Some(text), _) => Ok(text),
                (None, Some(_)) => Ok(String::new()),
                (None, None) => Err("part has no \"type\" or \"text\"".to_string()),
            }
        }
        Some("image" | "image_url" | "input_image") => Ok("[image]".to_string()),
        Some("audio" | "input_audio") => Ok("[audio]".to_string()),
        Some("video" | "video_url") => Ok("[video]".to_string()),
        Some(other) => Ok(format!("[{other}]")),
    }
}

/// Tool schemas (`tools`, a JSON string or JSON) kept as parsed JSON in `meta.tools`.
fn tools_meta(obj: &mut Map<String, Value>) -> Result<Value, String> {
    let tools = match obj.remove("tools") {
        None | Some(Value::Null) => return Ok(Value::Null),
        Some(Value::String(text)) if text.trim().is_empty() => return Ok(Value::Null),
        Some(Value::String(text)) => serde_json::from_str(&text)
            .map_err(|e| format!("\"tools\" is not valid JSON: {}", json_message(&e)))?,
        Some(other) => other,
    };
    if tools.as_array().is_some_and(Vec::is_empty) {
        return Ok(Value::Null);
    }
    let mut meta = Map::new();
    meta.insert("tools".to_string(), tools);
    Ok(Value::Object(meta))
}

/// The first user turn's first line; a conversation without one uses its first turn.
fn conversation_title(turns: &[Turn]) -> String {
    let first = turns.iter().find(|t| t.role == "user").or_else(|| turns.first());
    first.map(|t| first_line(&t.content)).unwrap_or_default()
}

/// First non-blank line, cut to `TITLE_CHARS` chars (on a char boundary) with an ellipsis.
fn first_line(text: &str) -> String {
    let line = text.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or("");
    match line.char_indices().nth(TITLE_CHARS - 1) {
        Some((cut, _)) if line.chars().count() > TITLE_CHARS => {
            format!("{}…", line[..cut].trim_end())
        }
        _ => line.to_string(),
    }
}

/// Alpaca: system, history pairs, then instruction (+ input) and output.
fn alpaca(obj: &mut Map<String, Value>) -> Result<Item, String> {
    if !obj.contains_key("instruction") {
        return Err("no \"instruction\" field (format alpaca)".to_string());
    }
    let instruction = take_text(obj, "instruction")?.unwrap_or_default();
    let input = take_text(obj, "input")?.unwrap_or_default();
    let output = take_text(obj, "output")?.ok_or("no \"output\" (format alpaca)")?;
    let prompt = match (instruction.trim().is_empty(), input.trim().is_empty()) {
        (true, true) => return Err("\"instruction\" is empty".to_string()),
        (false, true) => instruction,
        (true, false) => input,
        (false, false) => format!("{instruction}\n\n{input}"),
    };
    let mut turns = Vec::new();
    if let Some(system) = take_text(obj, "system")?.filter(|s| !s.trim().is_empty()) {
        turns.push(turn("system", system));
    }
    add_history(&mut turns, obj.remove("history"))?;
    turns.push(turn("user", prompt));
    turns.push(turn("assistant", output));
    Ok(Item {
        kind: Some(ItemKind::Conversation),
        title: conversation_title(&turns),
        created_at: take_text(obj, "created_at")?,
        meta: tools_meta(obj)?,
        turns,
        ..Item::default()
    })
}

/// `history`: `[[user, assistant], ...]`, earlier rounds of the same conversation.
fn add_history(turns: &mut Vec<Turn>, history: Option<Value>) -> Result<(), String> {
    let rounds = match history {
        None | Some(Value::Null) => return Ok(()),
        Some(Value::Array(rounds)) => rounds,
        Some(other) => {
            return Err(format!("\"history\" must be a list, found {}", type_name(&other)));
        }
    };
    for (i, round) in rounds.into_iter().enumerate() {
        match round {
            Value::Array(pair) => match <[Value; 2]>::try_from(pair) {
                Ok([Value::String(user), Value::String(assistant)]) => {
                    turns.push(turn("user", user));
                    turns.push(turn("assistant", assistant));
                }
                _ => return Err(history_error(i)),
            },
            _ => return Err(history_error(i)),
        }
    }
    Ok(())
}

fn history_error(index: usize) -> String {
    format!("\"history\" round {} must be [user text, assistant text]", index + 1)
}

/// An issue row; a missing title falls back to the body's first line.
fn issue(obj: &mut Map<String, Value>) -> Result<Item, String> {
    let body = take_text(obj, "body")?.unwrap_or_default();
    let title = match take_text(obj, "title")?.filter(|t| !t.trim().is_empty()) {
        Some(title) => title.trim().to_string(),
        None if !body.trim().is_empty() => first_line(&body),
        None => return Err("issue row has neither a \"title\" nor a \"body\"".to_string()),
    };
    Ok(Item {
        kind: Some(ItemKind::Issue),
        title,
        body,
        repo: take_text(obj, "repo")?,
        number: number(obj.get("number")),
        state: take_text(obj, "state")?,
        author: author(obj)?,
        url: match take_text(obj, "html_url")? {
            Some(url) => Some(url),
            None => take_text(obj, "url")?,
        },
        created_at: take_text(obj, "created_at")?,
        updated_at: take_text(obj, "updated_at")?,
        ..Item::default()
    })
}

/// `author`, or GitHub's `user` (a login or `{"login": ...}`).
fn author(obj: &mut Map<String, Value>) -> Result<Option<String>, String> {
    if let Some(author) = take_text(obj, "author")? {
        return Ok(Some(author));
    }
    match obj.remove("user") {
        Some(Value::Object(mut user)) => take_text(&mut user, "login"),
        Some(Value::String(login)) if !login.is_empty() => Ok(Some(login)),
        _ => Ok(None),
    }
}

fn number(value: Option<&Value>) -> Option<i64> {
    match value? {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

// ---------------------------------------------------------------------------------------------
// Fields

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
