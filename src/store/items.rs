//! Items with their turns and comments: upserts in batches, lookups, queue rows, counts.

use std::collections::{HashMap, HashSet};

use rusqlite::{OptionalExtension, Transaction, params};
use serde::Serialize;

use super::feed::{Feeding, Text};
use super::{ROWS_PER_INSERT, Result, Store, announced, fts, sql_err, values_rows};
use crate::model::{Comment, Item, ItemKind, ToolCall, Turn};
use crate::text::signals::Signals;

/// What an upsert did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct UpsertCounts {
    pub inserted: usize,
    pub updated: usize,
    pub unchanged: usize,
}

impl UpsertCounts {
    pub fn add(&mut self, o: UpsertCounts) {
        self.inserted += o.inserted;
        self.updated += o.updated;
        self.unchanged += o.unchanged;
    }
}

/// Items per dataset.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DatasetCount {
    pub dataset: String,
    pub kind: String,
    pub items: i64,
}

/// The light row the review queue holds for every item (bodies load on focus).
#[derive(Debug, Clone, PartialEq)]
pub struct QueueRow {
    pub id: i64,
    pub key: String,
    pub dataset: String,
    pub kind: ItemKind,
    pub title: String,
    pub repo: Option<String>,
    /// Structural signals in brief (`text::signals::Brief`); '' for items stored before.
    pub signals: String,
    /// When the item was opened (RFC 3339), where its source says.
    pub created_at: Option<String>,
}

/// Review status of an item for one annotator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ItemStatus {
    New,
    Suggested,
    Annotated,
    Disputed,
    Pushed,
}

/// What is worked out of an item before it is written: on an import's reader thread, as the
/// writer's thread is the import's busiest.
#[derive(Debug, Clone)]
pub struct Derived {
    pub content_hash: String,
    /// [`Signals`] in brief.
    pub signals: String,
}

impl Derived {
    pub fn of(item: &Item) -> Self {
        Self { content_hash: item.content_hash(), signals: Signals::of(item).brief() }
    }
}

/// Which items a queue shows.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct QueueFilter {
    pub dataset: Option<String>,
    pub repo: Option<String>,
    pub keys: Option<Vec<String>>,
}

impl Store {
    /// Insert or update items in one transaction; unchanged content is left alone.
    pub fn upsert_items(&mut self, items: &[Item], now: &str) -> Result<UpsertCounts> {
        self.upsert_items_from(items, None, now, None)
    }

    /// [`Store::upsert_items`], recording `source` (where the items came from) on every item
    /// of `items`, the unchanged ones too, in the same write: a later pass over a large
    /// import would rewrite every row.
    /// `derived`, when given, is what was worked out of each item elsewhere.
    pub fn upsert_items_from(
        &mut self,
        items: &[Item],
        derived: Option<&[Derived]>,
        now: &str,
        source: Option<&str>,
    ) -> Result<UpsertCounts> {
        let hashes: Vec<String> = match derived {
            Some(d) if d.len() >= items.len() => Vec::new(),
            _ => items.iter().map(Item::content_hash).collect(),
        };
        let batch = Batch { items, derived, hashes: &hashes, now, source };
        let mut counts = UpsertCounts::default();
        let mut from = 0;
        // Texts of parts cut short for a save, indexed with the batch's last part.
        let mut carried = Vec::new();
        loop {
            self.let_saves_pass();
            let (part, to) = self.upsert_part(&batch, from, &mut carried)?;
            counts.add(part);
            if to >= items.len() {
                return Ok(counts);
            }
            from = to;
        }
    }

    /// Write `batch` from item `from` on in one transaction, to its end or (a store that
    /// [yields](Store::yield_to_saves)) to where a save was found announced; returns what was
    /// written and where it stopped. A part cut short for a save commits its items at once and
    /// leaves their texts in `carried`, indexed with the batch's last part: the save waits for a
    /// few hundred items' rows, not for their text too (a refresh in between indexes them
    /// itself).
    fn upsert_part(
        &mut self,
        batch: &Batch,
        from: usize,
        carried: &mut Vec<Text>,
    ) -> Result<(UpsertCounts, usize)> {
        let path = self.path.clone();
        let turn = if self.yields { self.turn_file() } else { None };
        let tx = self.conn.transaction().map_err(|e| sql_err(&path, e))?;
        let mut w = Writing {
            feeding: self.feeding.as_ref(),
            new: Vec::with_capacity(ROWS_PER_INSERT),
            new_keys: HashSet::new(),
            counts: UpsertCounts::default(),
            texts: std::mem::take(carried),
        };
        let mut to = batch.items.len();
        for (i, item) in batch.items.iter().enumerate().skip(from) {
            let given = batch.derived.and_then(|d| d.get(i));
            let hash = match given {
                Some(d) => d.content_hash.as_str(),
                None => batch.hashes[i].as_str(),
            };
            let signals = given.map(|d| d.signals.as_str());
            let how = Written { hash, signals, now: batch.now, source: batch.source };
            let e = |e| sql_err(&path, e);
            // A second record of a waiting item finds it written.
            if w.new_keys.contains(item.key.as_str()) {
                w.insert_waiting(&tx).map_err(e)?;
            }
            match lookup(&tx, item, batch.source).map_err(e)? {
                None => {
                    w.new_keys.insert(&item.key);
                    w.new.push((item, how));
                    if w.new.len() >= ROWS_PER_INSERT {
                        w.insert_waiting(&tx).map_err(e)?;
                    }
                }
                Some((id, stored)) => {
                    let outcome = rewrite(&tx, item, &how, id, &stored).map_err(e)?;
                    w.written(outcome, hash, item);
                }
            }
            let done = i + 1 - from;
            if done.is_multiple_of(SAVE_CHECK) && i + 1 < to && turn.as_ref().is_some_and(announced)
            {
                to = i + 1;
                break;
            }
        }
        w.insert_waiting(&tx).map_err(|e| sql_err(&path, e))?;
        let Writing { counts, texts, .. } = w;
        if to < batch.items.len() {
            *carried = texts;
            tx.commit().map_err(|e| sql_err(&path, e))?;
            return Ok((counts, to));
        }
        // After every item: FTS5 writes its pending rows out at each statement savepoint, and
        // the items' statements (with their triggers) open one each.
        let mut df_delta = HashMap::new();
        fts::write_texts_as_written(&tx, &texts, &mut df_delta).map_err(|e| sql_err(&path, e))?;
        if !df_delta.is_empty() {
            fts::write_df(&tx, df_delta).map_err(|e| sql_err(&path, e))?;
        }
        tx.commit().map_err(|e| sql_err(&path, e))?;
        // Counted once written: terms of a write that failed are never handed on.
        if let Some(feeding) = &mut self.feeding
            && !texts.is_empty()
        {
            feeding.count(texts);
        }
        Ok((counts, to))
    }

