//! Property tests: arbitrary outside text (empty, one word, punctuation only, CJK, RTL, emoji,
//! control characters, huge) through every path that takes it — import, keyword extraction,
//! the similarity index, `similar`, few-shot examples, the prompt and answer parsing — never
//! panics. Rendering is covered in the TUI's own tests.
// Test helpers panic on setup failure by design.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use proptest::prelude::*;
use sift::app::Context;
use sift::model::Item;
use sift::sources::import::{ImportOptions, import_file};
use sift::suggest::prompt::{ExampleSource, PromptBundle, SimilarGold};
use sift::workspace::{Overrides, Workspace};

fn hostile_text() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        "[a-z]{1,12}",
        "[!-/:-@\\[-`{-~ ]{1,40}",
        "[\u{4e00}-\u{9fff}\u{3040}-\u{30ff} ]{1,60}",
        "[\u{0590}-\u{05ff}\u{0600}-\u{06ff}\u{200e}\u{200f}\u{202e} ]{1,60}",
        proptest::collection::vec(
            prop_oneof![
                Just("👩‍👩‍👧".to_string()),
                Just("🇯🇵".to_string()),
                Just("e\u{301}".to_string()),
                Just("\u{1b}[2J".to_string()),
                Just("\r\n\t\u{0}\u{7f}\u{9b}".to_string()),
                Just("\"quoted\" NEAR(a b) title:x * ^ AND OR NOT (".to_string()),
                "\\PC{0,8}",
            ],
            0..40
        )
        .prop_map(|parts| parts.concat()),
        any::<String>(),
    ]
}

fn open(ws: &Path) -> Context {
    let ov = Overrides { annotator: Some("prop".into()), theme: None };
    Context::open(Some(ws), &ov).unwrap()
}

