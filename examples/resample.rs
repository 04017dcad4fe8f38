//! Realistic benchmark data for the whole-process suite (`scripts/bench-whole.sh`): real text
//! from ../shared/data resampled to any size, seeded. Issues come from the NLBSE'24 CSV
//! (title, body, label, repository); conversations from the ShareGPT files (FastChat, the
//! LLaMA-Factory SFT and tool-call demos). Every record gets its own id, so a resampled text
//! is a new item, as in a real large import.
//!
//! `resample issues N OUT [--shared DIR] [--seed S]`, `resample chats N OUT ...`, and
//! `resample relabel IN OUT [--share 0.2] [--seed S]`: the same records with the labels of a
//! share of them changed to another label of the file (a second annotator who disagrees
//! sometimes, for agreement statistics).

// A command-line tool of the benchmark suite: a bad argument or file ends it with a message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{Value, json};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: resample issues|chats N OUT [--shared DIR] [--seed S] [--max-body N] \
                 | relabel IN OUT [--share X] | huge MB OUT [--shared DIR]";
    if args.first().map(String::as_str) == Some("relabel") {
        return relabel(&args, usage);
    }
    if args.first().map(String::as_str) == Some("huge") {
        return huge(&args, usage);
    }
    let (kind, n, out) = match args.as_slice() {
        [k, n, o, ..] => (k.as_str(), n.parse::<usize>().expect(usage), PathBuf::from(o)),
        _ => panic!("{usage}"),
    };
    let flag = |name: &str| args.iter().position(|a| a == name).and_then(|i| args.get(i + 1));
    let shared = flag("--shared").map(PathBuf::from).unwrap_or_else(|| "../shared/data".into());
    let seed = flag("--seed").map_or(7, |s| s.parse().expect("--seed takes a number"));
    let pool = match kind {
        "issues" => issues(&shared),
        "chats" => chats(&shared),
        _ => panic!("{usage}"),
    };
    assert!(!pool.is_empty(), "no records found under {}", shared.display());
    // `--max-body N`: bodies cut to their first N characters (small records, as a short
    // bug report or a one-question chat would be).
    let max_body: Option<usize> = flag("--max-body").map(|s| s.parse().expect(usage));
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut w = BufWriter::new(std::fs::File::create(&out).expect("cannot create OUT"));
    for id in 1..=n {
        let mut rec = pool[rng.random_range(0..pool.len())].clone();
        rec["id"] = json!(id);
        if let (Some(max), Some(body)) = (max_body, rec["body"].as_str()) {
            let cut: String = body.chars().take(max).collect();
            rec["body"] = json!(cut);
        }
        writeln!(w, "{rec}").expect("write");
    }
    w.flush().expect("write");
}

/// One issue on one line whose body is MB megabytes of real issue bodies, one after another:
/// the single huge record a careless export produces.
fn huge(args: &[String], usage: &str) {
    let (mb, out) = match args {
        [_, m, o, ..] => (m.parse::<usize>().expect(usage), PathBuf::from(o)),
        _ => panic!("{usage}"),
    };
    let flag = |name: &str| args.iter().position(|a| a == name).and_then(|i| args.get(i + 1));
    let shared = flag("--shared").map(PathBuf::from).unwrap_or_else(|| "../shared/data".into());
    let pool = issues(&shared);
    assert!(!pool.is_empty(), "no records found under {}", shared.display());
    let mut body = String::with_capacity(mb * 1_000_000 + 10_000);
    for rec in pool.iter().cycle() {
        if body.len() >= mb * 1_000_000 {
            break;
        }
        body.push_str(rec["body"].as_str().unwrap_or_default());
        body.push_str("\n\n");
    }
    let rec = json!({"id": 1, "title": "all of them", "body": body, "labels": ["bug"]});
    let mut w = BufWriter::new(std::fs::File::create(&out).expect("cannot create OUT"));
    writeln!(w, "{rec}").expect("write");
    writeln!(w, "{}", json!({"id": 2, "title": "a small one", "body": "after the huge one"}))
        .expect("write");
    w.flush().expect("write");
}

/// Copy IN to OUT, each record's labels replaced, with probability `--share`, by another
/// label seen in the file.
fn relabel(args: &[String], usage: &str) {
    let (input, out) = match args {
        [_, i, o, ..] => (PathBuf::from(i), PathBuf::from(o)),
        _ => panic!("{usage}"),
    };
    let flag = |name: &str| args.iter().position(|a| a == name).and_then(|i| args.get(i + 1));
    let share: f64 = flag("--share").map_or(0.2, |s| s.parse().expect("--share takes a number"));
    let seed = flag("--seed").map_or(11, |s| s.parse().expect("--seed takes a number"));
    let text = std::fs::read_to_string(&input).expect("cannot read IN");
    let mut records: Vec<Value> =
        text.lines().map(|l| serde_json::from_str(l).expect("JSONL")).collect();
    let mut pool: Vec<Value> = records.iter().filter_map(|r| r["labels"].get(0).cloned()).collect();
    pool.sort_by_key(|v| v.to_string());
    pool.dedup();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    for r in &mut records {
        if !pool.is_empty() && rng.random_bool(share.clamp(0.0, 1.0)) {
            r["labels"] = json!([pool[rng.random_range(0..pool.len())]]);
        }
    }
    let mut w = BufWriter::new(std::fs::File::create(&out).expect("cannot create OUT"));
    for r in &records {
        writeln!(w, "{r}").expect("write");
    }
    w.flush().expect("write");
}

/// NLBSE'24 issues as issue rows `{title, body, labels, repo}`.
fn issues(shared: &Path) -> Vec<Value> {
    let path = shared.join("nlbse24/issues_train.csv");
    let mut r = csv::Reader::from_path(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    r.records()
        .filter_map(Result::ok)
        .map(|row| {
            let get = |i: usize| row.get(i).unwrap_or_default().to_string();
            json!({"repo": get(0), "created_at": get(1), "labels": [get(2)], "title": get(3), "body": get(4)})
        })
        .collect()
}

/// ShareGPT conversations of the three sample files, as they are.
fn chats(shared: &Path) -> Vec<Value> {
    let dir = shared.join("sharegpt");
    let mut out = Vec::new();
    for name in ["fastchat_dummy_conversation.json", "glaive_toolcall_en_demo.json"] {
        let text = std::fs::read_to_string(dir.join(name)).unwrap_or_default();
        if let Ok(Value::Array(items)) = serde_json::from_str(&text) {
            out.extend(items);
        }
    }
    let jsonl = std::fs::read_to_string(dir.join("v1_sft_demo.jsonl")).unwrap_or_default();
    out.extend(jsonl.lines().filter_map(|l| serde_json::from_str(l).ok()));
    out
}