    /// Create a bare item (key and dataset only) when none exists, so that annotations of
    /// items from elsewhere can be measured.
    pub fn ensure_bare_item(&self, key: &str, dataset: &str, now: &str) -> Result<()> {
        self.conn
            .execute(
                "INSERT OR IGNORE INTO items(key, dataset, kind, content_hash, imported_at)
                 VALUES (?1, ?2, 'issue', '', ?3)",
                params![key, dataset, now],
            )
            .map(|_| ())
            .map_err(|e| self.err(e))
    }

    /// One item with its turns and comments.
    pub fn item(&self, key: &str) -> Result<Option<Item>> {
        let row = self
            .conn
            .query_row(&format!("SELECT {ITEM_COLUMNS} FROM items WHERE key = ?1"), [key], item_row)
            .optional()
            .map_err(|e| self.err(e))?;
        let Some((id, item, labels, meta)) = row else { return Ok(None) };
        let mut item = self.finish_item(item, &labels, meta)?;
        item.turns = self.turns(id, key)?;
        item.comments = self.comments(id)?;
        Ok(Some(item))
    }

    /// Every item of `dataset` (all when None) with its turns and comments, in store order,
    /// read in three sequential scans merged by item id rather than three lookups per item:
    /// what a pass over a large dataset needs. `visit` returns false to stop.
    pub fn for_each_item(
        &self,
        dataset: Option<&str>,
        mut visit: impl FnMut(Item) -> bool,
    ) -> Result<()> {
        let e = |e| self.err(e);
        let mut items = self
            .conn
            .prepare(&format!(
                "SELECT {ITEM_COLUMNS} FROM items WHERE ?1 IS NULL OR dataset = ?1 ORDER BY id"
            ))
            .map_err(e)?;
        let mut turns = self
            .conn
            .prepare("SELECT item_id, role, content, tool_calls FROM turns ORDER BY item_id, seq")
            .map_err(e)?;
        let mut comments = self
            .conn
            .prepare(
                "SELECT item_id, github_id, author, author_association, body, created_at
                 FROM comments ORDER BY item_id, seq",
            )
            .map_err(e)?;
        let mut items = items.query([dataset]).map_err(e)?;
        let mut turns = Merge::new(turns.query([]).map_err(e)?, |r| turn_row(r).map_err(e));
        let mut comments =
            Merge::new(comments.query([]).map_err(e)?, |r| comment_row(r).map_err(e));
        while let Some(r) = items.next().map_err(e)? {
            let (id, item, labels, meta) = item_row(r).map_err(e)?;
            let mut item = self.finish_item(item, &labels, meta)?;
            item.turns = turns
                .take(id, &e)?
                .into_iter()
                .map(|t| t.parse(&item.key, self))
                .collect::<Result<_>>()?;
            item.comments = comments.take(id, &e)?;
            if !visit(item) {
                break;
            }
        }
        Ok(())
    }

    /// The JSON columns of an item row, parsed.
    fn finish_item(&self, mut item: Item, labels: &str, meta: Option<String>) -> Result<Item> {
        item.source_labels =
            serde_json::from_str(labels).map_err(|e| self.corrupt(&item.key, e))?;
        if let Some(m) = meta {
            item.meta = serde_json::from_str(&m).map_err(|e| self.corrupt(&item.key, e))?;
        }
        Ok(item)
    }

