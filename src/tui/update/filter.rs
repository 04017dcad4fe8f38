//! The queue filter line: `status:`, `label:`, `dataset:`, `repo:`, the structural signals
//! `lang:`, `tools:` and `turns:`, `sort:`, and free words.

use super::*;
use crate::tui::state::SortKey;

/// Parse a filter line: `status:new label:bug dataset:demo repo:o/r free words`.
pub fn parse_filter(text: &str) -> Filter {
    let mut f = Filter::default();
    for word in text.split_whitespace() {
        match word.split_once(':') {
            Some(("status", v)) => f.status = Some(v.to_lowercase()),
            Some(("label", v)) => f.label = Some(v.to_string()),
            Some(("dataset", v)) => f.dataset = Some(v.to_string()),
            Some(("repo", v)) => f.repo = Some(v.to_string()),
            Some(("lang", v)) => f.lang = Some(crate::text::signals::normalise_lang(v)),
            Some(("tools", v)) => f.tools = parse_yes_no(v),
            Some(("turns", v)) if parse_count(v).is_some() => f.turns = parse_count(v),
            Some(("sort", v)) if parse_sort(v).is_some() => f.sort = parse_sort(v),
            _ => f.text.push(word.to_lowercase()),
        }
    }
    f
}

fn parse_sort(v: &str) -> Option<SortKey> {
    match v.to_ascii_lowercase().as_str() {
        "confidence" | "conf" | "uncertain" => Some(SortKey::Confidence),
        "disagreement" | "disputed" | "agreement" => Some(SortKey::Disagreement),
        "age" | "oldest" => Some(SortKey::Age),
        "newest" | "-age" | "recent" => Some(SortKey::Newest),
        _ => None,
    }
}

/// Order the matching items as `sort:` asks (stable: ties keep the queue's order).
fn sort_visible(s: &mut State) {
    let Some(key) = s.filter.sort else { return };
    let queue = &s.queue;
    match key {
        SortKey::Confidence => s.visible.sort_by(|&a, &b| {
            let c = |i: usize| queue[i].confidence.unwrap_or(f64::INFINITY);
            c(a).total_cmp(&c(b))
        }),
        SortKey::Disagreement => s.visible.sort_by_key(|&i| !queue[i].disputed),
        // By when items were opened; those whose source gives no time keep store order,
        // after the dated ones.
        SortKey::Age => {
            let q = &s.queue;
            s.visible.sort_by_key(|&i| (q[i].created.unwrap_or(i64::MAX), i));
        }
        SortKey::Newest => {
            let q = &s.queue;
            s.visible.sort_by_key(|&i| {
                (std::cmp::Reverse(q[i].created.unwrap_or(i64::MIN)), std::cmp::Reverse(i))
            });
        }
    }
}

fn parse_yes_no(v: &str) -> Option<bool> {
    match v.to_ascii_lowercase().as_str() {
        "yes" | "y" | "true" | "1" => Some(true),
        "no" | "n" | "false" | "0" => Some(false),
        _ => None,
    }
}

/// `>4`, `<3`, `6`.
fn parse_count(v: &str) -> Option<(std::cmp::Ordering, usize)> {
    use std::cmp::Ordering::*;
    let (ord, n) = match v.chars().next()? {
        '>' => (Greater, &v[1..]),
        '<' => (Less, &v[1..]),
        _ => (Equal, v),
    };
    n.parse().ok().map(|n| (ord, n))
}

/// Whether an entry's structural signals pass the filter's `lang:`, `tools:` and `turns:`.
fn signals_match(f: &Filter, e: &Entry) -> bool {
    let s = &e.signals;
    if f.lang.is_none() && f.tools.is_none() && f.turns.is_none() {
        return true;
    }
    // An item stored before signals were kept is not known to have (or lack) any.
    if !s.known {
        return false;
    }
    f.lang.as_ref().is_none_or(|l| s.languages.iter().any(|x| x == l))
        && f.tools.is_none_or(|t| s.tools == t)
        && f.turns.is_none_or(|(ord, n)| s.turns.cmp(&n) == ord)
}

/// Whether an entry passes a filter.
/// Whether `e` passes the filter. With `blind`, `label:` looks at this annotator's own labels
/// only (matching suggested labels would show them), and `status:disputed` matches nothing.
pub fn matches(f: &Filter, e: &Entry, blind: bool) -> bool {
    let status_ok = match f.status.as_deref() {
        None => true,
        Some("new") => e.mine.is_none() && !e.suggested,
        Some("suggested") => e.suggested,
        Some("mine" | "annotated" | "done") => e.mine.is_some(),
        Some("todo" | "open") => e.mine.is_none(),
        Some("disputed") => e.disputed && !blind,
        Some("pushed") => e.pushed,
        Some("inconsistent") => e.inconsistent && !blind,
        Some(_) => false,
    };
    let label_ok = f.label.as_ref().is_none_or(|l| {
        e.mine.as_ref().is_some_and(|m| m.contains(l)) || (!blind && e.suggested_labels.contains(l))
    });
    let title = e.title.to_lowercase();
    status_ok
        && label_ok
        && signals_match(f, e)
        && f.dataset.as_ref().is_none_or(|d| &e.dataset == d)
        && f.repo.as_ref().is_none_or(|r| e.repo.as_ref() == Some(r))
        && f.text
            .iter()
            .all(|w| title.contains(w.as_str()) || e.key.to_lowercase().contains(w.as_str()))
}

/// The filter applied again to a queue that changed under it (its rest read, statuses
/// arrived): the focused item, when it stays in view, keeps its draft, note and place.
pub(crate) fn refilter(s: &mut State) -> Vec<Effect> {
    let key = s.current().map(|e| e.key.clone());
    let draft = s.draft.clone();
    let note = std::mem::take(&mut s.note);
    let kept = (s.item_scroll, s.unfolded, s.similar_cursor, s.dim, s.label_cursor);
    let fx = apply_filter(s, s.filter_text.clone());
    if key.is_some() && s.current().map(|e| e.key.clone()) == key {
        s.draft = draft;
        s.note = note;
        (s.item_scroll, s.unfolded, s.similar_cursor, s.dim, s.label_cursor) = kept;
    }
    fx
}

pub(crate) fn apply_filter(s: &mut State, text: String) -> Vec<Effect> {
    let current_key = s.current().map(|e| e.key.clone());
    // Positions change with the filter: a visual selection would cover other items.
    s.visual = None;
    s.filter = parse_filter(&text);
    s.filter_text = text;
    s.visible = (0..s.queue.len())
        .filter(|&i| matches(&s.filter, &s.queue[i], s.hides_answers()))
        .collect();
    // In blind review a confidence or disagreement order would show what the suggestions
    // think, or that others disagree.
    let telling = matches!(s.filter.sort, Some(SortKey::Confidence | SortKey::Disagreement));
    if !(s.hides_answers() && telling) {
        sort_visible(s);
    }
    s.cursor =
        current_key.and_then(|k| s.visible.iter().position(|&i| s.queue[i].key == k)).unwrap_or(0);
    let n = s.visible.len();
    let what = if n == 1 { "item matches" } else { "items match" };
    s.message = Some((format!("{n} {what}"), Severity::Info));
    focus(s)
}
