//! The pure state transition: update(state, action) -> effects. No IO, no clock reads (the
//! event loop sets `now_ms` and `now_rfc3339` before calling it).

use crossterm::event::{KeyCode, KeyEvent};

use super::action::Action;
use super::state::{
    Effect, Entry, Filter, Loaded, Overlay, Pane, SaveRecord, Severity, State, View,
};
use crate::model::{Annotation, Mode, SuggestionRef};
use crate::taxonomy::Select;

/// Apply one action; return the effects to run.
pub fn update(s: &mut State, action: Action) -> Vec<Effect> {
    match action {
        Action::Quit => {
            s.should_quit = true;
            vec![Effect::Quit]
        }
        Action::Help => toggle_help(s),
        Action::Close => close(s),
        Action::Resize(w, h) => {
            s.size = (w, h);
            vec![]
        }
        Action::Tick => vec![],
        Action::Key(k) => key_input(s, k),
        Action::ViewReview => {
            s.view = View::Review;
            vec![]
        }
        Action::ViewStats => {
            s.view = View::Stats;
            vec![]
        }
        Action::ViewPush => open_push(s),
        Action::ViewRuns => {
            s.view = View::Runs;
            s.runs.comparison.clear();
            vec![Effect::ListRuns]
        }
        Action::CompareMark => compare_mark(s),
        Action::RunsListed { rows } => {
            s.runs.cursor = s.runs.cursor.min(rows.len().saturating_sub(1));
            s.runs.rows = rows;
            vec![]
        }
        Action::RunsCompared { lines } => {
            s.runs.comparison = lines;
            vec![]
        }
        Action::SuggestionStatus { labels, bands } => {
            for e in &mut s.queue {
                if let Some(l) = labels.get(&e.key) {
                    e.suggested = true;
                    e.suggested_labels = l.clone();
                }
            }
            s.band_accuracy = bands;
            // A `label:` filter typed before the status arrived is applied again.
            if s.filter.label.is_some() {
                let text = s.filter_text.clone();
                return apply_filter(s, text);
            }
            vec![]
        }
        Action::PushMode => {
            s.push.apply = !s.push.apply;
            s.push.armed = false;
            plan_selected(s)
        }
        Action::PushSend => push_send(s),
        Action::PushPlanned { repo, text, entries } => {
            s.push.plan = Some((repo, text, entries));
            vec![]
        }
        Action::PushProgress { line } => {
            s.push.log.push(line);
            vec![]
        }
        Action::PushDone { summary } => {
            s.push.running = false;
            s.push.log.push(summary.clone());
            s.message = Some((summary, Severity::Info));
            plan_selected(s)
        }
        Action::ViewSample => {
            s.view = View::Sample;
            vec![]
        }
        Action::ViewAdjudicate => {
            s.view = View::Adjudicate;
            s.pane = Pane::Queue;
            apply_filter(s, "status:disputed".into())
        }
        Action::Pick(n) => pick(s, n as usize),
        Action::NextPane => cycle_pane(s, true),
        Action::PrevPane => cycle_pane(s, false),
        Action::MoveDown => move_in_pane(s, 1),
        Action::MoveUp => move_in_pane(s, -1),
        Action::PageDown => move_cursor(s, page(s) as isize),
        Action::PageUp => move_cursor(s, -(page(s) as isize)),
        Action::First => move_cursor(s, -(s.cursor as isize)),
        Action::Last => move_cursor(s, s.visible.len() as isize),
        Action::Toggle(n) => toggle_nth(s, n as usize),
        Action::ToggleCurrent => {
            let n = s.label_cursor + 1;
            toggle_nth(s, n)
        }
        Action::Accept => accept(s),
        Action::SaveNext => save_next(s),
        Action::Skip => {
            let fx = move_cursor(s, 1);
            info(s, "skipped");
            fx
        }
        Action::Undo => undo(s),
        Action::EditNote => {
            if s.current().is_some() {
                s.overlay = Overlay::Note;
            }
            vec![]
        }
        Action::ToggleBlind => {
            s.blind = !s.blind;
            let msg = if s.blind {
                "blind mode: suggestions hidden until saved"
            } else {
                "assisted mode"
            };
            info(s, msg);
            vec![]
        }
        Action::Search => {
            s.overlay = Overlay::Search(String::new());
            vec![]
        }
        Action::ClearFilter => {
            if s.filter_text.is_empty() {
                return vec![];
            }
            apply_filter(s, String::new())
        }
        Action::ItemLoaded { req, key, item, suggestion, answers, similar } => {
            item_loaded(s, req, key, *item, suggestion.map(|b| *b), answers, similar)
        }
        Action::OpenSimilar => open_similar(s),
        Action::SuggestItem => match s.current() {
            Some(e) => {
                let keys = vec![e.key.clone()];
                info(s, "asking for a suggestion…");
                vec![Effect::Suggest { keys }]
            }
            None => vec![],
        },
        Action::SuggestQueue => {
            let keys: Vec<String> = s.visible.iter().map(|&i| s.queue[i].key.clone()).collect();
            if keys.is_empty() {
                return vec![];
            }
            info(s, &format!("asking for suggestions for {} items…", keys.len()));
            vec![Effect::Suggest { keys }]
        }
        Action::Suggested { key } => {
            if let Some(e) = s.entry_mut(&key) {
                e.suggested = true;
            }
            // Show the new suggestion on a loaded item: load it again.
            if s.loaded.remove(&key).is_some() {
                let req = next_req(s);
                s.loading.insert(key.clone(), req);
                return vec![Effect::LoadItem { req, key }];
            }
            vec![]
        }
        Action::SuggestDone { summary } => {
            s.message = Some((summary, Severity::Info));
            vec![]
        }
        Action::Saved { req, key, labels } => {
            saved(s, req, &key, labels);
            vec![]
        }
        Action::SaveFailed { req, key, error } => {
            s.pending_saves.remove(&req);
            if let Some(e) = s.entry_mut(&key) {
                e.saving = false;
            }
            if let Some(pos) = s.undo_stack.iter().rposition(|r| r.key == key) {
                s.undo_stack.remove(pos);
            }
            s.message = Some((format!("NOT saved {key}: {error}"), Severity::Error));
            vec![]
        }
        Action::Undone { req, key, labels } => {
            s.pending_saves.remove(&req);
            if let Some(e) = s.entry_mut(&key) {
                e.saving = false;
                e.mine = labels;
            }
            s.saved_keys.remove(&key);
            s.message = Some((format!("undone: {key}"), Severity::Ok));
            vec![]
        }
        Action::Failed { error } => {
            s.message = Some((error, Severity::Error));
            vec![]
        }
    }
}

