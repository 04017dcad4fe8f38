//! Synthetic, deterministic data generators for benchmarks and load tests.
//!
//! Every generator is seeded (ChaCha8), so the same `(n, seed)` gives the same bytes on every
//! machine, and a shorter run is a prefix of a longer one. Records are built in the shapes real
//! files use (ShareGPT conversations, GitHub-like issue rows); the items returned are those
//! records read through the file importer, so they are exactly what `sift import` would store.

use std::io::{self, Write};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{Map, Value, json};

use crate::model::Item;
use crate::sources::files::{self, Format, ReadOptions};

/// Dataset name of generated items (keys are `synth:<id>`).
pub const DATASET: &str = "synth";

/// Issue labels, most common first.
pub const LABELS: [&str; 10] = [
    "bug",
    "enhancement",
    "documentation",
    "question",
    "ux",
    "performance",
    "test",
    "security",
    "refactor",
    "ci",
];

/// Relative frequency of each of `LABELS`: skewed like real trackers, bugs dominate.
const LABEL_WEIGHTS: [u32; 10] = [34, 22, 10, 10, 6, 6, 4, 3, 3, 2];

/// How records are laid out in a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    Jsonl,
    JsonArray,
    /// Issues only: conversations have no CSV form.
    Csv,
}

/// `n` ShareGPT records of about 2 KB each.
pub fn conversation_records(n: usize, seed: u64) -> impl Iterator<Item = Value> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (1..=n).map(move |number| conversation_record(&mut rng, number))
}

/// `n` issue rows with bodies of about 1-2 KB.
pub fn issue_records(n: usize, seed: u64) -> impl Iterator<Item = Value> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (1..=n).map(move |number| issue_record(&mut rng, number))
}

/// The items `conversation_records(n, seed)` import as.
pub fn conversations(n: usize, seed: u64) -> Vec<Item> {
    items(conversation_records(n, seed))
}

/// The items `issue_records(n, seed)` import as.
pub fn issues(n: usize, seed: u64) -> Vec<Item> {
    items(issue_records(n, seed))
}

fn items(records: impl Iterator<Item = Value>) -> Vec<Item> {
    let opts =
        ReadOptions { dataset: DATASET.to_string(), format: Format::Auto, label_column: None };
    // Generated records always fit their shape (the tests parse every layout with zero
    // errors), so nothing is dropped here.
    records
        .enumerate()
        .filter_map(|(i, record)| files::parse_record(record, i as u64 + 1, &opts).ok())
        .collect()
}

/// Writes `n` conversations as JSON lines or a JSON array.
pub fn write_conversations(
    out: &mut impl Write,
    n: usize,
    seed: u64,
    layout: Layout,
) -> io::Result<()> {
    match layout {
        Layout::Jsonl => write_jsonl(out, conversation_records(n, seed)),
        Layout::JsonArray => write_array(out, conversation_records(n, seed)),
        Layout::Csv => {
            Err(io::Error::new(io::ErrorKind::InvalidInput, "conversations have no CSV layout"))
        }
    }
}

/// Writes `n` issues as JSON lines, a JSON array or CSV (labels comma-separated).
pub fn write_issues(out: &mut impl Write, n: usize, seed: u64, layout: Layout) -> io::Result<()> {
    match layout {
        Layout::Jsonl => write_jsonl(out, issue_records(n, seed)),
        Layout::JsonArray => write_array(out, issue_records(n, seed)),
        Layout::Csv => write_issue_csv(out, issue_records(n, seed)),
    }
}

fn write_jsonl(out: &mut impl Write, records: impl Iterator<Item = Value>) -> io::Result<()> {
    for record in records {
        serde_json::to_writer(&mut *out, &record)?;
        out.write_all(b"\n")?;
    }
    out.flush()
}

fn write_array(out: &mut impl Write, records: impl Iterator<Item = Value>) -> io::Result<()> {
    out.write_all(b"[")?;
    for (i, record) in records.enumerate() {
        out.write_all(if i == 0 { b"\n" } else { b",\n" })?;
        serde_json::to_writer(&mut *out, &record)?;
    }
    out.write_all(b"\n]\n")?;
    out.flush()
}

const CSV_COLUMNS: [&str; 8] =
    ["number", "repo", "created_at", "state", "author", "labels", "title", "body"];

fn write_issue_csv(out: &mut impl Write, records: impl Iterator<Item = Value>) -> io::Result<()> {
    let mut writer = csv::Writer::from_writer(out);
    writer.write_record(CSV_COLUMNS)?;
    for record in records {
        let row = CSV_COLUMNS.map(|column| csv_cell(record.get(column)));
        writer.write_record(&row)?;
    }
    writer.flush()
}

fn csv_cell(value: Option<&Value>) -> String {
    match value {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(list)) => {
            list.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(", ")
        }
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    }
}

// ---------------------------------------------------------------------------------------------
// Vocabulary

