//! `sift runs compare A B C --reference R`: the per-dimension agreement matrix of several runs
//! and each run's accuracy against a reference run, over runs imported with known answers.

// Test helpers panic on setup failure, like the tests themselves.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Command;

use serde_json::{Value, json};
use sift::workspace::Overrides;

fn sift(ws: &Path, args: &[&str]) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_sift"))
        .arg("--workspace")
        .arg(ws)
        .args(args)
        .env("HOME", ws)
        .env("XDG_CONFIG_HOME", ws.join(".cfg"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap_or(Value::Null)
}

#[test]
fn several_runs_agreement_matrix_and_accuracy_against_a_reference() {
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path().join("ws");
    let ov = Overrides { annotator: Some("tester".into()), theme: None };
    drop(sift::demo::prepare(&ws, &ov).unwrap());
    // Three runs over the same two demo issues: the reference, a copy, and one that differs
    // on the second issue.
    let answers = [
        ("strong", ["bug", "documentation"]),
        ("same", ["bug", "documentation"]),
        ("weak", ["bug", "question"]),
    ];
    for (name, [first, second]) in answers {
        let lines = format!(
            "{}\n{}\n",
            json!({"item": "demo:101", "labels": [{"name": first, "confidence": 0.9}]}),
            json!({"item": "demo:102", "labels": [{"name": second, "confidence": 0.9}]})
        );
        let file = ws.join(format!("{name}.jsonl"));
        std::fs::write(&file, lines).unwrap();
        sift(&ws, &["runs", "import", file.to_str().unwrap(), "--name", name, "--json"]);
    }
    let m = sift(&ws, &["runs", "compare", "same", "weak", "--reference", "strong", "--json"]);
    assert_eq!(m["common_items"], 2, "{m}");
    assert_eq!(m["runs"].as_array().unwrap().len(), 3, "the reference joins the matrix");
    let grid = &m["agreement"]["type"];
    assert_eq!(grid[0][1], 0.5, "same and weak agree on one issue of two: {m}");
    assert_eq!(grid[0][2], 1.0);
    let acc = m["accuracy"].as_object().unwrap();
    let by_name = |name: &str| {
        let id = m["runs"]
            .as_array()
            .unwrap()
            .iter()
            .zip(m["names"].as_array().unwrap())
            .find(|(_, n)| n.as_str() == Some(name))
            .map(|(id, _)| id.as_str().unwrap().to_string())
            .unwrap();
        acc[&id].clone()
    };
    assert_eq!(by_name("same")["micro_f1"], 1.0);
    assert_eq!(by_name("weak")["micro_f1"], 0.5);
    assert_eq!(by_name("weak")["dimensions"]["type"], 0.5);
}
