//! The similarity index: FTS5 over item text, stored keywords per item, and the queries
//! `sift similar` runs against them.
//!
//! Why an explicit `refresh_index` rather than triggers: keywords need document frequencies
//! over the *whole* batch (tf-idf against a store that is half imported picks worse terms), so
//! they are chosen after the writes. `sift import`, `sift pull` and `sift similar` call
//! `refresh_index`; it indexes only items whose content hash (or taxonomy) changed since they
//! were indexed and drops rows of items that are gone. `item_index` deliberately has no
//! foreign key to `items`, so a deleted item leaves a row behind that tells the refresh what
//! to remove.
//!
//! An import does the text half as it writes (`index_as_written`, see `feed.rs`): the FTS rows
//! go in with the items, and their terms are counted on another thread, so its refresh only
//! chooses keywords. Reading 100k texts back and counting them on the writer's thread cost
//! more than the FTS writes add to the import's transactions.

use std::collections::HashMap;

use rusqlite::{OptionalExtension, Transaction, params};
use serde::Serialize;

use super::feed::{Counted, Entries, Entry, EntryReader, Feeding, ShortHash};
use super::spool::{Interned, Spool, SpoolReader, Vocab};
use super::{Result, Store, StoreError, sql_err};
use crate::text::keywords::{self, LabelMatcher, LabelPhrases};

/// What a refresh did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct IndexReport {
    /// Items (re)indexed because their text or taxonomy changed, or they are new.
    pub indexed: usize,
    /// Unchanged items whose keywords were re-scored because the store grew or shrank.
    pub rescored: usize,
    /// Items removed from the index because they left the store.
    pub removed: usize,
    /// Items in the index afterwards.
    pub docs: u64,
}

/// A candidate from the keyword index, with what re-ranking needs.
#[derive(Debug, Clone, PartialEq)]
pub struct KeywordHit {
    pub id: i64,
    pub key: String,
    pub title: String,
    /// FTS5 BM25 rank (more negative is better).
    pub rank: f64,
    pub keywords: Vec<String>,
}

/// `meta` keys: the item change counter and the taxonomies the index was last brought in
/// step with.
const INDEXED_CHANGES: &str = "index_item_changes";
const INDEXED_TAXONOMIES: &str = "index_taxonomies";

/// `meta` key: the item count at which every keyword was last scored.
const KEYWORDS_SCORED_AT: &str = "keywords_scored_at_items";

/// Above this many distinct terms a refresh reads the whole vocabulary once instead of
/// looking terms up one by one.
const VOCAB_SCAN_THRESHOLD: usize = 4000;

#[derive(Debug, Clone, Copy)]
struct Pending {
    id: i64,
    /// The content hash the work was planned for (a refresh can hold a million of these).
    hash: ShortHash,
    /// Its dataset, in [`Work::datasets`].
    dataset: u32,
    /// Neither text nor taxonomy changed: only the keywords are re-scored.
    rescore_only: bool,
}

/// A dataset of pending items, with the hash of its taxonomy's labels now.
struct DatasetLabels {
    name: String,
    labels_hash: String,
}

/// What a refresh has to do: items to (re)index, by id, and items to remove.
struct Work {
    /// Items to (re)index that no term count of an import stands for: their text is read.
    pending: Vec<Pending>,
    /// Items an import counted as it wrote them, kept out of `pending` (a million of them
    /// took 32 MB there).
    fed: Option<Fed>,
    removed: Vec<i64>,
    datasets: Vec<DatasetLabels>,
}

/// Which of an import's counted entries stand for an item to index now: the same item, with
/// the same text, dataset and taxonomy as the refresh finds them.
struct Fed {
    /// One for each entry, in the entries' order.
    covers: Vec<bool>,
    /// The import's dataset numbers in the refresh's, where name and taxonomy still agree.
    same_dataset: Vec<Option<u32>>,
    /// Entries that stand for an item.
    covered: usize,
}

impl Fed {
    /// The item entry `e` (the `k`th) stands for, when it stands for one.
    fn item(&self, k: usize, e: &Entry) -> Option<Pending> {
        if !self.covers.get(k).copied().unwrap_or(false) {
            return None;
        }
        let dataset = self.same_dataset.get(e.dataset as usize).copied().flatten()?;
        Some(Pending { id: e.id, hash: e.hash, dataset, rescore_only: false })
    }
}

impl Store {
    /// Bring the similarity index in step with the items table: index new and changed items
    /// (content hash or taxonomy changed), remove items that are gone, recompute their keywords
    /// (and every item's keywords once the store has doubled, see `keywords_outdated`).
    pub fn refresh_index(&mut self, labels: &LabelMatcher) -> Result<IndexReport> {
        // Terms an import counted as it wrote: used, or dropped when there is nothing to do.
        let mut counted = self.feeding.take().and_then(Feeding::finish);
        let items = self.item_count(None)?.max(0) as u64;
        let rescore = self.keywords_outdated(items)?;
        // Read before the work: changes made meanwhile make the next refresh look again.
        let changes = self.item_changes()?.to_string();
        let taxonomies = labels.fingerprint();
        let current = self.meta_get(INDEXED_CHANGES)?.as_deref() == Some(changes.as_str())
            && self.meta_get(INDEXED_TAXONOMIES)?.as_deref() == Some(taxonomies.as_str());
        if current && !rescore {
            return Ok(IndexReport { docs: self.indexed_docs()?, ..Default::default() });
        }
        let work = self.index_work(labels, rescore, counted.as_mut())?;
        let fed = work.fed.as_ref().map_or(0, |f| f.covered);
        let (pending, removed) = (work.pending.len() + fed, work.removed.len());
        let rescored = work.pending.iter().filter(|p| p.rescore_only).count();
        let mut report = IndexReport { indexed: pending - rescored, rescored, removed, docs: 0 };
        if pending > 0 || removed > 0 || rescore {
            self.apply(&work, labels, counted)?;
            if rescore {
                self.conn
                    .execute(
                        "INSERT INTO meta(key, value) VALUES (?1, ?2)
                         ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                        params![KEYWORDS_SCORED_AT, items.to_string()],
                    )
                    .map_err(|e| self.err(e))?;
            }
            tracing::info!(indexed = pending, removed, "similarity index");
        }
        self.meta_set(INDEXED_CHANGES, &changes)?;
        self.meta_set(INDEXED_TAXONOMIES, &taxonomies)?;
        report.docs = self.indexed_docs()?;
        Ok(report)
    }

    /// Index the text of `dataset`'s items as they are written (an import): their FTS rows
    /// go in with the items, and their terms are counted on a thread of their own, so the
    /// next [`Store::refresh_index`] does not read them back. `phrases` is the dataset's
    /// taxonomy; a refresh that finds another one counts the items again.
    pub fn index_as_written(&mut self, dataset: &str, phrases: LabelPhrases) -> Result<()> {
        if self.feeding.is_none() {
            let dir = self.path.parent().filter(|d| d.is_dir());
            let started = Feeding::start(dir)
                .map_err(|source| StoreError::Spool { path: self.path.clone(), source })?;
            self.feeding = Some(started);
        }
        if let Some(f) = &mut self.feeding {
            f.add_dataset(dataset, phrases);
        }
        Ok(())
    }

    /// Keywords are chosen by tf-idf against the store as it was when an item was indexed, so
    /// the first items of a store that then grew a hundredfold keep keywords picked from a
    /// handful of documents. Every keyword is re-scored whenever the store has doubled or
    /// shrunk below half since the last full scoring: geometric steps keep the work linear.
    /// A store without that record (first refresh, or made before this rule) is fully scored.
    fn keywords_outdated(&self, items: u64) -> Result<bool> {
        let scored_at = self.meta_get(KEYWORDS_SCORED_AT)?.and_then(|v| v.parse::<u64>().ok());
        Ok(match scored_at {
            None => items > 0,
            Some(at) => items >= 2 * at.max(1) || 2 * items < at,
        })
    }

