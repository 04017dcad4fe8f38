//! Moving around: text input, panes, the queue cursor, and focusing an item.

use super::*;

/// Keys that reach text fields: the note editor and the search line.
pub(super) fn key_input(s: &mut State, k: KeyEvent) -> Vec<Effect> {
    match &mut s.overlay {
        Overlay::Note => {
            s.note.input(k);
            vec![]
        }
        Overlay::Picker(_) => super::labels::picker_key(s, k),
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

pub(super) fn cycle_pane(s: &mut State, forward: bool) -> Vec<Effect> {
    let dims = s.taxonomy().map(|t| t.dimensions.len()).unwrap_or(1);
    if s.pane == Pane::Annotation && dims > 1 {
        // Tab stays among the dimensions (wrapping); Shift-Tab from the first leaves.
        if forward {
            s.dim = (s.dim + 1) % dims;
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

pub(super) fn move_in_pane(s: &mut State, delta: isize) -> Vec<Effect> {
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
pub(super) fn move_cursor(s: &mut State, delta: isize) -> Vec<Effect> {
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
    s.unfolded = false;
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

pub(super) fn next_req(s: &mut State) -> u64 {
    let r = s.next_req;
    s.next_req += 1;
    r
}

pub(super) fn item_loaded(
    s: &mut State,
    req: u64,
    key: String,
    item: Option<Loaded>,
) -> Vec<Effect> {
    // Only the answer to the latest request for this key counts.
    if s.loading.get(&key) != Some(&req) {
        return vec![];
    }
    s.loading.remove(&key);
    match item {
        Some(loaded) => {
            s.loaded.insert(key, loaded);
        }
        None => s.message = Some((format!("{key} is no longer in the store"), Severity::Error)),
    }
    vec![]
}