const NOUNS: [&str; 48] = [
    "function",
    "closure",
    "iterator",
    "vector",
    "hash map",
    "struct",
    "enum",
    "trait",
    "generic type",
    "lifetime",
    "reference",
    "slice",
    "string",
    "byte buffer",
    "thread",
    "mutex",
    "channel",
    "future",
    "async task",
    "runtime",
    "macro",
    "module",
    "crate",
    "dependency",
    "build script",
    "compiler",
    "test suite",
    "benchmark",
    "database",
    "query",
    "index",
    "transaction",
    "schema",
    "migration",
    "connection pool",
    "cache",
    "socket",
    "HTTP request",
    "response body",
    "JSON parser",
    "config file",
    "environment variable",
    "logger",
    "CLI flag",
    "container image",
    "regex",
    "file handle",
    "error type",
];

const VERBS: [&str; 30] = [
    "parse",
    "serialize",
    "deserialize",
    "iterate over",
    "borrow",
    "clone",
    "allocate",
    "spawn",
    "lock",
    "await",
    "compile",
    "test",
    "benchmark",
    "refactor",
    "cache",
    "index",
    "query",
    "migrate",
    "configure",
    "log",
    "validate",
    "sort",
    "filter",
    "merge",
    "split",
    "stream",
    "retry",
    "mock",
    "profile",
    "encode",
];

const ADJECTIVES: [&str; 18] = [
    "fast",
    "thread-safe",
    "immutable",
    "mutable",
    "generic",
    "lazy",
    "async",
    "blocking",
    "idiomatic",
    "nested",
    "large",
    "empty",
    "optional",
    "static",
    "dynamic",
    "recursive",
    "concurrent",
    "deterministic",
];

const LANGUAGES: [&str; 10] =
    ["Rust", "Python", "Go", "TypeScript", "Java", "C++", "SQL", "Bash", "Kotlin", "C#"];

const COMPONENTS: [&str; 15] = [
    "parser",
    "scheduler",
    "renderer",
    "storage",
    "auth",
    "cli",
    "exporter",
    "importer",
    "sync",
    "editor",
    "search",
    "api",
    "cache",
    "notifications",
    "settings",
];

const IDENTS: [&str; 16] = [
    "config", "request", "buffer", "session", "record", "index", "token", "payload", "items",
    "result", "reader", "writer", "entry", "state", "path", "count",
];

const TYPES: [&str; 10] = [
    "Config", "Request", "Buffer", "Session", "Record", "Index", "Token", "Payload", "Entry",
    "State",
];

const METHODS: [&str; 10] = [
    "parse", "load", "flush", "validate", "encode", "decode", "lock", "commit", "resolve", "finish",
];

const REPOS: [&str; 8] = [
    "acme/widget",
    "acme/orbit",
    "nebula-labs/quill",
    "openfield/harvest",
    "tinyorg/lantern",
    "bytecraft/relay",
    "northwind/ledger",
    "solstice/atlas",
];

const AUTHORS: [&str; 10] =
    ["octocat", "mlee", "dpatel", "sgarcia", "jchen", "akowalski", "nwu", "rossi-f", "tkim", "bo"];

const CITIES: [&str; 8] =
    ["Lisbon", "Osaka", "Nairobi", "Toronto", "Oslo", "Lima", "Hanoi", "Melbourne"];

const QUESTIONS: [&str; 10] = [
    "How do I {v} a {a} {n} in {l}?",
    "Why does my {n} become {a} after I {v} it?",
    "What is the difference between a {n} and a {n} in {l}?",
    "Can you show me how to {v} a {n} without a {n}?",
    "My {l} program fails when I {v} the {n}. What am I doing wrong?",
    "Is it a good idea to {v} every {n} before I {v} the {n}?",
    "Explain how a {a} {n} works in {l}.",
    "Which is better for a {a} {n}: a {n} or a {n}?",
    "I keep getting an error when I {v} a {n} from the {n}. Any idea why?",
    "What is the idiomatic way to {v} a {n} in {l}?",
];

const ANSWERS: [&str; 14] = [
    "You can {v} the {n} by wrapping it in a {a} {n}.",
    "In {l}, a {n} is usually {a}, so you need to {v} it before you {v} the {n}.",
    "The simplest fix is to {v} the {n} once and reuse the {n}.",
    "This happens because the {n} is {a} while the {n} is not.",
    "A common pattern is to {v} each {n} and collect the results into a {n}.",
    "Keep in mind that a {a} {n} costs an extra {n} on every call.",
    "If you need to {v} the {n} concurrently, put it behind a {n}.",
    "Most {l} projects {v} the {n} in a separate {n} to keep things {a}.",
    "First, {v} the {n}. Then {v} the {n} and check the {n}.",
    "Avoid holding the {n} across an await point; {v} it in a smaller scope instead.",
    "The compiler complains because the {n} outlives the {n} it borrows from.",
    "For a {a} workload, {v} the {n} in batches rather than one at a time.",
    "You do not need a {n} here: a plain {n} is enough and easier to {v}.",
    "Write a small test that can {v} the {n}, then {v} the {n} until it passes.",
];

