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

fn sift_status(ws: &Path, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_sift"))
        .arg("--workspace")
        .arg(ws)
        .args(args)
        .env("HOME", ws)
        .env("XDG_CONFIG_HOME", ws.join(".cfg"))
        .output()
        .unwrap();
    let text = |b: &[u8]| String::from_utf8_lossy(b).to_string();
    (out.status.success(), text(&out.stdout), text(&out.stderr))
}

/// Import a run answering `labels[i]` for demo item 101 + i.
fn import(ws: &Path, name: &str, labels: &[&str]) {
    let lines: String = labels
        .iter()
        .enumerate()
        .map(|(i, l)| {
            let item = format!("demo:{}", 101 + i);
            format!("{}\n", json!({"item": item, "labels": [{"name": l, "confidence": 0.9}]}))
        })
        .collect();
    let file = ws.join(format!("{name}.jsonl"));
    std::fs::write(&file, lines).unwrap();
    sift(ws, &["runs", "import", file.to_str().unwrap(), "--name", name, "--json"]);
}

#[test]
fn experiments_promotion_and_retention() {
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path().join("ws");
    let ov = Overrides { annotator: Some("tester".into()), theme: None };
    drop(sift::demo::prepare(&ws, &ov).unwrap());
    // Gold for four demo issues, adjudicated so it wins over the demo's own answers.
    let gold = ["bug", "documentation", "enhancement", "question"];
    for (i, g) in gold.iter().enumerate() {
        let item = format!("demo:{}", 101 + i);
        let args = ["annotate", &item, "--labels", g, "--mode", "adjudication"];
        let (ok, _, err) = sift_status(&ws, &[&args[..], &["--annotator", "judge"]].concat());
        assert!(ok, "{err}");
    }
    import(&ws, "control", &["bug", "question", "question", "bug"]);
    import(&ws, "treatment", &gold);
    import(&ws, "short", &["bug", "documentation"]);

    // Pairing refuses runs over other items.
    let (ok, _, err) = sift_status(&ws, &["runs", "pair", "control", "short", "--experiment", "x"]);
    assert!(!ok && err.contains("cover different items"), "{err}");
    let (ok, out, err) =
        sift_status(&ws, &["runs", "pair", "control", "treatment", "--experiment", "prompt-v2"]);
    assert!(ok && out.contains("control r-") && out.contains("treatment r-"), "{out} {err}");

    // The comparison of a pair: deltas, histograms, the F1 difference and McNemar.
    let c = sift(&ws, &["runs", "compare", "control", "treatment", "--json"]);
    let p = &c["paired"];
    assert_eq!(p["experiment"], "prompt-v2");
    assert_eq!(p["deltas"].as_array().unwrap().len(), 4);
    assert_eq!((p["f1"]["f1_a"].as_f64(), p["f1"]["f1_b"].as_f64()), (Some(0.25), Some(1.0)));
    let [lo, hi] = [p["f1"]["ci95"][0].as_f64().unwrap(), p["f1"]["ci95"][1].as_f64().unwrap()];
    assert!(lo <= 0.75 && 0.75 <= hi && lo >= 0.0, "{p}");
    // Right only with the treatment: items 102 to 104; exactly: 2·(1/2)³ = 0.25.
    let m = &p["mcnemar"];
    assert_eq!((m["only_a"].as_u64(), m["only_b"].as_u64()), (Some(0), Some(3)));
    assert_eq!(m["p_value"].as_f64(), Some(0.25));
    let bins: u64 = p["histogram_b"].as_array().unwrap().iter().map(|b| b.as_u64().unwrap()).sum();
    assert_eq!(bins, 4);
    let (_, text, _) = sift_status(&ws, &["runs", "compare", "control", "treatment"]);
    assert!(text.contains("experiment `prompt-v2`") && text.contains("McNemar"), "{text}");

    // Promotion: the first baseline, then one that beats it, then one that does not.
    sift(&ws, &["runs", "promote", "control", "--json"]);
    let p = sift(&ws, &["runs", "promote", "treatment", "--json"]);
    assert_eq!(p["previous"].as_str().map(|s| s.starts_with("r-")), Some(true), "{p}");
    let (ok, _, err) = sift_status(&ws, &["runs", "promote", "control"]);
    assert!(!ok && err.contains("does not beat baseline"), "{err}");
    let p = sift(&ws, &["runs", "promote", "control", "--force", "--json"]);
    assert_eq!(p["forced"], true);
    let shown = sift(&ws, &["runs", "show", "control", "--json"]);
    assert_eq!(shown["state"], "baseline");
    assert_eq!(shown["config"]["promotion"]["forced"], true);

    // An archived baseline comes back as experimental when another run took its place.
    let (ok, out, _) = sift_status(&ws, &["runs", "mark", "control", "--state", "archived"]);
    assert!(ok, "{out}");
    assert!(sift(&ws, &["runs", "show", "control", "--json"])["config"]["archived_at"].is_string());
    sift(&ws, &["runs", "promote", "treatment", "--json"]);
    let (ok, out, _) = sift_status(&ws, &["runs", "restore", "control"]);
    assert!(ok && out.contains("restored (experimental)"), "{out}");
    sift(&ws, &["runs", "promote", "control", "--force", "--json"]);
    let states: Vec<Value> = sift(&ws, &["runs", "list", "--json"])
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["state"] == "baseline")
        .cloned()
        .collect();
    assert_eq!(states.len(), 1, "one baseline per taxonomy");

    // Retention: a dry run changes nothing; the baseline is never touched without --force.
    let policy = ["runs", "cleanup", "--keep-experimental", "1", "--json"];
    let dry = sift(&ws, &[&policy[..], &["--dry-run"]].concat());
    let changes = dry["changes"].as_array().unwrap();
    assert!(!changes.is_empty() && changes.iter().all(|c| c["action"] == "archive"), "{dry}");
    let control = sift(&ws, &["runs", "show", "control", "--json"])["id"].clone();
    assert!(!changes.iter().any(|c| c["run"] == control), "the baseline stays: {dry}");
    let listed = |all: bool| {
        let args = if all {
            vec!["runs", "list", "--all", "--json"]
        } else {
            vec!["runs", "list", "--json"]
        };
        sift(&ws, &args).as_array().unwrap().len()
    };
    let before = listed(false);
    sift(&ws, &policy);
    let archived = changes.len();
    assert_eq!(listed(false), before - archived, "archived runs are hidden");
    assert_eq!(listed(true), before, "and kept");
    let first = changes[0]["run"].as_str().unwrap();
    let (ok, out, _) = sift_status(&ws, &["runs", "restore", first]);
    assert!(ok && out.contains("restored (experimental)"), "{out}");
    assert_eq!(listed(false), before - archived + 1);
    // Archived long enough ago (here: at once) they are deleted, journal and all.
    let journals = |ws: &Path| std::fs::read_dir(ws.join("runs")).unwrap().count();
    let files_before = journals(&ws);
    let gone = sift(&ws, &["runs", "cleanup", "--delete-archived-after", "0h", "--json"]);
    let deleted =
        gone["changes"].as_array().unwrap().iter().filter(|c| c["action"] == "delete").count();
    assert_eq!(deleted, archived - 1, "{gone}");
    assert_eq!(listed(true), before - deleted);
    assert_eq!(journals(&ws), files_before - deleted);
}
