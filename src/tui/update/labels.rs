//! Labeling: toggling, accepting suggestions, saving, and undo.

use super::*;

/// Labels of the focused dimension.
pub(super) fn dim_labels(s: &State) -> Vec<String> {
    s.taxonomy()
        .and_then(|t| t.dimensions.get(s.dim))
        .map(|d| d.labels.iter().filter(|l| !l.deprecated).map(|l| l.name.clone()).collect())
        .unwrap_or_default()
}

pub(super) fn toggle_nth(s: &mut State, n: usize) -> Vec<Effect> {
    let Some(tax) = s.taxonomy().cloned() else { return vec![] };
    let Some(dim) = tax.dimensions.get(s.dim) else { return vec![] };
    let names: Vec<&str> =
        dim.labels.iter().filter(|l| !l.deprecated).map(|l| l.name.as_str()).collect();
    let Some(name) = n.checked_sub(1).and_then(|i| names.get(i)).map(|n| n.to_string()) else {
        return vec![];
    };
    s.label_cursor = n - 1;
    toggle_label(s, dim, &name);
    vec![]
}

/// Toggle a label of `dim`; in a pick-one dimension it replaces the one there.
fn toggle_label(s: &mut State, dim: &crate::taxonomy::Dimension, name: &str) {
    if s.draft.labels.contains(name) {
        s.draft.labels.remove(name);
        return;
    }
    if dim.select == Select::One {
        for other in &dim.labels {
            s.draft.labels.remove(&other.name);
        }
    }
    s.draft.labels.insert(name.to_string());
}

/// One label the picker offers: its dimension (index and name) and name.
#[derive(Debug, Clone, PartialEq)]
pub struct PickerMatch {
    pub dim: usize,
    pub dimension: String,
    pub label: String,
}

/// How well `query` names a label: its name's start first, then an alias's start, then
/// anywhere in the name, then its letters in order (fuzzy), then the dimension's name.
/// None: no match. Case is ignored.
fn picker_score(query: &str, dimension: &str, l: &crate::taxonomy::LabelDef) -> Option<u8> {
    let q = query.to_lowercase();
    let name = l.name.to_lowercase();
    let aliases: Vec<String> = l.aliases.iter().map(|a| a.to_lowercase()).collect();
    if name.starts_with(&q) {
        Some(0)
    } else if aliases.iter().any(|a| a.starts_with(&q)) {
        Some(1)
    } else if name.contains(&q) || aliases.iter().any(|a| a.contains(&q)) {
        Some(2)
    } else if subsequence(&q, &name) {
        Some(3)
    } else if dimension.to_lowercase().starts_with(&q) {
        Some(4)
    } else {
        None
    }
}

fn subsequence(q: &str, text: &str) -> bool {
    let mut chars = text.chars();
    q.chars().all(|c| chars.any(|t| t == c))
}

/// The labels of every dimension matching the picker's query, best first (file order among
/// equals); every label for an empty query.
pub fn picker_matches(s: &State, query: &str) -> Vec<PickerMatch> {
    let Some(tax) = s.taxonomy() else { return Vec::new() };
    let mut found: Vec<(u8, usize, PickerMatch)> = Vec::new();
    for (di, d) in tax.dimensions.iter().enumerate() {
        for l in d.labels.iter().filter(|l| !l.deprecated) {
            let score = if query.is_empty() { Some(0) } else { picker_score(query, &d.name, l) };
            if let Some(score) = score {
                let m = PickerMatch { dim: di, dimension: d.name.clone(), label: l.name.clone() };
                found.push((score, found.len(), m));
            }
        }
    }
    found.sort_by_key(|(score, order, _)| (*score, *order));
    found.into_iter().map(|(_, _, m)| m).collect()
}