const SYSTEM_PROMPTS: [&str; 5] = [
    "You are a helpful programming assistant. Answer concisely and show code when useful.",
    "You are an expert {l} developer. Explain trade-offs and prefer idiomatic code.",
    "You are a code reviewer. Point out bugs, then suggest a fix.",
    "You are a senior engineer mentoring a junior colleague who works with {l}.",
    "You are a concise assistant. Use short paragraphs and {l} examples.",
];

// ---------------------------------------------------------------------------------------------
// Text

/// A uniformly random element. The lists are non-empty constants, so the index is in range.
fn pick<T: Copy>(rng: &mut ChaCha8Rng, items: &[T]) -> T {
    items[rng.random_range(0..items.len())]
}

/// Index into `weights`, drawn in proportion to them.
fn weighted(rng: &mut ChaCha8Rng, weights: &[u32]) -> usize {
    let total: u32 = weights.iter().sum();
    let mut roll = rng.random_range(0..total);
    for (i, &w) in weights.iter().enumerate() {
        if roll < w {
            return i;
        }
        roll -= w;
    }
    weights.len() - 1
}

/// Fills `{n}` noun, `{v}` verb, `{a}` adjective, `{l}` language, `{m}` component and
/// `{k}` keyword slots.
fn fill(rng: &mut ChaCha8Rng, template: &str, keywords: &[&str]) -> String {
    let mut out = String::with_capacity(template.len() + 40);
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let Some(close) = after.find('}') else { break };
        let word = match &after[..close] {
            "n" => pick(rng, &NOUNS),
            "v" => pick(rng, &VERBS),
            "a" => pick(rng, &ADJECTIVES),
            "l" => pick(rng, &LANGUAGES),
            "m" => pick(rng, &COMPONENTS),
            "k" if !keywords.is_empty() => pick(rng, keywords),
            _ => "",
        };
        // "a" before a vowel reads wrong to a labeler ("a iterator").
        if out.ends_with(" a ")
            && word.starts_with(['a', 'e', 'i', 'o', 'u', 'A', 'E', 'I', 'O', 'U'])
        {
            out.insert(out.len() - 1, 'n');
        }
        out.push_str(word);
        rest = &after[close + 1..];
    }
    out.push_str(rest);
    out
}

/// Sentences from `templates` until `text` reaches `len` bytes, in paragraphs of 2-4.
fn grow(
    rng: &mut ChaCha8Rng,
    text: &mut String,
    len: usize,
    templates: &[&str],
    keywords: &[&str],
) {
    let mut in_paragraph = 0;
    while text.len() < len {
        if in_paragraph >= rng.random_range(2..=4) {
            text.push_str("\n\n");
            in_paragraph = 0;
        } else if !text.is_empty() && !text.ends_with('\n') {
            text.push(' ');
        }
        let template = pick(rng, templates);
        text.push_str(&fill(rng, template, keywords));
        in_paragraph += 1;
    }
}

/// A fenced code block of 4-9 lines in Rust, Python or TypeScript.
fn code_block(rng: &mut ChaCha8Rng) -> String {
    let (f, a, b) = (pick(rng, &IDENTS), pick(rng, &IDENTS), pick(rng, &IDENTS));
    let (t, m) = (pick(rng, &TYPES), pick(rng, &METHODS));
    let mut lines = match rng.random_range(0..3) {
        0 => vec![
            "```rust".to_string(),
            format!("fn {m}_{f}({a}: &{t}) -> Result<{t}, Error> {{"),
            format!("    let {b} = {a}.{m}()?;"),
        ],
        1 => vec![
            "```python".to_string(),
            format!("def {m}_{f}({a}: {t}) -> {t}:"),
            format!("    {b} = {a}.{m}()"),
        ],
        _ => vec![
            "```typescript".to_string(),
            format!("function {m}_{f}({a}: {t}): {t} {{"),
            format!("  const {b} = {a}.{m}();"),
        ],
    };
    let rust = lines[0] == "```rust";
    for _ in 0..rng.random_range(1..=5) {
        let (x, y, k) = (pick(rng, &IDENTS), pick(rng, &IDENTS), pick(rng, &METHODS));
        lines.push(if rust { format!("    {x}.{k}(&{y})?;") } else { format!("    {x}.{k}({y})") });
    }
    match lines[0].as_str() {
        "```rust" => lines.extend([format!("    Ok({b})"), "}".to_string()]),
        "```python" => lines.push(format!("    return {b}")),
        _ => lines.extend([format!("  return {b};"), "}".to_string()]),
    }
    lines.push("```".to_string());
    lines.join("\n")
}