fn info(s: &mut State, msg: &str) {
    s.message = Some((msg.to_string(), Severity::Info));
}

fn page(s: &State) -> usize {
    (s.size.1 as usize).saturating_sub(6).max(1)
}

fn toggle_help(s: &mut State) -> Vec<Effect> {
    s.overlay = if s.overlay == Overlay::Help { Overlay::None } else { Overlay::Help };
    s.help_scroll = 0;
    vec![]
}

fn close(s: &mut State) -> Vec<Effect> {
    match s.overlay {
        Overlay::None if matches!(s.view, View::Stats | View::Sample | View::Push | View::Runs) => {
            s.view = View::Review;
        }
        Overlay::None if s.view == View::Adjudicate => {
            s.view = View::Review;
            return apply_filter(s, String::new());
        }
        _ => s.overlay = Overlay::None,
    }
    vec![]
}

/// Keys that reach text fields: the note editor and the search line.
fn key_input(s: &mut State, k: KeyEvent) -> Vec<Effect> {
    match &mut s.overlay {
        Overlay::Note => {
            s.note.input(k);
            vec![]
        }
        Overlay::Search(line) => match k.code {
            KeyCode::Enter => {
                let text = line.clone();
                s.overlay = Overlay::None;
                apply_filter(s, text)
            }
            KeyCode::Esc => {
                s.overlay = Overlay::None;
                vec![]
            }
            KeyCode::Backspace => {
                line.pop();
                vec![]
            }
            KeyCode::Char(c) if !c.is_control() => {
                line.push(c);
                vec![]
            }
            _ => vec![],
        },
        _ => vec![],
    }
}

fn cycle_pane(s: &mut State, forward: bool) -> Vec<Effect> {
    let dims = s.taxonomy().map(|t| t.dimensions.len()).unwrap_or(1);
    if s.pane == Pane::Annotation && dims > 1 {
        if forward && s.dim + 1 < dims {
            s.dim += 1;
            s.label_cursor = 0;
            return vec![];
        }
        if !forward && s.dim > 0 {
            s.dim -= 1;
            s.label_cursor = 0;
            return vec![];
        }
    }
    let i = Pane::ORDER.iter().position(|p| *p == s.pane).unwrap_or(0);
    let n = Pane::ORDER.len();
    let next = if forward { (i + 1) % n } else { (i + n - 1) % n };
    s.pane = Pane::ORDER[next];
    if s.pane == Pane::Annotation {
        s.dim = if forward { 0 } else { dims.saturating_sub(1) };
        s.label_cursor = 0;
    }
    vec![]
}

