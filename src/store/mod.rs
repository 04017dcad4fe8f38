//! The SQLite store: schema, migrations and every query in the crate (the only place with SQL).

mod annotations;
mod batches;
mod checkpoint;
mod feed;
mod fts;
mod github;
mod gold;
mod items;
pub mod journal;
mod runs;
mod schema;
mod spool;
mod suggest;

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OptionalExtension, params};

pub use annotations::{AnswerRow, LogOffset, RecordRef};
pub use batches::{BatchItem, RunBatch};
pub use fts::{IndexReport, KeywordHit, fts_quote};
pub use github::{AppliedLabel, IssueRow, LabelOverride, PushOpRow, PushRow, PushedLabel};
pub use gold::{LabelAnswer, TimedPushedLabel, TimedSuggestion};
pub use items::{DatasetCount, Derived, ItemStatus, QueueFilter, QueueRow, UpsertCounts};
pub use runs::SuggestionRow;
pub use schema::current_version;
pub use suggest::CachedAnswer;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("store {path}: {source}")]
    Sqlite { path: PathBuf, source: rusqlite::Error },
    #[error(
        "store {path} has schema version {found}, newer than this sift understands ({supported}); \
         upgrade sift, or delete the store (it is rebuilt from annotations/ and your sources)"
    )]
    TooNew { path: PathBuf, found: i64, supported: i64 },
    #[error("store {path}: cannot create folder: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("store {path}: bad stored data for {what}: {reason}")]
    Corrupt { path: PathBuf, what: String, reason: String },
    #[error("store {path}: the similarity index's temporary file: {source}")]
    Spool { path: PathBuf, source: std::io::Error },
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// One connection to the store. The UI side owns exactly one.
pub struct Store {
    /// A bulk write's checkpoints, on a thread of their own. Before `conn`: stopped first, so
    /// the last connection to close is still this one (SQLite copies the log back then).
    checkpoints: Option<checkpoint::Checkpointer>,
    conn: Connection,
    path: PathBuf,
    /// The workspace whose `runs/` and `pushes/` journals this store writes (None: none).
    journal: Option<PathBuf>,
    /// Items' terms being counted as an import writes them, for the next index refresh.
    feeding: Option<feed::Feeding>,
    /// A bulk writer that ends a batch's transaction early for an announced save
    /// ([`Store::yield_to_saves`]).
    yields: bool,
}