// ---------------------------------------------------------------------------------------------
// Conversations

struct Tool {
    name: &'static str,
    description: &'static str,
    /// (name, JSON type, description); all are required.
    params: &'static [(&'static str, &'static str, &'static str)],
}

const TOOLS: [Tool; 4] = [
    Tool {
        name: "search_code",
        description: "Search the code base for a symbol or phrase",
        params: &[
            ("query", "string", "What to look for"),
            ("language", "string", "Restrict to one language"),
            ("max_results", "integer", "How many matches to return"),
        ],
    },
    Tool {
        name: "run_tests",
        description: "Run the test suite, or the tests matching a filter",
        params: &[("path", "string", "Test file or folder"), ("filter", "string", "Name filter")],
    },
    Tool {
        name: "get_weather",
        description: "Get the current weather for a city",
        params: &[("city", "string", "City name"), ("unit", "string", "celsius or fahrenheit")],
    },
    Tool {
        name: "create_issue",
        description: "Open an issue in a repository",
        params: &[
            ("repo", "string", "owner/name"),
            ("title", "string", "Issue title"),
            ("labels", "array", "Label names"),
        ],
    },
];

fn tool_schema(tool: &Tool) -> Value {
    let mut properties = Map::new();
    for &(name, kind, description) in tool.params {
        let mut schema = json!({ "type": kind, "description": description });
        if kind == "array" {
            schema["items"] = json!({ "type": "string" });
        }
        properties.insert(name.to_string(), schema);
    }
    let required: Vec<&str> = tool.params.iter().map(|p| p.0).collect();
    json!({
        "name": tool.name,
        "description": tool.description,
        "parameters": { "type": "object", "properties": properties, "required": required },
    })
}

/// (user request, call arguments, tool result) for one tool.
fn tool_use(rng: &mut ChaCha8Rng, tool: &Tool) -> (String, Value, Value) {
    match tool.name {
        "search_code" => {
            let (query, language) = (pick(rng, &NOUNS), pick(rng, &LANGUAGES));
            let count = rng.random_range(1..=3);
            let matches: Vec<Value> = (0..count)
                .map(|_| {
                    let file = format!("src/{}.rs", pick(rng, &COMPONENTS));
                    json!({ "file": file, "line": rng.random_range(1..900), "snippet": code_line(rng) })
                })
                .collect();
            (
                format!("Where do we {} the {query} in our {language} code?", pick(rng, &VERBS)),
                json!({ "query": query, "language": language, "max_results": rng.random_range(1..20) }),
                json!({ "matches": matches }),
            )
        }
        "run_tests" => {
            let component = pick(rng, &COMPONENTS);
            let (passed, failed) = (rng.random_range(10..400), rng.random_range(0..4));
            (
                format!("Can you run the {component} tests and tell me what fails?"),
                json!({ "path": format!("tests/{component}.rs"), "filter": pick(rng, &IDENTS) }),
                json!({ "passed": passed, "failed": failed, "duration_ms": rng.random_range(200..90_000) }),
            )
        }
        "get_weather" => {
            let city = pick(rng, &CITIES);
            let celsius = rng.random_range(-80..380) as f64 / 10.0;
            (
                format!("What's the weather like in {city} right now?"),
                json!({ "city": city, "unit": "celsius" }),
                json!({ "city": city, "temperature": celsius, "conditions": pick(rng, &["sunny", "cloudy", "rain", "windy"]) }),
            )
        }
        _ => {
            let repo = pick(rng, &REPOS);
            let label = LABELS[weighted(rng, &LABEL_WEIGHTS)];
            let title = fill(rng, "The {m} fails to {v} a {a} {n}", &[]);
            let number = rng.random_range(1..5000);
            (
                format!("Please open an issue in {repo} about this: {title}."),
                json!({ "repo": repo, "title": title, "labels": [label] }),
                json!({ "number": number, "url": format!("https://github.com/{repo}/issues/{number}") }),
            )
        }
    }
}

fn code_line(rng: &mut ChaCha8Rng) -> String {
    format!("let {} = {}.{}()?;", pick(rng, &IDENTS), pick(rng, &IDENTS), pick(rng, &METHODS))
}

fn message(role: &str, text: String) -> Value {
    json!({ "from": role, "value": text })
}