fn move_in_pane(s: &mut State, delta: isize) -> Vec<Effect> {
    if s.overlay == Overlay::Help {
        s.help_scroll = if delta > 0 {
            s.help_scroll.saturating_add(1)
        } else {
            s.help_scroll.saturating_sub(1)
        };
        return vec![];
    }
    if s.view == View::Runs {
        let n = s.runs.rows.len();
        if n > 0 {
            s.runs.cursor = (s.runs.cursor as isize + delta).clamp(0, n as isize - 1) as usize;
        }
        return vec![];
    }
    if s.view == View::Push {
        let n = s.push.repos.len();
        if n > 0 && !s.push.running {
            s.push.cursor = (s.push.cursor as isize + delta).clamp(0, n as isize - 1) as usize;
            s.push.armed = false;
            return plan_selected(s);
        }
        return vec![];
    }
    if s.view == View::Stats {
        s.stats_scroll = if delta > 0 {
            s.stats_scroll.saturating_add(1)
        } else {
            s.stats_scroll.saturating_sub(1)
        };
        return vec![];
    }
    match s.pane {
        Pane::Item => {
            s.item_scroll = if delta > 0 {
                s.item_scroll.saturating_add(1)
            } else {
                s.item_scroll.saturating_sub(1)
            };
            vec![]
        }
        Pane::Suggestion => {
            let n = s.loaded_current().map(|l| l.similar.len()).unwrap_or(0);
            if n > 0 {
                s.similar_cursor =
                    (s.similar_cursor as isize + delta).clamp(0, n as isize - 1) as usize;
            }
            vec![]
        }
        Pane::Annotation => {
            let n = dim_labels(s).len();
            if n > 0 {
                s.label_cursor =
                    (s.label_cursor as isize + delta).clamp(0, n as isize - 1) as usize;
            }
            vec![]
        }
        _ => move_cursor(s, delta),
    }
}

/// Move the queue cursor and focus the new item.
fn move_cursor(s: &mut State, delta: isize) -> Vec<Effect> {
    if s.visible.is_empty() {
        return vec![];
    }
    let max = s.visible.len() as isize - 1;
    let next = (s.cursor as isize + delta).clamp(0, max) as usize;
    if next == s.cursor {
        return vec![];
    }
    s.cursor = next;
    focus(s)
}

/// Reset per-item state for the focused item and make sure it (and the next) are loaded, so
/// that moving on after a save shows a ready item.
pub fn focus(s: &mut State) -> Vec<Effect> {
    s.item_scroll = 0;
    s.similar_cursor = 0;
    s.dim = 0;
    s.label_cursor = 0;
    s.note = ratatui_textarea::TextArea::default();
    let Some(entry) = s.current().cloned() else { return vec![] };
    s.draft.key = entry.key.clone();
    s.draft.labels = entry.mine.clone().unwrap_or_default().into_iter().collect();
    s.draft.started_ms = s.now_ms;
    let mut keys = vec![entry.key.clone()];
    if let Some(&i) = s.visible.get(s.cursor + 1) {
        keys.push(s.queue[i].key.clone());
    }
    // Keep the cache small: the focused item, its neighbours, nothing else.
    let keep: Vec<String> = [s.cursor.wrapping_sub(1), s.cursor, s.cursor + 1]
        .iter()
        .filter_map(|&c| s.visible.get(c).map(|&i| s.queue[i].key.clone()))
        .collect();
    s.loaded.retain(|k, _| keep.contains(k));
    let mut fx = Vec::new();
    for key in keys {
        if !s.loaded.contains_key(&key) && !s.loading.contains_key(&key) {
            let req = next_req(s);
            s.loading.insert(key.clone(), req);
            fx.push(Effect::LoadItem { req, key });
        }
    }
    fx
}

fn next_req(s: &mut State) -> u64 {
    let r = s.next_req;
    s.next_req += 1;
    r
}