impl Store {
    /// Open (creating and migrating as needed) the store at `path`.
    pub fn open(path: &Path) -> Result<Self> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|source| StoreError::Io { path: path.to_path_buf(), source })?;
        }
        let conn = Connection::open(path).map_err(|e| sql_err(path, e))?;
        let mut store = Store {
            checkpoints: None,
            conn,
            path: path.to_path_buf(),
            journal: None,
            feeding: None,
            yields: false,
        };
        store.configure()?;
        store.migrate()?;
        Ok(store)
    }

    /// An in-memory store, for tests and benchmarks.
    pub fn open_in_memory() -> Result<Self> {
        let path = PathBuf::from(":memory:");
        let conn = Connection::open_in_memory().map_err(|e| sql_err(&path, e))?;
        let mut store =
            Store { checkpoints: None, conn, path, journal: None, feeding: None, yields: false };
        store.configure()?;
        store.migrate()?;
        Ok(store)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn configure(&mut self) -> Result<()> {
        // Every transaction sift opens writes. Taken deferred, one that reads first fails at
        // its first write with SQLITE_BUSY_SNAPSHOT when another process committed meanwhile
        // (no busy handler can help there); taken immediate, it waits for the write lock.
        self.conn.set_transaction_behavior(rusqlite::TransactionBehavior::Immediate);
        // WAL lets a second sift process read while this one writes; NORMAL sync is durable
        // across application crashes, which is what "saved" promises. Recursive triggers:
        // rows an INSERT OR REPLACE removes fire their delete triggers only with it, and the
        // trigger-kept counts need them.
        self.conn
            .execute_batch(
                "PRAGMA journal_mode = WAL;
                 PRAGMA synchronous = NORMAL;
                 PRAGMA foreign_keys = ON;
                 PRAGMA temp_store = MEMORY;
                 PRAGMA recursive_triggers = ON;",
            )
            .map_err(|e| self.err(e))?;
        self.conn.busy_handler(Some(wait_for_lock)).map_err(|e| self.err(e))
    }

    fn migrate(&mut self) -> Result<()> {
        let supported = current_version();
        // A current store (nearly every open) needs no write lock: a process that opens it
        // while an import writes back to back does not queue for the lock behind it.
        if self.schema_version()? == supported {
            return Ok(());
        }
        loop {
            // Each step re-reads the version inside an immediate (write-locked) transaction,
            // so two processes opening a fresh store never both apply the same migration.
            let tx = self
                .conn
                .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                .map_err(|e| sql_err(&self.path, e))?;
            let found: i64 = tx
                .query_row("PRAGMA user_version", [], |r| r.get(0))
                .map_err(|e| sql_err(&self.path, e))?;
            if found > supported {
                return Err(StoreError::TooNew { path: self.path.clone(), found, supported });
            }
            let Some(sql) = schema::MIGRATIONS.get(found as usize) else { return Ok(()) };
            tx.execute_batch(sql).map_err(|e| sql_err(&self.path, e))?;
            tx.pragma_update(None, "user_version", found + 1)
                .map_err(|e| sql_err(&self.path, e))?;
            tx.commit().map_err(|e| sql_err(&self.path, e))?;
            tracing::info!(version = found + 1, path = %self.path.display(), "migrated store");
        }
    }

    /// A page cache of `mb` megabytes for a bulk write (an import and its index pass keep
    /// the b-tree interiors of a large store in memory); readers keep SQLite's 2 MB, so
    /// their memory does not grow with the store.
    pub fn bulk_cache(&self, mb: u32) -> Result<()> {
        self.conn
            .execute_batch(&format!("PRAGMA cache_size = -{}", u64::from(mb) * 1024))
            .map_err(|e| self.err(e))
    }

    /// Copy the log back into the database file on a thread of its own for the rest of this
    /// connection's life (a bulk writer's), rather than on the writer's thread after its
    /// commits. Nothing changes for an in-memory store.
    pub fn checkpoint_aside(&mut self) {
        self.checkpoint_aside_at(checkpoint::HOLD_PAGES);
    }

    /// [`Store::checkpoint_aside`], the writer copying the log itself from `hold` pages on.
    fn checkpoint_aside_at(&mut self, hold: i32) {
        if self.checkpoints.is_none() && self.path != Path::new(":memory:") {
            self.checkpoints = checkpoint::Checkpointer::start(&mut self.conn, &self.path, hold);
        }
    }

    /// The schema version on disk.
    pub fn schema_version(&self) -> Result<i64> {
        self.conn.query_row("PRAGMA user_version", [], |r| r.get(0)).map_err(|e| self.err(e))
    }

    pub fn meta_get(&self, key: &str) -> Result<Option<String>> {
        self.conn
            .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
            .optional()
            .map_err(|e| self.err(e))
    }

    pub fn meta_set(&self, key: &str, value: &str) -> Result<()> {
        self.conn
            .execute(
                "INSERT INTO meta(key, value) VALUES (?1, ?2)
                 ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                params![key, value],
            )
            .map(|_| ())
            .map_err(|e| self.err(e))
    }

    /// SQLite's `data_version`: it changes when another connection commits, not on this one's
    /// own commits, so a reader can tell cheaply whether to look again.
    pub fn data_version(&self) -> Result<i64> {
        self.conn.query_row("PRAGMA data_version", [], |r| r.get(0)).map_err(|e| self.err(e))
    }

    /// Size of the database file (and its WAL) in bytes.
    pub fn size_bytes(&self) -> u64 {
        let wal = PathBuf::from(format!("{}-wal", self.path.display()));
        [self.path.as_path(), wal.as_path()]
            .iter()
            .filter_map(|p| std::fs::metadata(p).ok())
            .map(|m| m.len())
            .sum()
    }

    /// The file a one-shot save locks while it writes, and bulk writers look at between
    /// their transactions (none for an in-memory store).
    fn turn_file(&self) -> Option<std::fs::File> {
        let dir = self.path.parent().filter(|d| !d.as_os_str().is_empty() && d.is_dir())?;
        std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(dir.join("turn.lock"))
            .ok()
    }

    /// A one-shot save (`sift annotate`, a save on the review screen) announces itself until
    /// the returned guard is dropped: bulk writers wait between their transactions meanwhile.
    /// SQLite's busy handler alone lets a writer of back-to-back transactions (an import)
    /// starve it for seconds. None when the lock cannot be had (the save still works).
    pub fn announce_save(&self) -> Option<std::fs::File> {
        let f = self.turn_file()?;
        f.lock().ok()?;
        Some(f)
    }

    /// [`Store::announce_save`] when no save is announced already (by another process, or by
    /// this one around the write that calls this): never waits, so a save inside an announced
    /// one does not wait for itself.
    pub fn try_announce_save(&self) -> Option<std::fs::File> {
        let f = self.turn_file()?;
        f.try_lock().ok()?;
        Some(f)
    }

    /// Whether a save is announced now.
    pub fn save_announced(&self) -> bool {
        self.turn_file().is_some_and(|f| announced(&f))
    }

    /// A bulk writer (an import) from now on also ends a batch's transaction partway when a
    /// save is announced, a few hundred items after it was: the save waits for that much
    /// work, not for the rest of the batch.
    pub fn yield_to_saves(&mut self) {
        self.yields = true;
    }

    /// Between a bulk writer's transactions (never inside one): wait while a save is
    /// announced, so it gets the write lock.
    pub fn let_saves_pass(&self) {
        if let Some(f) = self.turn_file() {
            // The shared lock is had once no save holds the file; dropping `f` lets it go.
            let _ = f.lock_shared();
        }
    }

    /// Leave WAL checkpoints to the store's other writers: a one-shot save (`sift annotate`)
    /// that commits while an import runs would otherwise copy the import's pages back into
    /// the database itself, and wait on that, not on its own small write.
    pub fn leave_checkpoints_to_others(&self) -> Result<()> {
        self.conn.execute_batch("PRAGMA wal_autocheckpoint = 0").map_err(|e| self.err(e))
    }

    fn err(&self, e: rusqlite::Error) -> StoreError {
        sql_err(&self.path, e)
    }

    fn corrupt(&self, what: &str, reason: impl std::fmt::Display) -> StoreError {
        StoreError::Corrupt {
            path: self.path.clone(),
            what: what.to_string(),
            reason: reason.to_string(),
        }
    }
}