/// One ShareGPT record: 2-6 turns, sometimes a system prompt, sometimes a tool call.
fn conversation_record(rng: &mut ChaCha8Rng, number: usize) -> Value {
    let target: usize = rng.random_range(1500..2100);
    let mut record = Map::new();
    record.insert("id".to_string(), json!(format!("conv-{number:06}")));
    let mut turns = Vec::new();
    let mut used = 60;
    if rng.random_bool(0.3) {
        let template = pick(rng, &SYSTEM_PROMPTS);
        let prompt = fill(rng, template, &[]);
        used += prompt.len();
        // Both places real files put it: a top-level field or a leading system turn.
        if rng.random_bool(0.5) {
            record.insert("system".to_string(), json!(prompt));
        } else {
            turns.push(message("system", prompt));
        }
    }
    // A few files say user/assistant instead of human/gpt.
    let roles = if rng.random_bool(0.1) { ("user", "assistant") } else { ("human", "gpt") };
    if rng.random_bool(0.2) {
        tool_turns(rng, &mut record, &mut turns, roles, target.saturating_sub(used));
    } else {
        let pairs = rng.random_range(1..=3);
        chat_turns(rng, &mut turns, roles, target.saturating_sub(used), pairs);
    }
    record.insert("conversations".to_string(), Value::Array(turns));
    Value::Object(record)
}

/// `pairs` question/answer rounds whose text adds up to about `budget` bytes.
fn chat_turns(
    rng: &mut ChaCha8Rng,
    turns: &mut Vec<Value>,
    (user, assistant): (&str, &str),
    budget: usize,
    pairs: usize,
) {
    let questions: Vec<String> = (0..pairs).map(|_| question(rng)).collect();
    let asked: usize = questions.iter().map(|q| q.len() + 40).sum();
    let per_answer = (budget.saturating_sub(asked) / pairs).max(120);
    for q in questions {
        turns.push(message(user, q));
        turns.push(message(assistant, answer(rng, per_answer)));
    }
}

fn question(rng: &mut ChaCha8Rng) -> String {
    let template = pick(rng, &QUESTIONS);
    let mut q = fill(rng, template, &[]);
    if rng.random_bool(0.15) {
        q.push_str("\n\nHere is my code:\n");
        q.push_str(&code_block(rng));
    }
    q
}

fn answer(rng: &mut ChaCha8Rng, len: usize) -> String {
    let mut text = String::with_capacity(len + 200);
    if rng.random_bool(0.35) {
        grow(rng, &mut text, len / 3, &ANSWERS, &[]);
        text.push_str("\n\nFor example:\n\n");
        text.push_str(&code_block(rng));
        text.push_str("\n\n");
    }
    grow(rng, &mut text, len, &ANSWERS, &[]);
    text
}

/// A tool round: request, function_call, observation, answer, and maybe one more chat round.
fn tool_turns(
    rng: &mut ChaCha8Rng,
    record: &mut Map<String, Value>,
    turns: &mut Vec<Value>,
    roles: (&str, &str),
    budget: usize,
) {
    let tool = &TOOLS[rng.random_range(0..TOOLS.len())];
    let mut offered = vec![tool_schema(tool)];
    if rng.random_bool(0.5) {
        let other = &TOOLS[rng.random_range(0..TOOLS.len())];
        if other.name != tool.name {
            offered.push(tool_schema(other));
        }
    }
    // glaive-style files hold the tool list as JSON text, others as JSON.
    let tools = Value::Array(offered);
    let tools = if rng.random_bool(0.5) { Value::String(tools.to_string()) } else { tools };
    record.insert("tools".to_string(), tools);

    let (request, arguments, result) = tool_use(rng, tool);
    let call = json!({ "name": tool.name, "arguments": arguments }).to_string();
    let mut used = request.len() + call.len() + 200;
    turns.push(message(roles.0, request));
    if rng.random_bool(0.2) {
        // Text and call in one assistant turn once imported.
        turns.push(message(roles.1, "Let me check that for you.".to_string()));
    }
    turns.push(message("function_call", call));
    let observation = result.to_string();
    used += observation.len();
    turns.push(message("observation", observation));
    let follow_up = rng.random_bool(0.5);
    let rest = budget.saturating_sub(used);
    let first = if follow_up { rest / 2 } else { rest };
    turns.push(message(roles.1, answer(rng, first.max(120))));
    if follow_up {
        chat_turns(rng, turns, roles, rest - first, 1);
    }
}

// ---------------------------------------------------------------------------------------------
// Issues

/// Words and titles that give each label its signal.
struct LabelText {
    keywords: &'static [&'static str],
    titles: &'static [&'static str],
}

