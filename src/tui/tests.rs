//! Tests of the pure update() for every action, of the views (snapshots with TestBackend in
//! dark and light themes), and a headless end-to-end run through the action channel.

use std::collections::HashMap;
use std::path::Path;

use crossterm::event::{Event, KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;

use super::action::Action;
use super::keymap::Keymap;
use super::state::{Effect, Entry, Loaded, Overlay, Pane, State, View};
use super::theme::Theme;
use super::update::{parse_filter, update};
use super::{App, Options, load_state, worker};
use crate::model::{Item, ItemKind, LabelScore, Mode, Suggestion, ToolCall, Turn};
use crate::store::SuggestionRow;
use crate::taxonomy::{DEFAULT_LABELS_YML, LabelsFile, Taxonomy};

fn tax(name: &str) -> Taxonomy {
    LabelsFile::parse(DEFAULT_LABELS_YML, Path::new("labels.yml"))
        .unwrap()
        .get(name)
        .unwrap()
        .clone()
}

fn entry(key: &str, dataset: &str) -> Entry {
    Entry {
        key: key.into(),
        dataset: dataset.into(),
        kind: ItemKind::Issue,
        title: format!("title of {key}"),
        repo: None,
        suggested: true,
        suggested_labels: vec!["bug".into()],
        mine: None,
        disputed: false,
        pushed: false,
        saving: false,
        signals: Default::default(),
        inconsistent: false,
        confidence: None,
        created: None,
    }
}

fn suggestion(key: &str, labels: &[(&str, f64)]) -> SuggestionRow {
    SuggestionRow {
        suggestion: Suggestion {
            item: key.into(),
            run: "r-1".into(),
            labels: labels
                .iter()
                .map(|(n, c)| LabelScore { name: n.to_string(), confidence: Some(*c) })
                .collect(),
            rationale: "because".into(),
            ..Default::default()
        },
        provider: "keywords".into(),
        model: "m".into(),
        prompt_version: "v1".into(),
    }
}

/// Three issues and one conversation; the first issue loaded with a suggestion.
fn state() -> State {
    let mut taxonomies = HashMap::new();
    taxonomies.insert("d".to_string(), tax("issues"));
    taxonomies.insert("c".to_string(), tax("sft"));
    let queue = vec![entry("d:1", "d"), entry("d:2", "d"), entry("d:3", "d"), entry("c:1", "c")];
    let mut s = State::new("ann".into(), taxonomies, queue);
    s.size = (120, 40);
    s.now_rfc3339 = "2026-11-22T10:00:00Z".into();
    let fx = super::update::focus(&mut s);
    assert_eq!(fx.len(), 2, "focus loads the item and the next");
    s.loading.clear();
    s.loaded.insert(
        "d:1".into(),
        Loaded {
            item: Item { key: "d:1".into(), title: "Crash".into(), ..Default::default() },
            suggestion: Some(suggestion(
                "d:1",
                &[
                    ("bug", 0.9),
                    ("performance", 0.7),
                    ("ux", 0.65),
                    ("question", 0.4),
                    ("test", 0.62),
                ],
            )),
            answers: vec![
                ("alice".into(), vec!["bug".into()]),
                ("bob".into(), vec!["bug".into(), "ux".into()]),
            ],
            similar: vec![crate::similar::SimilarItem {
                key: "d:3".into(),
                title: "Crash again".into(),
                score: 0.6,
                overlap: 0.5,
                shared_keywords: vec!["crash".into()],
                shared_labels: vec!["bug".into()],
                labels: vec!["bug".into()],
                label_source: crate::similar::LabelSource::Gold,
            }],
            notes: Default::default(),
            shape: None,
        },
    );
    s
}

fn saves(fx: &[Effect]) -> Vec<&crate::model::Annotation> {
    fx.iter()
        .filter_map(|e| match e {
            Effect::Save { annotation, .. } => Some(annotation.as_ref()),
            _ => None,
        })
        .collect()
}

#[test]
fn quit_help_close_resize_tick() {
    let mut s = state();
    assert!(update(&mut s, Action::Tick).is_empty());
    update(&mut s, Action::Resize(100, 30));
    assert_eq!(s.size, (100, 30));
    update(&mut s, Action::Help);
    assert_eq!(s.overlay, Overlay::Help);
    update(&mut s, Action::Close);
    assert_eq!(s.overlay, Overlay::None);
    update(&mut s, Action::Help);
    update(&mut s, Action::Help);
    assert_eq!(s.overlay, Overlay::None, "help toggles");
    assert_eq!(update(&mut s, Action::Quit), vec![Effect::Quit]);
    assert!(s.should_quit);
}

#[test]
fn moving_focuses_and_prefetches_the_next_item() {
    let mut s = state();
    let fx = update(&mut s, Action::MoveDown);
    assert_eq!(s.cursor, 1);
    let loads: Vec<_> = fx
        .iter()
        .filter_map(|e| match e {
            Effect::LoadItem { key, .. } => Some(key.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(loads, ["d:2", "d:3"]);
    update(&mut s, Action::MoveUp);
    assert_eq!(s.cursor, 0);
    update(&mut s, Action::MoveUp);
    assert_eq!(s.cursor, 0, "stops at the top");
    update(&mut s, Action::Last);
    assert_eq!(s.cursor, 3);
    update(&mut s, Action::First);
    assert_eq!(s.cursor, 0);
    update(&mut s, Action::PageDown);
    assert_eq!(s.cursor, 3, "a page is longer than the queue");
    update(&mut s, Action::PageUp);
    assert_eq!(s.cursor, 0);
}

#[test]
fn panes_and_dimensions_cycle_with_tab() {
    let mut s = state();
    update(&mut s, Action::NextPane);
    assert_eq!(s.pane, Pane::Item);
    update(&mut s, Action::MoveDown);
    assert_eq!(s.item_scroll, 1, "j scrolls the item pane when it has focus");
    update(&mut s, Action::NextPane);
    update(&mut s, Action::NextPane);
    assert_eq!(s.pane, Pane::Annotation);
    update(&mut s, Action::MoveDown);
    assert_eq!(s.label_cursor, 1);
    update(&mut s, Action::NextPane);
    assert_eq!(s.pane, Pane::Queue, "a one-dimension taxonomy leaves the pane");
    update(&mut s, Action::PrevPane);
    assert_eq!(s.pane, Pane::Annotation);
    // A multi-dimension taxonomy: Tab walks its dimensions first.
    update(&mut s, Action::Last);
    s.pane = Pane::Annotation;
    s.dim = 0;
    update(&mut s, Action::NextPane);
    assert_eq!((s.pane, s.dim), (Pane::Annotation, 1));
    update(&mut s, Action::PrevPane);
    assert_eq!(s.dim, 0);
    update(&mut s, Action::PrevPane);
    assert_eq!(s.pane, Pane::Suggestion);
}

#[test]
fn toggles_respect_single_select() {
    let mut s = state();
    update(&mut s, Action::Toggle(1));
    update(&mut s, Action::Toggle(10));
    assert!(s.draft.labels.contains("bug") && s.draft.labels.contains("ci"));
    update(&mut s, Action::Toggle(1));
    assert!(!s.draft.labels.contains("bug"));
    update(&mut s, Action::Toggle(11));
    assert_eq!(s.draft.labels.len(), 1, "no 11th label: nothing happens");
    // sft: intent is single-select.
    update(&mut s, Action::Last);
    update(&mut s, Action::Toggle(1));
    update(&mut s, Action::Toggle(2));
    let intent = tax("sft").dimensions[0].labels.iter().map(|l| l.name.clone()).collect::<Vec<_>>();
    let chosen: Vec<_> = s.draft.labels.iter().filter(|l| intent.contains(l)).collect();
    assert_eq!(chosen, [&intent[1]]);
    s.label_cursor = 2;
    update(&mut s, Action::ToggleCurrent);
    assert!(s.draft.labels.contains(&intent[2]) && !s.draft.labels.contains(&intent[1]));
}

fn press(c: KeyCode) -> Action {
    Action::Key(KeyEvent::new(c, KeyModifiers::NONE))
}

#[test]
fn the_label_picker_labels_nine_dimensions_in_two_keys_each() {
    let mut s = state();
    update(&mut s, Action::Last); // the SFT conversation
    assert_eq!(s.current().unwrap().key, "c:1");
    update(&mut s, Action::LabelPicker);
    assert!(matches!(s.overlay, Overlay::Picker(_)));
    let wanted = [
        "build",
        "python",
        "web-frontend",
        "answer",
        "beginner",
        "data-structures",
        "planning",
        "version-pinned",
        "prior-turns",
    ];
    let mut keys = 0;
    for label in wanted {
        // The shortest way: one letter, then Enter for the first match or its digit.
        let (letter, pos) = ('a'..='z')
            .filter_map(|c| {
                let m = super::update::picker_matches(&s, &c.to_string());
                let pos = m.iter().position(|m| m.label == label).filter(|p| *p < 9)?;
                Some((c, pos))
            })
            .min_by_key(|(_, pos)| *pos)
            .unwrap_or_else(|| panic!("{label} is not among the first nine of any letter"));
        update(&mut s, press(KeyCode::Char(letter)));
        let pick =
            if pos == 0 { KeyCode::Enter } else { KeyCode::Char((b'1' + pos as u8) as char) };
        update(&mut s, press(pick));
        keys += 2;
        assert!(s.draft.labels.contains(label), "{label} after {letter} and {pick:?}");
        let Overlay::Picker(p) = &s.overlay else { panic!("the picker stays open") };
        assert!(p.query.is_empty(), "the query starts again after each label");
    }
    assert_eq!(s.draft.labels.len(), 9, "{:?}", s.draft.labels);
    // The labeled item as the screen shows it, the picker open, at 80x24 and 160x50.
    for (w, h) in [(80u16, 24u16), (160, 50)] {
        s.size = (w, h);
        insta::assert_snapshot!(
            format!("picker_nine_dimensions_{w}x{h}"),
            render(&s, "default", w, h).backend()
        );
    }
    // Enter with nothing typed saves; the picker stays open for the next item.
    let fx = update(&mut s, press(KeyCode::Enter));
    keys += 1;
    assert_eq!(saves(&fx)[0].labels.len(), 9);
    assert_eq!(keys, 19, "two keys per label and one to save");
    assert!(matches!(s.overlay, Overlay::Picker(_)));
    update(&mut s, press(KeyCode::Esc));
    assert_eq!(s.overlay, Overlay::None);
}

#[test]
fn long_turns_fold_and_z_shows_them_whole() {
    let long: String = (1..=40).map(|i| format!("line {i}\n")).collect();
    let chat = Item {
        key: "c:1".into(),
        dataset: "c".into(),
        kind: Some(ItemKind::Conversation),
        title: "long".into(),
        turns: vec![Turn { role: "user".into(), content: long, ..Default::default() }],
        ..Default::default()
    };
    let mut s = loaded_state(chat, "c");
    let text = |s: &State| -> String {
        let t = render(s, "default", 120, 60);
        t.backend().buffer().content.iter().map(|c| c.symbol()).collect()
    };
    let folded = text(&s);
    assert!(folded.contains("line 8") && !folded.contains("line 9 "), "{folded}");
    assert!(folded.contains("… 32 more lines (z shows the whole conversation)"));
    update(&mut s, Action::ToggleFold);
    let whole = text(&s);
    assert!(whole.contains("line 30") && !whole.contains("more lines"), "{whole}");
}

#[test]
fn sort_orders_the_queue_by_confidence_disagreement_or_age() {
    let mut s = state();
    let confidence = [("d:1".to_string(), 0.9), ("d:2".to_string(), 0.3), ("d:3".to_string(), 0.6)]
        .into_iter()
        .collect();
    update(
        &mut s,
        Action::SuggestionStatus(Box::new(super::SuggestionStatus {
            confidence,
            ..Default::default()
        })),
    );
    s.queue[2].disputed = true;
    let keys = |s: &State| s.visible.iter().map(|&i| s.queue[i].key.clone()).collect::<Vec<_>>();
    super::update::apply_filter(&mut s, "sort:confidence".into());
    assert_eq!(keys(&s), ["d:2", "d:3", "d:1", "c:1"], "least sure first, unsuggested last");
    super::update::apply_filter(&mut s, "sort:disagreement".into());
    assert_eq!(keys(&s)[0], "d:3");
    super::update::apply_filter(&mut s, "sort:newest dataset:d".into());
    assert_eq!(keys(&s), ["d:3", "d:2", "d:1"]);
    super::update::apply_filter(&mut s, "sort:age".into());
    assert_eq!(keys(&s), ["d:1", "d:2", "d:3", "c:1"], "undated: store order");
    // By when they were opened, where the source says; undated items after the dated ones.
    s.queue[0].created = Some(300);
    s.queue[1].created = Some(100);
    s.queue[2].created = Some(200);
    super::update::apply_filter(&mut s, "sort:age".into());
    assert_eq!(keys(&s), ["d:2", "d:3", "d:1", "c:1"]);
    super::update::apply_filter(&mut s, "sort:newest".into());
    assert_eq!(keys(&s), ["d:1", "d:3", "d:2", "c:1"]);
    for e in &mut s.queue {
        e.created = None;
    }
    // In blind review the confidence or disagreement order would tell what others think;
    // turning blind on applies that at once.
    super::update::apply_filter(&mut s, "sort:confidence".into());
    update(&mut s, Action::ToggleBlind);
    assert_eq!(keys(&s), ["d:1", "d:2", "d:3", "c:1"]);
    super::update::apply_filter(&mut s, "sort:disagreement".into());
    assert_eq!(keys(&s), ["d:1", "d:2", "d:3", "c:1"]);
}

#[test]
fn the_layout_does_not_jump_between_dimensions() {
    let mut s = state();
    update(&mut s, Action::Last);
    s.size = (120, 40);
    let area = ratatui::layout::Rect::new(0, 0, 120, 40);
    let first = super::review::areas(area, &s).annotation;
    for d in 1..tax("sft").dimensions.len() {
        s.dim = d;
        assert_eq!(super::review::areas(area, &s).annotation, first, "dimension {d}");
    }
}

#[test]
fn tab_in_the_labels_pane_moves_among_dimensions_only() {
    let mut s = state();
    update(&mut s, Action::Last);
    s.pane = Pane::Annotation;
    s.dim = 0;
    let dims = tax("sft").dimensions.len();
    for i in 1..=dims {
        update(&mut s, Action::NextPane);
        assert_eq!((s.pane, s.dim), (Pane::Annotation, i % dims), "tab {i}");
    }
    // Shift-Tab from the first dimension leaves the pane.
    update(&mut s, Action::PrevPane);
    assert_ne!(s.pane, Pane::Annotation);
}

#[test]
fn the_picker_filters_by_alias_and_dimension_and_replaces_in_pick_one_dimensions() {
    let mut s = state();
    update(&mut s, Action::Last);
    update(&mut s, Action::LabelPicker);
    for c in "debug".chars() {
        update(&mut s, press(KeyCode::Char(c)));
    }
    let m = super::update::picker_matches(&s, "debug");
    assert_eq!(m[0].label, "fix", "an alias finds its label");
    update(&mut s, press(KeyCode::Enter));
    for c in "build".chars() {
        update(&mut s, press(KeyCode::Char(c)));
    }
    update(&mut s, press(KeyCode::Enter));
    assert!(
        s.draft.labels.contains("build") && !s.draft.labels.contains("fix"),
        "intent takes one"
    );
    // A dimension's name lists its labels; arrows move; Backspace edits.
    let m = super::update::picker_matches(&s, "agentic");
    assert!(m.iter().any(|m| m.label == "tool-calling"));
    for c in "zzzz".chars() {
        update(&mut s, press(KeyCode::Char(c)));
    }
    update(&mut s, press(KeyCode::Enter));
    assert_eq!(s.draft.labels.len(), 1, "no match: nothing toggled");
    let Overlay::Picker(p) = &s.overlay else { panic!("open") };
    assert_eq!(p.query, "zzzz", "the query stays, so a second Enter does not save");
    assert!(update(&mut s, press(KeyCode::Enter)).is_empty());
    for _ in 0..4 {
        update(&mut s, press(KeyCode::Backspace));
    }
    // Rendering at 80x24 shows the picker with its query.
    for c in "py".chars() {
        update(&mut s, press(KeyCode::Char(c)));
    }
    s.size = (80, 24);
    let term = render(&s, "default", 80, 24);
    let text: String = term.backend().buffer().content.iter().map(|c| c.symbol()).collect();
    assert!(text.contains("labels — type to filter") && text.contains("> py"), "{text}");
    assert!(text.contains("[ ] python"), "{text}");
}

#[test]
fn accept_takes_confident_labels_up_to_max() {
    let mut s = state();
    update(&mut s, Action::Accept);
    let mut got: Vec<_> = s.draft.labels.iter().cloned().collect();
    got.sort();
    // 0.9, 0.7, 0.65 and 0.62 pass 0.6; max_labels 3 keeps the top three.
    assert_eq!(got, ["bug", "performance", "ux"]);
    let mut s = state();
    update(&mut s, Action::ToggleBlind);
    update(&mut s, Action::Accept);
    assert!(s.draft.labels.is_empty(), "blind mode hides suggestions, so nothing is accepted");
}

#[test]
fn save_next_records_labels_mode_duration_and_suggestion_then_advances() {
    let mut s = state();
    s.now_ms = 1_000;
    s.draft.started_ms = 1_000;
    update(&mut s, Action::Toggle(1));
    s.now_ms = 5_400;
    let fx = update(&mut s, Action::SaveNext);
    let a = saves(&fx)[0].clone();
    assert_eq!((a.item.as_str(), a.labels.as_slice()), ("d:1", ["bug".to_string()].as_slice()));
    assert_eq!(a.mode, Mode::Assisted);
    assert_eq!(a.duration_ms, Some(4_400));
    assert_eq!(a.suggestion.as_ref().map(|r| r.run.as_str()), Some("r-1"));
    assert_eq!(s.cursor, 1, "Enter moves on at once");
    assert!(s.queue[0].saving);
    assert!(
        fx.iter().any(|e| matches!(e, Effect::LoadItem { key, .. } if key == "d:3")),
        "prefetch"
    );
    // Nothing selected: Enter refuses instead of saving an empty answer.
    assert!(saves(&update(&mut s, Action::SaveNext)).is_empty());
}

#[test]
fn blind_save_hides_the_suggestion_and_records_blind() {
    let mut s = state();
    update(&mut s, Action::ToggleBlind);
    assert!(!s.suggestions_visible());
    update(&mut s, Action::Toggle(4));
    let fx = update(&mut s, Action::SaveNext);
    let a = saves(&fx)[0];
    assert_eq!(a.mode, Mode::Blind);
    // Recorded though not shown (the mode says so), as `sift annotate --mode blind` does.
    assert_eq!(a.suggestion.as_ref().map(|s| s.run.as_str()), Some("r-1"));
    update(
        &mut s,
        Action::Saved {
            req: 1,
            key: "d:1".into(),
            labels: vec!["question".into()],
            behind: None,
            disputed: None,
        },
    );
    update(&mut s, Action::MoveUp);
    assert!(s.suggestions_visible(), "revealed once saved");
    update(&mut s, Action::ToggleBlind);
    assert!(!s.blind);
}

#[test]
fn sample_mode_records_the_week() {
    let mut s = state();
    s.sample_week = Some("2026-W46".into());
    update(&mut s, Action::Toggle(1));
    let fx = update(&mut s, Action::SaveNext);
    let a = saves(&fx)[0];
    assert_eq!((a.mode, a.week.as_deref()), (Mode::Sample, Some("2026-W46")));
    // The suggestion the sample answer is scored against, recorded though not shown.
    assert!(a.suggestion.is_some());
}

#[test]
fn saved_failed_and_undo() {
    let mut s = state();
    update(&mut s, Action::Toggle(1));
    let fx = update(&mut s, Action::SaveNext);
    let Effect::Save { req, .. } = fx[0] else { panic!("save first") };
    update(
        &mut s,
        Action::Saved {
            req,
            key: "d:1".into(),
            labels: vec!["bug".into()],
            behind: None,
            disputed: None,
        },
    );
    assert_eq!(s.queue[0].mine.as_deref(), Some(["bug".to_string()].as_slice()));
    assert_eq!(s.saved_this_session, 1);
    let fx = update(&mut s, Action::Undo);
    let a = saves(&fx)[0];
    assert!(a.retracted && a.labels.is_empty(), "no earlier answer: the undo retracts");
    assert_eq!(s.cursor, 0, "undo goes back to the item");
    assert!(s.draft.labels.contains("bug"), "with its labels ready to change");
    update(&mut s, Action::Undone { req: 9, key: "d:1".into(), labels: None, behind: None });
    assert_eq!(s.queue[0].mine, None);
    assert!(saves(&update(&mut s, Action::Undo)).is_empty(), "nothing left to undo");
    // A failed save is shown and leaves the item unsaved.
    update(&mut s, Action::Toggle(2));
    let fx = update(&mut s, Action::SaveNext);
    let Effect::Save { req, .. } = fx[0] else { panic!("save") };
    update(&mut s, Action::SaveFailed { req, key: "d:1".into(), error: "disk full".into() });
    assert!(!s.queue[0].saving && s.queue[0].mine.is_none());
    assert!(
        s.message.as_ref().is_some_and(|(m, _)| m.contains("NOT saved") && m.contains("disk full"))
    );
    assert!(s.undo_stack.is_empty());
    update(&mut s, Action::Failed { error: "boom".into() });
    assert_eq!(s.message.as_ref().map(|(m, _)| m.as_str()), Some("boom"));
}

#[test]
fn undo_restores_an_earlier_answer() {
    let mut s = state();
    s.queue[0].mine = Some(vec!["question".into()]);
    // The earlier answer had a note; the new one gets another.
    s.loaded.get_mut("d:1").unwrap().notes.insert("ann".into(), "asked in chat".into());
    super::update::focus(&mut s);
    update(&mut s, Action::Toggle(4));
    update(&mut s, Action::Toggle(1));
    s.note = ratatui_textarea::TextArea::from(["crash on save".to_string()]);
    update(&mut s, Action::SaveNext);
    let fx = update(&mut s, Action::Undo);
    let a = saves(&fx)[0];
    assert_eq!(a.labels, ["question"]);
    assert_eq!(a.note, "asked in chat", "the earlier answer comes back with its note");
    assert!(!a.retracted);
    assert_eq!(s.note.lines().join("\n"), "crash on save", "the undone note is back to edit");
}

#[test]
fn skip_moves_without_saving() {
    let mut s = state();
    update(&mut s, Action::Toggle(1));
    let fx = update(&mut s, Action::Skip);
    assert!(saves(&fx).is_empty());
    assert_eq!(s.cursor, 1);
    assert!(s.draft.labels.is_empty(), "the next item starts from its own answer");
}

#[test]
fn note_editor_swallows_keys() {
    let mut s = state();
    update(&mut s, Action::EditNote);
    assert_eq!(s.overlay, Overlay::Note);
    assert_eq!(s.key_view(), "note");
    for c in "flaky?".chars() {
        update(&mut s, Action::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE)));
    }
    assert!(s.draft.labels.is_empty());
    update(&mut s, Action::Close);
    assert_eq!(s.overlay, Overlay::None);
    update(&mut s, Action::Toggle(1));
    let fx = update(&mut s, Action::SaveNext);
    assert_eq!(saves(&fx)[0].note, "flaky?");
}

#[test]
fn search_filters_and_clears() {
    let mut s = state();
    update(&mut s, Action::Search);
    for c in "dataset:c".chars() {
        update(&mut s, Action::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE)));
    }
    update(&mut s, Action::Key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE)));
    assert_eq!(s.visible.len(), 1);
    assert_eq!(s.current().map(|e| e.key.as_str()), Some("c:1"));
    update(&mut s, Action::ClearFilter);
    assert_eq!(s.visible.len(), 4);
    assert_eq!(s.current().map(|e| e.key.as_str()), Some("c:1"), "focus stays on the item");
    let sig = parse_filter("lang:Rust tools:yes turns:>4 turns:bogus");
    assert_eq!(sig.lang.as_deref(), Some("rust"));
    assert_eq!(sig.tools, Some(true));
    assert_eq!(sig.turns, Some((std::cmp::Ordering::Greater, 4)));
    assert_eq!(sig.text, ["turns:bogus"]);
    let mut e = entry("d:9", "d");
    e.signals = crate::text::signals::Brief::parse("rust,python|2|6|1");
    assert!(super::update::matches(&parse_filter("lang:Rust tools:yes turns:>4"), &e, false));
    assert!(!super::update::matches(&parse_filter("turns:<6"), &e, false));
    assert!(!super::update::matches(&parse_filter("tools:no"), &e, false));
    assert!(!super::update::matches(&parse_filter("lang:go"), &e, false));
    assert!(super::update::matches(&parse_filter("turns:6 lang:py"), &e, false), "aliases fold");
    let mut old = entry("d:8", "d");
    old.signals = crate::text::signals::Brief::parse("");
    assert!(!super::update::matches(&parse_filter("tools:no"), &old, false), "unknown signals");
    assert!(super::update::matches(&parse_filter(""), &old, false));
    let f = parse_filter("status:disputed label:bug repo:o/r crash");
    assert_eq!(
        (f.status.as_deref(), f.label.as_deref(), f.repo.as_deref()),
        (Some("disputed"), Some("bug"), Some("o/r"))
    );
    assert_eq!(f.text, ["crash"]);
    // Esc in the search line cancels without changing the filter.
    update(&mut s, Action::Search);
    update(&mut s, Action::Key(KeyEvent::new(KeyCode::Char('z'), KeyModifiers::NONE)));
    update(&mut s, Action::Key(KeyEvent::new(KeyCode::Esc, KeyModifiers::NONE)));
    assert_eq!((s.overlay.clone(), s.visible.len()), (Overlay::None, 4));
}

