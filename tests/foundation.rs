//! End-to-end tests of the foundation through the real binary: init, import of every chat and
//! issue variant, bad-input reports, idempotent re-import, status, demo.
// Test helpers panic on setup failure by design.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn sift(ws: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sift"))
        .arg("--workspace")
        .arg(ws)
        .args(args)
        .env("HOME", ws) // keep user config out of the test
        .env("XDG_CONFIG_HOME", ws.join(".config"))
        .env_remove("SIFT_ANNOTATOR")
        .output()
        .expect("run sift")
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "sift failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn workspace() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    sift::workspace::Workspace::init(dir.path(), "t").unwrap();
    dir
}

fn shared(rel: &str) -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data").join(rel);
    if p.exists() {
        Some(p)
    } else {
        eprintln!("skipped: {} not present (../shared is absent)", p.display());
        None
    }
}

fn import_json(ws: &Path, file: &Path, dataset: &str, extra: &[&str]) -> serde_json::Value {
    let mut args = vec!["import", file.to_str().unwrap(), "--dataset", dataset, "--json"];
    args.extend_from_slice(extra);
    serde_json::from_str(&ok(&sift(ws, &args))).unwrap()
}

fn status(ws: &Path) -> serde_json::Value {
    serde_json::from_str(&ok(&sift(ws, &["status", "--json"]))).unwrap()
}

#[test]
fn imports_every_shared_chat_variant_without_errors() {
    let cases = [
        ("sharegpt/fastchat_dummy_conversation.json", 500),
        ("sharegpt/glaive_toolcall_en_demo.json", 300),
        ("sharegpt/v1_sft_demo.jsonl", 500),
    ];
    let dir = workspace();
    for (i, (rel, n)) in cases.iter().enumerate() {
        let Some(file) = shared(rel) else { return };
        let ds = format!("chats{i}");
        let s = import_json(dir.path(), &file, &ds, &["--taxonomy", "sft"]);
        assert_eq!(s["imported"], *n, "{rel}: {s}");
        assert_eq!(s["skipped"], 0, "{rel}: {s}");
        assert!(s["errors"].as_array().unwrap().is_empty(), "{rel}: {s}");
    }
    let st = status(dir.path());
    assert_eq!(st["items"], 1300);
    assert_eq!(st["datasets"]["chats1"]["kind"], "conversation");
    // --taxonomy is remembered in sift.toml for the dataset.
    let toml = std::fs::read_to_string(dir.path().join("sift.toml")).unwrap();
    assert!(toml.contains("[datasets.\"chats1\"]"), "{toml}");
    // Tool calls survive the trip into the store.
    let store = sift::store::Store::open(&dir.path().join(".sift/store.db")).unwrap();
    let rows = store.queue_rows(&sift::store::QueueFilter {
        dataset: Some("chats1".into()),
        ..Default::default()
    });
    let with_calls = rows
        .unwrap()
        .iter()
        .filter_map(|r| store.item(&r.key).unwrap())
        .filter(|i| i.turns.iter().any(|t| !t.tool_calls.is_empty()))
        .count();
    assert!(with_calls > 100, "{with_calls} glaive conversations kept tool calls");
    // Structural signals were kept at import, one brief per item, and agree with the turns.
    let rows = store
        .queue_rows(&sift::store::QueueFilter {
            dataset: Some("chats1".into()),
            ..Default::default()
        })
        .unwrap();
    let briefs: Vec<sift::text::signals::Brief> =
        rows.iter().map(|r| sift::text::signals::Brief::parse(&r.signals)).collect();
    let with_tools = briefs.iter().filter(|b| b.tools).count();
    assert_eq!(with_tools, with_calls, "tools: in the queue brief, as in the turns");
    assert!(briefs.iter().all(|b| b.turns >= 2));
    assert!(briefs.iter().any(|b| b.turns > 4));
    let item = store.item(&rows[0].key).unwrap().unwrap();
    let sig = sift::text::signals::Signals::of(&item);
    assert_eq!(sig.brief(), rows[0].signals);
}