    /// What a refresh has to do, found without writing anything. With `rescore`, items whose
    /// text and taxonomy are unchanged still get their keywords recomputed. Items an import
    /// counted (`counted`) and that still are as counted are not listed in `pending`: when the
    /// import's entries go up by id (an import of new items), they are matched as the items
    /// are read, in the same order, and never held.
    fn index_work(
        &self,
        labels: &LabelMatcher,
        rescore: bool,
        counted: Option<&mut Counted>,
    ) -> Result<Work> {
        let spooled = |source| StoreError::Spool { path: self.path.clone(), source };
        let (mut entries, counted_datasets) = match counted {
            Some(Counted { entries, datasets, .. }) => (Some(entries), datasets.as_slice()),
            None => (None, &[][..]),
        };
        let mut merge = None;
        if let Some(e) = &mut entries
            && e.ascending()
        {
            merge = Some(Merge::new(e.read().map_err(spooled)?, e.len()));
        }
        let mut st = self
            .conn
            .prepare(
                "SELECT i.id, i.dataset, i.content_hash, x.content_hash, x.labels_hash
                 FROM items i LEFT JOIN item_index x ON x.item_id = i.id ORDER BY i.id",
            )
            .map_err(|e| self.err(e))?;
        let mut rows = st.query([]).map_err(|e| self.err(e))?;
        // Dataset name -> its number in `datasets`.
        let mut numbers: HashMap<String, u32> = HashMap::new();
        let mut datasets: Vec<DatasetLabels> = Vec::new();
        // Room for every item at once: grown by doubling, the list of a million items briefly
        // held its old and new buffers together (48 MB). Room not used is never touched, so
        // it takes no memory. Matched as read, an import's items need no room at all.
        let items = usize::try_from(self.item_count(None)?).unwrap_or(0);
        let mut pending = Vec::with_capacity(if merge.is_some() { 0 } else { items });
        while let Some(r) = rows.next().map_err(|e| self.err(e))? {
            let dataset = r.get_ref(1).map_err(|e| self.err(e))?.as_str().unwrap_or_default();
            let hash = r.get_ref(2).map_err(|e| self.err(e))?.as_str().unwrap_or_default();
            let old_hash = r.get_ref(3).map_err(|e| self.err(e))?.as_str_or_null().ok().flatten();
            let old_labels = r.get_ref(4).map_err(|e| self.err(e))?.as_str_or_null().ok().flatten();
            let number = match numbers.get(dataset) {
                Some(n) => *n,
                None => {
                    let n = datasets.len() as u32;
                    let labels_hash = labels.hash_for(dataset).to_string();
                    datasets.push(DatasetLabels { name: dataset.to_string(), labels_hash });
                    numbers.insert(dataset.to_string(), n);
                    n
                }
            };
            let want = datasets[number as usize].labels_hash.as_str();
            let text_changed = old_hash != Some(hash);
            let unchanged = !text_changed && old_labels == Some(want);
            if unchanged && !rescore {
                continue;
            }
            let p = Pending {
                id: r.get(0).map_err(|e| self.err(e))?,
                hash: ShortHash::of(hash),
                dataset: number,
                rescore_only: unchanged,
            };
            if let Some(m) = &mut merge {
                let now = &datasets[number as usize];
                if m.covers(&p, now, counted_datasets).map_err(spooled)? {
                    continue;
                }
            }
            pending.push(p);
        }
        let mut st = self
            .conn
            .prepare("SELECT item_id FROM item_index WHERE item_id NOT IN (SELECT id FROM items)")
            .map_err(|e| self.err(e))?;
        let removed = st
            .query_map([], |r| r.get(0))
            .map_err(|e| self.err(e))?
            .collect::<std::result::Result<Vec<i64>, _>>()
            .map_err(|e| self.err(e))?;
        // Ids are unique: no stable sort (and its scratch buffer) needed.
        pending.sort_unstable_by_key(|p| p.id);
        let same_dataset = same_datasets(counted_datasets, &datasets);
        let fed = match (merge, entries) {
            (Some(m), _) => Some(Fed { covers: m.covers, same_dataset, covered: m.covered }),
            (None, Some(e)) => {
                Some(cover_by_search(e, &mut pending, same_dataset).map_err(spooled)?)
            }
            (None, None) => None,
        };
        Ok(Work { pending, fed, removed, datasets })
    }

    /// The trigger-kept count of changes to items' text or dataset.
    fn item_changes(&self) -> Result<i64> {
        self.conn
            .query_row("SELECT coalesce(sum(n), 0) FROM counts WHERE what = 'changes'", [], |r| {
                r.get(0)
            })
            .map_err(|e| self.err(e))
    }

    /// Items in the similarity index.
    pub fn indexed_docs(&self) -> Result<u64> {
        self.conn
            .query_row("SELECT count(*) FROM item_index", [], |r| r.get::<_, i64>(0))
            .map(|n| n.max(0) as u64)
            .map_err(|e| self.err(e))
    }

    /// The stored keywords of an item and its row id, when the index has them for its
    /// current content.
    pub fn indexed_keywords(&self, key: &str) -> Result<Option<(i64, Vec<String>)>> {
        let row: Option<(i64, String)> = self
            .conn
            .prepare_cached(
                "SELECT i.id, x.keywords FROM items i JOIN item_index x ON x.item_id = i.id
                 WHERE i.key = ?1 AND x.content_hash = i.content_hash",
            )
            .and_then(|mut st| st.query_row([key], |r| Ok((r.get(0)?, r.get(1)?))).optional())
            .map_err(|e| self.err(e))?;
        match row {
            Some((id, kw)) => Ok(Some((id, self.parse_keywords(key, &kw)?))),
            None => Ok(None),
        }
    }

    /// Document frequency of each term in the full-text index (0 for unknown terms).
    pub fn doc_freqs(&self, terms: &[&str]) -> Result<Vec<u64>> {
        self.counts("SELECT doc FROM item_fts_vocab WHERE term = ?1", terms)
    }

    /// Number of items having each keyword (0 for unknown ones).
    pub fn keyword_doc_freqs(&self, keywords: &[&str]) -> Result<Vec<u64>> {
        self.counts("SELECT docs FROM keyword_df WHERE term = ?1", keywords)
    }

    /// The count `sql` finds for each term, 0 where it finds no row.
    fn counts(&self, sql: &str, terms: &[&str]) -> Result<Vec<u64>> {
        let mut st = self.conn.prepare_cached(sql).map_err(|e| self.err(e))?;
        terms
            .iter()
            .map(|t| {
                st.query_row([t], |r| r.get::<_, i64>(0))
                    .optional()
                    .map(|d| d.unwrap_or(0).max(0) as u64)
                    .map_err(|e| self.err(e))
            })
            .collect()
    }