#[test]
fn stale_loads_are_dropped() {
    let mut s = state();
    s.loading.insert("d:2".into(), 7);
    let item = Box::new(Some(Item { key: "d:2".into(), ..Default::default() }));
    update(
        &mut s,
        Action::ItemLoaded {
            req: 3,
            key: "d:2".into(),
            item: item.clone(),
            suggestion: None,
            answers: vec![],
            similar: vec![],
            notes: Default::default(),
        },
    );
    assert!(!s.loaded.contains_key("d:2"), "an older request's answer is ignored");
    update(
        &mut s,
        Action::ItemLoaded {
            req: 7,
            key: "d:2".into(),
            item,
            suggestion: None,
            answers: vec![],
            similar: vec![],
            notes: Default::default(),
        },
    );
    assert!(s.loaded.contains_key("d:2"));
}

#[test]
fn adjudication_picks_an_answer_with_one_key() {
    let mut s = state();
    s.queue[0].disputed = true;
    s.queue[2].disputed = true;
    update(&mut s, Action::ViewAdjudicate);
    assert_eq!((s.view, s.visible.len()), (View::Adjudicate, 2), "only disputed items");
    assert_eq!(s.key_view(), "adjudicate");
    assert!(s.suggestions_visible(), "adjudicators see the suggestion");
    assert!(saves(&update(&mut s, Action::Pick(5))).is_empty(), "no 5th answer");
    let fx = update(&mut s, Action::Pick(2));
    let a = saves(&fx)[0];
    assert_eq!(a.mode, Mode::Adjudication);
    assert_eq!(a.labels, ["bug", "ux"], "bob's answer, in taxonomy order");
    assert!(a.note.contains("bob"));
    let Effect::Save { req, .. } = fx[0] else { panic!("save") };
    update(
        &mut s,
        Action::Saved {
            req,
            key: "d:1".into(),
            labels: a.labels.clone(),
            behind: None,
            disputed: None,
        },
    );
    assert!(!s.queue[0].disputed && s.queue[0].mine.is_none(), "resolved, not my own answer");
    // Editing instead of picking: toggle and Enter, still recorded as adjudication.
    s.cursor = 1;
    super::update::focus(&mut s);
    s.pane = Pane::Annotation;
    s.label_cursor = 3;
    update(&mut s, Action::ToggleCurrent);
    let fx = update(&mut s, Action::SaveNext);
    assert_eq!(saves(&fx)[0].mode, Mode::Adjudication);
    assert_eq!(saves(&fx)[0].labels, ["question"]);
    update(&mut s, Action::Close);
    assert_eq!((s.view, s.visible.len()), (View::Review, 4));
    // Outside the adjudication view, pick does nothing.
    assert!(update(&mut s, Action::Pick(1)).is_empty());
}