    fn turns(&self, id: i64, key: &str) -> Result<Vec<Turn>> {
        let mut st = self
            .conn
            .prepare_cached(
                "SELECT role, content, tool_calls FROM turns WHERE item_id = ?1 ORDER BY seq",
            )
            .map_err(|e| self.err(e))?;
        let rows = st
            .query_map([id], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, Option<String>>(2)?))
            })
            .map_err(|e| self.err(e))?;
        let mut out = Vec::new();
        for row in rows {
            let (role, content, calls) = row.map_err(|e| self.err(e))?;
            let tool_calls: Vec<ToolCall> = match calls {
                Some(c) => serde_json::from_str(&c).map_err(|e| self.corrupt(key, e))?,
                None => Vec::new(),
            };
            out.push(Turn { role, content, tool_calls });
        }
        Ok(out)
    }

    fn comments(&self, id: i64) -> Result<Vec<Comment>> {
        let mut st = self
            .conn
            .prepare_cached(
                "SELECT github_id, author, author_association, body, created_at
                 FROM comments WHERE item_id = ?1 ORDER BY seq",
            )
            .map_err(|e| self.err(e))?;
        let rows = st
            .query_map([id], |r| {
                Ok(Comment {
                    id: r.get(0)?,
                    author: r.get(1)?,
                    author_association: r.get(2)?,
                    body: r.get(3)?,
                    created_at: r.get(4)?,
                })
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<std::result::Result<_, _>>().map_err(|e| self.err(e))
    }

    /// Number of items, optionally in one dataset (from the trigger-kept counts).
    pub fn item_count(&self, dataset: Option<&str>) -> Result<i64> {
        self.conn
            .query_row(
                "SELECT coalesce(sum(n), 0) FROM counts
                 WHERE what = 'items' AND (?1 IS NULL OR k1 = ?1)",
                [dataset],
                |r| r.get(0),
            )
            .map_err(|e| self.err(e))
    }

    /// Items per dataset and kind (from the trigger-kept counts: no scan of the items).
    pub fn dataset_counts(&self) -> Result<Vec<DatasetCount>> {
        let mut st = self
            .conn
            .prepare_cached(
                "SELECT k1, k2, n FROM counts WHERE what = 'items' AND n > 0 ORDER BY k1, k2",
            )
            .map_err(|e| self.err(e))?;
        let rows = st
            .query_map([], |r| {
                Ok(DatasetCount { dataset: r.get(0)?, kind: r.get(1)?, items: r.get(2)? })
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<std::result::Result<_, _>>().map_err(|e| self.err(e))
    }

    /// The dataset an item belongs to.
    pub fn item_dataset(&self, key: &str) -> Result<Option<String>> {
        self.conn
            .query_row("SELECT dataset FROM items WHERE key = ?1", [key], |r| r.get(0))
            .optional()
            .map_err(|e| self.err(e))
    }

    /// Queue rows in store order, filtered.
    pub fn queue_rows(&self, filter: &QueueFilter) -> Result<Vec<QueueRow>> {
        let mut st = self
            .conn
            .prepare(
                "SELECT id, key, dataset, kind, title, repo, signals, created_at
                 FROM items INDEXED BY items_queue
                 WHERE (?1 IS NULL OR dataset = ?1) AND (?2 IS NULL OR repo = ?2)
                 ORDER BY dataset, id",
            )
            .map_err(|e| self.err(e))?;
        let rows = st
            .query_map(params![filter.dataset, filter.repo], queue_row)
            .map_err(|e| self.err(e))?;
        let mut out: Vec<QueueRow> =
            rows.collect::<std::result::Result<_, _>>().map_err(|e| self.err(e))?;
        if let Some(keys) = &filter.keys {
            let order: std::collections::HashMap<&str, usize> =
                keys.iter().enumerate().map(|(i, k)| (k.as_str(), i)).collect();
            out.retain(|r| order.contains_key(r.key.as_str()));
            out.sort_by_key(|r| order.get(r.key.as_str()).copied().unwrap_or(usize::MAX));
        }
        Ok(out)
    }

    /// A page of the queue in its order (dataset, then id): the rows after `after` (a row's
    /// dataset and id), at most `limit` of them. The review screen draws its first page
    /// before the rest is read.
    pub fn queue_page(
        &self,
        dataset: Option<&str>,
        after: Option<(&str, i64)>,
        limit: Option<usize>,
    ) -> Result<Vec<QueueRow>> {
        let mut st = self
            .conn
            .prepare_cached(
                "SELECT id, key, dataset, kind, title, repo, signals, created_at
                 FROM items INDEXED BY items_queue
                 WHERE (?1 IS NULL OR dataset = ?1) AND (?2 IS NULL OR (dataset, id) > (?2, ?3))
                 ORDER BY dataset, id LIMIT ?4",
            )
            .map_err(|e| self.err(e))?;
        let (after_dataset, after_id) = after.unzip();
        // SQLite reads a negative LIMIT as none.
        let limit = limit.map_or(-1, |n| i64::try_from(n).unwrap_or(i64::MAX));
        let rows = st
            .query_map(params![dataset, after_dataset, after_id, limit], queue_row)
            .map_err(|e| self.err(e))?;
        rows.collect::<std::result::Result<_, _>>().map_err(|e| self.err(e))
    }

    /// Queue rows of items added after item `after` (ids grow with every new item).
    pub fn queue_rows_after(&self, dataset: Option<&str>, after: i64) -> Result<Vec<QueueRow>> {
        let mut st = self
            .conn
            .prepare(
                "SELECT id, key, dataset, kind, title, repo, signals, created_at FROM items
                 WHERE id > ?2 AND (?1 IS NULL OR dataset = ?1) ORDER BY id",
            )
            .map_err(|e| self.err(e))?;
        let rows = st.query_map(params![dataset, after], queue_row).map_err(|e| self.err(e))?;
        rows.collect::<std::result::Result<_, _>>().map_err(|e| self.err(e))
    }

    /// The one kind of item a dataset holds; None for a new dataset or one holding both.
    pub fn dataset_kind(&self, dataset: &str) -> Result<Option<ItemKind>> {
        let first: Option<String> = self
            .conn
            .query_row("SELECT kind FROM items WHERE dataset = ?1 LIMIT 1", [dataset], |r| r.get(0))
            .optional()
            .map_err(|e| self.err(e))?;
        let Some(first) = first else { return Ok(None) };
        let other: Option<i64> = self
            .conn
            .query_row(
                "SELECT 1 FROM items WHERE dataset = ?1 AND kind != ?2 LIMIT 1",
                [dataset, first.as_str()],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.err(e))?;
        Ok(if other.is_some() { None } else { ItemKind::parse(&first) })
    }

    /// Items of `dataset` written with source `old` come from `new` (`path#sha256` of the
    /// file they were imported from): an import learns the hash of what it read at the end.
    pub fn replace_source(&mut self, dataset: &str, old: &str, new: &str) -> Result<()> {
        self.let_saves_pass();
        self.conn
            .execute(
                "UPDATE items SET source = ?3 WHERE dataset = ?1 AND source = ?2",
                params![dataset, old, new],
            )
            .map(|_| ())
            .map_err(|e| self.err(e))
    }

    /// Items with no recorded source: imported before sift recorded sources (GitHub items
    /// come from their repository).
    pub fn items_without_source(&self) -> Result<usize> {
        self.conn
            .query_row("SELECT count(*) FROM items WHERE source = '' AND repo IS NULL", [], |r| {
                r.get::<_, i64>(0)
            })
            .map(|n| n.max(0) as usize)
            .map_err(|e| self.err(e))
    }

    /// Where an item came from, as recorded by its import ("" for older stores and pulls).
    pub fn item_source(&self, key: &str) -> Result<Option<String>> {
        self.conn
            .query_row("SELECT source FROM items WHERE key = ?1", [key], |r| r.get(0))
            .optional()
            .map_err(|e| self.err(e))
    }

    /// Keys `DATASET:id` of items whose id part is `id` (at most five).
    pub fn keys_with_id(&self, id: &str) -> Result<Vec<String>> {
        let mut st = self
            .conn
            .prepare("SELECT key FROM items WHERE key = dataset || ':' || ?1 ORDER BY key LIMIT 5")
            .map_err(|e| self.err(e))?;
        let rows = st.query_map([id], |r| r.get(0)).map_err(|e| self.err(e))?;
        rows.collect::<std::result::Result<_, _>>().map_err(|e| self.err(e))
    }

    /// The highest item id (0 for an empty store).
    pub fn max_item_id(&self) -> Result<i64> {
        self.conn
            .query_row("SELECT coalesce(max(id), 0) FROM items", [], |r| r.get(0))
            .map_err(|e| self.err(e))
    }

    /// Keys of GitHub items that carry a label sift pushed (and did not take back).
    pub fn pushed_keys(&self) -> Result<std::collections::HashSet<String>> {
        let mut st = self
            .conn
            .prepare("SELECT DISTINCT repo, number FROM pushed_labels WHERE removed_at IS NULL")
            .map_err(|e| self.err(e))?;
        let rows = st
            .query_map([], |r| {
                Ok(format!("github:{}#{}", r.get::<_, String>(0)?, r.get::<_, i64>(1)?))
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<std::result::Result<_, _>>().map_err(|e| self.err(e))
    }

    /// Keys and content hashes of a dataset, for fast unchanged-detection on re-import.
    pub fn content_hashes(
        &self,
        dataset: &str,
    ) -> Result<std::collections::HashMap<String, String>> {
        let mut st = self
            .conn
            .prepare("SELECT key, content_hash FROM items WHERE dataset = ?1")
            .map_err(|e| self.err(e))?;
        let rows =
            st.query_map([dataset], |r| Ok((r.get(0)?, r.get(1)?))).map_err(|e| self.err(e))?;
        rows.collect::<std::result::Result<_, _>>().map_err(|e| self.err(e))
    }
}

/// A queue row from `SELECT id, key, dataset, kind, title, repo`.
const ITEM_COLUMNS: &str = "id, key, dataset, kind, title, body, repo, number, state, author, \
    url, created_at, updated_at, source_labels, meta";

/// An item row of ITEM_COLUMNS: the id, the item without its JSON columns, and those.
fn item_row(r: &rusqlite::Row) -> rusqlite::Result<(i64, Item, String, Option<String>)> {
    Ok((
        r.get::<_, i64>(0)?,
        Item {
            key: r.get(1)?,
            dataset: r.get(2)?,
            kind: ItemKind::parse(&r.get::<_, String>(3)?),
            title: r.get(4)?,
            body: r.get(5)?,
            repo: r.get(6)?,
            number: r.get(7)?,
            state: r.get(8)?,
            author: r.get(9)?,
            url: r.get(10)?,
            created_at: r.get(11)?,
            updated_at: r.get(12)?,
            ..Default::default()
        },
        r.get::<_, String>(13)?,
        r.get::<_, Option<String>>(14)?,
    ))
}

/// A turn row (after its item id) before its tool calls are parsed.
struct TurnRow {
    role: String,
    content: String,
    calls: Option<String>,
}

impl TurnRow {
    fn parse(self, key: &str, store: &Store) -> Result<Turn> {
        let tool_calls: Vec<ToolCall> = match self.calls {
            Some(c) => serde_json::from_str(&c).map_err(|e| store.corrupt(key, e))?,
            None => Vec::new(),
        };
        Ok(Turn { role: self.role, content: self.content, tool_calls })
    }
}

fn turn_row(r: &rusqlite::Row) -> rusqlite::Result<TurnRow> {
    Ok(TurnRow { role: r.get(1)?, content: r.get(2)?, calls: r.get(3)? })
}

fn comment_row(r: &rusqlite::Row) -> rusqlite::Result<Comment> {
    Ok(Comment {
        id: r.get(1)?,
        author: r.get(2)?,
        author_association: r.get(3)?,
        body: r.get(4)?,
        created_at: r.get(5)?,
    })
}

/// Makes a value of a row.
type MakeRow<'s, T> = Box<dyn FnMut(&rusqlite::Row) -> Result<T> + 's>;

/// Rows ordered by item id (column 0), made into values and taken item by item as a scan of
/// the items advances.
struct Merge<'s, T> {
    rows: rusqlite::Rows<'s>,
    make: MakeRow<'s, T>,
    /// The row read but not taken yet, with its item id.
    ahead: Option<(i64, T)>,
}

impl<'s, T> Merge<'s, T> {
    fn new(rows: rusqlite::Rows<'s>, make: impl FnMut(&rusqlite::Row) -> Result<T> + 's) -> Self {
        Merge { rows, make: Box::new(make), ahead: None }
    }

    /// The values of item `id`; rows of items before it (another dataset's) are passed over.
    fn take(
        &mut self,
        id: i64,
        err: &dyn Fn(rusqlite::Error) -> super::StoreError,
    ) -> Result<Vec<T>> {
        let mut out = Vec::new();
        loop {
            if self.ahead.is_none() {
                let Some(r) = self.rows.next().map_err(err)? else { return Ok(out) };
                let at: i64 = r.get(0).map_err(err)?;
                if at < id {
                    continue;
                }
                self.ahead = Some((at, (self.make)(r)?));
            }
            match self.ahead.take() {
                Some((at, v)) if at == id => out.push(v),
                // Rows of an item the scan did not stop at (another dataset's).
                Some((at, _)) if at < id => {}
                other => {
                    self.ahead = other;
                    return Ok(out);
                }
            }
        }
    }
}

fn queue_row(r: &rusqlite::Row) -> rusqlite::Result<QueueRow> {
    Ok(QueueRow {
        id: r.get(0)?,
        key: r.get(1)?,
        dataset: r.get(2)?,
        kind: ItemKind::parse(&r.get::<_, String>(3)?).unwrap_or(ItemKind::Issue),
        title: r.get(4)?,
        repo: r.get(5)?,
        signals: r.get(6)?,
        created_at: r.get(7)?,
    })
}

enum Upsert {
    /// A new item, with its row id.
    Inserted(i64),
    /// An item whose content changed, with its row id.
    Rewritten(i64),
    /// An item whose facts (state, dates, URL) changed, not its content.
    Updated,
    Unchanged,
}

/// Items written between two looks for an announced save, in a store that yields to saves:
/// a save waits for about this many items' writes (and their text's), a few milliseconds.
const SAVE_CHECK: usize = 250;

/// A batch of items to write, with what was worked out of them beforehand.
struct Batch<'b> {
    items: &'b [Item],
    derived: Option<&'b [Derived]>,
    /// Content hashes, when `derived` does not give them.
    hashes: &'b [String],
    now: &'b str,
    source: Option<&'b str>,
}

/// One batch of items being written: new ones waiting to be inserted together, what was
/// counted, and the texts to index.
struct Writing<'i> {
    feeding: Option<&'i Feeding>,
    new: Vec<(&'i Item, Written<'i>)>,
    /// The keys in `new`.
    new_keys: HashSet<&'i str>,
    counts: UpsertCounts,
    texts: Vec<Text>,
}

impl<'i> Writing<'i> {
    /// Insert the new items waiting (see [`insert_new`]).
    fn insert_waiting(&mut self, tx: &Transaction) -> rusqlite::Result<()> {
        if self.new.is_empty() {
            return Ok(());
        }
        let ids = insert_new(tx, &self.new)?;
        let new = std::mem::take(&mut self.new);
        self.new_keys.clear();
        for ((item, how), id) in new.into_iter().zip(ids) {
            self.written(Upsert::Inserted(id), how.hash, item);
        }
        Ok(())
    }

    /// Count one item written, and keep its text to index when it is new text of a dataset
    /// indexed as written.
    fn written(&mut self, outcome: Upsert, hash: &str, item: &Item) {
        let id = match outcome {
            Upsert::Inserted(id) => {
                self.counts.inserted += 1;
                id
            }
            Upsert::Rewritten(id) => {
                self.counts.updated += 1;
                id
            }
            Upsert::Updated => {
                self.counts.updated += 1;
                return;
            }
            Upsert::Unchanged => {
                self.counts.unchanged += 1;
                return;
            }
        };
        let Some(feeding) = self.feeding else { return };
        let Some(dataset) = feeding.dataset(&item.dataset) else { return };
        self.texts.push(Text {
            id,
            hash: hash.to_string(),
            dataset,
            title: item.title.clone(),
            rest: indexed_rest(item),
        });
    }
}

/// What the store holds of an item about to be written again.
struct Stored {
    hash: String,
    /// Stored before signals were kept.
    no_signals: bool,
    /// Its source is the one being written (or none is).
    same_source: bool,
}

/// How an item is written: with its content hash, its signals when already worked out,
/// the time, and where it came from.
struct Written<'a> {
    hash: &'a str,
    signals: Option<&'a str>,
    now: &'a str,
    source: Option<&'a str>,
}

impl Written<'_> {
    fn signals(&self, item: &Item) -> String {
        match self.signals {
            Some(s) => s.to_string(),
            None => Signals::of(item).brief(),
        }
    }
}