fn item_loaded(
    s: &mut State,
    req: u64,
    key: String,
    item: Option<crate::model::Item>,
    suggestion: Option<crate::store::SuggestionRow>,
    answers: Vec<(String, Vec<String>)>,
    similar: Vec<crate::similar::SimilarItem>,
) -> Vec<Effect> {
    // Only the answer to the latest request for this key counts.
    if s.loading.get(&key) != Some(&req) {
        return vec![];
    }
    s.loading.remove(&key);
    match item {
        Some(item) => {
            s.loaded.insert(key, Loaded { item, suggestion, answers, similar });
        }
        None => s.message = Some((format!("{key} is no longer in the store"), Severity::Error)),
    }
    vec![]
}

/// Labels of the focused dimension.
fn dim_labels(s: &State) -> Vec<String> {
    s.taxonomy()
        .and_then(|t| t.dimensions.get(s.dim))
        .map(|d| d.labels.iter().filter(|l| !l.deprecated).map(|l| l.name.clone()).collect())
        .unwrap_or_default()
}

fn toggle_nth(s: &mut State, n: usize) -> Vec<Effect> {
    let Some(tax) = s.taxonomy().cloned() else { return vec![] };
    let Some(dim) = tax.dimensions.get(s.dim) else { return vec![] };
    let names: Vec<&str> =
        dim.labels.iter().filter(|l| !l.deprecated).map(|l| l.name.as_str()).collect();
    let Some(name) = n.checked_sub(1).and_then(|i| names.get(i)).map(|n| n.to_string()) else {
        return vec![];
    };
    s.label_cursor = n - 1;
    if s.draft.labels.contains(&name) {
        s.draft.labels.remove(&name);
    } else {
        if dim.select == Select::One {
            for other in &names {
                s.draft.labels.remove(*other);
            }
        }
        s.draft.labels.insert(name);
    }
    vec![]
}

fn accept(s: &mut State) -> Vec<Effect> {
    if !s.suggestions_visible() {
        info(s, "blind mode: suggestions are hidden until this item is saved");
        return vec![];
    }
    let Some(tax) = s.taxonomy().cloned() else { return vec![] };
    let Some(sugg) = s.loaded_current().and_then(|l| l.suggestion.clone()) else {
        info(s, "no suggestion for this item");
        return vec![];
    };
    // Stored suggestions are already validated; filter again in case the threshold changed.
    let mut accepted: Vec<(String, f64)> = sugg
        .suggestion
        .labels
        .iter()
        .filter(|l| tax.label(&l.name).is_some())
        .map(|l| (l.name.clone(), l.confidence.unwrap_or(1.0)))
        .filter(|(_, c)| *c >= tax.min_confidence)
        .collect();
    accepted.sort_by(|a, b| b.1.total_cmp(&a.1));
    accepted.truncate(tax.max_labels);
    if accepted.is_empty() {
        info(s, &format!("no suggestion reaches {:.2}", tax.min_confidence));
        return vec![];
    }
    for (name, _) in &accepted {
        if let Some(dim) = tax.dimension_of(name).filter(|d| d.select == Select::One) {
            for l in &dim.labels {
                s.draft.labels.remove(&l.name);
            }
        }
        s.draft.labels.insert(name.clone());
    }
    info(
        s,
        &format!(
            "accepted {}",
            accepted.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>().join(", ")
        ),
    );
    vec![]
}

fn ordered_labels(s: &State) -> Vec<String> {
    match s.taxonomy() {
        Some(t) => t.label_names().into_iter().filter(|n| s.draft.labels.contains(n)).collect(),
        None => s.draft.labels.iter().cloned().collect(),
    }
}