#[test]
fn open_similar_jumps_to_the_item_even_through_a_filter() {
    let mut s = state();
    update(&mut s, Action::NextPane);
    update(&mut s, Action::NextPane);
    assert_eq!(s.pane, Pane::Suggestion);
    update(&mut s, Action::MoveDown);
    assert_eq!(s.similar_cursor, 0, "one similar item: the cursor stays");
    s.visible = vec![0];
    let fx = update(&mut s, Action::OpenSimilar);
    assert_eq!(s.current().map(|e| e.key.as_str()), Some("d:3"));
    assert_eq!(s.visible.len(), 4, "the filter was cleared to show it");
    assert!(fx.iter().any(|e| matches!(e, Effect::LoadItem { key, .. } if key == "d:3")));
    update(&mut s, Action::OpenSimilar);
    assert!(s.message.as_ref().is_some_and(|(m, _)| m.contains("no similar")));
}

#[test]
fn back_returns_to_the_item_and_filter_before_a_similar_item() {
    let mut s = state();
    super::update::apply_filter(&mut s, "d:1".into());
    assert_eq!(s.visible.len(), 1);
    update(&mut s, Action::OpenSimilar);
    assert_eq!(s.current().unwrap().key, "d:3");
    assert_eq!(s.filter_text, "", "the filter hid it: cleared");
    let fx = update(&mut s, Action::Back);
    assert_eq!(s.current().unwrap().key, "d:1");
    assert_eq!((s.filter_text.as_str(), s.visible.len()), ("d:1", 1), "the filter is back");
    assert!(
        fx.iter().any(|e| matches!(e, Effect::LoadItem { .. })) || s.loaded.contains_key("d:1")
    );
    update(&mut s, Action::Back);
    assert!(s.message.as_ref().is_some_and(|(m, _)| m.contains("nothing to go back to")));
}

#[test]
fn the_mouse_picks_queue_rows_focuses_panes_and_scrolls() {
    use super::action::MouseKind;
    let mut s = state();
    s.size = (120, 40);
    let a = super::review::areas(ratatui::layout::Rect::new(0, 0, 120, 40), &s);
    // The third row of the queue (inside its border).
    let fx = update(
        &mut s,
        Action::Mouse { kind: MouseKind::Click, column: a.queue.x + 3, row: a.queue.y + 3 },
    );
    assert_eq!((s.cursor, s.pane), (2, Pane::Queue));
    assert!(fx.iter().any(|e| matches!(e, Effect::LoadItem { key, .. } if key == "d:3")));
    // Below the last row: nothing moves.
    update(
        &mut s,
        Action::Mouse { kind: MouseKind::Click, column: a.queue.x + 3, row: a.queue.y + 20 },
    );
    assert_eq!(s.cursor, 2);
    update(
        &mut s,
        Action::Mouse { kind: MouseKind::ScrollUp, column: a.queue.x + 3, row: a.queue.y + 3 },
    );
    assert_eq!(s.cursor, 0);
    update(
        &mut s,
        Action::Mouse { kind: MouseKind::ScrollDown, column: a.item.x + 5, row: a.item.y + 5 },
    );
    assert_eq!(s.item_scroll, 3);
    update(
        &mut s,
        Action::Mouse {
            kind: MouseKind::Click,
            column: a.annotation.x + 2,
            row: a.annotation.y + 2,
        },
    );
    assert_eq!(s.pane, Pane::Annotation);
    // A click on a screen too small for sift does nothing (it used to panic in the layout).
    for (w, h) in [(60u16, 10u16), (80, 16), (20, 3)] {
        s.size = (w, h);
        update(&mut s, Action::Mouse { kind: MouseKind::Click, column: 1, row: 1 });
    }
    s.size = (120, 40);
    // An overlay takes the mouse away from the panes.
    s.overlay = Overlay::Help;
    update(
        &mut s,
        Action::Mouse { kind: MouseKind::Click, column: a.queue.x + 3, row: a.queue.y + 1 },
    );
    assert_eq!(s.pane, Pane::Annotation);
}

#[test]
fn w_opens_only_web_addresses_and_y_copies_through_osc52() {
    let mut item = issue();
    item.url = Some("https://github.com/o/r/issues/1".into());
    let mut s = loaded_state(item.clone(), "d");
    let fx = update(&mut s, Action::OpenBrowser);
    assert_eq!(fx, [Effect::OpenUrl { url: "https://github.com/o/r/issues/1".into() }]);
    let fx = update(&mut s, Action::CopyRef);
    assert_eq!(fx, [Effect::Copy { text: "https://github.com/o/r/issues/1".into() }]);
    for bad in ["file:///etc/passwd", "javascript:alert(1)", "-oProxyCommand=x"] {
        item.url = Some(bad.into());
        let mut s = loaded_state(item.clone(), "d");
        assert!(update(&mut s, Action::OpenBrowser).is_empty(), "{bad}");
        let fx = update(&mut s, Action::CopyRef);
        assert_eq!(fx, [Effect::Copy { text: "d:1".into() }], "the key instead of {bad}");
    }
    // In blind review the web page (with its labels) is not opened.
    item.url = Some("https://github.com/o/r/issues/1".into());
    let mut s = loaded_state(item.clone(), "d");
    s.blind = true;
    assert!(update(&mut s, Action::OpenBrowser).is_empty());
    let seq = super::osc52("key\u{1b}]0;pwned\u{7}");
    assert!(seq.starts_with("\u{1b}]52;c;") && seq.ends_with('\u{7}'));
    let inner = &seq[7..seq.len() - 1];
    assert!(!inner.chars().any(|c| c.is_control()), "{inner:?}");
}

