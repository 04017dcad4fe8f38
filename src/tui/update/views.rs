//! The other views' actions: adjudication picks, similar items, the push plan, run compare.

use super::*;
use crate::tui::refresh::StoreStatus;

/// Another process changed the store: statuses follow it, except for items whose save is
/// still on its way (their answer is the one on screen); new items join the queue.
pub(super) fn store_changed(s: &mut State, mut st: StoreStatus) -> Vec<Effect> {
    for e in s.queue.iter_mut().filter(|e| !e.saving) {
        e.mine = st.mine.remove(&e.key);
        e.disputed = st.disputed.contains(&e.key);
        e.pushed = st.pushed.contains(&e.key);
        if let Some(labels) = st.suggested.remove(&e.key) {
            e.suggested = true;
            e.suggested_labels = labels;
        }
        e.inconsistent = st.inconsistent.contains(&e.key);
        e.confidence = st.confidence.get(&e.key).copied();
    }
    for (dataset, t) in st.taxonomies {
        s.taxonomies.entry(dataset).or_insert(t);
    }
    // Rows on screen stay where they are (as after a save); new items that pass the filter
    // are added at the end.
    let known: std::collections::HashSet<String> = s.queue.iter().map(|e| e.key.clone()).collect();
    for e in st.new_entries.into_iter().filter(|e| !known.contains(&e.key)) {
        if matches(&s.filter, &e, s.hides_answers()) {
            s.visible.push(s.queue.len());
        }
        s.queue.push(e);
    }
    vec![]
}

/// The rest of the queue arrived (or could not be read): its entries join the queue after
/// the first page. Rows on screen stay where they are and the focused item keeps its draft;
/// only a `sort:` filter orders the whole queue again.
pub(super) fn queue_rest(
    s: &mut State,
    rest: Result<crate::tui::QueueRest, String>,
) -> Vec<Effect> {
    s.queue_rest = None;
    let (entries, taxonomies) = match rest {
        Ok(rest) => rest,
        Err(e) => {
            let n = s.queue.len();
            let why = format!("only the first {n} items are in the queue: {e}");
            s.message = Some((why, Severity::Error));
            return vec![];
        }
    };
    for (dataset, t) in taxonomies {
        s.taxonomies.entry(dataset).or_insert(t);
    }
    // An item moved between datasets since the first page was read is there already.
    let known: std::collections::HashSet<String> = s.queue.iter().map(|e| e.key.clone()).collect();
    let from = s.queue.len();
    s.queue.extend(entries.into_iter().filter(|e| !known.contains(&e.key)));
    if s.filter.sort.is_some() {
        let message = s.message.take();
        let fx = refilter(s);
        s.message = message;
        return fx;
    }
    let blind = s.hides_answers();
    let added: Vec<usize> =
        (from..s.queue.len()).filter(|&i| matches(&s.filter, &s.queue[i], blind)).collect();
    s.visible.extend(added);
    vec![]
}

