//! The keys one import has met, with where each was first met, kept in a temporary SQLite
//! file: a file of a million records never holds its keys in memory.

use rusqlite::{Connection, OptionalExtension, params};

/// Page cache of the temporary file (KiB): past it, pages live on disk.
const CACHE_KIB: u32 = 8 * 1024;
/// Keys written per transaction.
const PER_COMMIT: u32 = 50_000;

#[derive(Debug, thiserror::Error)]
#[error("keeping track of the keys read (a temporary file): {0}")]
pub struct SeenError(#[from] rusqlite::Error);

pub struct SeenKeys {
    conn: Connection,
    uncommitted: u32,
}

impl SeenKeys {
    /// An empty set in an anonymous temporary file (SQLite's temporary folder: SQLITE_TMPDIR,
    /// TMPDIR, /var/tmp, ...), removed when dropped.
    pub fn new() -> Result<Self, SeenError> {
        let conn = Connection::open("")?;
        // Nothing here outlives the process: no journal, no syncs.
        conn.execute_batch(&format!(
            "PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF; PRAGMA cache_size = -{CACHE_KIB};
             CREATE TABLE seen(key TEXT PRIMARY KEY, at TEXT NOT NULL) WITHOUT ROWID;"
        ))?;
        Ok(Self { conn, uncommitted: 0 })
    }

    /// None when `key` is new (it is remembered as first met `at`), else where it was
    /// first met.
    pub fn first(&mut self, key: &str, at: &str) -> Result<Option<String>, SeenError> {
        if self.uncommitted == 0 {
            self.conn.execute_batch("BEGIN")?;
        }
        let added = self
            .conn
            .prepare_cached("INSERT INTO seen(key, at) VALUES (?1, ?2) ON CONFLICT DO NOTHING")?
            .execute(params![key, at])?;
        self.uncommitted += 1;
        if self.uncommitted >= PER_COMMIT {
            self.conn.execute_batch("COMMIT")?;
            self.uncommitted = 0;
        }
        if added == 1 {
            return Ok(None);
        }
        let first = self
            .conn
            .prepare_cached("SELECT at FROM seen WHERE key = ?1")?
            .query_row([key], |r| r.get(0))
            .optional()?;
        Ok(Some(first.unwrap_or_default()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_met_again_answers_where_it_was_first_met() {
        let mut seen = SeenKeys::new().unwrap();
        assert_eq!(seen.first("d:1", ":1").unwrap(), None);
        assert_eq!(seen.first("d:2", ":2").unwrap(), None);
        assert_eq!(seen.first("d:1", ":3").unwrap().as_deref(), Some(":1"));
        assert_eq!(seen.first("d:1", ":4").unwrap().as_deref(), Some(":1"), "the first stays");
    }

    #[test]
    fn keys_across_commits_are_all_remembered() {
        let mut seen = SeenKeys::new().unwrap();
        let n = PER_COMMIT as usize + 10;
        for i in 0..n {
            assert_eq!(seen.first(&format!("d:{i}"), &format!(":{i}")).unwrap(), None);
        }
        for i in [0, PER_COMMIT as usize - 1, PER_COMMIT as usize, n - 1] {
            let first = seen.first(&format!("d:{i}"), ":again").unwrap();
            assert_eq!(first, Some(format!(":{i}")), "{i}");
        }
    }
}
