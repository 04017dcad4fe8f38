//! Training-ready exports of the demo's gold conversations: LLaMA-Factory files that
//! `sift import` reads back unchanged, Hugging Face files that the `datasets` library loads
//! (when Python and `datasets` are installed), and `--where` selections.

// Test helpers panic on setup failure, like the tests themselves.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;
use sift::workspace::Overrides;

fn demo() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path().join("ws");
    let ov = Overrides { annotator: Some("tester".into()), theme: None };
    drop(sift::demo::prepare(&ws, &ov).unwrap());
    (dir, ws)
}

fn sift(ws: &Path, args: &[&str]) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_sift"))
        .arg("--workspace")
        .arg(ws)
        .args(args)
        .env("SIFT_ANNOTATOR", "tester")
        .env("HOME", ws)
        .env("XDG_CONFIG_HOME", ws.join(".cfg"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Arguments as JSON, spacing aside (the export writes them compact).
fn same_json(text: &str) -> String {
    serde_json::from_str::<Value>(text).map(|v| v.to_string()).unwrap_or_else(|_| text.to_string())
}

fn json(o: &Output) -> Value {
    serde_json::from_slice(&o.stdout).unwrap()
}

/// A conversation as compared here: (role, content) of each turn, and its tool calls.
type Conv = (Vec<(String, String)>, Vec<String>);

/// Every item of a dataset, as compared.
fn conversations(ws: &Path, dataset: &str) -> Vec<Conv> {
    let store = sift::store::Store::open(&ws.join(".sift/store.db")).unwrap();
    let rows = store
        .queue_rows(&sift::store::QueueFilter {
            dataset: Some(dataset.into()),
            ..Default::default()
        })
        .unwrap();
    let mut out: Vec<_> = rows
        .iter()
        .map(|r| {
            let item = store.item(&r.key).unwrap().unwrap();
            let turns = item.turns.iter().map(|t| (t.role.clone(), t.content.clone())).collect();
            let calls = item
                .turns
                .iter()
                .flat_map(|t| {
                    t.tool_calls.iter().map(|c| format!("{}({})", c.name, same_json(&c.arguments)))
                })
                .collect();
            (turns, calls)
        })
        .collect();
    out.sort();
    out
}

#[test]
fn llama_factory_files_round_trip_through_import() {
    let (_dir, ws) = demo();
    let out = ws.join("lf");
    let o = sift(
        &ws,
        &[
            "export",
            "--dataset",
            "demo-chat",
            "--format",
            "llama-factory",
            "--out",
            out.to_str().unwrap(),
            "--split",
            "100/0/0",
            "--json",
        ],
    );
    let summary = json(&o);
    let n = summary["items"].as_u64().unwrap();
    assert!(n > 0);
    let info: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("dataset_info.json")).unwrap())
            .unwrap();
    let entry = &info["demo-chat_train"];
    assert_eq!(entry["file_name"], "train.json");
    assert_eq!(entry["formatting"], "sharegpt");
    assert_eq!(entry["columns"]["messages"], "conversations");
    assert_eq!(entry["tags"]["function_tag"], "function_call");
    let records: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("train.json")).unwrap()).unwrap();
    assert_eq!(records.as_array().unwrap().len() as u64, n);
    assert!(records[0]["signals"].is_object());

    // Back in through `sift import`, labels and all: the same conversations, tool calls kept.
    let file = out.join("train.json");
    let o = sift(
        &ws,
        &["import", file.to_str().unwrap(), "--dataset", "rt", "--taxonomy", "sft", "--json"],
    );
    let imported = json(&o);
    assert_eq!(imported["imported"].as_u64(), Some(n), "{imported}");
    assert_eq!(imported["label_records"].as_u64(), Some(n), "{imported}");
    assert!(imported["errors"].as_array().unwrap().is_empty(), "{imported}");
    let exported_from: Vec<_> = {
        // Only the gold items were exported: compare those.
        let keys: Vec<String> = records
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_str().unwrap().to_string())
            .collect();
        let store = sift::store::Store::open(&ws.join(".sift/store.db")).unwrap();
        let mut v: Vec<_> = keys
            .iter()
            .map(|k| {
                let item = store.item(k).unwrap().unwrap();
                let turns: Vec<(String, String)> =
                    item.turns.iter().map(|t| (t.role.clone(), t.content.clone())).collect();
                let calls: Vec<String> = item
                    .turns
                    .iter()
                    .flat_map(|t| {
                        t.tool_calls
                            .iter()
                            .map(|c| format!("{}({})", c.name, same_json(&c.arguments)))
                    })
                    .collect();
                (turns, calls)
            })
            .collect();
        v.sort();
        v
    };
    let back = conversations(&ws, "rt");
    // An assistant turn that called a tool keeps its call, not its text, in this format.
    let strip = |v: Vec<Conv>| -> Vec<(Vec<String>, Vec<String>)> {
        v.into_iter().map(|(t, c)| (t.into_iter().map(|(r, _)| r).collect(), c)).collect()
    };
    assert_eq!(strip(back.clone()), strip(exported_from.clone()));
    assert!(back.iter().any(|(_, calls)| !calls.is_empty()), "the demo has tool calls");
}

