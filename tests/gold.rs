//! Gold labels end to end through the binary: annotations import/annotate validation, gold and
//! the disagreement queue, agreement worked examples, eval JSON, export splits, weekly sample.

// Test helpers: a failure there is a test failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::Value;
use sift::model::{LabelScore, Run, Suggestion};
use sift::store::Store;

const LABELS_YML: &str = r#"taxonomies:
  issues:
    dimensions:
      - name: type
        select: many
        labels:
          - name: bug
            aliases: [defect]
          - enhancement
          - documentation
          - question
          - ux
  cohen:
    dimensions:
      - name: answer
        select: one
        labels: ["Yes", "No"]
  rating:
    dimensions:
      - name: rating
        select: one
        labels: ["1", "2", "3", "4", "5"]
"#;

fn workspace() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("ws");
    std::fs::create_dir_all(&root).unwrap();
    std::fs::write(root.join("labels.yml"), LABELS_YML).unwrap();
    sift::workspace::Workspace::init(&root, "t").unwrap();
    (dir, root)
}

fn sift(ws: &Path, args: &[&str]) -> Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_sift"))
        .arg("--workspace")
        .arg(ws)
        .args(args)
        .env_remove("SIFT_ANNOTATOR")
        .env("HOME", ws)
        .env("XDG_CONFIG_HOME", ws.join(".config-none"))
        .output()
        .unwrap()
}

fn ok(ws: &Path, args: &[&str]) -> String {
    let out = sift(ws, args);
    assert!(
        out.status.success(),
        "sift {args:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn json(ws: &Path, args: &[&str]) -> Value {
    let text = ok(ws, args);
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{args:?}: {e}: {text}"))
}

fn write_lines(path: &Path, lines: &[String]) {
    std::fs::write(path, lines.join("\n") + "\n").unwrap();
}

fn rec(item: &str, who: &str, labels: &[&str]) -> String {
    serde_json::json!({"item": item, "annotator": who, "labels": labels}).to_string()
}

fn close(v: &Value, want: f64) {
    let got = v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"));
    assert!((got - want).abs() < 5e-4, "got {got}, want {want}");
}

fn shared_agreement() -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/agreement");
    if p.exists() {
        Some(p)
    } else {
        eprintln!("skipping: {} not found", p.display());
        None
    }
}

#[test]
fn worked_examples_match_through_import_and_stats() {
    let Some(dir) = shared_agreement() else { return };
    let cases = [
        ("cohen_wikipedia_grant", "cohen", "answer"),
        ("fleiss_wikipedia_10x14", "rating", "rating"),
        ("krippendorff_2011_4x12", "rating", "rating"),
    ];
    for (name, taxonomy, dim) in cases {
        let (_t, ws) = workspace();
        let file = dir.join(format!("{name}.annotations.jsonl"));
        let f = file.to_str().unwrap();
        ok(&ws, &["annotations", "import", f, "--dataset", name, "--taxonomy", taxonomy]);
        let stats = json(&ws, &["stats", "--dataset", name, "--json"]);
        let expected: Value = serde_json::from_str(
            &std::fs::read_to_string(dir.join(format!("{name}.json"))).unwrap(),
        )
        .unwrap();
        let m = &stats["dimensions"][dim];
        let e = &expected["expected"];
        if let Some(k) = e.get("cohen_kappa") {
            close(&m["cohen_kappa"]["A|B"], k.as_f64().unwrap());
            close(&m["percent_agreement"], e["p_o"].as_f64().unwrap());
            // The binary presence table of "Yes" is the same two-category table.
            close(&stats["labels"]["Yes"]["cohen_kappa"]["A|B"], k.as_f64().unwrap());
        }
        if let Some(k) = e.get("fleiss_kappa") {
            close(&m["fleiss_kappa"], k.as_f64().unwrap());
            close(&m["percent_agreement"], e["P_bar"].as_f64().unwrap());
        }
        if let Some(a) = e.get("alpha_nominal") {
            close(&m["krippendorff_alpha"], a.as_f64().unwrap());
            // Units rated by fewer than all four observers still count for alpha.
            assert_eq!(m["items"], 12);
            let ci = m["alpha_ci95"].as_array().unwrap();
            assert!(ci[0].as_f64().unwrap() <= 0.743 && 0.743 <= ci[1].as_f64().unwrap());
        }
        // The documented shape, and nothing else at the top.
        let keys: BTreeSet<&str> = stats.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(keys, BTreeSet::from(["items", "annotators", "dimensions", "labels"]));
        let no_ci = json(&ws, &["stats", "--dataset", name, "--json", "--no-ci"]);
        assert!(no_ci["dimensions"][dim]["alpha_ci95"].is_null());
        // Seeded: the interval is the same on every run.
        assert_eq!(stats, json(&ws, &["stats", "--dataset", name, "--json"]));
    }
}