/// How long a connection waits for a lock another one holds before it gives up (busy).
const BUSY_WAIT_MS: i32 = 5000;

/// SQLite's busy handler, called before the `tries`-th retry: wait a millisecond at a time
/// for the first tenth of a second, then five. SQLite's own (`busy_timeout`) sleeps 1, 2, 5,
/// 10, 15, 20, then 25 ms and more: a save waiting for an import's transaction woke up to
/// 25 ms after it ended.
fn wait_for_lock(tries: i32) -> bool {
    match lock_wait_step(tries) {
        Some(ms) => {
            std::thread::sleep(std::time::Duration::from_millis(ms));
            true
        }
        None => false,
    }
}

/// Milliseconds to sleep before retry `tries` (counted from 0), or None once
/// [`BUSY_WAIT_MS`] have been waited.
fn lock_wait_step(tries: i32) -> Option<u64> {
    const FINE: i32 = 100;
    let (waited, step) = match tries < FINE {
        true => (tries, 1),
        false => (FINE.saturating_add((tries - FINE).saturating_mul(5)), 5),
    };
    (waited < BUSY_WAIT_MS).then_some(step)
}

/// Whether a save holds the turn file (`turn`, opened by [`Store::turn_file`]). Leaves no
/// lock behind: the shared lock taken to find out is let go again.
fn announced(turn: &std::fs::File) -> bool {
    match turn.try_lock_shared() {
        Ok(()) => {
            let _ = turn.unlock();
            false
        }
        Err(std::fs::TryLockError::WouldBlock) => true,
        Err(std::fs::TryLockError::Error(_)) => false,
    }
}

/// Rows inserted by one statement into a table whose triggers keep counts (items,
/// annotations): each statement opens a statement journal (a trigger may abort it halfway),
/// which cost about as much as the row itself when a million were written one at a time.
const ROWS_PER_INSERT: usize = 64;

/// The `VALUES` list of a statement inserting `rows` rows, each with placeholders `row`.
fn values_rows(row: &str, rows: usize) -> String {
    vec![row; rows].join(", ")
}

