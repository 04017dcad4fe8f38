//! Queries of the suggestion runner: the daily token budget, the answer cache, and run lookups.

use std::collections::HashSet;

use rusqlite::{OptionalExtension, params};

use super::{Result, Store};

/// A provider answer kept for reuse: the parsed answer as JSON text plus what it cost.
#[derive(Debug, Clone, PartialEq)]
pub struct CachedAnswer {
    pub answer: String,
    pub tokens_in: i64,
    pub tokens_out: i64,
}

impl Store {
    /// Tokens spent on `day` (YYYY-MM-DD, UTC) by every run.
    pub fn budget_used(&self, day: &str) -> Result<u64> {
        let used: Option<i64> = self
            .conn
            .query_row("SELECT tokens FROM token_budget WHERE day = ?1", [day], |r| r.get(0))
            .optional()
            .map_err(|e| self.err(e))?;
        Ok(used.unwrap_or(0).max(0) as u64)
    }

    /// Add tokens to `day`'s total and return the new total.
    pub fn budget_add(&self, day: &str, tokens: u64) -> Result<u64> {
        let tokens = i64::try_from(tokens).unwrap_or(i64::MAX);
        self.conn
            .execute(
                "INSERT INTO token_budget(day, tokens) VALUES (?1, ?2)
                 ON CONFLICT(day) DO UPDATE SET tokens = tokens + excluded.tokens",
                params![day, tokens],
            )
            .map_err(|e| self.err(e))?;
        self.budget_used(day)
    }