#[test]
fn hugging_face_files_load_with_datasets() {
    let (_dir, ws) = demo();
    let out = ws.join("hf");
    let o = sift(
        &ws,
        &[
            "export",
            "--dataset",
            "demo-chat",
            "--format",
            "hf",
            "--out",
            out.to_str().unwrap(),
            "--json",
        ],
    );
    let n = json(&o)["items"].as_u64().unwrap();
    let readme = std::fs::read_to_string(out.join("README.md")).unwrap();
    assert!(
        readme.starts_with("---\nconfigs:\n- config_name: default\n  data_files:\n"),
        "{readme}"
    );
    assert!(readme.contains("path: train.jsonl"));
    let script = format!(
        "import datasets, sys\nd = datasets.load_dataset({:?})\nprint(sum(len(s) for s in d.values()))\nprint(d['train'][0]['signals']['turns'])",
        out.display().to_string()
    );
    let py = Command::new("python3").args(["-c", "import datasets"]).output();
    if !py.is_ok_and(|o| o.status.success()) {
        eprintln!(
            "skipped: loading with the `datasets` library needs python3 with datasets installed"
        );
        return;
    }
    let o = Command::new("python3")
        .args(["-c", &script])
        .env("HF_DATASETS_OFFLINE", "1")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = String::from_utf8_lossy(&o.stdout);
    let mut lines = text.lines();
    assert_eq!(lines.next().and_then(|l| l.parse::<u64>().ok()), Some(n), "{text}");
    assert!(lines.next().and_then(|l| l.parse::<u64>().ok()).is_some_and(|t| t >= 2), "{text}");
}

#[test]
fn where_selects_by_labels_and_signals_and_names_unknown_terms() {
    let (_dir, ws) = demo();
    let all = ws.join("all");
    let o =
        sift(&ws, &["export", "--dataset", "demo-chat", "--out", all.to_str().unwrap(), "--json"]);
    let total = json(&o)["items"].as_u64().unwrap();
    let tools = ws.join("tools");
    let o = sift(
        &ws,
        &[
            "export",
            "--dataset",
            "demo-chat",
            "--out",
            tools.to_str().unwrap(),
            "--where",
            "tools:yes",
            "--json",
        ],
    );
    let with_tools = json(&o)["items"].as_u64().unwrap();
    assert!(with_tools > 0 && with_tools < total, "{with_tools} of {total}");
    // A selection keeps each item in the split it has in the full export.
    let mut full_split = std::collections::HashMap::new();
    for split in ["train", "val", "test"] {
        let text = std::fs::read_to_string(all.join(format!("{split}.jsonl"))).unwrap();
        for line in text.lines() {
            let v: Value = serde_json::from_str(line).unwrap();
            full_split.insert(v["id"].as_str().unwrap().to_string(), split);
        }
    }
    for split in ["train", "val", "test"] {
        let text = std::fs::read_to_string(tools.join(format!("{split}.jsonl"))).unwrap();
        for line in text.lines() {
            let v: Value = serde_json::from_str(line).unwrap();
            assert_eq!(full_split[v["id"].as_str().unwrap()], split, "{v}");
            assert!(
                v["signals"]["tool_calls"].as_u64().unwrap() > 0
                    || !v["signals"]["tool_roles"].as_array().unwrap().is_empty(),
                "{v}"
            );
        }
    }
    let bad = Command::new(env!("CARGO_BIN_EXE_sift"))
        .arg("--workspace")
        .arg(&ws)
        .args([
            "export",
            "--dataset",
            "demo-chat",
            "--out",
            ws.join("x").to_str().unwrap(),
            "--where",
            "difficulty:nonsense",
        ])
        .env("HOME", &ws)
        .env("XDG_CONFIG_HOME", ws.join(".cfg"))
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("difficulty:nonsense"));
}
