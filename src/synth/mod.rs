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

mod chat;
mod issue;
mod words;

use chat::*;
use issue::*;
use words::*;

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
