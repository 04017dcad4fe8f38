//! Synthetic GitHub-like issue rows: per-label title and body texts, stack traces.

use super::*;

/// Words and titles that give each label its signal.
pub(super) struct LabelText {
    pub(super) keywords: &'static [&'static str],
    pub(super) titles: &'static [&'static str],
}

/// In the order of `LABELS`.
pub(super) const LABEL_TEXT: [LabelText; 10] = [
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
pub(super) const KEYWORD_SENTENCES: [&str; 8] = [
    "We see {k} around the {n} in {m}.",
    "The {k} shows up right after we {v} the {n}.",
    "Everything points to {k} in the {m} module.",
    "This is about {k}; the {n} code path is involved.",
    "Several users reported {k} when they {v} a {a} {n}.",
    "I think {k} is the main issue here, not the {n}.",
    "It is mostly {k} with a {a} {n}.",
    "Related to {k} in the {m}, see the {n} handling.",
];

pub(super) const FILLER_SENTENCES: [&str; 8] = [
    "We use {m} with a {a} {n} in production.",
    "The {n} is created by the {m} and passed to the {n}.",
    "This started after we switched the {n} to {l}.",
    "I tried to {v} the {n} first, which did not change anything.",
    "Our setup has a {a} {n} and a {n} behind the {m}.",
    "The same {n} works when I {v} it by hand.",
    "Happy to send a pull request if someone can point me to the right {n}.",
    "Let me know if you need more details about the {n}.",
];

pub(super) fn issue_record(rng: &mut ChaCha8Rng, number: usize) -> Value {
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
pub(super) fn issue_body(rng: &mut ChaCha8Rng, label: usize, len: usize) -> String {
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
pub(super) fn stack_trace(rng: &mut ChaCha8Rng) -> String {
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