#[test]
fn label_lists_scroll_with_markers_and_keep_the_cursor_in_view() {
    use super::review::label_window;
    assert_eq!(label_window(5, 8, 4), (0, 5), "fits");
    for n in [11usize, 14, 40] {
        for rows in 3..10 {
            for cursor in 0..n {
                let (first, end) = label_window(n, rows, cursor);
                let lines = end - first + usize::from(first > 0) + usize::from(end < n);
                assert!(first <= cursor && cursor < end, "{n} {rows} {cursor}: ({first}, {end})");
                assert!(lines <= rows, "{n} {rows} {cursor}: {lines} lines");
            }
        }
    }
    // At 80x24 the 14 language labels scroll: pressing 0 toggles the 10th, and it is shown.
    let mut s = state();
    update(&mut s, Action::Last);
    s.size = (80, 24);
    s.dim = 1;
    s.pane = Pane::Annotation;
    update(&mut s, Action::Toggle(10));
    let t = render(&s, "default", 80, 24);
    let text: String = t.backend().buffer().content.iter().map(|c| c.symbol()).collect();
    let tenth = &tax("sft").dimensions[1].labels[9].name;
    assert!(text.contains(&format!("[x] {tenth}")), "{tenth} shown: {text}");
    assert!(text.contains("more"), "a marker says more labels are hidden");
}

#[test]
fn the_status_line_keeps_its_message_at_80_columns() {
    let mut s = state();
    s.size = (80, 24);
    s.message =
        Some(("saved d:1 (2 labels), 3 left in the queue".into(), super::state::Severity::Ok));
    let t = render(&s, "default", 80, 24);
    let last: String =
        (0..80).map(|x| t.backend().buffer()[(x, 23)].symbol().to_string()).collect();
    assert!(last.contains("saved d:1 (2 labels), 3 left in the queue"), "{last}");
}

#[test]
fn visual_mode_labels_several_items_each_as_its_own_record_and_undoes_them_together() {
    let mut s = state();
    update(&mut s, Action::ToggleVisual);
    update(&mut s, Action::MoveDown);
    update(&mut s, Action::MoveDown);
    assert_eq!(s.selection(), 0..3);
    update(&mut s, Action::Toggle(1));
    let fx = update(&mut s, Action::SaveNext);
    let recs = saves(&fx);
    let keys: Vec<&str> = recs.iter().map(|a| a.item.as_str()).collect();
    assert_eq!(keys, ["d:1", "d:2", "d:3"]);
    assert!(recs.iter().all(|a| a.labels == ["bug"] && a.suggestion.is_none()));
    assert_eq!(s.visual, None, "visual mode ends with the save");
    assert_eq!(s.current().unwrap().key, "c:1", "the cursor moves past the selection");
    let fx = update(&mut s, Action::Undo);
    let undone = saves(&fx);
    assert_eq!(undone.len(), 3, "one undo takes back the three");
    assert!(undone.iter().all(|a| a.retracted), "they had no answer before");
    assert!(s.undo_stack.is_empty());
    // Esc leaves visual mode; a filter ends it too.
    update(&mut s, Action::ToggleVisual);
    update(&mut s, Action::ClearFilter);
    assert_eq!(s.visual, None);
    update(&mut s, Action::ToggleVisual);
    super::update::apply_filter(&mut s, "d:".into());
    assert_eq!(s.visual, None);
}

#[test]
fn sample_view_shows_progress_accuracy_trend_and_drift() {
    use crate::dataset::sample::WeekReport;
    let week = |w: &str, acc: Option<f64>, flags: &[&str]| WeekReport {
        week: w.into(),
        reviewed: 17,
        size: 20,
        accuracy: acc,
        ci95: acc.map(|_| [0.640, 0.948]),
        labels: Default::default(),
        psi: Some(0.31),
        chi2_p: Some(0.004),
        flags: flags.iter().map(|f| f.to_string()).collect(),
        distribution: [("bug".to_string(), (12, 20)), ("question".to_string(), (8, 4))]
            .into_iter()
            .collect(),
        overrides: [(
            "bug".to_string(),
            crate::dataset::sample::OverrideRate {
                applied: 10,
                removed: 2,
                added: 1,
                rate: Some(0.2),
            },
        )]
        .into_iter()
        .collect(),
    };
    let weeks = vec![
        week("2026-W45", Some(0.9), &[]),
        week("2026-W46", None, &[]),
        week("2026-W47", Some(0.85), &["drift"]),
    ];
    let mut s = state();
    update(&mut s, Action::ViewSample);
    assert_eq!(s.view, View::Sample);
    let keymap = Keymap::load(&Default::default()).unwrap();
    let theme = Theme::load("default", None, false).unwrap();
    let cx = super::ui::Ctx { theme: &theme, keymap: &keymap, stats: None, sample: Some(&weeks) };
    let mut t = Terminal::new(TestBackend::new(120, 36)).unwrap();
    t.draw(|f| super::ui::draw(f, &s, &cx)).unwrap();
    let text: String =
        t.backend().buffer().content.iter().map(|c| c.symbol().to_string()).collect();
    for needle in [
        "2026-W47",
        "accuracy 85%",
        "[64%, 95%]",
        "drift",
        "17/20",
        "PSI 0.310",
        "90% – 85%",
        "bug",
        "question",
        "overridden on GitHub",
        "20%",
    ] {
        assert!(text.contains(needle), "sample view lacks {needle:?}");
    }
    update(&mut s, Action::Close);
    assert_eq!(s.view, View::Review);
}

#[test]
fn push_view_plans_then_sends_only_on_the_second_press() {
    let mut s = state();
    s.queue[0].key = "github:o/r#1".into();
    s.queue[0].repo = Some("o/r".into());
    let fx = update(&mut s, Action::ViewPush);
    assert_eq!(s.view, View::Push);
    assert_eq!(s.key_view(), "push");
    assert_eq!(fx, vec![Effect::PlanPush { repo: "o/r".into(), apply: false }]);
    assert!(update(&mut s, Action::PushSend).is_empty(), "no plan yet");
    update(
        &mut s,
        Action::PushPlanned {
            repo: "o/r".into(),
            text: "o/r#1 (gold)\n  + bug\n".into(),
            entries: 1,
        },
    );
    assert!(update(&mut s, Action::PushSend).is_empty(), "the first press only arms");
    assert!(s.push.armed && s.message.as_ref().is_some_and(|(m, _)| m.contains("press P again")));
    assert_eq!(
        update(&mut s, Action::PushSend),
        vec![Effect::Push { repo: "o/r".into(), apply: false }]
    );
    assert!(s.push.running);
    assert!(update(&mut s, Action::PushSend).is_empty(), "no second push while one runs");
    update(&mut s, Action::PushProgress { line: "[1/1] add_labels github:o/r#1 done".into() });
    let t = render(&s, "default", 120, 30);
    let text: String =
        t.backend().buffer().content.iter().map(|c| c.symbol().to_string()).collect();
    assert!(text.contains("+ bug") && text.contains("[1/1]"), "plan and progress are shown");
    let fx = update(&mut s, Action::PushDone { summary: "push p-1: 1 done, 0 failed".into() });
    assert!(!s.push.running);
    assert_eq!(
        fx,
        vec![Effect::PlanPush { repo: "o/r".into(), apply: false }],
        "re-planned after sending"
    );
    let fx = update(&mut s, Action::PushMode);
    assert_eq!(fx, vec![Effect::PlanPush { repo: "o/r".into(), apply: true }]);
    update(&mut s, Action::PushPlanned { repo: "o/r".into(), text: String::new(), entries: 0 });
    update(&mut s, Action::PushSend);
    assert!(!s.push.armed, "nothing to push: nothing to arm");
    update(&mut s, Action::Close);
    assert_eq!(s.view, View::Review);
}

#[test]
fn suggestion_status_arrives_after_the_first_frame() {
    let mut s = state();
    for e in &mut s.queue {
        e.suggested = false;
        e.suggested_labels.clear();
    }
    update(&mut s, Action::Search);
    for c in "label:ux".chars() {
        update(&mut s, Action::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE)));
    }
    update(&mut s, Action::Key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE)));
    assert!(s.visible.is_empty(), "nothing is known to be suggested yet");
    let labels = [("d:2".to_string(), vec!["ux".to_string()])].into_iter().collect();
    let mut bands = [(0, 0); 10];
    bands[8] = (3, 5);
    let inconsistent = ["d:3".to_string()].into_iter().collect();
    let status = super::SuggestionStatus { labels, bands, inconsistent, ..Default::default() };
    update(&mut s, Action::SuggestionStatus(Box::new(status)));
    assert!(s.queue[1].suggested && !s.queue[0].suggested);
    assert_eq!(s.band(0.85), Some(0.6));
    assert_eq!(s.visible, vec![1], "the pending label filter is applied again");
    // `status:inconsistent` shows the items whose suggestion breaks a rule.
    update(&mut s, Action::Search);
    for _ in 0.."label:ux".len() {
        update(&mut s, Action::Key(KeyEvent::new(KeyCode::Backspace, KeyModifiers::NONE)));
    }
    for c in "status:inconsistent".chars() {
        update(&mut s, Action::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE)));
    }
    update(&mut s, Action::Key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE)));
    assert_eq!(s.visible, vec![2], "{}", s.filter_text);
}

#[test]
fn suggestions_can_be_requested_for_the_item_or_the_queue() {
    let mut s = state();
    assert_eq!(
        update(&mut s, Action::SuggestItem),
        vec![Effect::Suggest { keys: vec!["d:1".into()] }]
    );
    let all = update(&mut s, Action::SuggestQueue);
    assert_eq!(
        all,
        vec![Effect::Suggest {
            keys: vec!["d:1".into(), "d:2".into(), "d:3".into(), "c:1".into()]
        }]
    );
    s.queue[1].suggested = false;
    assert!(
        update(&mut s, Action::Suggested { key: "d:2".into() }).is_empty(),
        "not loaded: no reload"
    );
    assert!(s.queue[1].suggested);
    let fx = update(&mut s, Action::Suggested { key: "d:1".into() });
    assert!(
        matches!(&fx[..], [Effect::LoadItem { key, .. }] if key == "d:1"),
        "the shown item reloads"
    );
    update(&mut s, Action::SuggestDone { summary: "suggestions: 1 answered".into() });
    assert_eq!(s.message.as_ref().map(|(m, _)| m.as_str()), Some("suggestions: 1 answered"));
}

#[test]
fn runs_view_lists_and_compares_two_runs() {
    let mut s = state();
    assert_eq!(update(&mut s, Action::ViewRuns), vec![Effect::ListRuns]);
    assert_eq!(s.key_view(), "runs");
    let rows = vec![
        ("r-1".to_string(), "run one".to_string()),
        ("r-2".to_string(), "run two".to_string()),
    ];
    update(&mut s, Action::RunsListed { rows });
    assert!(update(&mut s, Action::CompareMark).is_empty(), "the first c marks A");
    assert!(update(&mut s, Action::CompareMark).is_empty(), "c on the same run keeps it marked");
    update(&mut s, Action::MoveDown);
    assert_eq!(
        update(&mut s, Action::CompareMark),
        vec![Effect::CompareRuns { a: "r-1".into(), b: "r-2".into() }]
    );
    update(&mut s, Action::RunsCompared { lines: vec!["3 flipped".into()] });
    let t = render(&s, "default", 120, 30);
    let text: String =
        t.backend().buffer().content.iter().map(|c| c.symbol().to_string()).collect();
    assert!(text.contains("run two") && text.contains("3 flipped"));
    update(&mut s, Action::Close);
    assert_eq!(s.view, View::Review);
}

#[test]
fn push_summary_reports_resumed_failures_skips_and_a_refused_token() {
    use crate::github::push::PushReport;
    assert_eq!(worker::push_summary(&[], None), "nothing to push");
    let resumed = PushReport {
        push_id: Some("p-old".into()),
        failed: 1,
        skipped: 1,
        skips: vec!["o/r#7: `/label off` on this issue".into()],
        ..Default::default()
    };
    let line = worker::push_summary(std::slice::from_ref(&resumed), None);
    assert!(line.contains("resumed push p-old: 0 done, 1 failed"), "{line}");
    assert!(line.contains("skipped o/r#7") && !line.contains('\n'), "{line}");
    let stopped = PushReport {
        push_id: Some("p-new".into()),
        done: 1,
        stopped: Some("HTTP 401".into()),
        ..Default::default()
    };
    let line = worker::push_summary(&[], Some(&stopped));
    assert!(line.contains("stopped: HTTP 401") && !line.contains("undo"), "{line}");
    let done = PushReport { push_id: Some("p-2".into()), done: 2, ..Default::default() };
    let line = worker::push_summary(&[], Some(&done));
    assert!(line.contains("2 done") && line.contains("--revert p-2"), "{line}");
}

