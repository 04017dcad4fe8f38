//! Vocabulary and the text helpers every generator uses: picks, weighted choice, templates,
//! growing text to a length, code blocks.

use super::*;

pub(super) const NOUNS: [&str; 48] = [
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

pub(super) const VERBS: [&str; 30] = [
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

pub(super) const ADJECTIVES: [&str; 18] = [
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

pub(super) const LANGUAGES: [&str; 10] =
    ["Rust", "Python", "Go", "TypeScript", "Java", "C++", "SQL", "Bash", "Kotlin", "C#"];

pub(super) const COMPONENTS: [&str; 15] = [
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

pub(super) const IDENTS: [&str; 16] = [
    "config", "request", "buffer", "session", "record", "index", "token", "payload", "items",
    "result", "reader", "writer", "entry", "state", "path", "count",
];

pub(super) const TYPES: [&str; 10] = [
    "Config", "Request", "Buffer", "Session", "Record", "Index", "Token", "Payload", "Entry",
    "State",
];

pub(super) const METHODS: [&str; 10] = [
    "parse", "load", "flush", "validate", "encode", "decode", "lock", "commit", "resolve", "finish",
];

pub(super) const REPOS: [&str; 8] = [
    "acme/widget",
    "acme/orbit",
    "nebula-labs/quill",
    "openfield/harvest",
    "tinyorg/lantern",
    "bytecraft/relay",
    "northwind/ledger",
    "solstice/atlas",
];

pub(super) const AUTHORS: [&str; 10] =
    ["octocat", "mlee", "dpatel", "sgarcia", "jchen", "akowalski", "nwu", "rossi-f", "tkim", "bo"];

pub(super) const CITIES: [&str; 8] =
    ["Lisbon", "Osaka", "Nairobi", "Toronto", "Oslo", "Lima", "Hanoi", "Melbourne"];

pub(super) const QUESTIONS: [&str; 10] = [
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

pub(super) const ANSWERS: [&str; 14] = [
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

pub(super) const SYSTEM_PROMPTS: [&str; 5] = [
    "You are a helpful programming assistant. Answer concisely and show code when useful.",
    "You are an expert {l} developer. Explain trade-offs and prefer idiomatic code.",
    "You are a code reviewer. Point out bugs, then suggest a fix.",
    "You are a senior engineer mentoring a junior colleague who works with {l}.",
    "You are a concise assistant. Use short paragraphs and {l} examples.",
];

/// A uniformly random element. The lists are non-empty constants, so the index is in range.
pub(super) fn pick<T: Copy>(rng: &mut ChaCha8Rng, items: &[T]) -> T {
    items[rng.random_range(0..items.len())]
}

/// Index into `weights`, drawn in proportion to them.
pub(super) fn weighted(rng: &mut ChaCha8Rng, weights: &[u32]) -> usize {
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
pub(super) fn fill(rng: &mut ChaCha8Rng, template: &str, keywords: &[&str]) -> String {
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
pub(super) fn grow(
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
pub(super) fn code_block(rng: &mut ChaCha8Rng) -> String {
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
