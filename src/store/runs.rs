//! Suggestion runs and their per-item suggestions.

use rusqlite::{OptionalExtension, params};

use super::journal::RunEvent;
use super::{Result, Store, StoreError, sql_err};
use crate::model::{Item, LabelScore, Run, RunState, Suggestion};

/// A suggestion with the run facts a reviewer needs beside it.
#[derive(Debug, Clone, PartialEq)]
pub struct SuggestionRow {
    pub suggestion: Suggestion,
    pub provider: String,
    pub model: String,
    pub prompt_version: String,
}

impl SuggestionRow {
    /// Provider and model of the row are the run's unless a fallback answered the item.
    fn answered_by(mut self) -> Self {
        if !self.suggestion.provider.is_empty() {
            self.provider = self.suggestion.provider.clone();
            self.model = self.suggestion.model.clone();
        }
        self
    }
}

const RUN_COLUMNS: &str = "id, name, provider, model, prompt_version, prompt_hash, taxonomy,
    taxonomy_hash, config, dataset_fingerprint, started_at, finished_at, status, tokens_in,
    tokens_out, cost_usd, state, bundle";

fn run_from_row(r: &rusqlite::Row) -> rusqlite::Result<Run> {
    let config: String = r.get(8)?;
    let state: String = r.get(16)?;
    Ok(Run {
        id: r.get(0)?,
        name: r.get(1)?,
        provider: r.get(2)?,
        model: r.get(3)?,
        prompt_version: r.get(4)?,
        prompt_hash: r.get(5)?,
        taxonomy: r.get(6)?,
        taxonomy_hash: r.get(7)?,
        config: serde_json::from_str(&config).unwrap_or(serde_json::Value::Null),
        dataset_fingerprint: r.get(9)?,
        started_at: r.get(10)?,
        finished_at: r.get(11)?,
        status: r.get(12)?,
        tokens_in: r.get(13)?,
        tokens_out: r.get(14)?,
        cost_usd: r.get(15)?,
        state: match state.as_str() {
            "baseline" => RunState::Baseline,
            "archived" => RunState::Archived,
            _ => RunState::Experimental,
        },
        bundle: r.get(17)?,
    })
}

fn state_str(s: RunState) -> &'static str {
    match s {
        RunState::Baseline => "baseline",
        RunState::Experimental => "experimental",
        RunState::Archived => "archived",
    }
}