#[test]
fn imports_labeled_issue_csv_as_annotations_and_reimport_is_idempotent() {
    let Some(file) = shared("nlbse24/issues_train.csv") else { return };
    let dir = workspace();
    let run = || {
        let out = sift(
            dir.path(),
            &[
                "--annotator",
                "nlbse",
                "import",
                file.to_str().unwrap(),
                "--dataset",
                "nlbse",
                "--label-column",
                "label",
                "--json",
            ],
        );
        serde_json::from_str::<serde_json::Value>(&ok(&out)).unwrap()
    };
    let first = run();
    assert_eq!(first["imported"], 1500, "{first}");
    // bug/feature/question: feature is an alias of enhancement, so every row maps.
    assert_eq!(first["label_records"], 1500, "{first}");
    let second = run();
    assert_eq!(second["unchanged"], 1500, "{second}");
    assert_eq!(second["imported"], 0);
    let log = std::fs::read_to_string(dir.path().join("annotations/nlbse/nlbse.jsonl")).unwrap();
    assert_eq!(log.lines().count(), 1500, "re-import appended no duplicate records");
    assert!(log.lines().next().unwrap().contains("\"mode\":\"import\""));
    let st = status(dir.path());
    assert_eq!(st["annotations"], 1500);
}

/// Labels are written to the log a chunk at a time (5,000 records): every label of a file of
/// several chunks is recorded once, a duplicate key is named with both locations, and
/// refused labels beyond the 200 listed are counted.
#[test]
fn labels_of_a_file_of_several_chunks_are_all_recorded() {
    let dir = workspace();
    let f = dir.path().join("many.jsonl");
    // 12,000 issues, the label of issue i given by `label(i)`.
    let issues = |label: &dyn Fn(usize) -> &'static str| {
        (0..12_000)
            .map(|i| {
                let label = label(i);
                format!(
                    "{{\"id\": \"k{i}\", \"title\": \"issue {i}\", \"body\": \"text {i}\", \"labels\": \"{label}\"}}\n"
                )
            })
            .collect::<String>()
    };
    let name = f.to_str().unwrap();
    let import = || -> serde_json::Value {
        let args = ["--annotator", "ann", "import", name, "--dataset", "many"];
        let out = sift(dir.path(), &[&args[..], &["--label-column", "labels", "--json"]].concat());
        serde_json::from_str(&ok(&out)).unwrap()
    };
    // Every 40th record carries a label the taxonomy lacks: 300 refusals.
    let first = |i: usize| if i % 40 == 7 { "nonsense" } else { ["bug", "question"][i % 2] };
    let mut text = issues(&first);
    text.push_str("{\"id\": \"k3\", \"title\": \"again\", \"body\": \"x\", \"labels\": \"bug\"}\n");
    std::fs::write(&f, text).unwrap();
    let summary = import();
    assert_eq!(summary["imported"], 12_000, "{summary}");
    assert_eq!(summary["label_records"], 12_000 - 300, "{summary}");
    let errors: Vec<&str> =
        summary["errors"].as_array().unwrap().iter().map(|e| e.as_str().unwrap()).collect();
    assert!(
        errors[0].contains(&format!("{name}:12001: duplicate key \"many:k3\" (first at {name}:4)")),
        "{errors:?}"
    );
    assert_eq!(errors.len(), 201, "200 listed, then a count");
    // 300 refused labels and one duplicate: 301 errors, 200 of them listed.
    assert_eq!(errors[200], "... and 101 more bad records", "{errors:?}");
    let log = std::fs::read_to_string(dir.path().join("annotations/many/ann.jsonl")).unwrap();
    assert_eq!(log.lines().count(), 12_000 - 300);
    assert_eq!(status(dir.path())["annotations"], 12_000 - 300);
    // Imported again with every third label changed: only those are recorded, each chunk
    // compared with the answers already given.
    let flipped = |i: usize| i.is_multiple_of(3) && first(i) != "nonsense";
    let changed = (0..12_000).filter(|i| flipped(*i)).count();
    let again = |i: usize| if flipped(i) { ["question", "bug"][i % 2] } else { first(i) };
    std::fs::write(&f, issues(&again)).unwrap();
    let summary = import();
    assert_eq!(summary["label_records"], changed, "{summary}");
    assert_eq!(status(dir.path())["annotations"], 12_000 - 300 + changed);
}