/// In the order of `LABELS`.
const LABEL_TEXT: [LabelText; 10] = [
    LabelText {
        keywords: &[
            "crash",
            "panic",
            "error",
            "exception",
            "regression",
            "segfault",
            "wrong result",
            "null pointer",
            "broken behaviour",
            "unexpected failure",
        ],
        titles: &[
            "{m}: {k} when loading a {n}",
            "Unexpected {k} in {m} after upgrade",
            "{n} gives a wrong result since the last release",
            "App crashes with {k} on startup",
            "{m} fails to save the {n}",
            "Regression: {n} is broken in {m}",
        ],
    },
    LabelText {
        keywords: &[
            "support for",
            "new option",
            "feature request",
            "would be nice",
            "allow users to",
            "new flag",
            "configurable",
            "integration with",
            "proposal",
        ],
        titles: &[
            "Add support for {n} in {m}",
            "Feature request: configurable {n}",
            "Allow {m} to export the {n}",
            "Proposal: a new flag to {v} the {n}",
            "Support {l} {n} in {m}",
        ],
    },
    LabelText {
        keywords: &[
            "docs",
            "README",
            "typo",
            "example",
            "guide",
            "tutorial",
            "outdated docs",
            "missing documentation",
            "API reference",
            "docstring",
        ],
        titles: &[
            "Docs: the {m} page is outdated",
            "Typo in README section about the {n}",
            "Add an example for {n} to the guide",
            "Document how {m} handles the {n}",
            "API reference for {n} is missing",
        ],
    },
    LabelText {
        keywords: &[
            "how to",
            "question",
            "is it possible",
            "help needed",
            "why does",
            "best way",
            "confused about",
            "clarification",
        ],
        titles: &[
            "How to {v} a {n} with {m}?",
            "Question: is it possible to use a {n} in {m}?",
            "Why does {m} ignore my {n}?",
            "Best way to {v} a {n}?",
        ],
    },
    LabelText {
        keywords: &[
            "UI",
            "button",
            "dialog",
            "keyboard shortcut",
            "confusing layout",
            "dark mode",
            "accessibility",
            "tooltip",
            "scrolling",
            "color contrast",
        ],
        titles: &[
            "{m}: the button to {v} the {n} is hard to find",
            "Confusing dialog when the {n} is empty",
            "Dark mode: {n} text is unreadable",
            "Keyboard shortcut to {v} in {m}",
            "Layout breaks on small screens in {m}",
        ],
    },
    LabelText {
        keywords: &[
            "slow",
            "latency",
            "memory usage",
            "CPU usage",
            "timeout",
            "takes minutes",
            "memory leak",
            "allocations",
            "throughput",
            "profiling",
        ],
        titles: &[
            "{m} is slow with a large {n}",
            "High memory usage when loading the {n}",
            "Memory leak in {m}",
            "Loading the {n} takes minutes on big inputs",
            "CPU spikes to 100% in {m}",
        ],
    },
    LabelText {
        keywords: &[
            "test",
            "flaky test",
            "coverage",
            "unit test",
            "integration test",
            "fixture",
            "assertion",
            "snapshot test",
            "mock",
        ],
        titles: &[
            "Flaky test in {m}: {n} times out",
            "Add unit tests for the {n}",
            "Increase test coverage of {m}",
            "Integration test for {n} fails intermittently",
        ],
    },
    LabelText {
        keywords: &[
            "vulnerability",
            "CVE",
            "XSS",
            "SQL injection",
            "token leak",
            "permissions",
            "sanitize input",
            "authentication",
            "secret",
            "TLS certificate",
        ],
        titles: &[
            "Security: the {n} is not sanitized in {m}",
            "Possible SQL injection in {m}",
            "Auth token leaked in logs by {m}",
            "Bump {n} dependency to fix a CVE",
            "{m} accepts invalid TLS certificates",
        ],
    },
    LabelText {
        keywords: &[
            "refactor",
            "cleanup",
            "technical debt",
            "split module",
            "rename",
            "simplify",
            "duplicate code",
            "dead code",
        ],
        titles: &[
            "Refactor {m} to separate {n} handling",
            "Remove dead code in {m}",
            "Split {m} into smaller modules",
            "Rename the {n} type to something clearer",
            "Simplify {n} logic in {m}",
        ],
    },
    LabelText {
        keywords: &[
            "CI",
            "pipeline",
            "workflow",
            "GitHub Actions",
            "build matrix",
            "cache step",
            "release job",
            "lint job",
            "runner",
            "artifact",
        ],
        titles: &[
            "CI: the {m} job fails on the macOS runner",
            "Add a lint job to the workflow",
            "Speed up CI by caching the {n}",
            "Release pipeline does not upload artifacts",
            "Build matrix misses the latest {l} version",
        ],
    },
];

/// Sentences that carry a label's keywords (`{k}`) into the body.
const KEYWORD_SENTENCES: [&str; 8] = [
    "We see {k} around the {n} in {m}.",
    "The {k} shows up right after we {v} the {n}.",
    "Everything points to {k} in the {m} module.",
    "This is about {k}; the {n} code path is involved.",
    "Several users reported {k} when they {v} a {a} {n}.",
    "I think {k} is the main issue here, not the {n}.",
    "It is mostly {k} with a {a} {n}.",
    "Related to {k} in the {m}, see the {n} handling.",
];

const FILLER_SENTENCES: [&str; 8] = [
    "We use {m} with a {a} {n} in production.",
    "The {n} is created by the {m} and passed to the {n}.",
    "This started after we switched the {n} to {l}.",
    "I tried to {v} the {n} first, which did not change anything.",
    "Our setup has a {a} {n} and a {n} behind the {m}.",
    "The same {n} works when I {v} it by hand.",
    "Happy to send a pull request if someone can point me to the right {n}.",
    "Let me know if you need more details about the {n}.",
];