#[test]
fn worker_lists_and_compares_the_demo_runs() {
    let dir = tempfile::tempdir().unwrap();
    let ov = crate::workspace::Overrides { annotator: Some("t".into()), theme: None };
    let ctx = crate::demo::prepare(dir.path(), &ov).unwrap();
    let Action::RunsListed { rows } = worker::list_runs(&ctx) else { panic!("runs listed") };
    // Keywords over both demo datasets, the local model over the demo's issues, and the
    // labeling bot's last week.
    assert_eq!(rows.len(), 4, "{rows:?}");
    assert!(rows.iter().any(|(_, l)| l.contains("demo-keywords") && l.contains("60 suggestions")));
    assert!(rows.iter().any(|(_, l)| l.contains("demo-local") && l.contains("local/local:")));
    let Action::RunsCompared { lines } =
        worker::compare_runs(&ctx, "demo-keywords", "demo-chat-keywords")
    else {
        panic!("compared")
    };
    assert!(lines[2].contains("0 common items, 60 only in A, 20 only in B"), "{lines:?}");
    assert!(lines[3].starts_with("warning: the two runs cover different items"), "{lines:?}");
    assert!(lines[0].contains("no gold items both runs answered"), "{lines:?}");
    let Action::RunsCompared { lines } =
        worker::compare_runs(&ctx, "demo-keywords", "demo-keywords")
    else {
        panic!("compared")
    };
    assert!(lines[0].contains("F1") && lines[0].contains("gold items both answered"), "{lines:?}");
}

#[test]
fn the_runs_view_names_the_baseline_and_experiments_and_hides_archived_runs() {
    let dir = tempfile::tempdir().unwrap();
    let ov = crate::workspace::Overrides { annotator: Some("t".into()), theme: None };
    let ctx = crate::demo::prepare(dir.path(), &ov).unwrap();
    crate::suggest::lifecycle::promote(&ctx.ws, &ctx.store, "demo-keywords", false).unwrap();
    let mut r = ctx.store.run("demo-keywords").unwrap().unwrap();
    r.config["experiment"] = serde_json::json!("kw-v2");
    r.config["arm"] = serde_json::json!("control");
    ctx.store.save_run(&r).unwrap();
    crate::suggest::lifecycle::archive(&ctx.store, "demo-chat-keywords").unwrap();
    let Action::RunsListed { rows } = worker::list_runs(&ctx) else { panic!("runs listed") };
    assert_eq!(rows.len(), 3, "the archived run is hidden: {rows:?}");
    assert!(!rows.iter().any(|(_, l)| l.contains("demo-chat-keywords")), "{rows:?}");
    let baseline: Vec<_> = rows.iter().filter(|(_, l)| l.contains("★ baseline")).collect();
    assert_eq!(baseline.len(), 1, "{rows:?}");
    assert!(
        baseline[0].1.contains("demo-keywords · ") && baseline[0].1.contains("kw-v2 (control)")
    );
}

#[test]
fn views_switch() {
    let mut s = state();
    update(&mut s, Action::ViewStats);
    assert_eq!((s.view, s.key_view()), (View::Stats, "stats"));
    update(&mut s, Action::Close);
    assert_eq!(s.view, View::Review);
    update(&mut s, Action::ViewStats);
    update(&mut s, Action::ViewReview);
    assert_eq!(s.view, View::Review);
}

// ---- rendering ----------------------------------------------------------------------------------

fn render(s: &State, theme: &str, w: u16, h: u16) -> Terminal<TestBackend> {
    let keymap = Keymap::load(&Default::default()).unwrap();
    let theme = Theme::load(theme, None, false).unwrap();
    let cx = super::ui::Ctx { theme: &theme, keymap: &keymap, stats: None, sample: None };
    let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
    t.draw(|f| super::ui::draw(f, s, &cx)).unwrap();
    t
}

fn loaded_state(item: Item, dataset: &str) -> State {
    let mut s = state();
    let pos = s.queue.iter().position(|e| e.dataset == dataset).unwrap();
    s.cursor = pos;
    s.queue[pos].key = item.key.clone();
    s.queue[pos].title = crate::text::one_line(&item.title);
    super::update::focus(&mut s);
    let sugg = suggestion(&item.key, &[("bug", 0.82), ("performance", 0.55)]);
    s.loaded.insert(
        item.key.clone(),
        Loaded::new(worker::clean_item(item), Some(sugg), vec![], vec![], Default::default()),
    );
    s
}

fn issue() -> Item {
    Item {
        key: "d:1".into(),
        dataset: "d".into(),
        kind: Some(ItemKind::Issue),
        title: "Crash when saving a file named 📝 notes.md".into(),
        body: "Steps:\n1. open\n```\nthread 'main' panicked at src/lib.rs:1\n```\nThanks".into(),
        repo: Some("o/r".into()),
        ..Default::default()
    }
}

#[test]
fn snapshot_review_issue_dark_and_light() {
    let mut s = loaded_state(issue(), "d");
    s.band_accuracy[8] = (61, 100);
    s.draft.labels.insert("bug".into());
    let dark = render(&s, "default", 120, 32);
    insta::assert_snapshot!("review_issue", dark.backend());
    let light = render(&s, "light", 120, 32);
    assert_eq!(dark.backend().buffer().content.len(), light.backend().buffer().content.len());
    // Same text, different colours: the themes apply their roles.
    let text = |t: &Terminal<TestBackend>| {
        t.backend().buffer().content.iter().map(|c| c.symbol().to_string()).collect::<String>()
    };
    assert_eq!(text(&dark), text(&light));
    let fg = |t: &Terminal<TestBackend>| {
        t.backend().buffer().content.iter().map(|c| c.fg).collect::<Vec<_>>()
    };
    assert_ne!(fg(&dark), fg(&light));
    assert!(text(&dark).contains("0.82 · 61% right"), "measured band accuracy beside the number");
}

#[test]
fn snapshot_conversation_with_tool_call() {
    let item = Item {
        key: "c:1".into(),
        dataset: "c".into(),
        kind: Some(ItemKind::Conversation),
        title: "Run the tests".into(),
        turns: vec![
            Turn {
                role: "system".into(),
                content: "You are a coding agent.".into(),
                tool_calls: vec![],
            },
            Turn { role: "user".into(), content: "Why does CI fail?".into(), tool_calls: vec![] },
            Turn {
                role: "assistant".into(),
                content: "Let me run them.".into(),
                tool_calls: vec![ToolCall {
                    name: "run_tests".into(),
                    arguments: "{\"path\":\"tests/\"}".into(),
                }],
            },
            Turn { role: "tool".into(), content: "1 failed".into(), tool_calls: vec![] },
        ],
        ..Default::default()
    };
    let s = loaded_state(item, "c");
    let t = render(&s, "light", 120, 32);
    insta::assert_snapshot!("review_conversation", t.backend());
}

#[test]
fn hostile_text_never_reaches_the_terminal() {
    let mut item = issue();
    item.title = "Evil \u{1b}]0;pwned\u{7}title \u{1b}[31mred\u{1b}[0m".into();
    item.body = "clear\u{1b}[2J screen\rover\u{9b}31m and \u{7} bell\n漢字 wide".into();
    let s = loaded_state(item, "d");
    let t = render(&s, "default", 120, 32);
    let buf = t.backend().buffer();
    for cell in &buf.content {
        assert!(
            !cell.symbol().chars().any(|c| c.is_control()),
            "control char in {:?}",
            cell.symbol()
        );
    }
    insta::assert_snapshot!("review_hostile", t.backend());
}

#[test]
fn too_small_shows_a_message() {
    let s = state();
    let t = render(&s, "default", 60, 15);
    let text: String =
        t.backend().buffer().content.iter().map(|c| c.symbol().to_string()).collect();
    assert!(text.contains("too small") && text.contains("80x20"), "{text}");
}

#[test]
fn help_lists_bindings_from_the_keymap() {
    let mut s = state();
    s.overlay = Overlay::Help;
    let t = render(&s, "default", 120, 60);
    let text: String =
        t.backend().buffer().content.iter().map(|c| c.symbol().to_string()).collect();
    for needle in ["save_next", "Enter", "toggle_blind", "undo"] {
        assert!(text.contains(needle), "help lacks {needle}");
    }
}

#[test]
fn help_wraps_descriptions_in_their_column_at_80x24() {
    let mut s = state();
    s.overlay = Overlay::Help;
    let t = render(&s, "default", 80, 24);
    let buf = t.backend().buffer();
    let rows: Vec<String> =
        (0..24).map(|y| (0..80).map(|x| buf[(x, y)].symbol().to_string()).collect()).collect();
    // A wrapped description continues under its own column, not at the left edge.
    let at = rows.iter().position(|r| r.contains("view_push")).expect("view_push listed");
    let next = &rows[at + 1];
    let col = rows[at].find("push plans").expect("description on the key's line");
    assert!(next[..col].trim_matches(|c| c == ' ' || c == '│').is_empty(), "{next}");
    assert!(super::help::wrap_words("a bb ccc dddd", 6) == ["a bb", "ccc", "dddd"]);
}

#[test]
fn narrow_tables_drop_columns_by_priority() {
    let cols = [(12, 0), (6, 1), (9, 2), (7, 3)];
    assert_eq!(super::stats::fit_columns(40, &cols), [true, true, true, true]);
    assert_eq!(super::stats::fit_columns(28, &cols), [true, true, true, false]);
    assert_eq!(super::stats::fit_columns(5, &cols), [true, false, false, false], "the first stays");
}

/// A render with the stats and sample data a view may need.
fn render_full(
    s: &State,
    w: u16,
    h: u16,
    stats: Option<&super::stats::StatsView>,
) -> Terminal<TestBackend> {
    let keymap = Keymap::load(&Default::default()).unwrap();
    let theme = Theme::load("default", None, false).unwrap();
    let cx = super::ui::Ctx { theme: &theme, keymap: &keymap, stats, sample: Some(&[]) };
    let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
    t.draw(|f| super::ui::draw(f, s, &cx)).unwrap();
    t
}

/// Every border cell of a pane is still a border: wide characters did not push it out.
fn assert_frames_whole(t: &Terminal<TestBackend>, what: &str) {
    let buf = t.backend().buffer();
    let (w, h) = (buf.area.width, buf.area.height);
    for y in 0..h.saturating_sub(1) {
        let last = buf[(w - 1, y)].symbol();
        assert!(
            ["│", "┐", "┘", "┤", "┌", "└", "─", " "].contains(&last),
            "{what}: row {y} ends in {last:?}"
        );
    }
}

/// An issue and a conversation full of wide text: CJK, emoji with joiners, flags.
fn wide_item() -> Item {
    let mut item = issue();
    item.title = "漢字のタイトル 👩‍👩‍👧 🇯🇵🇫🇷 mixed width".into();
    item.body =
        "## 見出し\n- 項目 🙂\n| 名前 | 値 |\n|---|---|\n| 日本 🇯🇵 | 1 |\n全角テキストが続きます。"
            .into();
    item
}