#[test]
fn malformed_records_are_reported_and_the_rest_imports() {
    let dir = workspace();
    let f = dir.path().join("mixed.jsonl");
    std::fs::write(
        &f,
        concat!(
            "{\"id\": \"a\", \"conversations\": [{\"from\": \"human\", \"value\": \"hi\"}, {\"from\": \"gpt\", \"value\": \"hello\"}]}\n",
            "{\"id\": \"b\", \"conversations\": [\n",
            "{\"id\": \"c\", \"conversations\": []}\n",
            "{\"id\": \"d\", \"title\": \"Crash on start\", \"body\": \"boom\", \"labels\": \"bug, nonsense\"}\n",
            "{\"id\": \"e\", \"messages\": [{\"role\": \"user\", \"content\": \"x\"}]}\n",
        ),
    )
    .unwrap();
    let out = sift(dir.path(), &["import", f.to_str().unwrap(), "--dataset", "mixed", "--json"]);
    let s: serde_json::Value = serde_json::from_str(&ok(&out)).unwrap();
    assert_eq!(s["imported"], 3, "{s}");
    assert_eq!(s["skipped"], 2, "{s}");
    let errors: Vec<String> =
        s["errors"].as_array().unwrap().iter().map(|e| e.as_str().unwrap().to_string()).collect();
    assert!(errors.iter().any(|e| e.contains("mixed.jsonl:2")), "{errors:?}");
    assert!(
        errors.iter().any(|e| e.contains("mixed.jsonl:3") && e.contains("empty")),
        "{errors:?}"
    );
    assert!(
        errors.iter().any(|e| e.contains("mixed.jsonl:4") && e.contains("nonsense")),
        "{errors:?}"
    );
    // Re-importing a changed record updates it.
    std::fs::write(&f, "{\"id\": \"d\", \"title\": \"Crash on start\", \"body\": \"boom!\"}\n")
        .unwrap();
    let s = import_json(dir.path(), &f, "mixed", &[]);
    assert_eq!(s["updated"], 1, "{s}");
}

#[test]
fn duplicate_keys_are_refused_and_dotted_dataset_names_keep_the_workspace_usable() {
    let dir = workspace();
    let f = dir.path().join("dup.jsonl");
    std::fs::write(
        &f,
        concat!(
            "{\"id\": \"1\", \"title\": \"Crash on start\", \"body\": \"boom\", \"labels\": \"bug\"}\n",
            "{\"id\": \"1\", \"title\": \"Another issue\", \"body\": \"other\"}\n",
            "{\"id\": \"2\", \"title\": \"Docs typo\", \"body\": \"teh\"}\n",
        ),
    )
    .unwrap();
    // A configured annotator (the user's own config) must not be credited with file labels.
    let config = dir.path().join(".config/sift");
    std::fs::create_dir_all(&config).unwrap();
    std::fs::write(config.join("config.toml"), "annotator = \"alice\"\n").unwrap();
    let file = f.to_str().unwrap();
    let args = ["import", file, "--dataset", "issues.v2", "--taxonomy", "issues", "--json"];
    let s: serde_json::Value = serde_json::from_str(&ok(&sift(dir.path(), &args))).unwrap();
    assert_eq!((s["imported"].as_u64(), s["skipped"].as_u64()), (Some(2), Some(1)), "{s}");
    let errors = s["errors"].to_string();
    assert!(errors.contains("dup.jsonl:2") && errors.contains("duplicate key"), "{errors}");
    assert!(errors.contains("first at") && errors.contains("dup.jsonl:1"), "{errors}");
    // The first record keeps its content (the second did not replace it).
    let store = sift::store::Store::open(&dir.path().join(".sift/store.db")).unwrap();
    assert_eq!(store.item("issues.v2:1").unwrap().unwrap().title, "Crash on start");
    drop(store);
    // The dotted name was written to sift.toml so that the workspace still opens.
    let st = status(dir.path());
    assert_eq!(st["datasets"]["issues.v2"]["items"], 2, "{st}");
    let toml = std::fs::read_to_string(dir.path().join("sift.toml")).unwrap();
    assert!(toml.contains("[datasets.\"issues.v2\"]"), "{toml}");
    // File labels belong to "import", not to the annotator configured for this workspace.
    assert_eq!(st["annotators"], serde_json::json!({"import": 1}), "{st}");
}