#[test]
fn import_validates_everything_first_and_imports_nothing_on_error() {
    let (t, ws) = workspace();
    let file = t.path().join("a.jsonl");
    write_lines(
        &file,
        &[
            rec("x:1", "alice", &["bug"]),
            rec("x:1", "bob", &["defect"]),
            rec("x:2", "alice", &["frobnicate"]),
            "".into(),
            "{not json".into(),
            r#"{"item": "x:3", "labels": ["bug"]}"#.into(),
        ],
    );
    let out = sift(&ws, &["annotations", "import", file.to_str().unwrap(), "--dataset", "x"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("a.jsonl:3:") && err.contains("frobnicate"), "{err}");
    assert!(err.contains("a.jsonl:5:"), "{err}");
    assert!(err.contains("a.jsonl:6:"), "{err}");
    assert!(!err.contains("a.jsonl:1:") && !err.contains("a.jsonl:2:"), "{err}");
    assert!(!ws.join("annotations/x").exists(), "nothing may be half-imported");
    assert_eq!(ok(&ws, &["annotations", "export"]), "");

    // Fixed file: aliases map to names, records land per annotator, items are created bare.
    write_lines(&file, &[rec("x:1", "alice", &["bug"]), rec("x:1", "bob", &["defect"])]);
    let r =
        json(&ws, &["annotations", "import", file.to_str().unwrap(), "--dataset", "x", "--json"]);
    assert_eq!(r["records"], 2);
    assert_eq!(r["new_items"], 1);
    assert!(ws.join("annotations/x/alice.jsonl").exists());
    let bob = std::fs::read_to_string(ws.join("annotations/x/bob.jsonl")).unwrap();
    assert!(bob.contains(r#""labels":["bug"]"#) && bob.contains(r#""mode":"import""#), "{bob}");
    let exported = ok(&ws, &["annotations", "export", "--dataset", "x"]);
    assert_eq!(exported.lines().count(), 2);

    // Re-importing an export adds nothing: the records are already there.
    let again = ws.join("again.jsonl");
    std::fs::write(&again, &exported).unwrap();
    let path = again.to_str().unwrap();
    let r = json(&ws, &["annotations", "import", path, "--dataset", "x", "--json"]);
    assert_eq!((r["records"].as_u64(), r["already_present"].as_u64()), (Some(0), Some(2)), "{r}");
    assert_eq!(ok(&ws, &["annotations", "export", "--dataset", "x"]).lines().count(), 2);
    // The same goes for a file without times, imported twice.
    let r =
        json(&ws, &["annotations", "import", file.to_str().unwrap(), "--dataset", "x", "--json"]);
    assert_eq!((r["records"].as_u64(), r["already_present"].as_u64()), (Some(0), Some(2)), "{r}");
    // Records of x's items are refused under another dataset, whole file.
    let out = sift(&ws, &["annotations", "import", path, "--dataset", "y"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("\"x:1\" is in dataset `x`"), "{err}");
    assert!(!ws.join("annotations/y").exists(), "nothing imported");

    // annotate validates too, and needs an annotator.
    let out = sift(&ws, &["annotate", "x:1", "--labels", "bug"]);
    assert_eq!(out.status.code(), Some(1));
    let out = sift(&ws, &["--annotator", "carol", "annotate", "x:1", "--labels", "bug,nope"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("nope"));
    assert!(!ws.join("annotations/x/carol.jsonl").exists());
    ok(&ws, &["--annotator", "carol", "annotate", "x:1", "--labels", "Defect", "--note", "n"]);
    let carol = std::fs::read_to_string(ws.join("annotations/x/carol.jsonl")).unwrap();
    assert!(carol.contains(r#""labels":["bug"]"#), "{carol}");
    let out = sift(
        &ws,
        &["--annotator", "carol", "annotate", "x:1", "--labels", "bug", "--mode", "sample"],
    );
    assert_eq!(out.status.code(), Some(1), "sample answers need a week");
}

fn gold_of(ws: &Path, dataset: &str) -> (BTreeMap<String, Vec<String>>, Vec<String>) {
    let store = Store::open(&ws.join(".sift/store.db")).unwrap();
    let items = sift::metrics::gold::group(&store.current_answers(Some(dataset)).unwrap());
    let gold =
        sift::metrics::gold::gold_map(&items).into_iter().map(|(k, g)| (k, g.labels)).collect();
    let queue = sift::metrics::gold::disagreements(&items).iter().map(|i| i.item.clone()).collect();
    (gold, queue)
}

#[test]
fn gold_disagreements_and_adjudication() {
    let (t, ws) = workspace();
    let file = t.path().join("a.jsonl");
    write_lines(
        &file,
        &[
            rec("g:1", "alice", &["bug", "ux"]),
            rec("g:1", "bob", &["ux", "bug"]),
            rec("g:2", "alice", &["bug"]),
            rec("g:2", "bob", &["question"]),
            rec("g:3", "alice", &["documentation"]),
            rec("g:4", "alice", &["bug"]),
            rec("g:4", "bob", &["ux"]),
            // bob changes his mind on g:4: his latest record is his answer.
            rec("g:4", "bob", &["bug"]),
        ],
    );
    ok(&ws, &["annotations", "import", file.to_str().unwrap(), "--dataset", "g"]);
    let (gold, queue) = gold_of(&ws, "g");
    assert_eq!(gold["g:1"], ["bug", "ux"]);
    assert_eq!(gold["g:3"], ["documentation"]);
    assert_eq!(gold["g:4"], ["bug"]);
    assert!(!gold.contains_key("g:2"));
    assert_eq!(queue, ["g:2"]);
    ok(
        &ws,
        &[
            "--annotator",
            "carol",
            "annotate",
            "g:2",
            "--labels",
            "question",
            "--mode",
            "adjudication",
        ],
    );
    let (gold, queue) = gold_of(&ws, "g");
    assert_eq!(gold["g:2"], ["question"]);
    assert!(queue.is_empty());
    // The adjudicator's ruling is not an annotator's answer in agreement.
    let stats = json(&ws, &["stats", "--dataset", "g", "--json", "--no-ci"]);
    assert_eq!(stats["annotators"], serde_json::json!(["alice", "bob"]));
    assert_eq!(stats["items"], 4);
    let only =
        json(&ws, &["stats", "--dataset", "g", "--json", "--no-ci", "--annotators", "alice"]);
    assert_eq!(only["annotators"], serde_json::json!(["alice"]));
    assert!(only["dimensions"]["type"]["krippendorff_alpha"].is_null());
    let text = ok(&ws, &["stats", "--dataset", "g"]);
    assert!(text.contains("alice") && text.contains("disagreements"), "{text}");
}

/// (item, [(label, confidence)], created_at)
type SuggestionSpec<'a> = (&'a str, &'a [(&'a str, f64)], &'a str);

fn add_run(ws: &Path, id: &str, suggestions: &[SuggestionSpec]) {
    let mut store = Store::open(&ws.join(".sift/store.db")).unwrap();
    let run = Run {
        id: id.into(),
        provider: "test".into(),
        model: "m".into(),
        started_at: "2026-01-01T00:00:00Z".into(),
        status: "done".into(),
        ..Default::default()
    };
    store.save_run(&run).unwrap();
    let rows: Vec<Suggestion> = suggestions
        .iter()
        .map(|(item, labels, at)| Suggestion {
            item: item.to_string(),
            run: id.into(),
            labels: labels
                .iter()
                .map(|(n, c)| LabelScore { name: n.to_string(), confidence: Some(*c) })
                .collect(),
            created_at: at.to_string(),
            ..Default::default()
        })
        .collect();
    store.save_suggestions(&rows).unwrap();
}

#[test]
fn eval_json_has_the_documented_shape_and_counts_misses() {
    let (t, ws) = workspace();
    let file = t.path().join("a.jsonl");
    write_lines(
        &file,
        &[
            rec("e:1", "alice", &["bug"]),
            rec("e:2", "alice", &["ux"]),
            rec("e:3", "alice", &["question"]),
            rec("e:4", "alice", &["bug", "ux"]),
            rec("e:5", "alice", &["documentation"]),
        ],
    );
    ok(&ws, &["annotations", "import", file.to_str().unwrap(), "--dataset", "e"]);
    let at = "2026-11-18T10:00:00Z";
    add_run(
        &ws,
        "r-1",
        &[
            ("e:1", &[("bug", 0.9)], at),
            ("e:2", &[("ux", 0.8)], at),
            ("e:3", &[("bug", 0.7)], at),
            ("e:4", &[("bug", 0.9), ("ux", 0.6)], at),
            // Names no valid label: a miss, not a skipped item.
            ("e:5", &[("not-a-label", 0.9)], at),
        ],
    );
    let v = json(&ws, &["eval", "--run", "r-1", "--dataset", "e", "--json"]);
    assert_eq!(v["run"], "r-1");
    assert_eq!(v["items"], 5);
    close(&v["exact_match"], 3.0 / 5.0);
    for k in ["precision", "recall", "f1"] {
        assert!(v["micro"][k].is_number() && v["macro"][k].is_number(), "{k}");
    }
    // bug: predicted 3 times, right twice; gold twice.
    close(&v["labels"]["bug"]["precision"], 2.0 / 3.0);
    close(&v["labels"]["bug"]["recall"], 1.0);
    assert_eq!(v["labels"]["bug"]["support"], 2);
    assert_eq!(v["labels"]["documentation"]["recall"], 0.0);
    assert!(v["labels"]["bug"].get("best_threshold").is_some());
    assert!(v.get("ece").is_some() && v.get("confusion").is_some());
    let out = sift(&ws, &["eval", "--run", "nope", "--json"]);
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn export_splits_are_stratified_leak_free_and_deterministic() {
    let (t, ws) = workspace();
    let file = t.path().join("a.jsonl");
    let labels = ["bug", "enhancement", "documentation", "question", "ux"];
    let mut lines = Vec::new();
    for i in 0..200 {
        let l = labels[i % 5];
        lines.push(rec(&format!("s:{i}"), "alice", &[l]));
        lines.push(rec(&format!("s:{i}"), "bob", &[l]));
    }
    // A disagreement: no gold, not exported.
    lines.push(rec("s:x", "alice", &["bug"]));
    lines.push(rec("s:x", "bob", &["ux"]));
    write_lines(&file, &lines);
    ok(&ws, &["annotations", "import", file.to_str().unwrap(), "--dataset", "s"]);
    let read = |dir: &Path| -> BTreeMap<String, Vec<Value>> {
        ["train", "val", "test"]
            .iter()
            .map(|s| {
                let text = std::fs::read_to_string(dir.join(format!("{s}.jsonl"))).unwrap();
                (s.to_string(), text.lines().map(|l| serde_json::from_str(l).unwrap()).collect())
            })
            .collect()
    };
    let a = t.path().join("a");
    let b = t.path().join("b");
    let c = t.path().join("c");
    let summary = json(&ws, &["export", "--out", a.to_str().unwrap(), "--seed", "3", "--json"]);
    assert_eq!(summary["items"], 200);
    ok(&ws, &["export", "--out", b.to_str().unwrap(), "--seed", "3"]);
    ok(&ws, &["export", "--out", c.to_str().unwrap(), "--seed", "4"]);
    let (ra, rb, rc) = (read(&a), read(&b), read(&c));
    assert_eq!(ra, rb, "same seed, same split");
    assert_ne!(ra, rc, "another seed, another split");
    let mut seen = BTreeSet::new();
    for (split, recs) in &ra {
        let want = if split == "train" { 160.0 } else { 20.0 };
        for l in labels {
            let n = recs.iter().filter(|r| r["labels"][0] == l).count() as f64;
            assert!((n - want / 5.0).abs() <= 1.0, "{split} {l}: {n}");
        }
        for r in recs {
            assert_eq!(r["split"], split.as_str());
            assert!(seen.insert(r["id"].as_str().unwrap().to_string()), "leak: {}", r["id"]);
            assert_eq!(r["annotators"], serde_json::json!(["alice", "bob"]));
            for k in ["title", "created_at", "source", "rationale"] {
                assert!(r.get(k).is_some(), "{k}");
            }
        }
    }
    assert_eq!(seen.len(), 200);
    assert!(!seen.contains("s:x"));
    let card = std::fs::read_to_string(a.join("dataset_card.md")).unwrap();
    assert!(card.contains("| bug | 32 | 4 | 4 | 40 |"), "{card}");
    assert!(card.contains("Agreement"));
    let review = std::fs::read_to_string(a.join("review.csv")).unwrap();
    assert!(review.starts_with("item,title,suggested,gold,agree"));
    assert_eq!(review.lines().count(), 201);
    ok(&ws, &["export", "--out", t.path().join("csv").to_str().unwrap(), "--format", "csv"]);
    assert!(t.path().join("csv/train.csv").exists());
    let out =
        sift(&ws, &["export", "--out", t.path().join("d").to_str().unwrap(), "--split", "80/20"]);
    assert_eq!(out.status.code(), Some(1));
}

/// Suggestions in 2026-W40 (Mon 28 Sep) and W41 (Mon 5 Oct); W36..W39 carry "ux" only.
fn sample_workspace() -> (tempfile::TempDir, PathBuf) {
    let (t, ws) = workspace();
    type Row = (String, Vec<(&'static str, f64)>, String);
    let mut rows: Vec<Row> = Vec::new();
    let labels = ["bug", "ux", "question"];
    for i in 0..60 {
        // 40 bug, 15 ux, 5 question.
        let l = if i < 40 {
            labels[0]
        } else if i < 55 {
            labels[1]
        } else {
            labels[2]
        };
        rows.push((
            format!("github:o/r#{i}"),
            vec![(l, 0.9)],
            format!("2026-10-0{}T12:00:00Z", 5 + i % 4),
        ));
        rows.push((
            format!("github:o/r#{}", 100 + i),
            vec![(l, 0.9)],
            format!("2026-09-{}T12:00:00Z", 28 + i % 3),
        ));
    }
    for w in 0..4 {
        for i in 0..10 {
            let day = 1 + w * 7 + i % 5; // September 1..26: weeks 36..39
            rows.push((
                format!("github:o/r#{}", 1000 + w * 10 + i),
                vec![("ux", 0.8)],
                format!("2026-09-{day:02}T08:00:00Z"),
            ));
        }
    }
    let refs: Vec<SuggestionSpec> =
        rows.iter().map(|(k, l, a)| (k.as_str(), l.as_slice(), a.as_str())).collect();
    add_run(&ws, "r-w", &refs);
    (t, ws)
}

#[test]
fn weekly_sample_is_deterministic_stratified_and_honest_about_small_populations() {
    let (_t, ws) = sample_workspace();
    let a = json(&ws, &["sample", "--week", "2026-W41", "--json"]);
    assert_eq!(a["week"], "2026-W41");
    assert_eq!(a["population"], 60);
    let items: Vec<String> = serde_json::from_value(a["items"].clone()).unwrap();
    assert_eq!(items.len(), 20);
    // Listed (and reviewed) in reading order: #9 before #10, not as text.
    let numbers: Vec<usize> = items.iter().map(|k| k[11..].parse().unwrap()).collect();
    assert!(numbers.windows(2).all(|w| w[0] < w[1]), "{items:?}");
    assert_eq!(a, json(&ws, &["sample", "--week", "2026-W41", "--json"]));
    let b = json(&ws, &["sample", "--week", "2026-W40", "--json"]);
    assert_ne!(a["items"], b["items"]);
    // Proportional by suggested label: 40/15/5 of 60 -> 13/5/2 of 20 (largest remainder).
    let n: Vec<usize> = [0..40, 40..55, 55..60]
        .into_iter()
        .map(|r| items.iter().filter(|k| r.contains(&k[11..].parse::<usize>().unwrap())).count())
        .collect();
    assert_eq!(n, [13, 5, 2]);
    let small = sift(&ws, &["sample", "--week", "2026-W41", "--size", "100", "--json"]);
    assert!(small.status.success());
    let v: Value = serde_json::from_slice(&small.stdout).unwrap();
    assert_eq!(v["items"].as_array().unwrap().len(), 60);
    assert!(String::from_utf8_lossy(&small.stderr).contains("whole population"));
    let other_repo = json(&ws, &["sample", "--week", "2026-W41", "--repo", "o/other", "--json"]);
    assert_eq!(other_repo["population"], 0);
}

#[test]
fn sample_report_scores_answers_and_flags_drift() {
    let (t, ws) = sample_workspace();
    let s = json(&ws, &["sample", "--week", "2026-W41", "--json"]);
    let items: Vec<String> = serde_json::from_value(s["items"].clone()).unwrap();
    let file = t.path().join("answers.jsonl");
    let lines: Vec<String> = items
        .iter()
        .take(10)
        .enumerate()
        .map(|(i, k)| {
            let n: usize = k[11..].parse().unwrap();
            let truth = if i < 8 {
                if n < 40 {
                    "bug"
                } else if n < 55 {
                    "ux"
                } else {
                    "question"
                }
            } else {
                "enhancement"
            };
            serde_json::json!({"item": k, "annotator": "alice", "labels": [truth],
                "mode": "sample", "week": "2026-W41"})
            .to_string()
        })
        .collect();
    write_lines(&file, &lines);
    ok(&ws, &["annotations", "import", file.to_str().unwrap(), "--dataset", "gh"]);
    let r = json(&ws, &["sample", "report", "--week", "2026-W41", "--weeks", "2", "--json"]);
    let weeks = r["weeks"].as_array().unwrap();
    assert_eq!(weeks.len(), 2);
    assert_eq!(weeks[0]["week"], "2026-W40");
    let w = &weeks[1];
    assert_eq!(w["week"], "2026-W41");
    assert_eq!(w["reviewed"], 10);
    assert_eq!(w["size"], 20);
    close(&w["accuracy"], 0.8);
    let ci = w["ci95"].as_array().unwrap();
    close(&ci[0], 0.490);
    close(&ci[1], 0.943);
    assert!(
        w["labels"]
            .as_object()
            .unwrap()
            .values()
            .all(|l| l.get("precision").is_some() && l.get("ci95").is_some())
    );
    assert!(w["psi"].is_number() && w["chi2_p"].is_number());
    // W40 is mostly bug against a ux-only baseline: drift. W41 against W37..W40 also shifts.
    let flags: Vec<String> = serde_json::from_value(weeks[0]["flags"].clone()).unwrap();
    assert!(flags.contains(&"drift".to_string()), "{flags:?}");
    assert!(weeks[0]["accuracy"].is_null(), "nothing reviewed in W40");
    let text = ok(&ws, &["sample", "report", "--week", "2026-W41"]);
    assert!(text.contains("2026-W41"));
}

/// Logs arrive through git from anyone: replay checks each record as `annotations import`
/// does, reports the rejects by file and line, and keeps records for items not imported yet
/// pending (counted by status, left out of gold and exports until the items arrive).
#[test]
fn replay_validates_records_and_keeps_unknown_items_pending() {
    let (_t, ws) = workspace();
    let items = ws.join("items.jsonl");
    std::fs::write(&items, "{\"id\":\"1\",\"title\":\"Crash\",\"body\":\"b\"}\n").unwrap();
    ok(&ws, &["import", items.to_str().unwrap(), "--dataset", "d"]);
    let dir = ws.join("annotations/d");
    std::fs::create_dir_all(&dir).unwrap();
    write_lines(
        &dir.join("alice.jsonl"),
        &[
            rec("d:1", "alice", &["defect"]),
            rec("d:1", "bob", &["question"]),
            rec("d:1", "alice", &["not-a-label"]),
            rec("d:2", "alice", &["ux"]),
        ],
    );
    let out = sift(&ws, &["status", "--json"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("annotations/d/alice.jsonl:2: a record by \"bob\" in \"alice\"'s log"),
        "{err}"
    );
    assert!(err.contains("annotations/d/alice.jsonl:3: unknown label `not-a-label`"), "{err}");
    let s: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(s["annotators"], serde_json::json!({"alice": 2}), "{s}");
    assert_eq!(s["pending_annotations"], 1);
    // The alias became the label's name; the pending item is not gold yet.
    let (gold, _) = gold_of(&ws, "d");
    assert_eq!(gold, BTreeMap::from([("d:1".to_string(), vec!["bug".to_string()])]));
    // Once the item is imported, its record counts.
    std::fs::write(&items, "{\"id\":\"2\",\"title\":\"Ugly\",\"body\":\"b\"}\n").unwrap();
    ok(&ws, &["import", items.to_str().unwrap(), "--dataset", "d"]);
    assert_eq!(json(&ws, &["status", "--json"])["pending_annotations"], 0);
    assert_eq!(gold_of(&ws, "d").0.get("d:2"), Some(&vec!["ux".to_string()]));
}

/// A mistyped dataset name is an error that lists the datasets, not a table of zeros.
#[test]
fn an_unknown_dataset_is_an_error_listing_the_datasets() {
    let (_t, ws) = workspace();
    let items = ws.join("items.jsonl");
    std::fs::write(&items, "{\"id\":\"1\",\"title\":\"Crash\",\"body\":\"b\"}\n").unwrap();
    ok(&ws, &["import", items.to_str().unwrap(), "--dataset", "nlbse"]);
    let out_dir = ws.join("out");
    let out = out_dir.to_str().unwrap();
    for args in [
        vec!["stats", "--dataset", "nlbs"],
        vec!["eval", "--run", "r", "--dataset", "nlbs"],
        vec!["sample", "--dataset", "nlbs"],
        vec!["sample", "report", "--dataset", "nlbs"],
        vec!["export", "--out", out, "--dataset", "nlbs"],
        vec!["--annotator", "a", "review", "--dataset", "nlbs"],
    ] {
        let o = sift(&ws, &args);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {err}");
        assert!(err.contains("no dataset `nlbs` (datasets: nlbse)"), "{args:?}: {err}");
    }
    // sift suggest exits 2 on usage errors, this one included.
    let o = sift(&ws, &["suggest", "--dataset", "nlbs"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("no dataset `nlbs` (datasets: nlbse)"));
}