impl Store {
    /// Insert or replace a run's record (status, tokens and end time change as it goes).
    pub fn save_run(&self, run: &Run) -> Result<()> {
        // Journaled first: the workspace file never misses what the store has.
        self.journal_run(&run.id, &RunEvent::Run { run: Box::new(run.clone()) })?;
        self.conn
            .execute(
                "INSERT INTO runs(id, name, provider, model, prompt_version, prompt_hash, taxonomy,
                    taxonomy_hash, config, dataset_fingerprint, started_at, finished_at, status,
                    tokens_in, tokens_out, cost_usd, state, bundle)
                 VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16,?17,?18)
                 ON CONFLICT(id) DO UPDATE SET name=excluded.name, finished_at=excluded.finished_at,
                    dataset_fingerprint=excluded.dataset_fingerprint, config=excluded.config,
                    status=excluded.status, tokens_in=excluded.tokens_in,
                    tokens_out=excluded.tokens_out, cost_usd=excluded.cost_usd,
                    state=excluded.state",
                params![
                    run.id,
                    run.name,
                    run.provider,
                    run.model,
                    run.prompt_version,
                    run.prompt_hash,
                    run.taxonomy,
                    run.taxonomy_hash,
                    run.config.to_string(),
                    run.dataset_fingerprint,
                    run.started_at,
                    run.finished_at,
                    run.status,
                    run.tokens_in,
                    run.tokens_out,
                    run.cost_usd,
                    state_str(run.state),
                    run.bundle
                ],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Delete a run with its suggestions, and its journal file (a rebuild must not bring it
    /// back).
    pub fn delete_run(&mut self, id: &str) -> Result<()> {
        let path = self.path.clone();
        let tx = self.conn.transaction().map_err(|e| sql_err(&path, e))?;
        tx.execute("DELETE FROM suggestions WHERE run_id = ?1", [id])
            .map_err(|e| sql_err(&path, e))?;
        tx.execute("DELETE FROM runs WHERE id = ?1", [id]).map_err(|e| sql_err(&path, e))?;
        tx.commit().map_err(|e| sql_err(&path, e))?;
        if let Some(root) = &self.journal {
            let file = root.join(super::journal::RUNS_DIR).join(super::journal::file_name(id));
            match std::fs::remove_file(&file) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(StoreError::Io { path: file, source: e });
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// All runs, newest first.
    pub fn runs(&self) -> Result<Vec<Run>> {
        let sql = format!("SELECT {RUN_COLUMNS} FROM runs ORDER BY started_at DESC, id DESC");
        let mut st = self.conn.prepare(&sql).map_err(|e| self.err(e))?;
        let rows = st.query_map([], run_from_row).map_err(|e| self.err(e))?;
        rows.collect::<std::result::Result<_, _>>().map_err(|e| self.err(e))
    }

    /// A run by id or by name.
    pub fn run(&self, id_or_name: &str) -> Result<Option<Run>> {
        let sql = format!("SELECT {RUN_COLUMNS} FROM runs WHERE id = ?1 OR name = ?1 LIMIT 1");
        self.conn.query_row(&sql, [id_or_name], run_from_row).optional().map_err(|e| self.err(e))
    }

    /// Store items that exist only through a run (served texts), journaled with the run so a
    /// rebuild brings them back before its suggestions.
    pub fn save_run_items(&mut self, run_id: &str, items: &[Item], now: &str) -> Result<()> {
        if items.is_empty() {
            return Ok(());
        }
        self.journal_run(run_id, &RunEvent::Items { items: items.to_vec() })?;
        self.upsert_items(items, now).map(|_| ())
    }

    /// Store suggestions of a run in one transaction (replacing earlier ones for the same items).
    pub fn save_suggestions(&mut self, suggestions: &[Suggestion]) -> Result<()> {
        // Journaled first: the workspace file never misses what the store has.
        let mut by_run: std::collections::BTreeMap<&str, Vec<Suggestion>> = Default::default();
        for s in suggestions {
            by_run.entry(s.run.as_str()).or_default().push(s.clone());
        }
        for (run, suggestions) in by_run {
            self.journal_run(run, &RunEvent::Suggestions { suggestions })?;
        }
        let path = self.path.clone();
        let tx = self.conn.transaction().map_err(|e| sql_err(&path, e))?;
        {
            let mut st = tx
                .prepare_cached(
                    "INSERT OR REPLACE INTO suggestions(run_id, item_key, labels, rationale,
                        abstained, raw_labels, dropped, created_at, provider, model, violations,
                        summary, keywords)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
                )
                .map_err(|e| sql_err(&path, e))?;
            for s in suggestions {
                st.execute(params![
                    s.run,
                    s.item,
                    to_json(&s.labels),
                    s.rationale,
                    s.abstained,
                    to_json(&s.raw_labels),
                    to_json(&s.dropped),
                    s.created_at,
                    s.provider,
                    s.model,
                    to_json(&s.violations),
                    s.summary,
                    to_json(&s.keywords)
                ])
                .map_err(|e| sql_err(&path, e))?;
            }
        }
        tx.commit().map_err(|e| sql_err(&path, e))
    }

    /// The newest suggestion for an item (from any run that is not archived).
    pub fn latest_suggestion(&self, key: &str) -> Result<Option<SuggestionRow>> {
        self.conn
            .query_row(
                "SELECT s.run_id, s.item_key, s.labels, s.rationale, s.abstained, s.raw_labels,
                        s.dropped, s.created_at, r.provider, r.model, r.prompt_version,
                        s.provider, s.model, s.violations, s.summary, s.keywords
                 FROM suggestions s JOIN runs r ON r.id = s.run_id
                 WHERE s.item_key = ?1 AND r.state != 'archived'
                 ORDER BY s.created_at DESC, r.started_at DESC, r.rowid DESC LIMIT 1",
                [key],
                suggestion_row,
            )
            .optional()
            .map_err(|e| self.err(e))
    }

    /// Every suggestion of a run.
    pub fn run_suggestions(&self, run_id: &str) -> Result<Vec<Suggestion>> {
        let mut st = self
            .conn
            .prepare(
                "SELECT s.run_id, s.item_key, s.labels, s.rationale, s.abstained, s.raw_labels,
                        s.dropped, s.created_at, r.provider, r.model, r.prompt_version,
                        s.provider, s.model, s.violations, s.summary, s.keywords
                 FROM suggestions s JOIN runs r ON r.id = s.run_id
                 WHERE s.run_id = ?1 ORDER BY s.item_key",
            )
            .map_err(|e| self.err(e))?;
        let rows = st.query_map([run_id], suggestion_row).map_err(|e| self.err(e))?;
        let rows: Vec<SuggestionRow> =
            rows.collect::<std::result::Result<_, _>>().map_err(|e| self.err(e))?;
        Ok(rows.into_iter().map(|r| r.suggestion).collect())
    }

    /// Keys of items that have at least one suggestion from a live run.
    pub fn suggested_keys(&self) -> Result<std::collections::HashSet<String>> {
        let mut st = self
            .conn
            .prepare(
                "SELECT DISTINCT s.item_key FROM suggestions s JOIN runs r ON r.id = s.run_id
                 WHERE r.state != 'archived'",
            )
            .map_err(|e| self.err(e))?;
        let rows = st.query_map([], |r| r.get(0)).map_err(|e| self.err(e))?;
        rows.collect::<std::result::Result<_, _>>().map_err(|e| self.err(e))
    }

    /// The latest live suggestion's labels for every item, in one pass (for the review queue),
    /// and whether it breaks a consistency rule.
    pub fn latest_suggested_labels(
        &self,
    ) -> Result<std::collections::HashMap<String, (Vec<LabelScore>, bool)>> {
        // A sequential scan keeping the newest row per item: looking each item up through the
        // (item_key, created_at) index costs a table probe per item, several times slower.
        let mut st = self
            .conn
            .prepare(
                "SELECT s.item_key, s.labels, s.created_at, s.violations != '[]',
                        r.started_at, r.rowid
                 FROM suggestions s JOIN runs r ON r.id = s.run_id
                 WHERE r.state != 'archived'",
            )
            .map_err(|e| self.err(e))?;
        let mut rows = st.query([]).map_err(|e| self.err(e))?;
        // Newest by (made, run started, run recorded), the order `latest_suggestion` uses.
        type Newest = ((String, String, i64), String, bool);
        let mut newest: std::collections::HashMap<String, Newest> = Default::default();
        while let Some(r) = rows.next().map_err(|e| self.err(e))? {
            let key: String = r.get(0).map_err(|e| self.err(e))?;
            let at = (
                r.get::<_, String>(2).map_err(|e| self.err(e))?,
                r.get::<_, String>(4).map_err(|e| self.err(e))?,
                r.get::<_, i64>(5).map_err(|e| self.err(e))?,
            );
            if newest.get(&key).is_some_and(|(seen, _, _)| *seen >= at) {
                continue;
            }
            let labels = r.get(1).map_err(|e| self.err(e))?;
            let broken = r.get(3).map_err(|e| self.err(e))?;
            newest.insert(key, (at, labels, broken));
        }
        Ok(newest
            .into_iter()
            .map(|(k, (_, labels, broken))| {
                (k, (serde_json::from_str(&labels).unwrap_or_default(), broken))
            })
            .collect())
    }

    /// Number of runs and of suggestions.
    pub fn run_counts(&self) -> Result<(i64, i64)> {
        let count = |what: &str| {
            self.conn.query_row(
                "SELECT coalesce(sum(n), 0) FROM counts WHERE what = ?1",
                [what],
                |r| r.get(0),
            )
        };
        let (runs, sugg) = (count("runs"), count("suggestions"));
        Ok((runs.map_err(|e| self.err(e))?, sugg.map_err(|e| self.err(e))?))
    }
}

fn to_json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "[]".into())
}