    /// Up to `limit` items of the keyword index matching an FTS5 query, without the item keyed
    /// `exclude`: by BM25 when `ranked`, else in store order (cheap when the query matches a
    /// large part of the store). The query must be built from quoted terms (see
    /// `similar::fts_query`).
    pub fn keyword_search(
        &self,
        fts_query: &str,
        exclude: Option<&str>,
        limit: usize,
        ranked: bool,
    ) -> Result<Vec<KeywordHit>> {
        let sql = if ranked {
            "SELECT f.rowid, f.rank, i.key, i.title, x.keywords
             FROM (SELECT rowid, rank FROM item_keywords_fts
                   WHERE item_keywords_fts MATCH ?1 ORDER BY rank LIMIT ?2) f
             JOIN items i ON i.id = f.rowid
             JOIN item_index x ON x.item_id = f.rowid
             ORDER BY f.rank"
        } else {
            "SELECT f.rowid, 0.0, i.key, i.title, x.keywords
             FROM (SELECT rowid FROM item_keywords_fts
                   WHERE item_keywords_fts MATCH ?1 LIMIT ?2) f
             JOIN items i ON i.id = f.rowid
             JOIN item_index x ON x.item_id = f.rowid"
        };
        let mut st = self.conn.prepare_cached(sql).map_err(|e| self.err(e))?;
        // One extra row so excluding the item itself still leaves `limit`.
        let rows = st
            .query_map(params![fts_query, (limit + 1) as i64], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, f64>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, String>(4)?,
                ))
            })
            .map_err(|e| self.err(e))?;
        let mut out = Vec::with_capacity(limit);
        for row in rows {
            let (id, rank, key, title, kw) = row.map_err(|e| self.err(e))?;
            if Some(key.as_str()) == exclude || out.len() >= limit {
                continue;
            }
            let keywords = self.parse_keywords(&key, &kw)?;
            out.push(KeywordHit { id, key, title, rank, keywords });
        }
        Ok(out)
    }

    /// Keys of items containing every word of `text`, best first (BM25, titles weigh double).
    /// Words are quoted one by one, so any text is a plain search (the full-text index keeps
    /// no positions, so phrases and NEAR would be refused anyway).
    pub fn text_search(&self, text: &str, limit: usize) -> Result<Vec<(String, f64)>> {
        let lower = text.to_lowercase();
        let words: Vec<String> = keywords::terms(&lower).map(fts_quote).collect();
        if words.is_empty() {
            return Ok(Vec::new());
        }
        let fts_query = words.join(" AND ");
        let mut st = self
            .conn
            .prepare_cached(
                "SELECT i.key, f.score
                 FROM (SELECT rowid, bm25(item_fts, 2.0, 1.0) AS score FROM item_fts
                       WHERE item_fts MATCH ?1 ORDER BY score LIMIT ?2) f
                 JOIN items i ON i.id = f.rowid
                 ORDER BY f.score",
            )
            .map_err(|e| self.err(e))?;
        let rows = st
            .query_map(params![fts_query, limit as i64], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(|e| self.err(e))?;
        rows.collect::<std::result::Result<_, _>>().map_err(|e| self.err(e))
    }

    /// Whether this SQLite has FTS5 compiled in.
    pub fn has_fts5(&self) -> Result<bool> {
        self.conn
            .query_row("SELECT sqlite_compileoption_used('ENABLE_FTS5')", [], |r| r.get(0))
            .map_err(|e| self.err(e))
    }

    fn parse_keywords(&self, key: &str, json: &str) -> Result<Vec<String>> {
        serde_json::from_str(json).map_err(|e| self.corrupt(&format!("keywords of {key}"), e))
    }
}

/// Items written per transaction of a refresh: short enough that a save from another process
/// (which waits for the write lock) never waits long, even while a million items are indexed.
const WRITE_CHUNK: usize = 2000;

/// Labels hash of an item whose text is indexed but whose keywords are not chosen yet: a
/// refresh stopped between its two passes finishes such items next time.
const KEYWORDS_PENDING: &str = "keywords-pending";

/// The terms of the items the text pass counted, interned, carried to the keyword pass: the
/// vocabulary in memory, each item's terms spooled to disk in item order.
struct Found {
    vocab: Vocab,
    items: Spool,
}

impl Store {
    /// Write one refresh in short transactions: removals and the FTS rows of changed text
    /// first, then keywords against the document frequencies of the whole updated index
    /// (tf-idf against a half-written index would pick worse terms). Items whose terms an
    /// import counted as it wrote them (`counted`) skip the text pass.
    fn apply(
        &mut self,
        work: &Work,
        labels: &LabelMatcher,
        counted: Option<Counted>,
    ) -> Result<()> {
        let pending = &work.pending;
        let path = self.path.clone();
        let e = |e| sql_err(&path, e);
        let spooled = |source| StoreError::Spool { path: path.clone(), source };
        let dir = path.parent().filter(|d| d.is_dir());
        // The items an import counted are not in `pending` (see `index_work`).
        let (vocab, fed) = match (counted, &work.fed) {
            (Some(c), Some(fed)) => (c.vocab, Some((c.spool, c.entries, fed))),
            _ => (Vocab::default(), None),
        };
        let uncounted: Vec<&Pending> = pending.iter().collect();
        let mut found = Found { vocab, items: Spool::new(dir).map_err(spooled)? };
        let tx = self.conn.transaction().map_err(e)?;
        remove(&tx, &work.removed).map_err(e)?;
        tx.commit().map_err(e)?;
        for chunk in uncounted.chunks(WRITE_CHUNK) {
            self.let_saves_pass();
            let tx = self.conn.transaction().map_err(e)?;
            let text = TextPass { labels, datasets: &work.datasets };
            let interned = index_texts(&tx, chunk, &text, &mut found).map_err(e)?;
            tx.commit().map_err(e)?;
            for i in &interned {
                found.items.push(i).map_err(spooled)?;
            }
        }
        // A read: it must not hold the write lock others' saves wait for.
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Deferred)
            .map_err(e)?;
        let df = doc_freqs(&tx, &found.vocab.words).map_err(e)?;
        let docs: i64 = tx.query_row("SELECT count(*) FROM items", [], |r| r.get(0)).map_err(e)?;
        drop(tx);
        let now = crate::model::now_rfc3339();
        let fed = match fed {
            Some((spool, mut entries, fed)) => {
                let entries = entries.read().map_err(spooled)?;
                Some((spool.read().map_err(spooled)?, entries, fed, 0))
            }
            None => None,
        };
        let mut terms = Terms {
            fed,
            counted: found.items.read().map_err(spooled)?,
            uncounted: uncounted.iter(),
        };
        let lookup = |t: &str| found.vocab.get(t).map(|i| df[i as usize]).unwrap_or(0);
        let scoring = Scoring {
            words: &found.vocab.words,
            datasets: &work.datasets,
            docs: docs.max(0) as u64,
            lookup: &lookup,
        };
        // Keywords are chosen on a thread of their own, a chunk ahead of the writes.
        std::thread::scope(|scope| {
            let (send, chunks) = std::sync::mpsc::sync_channel(2);
            scope.spawn(move || {
                crate::background::lower_priority();
                loop {
                    let chunk = choose_keywords(&mut terms, &scoring);
                    let last = !matches!(&chunk, Ok(c) if !c.is_empty());
                    // A writer that stopped takes nothing more.
                    if send.send(chunk).is_err() || last {
                        break;
                    }
                }
            });
            for chunk in chunks {
                let chunk = chunk.map_err(spooled)?;
                if chunk.is_empty() {
                    break;
                }
                self.let_saves_pass();
                let tx = self.conn.transaction().map_err(e)?;
                write_keywords(&tx, chunk, &now).map_err(e)?;
                tx.commit().map_err(e)?;
            }
            Ok(())
        })
    }
}

/// One item's keywords as chosen, for the keyword pass to write.
struct Chosen<'p> {
    item: Pending,
    /// Its dataset's taxonomy now.
    labels_hash: &'p str,
    keywords: Vec<String>,
}