/// Same content, but the facts around it may have moved on (an issue closed, a corrected
/// date or URL): update those without touching the content. Writes nothing when they match.
fn update_facts(
    tx: &Transaction,
    id: i64,
    item: &Item,
    stored: &Stored,
    written: &Written,
) -> rusqlite::Result<Upsert> {
    // Items stored before signals were kept get them on their next import.
    if stored.no_signals {
        tx.prepare_cached("UPDATE items SET signals = ?2 WHERE id = ?1")?
            .execute(params![id, written.signals(item)])?;
    }
    // The same text from another file (or another version of it): where it now comes from.
    if let Some(source) = written.source.filter(|_| !stored.same_source) {
        tx.prepare_cached("UPDATE items SET source = ?2 WHERE id = ?1")?
            .execute(params![id, source])?;
    }
    let changed = tx
        .prepare_cached(
            "UPDATE items SET repo=?2, number=?3, state=?4, author=?5, url=?6, created_at=?7,
                updated_at=?8
             WHERE id=?1 AND (repo IS NOT ?2 OR number IS NOT ?3 OR state IS NOT ?4
                OR author IS NOT ?5 OR url IS NOT ?6 OR created_at IS NOT ?7
                OR updated_at IS NOT ?8)",
        )?
        .execute(params![
            id,
            item.repo,
            item.number,
            item.state,
            item.author,
            item.url,
            item.created_at,
            item.updated_at
        ])?;
    Ok(if changed > 0 { Upsert::Updated } else { Upsert::Unchanged })
}