fn suggestion_row(r: &rusqlite::Row) -> rusqlite::Result<SuggestionRow> {
    let parse = |i: usize| -> rusqlite::Result<Vec<LabelScore>> {
        let s: String = r.get(i)?;
        Ok(serde_json::from_str(&s).unwrap_or_default())
    };
    let dropped: String = r.get(6)?;
    let row = SuggestionRow {
        suggestion: Suggestion {
            run: r.get(0)?,
            item: r.get(1)?,
            labels: parse(2)?,
            rationale: r.get(3)?,
            abstained: r.get(4)?,
            raw_labels: parse(5)?,
            dropped: serde_json::from_str(&dropped).unwrap_or_default(),
            created_at: r.get(7)?,
            provider: r.get(11)?,
            model: r.get(12)?,
            violations: serde_json::from_str(&r.get::<_, String>(13)?).unwrap_or_default(),
            summary: r.get(14)?,
            keywords: serde_json::from_str(&r.get::<_, String>(15)?).unwrap_or_default(),
        },
        provider: r.get(8)?,
        model: r.get(9)?,
        prompt_version: r.get(10)?,
    };
    Ok(row.answered_by())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_and_suggestions_round_trip() {
        let mut s = Store::open_in_memory().unwrap();
        let run = Run {
            id: "r-1".into(),
            name: Some("first".into()),
            provider: "keywords".into(),
            model: "aliases".into(),
            started_at: "2026-11-20T00:00:00Z".into(),
            status: "done".into(),
            ..Default::default()
        };
        s.save_run(&run).unwrap();
        let sugg = Suggestion {
            item: "d:1".into(),
            run: "r-1".into(),
            labels: vec![LabelScore { name: "bug".into(), confidence: Some(0.8) }],
            rationale: "crash".into(),
            created_at: "2026-11-20T00:00:01Z".into(),
            ..Default::default()
        };
        s.save_suggestions(std::slice::from_ref(&sugg)).unwrap();
        assert_eq!(s.run("first").unwrap().unwrap().id, "r-1");
        let got = s.latest_suggestion("d:1").unwrap().unwrap();
        assert_eq!(got.suggestion, sugg);
        assert_eq!(got.provider, "keywords");
        assert_eq!(s.run_suggestions("r-1").unwrap().len(), 1);
        assert_eq!(s.run_counts().unwrap(), (1, 1));
    }
}