    /// Reserve `tokens` of `day`'s budget for one request, unless the day's spending plus every
    /// live reservation (of any process) would pass `limit` (0: no limit). Reservations made
    /// before `stale_before` belong to requests that cannot still be running (a killed
    /// process) and are dropped. Returns the reservation's id.
    pub fn budget_reserve(
        &mut self,
        day: &str,
        tokens: u64,
        limit: u64,
        owner: &str,
        now: &str,
        stale_before: &str,
    ) -> Result<Option<i64>> {
        let path = self.path.clone();
        let e = |e| super::sql_err(&path, e);
        // IMMEDIATE: the check and the insert are one step for every process.
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(e)?;
        tx.execute("DELETE FROM budget_reservations WHERE created_at < ?1", [stale_before])
            .map_err(e)?;
        let (spent, held): (i64, i64) = tx
            .query_row(
                "SELECT (SELECT coalesce(sum(tokens), 0) FROM token_budget WHERE day = ?1),
                        (SELECT coalesce(sum(tokens), 0) FROM budget_reservations WHERE day = ?1)",
                [day],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .map_err(e)?;
        let want = i64::try_from(tokens).unwrap_or(i64::MAX);
        if limit > 0 && spent.max(0) as u64 + held.max(0) as u64 + tokens > limit {
            return Ok(None);
        }
        tx.execute(
            "INSERT INTO budget_reservations(day, tokens, owner, created_at) VALUES (?1, ?2, ?3, ?4)",
            params![day, want, owner, now],
        )
        .map_err(e)?;
        let id = tx.last_insert_rowid();
        tx.commit().map_err(e)?;
        Ok(Some(id))
    }

    /// Record what requests really spent on `day` and drop their reservations, in one step;
    /// returns the day's new total.
    pub fn budget_settle(&mut self, day: &str, tokens: u64, reservations: &[i64]) -> Result<u64> {
        let path = self.path.clone();
        let e = |e| super::sql_err(&path, e);
        let tx = self.conn.transaction().map_err(e)?;
        for id in reservations {
            tx.execute("DELETE FROM budget_reservations WHERE id = ?1", [id]).map_err(e)?;
        }
        if tokens > 0 {
            tx.execute(
                "INSERT INTO token_budget(day, tokens) VALUES (?1, ?2)
                 ON CONFLICT(day) DO UPDATE SET tokens = tokens + excluded.tokens",
                params![day, i64::try_from(tokens).unwrap_or(i64::MAX)],
            )
            .map_err(e)?;
        }
        tx.commit().map_err(e)?;
        self.budget_used(day)
    }

    /// Drop every reservation `owner` still holds (its run has ended).
    pub fn budget_release(&self, owner: &str) -> Result<()> {
        self.conn
            .execute("DELETE FROM budget_reservations WHERE owner = ?1", [owner])
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// The cached answer for an item's content under a prompt and model.
    pub fn cache_get(
        &self,
        content_hash: &str,
        prompt_hash: &str,
        model: &str,
    ) -> Result<Option<CachedAnswer>> {
        self.conn
            .query_row(
                "SELECT answer, tokens_in, tokens_out FROM suggest_cache
                 WHERE content_hash = ?1 AND prompt_hash = ?2 AND model = ?3",
                params![content_hash, prompt_hash, model],
                |r| {
                    Ok(CachedAnswer {
                        answer: r.get(0)?,
                        tokens_in: r.get(1)?,
                        tokens_out: r.get(2)?,
                    })
                },
            )
            .optional()
            .map_err(|e| self.err(e))
    }

    /// Remember an answer (replacing an older one under the same key).
    pub fn cache_put(
        &self,
        content_hash: &str,
        prompt_hash: &str,
        model: &str,
        answer: &CachedAnswer,
        now: &str,
    ) -> Result<()> {
        self.conn
            .execute(
                "INSERT OR REPLACE INTO suggest_cache(content_hash, prompt_hash, model, answer,
                    tokens_in, tokens_out, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    content_hash,
                    prompt_hash,
                    model,
                    answer.answer,
                    answer.tokens_in,
                    answer.tokens_out,
                    now
                ],
            )
            .map(|_| ())
            .map_err(|e| self.err(e))
    }

    /// Number of cached answers.
    pub fn cache_len(&self) -> Result<i64> {
        self.conn
            .query_row("SELECT count(*) FROM suggest_cache", [], |r| r.get(0))
            .map_err(|e| self.err(e))
    }

    /// Keys of the items a run already has a suggestion for (to resume it). With
    /// `own_only`, only those its own provider answered: a resume asks it again for the
    /// items a fallback answered while it was down.
    pub fn run_item_keys(&self, run_id: &str, own_only: bool) -> Result<HashSet<String>> {
        let sql = if own_only {
            "SELECT item_key FROM suggestions WHERE run_id = ?1 AND provider = ''"
        } else {
            "SELECT item_key FROM suggestions WHERE run_id = ?1"
        };
        let mut st = self.conn.prepare(sql).map_err(|e| self.err(e))?;
        let rows = st.query_map([run_id], |r| r.get(0)).map_err(|e| self.err(e))?;
        rows.collect::<std::result::Result<_, _>>().map_err(|e| self.err(e))
    }

    /// Number of suggestions per run id.
    pub fn suggestion_counts(&self) -> Result<std::collections::HashMap<String, i64>> {
        let mut st = self
            .conn
            .prepare("SELECT run_id, count(*) FROM suggestions GROUP BY run_id")
            .map_err(|e| self.err(e))?;
        let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).map_err(|e| self.err(e))?;
        rows.collect::<std::result::Result<_, _>>().map_err(|e| self.err(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_accumulates_per_day_and_cache_round_trips() {
        let s = Store::open_in_memory().unwrap();
        assert_eq!(s.budget_used("2026-11-22").unwrap(), 0);
        assert_eq!(s.budget_add("2026-11-22", 100).unwrap(), 100);
        assert_eq!(s.budget_add("2026-11-22", 50).unwrap(), 150);
        assert_eq!(s.budget_used("2026-11-23").unwrap(), 0);
        let a = CachedAnswer { answer: "{}".into(), tokens_in: 3, tokens_out: 4 };
        assert!(s.cache_get("c", "p", "m").unwrap().is_none());
        s.cache_put("c", "p", "m", &a, "now").unwrap();
        assert_eq!(s.cache_get("c", "p", "m").unwrap(), Some(a));
        assert!(s.cache_get("c", "p", "other").unwrap().is_none());
        assert_eq!(s.cache_len().unwrap(), 1);
    }

    #[test]
    fn budget_reservations_count_across_connections_until_settled() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.db");
        let mut a = Store::open(&path).unwrap();
        let mut b = Store::open(&path).unwrap();
        let (day, now, old) = ("2026-11-22", "2026-11-22T10:00:00Z", "2026-11-22T09:30:00Z");
        a.budget_add(day, 500).unwrap();
        let r1 = a.budget_reserve(day, 300, 1000, "a", now, old).unwrap().unwrap();
        // 500 spent + 300 held by the other process + 300 > 1000.
        assert_eq!(b.budget_reserve(day, 300, 1000, "b", now, old).unwrap(), None);
        assert!(b.budget_reserve(day, 200, 1000, "b", now, old).unwrap().is_some());
        // The answer cost 250: recorded, and the reservation gone.
        assert_eq!(a.budget_settle(day, 250, &[r1]).unwrap(), 750);
        assert_eq!(b.budget_reserve(day, 60, 1000, "b", now, old).unwrap(), None, "750 + 200 + 60");
        b.budget_release("b").unwrap();
        assert!(b.budget_reserve(day, 60, 1000, "b", now, old).unwrap().is_some());
        // A killed process's reservation expires.
        let later = "2026-11-22T11:00:00Z";
        assert!(
            a.budget_reserve(day, 240, 1000, "a", later, "2026-11-22T10:30:00Z").unwrap().is_some()
        );
        // Without a limit every reservation fits.
        assert!(a.budget_reserve(day, 1 << 40, 0, "a", later, old).unwrap().is_some());
    }
}