/// The next WRITE_CHUNK items' keywords (none when every item has had its turn).
fn choose_keywords<'p>(
    terms: &mut Terms<'p, '_>,
    with: &Scoring<'p, '_>,
) -> std::io::Result<Vec<Chosen<'p>>> {
    let mut chunk = Vec::with_capacity(WRITE_CHUNK);
    while chunk.len() < WRITE_CHUNK {
        let Some((p, f)) = terms.next()? else { break };
        let words: Vec<(&str, u32)> =
            f.terms.iter().map(|(t, n)| (with.words[*t as usize].as_str(), *n)).collect();
        let keywords = keywords::select(&f.labels, &words, with.docs, &mut |t| (with.lookup)(t));
        let labels_hash = with.datasets[p.dataset as usize].labels_hash.as_str();
        chunk.push(Chosen { item: p, labels_hash, keywords });
    }
    Ok(chunk)
}

/// The import's dataset numbers (`counted`: name, taxonomy hash) in the refresh's
/// (`datasets`), where name and taxonomy still agree.
fn same_datasets(counted: &[(String, String)], datasets: &[DatasetLabels]) -> Vec<Option<u32>> {
    counted
        .iter()
        .map(|(name, labels_hash)| {
            let now =
                datasets.iter().position(|d| d.name == *name && d.labels_hash == *labels_hash);
            now.map(|n| n as u32)
        })
        .collect()
}

/// An import's entries, ascending by id, matched with the items to index as they are read.
struct Merge {
    entries: EntryReader,
    /// The next entry not yet matched, and its place among the entries.
    next: Option<(usize, Entry)>,
    read: usize,
    covers: Vec<bool>,
    covered: usize,
}

impl Merge {
    fn new(entries: EntryReader, len: usize) -> Self {
        Merge { entries, next: None, read: 0, covers: vec![false; len], covered: 0 }
    }

    /// Whether an entry stands for `p` (of dataset `now`): the same item, with the same text,
    /// dataset and taxonomy. Items come in id order; entries of ids passed stand for nothing.
    fn covers(
        &mut self,
        p: &Pending,
        now: &DatasetLabels,
        counted: &[(String, String)],
    ) -> std::io::Result<bool> {
        loop {
            if self.next.is_none() {
                let Some(e) = self.entries.next_entry()? else { return Ok(false) };
                self.next = Some((self.read, e));
                self.read += 1;
            }
            let Some((k, e)) = self.next else { return Ok(false) };
            if e.id > p.id {
                return Ok(false);
            }
            self.next = None;
            if e.id < p.id {
                continue;
            }
            let dataset = counted.get(e.dataset as usize);
            let same =
                dataset.is_some_and(|(name, hash)| *name == now.name && *hash == now.labels_hash);
            let stands = same && !p.rescore_only && p.hash == e.hash;
            if stands {
                self.covers[k] = true;
                self.covered += 1;
            }
            return Ok(stands);
        }
    }
}

/// [`Fed`] for entries in any order (an import that wrote an item twice): each entry is looked
/// up among the pending items, and the items an entry stands for leave `pending`.
fn cover_by_search(
    entries: &mut Entries,
    pending: &mut Vec<Pending>,
    same_dataset: Vec<Option<u32>>,
) -> std::io::Result<Fed> {
    let mut covers = Vec::with_capacity(entries.len());
    let mut taken = vec![false; pending.len()];
    let mut reader = entries.read()?;
    while let Some(e) = reader.next_entry()? {
        let k = pending.binary_search_by_key(&e.id, |p| p.id).ok().filter(|k| {
            let p = &pending[*k];
            let dataset = same_dataset.get(e.dataset as usize).copied().flatten();
            !p.rescore_only && p.hash == e.hash && dataset == Some(p.dataset)
        });
        if let Some(k) = k {
            taken[k] = true;
        }
        covers.push(k.is_some());
    }
    let covered = taken.iter().filter(|t| **t).count();
    let mut left = taken.iter();
    pending.retain(|_| !left.next().copied().unwrap_or(false));
    Ok(Fed { covers, same_dataset, covered })
}

/// The keyword pass's input, in order: the items counted during an import, then those the
/// text pass counted.
struct Terms<'p, 'u> {
    /// The import's spool, its entries read alongside, what they stand for, and how many
    /// entries were read.
    fed: Option<(SpoolReader, EntryReader, &'p Fed, usize)>,
    counted: SpoolReader,
    uncounted: std::slice::Iter<'u, &'p Pending>,
}

impl Terms<'_, '_> {
    fn next(&mut self) -> std::io::Result<Option<(Pending, Interned)>> {
        if let Some((reader, entries, fed, read)) = &mut self.fed {
            while let Some(e) = entries.next_entry()? {
                // Items that no longer stand for a pending item are read past.
                let Some(item) = reader.next_item()? else { break };
                let k = *read;
                *read += 1;
                if let Some(p) = fed.item(k, &e) {
                    return Ok(Some((p, item)));
                }
            }
            self.fed = None;
        }
        let Some(p) = self.uncounted.next() else { return Ok(None) };
        Ok(self.counted.next_item()?.map(|item| (**p, item)))
    }
}

/// Drop the rows of items that left the store.
fn remove(tx: &Transaction, removed: &[i64]) -> rusqlite::Result<()> {
    let mut df_delta: HashMap<String, i64> = HashMap::new();
    for id in removed {
        forget_keywords(tx, *id, &mut df_delta)?;
        delete_rows(tx, *id, true)?;
        tx.prepare_cached("DELETE FROM item_index WHERE item_id = ?1")?.execute([id])?;
    }
    write_df(tx, df_delta)
}

/// The text pass over one chunk: old keywords out, FTS rows of changed text rewritten, the
/// item marked as waiting for keywords, and its candidate terms kept for the keyword pass.
/// Texts are read TEXT_CHUNK items at a time; while SQLite writes a group's rows, a second
/// thread counts its terms (the two take about as long, and machines have two cores).
fn index_texts(
    tx: &Transaction,
    chunk: &[&Pending],
    pass: &TextPass,
    found: &mut Found,
) -> rusqlite::Result<Vec<Interned>> {
    let mut interned = Vec::with_capacity(chunk.len());
    let mut df_delta: HashMap<String, i64> = HashMap::new();
    for group in chunk.chunks(TEXT_CHUNK) {
        let ids: Vec<i64> = group.iter().map(|p| p.id).collect();
        let mut texts = load_texts(tx, &ids)?;
        let texts: Vec<Loaded> =
            group.iter().map(|p| texts.remove(&p.id).unwrap_or_default()).collect();
        let candidates = std::thread::scope(|scope| {
            let counting = scope.spawn(|| {
                group
                    .iter()
                    .zip(&texts)
                    .map(|(p, t)| {
                        let dataset = &pass.datasets[p.dataset as usize].name;
                        keywords::candidates(&t.title, &t.rest, pass.labels.for_dataset(dataset))
                    })
                    .collect::<Vec<_>>()
            });
            let written = write_texts(tx, group, &texts, &mut df_delta);
            // A panic while counting terms is a bug: it goes on as the same panic, as if
            // the counting had run on this thread.
            let counted = counting.join().unwrap_or_else(|e| std::panic::resume_unwind(e));
            written.map(|()| counted)
        })?;
        for c in candidates {
            interned.push(Interned { terms: found.vocab.intern(c.terms), labels: c.labels });
        }
    }
    write_df(tx, df_delta)?;
    Ok(interned)
}

/// What the text pass needs besides the items: each dataset's taxonomy.
struct TextPass<'a> {
    labels: &'a LabelMatcher,
    datasets: &'a [DatasetLabels],
}

