//! Following the store while other processes write to it: imports, a second annotator,
//! `sift suggest`. The worker checks SQLite's `data_version` on every tick and, only when
//! another connection committed, reads the queue's status again (answers, pushes,
//! suggestions) and the items added since, never item texts.

use std::collections::{HashMap, HashSet};

use super::state::Entry;
use crate::app::Context;
use crate::store::Store;
use crate::taxonomy::Taxonomy;

/// The queue's status as the store has it now.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct StoreStatus {
    /// This annotator's current answer per item.
    pub mine: HashMap<String, Vec<String>>,
    pub disputed: HashSet<String>,
    pub pushed: HashSet<String>,
    /// Latest suggested labels per item.
    pub suggested: HashMap<String, Vec<String>>,
    /// Items whose latest suggestion breaks a consistency rule.
    pub inconsistent: HashSet<String>,
    /// The top confidence of each item's latest suggestion.
    pub confidence: HashMap<String, f64>,
    /// Items added since the queue was read, with the taxonomies of their datasets.
    pub new_entries: Vec<Entry>,
    pub taxonomies: HashMap<String, Taxonomy>,
}

/// What the worker remembers between ticks.
#[derive(Debug, Default)]
pub struct Follow {
    /// `PRAGMA data_version` when last read; it changes only on other connections' commits.
    seen: Option<i64>,
    /// The highest item id in the queue; newer items are added (unless the queue is a fixed
    /// list, such as the weekly sample).
    last_item: Option<i64>,
}

impl Follow {
    /// Start following from the store as it is now (the queue was just read from it).
    pub fn start(store: &Store, fixed_queue: bool) -> Self {
        let last_item = if fixed_queue { None } else { store.max_item_id().ok() };
        Follow { seen: store.data_version().ok(), last_item }
    }
}

/// The store's status when another process changed it since the last call, else `None`.
pub fn changed(
    ctx: &mut Context,
    follow: &mut Follow,
    dataset: Option<&str>,
    annotator: &str,
) -> anyhow::Result<Option<StoreStatus>> {
    let now = ctx.store.data_version()?;
    if follow.seen == Some(now) {
        return Ok(None);
    }
    follow.seen = Some(now);
    // A teammate's `sift annotate` wrote its log and the store; our own replay catches up
    // with any log lines the store has not taken yet.
    crate::workspace::log::replay(&ctx.ws, &mut ctx.store)?;
    let mine = ctx.store.annotator_answers(dataset, annotator)?;
    let st = super::suggestion_status(&ctx.store, dataset)?;
    let mut status = StoreStatus {
        mine,
        disputed: st.disputed,
        pushed: ctx.store.pushed_keys()?,
        suggested: st.labels,
        inconsistent: st.inconsistent,
        confidence: st.confidence,
        ..Default::default()
    };
    if let Some(after) = follow.last_item {
        for r in ctx.store.queue_rows_after(dataset, after)? {
            follow.last_item = Some(follow.last_item.map_or(r.id, |m| m.max(r.id)));
            if !status.taxonomies.contains_key(&r.dataset) {
                let t = ctx.labels.get(ctx.ws.settings.taxonomy_for(&r.dataset))?;
                status.taxonomies.insert(r.dataset.clone(), t.clone());
            }
            let mine = status.mine.get(&r.key).cloned();
            let (disputed, pushed) =
                (status.disputed.contains(&r.key), status.pushed.contains(&r.key));
            let suggested = status.suggested.get(&r.key).cloned();
            let inconsistent = status.inconsistent.contains(&r.key);
            let mut e = Entry::from_row(r, mine, disputed, pushed, suggested);
            e.inconsistent = inconsistent;
            e.confidence = status.confidence.get(&e.key).copied();
            status.new_entries.push(e);
        }
    }
    Ok(Some(status))
}