/// Adjudication by one key: the Nth annotator's answer becomes the draft and is saved.
pub(super) fn pick(s: &mut State, n: usize) -> Vec<Effect> {
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
pub(super) fn open_similar(s: &mut State) -> Vec<Effect> {
    let Some(target) =
        s.loaded_current().and_then(|l| l.similar.get(s.similar_cursor)).map(|x| x.key.clone())
    else {
        info(s, "no similar items for this one");
        return vec![];
    };
    let from = s.current().map(|e| (e.key.clone(), s.filter_text.clone()));
    let fx = jump_to(s, &target, None);
    if s.current().is_some_and(|e| e.key == target) {
        s.history.extend(from);
        info(s, &format!("opened similar item {target} (Backspace goes back)"));
    } else {
        info(s, &format!("{target} is not in this queue"));
    }
    fx
}

/// Focus `key`, with the filter `filter` when given (else the current one, cleared when it
/// hides the item).
fn jump_to(s: &mut State, key: &str, filter: Option<String>) -> Vec<Effect> {
    // A selection must not stretch silently to a far-away item.
    s.visual = None;
    let mut fx = Vec::new();
    if let Some(f) = filter.filter(|f| *f != s.filter_text) {
        fx.extend(apply_filter(s, f));
    }
    if !s.visible.iter().any(|&i| s.queue[i].key == key) {
        fx.extend(apply_filter(s, String::new()));
    }
    if let Some(pos) = s.visible.iter().position(|&i| s.queue[i].key == key) {
        s.cursor = pos;
        fx.extend(focus(s));
    }
    fx
}

/// Back to the item and filter before the last similar item opened.
pub(super) fn go_back(s: &mut State) -> Vec<Effect> {
    let Some((key, filter)) = s.history.pop() else {
        info(s, "nothing to go back to");
        return vec![];
    };
    let fx = jump_to(s, &key, Some(filter));
    if s.current().is_some_and(|e| e.key == key) {
        info(s, &format!("back to {key}"));
    } else {
        info(s, &format!("{key} is not in this queue any more"));
    }
    fx
}

/// Open the push view on the repositories whose issues are in the queue.
pub(super) fn open_push(s: &mut State) -> Vec<Effect> {
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

pub(super) fn plan_selected(s: &mut State) -> Vec<Effect> {
    s.push.plan = None;
    match s.push.repos.get(s.push.cursor) {
        Some(repo) => vec![Effect::PlanPush { repo: repo.clone(), apply: s.push.apply }],
        None => vec![],
    }
}

/// Sending takes two presses: the first says what would be sent, the second sends it.
pub(super) fn push_send(s: &mut State) -> Vec<Effect> {
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
    if s.demo {
        info(
            s,
            &format!(
                "{repo} is the demo's made-up repository: nothing is sent. In your workspace, \
                 `sift pull OWNER/REPO` with a GitHub token; then P twice sends the plan"
            ),
        );
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
pub(super) fn compare_mark(s: &mut State) -> Vec<Effect> {
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

/// The focused item's web address, when it has an http(s) one (the text comes from GitHub:
/// nothing else is handed to the browser).
fn item_url(s: &State) -> Option<String> {
    let url = s.loaded_current()?.item.url.clone()?;
    let parsed = reqwest::Url::parse(&url).ok()?;
    matches!(parsed.scheme(), "http" | "https").then(|| parsed.to_string())
}

pub(super) fn open_browser(s: &mut State) -> Vec<Effect> {
    // The web page shows the labels set at the source, which blind review hides.
    if s.current().is_some_and(|e| s.hides_answers_of(e)) {
        info(s, "blind review: the web page would show the item's labels; save it first");
        return vec![];
    }
    match item_url(s) {
        Some(url) => {
            info(s, &format!("opening {url}"));
            vec![Effect::OpenUrl { url }]
        }
        None => {
            info(s, "this item has no web page (y copies its key)");
            vec![]
        }
    }
}

pub(super) fn copy_ref(s: &mut State) -> Vec<Effect> {
    let Some(key) = s.current().map(|e| e.key.clone()) else { return vec![] };
    let text = item_url(s).unwrap_or(key);
    info(s, &format!("copied {text}"));
    vec![Effect::Copy { text }]
}

/// A click focuses the pane under it (and, in the queue, the row); the wheel scrolls the
/// queue or the item text. Only in the review screen, with no overlay open.
pub(super) fn mouse(s: &mut State, kind: MouseKind, column: u16, row: u16) -> Vec<Effect> {
    let too_small = s.size.0 < crate::tui::ui::MIN_WIDTH || s.size.1 < crate::tui::ui::MIN_HEIGHT;
    if s.view != View::Review || s.overlay != Overlay::None || too_small {
        return vec![];
    }
    let area = ratatui::layout::Rect::new(0, 0, s.size.0, s.size.1);
    let a = crate::tui::review::areas(area, s);
    let at = ratatui::layout::Position::new(column, row);
    let pane = [
        (a.queue, Pane::Queue),
        (a.item, Pane::Item),
        (a.suggestion, Pane::Suggestion),
        (a.annotation, Pane::Annotation),
    ]
    .into_iter()
    .find(|(r, _)| r.contains(at))
    .map(|(_, p)| p);
    let Some(pane) = pane else { return vec![] };
    match (kind, pane) {
        (MouseKind::Click, Pane::Queue) => {
            s.pane = Pane::Queue;
            let inner_top = a.queue.y + 1;
            let h = a.queue.height.saturating_sub(2) as usize;
            if row < inner_top || row >= inner_top + h as u16 || h == 0 {
                return vec![];
            }
            let offset = s.cursor.saturating_sub(h.saturating_sub(1));
            let pos = offset + (row - inner_top) as usize;
            if pos < s.visible.len() && pos != s.cursor {
                s.cursor = pos;
                return focus(s);
            }
            vec![]
        }
        (MouseKind::Click, p) => {
            s.pane = p;
            vec![]
        }
        (MouseKind::ScrollDown, Pane::Queue) => move_cursor(s, 3),
        (MouseKind::ScrollUp, Pane::Queue) => move_cursor(s, -3),
        (MouseKind::ScrollDown, Pane::Item) => {
            s.item_scroll = s.item_scroll.saturating_add(3);
            vec![]
        }
        (MouseKind::ScrollUp, Pane::Item) => {
            s.item_scroll = s.item_scroll.saturating_sub(3);
            vec![]
        }
        _ => vec![],
    }
}