/// A key in the label picker: typing filters; Enter toggles the highlighted label (or, with
/// nothing typed, saves and goes to the next item, the picker staying open); 1-9 toggle that
/// match after something is typed; arrows move; Esc closes.
pub(super) fn picker_key(s: &mut State, k: crossterm::event::KeyEvent) -> Vec<Effect> {
    use crossterm::event::{KeyCode, KeyModifiers};
    let Overlay::Picker(p) = &s.overlay else { return vec![] };
    let mut p = p.clone();
    let ctrl = k.modifiers.contains(KeyModifiers::CONTROL);
    let n = picker_matches(s, &p.query).len();
    let pick = match k.code {
        KeyCode::Esc => {
            s.overlay = Overlay::None;
            return vec![];
        }
        KeyCode::Enter if p.query.is_empty() => return save_next(s),
        KeyCode::Enter => Some(p.cursor),
        KeyCode::Down | KeyCode::Char('n') if k.code == KeyCode::Down || ctrl => {
            p.cursor = (p.cursor + 1).min(n.saturating_sub(1));
            None
        }
        KeyCode::Up | KeyCode::Char('p') if k.code == KeyCode::Up || ctrl => {
            p.cursor = p.cursor.saturating_sub(1);
            None
        }
        KeyCode::Backspace => {
            p.query.pop();
            p.cursor = 0;
            None
        }
        // A digit picks a match, unless the query with it still names a label (`p1`, `sev2`).
        KeyCode::Char(c @ '1'..='9')
            if !p.query.is_empty() && picker_matches(s, &format!("{}{c}", p.query)).is_empty() =>
        {
            Some(c as usize - '1' as usize)
        }
        KeyCode::Char(c) if !c.is_control() && !ctrl => {
            p.query.push(c);
            p.cursor = 0;
            None
        }
        _ => None,
    };
    if let Some(i) = pick {
        let matches = picker_matches(s, &p.query);
        let dim = matches.get(i).and_then(|m| {
            let d = s.taxonomy().and_then(|t| t.dimensions.get(m.dim)).cloned()?;
            Some((m.clone(), d))
        });
        match dim {
            Some((m, dim)) => {
                toggle_label(s, &dim, &m.label);
                s.dim = m.dim;
                let mut live = dim.labels.iter().filter(|l| !l.deprecated);
                s.label_cursor = live.position(|l| l.name == m.label).unwrap_or(0);
                let on = if s.draft.labels.contains(&m.label) { "+" } else { "-" };
                info(s, &format!("{on}{} ({})", m.label, m.dimension));
                // The query starts again only when something was toggled: a second Enter
                // after a miss must not save.
                p = Default::default();
            }
            None => info(s, &format!("no label matches {:?}", p.query)),
        }
    }
    s.overlay = Overlay::Picker(p);
    vec![]
}