/// The SQLite side of the text pass over one group of items: written with the content hash
/// read with the text (when the item changed since the work was planned, the keyword pass
/// finds another hash than planned and leaves the item to the next refresh).
fn write_texts(
    tx: &Transaction,
    group: &[&Pending],
    texts: &[Loaded],
    df_delta: &mut HashMap<String, i64>,
) -> rusqlite::Result<()> {
    for (p, t) in group.iter().zip(texts) {
        write_text(tx, p.id, &t.hash, &t.title, &t.rest, df_delta)?;
    }
    Ok(())
}

/// Put item `id`'s text (content hash `hash`) in the FTS index, its old keywords out, and mark
/// it as waiting for keywords.
pub(super) fn write_text(
    tx: &Transaction,
    id: i64,
    hash: &str,
    title: &str,
    rest: &str,
    df_delta: &mut HashMap<String, i64>,
) -> rusqlite::Result<()> {
    // What the index holds now, read in this transaction: another refresh (another process)
    // may have indexed the item since the work was planned.
    let now = indexed(tx, id)?;
    let text_done = now.as_ref().is_some_and(|(h, _)| h == hash);
    if now.is_some() {
        forget_keywords(tx, id, df_delta)?;
        delete_rows(tx, id, !text_done)?;
    }
    if !text_done {
        tx.prepare_cached("INSERT INTO item_fts(rowid, title, body) VALUES (?1, ?2, ?3)")?
            .execute(params![id, title, rest])?;
    }
    upsert_index(tx, id, hash, KEYWORDS_PENDING, "[]", "")
}

/// [`write_text`] for the texts of one import transaction, in their order. Items above every
/// id the index holds cannot have a row there (not even one an item deleted since left
/// behind): their index rows go in first, several to a statement (a million items, one
/// statement each: a twentieth of the import's writer), then their FTS rows straight in.
/// First, because a statement that can fail halfway opens a savepoint, and FTS5 writes its
/// pending rows out at every savepoint: interleaved, it wrote a segment every 64 items.
pub(super) fn write_texts_as_written(
    tx: &Transaction,
    texts: &[super::feed::Text],
    df_delta: &mut HashMap<String, i64>,
) -> rusqlite::Result<()> {
    let above: i64 =
        tx.query_row("SELECT coalesce(max(item_id), 0) FROM item_index", [], |r| r.get(0))?;
    // An item written twice in one transaction goes the long way the second time.
    let mut seen = std::collections::HashSet::new();
    let fresh: Vec<bool> = texts.iter().map(|t| t.id > above && seen.insert(t.id)).collect();
    let rows: Vec<&super::feed::Text> =
        texts.iter().zip(&fresh).filter(|(_, f)| **f).map(|(t, _)| t).collect();
    for group in rows.chunks(super::ROWS_PER_INSERT) {
        insert_pending_rows(tx, group)?;
    }
    let mut insert =
        tx.prepare_cached("INSERT INTO item_fts(rowid, title, body) VALUES (?1, ?2, ?3)")?;
    for (t, fresh) in texts.iter().zip(fresh) {
        match fresh {
            true => insert.execute(params![t.id, t.title, t.rest]).map(drop)?,
            false => write_text(tx, t.id, &t.hash, &t.title, &t.rest, df_delta)?,
        }
    }
    Ok(())
}

/// Index rows of items whose text is in and whose keywords are still to be chosen.
fn insert_pending_rows(tx: &Transaction, texts: &[&super::feed::Text]) -> rusqlite::Result<()> {
    if texts.is_empty() {
        return Ok(());
    }
    const ROW: &str = "(?, ?, ?, '[]', '')";
    let sql = format!(
        "INSERT INTO item_index(item_id, content_hash, labels_hash, keywords, indexed_at)
         VALUES {}",
        super::values_rows(ROW, texts.len())
    );
    let mut st = tx.prepare_cached(&sql)?;
    let mut values: Vec<&dyn rusqlite::ToSql> = Vec::with_capacity(3 * texts.len());
    for t in texts {
        values.extend([&t.id as &dyn rusqlite::ToSql, &t.hash, &KEYWORDS_PENDING]);
    }
    st.execute(values.as_slice())?;
    Ok(())
}

/// Add one part (a turn, a comment) to the text an item is indexed by after its title: its
/// body and then its parts, a line apart.
pub(super) fn push_part(rest: &mut String, part: &str) {
    if !rest.is_empty() {
        rest.push('\n');
    }
    rest.push_str(part);
}

/// What the keyword pass scores terms against.
struct Scoring<'p, 'l> {
    /// The interned terms' words.
    words: &'p [String],
    datasets: &'p [DatasetLabels],
    /// Items in the store.
    docs: u64,
    /// A word's document frequency.
    lookup: &'l (dyn Fn(&str) -> u64 + Sync),
}

/// The keyword pass over one chunk: store each item's chosen keywords.
fn write_keywords(tx: &Transaction, chosen: Vec<Chosen>, now: &str) -> rusqlite::Result<()> {
    // Counted by the chosen keywords themselves (a million-item refresh cloned eight million).
    let mut df_delta: HashMap<&str, i64> = HashMap::new();
    // Only while the item still waits with this text: another refresh (another process) may
    // have finished it meanwhile, or an import changed it; its row stands then.
    let mut finish = tx.prepare_cached(
        "UPDATE item_index SET labels_hash = ?3, keywords = ?4, indexed_at = ?5
         WHERE item_id = ?1 AND substr(CAST(content_hash AS BLOB), 1, 16) = ?2
            AND labels_hash = ?6",
    )?;
    let mut insert =
        tx.prepare_cached("INSERT INTO item_keywords_fts(rowid, keywords) VALUES (?1, ?2)")?;
    for Chosen { item: p, labels_hash, keywords: kw } in &chosen {
        let json = serde_json::to_string(kw).unwrap_or_else(|_| "[]".into());
        let finished = finish.execute(params![
            p.id,
            p.hash.bytes(),
            labels_hash,
            json,
            now,
            KEYWORDS_PENDING
        ])?;
        if finished == 0 {
            continue;
        }
        for k in kw {
            *df_delta.entry(k.as_str()).or_insert(0) += 1;
        }
        insert.execute(params![p.id, kw.join("\n")])?;
    }
    write_df(tx, df_delta)
}

/// An item's indexed content hash and labels hash, if it is in the index.
fn indexed(tx: &Transaction, id: i64) -> rusqlite::Result<Option<(String, String)>> {
    tx.prepare_cached("SELECT content_hash, labels_hash FROM item_index WHERE item_id = ?1")?
        .query_row([id], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()
}

fn upsert_index(
    tx: &Transaction,
    id: i64,
    hash: &str,
    labels_hash: &str,
    keywords: &str,
    now: &str,
) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "INSERT INTO item_index(item_id, content_hash, labels_hash, keywords, indexed_at)
         VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT(item_id) DO UPDATE SET content_hash = excluded.content_hash,
            labels_hash = excluded.labels_hash, keywords = excluded.keywords,
            indexed_at = excluded.indexed_at",
    )?
    .execute(params![id, hash, labels_hash, keywords, now])?;
    Ok(())
}

/// Add per-keyword changes in item counts to `keyword_df`; keywords no item has any more
/// leave it.
pub(super) fn write_df<K: AsRef<str> + Eq + std::hash::Hash>(
    tx: &Transaction,
    df_delta: HashMap<K, i64>,
) -> rusqlite::Result<()> {
    let mut add = tx.prepare_cached(
        "INSERT INTO keyword_df(term, docs) VALUES (?1, ?2)
         ON CONFLICT(term) DO UPDATE SET docs = docs + excluded.docs",
    )?;
    for (term, delta) in df_delta.into_iter().filter(|(_, d)| *d != 0) {
        let term = term.as_ref();
        add.execute(params![term, delta])?;
        // Only a count that went down can reach 0 (a scan of the table per chunk cost a
        // million-item refresh seconds).
        if delta < 0 {
            tx.prepare_cached("DELETE FROM keyword_df WHERE term = ?1 AND docs <= 0")?
                .execute([term])?;
        }
    }
    Ok(())
}