fn sql_err(path: &Path, source: rusqlite::Error) -> StoreError {
    StoreError::Sqlite { path: path.to_path_buf(), source }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A store file's path in a fresh folder (kept while the folder guard lives).
    fn store_file() -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("s.db");
        (dir, p)
    }

    /// What the trigger-kept counts must equal, counted the slow way.
    fn counted(s: &Store) -> Vec<(String, String, String, i64)> {
        let sql = "SELECT 'items', dataset, kind, count(*) FROM items GROUP BY dataset, kind
             UNION ALL SELECT 'annotations', annotator, '', count(*) FROM annotations
                GROUP BY annotator
             UNION ALL SELECT 'pending', '', '', count(*) FROM annotations
                WHERE item_key NOT IN (SELECT key FROM items)
             UNION ALL SELECT 'runs', '', '', count(*) FROM runs
             UNION ALL SELECT 'suggestions', '', '', count(*) FROM suggestions
             ORDER BY 1, 2, 3";
        let mut st = s.conn.prepare(sql).unwrap();
        let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)));
        rows.unwrap().map(|r| r.unwrap()).collect()
    }

    fn kept(s: &Store) -> Vec<(String, String, String, i64)> {
        let sql = "SELECT what, k1, k2, n FROM counts
                   WHERE (n <> 0 OR what IN ('pending', 'runs', 'suggestions'))
                     AND what <> 'changes' ORDER BY 1, 2, 3";
        let mut st = s.conn.prepare(sql).unwrap();
        let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)));
        rows.unwrap().map(|r| r.unwrap()).collect()
    }

    #[derive(Debug, Clone)]
    enum Op {
        Item(u8, u8),
        DropItem(u8),
        MoveItem(u8, u8),
        Annotate(u8, u8),
        DropAnnotations(u8),
        Run(u8),
        DropRun(u8),
        Resuggest(u8),
    }

    fn op() -> impl proptest::strategy::Strategy<Value = Op> {
        use proptest::prelude::*;
        prop_oneof![
            (0u8..6, 0u8..3).prop_map(|(k, d)| Op::Item(k, d)),
            (0u8..6).prop_map(Op::DropItem),
            (0u8..6, 0u8..3).prop_map(|(k, d)| Op::MoveItem(k, d)),
            (0u8..8, 0u8..3).prop_map(|(k, a)| Op::Annotate(k, a)),
            (0u8..8).prop_map(Op::DropAnnotations),
            (0u8..3).prop_map(Op::Run),
            (0u8..3).prop_map(Op::DropRun),
            (0u8..3).prop_map(Op::Resuggest),
        ]
    }

    fn apply(s: &Store, op: &Op) {
        let c = &s.conn;
        let r = match op {
            Op::Item(k, d) => c.execute(
                "INSERT OR IGNORE INTO items(key, dataset, kind, content_hash, imported_at)
                 VALUES ('k' || ?1, 'd' || ?2, CASE ?2 WHEN 2 THEN 'conversation' ELSE 'issue' END,
                         '', '')",
                [k, d],
            ),
            Op::DropItem(k) => c.execute("DELETE FROM items WHERE key = 'k' || ?1", [k]),
            Op::MoveItem(k, d) => {
                c.execute("UPDATE items SET dataset = 'd' || ?2 WHERE key = 'k' || ?1", [k, d])
            }
            Op::Annotate(k, a) => c.execute(
                "INSERT INTO annotations(item_key, dataset, annotator, labels, mode)
                 VALUES ('k' || ?1, 'd0', 'a' || ?2, '[]', 'review')",
                [k, a],
            ),
            Op::DropAnnotations(k) => {
                c.execute("DELETE FROM annotations WHERE item_key = 'k' || ?1", [k])
            }
            Op::Run(r) => c
                .execute(
                    "INSERT OR IGNORE INTO runs(id, provider, model, started_at, status)
                     VALUES ('r' || ?1, 'p', 'm', '', 'done')",
                    [r],
                )
                .and_then(|_| {
                    c.execute(
                        "INSERT OR IGNORE INTO suggestions(run_id, item_key, labels, created_at)
                         VALUES ('r' || ?1, 'k1', '[]', '')",
                        [r],
                    )
                }),
            // Suggestions go with their run (ON DELETE CASCADE), and are counted out too.
            Op::DropRun(r) => c.execute("DELETE FROM runs WHERE id = 'r' || ?1", [r]),
            // How `save_suggestions` writes: a second answer replaces the first.
            Op::Resuggest(r) => c.execute(
                "INSERT OR REPLACE INTO suggestions(run_id, item_key, labels, created_at)
                 SELECT id, 'k1', '[\"x\"]', '' FROM runs WHERE id = 'r' || ?1",
                [r],
            ),
        };
        r.unwrap();
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]
        /// The counts `sift status` reads stay equal to counting the tables, whatever is
        /// written, moved or deleted, in any order.
        #[test]
        fn trigger_kept_counts_equal_the_tables(ops in proptest::collection::vec(op(), 0..40)) {
            let s = Store::open_in_memory().unwrap();
            for o in &ops {
                apply(&s, o);
                proptest::prop_assert_eq!(kept(&s), counted(&s), "after {:?}", o);
            }
        }
    }

    /// A transaction holds the write lock from its start, so one that reads before it writes
    /// never meets another process's commit in between (SQLITE_BUSY_SNAPSHOT).
    #[test]
    fn transactions_take_the_write_lock_when_they_begin() {
        let (_dir, p) = store_file();
        let mut a = Store::open(&p).unwrap();
        let other = Connection::open(&p).unwrap();
        other.busy_timeout(std::time::Duration::ZERO).unwrap();
        let write = "INSERT INTO meta(key, value) VALUES ('k', 'v')
                     ON CONFLICT(key) DO UPDATE SET value = excluded.value";
        let tx = a.conn.transaction().unwrap();
        let refused = other.execute(write, []).unwrap_err();
        assert!(refused.to_string().contains("locked"), "{refused}");
        drop(tx);
        other.execute(write, []).unwrap();
    }

    #[test]
    fn a_store_migrated_with_rows_counts_them() {
        let (_dir, p) = store_file();
        let s = Store::open(&p).unwrap();
        // Rows written before the counts existed: the migration counts them.
        let triggers: Vec<String> = s
            .conn
            .prepare(
                "SELECT name FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'counts_%'",
            )
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .map(|r| r.unwrap())
            .collect();
        assert_eq!(triggers.len(), 9);
        s.conn.execute_batch("DROP TRIGGER changes_item_in; DROP TRIGGER changes_item_text; DROP TRIGGER changes_item_out;").unwrap();
        for t in triggers {
            s.conn.execute_batch(&format!("DROP TRIGGER {t}")).unwrap();
        }
        s.conn
            .execute_batch(
                "DROP TABLE counts;
                 INSERT INTO items(key, dataset, kind, content_hash, imported_at)
                    VALUES ('x', 'd', 'issue', '', '');
                 INSERT INTO annotations(item_key, dataset, annotator, labels, mode)
                    VALUES ('x', 'd', 'a', '[]', 'review'), ('y', 'd', 'a', '[]', 'review');
                 PRAGMA user_version = 12;",
            )
            .unwrap();
        drop(s);
        let s = Store::open(&p).unwrap();
        assert_eq!(kept(&s), counted(&s));
        assert_eq!(s.pending_annotations().unwrap(), 1);
    }

    /// A connection waiting for a lock looks again every millisecond at first, and gives up
    /// after five seconds of waiting in all.
    #[test]
    fn lock_waits_are_fine_at_first_and_end_after_five_seconds() {
        let steps: Vec<u64> = (0..).map_while(lock_wait_step).collect();
        assert!(steps[..100].iter().all(|ms| *ms == 1));
        assert_eq!(steps.iter().sum::<u64>(), BUSY_WAIT_MS as u64);
        assert_eq!(lock_wait_step(i32::MAX), None);
    }

    /// A bulk writer sees an announced save and gets past `let_saves_pass` once it is done.
    #[test]
    fn bulk_writers_see_an_announced_save() {
        let (_dir, p) = store_file();
        let saver = Store::open(&p).unwrap();
        let bulk = Store::open(&p).unwrap();
        assert!(!bulk.save_announced());
        let guard = saver.announce_save().expect("a lock file beside the store");
        assert!(bulk.save_announced(), "another process sees the save");
        drop(guard);
        assert!(!bulk.save_announced());
        bulk.let_saves_pass(); // returns: nothing announced
        assert!(Store::open_in_memory().unwrap().announce_save().is_none());
    }

    /// A write inside an announced save (a replay in `sift annotate`) goes ahead without
    /// waiting for the announcement it is part of, and announces itself when none is made.
    #[test]
    fn a_save_inside_an_announced_one_goes_ahead() {
        let (_dir, p) = store_file();
        let mut saver = Store::open(&p).unwrap();
        let other = Store::open(&p).unwrap();
        let guard = saver.announce_save().unwrap();
        assert!(saver.try_announce_save().is_none(), "announced already: no second lock");
        let at = LogOffset::default();
        let to = LogOffset { offset: 10, ..LogOffset::default() };
        assert!(saver.replay_annotations("annotations/d/a.jsonl", "d", at, &[], to).unwrap());
        drop(guard);
        let own = saver.try_announce_save().expect("nothing announced now");
        assert!(other.save_announced());
        drop(own);
        assert!(!other.save_announced());
    }

    /// Opening a store of the current version reads its version and takes no write lock, so
    /// it does not queue behind a writer (an import).
    #[test]
    fn opening_a_current_store_while_another_writes() {
        let (_dir, p) = store_file();
        let mut writer = Store::open(&p).unwrap();
        let tx = writer.conn.transaction().unwrap();
        tx.execute("INSERT INTO meta(key, value) VALUES ('k', 'v')", []).unwrap();
        // With the write lock taken, an open that needed it would fail with "database is
        // locked" after the busy timeout.
        let reader = Store::open(&p).unwrap();
        assert_eq!(reader.schema_version().unwrap(), current_version());
        tx.commit().unwrap();
        assert_eq!(reader.meta_get("k").unwrap().as_deref(), Some("v"));
    }

    #[test]
    fn checkpoints_aside_keep_the_log_bounded_and_lose_nothing() {
        let (_dir, p) = store_file();
        let wal = PathBuf::from(format!("{}-wal", p.display()));
        let mut s = Store::open(&p).unwrap();
        let hold = 300;
        s.checkpoint_aside_at(hold);
        let page: i64 = s.conn.query_row("PRAGMA page_size", [], |r| r.get(0)).unwrap();
        // 200 transactions of about 30 pages each: 6,000 pages through a log held to 300.
        let value = "x".repeat(1000);
        let mut largest = 0;
        for t in 0..200 {
            let tx = s.conn.transaction().unwrap();
            for i in 0..100 {
                let key = format!("k{t}-{i}");
                tx.execute("INSERT INTO meta(key, value) VALUES (?1, ?2)", params![key, value])
                    .unwrap();
            }
            tx.commit().unwrap();
            largest = largest.max(std::fs::metadata(&wal).unwrap().len());
        }
        // The log starts over once copied: never much more than `hold` pages and the last
        // transaction's.
        let bound = (i64::from(hold) + 100) * page;
        assert!(largest <= bound as u64, "log grew to {largest} bytes, past {bound}");
        drop(s);
        // The last connection closed copied the rest and removed the log.
        assert!(!wal.exists());
        let s = Store::open(&p).unwrap();
        let n: i64 = s
            .conn
            .query_row("SELECT count(*) FROM meta WHERE key LIKE 'k%'", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 20_000);
        let ok: String = s.conn.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
        assert_eq!(ok, "ok");
    }

    #[test]
    fn opens_and_migrates_to_current_version() {
        let (_dir, p) = store_file();
        let s = Store::open(&p).unwrap();
        assert_eq!(s.schema_version().unwrap(), current_version());
        drop(s);
        // Re-opening an up-to-date store is a no-op.
        let s = Store::open(&p).unwrap();
        assert_eq!(s.schema_version().unwrap(), current_version());
        let mode: String = s.conn.query_row("PRAGMA journal_mode", [], |r| r.get(0)).unwrap();
        assert_eq!(mode, "wal");
        // Both FTS indexes merge 16 segments at a time (FTS5 keeps it in its config table).
        for table in ["item_fts_config", "item_keywords_fts_config"] {
            let sql = format!("SELECT v FROM {table} WHERE k = 'automerge'");
            let merge: i64 = s.conn.query_row(&sql, [], |r| r.get(0)).unwrap();
            assert_eq!(merge, 16, "{table}");
        }
    }

    #[test]
    fn migrates_an_older_store() {
        let (_dir, p) = store_file();
        {
            let c = Connection::open(&p).unwrap();
            // A version-0 store: an empty file with user_version 0.
            c.execute_batch("CREATE TABLE scratch(x); PRAGMA user_version = 0;").unwrap();
        }
        let s = Store::open(&p).unwrap();
        assert_eq!(s.schema_version().unwrap(), current_version());
        s.meta_set("k", "v").unwrap();
        assert_eq!(s.meta_get("k").unwrap().as_deref(), Some("v"));
    }

    #[test]
    fn refuses_a_newer_store() {
        let (_dir, p) = store_file();
        {
            let c = Connection::open(&p).unwrap();
            c.execute_batch("PRAGMA user_version = 999;").unwrap();
        }
        let e = Store::open(&p).err().unwrap().to_string();
        assert!(e.contains("999") && e.contains("newer"), "{e}");
        assert!(e.contains("s.db"), "{e}");
    }
}