fn save_next(s: &mut State) -> Vec<Effect> {
    let Some(entry) = s.current().cloned() else { return vec![] };
    let labels = ordered_labels(s);
    if labels.is_empty() {
        // An accidental Enter must not record "no labels" as an answer.
        info(s, "pick at least one label first (s skips the item)");
        return vec![];
    }
    if let Some(Err(why)) = s.taxonomy().map(|t| t.check_answer(&labels)) {
        s.message = Some((format!("not saved: {why}"), Severity::Error));
        return vec![];
    }
    let suggestion = (s.suggestions_visible() && !s.saved_keys.contains(&entry.key))
        .then(|| s.loaded_current().and_then(|l| l.suggestion.as_ref()))
        .flatten()
        .map(|r| SuggestionRef {
            run: r.suggestion.run.clone(),
            labels: r.suggestion.labels.clone(),
        });
    let mode = if s.view == View::Adjudicate {
        Mode::Adjudication
    } else if s.sample_week.is_some() {
        Mode::Sample
    } else if s.blind {
        Mode::Blind
    } else {
        Mode::Assisted
    };
    let annotation = Annotation {
        item: entry.key.clone(),
        annotator: s.annotator.clone(),
        labels: labels.clone(),
        at: s.now_rfc3339.clone(),
        mode,
        note: s.note.lines().join("\n").trim().to_string(),
        duration_ms: Some(s.now_ms.saturating_sub(s.draft.started_ms)),
        suggestion,
        week: s.sample_week.clone(),
        retracted: false,
    };
    let req = next_req(s);
    s.pending_saves.insert(req, entry.key.clone());
    s.undo_stack.push(SaveRecord {
        key: entry.key.clone(),
        dataset: entry.dataset.clone(),
        previous: entry.mine.clone(),
        labels,
    });
    if let Some(e) = s.current_mut() {
        e.saving = true;
    }
    s.message = Some((format!("saving {}…", entry.key), Severity::Info));
    let mut fx = vec![Effect::Save {
        req,
        dataset: entry.dataset,
        annotation: Box::new(annotation),
        undo: false,
    }];
    if s.cursor + 1 < s.visible.len() {
        s.cursor += 1;
        fx.extend(focus(s));
    }
    fx
}

fn saved(s: &mut State, req: u64, key: &str, labels: Vec<String>) {
    s.pending_saves.remove(&req);
    let adjudicated = s.view == View::Adjudicate;
    if let Some(e) = s.entry_mut(key) {
        e.saving = false;
        if adjudicated {
            e.disputed = false;
        } else {
            e.mine = Some(labels);
        }
    }
    s.saved_this_session += 1;
    s.saved_keys.insert(key.to_string());
    s.message = Some((format!("saved {key} ✓"), Severity::Ok));
}

fn undo(s: &mut State) -> Vec<Effect> {
    let Some(rec) = s.undo_stack.pop() else {
        info(s, "nothing to undo");
        return vec![];
    };
    let annotation = Annotation {
        item: rec.key.clone(),
        annotator: s.annotator.clone(),
        labels: rec.previous.clone().unwrap_or_default(),
        at: s.now_rfc3339.clone(),
        mode: if s.sample_week.is_some() {
            Mode::Sample
        } else if s.blind {
            Mode::Blind
        } else {
            Mode::Assisted
        },
        note: "undo".into(),
        duration_ms: None,
        suggestion: None,
        week: s.sample_week.clone(),
        retracted: rec.previous.is_none(),
    };
    let req = next_req(s);
    s.pending_saves.insert(req, rec.key.clone());
    if let Some(e) = s.entry_mut(&rec.key) {
        e.saving = true;
    }
    // Go back to the item so it can be labeled again.
    let mut fx = vec![Effect::Save {
        req,
        dataset: rec.dataset,
        annotation: Box::new(annotation),
        undo: true,
    }];
    if let Some(pos) = s.visible.iter().position(|&i| s.queue[i].key == rec.key) {
        s.cursor = pos;
        fx.extend(focus(s));
        s.draft.labels = rec.labels.into_iter().collect();
    }
    fx
}

/// Parse a filter line: `status:new label:bug dataset:demo repo:o/r free words`.
pub fn parse_filter(text: &str) -> Filter {
    let mut f = Filter::default();
    for word in text.split_whitespace() {
        match word.split_once(':') {
            Some(("status", v)) => f.status = Some(v.to_lowercase()),
            Some(("label", v)) => f.label = Some(v.to_string()),
            Some(("dataset", v)) => f.dataset = Some(v.to_string()),
            Some(("repo", v)) => f.repo = Some(v.to_string()),
            _ => f.text.push(word.to_lowercase()),
        }
    }
    f
}

/// Whether an entry passes a filter.
pub fn matches(f: &Filter, e: &Entry) -> bool {
    let status_ok = match f.status.as_deref() {
        None => true,
        Some("new") => e.mine.is_none() && !e.suggested,
        Some("suggested") => e.suggested,
        Some("mine" | "annotated" | "done") => e.mine.is_some(),
        Some("todo" | "open") => e.mine.is_none(),
        Some("disputed") => e.disputed,
        Some("pushed") => e.pushed,
        Some(_) => false,
    };
    let label_ok = f.label.as_ref().is_none_or(|l| {
        e.mine.as_ref().is_some_and(|m| m.contains(l)) || e.suggested_labels.contains(l)
    });
    let title = e.title.to_lowercase();
    status_ok
        && label_ok
        && f.dataset.as_ref().is_none_or(|d| &e.dataset == d)
        && f.repo.as_ref().is_none_or(|r| e.repo.as_ref() == Some(r))
        && f.text
            .iter()
            .all(|w| title.contains(w.as_str()) || e.key.to_lowercase().contains(w.as_str()))
}