/// Count an item's stored keywords out of `keyword_df` (it is being re-indexed or removed).
fn forget_keywords(
    tx: &Transaction,
    id: i64,
    delta: &mut HashMap<String, i64>,
) -> rusqlite::Result<()> {
    let old: Option<String> = tx
        .prepare_cached("SELECT keywords FROM item_index WHERE item_id = ?1")?
        .query_row([id], |r| r.get(0))
        .optional()?;
    let old: Vec<String> = old.and_then(|j| serde_json::from_str(&j).ok()).unwrap_or_default();
    for k in old {
        *delta.entry(k).or_insert(0) -= 1;
    }
    Ok(())
}

fn delete_rows(tx: &Transaction, id: i64, text_too: bool) -> rusqlite::Result<()> {
    if text_too {
        tx.prepare_cached("DELETE FROM item_fts WHERE rowid = ?1")?.execute([id])?;
    }
    tx.prepare_cached("DELETE FROM item_keywords_fts WHERE rowid = ?1")?.execute([id])?;
    Ok(())
}

/// Items whose texts are read per query: three range scans serve this many items.
const TEXT_CHUNK: usize = 1000;

/// An item's text as the index holds it, with the content hash it was read with.
#[derive(Default)]
struct Loaded {
    hash: String,
    title: String,
    /// Body, turns, comments, a line apart.
    rest: String,
}

/// Title, and everything else a reader sees (body, turns, comments) as one text, for the
/// items `ids` (sorted ascending), read with one range scan per table.
fn load_texts(tx: &Transaction, ids: &[i64]) -> rusqlite::Result<HashMap<i64, Loaded>> {
    let mut out: HashMap<i64, Loaded> = HashMap::with_capacity(ids.len());
    let (Some(lo), Some(hi)) = (ids.first(), ids.last()) else { return Ok(out) };
    let want: std::collections::HashSet<i64> = ids.iter().copied().collect();
    let mut st = tx.prepare_cached(
        "SELECT id, content_hash, title, body FROM items WHERE id BETWEEN ?1 AND ?2",
    )?;
    let mut rows = st.query([lo, hi])?;
    while let Some(r) = rows.next()? {
        let id: i64 = r.get(0)?;
        if want.contains(&id) {
            out.insert(id, Loaded { hash: r.get(1)?, title: r.get(2)?, rest: r.get(3)? });
        }
    }
    for sql in [
        "SELECT item_id, content FROM turns WHERE item_id BETWEEN ?1 AND ?2 ORDER BY item_id, seq",
        "SELECT item_id, body FROM comments WHERE item_id BETWEEN ?1 AND ?2 ORDER BY item_id, seq",
    ] {
        let mut st = tx.prepare_cached(sql)?;
        let mut rows = st.query([lo, hi])?;
        while let Some(r) = rows.next()? {
            let id: i64 = r.get(0)?;
            let Some(loaded) = out.get_mut(&id) else { continue };
            push_part(&mut loaded.rest, r.get_ref(1)?.as_str().unwrap_or_default());
        }
    }
    Ok(out)
}

/// Document frequency of each word, by lookups or by one scan of the vocabulary.
fn doc_freqs(tx: &Transaction, words: &[String]) -> rusqlite::Result<Vec<u64>> {
    if words.len() > VOCAB_SCAN_THRESHOLD {
        let index: HashMap<&str, usize> =
            words.iter().enumerate().map(|(i, w)| (w.as_str(), i)).collect();
        let mut out = vec![0u64; words.len()];
        let mut st = tx.prepare("SELECT term, doc FROM item_fts_vocab")?;
        let mut rows = st.query([])?;
        while let Some(r) = rows.next()? {
            let term = r.get_ref(0)?.as_str().unwrap_or_default();
            if let Some(i) = index.get(term) {
                out[*i] = r.get::<_, i64>(1)?.max(0) as u64;
            }
        }
        return Ok(out);
    }
    let mut st = tx.prepare_cached("SELECT doc FROM item_fts_vocab WHERE term = ?1")?;
    words
        .iter()
        .map(|w| {
            st.query_row([w], |r| r.get::<_, i64>(0))
                .optional()
                .map(|d| d.unwrap_or(0).max(0) as u64)
        })
        .collect()
}