fn issue_record(rng: &mut ChaCha8Rng, number: usize) -> Value {
    let first = weighted(rng, &LABEL_WEIGHTS);
    let mut labels = vec![LABELS[first]];
    if rng.random_bool(0.15) {
        let second = weighted(rng, &LABEL_WEIGHTS);
        if second != first {
            labels.push(LABELS[second]);
        }
    }
    let text = &LABEL_TEXT[first];
    let template = pick(rng, text.titles);
    let title = fill(rng, template, text.keywords);
    let body_len = rng.random_range(1000..2000);
    let body = issue_body(rng, first, body_len);
    // 2021-01-01T00:00:00Z plus up to four years.
    let seconds = 1_609_459_200 + rng.random_range(0..4 * 365 * 86_400);
    let created_at =
        jiff::Timestamp::from_second(seconds).map(|t| t.to_string()).unwrap_or_default();
    json!({
        "number": number,
        "repo": pick(rng, &REPOS),
        "created_at": created_at,
        "state": if rng.random_bool(0.7) { "open" } else { "closed" },
        "author": pick(rng, &AUTHORS),
        "labels": labels,
        "title": title,
        "body": body,
    })
}

/// A GitHub-style body for the label at `label`: description, then sections that fit the
/// label (a stack trace for bugs, code for others), padded to about `len` bytes.
fn issue_body(rng: &mut ChaCha8Rng, label: usize, len: usize) -> String {
    let keywords = LABEL_TEXT[label].keywords;
    let mut body = String::with_capacity(len + 400);
    body.push_str("### Description\n\n");
    let mut description = String::new();
    grow(rng, &mut description, 200, &KEYWORD_SENTENCES, keywords);
    // Some issues mention another label's words, so the classes overlap like real ones.
    if rng.random_bool(0.12) {
        let other = LABEL_TEXT[rng.random_range(0..LABEL_TEXT.len())].keywords;
        description.push(' ');
        let template = pick(rng, &KEYWORD_SENTENCES);
        description.push_str(&fill(rng, template, other));
    }
    body.push_str(&description);
    let buggy =
        label == 0 || (label == 5 && rng.random_bool(0.5)) || (label == 6 && rng.random_bool(0.4));
    if buggy {
        body.push_str("\n\n### Steps to reproduce\n\n");
        for step in 1..=rng.random_range(2..=4) {
            body.push_str(&format!("{step}. {}\n", fill(rng, "{v} the {n} in {m}", &[])));
        }
        body.push_str("\n### Error\n\n```\n");
        body.push_str(&stack_trace(rng));
        body.push_str("\n```");
    } else if rng.random_bool(0.5) {
        body.push_str("\n\n### Example\n\n");
        body.push_str(&code_block(rng));
    }
    body.push_str("\n\n### Additional context\n\n");
    let mut context = String::new();
    let room = len.saturating_sub(body.len()).max(80);
    let mixed: Vec<&str> = FILLER_SENTENCES.iter().chain(&KEYWORD_SENTENCES).copied().collect();
    grow(rng, &mut context, room, &mixed, keywords);
    body.push_str(&context);
    body
}