fn apply_filter(s: &mut State, text: String) -> Vec<Effect> {
    let current_key = s.current().map(|e| e.key.clone());
    s.filter = parse_filter(&text);
    s.filter_text = text;
    s.visible = (0..s.queue.len()).filter(|&i| matches(&s.filter, &s.queue[i])).collect();
    s.cursor =
        current_key.and_then(|k| s.visible.iter().position(|&i| s.queue[i].key == k)).unwrap_or(0);
    let n = s.visible.len();
    s.message = Some((format!("{n} items match"), Severity::Info));
    focus(s)
}

/// Adjudication by one key: the Nth annotator's answer becomes the draft and is saved.
fn pick(s: &mut State, n: usize) -> Vec<Effect> {
    if s.view != View::Adjudicate {
        return vec![];
    }
    let answer =
        s.loaded_current().and_then(|l| n.checked_sub(1).and_then(|i| l.answers.get(i))).cloned();
    let Some((who, labels)) = answer else {
        info(s, "no such answer");
        return vec![];
    };
    s.draft.labels = labels.into_iter().collect();
    s.note = ratatui_textarea::TextArea::from([format!("picked {who}'s answer")]);
    save_next(s)
}

/// Jump to the selected similar item, clearing the filter if it hides it.
fn open_similar(s: &mut State) -> Vec<Effect> {
    let Some(target) =
        s.loaded_current().and_then(|l| l.similar.get(s.similar_cursor)).map(|x| x.key.clone())
    else {
        info(s, "no similar items for this one");
        return vec![];
    };
    let mut fx = Vec::new();
    if !s.visible.iter().any(|&i| s.queue[i].key == target) {
        fx.extend(apply_filter(s, String::new()));
    }
    match s.visible.iter().position(|&i| s.queue[i].key == target) {
        Some(pos) => {
            s.cursor = pos;
            fx.extend(focus(s));
            info(s, &format!("opened similar item {target}"));
        }
        None => info(s, &format!("{target} is not in this queue")),
    }
    fx
}

/// Open the push view on the repositories whose issues are in the queue.
fn open_push(s: &mut State) -> Vec<Effect> {
    let mut repos: Vec<String> = s
        .queue
        .iter()
        .filter(|e| e.key.starts_with("github:"))
        .filter_map(|e| e.repo.clone())
        .collect();
    repos.sort();
    repos.dedup();
    s.view = View::Push;
    s.push.repos = repos;
    s.push.cursor = s.push.cursor.min(s.push.repos.len().saturating_sub(1));
    s.push.armed = false;
    plan_selected(s)
}

fn plan_selected(s: &mut State) -> Vec<Effect> {
    s.push.plan = None;
    match s.push.repos.get(s.push.cursor) {
        Some(repo) => vec![Effect::PlanPush { repo: repo.clone(), apply: s.push.apply }],
        None => vec![],
    }
}

/// Sending takes two presses: the first says what would be sent, the second sends it.
fn push_send(s: &mut State) -> Vec<Effect> {
    if s.push.running {
        return vec![];
    }
    let Some((repo, _, entries)) = s.push.plan.clone() else {
        info(s, "no plan yet");
        return vec![];
    };
    if entries == 0 {
        info(s, "nothing to push");
        return vec![];
    }
    if !s.push.armed {
        s.push.armed = true;
        let what = if s.push.apply { "add labels to" } else { "comment on" };
        info(s, &format!("press P again to {what} {entries} issue(s) of {repo} on GitHub"));
        return vec![];
    }
    s.push.armed = false;
    s.push.running = true;
    s.push.log.clear();
    vec![Effect::Push { repo, apply: s.push.apply }]
}

/// The first press marks run A; the second, on another run, compares A with it.
fn compare_mark(s: &mut State) -> Vec<Effect> {
    let Some((id, _)) = s.runs.rows.get(s.runs.cursor).cloned() else { return vec![] };
    match s.runs.marked.take() {
        Some(a) if a != id => {
            s.runs.comparison = vec![format!("comparing {a} with {id}…")];
            vec![Effect::CompareRuns { a, b: id }]
        }
        _ => {
            info(s, &format!("run {id} is A; move to another run and press c again"));
            s.runs.marked = Some(id);
            vec![]
        }
    }
}
