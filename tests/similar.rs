//! End-to-end tests of similar items: ranking, labels, hostile FTS5 syntax, index upkeep after
//! re-import and removal, and the `sift similar` command's text and JSON output.
// Test helpers panic on setup failure by design.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::{Command, Output};

use sift::model::{Item, LabelScore, Run, Suggestion};
use sift::similar::{self, SimilarItem};
use sift::store::Store;
use sift::text::keywords::LabelMatcher;

fn issue(key: &str, title: &str, body: &str) -> Item {
    Item {
        key: key.into(),
        dataset: "d".into(),
        title: title.into(),
        body: body.into(),
        ..Default::default()
    }
}

/// A small tracker: a near-duplicate pair, a related crash, and unrelated items.
fn tracker() -> Vec<Item> {
    vec![
        issue(
            "d:1",
            "Editor crashes saving a file with an emoji filename",
            "Saving a document whose filename contains an emoji crashes the editor. The \
             filename encoder panics with an invalid utf8 boundary in the unicode handling.",
        ),
        issue(
            "d:2",
            "Crash when saving emoji filename in the editor",
            "The editor crashes while saving when the filename has an emoji. Stack shows the \
             filename encoder panicking on a utf8 boundary; unicode handling is wrong.",
        ),
        issue(
            "d:3",
            "Editor crashes at startup with a corrupted config",
            "At startup the editor crashes reading a corrupted config file. The parser panics.",
        ),
        issue(
            "d:4",
            "Dark colour palette for night sessions",
            "Offer a dimmed palette: softer contrast, warmer tones, gentle gradients.",
        ),
        issue(
            "d:5",
            "Installation guide misspells the package manager command",
            "The install page spells the brew formula wrongly; copy-paste fails.",
        ),
    ]
}

fn store_with(items: &[Item]) -> Store {
    let mut s = Store::open_in_memory().unwrap();
    s.upsert_items(items, "2026-01-01T00:00:00Z").unwrap();
    s.refresh_index(&LabelMatcher::new()).unwrap();
    s
}

fn keys(found: &[SimilarItem]) -> Vec<&str> {
    found.iter().map(|s| s.key.as_str()).collect()
}

fn suggest(store: &mut Store, labels: &[(&str, &str)]) {
    let run = Run {
        id: "r-1".into(),
        provider: "test".into(),
        model: "m".into(),
        started_at: "2026-01-01T00:00:00Z".into(),
        status: "done".into(),
        ..Default::default()
    };
    store.save_run(&run).unwrap();
    let s: Vec<Suggestion> = labels
        .iter()
        .map(|(k, l)| Suggestion {
            item: k.to_string(),
            run: "r-1".into(),
            labels: vec![LabelScore { name: l.to_string(), confidence: Some(0.9) }],
            created_at: "2026-01-01T00:00:00Z".into(),
            ..Default::default()
        })
        .collect();
    store.save_suggestions(&s).unwrap();
}

#[test]
fn near_duplicate_ranks_first_and_unrelated_items_stay_out() {
    let store = store_with(&tracker());
    let found = similar::similar(&store, "d:1", 5).unwrap();
    assert_eq!(found.first().map(|s| s.key.as_str()), Some("d:2"), "{found:#?}");
    assert!(!keys(&found).contains(&"d:4") && !keys(&found).contains(&"d:5"), "{found:#?}");
    assert!(!keys(&found).contains(&"d:1"), "an item is not similar to itself");
    let top = &found[0];
    assert!(top.overlap > 0.3 && top.overlap <= 1.0, "{top:#?}");
    for k in ["filename", "emoji"] {
        assert!(top.shared_keywords.iter().any(|s| s == k), "{k} missing: {top:#?}");
    }
    // Scores never increase down the list.
    assert!(found.windows(2).all(|w| w[0].score >= w[1].score), "{found:#?}");
}

#[test]
fn shared_labels_boost_an_equal_keyword_match() {
    let body = "The tokenizer rejects nested brackets inside quoted arguments and reports a \
                bogus syntax position for the lexer state machine.";
    let items = vec![
        issue("d:t", "Tokenizer rejects nested brackets", body),
        // Two candidates with the same words as each other: equal keyword overlap.
        issue("d:a", "Tokenizer rejects nested brackets again", body),
        issue("d:z", "Tokenizer rejects nested brackets again", body),
        issue("d:x", "Unrelated espresso machine descaling", "Descale the espresso boiler."),
    ];
    let mut store = store_with(&items);
    let plain = similar::similar(&store, "d:t", 5).unwrap();
    assert_eq!(keys(&plain), ["d:a", "d:z"], "ties break by key: {plain:#?}");
    assert_eq!(plain[0].overlap, plain[1].overlap);

    suggest(&mut store, &[("d:t", "bug"), ("d:z", "bug"), ("d:a", "enhancement")]);
    let boosted = similar::similar(&store, "d:t", 5).unwrap();
    assert_eq!(keys(&boosted), ["d:z", "d:a"], "{boosted:#?}");
    assert_eq!(boosted[0].shared_labels, ["bug"]);
    assert!(boosted[1].shared_labels.is_empty());
    assert_eq!(boosted[0].overlap, boosted[1].overlap);
    assert!(boosted[0].score > boosted[1].score);
    assert_eq!(boosted[1].labels, ["enhancement"], "each result carries its own labels");
    assert_eq!(boosted[1].label_source, similar::LabelSource::Suggested);
}

