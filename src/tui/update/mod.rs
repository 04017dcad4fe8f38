//! The pure state transition: update(state, action) -> effects. No IO, no clock reads (the
//! event loop sets `now_ms` and `now_rfc3339` before calling it).

use crossterm::event::{KeyCode, KeyEvent};

use super::action::{Action, MouseKind};
use super::state::{
    Effect, Entry, Filter, Loaded, Overlay, Pane, SaveRecord, Severity, State, View,
};
use crate::model::{Annotation, Mode, SuggestionRef};
use crate::taxonomy::Select;

mod filter;
mod labels;
mod navigate;
mod views;

pub use filter::*;
use labels::*;
pub use labels::{PickerMatch, picker_matches};
pub use navigate::*;
use views::*;

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
        Action::SuggestionStatus(st) => {
            s.status_pending = false;
            for e in &mut s.queue {
                if let Some(l) = st.labels.get(&e.key) {
                    e.suggested = true;
                    e.suggested_labels = l.clone();
                }
                e.inconsistent = st.inconsistent.contains(&e.key);
                e.confidence = st.confidence.get(&e.key).copied();
                // A save on its way reports the item's dispute itself (`Saved`).
                if !e.saving {
                    e.disputed = st.disputed.contains(&e.key);
                }
            }
            s.band_accuracy = st.bands;
            // A `label:`, `sort:` or status filter typed before the status arrived is applied
            // again.
            if s.filter.label.is_some()
                || s.filter.sort.is_some()
                || matches!(s.filter.status.as_deref(), Some("inconsistent" | "disputed"))
            {
                return refilter(s);
            }
            vec![]
        }
        Action::QueueRest(rest) => queue_rest(s, *rest),
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
        Action::LabelPicker => {
            if s.current().is_some() && s.taxonomy().is_some() {
                s.overlay = Overlay::Picker(Default::default());
            }
            vec![]
        }
        Action::ToggleVisual => toggle_visual(s),
        Action::ToggleFold => {
            s.unfolded = !s.unfolded;
            info(s, if s.unfolded { "long turns shown whole" } else { "long turns folded" });
            vec![]
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
            // Orders and label matches built on suggestions must follow the mode; the item
            // being labeled keeps its draft.
            let fx = if s.filter.sort.is_some() || s.filter.label.is_some() {
                let (key, draft) = (s.current().map(|e| e.key.clone()), s.draft.clone());
                let text = s.filter_text.clone();
                let fx = apply_filter(s, text);
                if s.current().map(|e| e.key.clone()) == key {
                    s.draft = draft;
                }
                fx
            } else {
                vec![]
            };
            info(s, msg);
            fx
        }
        Action::Search => {
            s.overlay = Overlay::Search(String::new());
            vec![]
        }
        Action::ClearFilter if s.visual.is_some() => {
            s.visual = None;
            info(s, "visual mode off");
            vec![]
        }
        Action::ClearFilter => {
            if s.filter_text.is_empty() {
                return vec![];
            }
            apply_filter(s, String::new())
        }
        Action::ItemLoaded { req, key, item, suggestion, answers, similar, notes } => {
            let item = (*item)
                .map(|item| Loaded::new(item, suggestion.map(|b| *b), answers, similar, notes));
            item_loaded(s, req, key, item)
        }
        Action::OpenSimilar => open_similar(s),
        Action::Back => go_back(s),
        Action::OpenBrowser => open_browser(s),
        Action::CopyRef => copy_ref(s),
        Action::Mouse { kind, column, row } => mouse(s, kind, column, row),
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
        Action::Saved { req, key, labels, behind, disputed } => {
            saved(s, req, &key, labels);
            if let (Some(d), Some(e)) = (disputed, s.entry_mut(&key)) {
                e.disputed = d;
            }
            if let Some(why) = behind {
                s.message = Some((format!("saved {key} {why}"), Severity::Error));
            }
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
        Action::Undone { req, key, labels, behind } => {
            s.pending_saves.remove(&req);
            if let Some(e) = s.entry_mut(&key) {
                e.saving = false;
                e.mine = labels;
            }
            s.saved_keys.remove(&key);
            s.message = Some(match behind {
                None => (format!("undone: {key}"), Severity::Ok),
                Some(why) => (format!("undone: {key}, {why}"), Severity::Error),
            });
            vec![]
        }
        Action::Failed { error } => {
            s.message = Some((error, Severity::Error));
            vec![]
        }
        Action::StoreChanged(status) => store_changed(s, *status),
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