pub(super) fn accept(s: &mut State) -> Vec<Effect> {
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

pub(super) fn ordered_labels(s: &State) -> Vec<String> {
    match s.taxonomy() {
        Some(t) => t.label_names().into_iter().filter(|n| s.draft.labels.contains(n)).collect(),
        None => s.draft.labels.iter().cloned().collect(),
    }
}

/// Visual mode on (selection starts here) or off.
pub(super) fn toggle_visual(s: &mut State) -> Vec<Effect> {
    if s.visual.take().is_some() {
        info(s, "visual mode off");
        return vec![];
    }
    if s.view != View::Review || s.sample_week.is_some() {
        info(s, "visual mode is for the review queue (each sample item is judged alone)");
        return vec![];
    }
    s.visual = Some(s.cursor);
    info(s, "visual: move to select items, pick labels, Enter saves them for every one (u undoes)");
    vec![]
}

/// Hand an annotation of `entry` to the worker, and remember how to undo it (`group` ties the
/// saves one undo takes back together; 0 for a save of its own).
fn queue_save(
    s: &mut State,
    entry: &Entry,
    annotation: Annotation,
    previous_note: String,
    group: u64,
) -> Effect {
    let req = next_req(s);
    s.pending_saves.insert(req, entry.key.clone());
    s.undo_stack.push(SaveRecord {
        key: entry.key.clone(),
        dataset: entry.dataset.clone(),
        previous: entry.mine.clone(),
        previous_note,
        labels: annotation.labels.clone(),
        note: annotation.note.clone(),
        group,
    });
    if let Some(e) = s.entry_mut(&entry.key) {
        e.saving = true;
    }
    Effect::Save {
        req,
        dataset: entry.dataset.clone(),
        annotation: Box::new(annotation),
        undo: false,
    }
}

/// Save the draft's labels for every selected item, each as its own annotation; one undo
/// takes them all back.
fn save_selection(s: &mut State, labels: Vec<String>) -> Vec<Effect> {
    let range = s.selection();
    let entries: Vec<Entry> = range.clone().map(|p| s.queue[s.visible[p]].clone()).collect();
    let group = next_req(s);
    let note = s.note.lines().join("\n").trim().to_string();
    let mode = if s.blind { Mode::Blind } else { Mode::Assisted };
    let mut fx = Vec::new();
    for entry in &entries {
        let annotation = Annotation {
            item: entry.key.clone(),
            annotator: s.annotator.clone(),
            labels: labels.clone(),
            at: s.now_rfc3339.clone(),
            mode,
            note: note.clone(),
            duration_ms: None,
            // Labels given to many items at once were not a judgement of each one's suggestion.
            suggestion: None,
            week: None,
            retracted: false,
        };
        fx.push(queue_save(s, entry, annotation, String::new(), group));
    }
    s.visual = None;
    s.message = Some((
        format!(
            "saving {} with {}…",
            crate::text::count(entries.len(), "item", "items"),
            labels.join(", ")
        ),
        Severity::Info,
    ));
    if range.end < s.visible.len() {
        s.cursor = range.end;
        fx.extend(focus(s));
    }
    fx
}

pub(super) fn save_next(s: &mut State) -> Vec<Effect> {
    let labels = ordered_labels(s);
    if labels.is_empty() {
        // An accidental Enter must not record "no labels" as an answer.
        let why = if s.visual.is_some() {
            "pick labels for the selected items first (v leaves visual mode)"
        } else {
            "pick at least one label first (s skips the item)"
        };
        info(s, why);
        return vec![];
    }
    if let Some(Err(why)) = s.taxonomy().map(|t| t.check_answer(&labels)) {
        s.message = Some((format!("not saved: {why}"), Severity::Error));
        return vec![];
    }
    if s.visual.is_some() {
        let range = s.selection();
        let mut datasets = range.map(|p| s.queue[s.visible[p]].dataset.clone());
        let first = datasets.next();
        if datasets.any(|d| Some(&d) != first.as_ref()) {
            let msg =
                "the selection spans datasets with their own labels: select one dataset's items";
            s.message = Some((msg.into(), Severity::Error));
            return vec![];
        }
        return save_selection(s, labels);
    }
    let Some(entry) = s.current().cloned() else { return vec![] };
    // The suggestion the item had is recorded whether or not it was shown (the mode says
    // which), as `sift annotate` does: blind answers are how suggestions are scored without
    // anchoring. A second answer in one session was made after the reveal: none then.
    let suggestion = (!s.saved_keys.contains(&entry.key))
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
    let previous_note = match (&entry.mine, s.loaded_current()) {
        (Some(_), Some(l)) => l.notes.get(&s.annotator).cloned().unwrap_or_default(),
        _ => String::new(),
    };
    s.message = Some((format!("saving {}…", entry.key), Severity::Info));
    let mut fx = vec![queue_save(s, &entry, annotation, previous_note, 0)];
    if s.cursor + 1 < s.visible.len() {
        s.cursor += 1;
        fx.extend(focus(s));
    }
    fx
}

pub(super) fn saved(s: &mut State, req: u64, key: &str, labels: Vec<String>) {
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

pub(super) fn undo(s: &mut State) -> Vec<Effect> {
    let Some(rec) = s.undo_stack.pop() else {
        info(s, "nothing to undo");
        return vec![];
    };
    // A visual-mode save is undone whole: every item of its group (the newest last, so the
    // cursor ends on it).
    let mut fx = Vec::new();
    if rec.group != 0 {
        while s.undo_stack.last().is_some_and(|r| r.group == rec.group) {
            if let Some(r) = s.undo_stack.pop() {
                fx.extend(undo_one(s, r));
            }
        }
    }
    fx.extend(undo_one(s, rec));
    fx
}

fn undo_one(s: &mut State, rec: SaveRecord) -> Vec<Effect> {
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
        // The earlier answer comes back whole, its note included.
        note: rec.previous_note.clone(),
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
        // The undone answer's note is back in the editor, ready to change with its labels.
        s.note = ratatui_textarea::TextArea::from(rec.note.lines().map(str::to_string));
    }
    fx
}