#[test]
fn no_overlap_returns_nothing() {
    let store = store_with(&tracker());
    assert!(similar::similar(&store, "d:4", 5).unwrap().is_empty());
    assert!(similar::similar_gold_examples(&store, "d:4", 3).unwrap().is_empty());
    let e = similar::similar(&store, "d:404", 5).unwrap_err().to_string();
    assert!(e.contains("d:404"), "{e}");
}

const HOSTILE: [&str; 8] = [
    "he said \"unbalanced",
    "NEAR(emoji filename)",
    "title:crash body:editor",
    "emoji* filen*",
    "^editor ^crash",
    "editor AND crashes OR NOT emoji",
    "((editor) (crash",
    " - ",
];

#[test]
fn hostile_fts5_syntax_neither_errors_nor_changes_results() {
    let clean = store_with(&tracker());
    let want: Vec<String> =
        similar::similar(&clean, "d:1", 5).unwrap().into_iter().map(|s| s.key).collect();
    assert!(!want.is_empty());
    for h in HOSTILE {
        let mut items = tracker();
        items[0].title = format!("{} {h}", items[0].title);
        items[0].body = format!("{h} {} {h}", items[0].body);
        items[2].body = format!("{} {h}", items[2].body);
        let store = store_with(&items);
        let got: Vec<String> =
            similar::similar(&store, "d:1", 5).unwrap().into_iter().map(|s| s.key).collect();
        assert_eq!(got, want, "hostile text {h:?} changed the results");
        // Free text given to the few-shot lookup is never query syntax either.
        similar::similar_gold_examples(&store, h, 3).unwrap();
        // Nor are keywords that carry syntax (label names come from labels.yml verbatim).
        let q = similar::fts_query(&[h.to_string(), "crash".into()]).unwrap();
        store.keyword_search(&q, None, 5, true).unwrap();
        store.text_search(h, 5).unwrap();
    }
}

#[test]
fn index_follows_updates_and_removals() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.db");
    let mut store = Store::open(&path).unwrap();
    store.upsert_items(&tracker(), "t").unwrap();
    store.refresh_index(&LabelMatcher::new()).unwrap();
    assert_eq!(keys(&similar::similar(&store, "d:1", 5).unwrap())[0], "d:2");

    // d:2 is rewritten into something else: it must stop matching, and match its new topic.
    let mut changed = tracker();
    changed[1] = issue(
        "d:2",
        "Dark palette for night sessions",
        "A dimmed palette with softer contrast and warmer tones, please.",
    );
    store.upsert_items(&changed, "t").unwrap();
    let r = store.refresh_index(&LabelMatcher::new()).unwrap();
    assert_eq!(r.indexed, 1, "only the changed item is re-indexed");
    assert!(!keys(&similar::similar(&store, "d:1", 5).unwrap()).contains(&"d:2"));
    assert_eq!(keys(&similar::similar(&store, "d:4", 5).unwrap()), ["d:2"]);

    // Removed from the store: gone from the index too.
    drop(store);
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute("DELETE FROM items WHERE key = 'd:4'", []).unwrap();
    drop(conn);
    let mut store = Store::open(&path).unwrap();
    let r = store.refresh_index(&LabelMatcher::new()).unwrap();
    assert_eq!((r.indexed, r.removed, r.docs), (0, 1, 4));
    assert!(similar::similar(&store, "d:2", 5).unwrap().is_empty());
    let found: Vec<String> =
        store.text_search("palette", 5).unwrap().into_iter().map(|h| h.0).collect();
    assert_eq!(found, ["d:2"]);
}

// ---- the command line ---------------------------------------------------------------------