/// What the store holds of `item` (by key), if anything.
fn lookup(
    tx: &Transaction,
    item: &Item,
    source: Option<&str>,
) -> rusqlite::Result<Option<(i64, Stored)>> {
    tx.prepare_cached(
        "SELECT id, content_hash, signals = '', ?2 IS NULL OR source IS ?2
         FROM items WHERE key = ?1",
    )?
    .query_row(params![item.key, source], |r| {
        let stored = Stored { hash: r.get(1)?, no_signals: r.get(2)?, same_source: r.get(3)? };
        Ok((r.get(0)?, stored))
    })
    .optional()
}

/// Columns of an inserted item, in the order [`insert_new`] binds them.
const INSERTED_COLUMNS: &str = "key, dataset, kind, title, body, repo, number, state, author,
    url, created_at, updated_at, source_labels, meta, content_hash, imported_at, signals, source";

/// The values of an inserted item that are worked out from it, not fields of it.
struct ItemValues {
    kind: &'static str,
    labels: String,
    meta: Option<String>,
    signals: String,
}

impl ItemValues {
    fn of(item: &Item, written: &Written) -> Self {
        let labels = serde_json::to_string(&item.source_labels).unwrap_or_else(|_| "[]".into());
        let meta = (!item.meta.is_null()).then(|| item.meta.to_string());
        ItemValues { kind: item.kind().as_str(), labels, meta, signals: written.signals(item) }
    }
}