#[test]
fn every_view_at_80x24_and_160x50() {
    let dir = tempfile::tempdir().unwrap();
    let ov = crate::workspace::Overrides { annotator: Some("t".into()), theme: None };
    let ctx = crate::demo::prepare(dir.path(), &ov).unwrap();
    let stats = super::stats::StatsView::compute(&ctx.store, &tax("issues"), "demo").unwrap();
    for (w, h) in [(80u16, 24u16), (160, 50)] {
        let size = format!("{w}x{h}");
        let base = || {
            let mut s = loaded_state(issue(), "d");
            s.size = (w, h);
            s
        };
        let mut cases: Vec<(&str, State)> = vec![("review", base())];
        let mut wide = loaded_state(wide_item(), "d");
        wide.size = (w, h);
        cases.push(("review_wide", wide));
        let mut picker = base();
        update(&mut picker, Action::Last);
        update(&mut picker, Action::LabelPicker);
        for c in "py".chars() {
            update(&mut picker, press(KeyCode::Char(c)));
        }
        cases.push(("picker", picker));
        let mut help = base();
        help.overlay = Overlay::Help;
        cases.push(("help", help));
        let mut search = base();
        search.overlay = Overlay::Search("sort:confidence".into());
        cases.push(("search", search));
        for (name, action) in [
            ("stats", Action::ViewStats),
            ("adjudicate", Action::ViewAdjudicate),
            ("sample", Action::ViewSample),
            ("push", Action::ViewPush),
            ("runs", Action::ViewRuns),
        ] {
            let mut v = base();
            update(&mut v, action);
            cases.push((name, v));
        }
        for (name, st) in cases {
            let t = render_full(&st, w, h, Some(&stats));
            assert_frames_whole(&t, &format!("{name} {size}"));
            for cell in &t.backend().buffer().content {
                assert!(!cell.symbol().chars().any(|c| c.is_control()), "{name} {size}");
            }
            insta::assert_snapshot!(format!("view_{name}_{size}"), t.backend());
        }
    }
}

#[test]
fn a_view_switch_leaves_no_stray_wide_glyphs() {
    let mut s = loaded_state(wide_item(), "d");
    s.size = (80, 24);
    let keymap = Keymap::load(&Default::default()).unwrap();
    let theme = Theme::load("default", None, false).unwrap();
    let cx = super::ui::Ctx { theme: &theme, keymap: &keymap, stats: None, sample: Some(&[]) };
    let mut t = Terminal::new(TestBackend::new(80, 24)).unwrap();
    t.draw(|f| super::ui::draw(f, &s, &cx)).unwrap();
    for action in [Action::ViewRuns, Action::ViewReview, Action::ViewPush] {
        update(&mut s, action);
        // Drawn over the previous frame (only changed cells are written, as in a terminal)...
        t.draw(|f| super::ui::draw(f, &s, &cx)).unwrap();
        // ...it must show what a frame drawn from scratch shows.
        let mut fresh = Terminal::new(TestBackend::new(80, 24)).unwrap();
        fresh.draw(|f| super::ui::draw(f, &s, &cx)).unwrap();
        assert_eq!(
            visible(t.backend().buffer()),
            visible(fresh.backend().buffer()),
            "{:?}",
            s.view
        );
    }
}

/// The rows as a terminal shows them: a cell covered by the wide glyph before it is not seen.
fn visible(buf: &ratatui::buffer::Buffer) -> Vec<String> {
    use unicode_width::UnicodeWidthStr;
    (0..buf.area.height)
        .map(|y| {
            let mut row = String::new();
            let mut x = 0;
            while x < buf.area.width {
                let sym = buf[(x, y)].symbol();
                row.push_str(sym);
                x += sym.width().max(1) as u16;
            }
            row
        })
        .collect()
}

// ---- headless end to end -------------------------------------------------------------------------

fn key(c: char) -> Event {
    Event::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE))
}

fn enter() -> Event {
    Event::Key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE))
}

/// Handle the worker's messages until nothing is loading: what a person sees before the next
/// key. Keys are fed by state, not by the clock, so a loaded machine runs the same test.
async fn settle(app: &mut App, rx: &mut tokio::sync::mpsc::UnboundedReceiver<worker::Msg>) {
    while !app.state.loading.is_empty() {
        let msg = tokio::time::timeout(std::time::Duration::from_secs(120), rx.recv())
            .await
            .expect("the worker answers")
            .expect("the worker is running");
        super::handle(app, msg);
    }
}

/// Build the demo workspace, open the app on a TestBackend, feed `keys` through the action
/// channel, run until `q`, and return the workspace folder.
fn drive(keys: Vec<Event>, opts: Options) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let ov = crate::workspace::Overrides { annotator: Some("tester".into()), theme: None };
    let ctx = crate::demo::prepare(dir.path(), &ov).unwrap();
    let state = load_state(&ctx.ws, &ctx.store, &ctx.labels, "tester", &opts).unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let (jobs, handle) = worker::spawn(ctx, tx.clone(), opts.keys.is_some());
    let keymap = Keymap::load(&Default::default()).unwrap();
    let mut app = App::new(state, keymap, Theme::load("default", None, true).unwrap(), jobs);
    app.state.size = (160, 50);
    let mut terminal = Terminal::new(TestBackend::new(160, 50)).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        app.start();
        app.draw(&mut terminal).unwrap();
        for k in keys {
            settle(&mut app, &mut rx).await;
            super::handle(&mut app, worker::Msg::Input(k));
            app.draw(&mut terminal).unwrap();
        }
        // Saves still on their way are written before quitting.
        while !app.state.pending_saves.is_empty() {
            super::handle(&mut app, rx.recv().await.expect("the worker is running"));
        }
        super::handle(&mut app, worker::Msg::Input(key('q')));
        assert!(app.state.should_quit);
    });
    drop(tx);
    drop(app);
    handle.join().unwrap();
    dir
}

fn records(dir: &Path) -> Vec<serde_json::Value> {
    let text =
        std::fs::read_to_string(dir.join("annotations/demo/tester.jsonl")).unwrap_or_default();
    text.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

#[test]
fn keyboard_only_labeling_of_20_demo_items_writes_20_records() {
    let labels = ["bug", "enhancement", "documentation", "question", "ux"];
    let mut keys = vec![
        key('/'),
        key('d'),
        key('a'),
        key('t'),
        key('a'),
        key('s'),
        key('e'),
        key('t'),
        key(':'),
        key('d'),
        key('e'),
        key('m'),
        key('o'),
        enter(),
    ];
    for i in 0..20 {
        keys.push(key(char::from(b'1' + (i % 5) as u8)));
        if i == 7 {
            keys.push(key('b')); // blind from the 8th item on
        }
        keys.push(enter());
    }
    let dir = drive(keys, Options::default());
    let recs = records(dir.path());
    assert_eq!(recs.len(), 20, "{recs:#?}");
    let store = crate::store::Store::open(&dir.path().join(".sift/store.db")).unwrap();
    for (i, r) in recs.iter().enumerate() {
        assert_eq!(r["annotator"], "tester");
        assert_eq!(r["item"], format!("demo:{}", 101 + i));
        assert_eq!(r["labels"], serde_json::json!([labels[i % 5]]));
        // `b` was pressed on the 8th item (index 7), before its Enter.
        let mode = if i >= 7 { "blind" } else { "assisted" };
        assert_eq!(r["mode"], mode, "record {i}");
        assert!(r["duration_ms"].as_u64().is_some());
        // Blind or not, a record carries the suggestion its item had (the mode says whether
        // it was shown); the item was on screen, loaded, when its keys were pressed.
        let key = r["item"].as_str().unwrap();
        let had = store.latest_suggestion(key).unwrap().map(|s| s.suggestion.run);
        assert_eq!(r["suggestion"]["run"].as_str(), had.as_deref(), "record {i}");
    }
    // Everything the screen showed as saved is in the store as well.
    let mine = store
        .latest_answers(Some("demo"))
        .unwrap()
        .into_iter()
        .filter(|a| a.annotation.annotator == "tester")
        .count();
    assert_eq!(mine, 20);
}

#[test]
fn suggest_key_runs_the_provider_and_stores_a_run() {
    let dir = drive(
        vec![Event::Key(KeyEvent::new(KeyCode::Char('S'), KeyModifiers::SHIFT))],
        Options::default(),
    );
    let store = crate::store::Store::open(&dir.path().join(".sift/store.db")).unwrap();
    let run = store
        .runs()
        .unwrap()
        .into_iter()
        .find(|r| r.name.as_deref().is_some_and(|n| n.starts_with("tui-")));
    let run = run.expect("a run made from the review screen");
    assert_eq!(run.provider, "keywords");
    let sugg = store.run_suggestions(&run.id).unwrap();
    assert_eq!(sugg.iter().map(|s| s.item.as_str()).collect::<Vec<_>>(), ["demo:101"]);
}

#[test]
fn sample_queue_opens_blind_and_records_the_week() {
    let keys = vec![key('2'), enter()];
    let opts = Options {
        keys: Some(vec!["demo:150".into(), "demo:151".into()]),
        sample_week: Some("2026-W46".into()),
        ..Default::default()
    };
    let dir = drive(keys, opts);
    let recs = records(dir.path());
    assert_eq!(recs.len(), 1);
    assert_eq!(recs[0]["item"], "demo:150");
    assert_eq!(recs[0]["mode"], "sample");
    assert_eq!(recs[0]["week"], "2026-W46");
}

/// Text shapes that have broken terminal tools: empty, one word, punctuation only, CJK, RTL,
/// emoji (with joiners and flags), control characters and escapes, and arbitrary strings.
fn hostile_text() -> impl proptest::strategy::Strategy<Value = String> {
    use proptest::prelude::*;
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
                Just("\u{fe0f}".to_string()),
                Just("\u{1b}[2J".to_string()),
                Just("\u{1b}]0;t\u{7}".to_string()),
                Just("\r\n\t\u{0}\u{7f}\u{9b}".to_string()),
                "\\PC{0,8}",
            ],
            0..40
        )
        .prop_map(|parts| parts.concat()),
        any::<String>(),
    ]
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]

    /// Any text typed into the label picker (and the filter with its `sort:`): matches or
    /// none, drawn without control characters, never a panic.
    #[test]
    fn the_picker_and_the_filter_take_any_text(query in hostile_text(), filter in hostile_text()) {
        let mut s = state();
        update(&mut s, Action::Last);
        update(&mut s, Action::LabelPicker);
        for c in query.chars().take(40) {
            update(&mut s, press(KeyCode::Char(c)));
        }
        let _ = super::update::picker_matches(&s, &query);
        let t = render(&s, "default", 80, 24);
        for cell in &t.backend().buffer().content {
            proptest::prop_assert!(!cell.symbol().chars().any(|c| c.is_control()));
        }
        super::update::apply_filter(&mut s, format!("sort:{filter} {filter}"));
    }
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]

    #[test]
    fn any_text_renders_without_panic_or_control_characters(
        title in hostile_text(),
        body in hostile_text(),
        w in 20u16..160,
        h in 6u16..50,
    ) {
        let mut item = issue();
        item.title = title.clone();
        item.body = body.clone();
        let s = loaded_state(item, "d");
        let t = render(&s, "default", w, h);
        for cell in &t.backend().buffer().content {
            proptest::prop_assert!(!cell.symbol().chars().any(|c| c.is_control()));
        }
        let chat = Item {
            key: "c:1".into(),
            dataset: "c".into(),
            kind: Some(ItemKind::Conversation),
            title,
            turns: vec![
                Turn { role: "user".into(), content: body.clone(), ..Default::default() },
                Turn { role: "assistant".into(), content: body, ..Default::default() },
            ],
            ..Default::default()
        };
        let s = loaded_state(chat, "c");
        let t = render(&s, "default", w, h);
        for cell in &t.backend().buffer().content {
            proptest::prop_assert!(!cell.symbol().chars().any(|c| c.is_control()));
        }
    }
}