fn sift(ws: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sift"))
        .arg("--workspace")
        .arg(ws)
        .args(args)
        .env("HOME", ws)
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

fn write_items(path: &Path, items: &[Item]) {
    let lines: Vec<String> = items
        .iter()
        .map(|i| {
            let id = i.key.trim_start_matches("d:");
            serde_json::json!({"id": id, "title": i.title, "body": i.body}).to_string()
        })
        .collect();
    std::fs::write(path, lines.join("\n") + "\n").unwrap();
}

#[test]
fn command_prints_json_and_text_and_follows_reimport() {
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path();
    sift::workspace::Workspace::init(ws, "t").unwrap();
    let mut items = tracker();
    items[1].title = format!("{} \u{1b}]0;pwned\u{7}", items[1].title);
    let file = ws.join("issues.jsonl");
    write_items(&file, &items);
    ok(&sift(ws, &["import", file.to_str().unwrap(), "--dataset", "d"]));
    // Gold for d:1 and d:2: both annotators agree on bug.
    let gold = ws.join("annotations/d");
    std::fs::create_dir_all(&gold).unwrap();
    for who in ["alice", "bob"] {
        let lines: Vec<String> = ["d:1", "d:2"]
            .iter()
            .map(|k| {
                serde_json::json!({"item": k, "annotator": who, "labels": ["bug"]}).to_string()
            })
            .collect();
        std::fs::write(gold.join(format!("{who}.jsonl")), lines.join("\n") + "\n").unwrap();
    }

    let out = ok(&sift(ws, &["similar", "d:1", "--json"]));
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["item"], "d:1");
    let list = v["similar"].as_array().unwrap();
    assert!(!list.is_empty(), "{v}");
    let first = list[0].as_object().unwrap();
    let mut fields: Vec<&str> = first.keys().map(String::as_str).collect();
    fields.sort();
    assert_eq!(fields, ["item", "keywords", "labels", "overlap", "score", "title"]);
    assert_eq!(first["item"], "d:2");
    assert_eq!(first["labels"], serde_json::json!(["bug"]), "shared gold label: {v}");
    let overlap = first["overlap"].as_f64().unwrap();
    assert!(overlap > 0.0 && overlap <= 100.0, "overlap is a percentage: {v}");
    assert!(first["score"].as_f64().unwrap() > 0.0);
    assert!(first["keywords"].as_array().unwrap().iter().any(|k| k == "emoji"), "{v}");

    // Text output: titles are sanitised; --limit is honoured.
    let text = ok(&sift(ws, &["similar", "d:1", "--limit", "1"]));
    assert!(text.contains("d:2") && !text.contains('\u{1b}'), "{text}");
    assert!(text.contains("overlap") && text.contains("keywords:"), "{text}");
    assert_eq!(text.lines().filter(|l| l.contains(". d:")).count(), 1, "{text}");

    let none = ok(&sift(ws, &["similar", "d:4"]));
    assert_eq!(none.trim(), "no similar items");
    let none: serde_json::Value =
        serde_json::from_str(&ok(&sift(ws, &["similar", "d:4", "--json"]))).unwrap();
    assert_eq!(none, serde_json::json!({"item": "d:4", "similar": []}));

    // Re-import with d:2 rewritten: the command sees the change without any extra step.
    items[1] = issue("d:2", "Dark palette for night sessions", "Softer contrast and warmer tones.");
    write_items(&file, &items);
    ok(&sift(ws, &["import", file.to_str().unwrap(), "--dataset", "d"]));
    let v: serde_json::Value =
        serde_json::from_str(&ok(&sift(ws, &["similar", "d:1", "--json"]))).unwrap();
    assert!(v["similar"].as_array().unwrap().iter().all(|s| s["item"] != "d:2"), "{v}");

    let missing = sift(ws, &["similar", "d:999"]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("d:999"));
}

#[test]
fn the_models_keywords_lead_the_search_when_present() {
    // d:10 says nothing of its subject in words the index shares with d:11; the model's
    // keywords for it do.
    let items = vec![
        issue("d:10", "It stops after a while", "Nothing happens any more after some minutes."),
        issue(
            "d:11",
            "Websocket heartbeat timeout",
            "The websocket heartbeat timeout closes idle sessions.",
        ),
        issue(
            "d:12",
            "Typo in the guide",
            "The installation guide misspells the word configuration.",
        ),
    ];
    let mut store = store_with(&items);
    let before = similar::similar(&store, "d:10", 5).unwrap();
    assert!(!keys(&before).contains(&"d:11"), "{before:#?}");
    suggest(&mut store, &[("d:10", "bug")]);
    let mut s = store.latest_suggestion("d:10").unwrap().unwrap().suggestion;
    s.keywords = vec!["websocket".into(), "heartbeat timeout".into(), "idle sessions".into()];
    s.created_at = "2026-01-02T00:00:00Z".into();
    store.save_suggestions(&[s]).unwrap();
    let after = similar::similar(&store, "d:10", 5).unwrap();
    assert_eq!(after.first().map(|x| x.key.as_str()), Some("d:11"), "{after:#?}");
    // An item not in the index yet is searched with the model's keywords too.
    store
        .upsert_items(&[issue("d:13", "Stalls again", "Nothing moves after a while.")], "t")
        .unwrap();
    let mut s13 = store.latest_suggestion("d:10").unwrap().unwrap().suggestion;
    s13.item = "d:13".into();
    store.save_suggestions(&[s13]).unwrap();
    let fresh = similar::similar(&store, "d:13", 5).unwrap();
    assert_eq!(fresh.first().map(|x| x.key.as_str()), Some("d:11"), "{fresh:#?}");
}