/// Import the texts as issues and one conversation, index them, and ask every question sift
/// asks of outside text.
fn exercise(texts: &[String]) {
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path();
    Workspace::init(ws, "prop").unwrap();
    let mut lines = Vec::new();
    for (i, t) in texts.iter().enumerate() {
        let title = t.chars().take(200).collect::<String>();
        // Half the items carry a label, so few-shot examples have gold to choose from.
        let labels = if i % 2 == 0 { vec!["bug"] } else { vec![] };
        let record =
            serde_json::json!({"id": i.to_string(), "title": title, "body": t, "labels": labels});
        lines.push(record.to_string());
    }
    let convo = serde_json::json!({"id": "chat", "conversations": texts
        .iter()
        .enumerate()
        .map(|(i, t)| serde_json::json!({"from": if i % 2 == 0 { "human" } else { "gpt" }, "value": t}))
        .collect::<Vec<_>>()});
    let file = ws.join("items.jsonl");
    std::fs::write(&file, lines.join("\n") + "\n").unwrap();
    let chats = ws.join("chats.jsonl");
    std::fs::write(&chats, convo.to_string() + "\n").unwrap();
    let mut ctx = open(ws);
    for (path, dataset) in [(&file, "d"), (&chats, "c")] {
        let opts = ImportOptions { dataset: dataset.into(), ..Default::default() };
        import_file(&mut ctx, path, &opts).unwrap();
    }
    sift::similar::refresh_index(&mut ctx).unwrap();
    let tax = ctx.labels.get("issues").unwrap().clone();
    let bundle = PromptBundle::new(&tax, "v1", Vec::new());
    let examples = SimilarGold::open(&ctx.ws).unwrap();
    let mut keys: Vec<String> = (0..texts.len()).map(|i| format!("d:{i}")).collect();
    keys.push("c:chat".into());
    for key in &keys {
        let Some(item) = ctx.store.item(key).unwrap() else { continue };
        sift::similar::similar(&ctx.store, key, 5).unwrap();
        let _ = examples.examples(&item, 3);
        let msg = bundle.user_message(&item);
        assert!(!msg.is_empty());
    }
    // The command too, on every stored item (an item refused at import is not asked about).
    for key in keys {
        if ctx.store.item(&key).unwrap().is_some() {
            let args = sift::similar::SimilarArgs { item: key, limit: 5, json: true };
            sift::similar::cmd_similar(&mut ctx, &args).unwrap();
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn any_text_survives_import_index_similar_and_prompt(
        texts in proptest::collection::vec(hostile_text(), 1..6)
    ) {
        exercise(&texts);
    }

    #[test]
    fn keyword_extraction_takes_any_text(title in hostile_text(), rest in hostile_text()) {
        let c = sift::text::keywords::candidates(&title, &rest, None);
        let terms = c.borrowed();
        let kw = sift::text::keywords::select(&c.labels, &terms, 3, &mut |_| 1);
        prop_assert!(kw.iter().all(|k| !k.is_empty()));
    }

    #[test]
    fn answer_parsing_takes_any_text(text in hostile_text()) {
        let _ = sift::suggest::parse::parse_answer(&text);
        let wrapped = format!("{{\"labels\":[{{\"name\":{},\"confidence\":0.5}}]}}",
            serde_json::to_string(&text).unwrap());
        let _ = sift::suggest::parse::parse_answer(&wrapped);
    }

    #[test]
    fn any_bytes_as_a_file_are_refused_or_imported(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let dir = tempfile::tempdir().unwrap();
        let ws = dir.path();
        Workspace::init(ws, "prop").unwrap();
        let mut ctx = open(ws);
        for name in ["x.jsonl", "x.csv"] {
            let file = ws.join(name);
            std::fs::write(&file, &bytes).unwrap();
            let opts = ImportOptions { dataset: "d".into(), ..Default::default() };
            let _ = import_file(&mut ctx, &file, &opts);
        }
    }
}

/// Two items whose only keyword is the same word: the similarity query has one term.
#[test]
fn one_keyword_items_find_each_other() {
    exercise(&["zebra".into(), "zebra zebra".into()]);
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path();
    Workspace::init(ws, "one").unwrap();
    let file = ws.join("one.jsonl");
    std::fs::write(
        &file,
        "{\"id\":\"1\",\"title\":\"zebra\",\"body\":\"zebra\"}\n\
         {\"id\":\"2\",\"title\":\"zebra\",\"body\":\"zebra zebra\"}\n",
    )
    .unwrap();
    let mut ctx = open(ws);
    let opts = ImportOptions { dataset: "one".into(), ..Default::default() };
    import_file(&mut ctx, &file, &opts).unwrap();
    sift::similar::refresh_index(&mut ctx).unwrap();
    let found = sift::similar::similar(&ctx.store, "one:1", 5).unwrap();
    let keys: Vec<&str> = found.iter().map(|s| s.key.as_str()).collect();
    assert_eq!(keys, ["one:2"]);
}

/// One record of a megabyte: imported, indexed and prompted without trouble.
#[test]
fn a_one_megabyte_item_goes_through() {
    let word = "overflow 漢字 🇯🇵 ";
    let big: String = word.repeat(1_000_000 / word.len());
    exercise(&[big, "overflow".into()]);
}

#[test]
fn item_default_is_harmless() {
    let _ = Item::default().full_text();
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(16))]

    /// sources/, runs/ and pushes/ arrive through git from anyone: any bytes in them are
    /// reported line by line by a rebuild, never a panic.
    #[test]
    fn any_bytes_in_the_workspace_journals_rebuild_without_panic(
        bytes in proptest::collection::vec(any::<u8>(), 0..300),
        text in hostile_text(),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let ws = dir.path();
        Workspace::init(ws, "prop").unwrap();
        for (folder, file) in [("sources", "d.jsonl"), ("runs", "r-1.jsonl"), ("pushes", "p-1.jsonl")] {
            std::fs::create_dir_all(ws.join(folder)).unwrap();
            let mut content = bytes.clone();
            content.extend_from_slice(b"\n");
            content.extend_from_slice(text.as_bytes());
            std::fs::write(ws.join(folder).join(file), content).unwrap();
        }
        let ov = Overrides { annotator: Some("prop".into()), theme: None };
        let mut ctx = Context::open(Some(ws), &ov).unwrap();
        let report = sift::rebuild::restore(&mut ctx).unwrap();
        prop_assert_eq!(report.items, 0);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// A `/predict` request of any text: checked against the taxonomy, answered by the
    /// keyword provider, shaped; refusals are one line with no control characters.
    #[test]
    fn any_text_is_served_or_refused_in_one_line(
        title in hostile_text(), body in hostile_text(), label in hostile_text(),
        odd_label in any::<bool>()
    ) {
        use sift::serve::api;
        let dir = tempfile::tempdir().unwrap();
        Workspace::init(dir.path(), "prop").unwrap();
        let ctx = open(dir.path());
        let tax = ctx.labels.get(&ctx.ws.settings.taxonomy).unwrap().clone();
        let mut opts = sift::suggest::RunOptions::from_settings(&ctx.ws.settings.suggest);
        opts.provider = "keywords".into();
        let predictor = sift::suggest::predict::Predictor::open(&ctx.ws, &tax, &opts).unwrap();
        // Half the requests name a label of any text (mostly refused), half only known ones.
        let label = if odd_label { label } else { "bug".to_string() };
        let req = serde_json::json!({
            "title": title, "body": body, "allowed_labels": [label.clone(), "bug"],
            "thresholds": {label.clone(): 0.5}, "top_k": 2,
        });
        let parsed: api::PredictRequest = serde_json::from_value(req).unwrap();
        match api::check(parsed, &tax) {
            Err(msg) => prop_assert!(!msg.chars().any(char::is_control), "{msg:?}"),
            Ok(c) => {
                let item = sift::suggest::predict::item_from_text("serve", &title, &body);
                let key = item.key.clone();
                let p = futures::executor::block_on(predictor.predict(item, c.allowed.as_ref()))
                    .unwrap();
                let r = api::respond(&p, &c, key, &predictor.version());
                prop_assert!(r.labels.len() <= 2);
                prop_assert!(serde_json::to_string(&r).is_ok());
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Structural signals of any text: computed without panic, and their brief reads back.
    #[test]
    fn signals_take_any_text(a in hostile_text(), b in hostile_text(), role in hostile_text()) {
        use sift::model::{ItemKind, ToolCall, Turn};
        use sift::text::signals::{Brief, Signals};
        let item = Item {
            kind: Some(ItemKind::Conversation),
            title: a.clone(),
            body: format!("```{a}\n{b}\n```"),
            turns: vec![
                Turn { role: role.clone(), content: a.clone(), tool_calls: vec![] },
                Turn {
                    role: "assistant".into(),
                    content: b.clone(),
                    tool_calls: vec![ToolCall { name: a.clone(), arguments: b.clone() }],
                },
            ],
            ..Default::default()
        };
        let s = Signals::of(&item);
        let brief = Brief::parse(&s.brief());
        prop_assert_eq!(brief.turns, 2);
        prop_assert_eq!(brief.tool_calls, s.tool_calls);
        prop_assert!(!s.describe().chars().any(|c| c.is_control()));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// A webhook payload with any text in its comment, logins and repository: parsed or
    /// refused, never a panic; a command only from a line that is exactly `/label off|auto`.
    #[test]
    fn any_webhook_text_is_parsed_or_refused(
        body in hostile_text(), login in hostile_text(), repo in hostile_text(), kind in hostile_text()
    ) {
        let ev = serde_json::json!({
            "action": "created",
            "issue": {"number": 7, "user": {"login": login}},
            "comment": {"id": 1, "body": body, "user": {"login": login, "type": kind},
                        "author_association": kind},
            "repository": {"full_name": repo},
        });
        for name in [Some("issue_comment"), Some("issues"), None, Some(kind.as_str())] {
            let _ = sift::bot::event::parse(name, &ev, true);
        }
        let cmd = sift::github::commands::parse_command(&body);
        if cmd.is_some() {
            prop_assert!(body.lines().any(|l| l.trim().to_ascii_lowercase().starts_with("/label")));
        }
    }

    /// The bot's audit comment with any rationale and label names: its hidden block reads back
    /// as written, and no HTML comment opens in the visible text.
    #[test]
    fn any_audit_text_round_trips_and_cannot_forge_a_block(
        rationale in hostile_text(), label in hostile_text(), note in hostile_text()
    ) {
        use sift::github::audit::{self, BotAudit, CommentData};
        let data = CommentData {
            labels: vec![sift::model::LabelScore { name: label.clone(), confidence: Some(0.5) }],
            source: "suggestion".into(),
            sift: "0".into(),
            bot: Some(BotAudit {
                rationale,
                applied: vec![label],
                decision: "applied".into(),
                note: Some(note),
                ..Default::default()
            }),
        };
        let body = audit::render("p-1", &data);
        prop_assert_eq!(body.matches("<!--").count(), 3);
        prop_assert_eq!(audit::parse(&body).map(|b| b.data), Some(data));
    }

    /// `--where` and `--write-thresholds` over any text: parsed or refused, never a panic.
    #[test]
    fn where_terms_and_threshold_edits_take_any_text(terms in hostile_text(), yml in hostile_text()) {
        let file = sift::taxonomy::LabelsFile::parse(sift::taxonomy::DEFAULT_LABELS_YML, Path::new("l.yml")).unwrap();
        let tax = file.taxonomies.values().next().unwrap();
        let _ = sift::dataset::formats::Where::parse(&terms, tax);
        let t: std::collections::BTreeMap<String, f64> = [("bug".to_string(), 0.8)].into();
        let _ = sift::dataset::thresholds::write_into(&yml, &tax.name, &t);
        let _ = sift::dataset::thresholds::write_into(&format!("taxonomies:\n  {terms}:\n    - {yml}\n"), &terms, &t);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// A conversation of any text exported for LLaMA-Factory: written or left out, and when
    /// written, the turns alternate as the format requires.
    #[test]
    fn any_conversation_exports_for_llama_factory_or_is_left_out(
        texts in proptest::collection::vec(hostile_text(), 0..6),
        roles in proptest::collection::vec(0usize..5, 0..6),
    ) {
        use sift::model::{ToolCall, Turn};
        let names = ["user", "assistant", "tool", "system", "assistant"];
        let turns: Vec<Turn> = roles
            .iter()
            .zip(texts.iter().cycle())
            .map(|(r, t)| Turn {
                role: names[*r].into(),
                content: t.clone(),
                tool_calls: if *r == 4 {
                    vec![ToolCall { name: t.clone(), arguments: t.clone() }]
                } else {
                    vec![]
                },
            })
            .collect();
        let r = sift::dataset::export::ExportRecord {
            id: "d:1".into(),
            title: texts.first().cloned().unwrap_or_default(),
            body: None,
            conversation: Some(turns),
            labels: vec![],
            annotators: vec![],
            created_at: None,
            split: "train".into(),
            source: "d".into(),
            rationale: None,
            signals: Default::default(),
        };
        if let Some(v) = sift::dataset::formats::sharegpt_record(&r, None) {
            let turns = v["conversations"].as_array().unwrap();
            prop_assert!(turns.len() % 2 == 0 && !turns.is_empty());
            for (i, t) in turns.iter().enumerate() {
                let from = t["from"].as_str().unwrap();
                let ok = if i % 2 == 0 { ["human", "observation"].contains(&from) } else { ["gpt", "function_call"].contains(&from) };
                prop_assert!(ok, "{v}");
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// labels.yml `calls:` of any text: read or refused with a line, never a panic; prompt
    /// files of any text shape a bundle; bundles of any text compare by section.
    #[test]
    fn calls_prompt_files_and_bundle_sections_take_any_text(
        a in hostile_text(),
        b in hostile_text(),
        system in hostile_text(),
        instructions in hostile_text(),
    ) {
        let yml = sift::taxonomy::DEFAULT_LABELS_YML.replacen(
            "  sft:\n    max_labels: 12\n",
            &format!("  sft:\n    max_labels: 12\n    calls: [[{a}], [{b}]]\n"),
            1,
        );
        let parsed = sift::taxonomy::LabelsFile::parse(&yml, Path::new("labels.yml"));
        if let Err(e) = &parsed {
            prop_assert!(e.to_string().starts_with("labels.yml:"), "{e}");
        }
        let file = sift::taxonomy::LabelsFile::parse(sift::taxonomy::DEFAULT_LABELS_YML, Path::new("l.yml")).unwrap();
        let sources = sift::suggest::prompt::PromptSources {
            system: Some(system.clone()),
            instructions: Some(instructions.clone()),
        };
        for tax in file.taxonomies.values() {
            let bundle = sift::suggest::PromptBundle::with_sources(tax, "v1", vec![], &sources);
            prop_assert_eq!(bundle.hash().len(), 64);
            prop_assert!(bundle.system_with_taxonomy().starts_with(&system));
        }
        let _ = sift::suggest::runs::diff_by_section(&format!("## {a}\n{system}"), &format!("## {b}\n{instructions}\n## {a}"));
    }
}