fn demo_ctx() -> (tempfile::TempDir, crate::app::Context) {
    let dir = tempfile::tempdir().unwrap();
    let ov = crate::workspace::Overrides { annotator: Some("tester".into()), theme: None };
    let ctx = crate::demo::prepare(dir.path(), &ov).unwrap();
    (dir, ctx)
}

fn save_effect(req: u64, key: &str, labels: &[&str]) -> Effect {
    Effect::Save {
        req,
        dataset: "demo".into(),
        annotation: Box::new(crate::model::Annotation {
            item: key.into(),
            annotator: "tester".into(),
            labels: labels.iter().map(|l| l.to_string()).collect(),
            at: "2026-11-22T10:00:00Z".into(),
            mode: Mode::Assisted,
            note: String::new(),
            duration_ms: None,
            suggestion: None,
            week: None,
            retracted: false,
        }),
        undo: false,
    }
}

#[test]
fn a_store_that_refuses_the_write_is_reported_as_behind_the_log_not_as_unsaved() {
    let (dir, mut ctx) = demo_ctx();
    // The store refuses new annotations the way a full disk does.
    let conn = rusqlite::Connection::open(ctx.ws.store_path()).unwrap();
    conn.execute_batch(
        "CREATE TRIGGER full BEFORE INSERT ON annotations \
         BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END;",
    )
    .unwrap();
    let action = worker::run_effect(&ctx.ws, &mut ctx.store, save_effect(7, "demo:101", &["bug"]));
    let Some(Action::Saved { req: 7, behind: Some(why), .. }) = &action else {
        panic!("expected a save behind the store, got {action:?}")
    };
    assert!(why.contains("database or disk is full") && why.contains("replays"), "{why}");
    assert_eq!(records(dir.path()).len(), 1, "the record is in the log");
    let mut s = state();
    update(&mut s, action.unwrap());
    let (msg, _) = s.message.clone().unwrap();
    assert!(msg.starts_with("saved demo:101 in ") && !msg.contains("NOT saved"), "{msg}");
    // Once the store takes writes again, opening the workspace replays the record.
    conn.execute_batch("DROP TRIGGER full").unwrap();
    let ov = crate::workspace::Overrides { annotator: Some("tester".into()), theme: None };
    let again = crate::app::Context::open(Some(dir.path()), &ov).unwrap();
    let mine = again.store.item_annotations("demo:101").unwrap();
    assert!(mine.iter().any(|r| r.annotation.annotator == "tester"), "{mine:?}");
}

#[test]
fn a_log_that_cannot_be_written_is_not_saved_and_keeps_no_torn_line() {
    let (dir, mut ctx) = demo_ctx();
    let log = dir.path().join("annotations/demo/tester.jsonl");
    std::fs::create_dir_all(log.parent().unwrap()).unwrap();
    // Every write to /dev/full fails with ENOSPC, as on a full disk.
    std::os::unix::fs::symlink("/dev/full", &log).unwrap();
    let action = worker::run_effect(&ctx.ws, &mut ctx.store, save_effect(3, "demo:101", &["bug"]));
    let Some(Action::SaveFailed { req: 3, error, .. }) = &action else {
        panic!("expected a failed save, got {action:?}")
    };
    assert!(error.contains("nothing was added"), "{error}");
}

#[test]
fn a_panicking_job_is_reported_and_a_panicking_save_is_not_saved() {
    let panics = |_job: worker::Job| -> Option<worker::Msg> { panic!("boom in the index") };
    let msg = worker::guarded(worker::Job::Effect(save_effect(5, "demo:1", &["bug"])), panics);
    let Some(worker::Msg::Action(Action::SaveFailed { req: 5, key, error })) = msg else {
        panic!("expected SaveFailed")
    };
    assert_eq!(key, "demo:1");
    assert!(error.contains("boom in the index"), "{error}");
    let load = Effect::LoadItem { req: 1, key: "demo:2".into() };
    let msg = worker::guarded(worker::Job::Effect(load), panics);
    let Some(worker::Msg::Action(Action::Failed { error })) = msg else {
        panic!("expected Failed")
    };
    assert!(error.contains("internal error") && error.contains("boom"), "{error}");
}

#[test]
fn a_new_disagreement_joins_the_adjudication_queue_in_the_same_session() {
    let (_dir, mut ctx) = demo_ctx();
    let opts = Options { dataset: Some("demo".into()), ..Default::default() };
    let mut s = load_state(&ctx.ws, &ctx.store, &ctx.labels, "tester", &opts).unwrap();
    let before = s.queue.iter().filter(|e| e.disputed).count();
    // alice said bug for demo:101; tester says documentation.
    let action =
        worker::run_effect(&ctx.ws, &mut ctx.store, save_effect(1, "demo:101", &["documentation"]));
    let Some(a @ Action::Saved { disputed: Some(true), .. }) = action else {
        panic!("the save should report a dispute: {action:?}")
    };
    update(&mut s, a);
    update(&mut s, Action::ViewAdjudicate);
    let shown: Vec<&str> = s.visible.iter().map(|&i| s.queue[i].key.as_str()).collect();
    assert!(shown.contains(&"demo:101"), "{shown:?}");
    assert_eq!(shown.len(), before + 1);
}

#[test]
fn the_queue_follows_what_other_processes_write() {
    let (dir, ctx) = demo_ctx();
    let opts = Options { dataset: Some("demo".into()), ..Default::default() };
    let mut s = load_state(&ctx.ws, &ctx.store, &ctx.labels, "tester", &opts).unwrap();
    let mut ctx = ctx;
    let mut follow = super::refresh::Follow::start(&ctx.store, false);
    assert_eq!(
        super::refresh::changed(&mut ctx, &mut follow, Some("demo"), "tester").unwrap(),
        None
    );
    // Another process: this annotator's `sift annotate` and an import of two more items.
    let ov = crate::workspace::Overrides { annotator: Some("tester".into()), theme: None };
    let mut other = crate::app::Context::open(Some(dir.path()), &ov).unwrap();
    let args = crate::dataset::commands::annotate::AnnotateArgs {
        item: "demo:105".into(),
        labels: "bug".into(),
        note: None,
        mode: "assisted".into(),
        week: None,
        dataset: None,
        duration_ms: None,
    };
    crate::dataset::commands::annotate::annotate(&mut other, args).unwrap();
    let file = dir.path().join("more.jsonl");
    std::fs::write(
        &file,
        "{\"id\":\"901\",\"title\":\"New crash\",\"body\":\"x\"}\n\
         {\"id\":\"902\",\"title\":\"New idea\",\"body\":\"y\"}\n",
    )
    .unwrap();
    let import = crate::sources::import::ImportOptions {
        dataset: "demo".into(),
        format: crate::sources::files::Format::Auto,
        taxonomy: None,
        label_column: None,
        annotator: None,
        mixed_kinds: false,
    };
    crate::sources::import::import_file(&mut other, &file, &import).unwrap();
    let n = s.queue.len();
    let status = super::refresh::changed(&mut ctx, &mut follow, Some("demo"), "tester")
        .unwrap()
        .expect("another connection committed");
    update(&mut s, Action::StoreChanged(Box::new(status)));
    let e = s.queue.iter().find(|e| e.key == "demo:105").unwrap();
    assert_eq!(e.mine.as_deref(), Some(["bug".to_string()].as_slice()));
    assert_eq!(s.queue.len(), n + 2);
    assert_eq!(s.visible.len(), n + 2, "new items pass the empty filter");
    assert!(s.queue.iter().any(|e| e.key == "demo:902" && e.title == "New idea"));
    // Nothing new: nothing read.
    assert_eq!(
        super::refresh::changed(&mut ctx, &mut follow, Some("demo"), "tester").unwrap(),
        None
    );
}

/// Blind review shows no label information from suggestions or other people until the item
/// is saved: not the similar items' labels, not the labels set at the source, not disputes.
#[test]
fn blind_review_shows_no_one_elses_labels_until_saved() {
    let mut item = issue();
    item.source_labels = vec!["wontfix-at-source".into()];
    let mut s = loaded_state(item, "d");
    let key = s.current().unwrap().key.clone();
    if let Some(l) = s.loaded.get_mut(&key) {
        l.similar = vec![crate::similar::SimilarItem {
            key: "d:2".into(),
            title: "A neighbour".into(),
            labels: vec!["neighbour-label".into()],
            overlap: 0.5,
            ..Default::default()
        }];
    }
    s.queue[1].disputed = true;
    let screen = |s: &State| format!("{:?}", render(s, "default", 140, 40).backend());
    let open = screen(&s);
    assert!(open.contains("neighbour-label") && open.contains("wontfix-at-source"), "{open}");
    update(&mut s, Action::ToggleBlind);
    let blind = screen(&s);
    for leak in ["neighbour-label", "wontfix-at-source", "0.82", "│! "] {
        assert!(!blind.contains(leak), "{leak:?} shown in blind mode:\n{blind}");
    }
    update(&mut s, Action::Search);
    for c in "label:bug".chars() {
        update(&mut s, Action::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE)));
    }
    update(&mut s, Action::Key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE)));
    assert!(s.visible.is_empty(), "label: does not match suggested labels in blind mode");
}

/// F2's annotator table shows the figures `sift stats` prints: one computation for both.
#[test]
fn the_stats_screen_and_sift_stats_agree_on_acceptance() {
    let (_dir, mut ctx) = demo_ctx();
    // A blind answer whose item had a suggestion: counted as blind acceptance by both.
    let fx = save_effect(1, "demo:120", &["bug"]);
    let Effect::Save { req, dataset, mut annotation, undo } = fx else { unreachable!() };
    annotation.mode = Mode::Blind;
    let sugg = ctx.store.latest_suggestion("demo:120").unwrap().expect("a suggestion");
    annotation.labels = sugg.suggestion.labels.iter().map(|l| l.name.clone()).collect();
    annotation.suggestion = Some(crate::model::SuggestionRef {
        run: sugg.suggestion.run.clone(),
        labels: sugg.suggestion.labels.clone(),
    });
    let save = Effect::Save { req, dataset, annotation, undo };
    worker::run_effect(&ctx.ws, &mut ctx.store, save).unwrap();
    let tax = ctx.labels.get("issues").unwrap().clone();
    let view = super::stats::StatsView::compute(&ctx.store, &tax, "demo").unwrap();
    let records = ctx.store.annotation_records(Some("demo")).unwrap();
    let shared = crate::dataset::stats::annotator_stats(&records);
    assert_eq!(view.people, shared);
    let tester = view.people.iter().find(|p| p.annotator == "tester").unwrap();
    assert_eq!(tester.blind.rate, Some(1.0));
    let text = crate::dataset::commands::stats::stats_text(
        &crate::dataset::stats::agreement_stats_from_store(
            &ctx.store,
            &["demo".to_string()],
            &tax,
            None,
            false,
            None,
        )
        .unwrap(),
        &shared,
    );
    assert!(
        text.lines().any(|l| l.trim_start().starts_with("tester") && l.contains("100%")),
        "{text}"
    );
    // `sift stats` reads the records once; what it finds equals the separate computations.
    let demo = ["demo".to_string()];
    let report =
        crate::dataset::stats::stats_report(&ctx.store, &demo, &tax, None, false, None).unwrap();
    let agreement = crate::dataset::stats::agreement_stats_from_store(
        &ctx.store, &demo, &tax, None, false, None,
    )
    .unwrap();
    assert_eq!(report.agreement, agreement);
    assert_eq!(report.annotators, shared);
    let items = crate::metrics::gold::group(&ctx.store.current_answers(Some("demo")).unwrap());
    assert_eq!(report.gold, crate::metrics::gold::gold_map(&items).len());
    assert_eq!(report.disagreements, crate::metrics::gold::disagreements(&items).len());
    assert!(
        report.gold > 0 && report.disagreements > 0,
        "{} {}",
        report.gold,
        report.disagreements
    );
}