#[test]
fn nothing_importable_exits_non_zero_with_the_reason() {
    let dir = workspace();
    let f = dir.path().join("bad.json");
    std::fs::write(&f, "[{\"foo\": 1}, {\"bar\": 2}]").unwrap();
    let out = sift(dir.path(), &["import", f.to_str().unwrap(), "--dataset", "bad"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.json: record 1"), "{err}");
    let missing = sift(dir.path(), &["import", "/nonexistent/x.jsonl", "--dataset", "bad"]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("/nonexistent/x.jsonl"));
    // A file cut off partway: its first records are kept, but the import is not a success.
    let cut = dir.path().join("cut.json");
    std::fs::write(
        &cut,
        r#"[{"id":"a","title":"x","body":"y"}, {"id":"b","title":"z","body":"y"}, {"id""#,
    )
    .unwrap();
    let out = sift(dir.path(), &["import", cut.to_str().unwrap(), "--dataset", "cut", "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let s: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((s["imported"].as_u64(), s["complete"].as_bool()), (Some(2), Some(false)), "{s}");
    let usage = sift(dir.path(), &["import", "x", "--dataset", "d", "--format", "yaml"]);
    assert_eq!(usage.status.code(), Some(2), "bad usage exits 2");
}

#[test]
fn demo_builds_a_reviewable_workspace_offline() {
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path().join("demo");
    let out = Command::new(env!("CARGO_BIN_EXE_sift"))
        .args(["demo", "--no-tui", "--path"])
        .arg(&ws)
        .env("HOME", dir.path())
        .env_remove("ANTHROPIC_API_KEY")
        .env_remove("OPENAI_API_KEY")
        .env_remove("GITHUB_TOKEN")
        .output()
        .unwrap();
    ok(&out);
    let st = status(&ws);
    assert_eq!(st["datasets"]["demo"]["items"], 60);
    assert_eq!(st["datasets"]["demo-chat"]["items"], 20);
    assert_eq!(st["datasets"]["demo-chat"]["kind"], "conversation");
    assert!(st["runs"].as_i64().unwrap() >= 2);
    assert!(st["annotations"].as_i64().unwrap() >= 90);
    // The hostile demo issue is stored as written; display code strips it.
    let store = sift::store::Store::open(&ws.join(".sift/store.db")).unwrap();
    let hostile = store.item("demo:160").unwrap().unwrap();
    assert!(hostile.title.contains('\u{1b}'));
    assert!(!sift::text::one_line(&hostile.title).contains('\u{1b}'));
}

#[test]
fn status_fails_clearly_outside_a_workspace() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_sift"))
        .current_dir(dir.path())
        .args(["status"])
        .env("HOME", dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("sift init"));
}

#[test]
fn newer_store_is_refused_and_left_untouched() {
    let dir = workspace();
    let db = dir.path().join(".sift/store.db");
    {
        let c = rusqlite::Connection::open(&db).unwrap();
        c.execute_batch("PRAGMA user_version = 42;").unwrap();
    }
    let out = sift(dir.path(), &["status"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("newer") && err.contains("42"), "{err}");
}

/// Runs sift with its stdout already closed by the reader, as `sift ... | head -0` would.
fn sift_into_closed_pipe(ws: &Path, args: &[&str]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_sift"))
        .arg("--workspace")
        .arg(ws)
        .args(args)
        .env("HOME", ws)
        .env("XDG_CONFIG_HOME", ws.join(".config"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run sift");
    drop(child.stdout.take());
    child.wait_with_output().expect("wait for sift")
}

#[test]
fn a_closed_stdout_ends_output_quietly() {
    let dir = workspace();
    let file = dir.path().join("issues.jsonl");
    let row = |i: usize| {
        let title = format!("Crash number {i} when saving");
        serde_json::json!({"id": i.to_string(), "title": title, "body": "It crashes.", "label": "bug"})
    };
    let rows: Vec<String> = (0..2000).map(|i| row(i).to_string()).collect();
    std::fs::write(&file, rows.join("\n")).unwrap();
    let extra = ["--label-column", "label"];
    let args = ["--annotator", "t", "import", file.to_str().unwrap(), "--dataset", "d", "--json"];
    ok(&sift(dir.path(), &[&args[..], &extra[..]].concat()));
    // The export's 2,000 records are far more than a pipe buffer holds, so its writes must
    // fail; status writes little and fails because the read end is closed before sift starts.
    for args in [&["annotations", "export"][..], &["status", "--json"][..]] {
        let out = sift_into_closed_pipe(dir.path(), args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{args:?}: {:?} {stderr}", out.status);
        assert!(!stderr.contains("panicked") && !stderr.contains("error"), "{args:?}: {stderr}");
    }
}

#[test]
fn a_file_of_another_kind_is_refused_and_changes_nothing() {
    let dir = workspace();
    let ws = dir.path();
    let chats = ws.join("chats.jsonl");
    std::fs::write(
        &chats,
        "{\"id\":\"1\",\"conversations\":[{\"from\":\"human\",\"value\":\"hi\"},{\"from\":\"gpt\",\"value\":\"hello\"}]}\n",
    )
    .unwrap();
    import_json(ws, &chats, "glaive", &["--taxonomy", "sft"]);
    let issues = ws.join("issues.csv");
    std::fs::write(&issues, "id,title,body\n11,Crash,It crashes\n12,Slow,It is slow\n").unwrap();
    let out = sift(ws, &["import", issues.to_str().unwrap(), "--dataset", "glaive"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("dataset `glaive` holds conversations and this record is an issue")
            && err.contains("issues.csv:2")
            && err.contains("another --dataset"),
        "{err}"
    );
    let s = status(ws);
    assert_eq!(s["datasets"]["glaive"]["items"], 1);
    assert_eq!(s["datasets"]["glaive"]["kind"], "conversation", "not overwritten: {s}");
    // Asked for explicitly, both kinds live in one dataset.
    import_json(ws, &issues, "glaive", &["--mixed-kinds"]);
    assert_eq!(status(ws)["datasets"]["glaive"]["kind"], "mixed");
}

/// A killed `import --taxonomy` leaves the dataset under its taxonomy: it is recorded before
/// the first item commits.
#[test]
fn the_taxonomy_is_recorded_before_the_first_item() {
    let dir = workspace();
    let ws = dir.path();
    let file = ws.join("big.jsonl");
    let mut f = std::io::BufWriter::new(std::fs::File::create(&file).unwrap());
    sift::synth::write_conversations(&mut f, 30_000, 3, sift::synth::Layout::Jsonl).unwrap();
    drop(f);
    let mut child = Command::new(env!("CARGO_BIN_EXE_sift"))
        .arg("--workspace")
        .arg(ws)
        .args(["import", file.to_str().unwrap(), "--dataset", "chats", "--taxonomy", "sft"])
        .env("HOME", ws)
        .env("XDG_CONFIG_HOME", ws.join(".config"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let store = ws.join(".sift/store.db");
    // Kill it as soon as items are in the store (or let it finish, on a very fast machine).
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        let n = sift::store::Store::open(&store).ok().and_then(|s| s.item_count(None).ok());
        if n.unwrap_or(0) > 0 {
            child.kill().unwrap();
            child.wait().unwrap();
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let toml = std::fs::read_to_string(ws.join("sift.toml")).unwrap();
    assert!(toml.contains("[datasets.\"chats\"]\ntaxonomy = \"sft\""), "{toml}");
    let first = sift::store::Store::open(&store).unwrap().queue_rows(&Default::default()).unwrap();
    let key = &first[0].key;
    let out = sift(ws, &["--annotator", "a", "annotate", key, "--labels", "bug"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "an issue label on an SFT item is refused");
    assert!(err.contains("unknown label `bug` (taxonomy `sft`"), "{err}");
}

/// The store is a cache: deleted, it comes back from the workspace's files (sources,
/// annotations, runs) on the next command; damaged, it is moved aside first; `sift rebuild`
/// names what it could not fetch again.
#[test]
fn a_lost_or_damaged_store_is_rebuilt_from_the_workspace() {
    let dir = workspace();
    let ws = dir.path();
    let file = ws.join("issues.jsonl");
    std::fs::write(
        &file,
        "{\"id\":\"1\",\"title\":\"Crash on save\",\"body\":\"it crashes\",\"labels\":[\"bug\"]}\n\
         {\"id\":\"2\",\"title\":\"Add dark mode\",\"body\":\"please\",\"labels\":[\"enhancement\"]}\n",
    )
    .unwrap();
    import_json(ws, &file, "d", &[]);
    ok(&sift(ws, &["suggest", "--provider", "keywords", "--dataset", "d", "--name", "kw"]));
    let before = status(ws);
    let store = ws.join(".sift/store.db");
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", store.display()));
    }
    let out = sift(ws, &["status", "--json"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(
            "rebuilt: 2 items from 1 sources, 2 annotation records, 1 runs (2 suggestions)"
        ),
        "{err}"
    );
    let after: serde_json::Value = serde_json::from_str(&ok(&out)).unwrap();
    for field in ["items", "annotations", "runs", "suggestions", "datasets", "annotators"] {
        assert_eq!(after[field], before[field], "{field}");
    }
    let s = sift::store::Store::open(&store).unwrap();
    let item = s.item("d:1").unwrap().unwrap();
    assert_eq!(item.title, "Crash on save", "the text is back, not an empty shell");
    assert!(s.item_source("d:1").unwrap().unwrap().starts_with("issues.jsonl#"));
    let kw = s.run("kw").unwrap().unwrap();
    assert_eq!(kw.dataset_fingerprint.len(), 64);
    assert!(kw.bundle.contains("## taxonomy"), "the prompt bundle comes back too");
    assert_eq!(kw.status, "done");
    drop(s);
    // Damaged: moved aside with a message, then rebuilt.
    std::fs::write(&store, "not a database at all, just text").unwrap();
    let out = sift(ws, &["status", "--json"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("is damaged") && err.contains("store.db.corrupt-"), "{err}");
    assert_eq!(serde_json::from_str::<serde_json::Value>(&ok(&out)).unwrap()["items"], 2);
    // History the workspace's files do not hold (a run made by a store opened outside a
    // workspace, as older sift versions did) is not dropped without --force.
    let s = sift::store::Store::open(&store).unwrap();
    let old = sift::model::Run {
        id: "r-old".into(),
        provider: "keywords".into(),
        started_at: "2026-01-01T00:00:00Z".into(),
        status: "done".into(),
        ..Default::default()
    };
    s.save_run(&old).unwrap();
    drop(s);
    let out = sift(ws, &["rebuild"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(err.contains("1 run(s)") && err.contains("--force"), "{err}");
    assert!(sift::store::Store::open(&store).unwrap().run("r-old").unwrap().is_some());
    // A source that is gone is named, and the command says it failed.
    std::fs::remove_file(&file).unwrap();
    let out = sift(ws, &["rebuild", "--force", "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["items"], 0);
    assert!(r["unreachable"][0].as_str().unwrap().contains("issues.jsonl"), "{r}");
    assert!(r["moved_aside"].as_str().unwrap().contains("before-rebuild"));
    // Answers for items that did not come back wait as pending, counted by status.
    assert_eq!(status(ws)["pending_annotations"], 2);
}

/// Shell completions and the manual page cover the whole command tree.
#[test]
fn completions_and_the_manual_page_cover_every_command() {
    let dir = workspace();
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let script = ok(&sift(dir.path(), &["completions", shell]));
        assert!(script.contains("sift") && script.contains("rebuild"), "{shell}");
    }
    let bash = ok(&sift(dir.path(), &["completions", "bash"]));
    let file = dir.path().join("sift.bash");
    std::fs::write(&file, bash).unwrap();
    let syntax = Command::new("bash").arg("-n").arg(&file).status().unwrap();
    assert!(syntax.success(), "the bash script parses");
    let man = ok(&sift(dir.path(), &["man"]));
    assert!(man.contains(".TH sift 1"));
    for page in ["sift-import", "sift-rebuild", "sift-suggest", "sift-push"] {
        assert!(man.contains(&format!(".TH {page}")), "{page}");
    }
    assert!(!sift(dir.path(), &["completions", "tcsh"]).status.success());
}

/// Messages point the way: no workspace mentions the demo; a bare id names its keys.
#[test]
fn errors_point_to_what_was_meant() {
    let empty = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_sift"))
        .arg("status")
        .current_dir(empty.path())
        .env("HOME", empty.path())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.starts_with("error: ") && err.contains("sift demo"), "{err}");
    let dir = workspace();
    let file = dir.path().join("i.jsonl");
    std::fs::write(&file, "{\"id\":\"7\",\"title\":\"Crash\",\"body\":\"b\"}\n").unwrap();
    import_json(dir.path(), &file, "d", &[]);
    let out = sift(dir.path(), &["similar", "7"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("did you mean d:7?"), "{err}");
}

#[test]
fn consistency_rules_flag_tool_and_language_labels_on_real_conversations() {
    let Some(file) = shared("sharegpt/glaive_toolcall_en_demo.json") else { return };
    let dir = workspace();
    import_json(dir.path(), &file, "glaive", &["--taxonomy", "sft"]);
    let store = sift::store::Store::open(&dir.path().join(".sift/store.db")).unwrap();
    let rows = store
        .queue_rows(&sift::store::QueueFilter {
            dataset: Some("glaive".into()),
            ..Default::default()
        })
        .unwrap();
    // Every item claimed to call tools and to be Python: the rules know better.
    let mut lines = String::new();
    let (mut expect, mut no_tools, mut no_python) = (0, 0u64, 0u64);
    for r in &rows {
        let item = store.item(&r.key).unwrap().unwrap();
        let sig = sift::text::signals::Signals::of(&item);
        let python = sig.all_languages().any(|l| l == "python");
        expect += usize::from(!sig.has_tools() || !python);
        no_tools += u64::from(!sig.has_tools());
        no_python += u64::from(!python);
        let rec = serde_json::json!({"item": r.key, "labels": [
            {"name": "tool-calling", "confidence": 0.9}, {"name": "python", "confidence": 0.8}]});
        lines.push_str(&format!("{rec}\n"));
    }
    drop(store);
    let claims = dir.path().join("claims.jsonl");
    std::fs::write(&claims, lines).unwrap();
    ok(&sift(dir.path(), &["runs", "import", claims.to_str().unwrap(), "--name", "claims"]));
    let show = sift(dir.path(), &["runs", "show", "claims", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&ok(&show)).unwrap();
    let stats = &v["stats"];
    assert_eq!(stats["consistency_violations"].as_u64(), Some(expect as u64), "{stats}");
    // Half the glaive conversations call tools; few have Python blocks.
    assert!(no_tools > 100 && no_tools < rows.len() as u64, "{no_tools} of {}", rows.len());
    let rule = |needle: &str| {
        stats["violations"]
            .as_object()
            .unwrap()
            .iter()
            .find(|(k, _)| k.contains(needle))
            .and_then(|(_, n)| n.as_u64())
            .unwrap_or(0)
    };
    assert_eq!(rule("`tool-calling` requires tool roles"), no_tools, "{stats}");
    assert_eq!(rule("`python` requires a code block in python"), no_python, "{stats}");
}

/// A file that can be read only once (a pipe) is imported whole: sift hashes what it reads
/// rather than reading the input twice.
#[test]
fn an_import_from_a_pipe_reads_it_once() {
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path().join("ws");
    ok(&sift(dir.path(), &["init", ws.to_str().unwrap()]));
    let mut child = Command::new(env!("CARGO_BIN_EXE_sift"))
        .arg("--workspace")
        .arg(&ws)
        .args(["import", "/dev/stdin", "--dataset", "piped", "--format", "jsonl"])
        .env("HOME", &ws)
        .env("XDG_CONFIG_HOME", ws.join(".config"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        writeln!(stdin, "{{\"title\": \"first\", \"body\": \"a\"}}").unwrap();
        writeln!(stdin, "{{\"title\": \"second\", \"body\": \"b\"}}").unwrap();
    }
    let out = child.wait_with_output().unwrap();
    let text = ok(&out);
    assert!(text.contains("2 imported"), "{text}");
    let store = sift::store::Store::open(&ws.join(".sift/store.db")).unwrap();
    assert!(store.item_source("piped:2").unwrap().unwrap().contains('#'), "source recorded");
}

/// Every item of an import carries the file it came from, those whose text did not change
/// too; the pipe's items get the hash of what was read.
#[test]
fn each_item_records_the_file_it_was_last_imported_from() {
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path().join("ws");
    ok(&sift(dir.path(), &["init", ws.to_str().unwrap()]));
    let lines = "{\"id\":\"1\",\"title\":\"Crash on save\",\"body\":\"it crashes\"}\n\
                 {\"id\":\"2\",\"title\":\"Add dark mode\",\"body\":\"please\"}\n";
    let (a, b) = (ws.join("a.jsonl"), ws.join("b.jsonl"));
    std::fs::write(&a, lines).unwrap();
    std::fs::write(&b, format!("{lines}{{\"id\":\"3\",\"title\":\"Docs\",\"body\":\"typo\"}}\n"))
        .unwrap();
    import_json(&ws, &a, "d", &[]);
    let sha = |p: &Path| {
        use sha2::Digest;
        sift::model::hex(&sha2::Sha256::digest(std::fs::read(p).unwrap()))
    };
    let source = |key: &str| {
        let store = sift::store::Store::open(&ws.join(".sift/store.db")).unwrap();
        store.item_source(key).unwrap().unwrap()
    };
    assert_eq!(source("d:1"), format!("a.jsonl#{}", sha(&a)));
    let summary = import_json(&ws, &b, "d", &[]);
    assert_eq!(summary["unchanged"], 2, "{summary}");
    for key in ["d:1", "d:2", "d:3"] {
        assert_eq!(source(key), format!("b.jsonl#{}", sha(&b)), "{key}");
    }
    // Piped: written with the path alone, then the hash of what came through.
    let mut child = Command::new(env!("CARGO_BIN_EXE_sift"))
        .arg("--workspace")
        .arg(&ws)
        .args(["import", "/dev/stdin", "--dataset", "d", "--format", "jsonl"])
        .env("HOME", &ws)
        .env("XDG_CONFIG_HOME", ws.join(".config"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), lines.as_bytes()).unwrap();
    ok(&child.wait_with_output().unwrap());
    let piped = format!("#{}", sha(&a));
    for key in ["d:1", "d:2"] {
        let s = source(key);
        assert!(s.ends_with(&piped) && s != format!("a.jsonl{piped}"), "{key}: {s}");
    }
    assert_eq!(source("d:3"), format!("b.jsonl#{}", sha(&b)), "not in the pipe: left as it was");
}