/// Quote a term as an FTS5 string: whatever it holds is then text, never query syntax.
pub fn fts_quote(term: &str) -> String {
    format!("\"{}\"", term.replace('"', "\"\""))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Item;

    fn item(key: &str, title: &str, body: &str) -> Item {
        Item {
            key: key.into(),
            dataset: "d".into(),
            title: title.into(),
            body: body.into(),
            ..Default::default()
        }
    }

    #[test]
    fn fts5_is_compiled_in() {
        let s = Store::open_in_memory().unwrap();
        assert!(s.has_fts5().unwrap());
    }

    /// Ten items that all mention the parser, each with words of its own.
    fn parser_reports() -> Vec<Item> {
        (0..10)
            .map(|i| {
                let body = format!("the parser fails on input {i} with warning w{i} and note n{i}");
                item(&format!("d:p{i}"), &format!("parser report {i}"), &body)
            })
            .collect()
    }

    #[test]
    fn keywords_are_rescored_when_the_store_doubles() {
        let m = LabelMatcher::new();
        let first = [
            item("d:1", "parser crash", "the parser crashes on unicode emoji input in titles"),
            item("d:2", "renderer slow", "the renderer is slow on large tables and images"),
        ];
        let mut grown = Store::open_in_memory().unwrap();
        grown.upsert_items(&first, "t").unwrap();
        grown.refresh_index(&m).unwrap();
        let early = grown.indexed_keywords("d:1").unwrap().unwrap().1;
        grown.upsert_items(&parser_reports(), "t").unwrap();
        // 2 -> 12 items: the ten new items are indexed and the two old ones re-scored.
        let r = grown.refresh_index(&m).unwrap();
        assert_eq!((r.indexed, r.rescored), (10, 2));

        let mut fresh = Store::open_in_memory().unwrap();
        fresh.upsert_items(&first, "t").unwrap();
        fresh.upsert_items(&parser_reports(), "t").unwrap();
        fresh.refresh_index(&m).unwrap();
        let want = fresh.indexed_keywords("d:1").unwrap().unwrap().1;
        assert_ne!(early, want, "the test needs keywords that depend on the store's size");
        assert_eq!(grown.indexed_keywords("d:1").unwrap().unwrap().1, want);

        // 12 -> 13 items: only the new item is indexed.
        grown.upsert_items(&[item("d:3", "docs typo", "a typo in the readme")], "t").unwrap();
        assert_eq!(grown.refresh_index(&m).unwrap().indexed, 1);
        assert_eq!(grown.refresh_index(&m).unwrap().indexed, 0);
    }

    #[test]
    fn refresh_indexes_changes_only_and_removes_deleted() {
        let mut s = Store::open_in_memory().unwrap();
        let m = LabelMatcher::new();
        s.upsert_items(
            &[
                item("d:1", "parser crash", "the parser crashes on unicode input"),
                item("d:2", "parser slow", "the parser is slow on large input"),
            ],
            "t",
        )
        .unwrap();
        let r = s.refresh_index(&m).unwrap();
        assert_eq!((r.indexed, r.removed, r.docs), (2, 0, 2));
        // Same-transaction inserts are visible to the vocabulary.
        assert_eq!(s.doc_freqs(&["parser", "unicode", "zzz"]).unwrap(), [2, 1, 0]);
        assert_eq!(s.refresh_index(&m).unwrap().indexed, 0);

        s.upsert_items(&[item("d:2", "renderer slow", "the renderer is slow")], "t").unwrap();
        let r = s.refresh_index(&m).unwrap();
        assert_eq!((r.indexed, r.docs), (1, 2));
        assert_eq!(s.doc_freqs(&["parser", "renderer"]).unwrap(), [1, 1]);
        let (_, kw) = s.indexed_keywords("d:2").unwrap().unwrap();
        assert!(kw.contains(&"renderer".to_string()), "{kw:?}");

        s.conn.execute("DELETE FROM items WHERE key = 'd:1'", []).unwrap();
        let r = s.refresh_index(&m).unwrap();
        assert_eq!((r.indexed, r.removed, r.docs), (0, 1, 1));
        assert_eq!(s.doc_freqs(&["unicode"]).unwrap(), [0]);
        let hits = s.text_search("parser", 10).unwrap();
        assert!(hits.is_empty(), "{hits:?}");
    }

    /// Keywords with their item counts.
    type KeywordCounts = Vec<(String, i64)>;

    /// `keyword_df` as the items' stored keywords say it should be, and as it is.
    fn counted_keywords(s: &Store) -> (KeywordCounts, KeywordCounts) {
        let mut want: std::collections::BTreeMap<String, i64> = Default::default();
        let mut st = s.conn.prepare("SELECT keywords FROM item_index").unwrap();
        for kw in st.query_map([], |r| r.get::<_, String>(0)).unwrap() {
            for k in serde_json::from_str::<Vec<String>>(&kw.unwrap()).unwrap() {
                *want.entry(k).or_insert(0) += 1;
            }
        }
        let mut st = s.conn.prepare("SELECT term, docs FROM keyword_df ORDER BY term").unwrap();
        let have = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).unwrap();
        (want.into_iter().collect(), have.map(|r| r.unwrap()).collect())
    }

    #[test]
    fn keyword_counts_follow_changed_and_removed_items() {
        let mut s = Store::open_in_memory().unwrap();
        let m = LabelMatcher::new();
        s.upsert_items(&parser_reports(), "t").unwrap();
        s.refresh_index(&m).unwrap();
        let (want, have) = counted_keywords(&s);
        assert!(!want.is_empty());
        assert_eq!(have, want);
        // Every item's text replaced, half of them removed: the old keywords leave.
        let changed: Vec<Item> = (0..10)
            .map(|i| item(&format!("d:p{i}"), "renderer slow", "tables and images render slowly"))
            .collect();
        s.upsert_items(&changed, "t").unwrap();
        s.conn.execute("DELETE FROM items WHERE key IN ('d:p1', 'd:p3', 'd:p5')", []).unwrap();
        s.refresh_index(&m).unwrap();
        let (want, have) = counted_keywords(&s);
        assert!(want.iter().all(|(k, _)| !k.contains("parser")), "{want:?}");
        assert_eq!(have, want);
    }

    #[test]
    fn a_large_refresh_commits_in_short_transactions() {
        let mut s = Store::open_in_memory().unwrap();
        let items: Vec<Item> = (0..4500)
            .map(|i| {
                item(&format!("d:{i}"), &format!("report {i}"), &format!("word{} text", i % 97))
            })
            .collect();
        s.upsert_items(&items, "t").unwrap();
        let commits = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let c = commits.clone();
        let _ = s.conn.commit_hook(Some(move || {
            c.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            false
        }));
        assert_eq!(s.refresh_index(&LabelMatcher::new()).unwrap().indexed, 4500);
        // Removals, three text chunks, three keyword chunks (and the scoring record): no
        // transaction holds the write lock for more than 2,000 items.
        assert!(commits.load(std::sync::atomic::Ordering::SeqCst) >= 7);
    }

    /// With no item changed since the last refresh (and the same taxonomies), a refresh does
    /// not look at the items at all; a change to any item makes it look at every one.
    #[test]
    fn a_refresh_with_nothing_changed_does_not_scan() {
        let mut s = Store::open_in_memory().unwrap();
        let m = LabelMatcher::new();
        s.upsert_items(&parser_reports(), "t").unwrap();
        assert_eq!(s.refresh_index(&m).unwrap().indexed, 10);
        // An index row gone behind sift's back is not noticed while nothing changed...
        s.conn
            .execute("DELETE FROM item_index WHERE item_id = (SELECT min(id) FROM items)", [])
            .unwrap();
        let r = s.refresh_index(&m).unwrap();
        assert_eq!((r.indexed, r.docs), (0, 9));
        // ...and is, with the next change.
        s.upsert_items(&[item("d:new", "renderer slow", "the renderer is slow")], "t").unwrap();
        let r = s.refresh_index(&m).unwrap();
        assert_eq!((r.indexed, r.docs), (2, 11));
    }

    #[test]
    fn a_refresh_stopped_between_its_passes_is_finished_next_time() {
        let mut s = Store::open_in_memory().unwrap();
        let m = LabelMatcher::new();
        s.upsert_items(&parser_reports(), "t").unwrap();
        s.refresh_index(&m).unwrap();
        let want = s.indexed_keywords("d:p3").unwrap().unwrap().1;
        // The state the text pass leaves: text indexed, keywords not chosen yet.
        s.conn
            .execute_batch(
                "UPDATE item_index SET labels_hash = 'keywords-pending', keywords = '[]'
                   WHERE item_id = (SELECT id FROM items WHERE key = 'd:p3');
                 DELETE FROM item_keywords_fts WHERE rowid = (SELECT id FROM items WHERE key = 'd:p3');
                 -- The stopped refresh never recorded that it brought the index in step.
                 DELETE FROM meta WHERE key = 'index_item_changes';",
            )
            .unwrap();
        let r = s.refresh_index(&m).unwrap();
        assert_eq!((r.indexed, r.docs), (1, 10));
        assert_eq!(s.indexed_keywords("d:p3").unwrap().unwrap().1, want);
    }

    /// A taxonomy whose phrases match words of `parser_reports` and `mixed`.
    fn phrases(alias: &str) -> LabelPhrases {
        let yml = format!(
            "taxonomies:\n  issues:\n    dimensions:\n      - name: type\n        select: many\n        labels:\n          - name: bug\n            aliases: [{alias}]\n"
        );
        let f =
            crate::taxonomy::LabelsFile::parse(&yml, std::path::Path::new("labels.yml")).unwrap();
        LabelPhrases::new(f.get("issues").unwrap())
    }

    fn matcher(p: &LabelPhrases) -> LabelMatcher {
        let mut m = LabelMatcher::new();
        m.insert("d", p.clone());
        m
    }

    /// Items with turns and comments too: the text the import indexes is built from the
    /// item, the text the refresh indexes is read back from the tables.
    fn mixed() -> Vec<Item> {
        let mut items = parser_reports();
        items[1].turns = vec![
            crate::model::Turn { role: "user".into(), content: "".into(), ..Default::default() },
            crate::model::Turn {
                role: "assistant".into(),
                content: "lexer warning w1 again".into(),
                ..Default::default()
            },
        ];
        items[2].body = String::new();
        items[2].comments = vec![crate::model::Comment {
            body: "tokenizer stack trace attached".into(),
            ..Default::default()
        }];
        items
    }

    /// Every item's keywords, and what a few searches find.
    fn index_of(s: &Store, items: &[Item]) -> Vec<String> {
        let mut out: Vec<String> = items
            .iter()
            .map(|i| format!("{} {:?}", i.key, s.indexed_keywords(&i.key).unwrap()))
            .collect();
        for q in ["parser", "lexer warning", "tokenizer", "w7 n7"] {
            out.push(format!("{q}: {:?}", s.text_search(q, 20).unwrap()));
        }
        out
    }

    /// The index a refresh builds after writing, and the one built as the items were written
    /// (an import), are the same: same keywords, same FTS rows.
    #[test]
    fn indexing_as_written_equals_a_refresh_after() {
        let p = phrases("stack trace");
        let m = matcher(&p);
        let items = mixed();
        let mut after = Store::open_in_memory().unwrap();
        after.upsert_items(&items, "t").unwrap();
        after.refresh_index(&m).unwrap();

        let mut fed = Store::open_in_memory().unwrap();
        fed.index_as_written("d", p.clone()).unwrap();
        fed.upsert_items(&items, "t").unwrap();
        // The text is in the FTS index with the write, before any refresh.
        assert_eq!(fed.text_search("tokenizer", 5).unwrap().len(), 1);
        let r = fed.refresh_index(&m).unwrap();
        assert_eq!((r.indexed, r.docs), (10, 10));
        assert_eq!(index_of(&fed, &items), index_of(&after, &items));
        assert!(index_of(&fed, &items)[2].contains("bug"), "the label phrase was matched");
    }

    /// Counted terms that no longer fit (the item changed again, the dataset's taxonomy is
    /// another by the refresh, the counting never reached the refresh) are counted again.
    #[test]
    fn terms_counted_for_another_text_or_taxonomy_are_counted_again() {
        let items = mixed();
        let mut changed = items.clone();
        changed[3].body = "completely new words: segfault in the allocator".into();
        let other = phrases("segfault");
        let mut want = Store::open_in_memory().unwrap();
        want.upsert_items(&changed, "t").unwrap();
        want.refresh_index(&matcher(&other)).unwrap();

        // Written twice before the refresh, counted under the first taxonomy.
        let mut fed = Store::open_in_memory().unwrap();
        fed.index_as_written("d", phrases("stack trace")).unwrap();
        fed.upsert_items(&items, "t").unwrap();
        let c = fed.upsert_items(&changed, "t").unwrap();
        assert_eq!((c.updated, c.unchanged), (1, 9));
        fed.refresh_index(&matcher(&other)).unwrap();
        assert_eq!(index_of(&fed, &changed), index_of(&want, &changed));

        // The counting dropped (a process stopped after the import's writes).
        let mut stopped = Store::open_in_memory().unwrap();
        stopped.index_as_written("d", other.clone()).unwrap();
        stopped.upsert_items(&changed, "t").unwrap();
        stopped.feeding = None;
        let r = stopped.refresh_index(&matcher(&other)).unwrap();
        assert_eq!((r.indexed, r.docs), (10, 10));
        assert_eq!(index_of(&stopped, &changed), index_of(&want, &changed));
    }

    /// A new item that takes the id of the last item, deleted since its indexing, replaces
    /// the rows that item left behind (ids are reused from the top).
    #[test]
    fn a_new_item_on_a_deleted_items_id_replaces_what_it_left() {
        let p = phrases("stack trace");
        let m = matcher(&p);
        let mut items = mixed();
        let mut fed = Store::open_in_memory().unwrap();
        fed.index_as_written("d", p.clone()).unwrap();
        fed.upsert_items(&items, "t").unwrap();
        fed.refresh_index(&m).unwrap();
        let last = items.pop().unwrap();
        let top: i64 = fed.conn.query_row("SELECT max(id) FROM items", [], |r| r.get(0)).unwrap();
        fed.conn.execute("DELETE FROM items WHERE key = ?1", [&last.key]).unwrap();
        let mut new = item("d:new", "zeppelin mooring mast", "the zeppelin drifts at its mast");
        new.dataset = "d".into();
        fed.index_as_written("d", p.clone()).unwrap();
        fed.upsert_items(std::slice::from_ref(&new), "t").unwrap();
        let id: i64 = fed
            .conn
            .query_row("SELECT id FROM items WHERE key = 'd:new'", [], |r| r.get(0))
            .unwrap();
        assert_eq!(id, top, "the deleted item's id was taken again");
        let r = fed.refresh_index(&m).unwrap();
        assert_eq!(r.docs, 10);
        items.push(new);
        let mut after = Store::open_in_memory().unwrap();
        after.upsert_items(&items, "t").unwrap();
        after.refresh_index(&m).unwrap();
        assert_eq!(index_of(&fed, &items), index_of(&after, &items));
        assert_eq!(fed.text_search("zeppelin", 5).unwrap().len(), 1);
        let gone = last.title.split_whitespace().next().unwrap().to_lowercase();
        assert_eq!(fed.text_search(&gone, 20).unwrap(), after.text_search(&gone, 20).unwrap());
    }

    /// An import's counted items, matched with the items in id order: those changed or
    /// deleted by another writer since are indexed from the store, the rest from the counts,
    /// and the index is the one a refresh after would build.
    #[test]
    fn counted_items_changed_or_deleted_since_are_indexed_as_they_are_now() {
        let p = phrases("stack trace");
        let m = matcher(&p);
        let items = mixed();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        let mut fed = Store::open(&path).unwrap();
        fed.index_as_written("d", p.clone()).unwrap();
        fed.upsert_items(&items, "t").unwrap();
        // Another process changes one item and deletes another before the refresh.
        let mut now = items.clone();
        now[3].body = "completely new words: segfault in the allocator".into();
        let mut other = Store::open(&path).unwrap();
        other.upsert_items(&now[3..4], "t").unwrap();
        other.conn.execute("DELETE FROM items WHERE key = ?1", [&now[7].key]).unwrap();
        now.remove(7);
        let r = fed.refresh_index(&m).unwrap();
        assert_eq!((r.indexed, r.removed, r.docs), (9, 1, 9));
        // The same writes with no counting, indexed after them (the same ids, too).
        let mut want = Store::open_in_memory().unwrap();
        want.upsert_items(&items, "t").unwrap();
        want.upsert_items(&now[3..4], "t").unwrap();
        want.conn.execute("DELETE FROM items WHERE key = ?1", [&items[7].key]).unwrap();
        want.refresh_index(&m).unwrap();
        assert_eq!(index_of(&fed, &now), index_of(&want, &now));
        assert_eq!(fed.text_search("segfault", 5).unwrap().len(), 1);
    }

    /// An item written twice in one import transaction (a second record of its key) is
    /// indexed with its last text, as a refresh after would index it.
    #[test]
    fn an_item_written_twice_in_one_write_is_indexed_with_its_last_text() {
        let p = phrases("stack trace");
        let m = matcher(&p);
        let items = mixed();
        let mut again = items[3].clone();
        again.body = "completely new words: segfault in the allocator".into();
        let mut batch = items.clone();
        batch.push(again.clone());
        let mut fed = Store::open_in_memory().unwrap();
        fed.index_as_written("d", p.clone()).unwrap();
        let c = fed.upsert_items(&batch, "t").unwrap();
        assert_eq!((c.inserted, c.updated), (10, 1));
        fed.refresh_index(&m).unwrap();
        let mut now = items.clone();
        now[3] = again;
        let mut want = Store::open_in_memory().unwrap();
        want.upsert_items(&now, "t").unwrap();
        want.refresh_index(&m).unwrap();
        assert_eq!(index_of(&fed, &now), index_of(&want, &now));
        assert_eq!(fed.text_search("segfault", 5).unwrap().len(), 1);
    }
}
