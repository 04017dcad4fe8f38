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
}