/// New items inserted together (at most [`ROWS_PER_INSERT`]), with children; their row ids
/// in the order given. The keys must be new to the store and to each other.
fn insert_new(tx: &Transaction, new: &[(&Item, Written)]) -> rusqlite::Result<Vec<i64>> {
    const ROW: &str = "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, coalesce(?, ''))";
    let sql = format!(
        "INSERT INTO items({INSERTED_COLUMNS}) VALUES {} RETURNING id, key",
        values_rows(ROW, new.len())
    );
    let worked: Vec<ItemValues> = new.iter().map(|(item, w)| ItemValues::of(item, w)).collect();
    let mut values: Vec<&dyn rusqlite::ToSql> = Vec::with_capacity(18 * new.len());
    for ((item, w), v) in new.iter().zip(&worked) {
        values.extend_from_slice(&[
            &item.key as &dyn rusqlite::ToSql,
            &item.dataset,
            &v.kind,
            &item.title,
            &item.body,
            &item.repo,
            &item.number,
            &item.state,
            &item.author,
            &item.url,
            &item.created_at,
            &item.updated_at,
            &v.labels,
            &v.meta,
            &w.hash,
            &w.now,
            &v.signals,
            &w.source,
        ]);
    }
    let mut st = tx.prepare_cached(&sql)?;
    // RETURNING gives its rows in no promised order: matched by key.
    let ids: HashMap<String, i64> = st
        .query_map(rusqlite::params_from_iter(values), |r| Ok((r.get(1)?, r.get(0)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let mut out = Vec::with_capacity(new.len());
    for (item, _) in new {
        let id = ids.get(&item.key).copied().ok_or(rusqlite::Error::QueryReturnedNoRows)?;
        insert_children(tx, id, item)?;
        out.push(id);
    }
    Ok(out)
}

/// Write one item over the row the store holds of it (`id`, `stored`, from [`lookup`]): its
/// facts when its content is the same, else the whole item (new items are inserted together,
/// see [`insert_new`]).
fn rewrite(
    tx: &Transaction,
    item: &Item,
    written: &Written,
    id: i64,
    stored: &Stored,
) -> rusqlite::Result<Upsert> {
    if stored.hash == written.hash {
        return update_facts(tx, id, item, stored, written);
    }
    let v = ItemValues::of(item, written);
    tx.prepare_cached(
        "UPDATE items SET dataset=?2, kind=?3, title=?4, body=?5, repo=?6, number=?7,
            state=?8, author=?9, url=?10, created_at=?11, updated_at=?12,
            source_labels=?13, meta=?14, content_hash=?15, imported_at=?16, signals=?17,
            source=coalesce(?18, source)
         WHERE id=?1",
    )?
    .execute(params![
        id,
        item.dataset,
        v.kind,
        item.title,
        item.body,
        item.repo,
        item.number,
        item.state,
        item.author,
        item.url,
        item.created_at,
        item.updated_at,
        v.labels,
        v.meta,
        written.hash,
        written.now,
        v.signals,
        written.source
    ])?;
    tx.prepare_cached("DELETE FROM turns WHERE item_id = ?1")?.execute([id])?;
    tx.prepare_cached("DELETE FROM comments WHERE item_id = ?1")?.execute([id])?;
    insert_children(tx, id, item)?;
    Ok(Upsert::Rewritten(id))
}

/// The text an item is indexed by after its title, as the refresh's text pass reads it back:
/// body, turns, comments.
fn indexed_rest(item: &Item) -> String {
    let mut rest = item.body.clone();
    for t in &item.turns {
        fts::push_part(&mut rest, &t.content);
    }
    for c in &item.comments {
        fts::push_part(&mut rest, &c.body);
    }
    rest
}

fn insert_children(tx: &Transaction, id: i64, item: &Item) -> rusqlite::Result<()> {
    let mut turn = tx.prepare_cached(
        "INSERT INTO turns(item_id, seq, role, content, tool_calls) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?;
    for (seq, t) in item.turns.iter().enumerate() {
        let calls = (!t.tool_calls.is_empty())
            .then(|| serde_json::to_string(&t.tool_calls).unwrap_or_else(|_| "[]".into()));
        turn.execute(params![id, seq as i64, t.role, t.content, calls])?;
    }
    let mut comment = tx.prepare_cached(
        "INSERT INTO comments(item_id, seq, github_id, author, author_association, body, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?;
    for (seq, c) in item.comments.iter().enumerate() {
        comment.execute(params![
            id,
            seq as i64,
            c.id,
            c.author,
            c.author_association,
            c.body,
            c.created_at
        ])?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Pages of any size, each starting after the last row of the one before, give the
    /// queue's rows in its order, every row once, for every dataset filter.
    #[test]
    fn queue_pages_join_into_the_queue() {
        let mut s = Store::open_in_memory().unwrap();
        // Datasets interleaved by id, so the queue's order (dataset, id) is not the id order.
        let items: Vec<Item> = (0..23)
            .map(|i| Item {
                key: format!("k{i}"),
                dataset: ["b", "a", "c"][i % 3].into(),
                title: format!("t{i}"),
                ..Default::default()
            })
            .collect();
        s.upsert_items(&items, "now").unwrap();
        for dataset in [None, Some("a"), Some("c"), Some("none")] {
            let filter = QueueFilter { dataset: dataset.map(String::from), ..Default::default() };
            let whole: Vec<String> =
                s.queue_rows(&filter).unwrap().into_iter().map(|r| r.key).collect();
            for size in [1, 2, 5, 7, 50] {
                let mut keys = Vec::new();
                let mut after: Option<(String, i64)> = None;
                loop {
                    let at = after.as_ref().map(|(d, id)| (d.as_str(), *id));
                    let page = s.queue_page(dataset, at, Some(size)).unwrap();
                    assert!(page.len() <= size);
                    let Some(last) = page.last() else { break };
                    after = Some((last.dataset.clone(), last.id));
                    keys.extend(page.into_iter().map(|r| r.key));
                }
                assert_eq!(keys, whole, "pages of {size}, dataset {dataset:?}");
            }
            let at = s.queue_page(dataset, None, Some(3)).unwrap();
            if let Some(last) = at.last() {
                let rest = s.queue_page(dataset, Some((&last.dataset, last.id)), None).unwrap();
                assert_eq!(at.len() + rest.len(), whole.len(), "no limit reads the rest");
            }
        }
    }

    /// A pass over the items gives each item exactly as `item` does, turns and comments with
    /// it, whichever datasets and children are interleaved.
    #[test]
    fn a_pass_over_the_items_reads_what_one_item_reads() {
        let mut s = Store::open_in_memory().unwrap();
        let issue = |key: &str, dataset: &str, comments: usize| Item {
            key: key.into(),
            dataset: dataset.into(),
            kind: Some(ItemKind::Issue),
            title: format!("title {key}"),
            body: "body".into(),
            source_labels: vec!["bug".into()],
            comments: (0..comments)
                .map(|i| Comment {
                    body: format!("c{i}"),
                    author: "a".into(),
                    ..Default::default()
                })
                .collect(),
            meta: serde_json::json!({"tools": [key]}),
            ..Default::default()
        };
        let mut other = conv("e:1", "other dataset");
        other.dataset = "e".into();
        let items = vec![
            conv("d:1", "first"),
            issue("e:2", "e", 2),
            issue("d:3", "d", 0),
            other,
            issue("d:5", "d", 3),
            conv("d:6", "last"),
        ];
        s.upsert_items(&items, "now").unwrap();
        for dataset in [None, Some("d"), Some("e"), Some("none")] {
            let mut seen = Vec::new();
            s.for_each_item(dataset, |i| {
                seen.push(i);
                true
            })
            .unwrap();
            let want: Vec<Item> = items
                .iter()
                .filter(|i| dataset.is_none_or(|d| i.dataset == d))
                .map(|i| s.item(&i.key).unwrap().unwrap())
                .collect();
            assert_eq!(seen, want, "{dataset:?}");
        }
        let mut first = Vec::new();
        s.for_each_item(None, |i| {
            first.push(i.key);
            false
        })
        .unwrap();
        assert_eq!(first, ["d:1"], "false stops the pass");
    }

    fn conv(key: &str, text: &str) -> Item {
        Item {
            key: key.into(),
            dataset: "d".into(),
            kind: Some(ItemKind::Conversation),
            title: text.into(),
            turns: vec![
                Turn { role: "user".into(), content: text.into(), tool_calls: vec![] },
                Turn {
                    role: "assistant".into(),
                    content: "ok".into(),
                    tool_calls: vec![ToolCall { name: "f".into(), arguments: "{}".into() }],
                },
            ],
            ..Default::default()
        }
    }

    #[test]
    fn upsert_is_idempotent_and_detects_changes() {
        let mut s = Store::open_in_memory().unwrap();
        let items = vec![conv("d:1", "hello"), conv("d:2", "world")];
        let c = s.upsert_items(&items, "t").unwrap();
        assert_eq!(c, UpsertCounts { inserted: 2, updated: 0, unchanged: 0 });
        let c = s.upsert_items(&items, "t").unwrap();
        assert_eq!(c, UpsertCounts { inserted: 0, updated: 0, unchanged: 2 });
        let changed = vec![conv("d:1", "hello again")];
        let c = s.upsert_items(&changed, "t").unwrap();
        assert_eq!(c.updated, 1);
        let got = s.item("d:1").unwrap().unwrap();
        assert_eq!(got.turns.len(), 2);
        assert_eq!(got.turns[0].content, "hello again");
        assert_eq!(got.turns[1].tool_calls[0].name, "f");
        assert_eq!(s.item_count(None).unwrap(), 2);
    }

    /// New items are inserted several to a statement: every one lands with its own text and
    /// turns, ids follow the batch's order, and a key given twice is written, then updated.
    #[test]
    fn new_items_written_together_keep_their_order_and_children() {
        let mut s = Store::open_in_memory().unwrap();
        s.upsert_items(&[conv("d:old", "before")], "t").unwrap();
        let mut batch: Vec<Item> = (0..2 * ROWS_PER_INSERT + 9)
            .map(|i| conv(&format!("d:{i}"), &format!("text {i}")))
            .collect();
        batch.insert(70, conv("d:old", "changed"));
        // d:80 is still waiting to be inserted when its second record comes.
        let at = batch.iter().position(|i| i.key == "d:80").unwrap();
        batch.insert(at + 1, conv("d:80", "eighty again"));
        let c = s.upsert_items(&batch, "t").unwrap();
        let new = 2 * ROWS_PER_INSERT + 9;
        assert_eq!(c, UpsertCounts { inserted: new, updated: 2, unchanged: 0 });
        assert_eq!(s.item_count(None).unwrap(), new as i64 + 1);
        let id = |key: &str| -> i64 {
            s.conn.query_row("SELECT id FROM items WHERE key = ?1", [key], |r| r.get(0)).unwrap()
        };
        let ids: Vec<i64> = (0..new).map(|i| id(&format!("d:{i}"))).collect();
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "ids in batch order: {ids:?}");
        for i in [0, 63, 64, 65, new - 1] {
            let got = s.item(&format!("d:{i}")).unwrap().unwrap();
            assert_eq!((got.title.as_str(), got.turns.len()), (format!("text {i}").as_str(), 2));
            assert_eq!(got.turns[0].content, format!("text {i}"));
        }
        assert_eq!(s.item("d:80").unwrap().unwrap().turns[0].content, "eighty again");
        assert_eq!(s.item("d:old").unwrap().unwrap().turns[0].content, "changed");
    }

    #[test]
    fn a_closed_issue_with_the_same_text_is_updated() {
        let mut s = Store::open_in_memory().unwrap();
        let open = Item {
            key: "github:o/r#5".into(),
            dataset: "o-r".into(),
            title: "Crash".into(),
            state: Some("open".into()),
            updated_at: Some("2026-11-01T00:00:00Z".into()),
            ..Default::default()
        };
        s.upsert_items(std::slice::from_ref(&open), "t").unwrap();
        let closed = Item {
            state: Some("closed".into()),
            updated_at: Some("2026-11-02T00:00:00Z".into()),
            ..open.clone()
        };
        let c = s.upsert_items(std::slice::from_ref(&closed), "t").unwrap();
        assert_eq!(c, UpsertCounts { inserted: 0, updated: 1, unchanged: 0 });
        assert_eq!(s.item("github:o/r#5").unwrap().unwrap().state.as_deref(), Some("closed"));
        let c = s.upsert_items(&[closed], "t").unwrap();
        assert_eq!(c.unchanged, 1, "the same facts again change nothing");
    }

    #[test]
    fn queue_rows_filter_and_order_by_keys() {
        let mut s = Store::open_in_memory().unwrap();
        s.upsert_items(&[conv("d:1", "a"), conv("d:2", "b"), conv("d:3", "c")], "t").unwrap();
        let f = QueueFilter { keys: Some(vec!["d:3".into(), "d:1".into()]), ..Default::default() };
        let rows = s.queue_rows(&f).unwrap();
        let keys: Vec<_> = rows.iter().map(|r| r.key.as_str()).collect();
        assert_eq!(keys, ["d:3", "d:1"]);
    }

    /// A store that yields to saves ends a batch's transaction a few hundred items after a
    /// save is announced, commits what it wrote, and writes the rest in the next one; one
    /// that does not yield writes the batch whole.
    #[test]
    fn a_yielding_writer_commits_early_for_an_announced_save() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("s.db");
        let items: Vec<Item> = (0..1000)
            .map(|i| Item {
                key: format!("k{i}"),
                dataset: "d".into(),
                title: format!("w{i}"),
                ..Default::default()
            })
            .collect();
        let hashes: Vec<String> = items.iter().map(Item::content_hash).collect();
        let batch = Batch { items: &items, derived: None, hashes: &hashes, now: "t", source: None };
        let saver = Store::open(&p).unwrap();
        let other = Store::open(&p).unwrap();
        let mut bulk = Store::open(&p).unwrap();
        let mut carried = Vec::new();
        let guard = saver.announce_save().unwrap();
        let (counts, to) = bulk.upsert_part(&batch, 0, &mut carried).unwrap();
        assert_eq!((counts.inserted, to), (1000, 1000), "not yielding: the batch whole");
        bulk.conn.execute("DELETE FROM items", []).unwrap();
        bulk.yield_to_saves();
        bulk.index_as_written("d", crate::text::keywords::LabelPhrases::default()).unwrap();
        let (counts, to) = bulk.upsert_part(&batch, 0, &mut carried).unwrap();
        assert_eq!((counts.inserted, to), (SAVE_CHECK, SAVE_CHECK));
        assert_eq!(other.item_count(None).unwrap(), SAVE_CHECK as i64, "committed");
        assert!(other.text_search("w5", 5).unwrap().is_empty(), "its text waits");
        let (counts, to) = bulk.upsert_part(&batch, to, &mut carried).unwrap();
        assert_eq!((counts.inserted, to), (SAVE_CHECK, 2 * SAVE_CHECK));
        assert_eq!(carried.len(), 2 * SAVE_CHECK);
        drop(guard);
        let (counts, to) = bulk.upsert_part(&batch, to, &mut carried).unwrap();
        assert_eq!((counts.inserted, to), (1000 - 2 * SAVE_CHECK, 1000), "nothing announced");
        assert_eq!(other.item_count(None).unwrap(), 1000);
        assert!(carried.is_empty());
        for word in ["w5", "w260", "w999"] {
            assert_eq!(other.text_search(word, 5).unwrap().len(), 1, "{word} indexed at the end");
        }
        // Through the whole call, with no save announced, all of it in one go.
        bulk.conn.execute("DELETE FROM items", []).unwrap();
        assert_eq!(bulk.upsert_items_from(&items, None, "t", None).unwrap().inserted, 1000);
    }
}