#[test]
fn a_filter_says_how_many_items_match_in_words() {
    let mut s = state();
    update(&mut s, Action::Search);
    for c in "d:2".chars() {
        update(&mut s, Action::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE)));
    }
    update(&mut s, Action::Key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE)));
    assert_eq!(s.message.clone().unwrap().0, "1 item matches");
}

#[test]
fn the_models_summary_shows_under_the_title_and_rule_breaks_under_the_suggestion() {
    let mut s = state();
    if let Some(l) = s.loaded.get_mut("d:1")
        && let Some(row) = l.suggestion.as_mut()
    {
        row.suggestion.summary = "The editor crashes\u{1b}[2J on save.".into();
        row.suggestion.violations = vec!["`bug` requires a code block".into()];
    }
    let t = render(&s, "default", 120, 40);
    let text: String =
        t.backend().buffer().content.iter().map(|c| c.symbol().to_string()).collect();
    assert!(text.contains("≡ The editor crashes"), "summary missing");
    assert!(!text.contains('\u{1b}'), "no control sequence reaches the screen");
    assert!(text.contains("⚠ `bug` requires a code block"), "violation missing");
}

/// The demo shows the product: confident suggestions from an honest provider on the first
/// screen, a week of the labeling bot for the weekly sample, and a push plan that the demo
/// explains but never sends.
#[test]
fn the_demo_shows_the_product() {
    let (_dir, ctx) = demo_ctx();
    let opts = Options { demo: true, ..Default::default() };
    let mut s = load_state(&ctx.ws, &ctx.store, &ctx.labels, "tester", &opts).unwrap();
    // What the worker sends right after the first frame.
    let status = super::suggestion_status(&ctx.store, None).unwrap();
    update(&mut s, Action::SuggestionStatus(Box::new(status)));
    // The first screen at 80x24: the queue rows drawn.
    let t = render(&s, "default", 80, 24);
    let buf = t.backend().buffer();
    // Queue rows are the lines whose first cell inside the queue pane holds a status mark.
    let rows = (1..23).filter(|&y| ![" ", "─"].contains(&buf[(1, y)].symbol())).count();
    let shown: Vec<&Entry> = s.visible.iter().take(rows).map(|&i| &s.queue[i]).collect();
    assert!(shown.len() >= 15, "{} rows on the first screen", shown.len());
    assert!(shown.iter().all(|e| e.dataset == "demo"), "the first screen is the demo's issues");
    let min = ctx.labels.get("issues").unwrap().min_confidence;
    let confident = shown.iter().filter(|e| e.confidence.is_some_and(|c| c >= min)).count();
    assert!(
        confident * 10 >= shown.len() * 6,
        "{confident} of {} first-screen items have a suggestion at or above {min}",
        shown.len()
    );
    // The suggestions come from the local model, which never saw these items' gold.
    let row = ctx.store.latest_suggestion(&shown[0].key).unwrap().unwrap();
    assert_eq!(row.provider, "local", "{row:?}");
    let model = crate::suggest::train::model_path(&ctx.ws, "issues");
    let trained = crate::suggest::train::TrainingSet::of_model(&model).unwrap();
    assert!(trained.items.iter().all(|k| k.starts_with("demo-history:")), "{:?}", trained.items);

    // F4: last week's bot run is the weekly sample's population.
    let weeks = worker::sample_reports(&ctx.ws, &ctx.store).unwrap();
    let last = weeks.last().unwrap();
    assert_eq!(last.size, 20, "a sample of 20 drawn from the bot's 30 issues: {last:?}");
    assert!(!last.distribution.is_empty());

    // F5: a plan for the demo's repository, computed offline from the maintainers' reviews.
    let Action::PushPlanned { repo, entries, text } =
        worker::plan_push(&ctx, crate::demo::WEEK_REPO, false)
    else {
        panic!("no plan")
    };
    assert!(entries > 0 && text.contains("(gold)"), "{text}");
    let Action::PushPlanned { text: applied, .. } =
        worker::plan_push(&ctx, crate::demo::WEEK_REPO, true)
    else {
        panic!("no plan")
    };
    assert!(applied.contains("  + "), "labels the bot missed are added: {applied}");
    update(&mut s, Action::ViewPush);
    assert_eq!(s.push.repos, vec![crate::demo::WEEK_REPO.to_string()]);
    update(&mut s, Action::PushPlanned { repo, text, entries });
    // P explains instead of arming: the repository is made up.
    assert!(update(&mut s, Action::PushSend).is_empty());
    assert!(update(&mut s, Action::PushSend).is_empty());
    assert!(!s.push.armed);
    let (msg, _) = s.message.clone().unwrap();
    assert!(msg.contains("made-up") && msg.contains("sift pull OWNER/REPO"), "{msg}");
}

/// Undoing a visual save brings every earlier answer back with its note, also for items the
/// screen never opened (whose notes it did not know).
#[test]
fn undoing_a_visual_save_restores_the_earlier_notes() {
    let (dir, mut ctx) = demo_ctx();
    let save = |ctx: &mut crate::app::Context, req, labels: &[&str], note: &str, undo: bool| {
        let Effect::Save { req, dataset, mut annotation, .. } =
            save_effect(req, "demo:101", labels)
        else {
            unreachable!()
        };
        annotation.note = note.into();
        let fx = Effect::Save { req, dataset, annotation, undo };
        worker::run_effect(&ctx.ws, &mut ctx.store, fx).unwrap()
    };
    save(&mut ctx, 1, &["bug"], "crashes on open", false);
    // The visual save, then its undo as the screen sends it (the earlier note unknown).
    save(&mut ctx, 2, &["ux"], "", false);
    let undone = save(&mut ctx, 3, &["bug"], "", true);
    assert!(matches!(undone, Action::Undone { .. }), "{undone:?}");
    let last = records(dir.path()).into_iter().rfind(|r| r["annotator"] == "tester").unwrap();
    assert_eq!(last["labels"], serde_json::json!(["bug"]));
    assert_eq!(last["note"], "crashes on open", "{last}");
}

/// A long queue: the first page is drawn with this annotator's own answers, the worker reads
/// the rest, and a filter typed and a draft started before it arrives are kept; everyone's
/// answers (disputes) come with the status after it.
#[test]
fn the_first_page_is_drawn_and_the_worker_reads_the_rest() {
    let (_dir, mut ctx) = demo_ctx();
    let more: Vec<Item> = (0..super::FIRST_PAGE)
        .map(|i| Item {
            key: format!("demo-history:extra-{i:04}"),
            dataset: "demo-history".into(),
            title: format!("zqxj issue {i}"),
            body: "the build fails on save".into(),
            ..Default::default()
        })
        .collect();
    ctx.store.upsert_items(&more, "2026-12-07T00:00:00Z").unwrap();
    let whole = ctx.store.queue_rows(&crate::store::QueueFilter::default()).unwrap();
    assert!(whole.len() > super::FIRST_PAGE);
    let mut s = load_state(&ctx.ws, &ctx.store, &ctx.labels, "alice", &Options::default()).unwrap();
    assert_eq!(s.queue.len(), super::FIRST_PAGE);
    let last = &whole[super::FIRST_PAGE - 1];
    assert_eq!(s.queue_rest, Some((last.dataset.clone(), last.id)));
    // The first page carries alice's own answers, as everyone's answers have them.
    let everyone = crate::metrics::gold::group(&ctx.store.current_answers(None).unwrap());
    for e in &s.queue {
        let hers = everyone.iter().find(|i| i.item == e.key).and_then(|i| i.answers.get("alice"));
        assert_eq!(e.mine.as_ref(), hers, "{}", e.key);
    }
    assert!(s.queue.iter().any(|e| e.mine.is_some()), "alice answered some of the first page");
    let title = visible(render(&s, "default", 100, 30).backend().buffer()).join("\n");
    assert!(title.contains(&format!("/{}+ reading…", super::FIRST_PAGE)), "{title}");
    // A filter and a draft before the rest arrives.
    super::update::apply_filter(&mut s, "zqxj".into());
    let early = s.visible.len();
    assert!(early > 0 && early < super::FIRST_PAGE, "only some extra items are read yet");
    let focused = s.current().map(|e| e.key.clone());
    update(&mut s, Action::Toggle(1));
    let draft = s.draft.clone();
    assert!(!draft.labels.is_empty());
    let after = s.queue_rest.clone().unwrap();
    let rest = super::queue_rest(&ctx, "alice", None, (&after.0, after.1));
    s.message = Some(("NOT saved demo:1: disk full".into(), super::state::Severity::Error));
    update(&mut s, Action::QueueRest(Box::new(rest.map_err(|e| e.to_string()))));
    assert!(s.message.as_ref().is_some_and(|m| m.0.starts_with("NOT saved")), "kept");
    let keys: Vec<&str> = s.queue.iter().map(|e| e.key.as_str()).collect();
    let want: Vec<&str> = whole.iter().map(|r| r.key.as_str()).collect();
    assert_eq!(keys, want, "the queue is whole, in order, once");
    assert_eq!(s.queue_rest, None);
    assert_eq!(s.visible.len(), super::FIRST_PAGE, "the filter covers the rest");
    assert_eq!(s.current().map(|e| e.key.clone()), focused);
    assert_eq!(s.draft, draft, "the draft survives the rest's arrival");
    // Disputes come with the status (everyone's answers), not before: the adjudication view
    // says it is reading them rather than that none are left.
    assert!(s.queue.iter().all(|e| !e.disputed));
    assert!(s.status_pending);
    let mut adjudicating =
        load_state(&ctx.ws, &ctx.store, &ctx.labels, "alice", &Options::default()).unwrap();
    update(&mut adjudicating, Action::ViewAdjudicate);
    let screen = visible(render(&adjudicating, "default", 100, 30).backend().buffer()).join("\n");
    assert!(screen.contains("reading everyone's answers"), "{screen}");
    assert!(!screen.contains("No disagreements left"), "{screen}");
    let status = super::suggestion_status(&ctx.store, None).unwrap();
    let disputed: Vec<String> =
        crate::metrics::gold::disagreements(&everyone).iter().map(|i| i.item.clone()).collect();
    assert!(!disputed.is_empty(), "the demo has disagreements");
    update(&mut s, Action::SuggestionStatus(Box::new(status)));
    assert!(!s.status_pending);
    let mut shown: Vec<String> =
        s.queue.iter().filter(|e| e.disputed).map(|e| e.key.clone()).collect();
    shown.sort();
    let mut disputed = disputed;
    disputed.sort();
    assert_eq!(shown, disputed);
    assert_eq!(s.draft, draft, "the status keeps the draft too");
}

/// The rest of the queue that cannot be read leaves the first page usable and says so.
#[test]
fn a_queue_rest_that_fails_says_the_queue_is_partial() {
    let mut s = state();
    s.queue_rest = Some(("d".into(), 3));
    let n = s.queue.len();
    update(&mut s, Action::QueueRest(Box::new(Err("labels.yml: no taxonomy `x`".into()))));
    assert_eq!(s.queue_rest, None, "no longer reading");
    assert_eq!(s.queue.len(), n);
    let (text, severity) = s.message.clone().unwrap();
    assert!(text.contains(&format!("only the first {n} items")) && text.contains("labels.yml"));
    assert_eq!(severity, super::state::Severity::Error);
}