/// A Rust panic, Python traceback or JavaScript error with 3-6 frames.
fn stack_trace(rng: &mut ChaCha8Rng) -> String {
    let frames = rng.random_range(3..=6);
    let mut lines = Vec::with_capacity(frames + 3);
    match rng.random_range(0..3) {
        0 => {
            let m = pick(rng, &COMPONENTS);
            lines.push(format!(
                "thread 'main' panicked at src/{m}.rs:{}:{}:",
                rng.random_range(10..900),
                rng.random_range(1..80)
            ));
            lines.push("called `Option::unwrap()` on a `None` value".to_string());
            lines.push("stack backtrace:".to_string());
            for i in 0..frames {
                let (c, f) = (pick(rng, &COMPONENTS), pick(rng, &METHODS));
                lines.push(format!("  {i:>2}: app::{c}::{f}"));
                lines.push(format!("             at ./src/{c}.rs:{}", rng.random_range(10..900)));
            }
        }
        1 => {
            lines.push("Traceback (most recent call last):".to_string());
            for _ in 0..frames {
                let (c, f) = (pick(rng, &COMPONENTS), pick(rng, &METHODS));
                lines.push(format!(
                    "  File \"app/{c}.py\", line {}, in {f}",
                    rng.random_range(10..900)
                ));
                lines.push(format!("    {}", code_line(rng).trim_end_matches("?;")));
            }
            lines.push(format!("KeyError: '{}'", pick(rng, &IDENTS)));
        }
        _ => {
            let prop = pick(rng, &IDENTS);
            lines
                .push(format!("TypeError: Cannot read properties of undefined (reading '{prop}')"));
            for _ in 0..frames {
                let (c, f) = (pick(rng, &COMPONENTS), pick(rng, &METHODS));
                lines.push(format!(
                    "    at {f} (src/{c}.js:{}:{})",
                    rng.random_range(10..900),
                    rng.random_range(1..80)
                ));
            }
        }
    }
    lines.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sources::files::{ImportError, read_reader};

    fn write(n: usize, layout: Layout, conversations: bool) -> Vec<u8> {
        let mut out = Vec::new();
        if conversations {
            write_conversations(&mut out, n, 7, layout).unwrap();
        } else {
            write_issues(&mut out, n, 7, layout).unwrap();
        }
        out
    }

    /// Reads generated bytes back; any record error fails the test.
    fn read_back(name: &str, bytes: &[u8]) -> Vec<Item> {
        let opts =
            ReadOptions { dataset: DATASET.into(), format: Format::Auto, label_column: None };
        let mut items = Vec::new();
        read_reader::<_, ImportError, _>(bytes, name, &opts, |record| {
            items.push(record.map_err(|e| e.to_string()).unwrap().item);
            Ok(())
        })
        .unwrap();
        items
    }

    #[test]
    fn same_seed_same_data_and_shorter_runs_are_prefixes() {
        assert_eq!(conversations(30, 1), conversations(30, 1));
        assert_ne!(conversations(30, 1), conversations(30, 2));
        assert_eq!(issues(20, 3)[..], issues(50, 3)[..20]);
        assert_eq!(write(5, Layout::Jsonl, true), write(5, Layout::Jsonl, true));
    }

    #[test]
    fn every_layout_reparses_to_the_same_items() {
        let n = 120;
        let expected = conversations(n, 7);
        assert_eq!(expected.len(), n);
        assert_eq!(read_back("c.jsonl", &write(n, Layout::Jsonl, true)), expected);
        assert_eq!(read_back("c.json", &write(n, Layout::JsonArray, true)), expected);
        let expected = issues(n, 7);
        assert_eq!(expected.len(), n);
        assert_eq!(read_back("i.jsonl", &write(n, Layout::Jsonl, false)), expected);
        assert_eq!(read_back("i.json", &write(n, Layout::JsonArray, false)), expected);
        assert_eq!(read_back("i.csv", &write(n, Layout::Csv, false)), expected);
    }

    #[test]
    fn conversations_are_about_two_kilobytes_with_variety() {
        let n = 500;
        let bytes = write(n, Layout::Jsonl, true);
        let average = bytes.len() / n;
        assert!((1700..=2400).contains(&average), "average record {average} bytes");
        let items = conversations(n, 7);
        let mut with_system = 0;
        let mut with_calls = 0;
        for item in &items {
            assert_eq!(item.kind, Some(crate::model::ItemKind::Conversation));
            assert!(item.key.starts_with("synth:conv-"));
            assert!(!item.title.is_empty());
            let talk = item.turns.iter().filter(|t| t.role != "system").count();
            assert!((2..=6).contains(&talk), "{} has {talk} turns", item.key);
            with_system += usize::from(item.turns[0].role == "system");
            let calls = item.turns.iter().flat_map(|t| &t.tool_calls).count();
            if calls > 0 {
                with_calls += 1;
                assert!(item.meta["tools"].is_array());
                assert!(item.turns.iter().any(|t| t.role == "tool"));
            }
        }
        assert!((100..=200).contains(&with_system), "{with_system} with a system prompt");
        assert!((60..=140).contains(&with_calls), "{with_calls} with tool calls");
    }

    #[test]
    fn issues_have_realistic_bodies_and_skewed_labels() {
        let items = issues(1000, 7);
        let average = items.iter().map(|i| i.body.len()).sum::<usize>() / items.len();
        assert!((1000..=2000).contains(&average), "average body {average} bytes");
        let mut counts = [0usize; LABELS.len()];
        for item in &items {
            assert!(!item.title.is_empty() && item.repo.is_some() && item.created_at.is_some());
            assert!(!item.source_labels.is_empty());
            for label in &item.source_labels {
                let i = LABELS.iter().position(|l| l == label).unwrap();
                counts[i] += 1;
            }
        }
        assert!(counts.iter().all(|&c| c > 0), "{counts:?}");
        assert!(counts[0] > 2 * counts[2] && counts[2] > counts[9], "{counts:?}");
        let bugs_with_trace = items
            .iter()
            .filter(|i| i.source_labels[0] == "bug")
            .all(|i| i.body.contains("### Error\n\n```"));
        assert!(bugs_with_trace);
        assert!(items.iter().any(|i| i.body.contains("```rust")));
    }

    #[test]
    fn conversations_have_no_csv_layout() {
        let err = write_conversations(&mut Vec::new(), 1, 1, Layout::Csv).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    }
}
