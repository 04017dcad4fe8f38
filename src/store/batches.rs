//! Provider batches of suggestion runs: the items each holds (by custom id) and its status,
//! so a run's batches can be polled, collected or cancelled from any process.

use rusqlite::{OptionalExtension, params};
use serde::{Deserialize, Serialize};

use super::journal::RunEvent;
use super::{Result, Store};

/// One provider batch of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunBatch {
    pub run_id: String,
    pub batch_id: String,
    pub provider: String,
    /// `submitted` until its results are collected (`collected`); `canceling` once asked to
    /// stop.
    pub status: String,
    /// Every request in it.
    pub items: Vec<BatchItem>,
    /// The provider's last counts (processing, succeeded, errored, ...).
    pub counts: serde_json::Value,
    pub created_at: String,
    pub updated_at: String,
}

/// One request of a batch: its custom id, the item, and what its answer is cached under.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BatchItem {
    pub custom_id: String,
    pub key: String,
    pub content_hash: String,
    pub prompt_hash: String,
}

impl RunBatch {
    /// Results not collected yet.
    pub fn open(&self) -> bool {
        self.status != "collected"
    }
}

impl Store {
    /// Record a batch the provider accepted (or its new status and counts); journaled with
    /// its run.
    pub fn save_batch(&self, b: &RunBatch) -> Result<()> {
        self.journal_run(&b.run_id, &RunEvent::Batch { batch: Box::new(b.clone()) })?;
        let items = serde_json::to_string(&b.items).unwrap_or_default();
        self.conn
            .execute(
                "INSERT INTO run_batches(run_id, batch_id, provider, status, items, counts,
                    created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
                 ON CONFLICT(run_id, batch_id) DO UPDATE SET status = excluded.status,
                    counts = excluded.counts, updated_at = excluded.updated_at",
                params![
                    b.run_id,
                    b.batch_id,
                    b.provider,
                    b.status,
                    items,
                    b.counts.to_string(),
                    b.created_at,
                    b.updated_at
                ],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// The provider's latest counts of a batch (its status is left as it is: another process
    /// may have changed it).
    pub fn batch_counts(
        &self,
        run_id: &str,
        batch_id: &str,
        counts: &serde_json::Value,
        now: &str,
    ) -> Result<()> {
        self.conn
            .execute(
                "UPDATE run_batches SET counts = ?3, updated_at = ?4 WHERE run_id = ?1 AND batch_id = ?2",
                params![run_id, batch_id, counts.to_string(), now],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Move a batch to `status` only from one of `from`; true when it moved (a collected
    /// batch is never reopened by a late cancel).
    pub fn batch_status(
        &self,
        run_id: &str,
        batch_id: &str,
        status: &str,
        from: &[&str],
        now: &str,
    ) -> Result<bool> {
        let from = serde_json::to_string(from).unwrap_or_default();
        let n = self
            .conn
            .execute(
                "UPDATE run_batches SET status = ?3, updated_at = ?4
                 WHERE run_id = ?1 AND batch_id = ?2
                   AND status IN (SELECT value FROM json_each(?5))",
                params![run_id, batch_id, status, now, from],
            )
            .map_err(|e| self.err(e))?;
        if n > 0
            && let Some(b) = self.run_batch(run_id, batch_id)?
        {
            self.journal_run(run_id, &RunEvent::Batch { batch: Box::new(b) })?;
        }
        Ok(n > 0)
    }

    /// A run's batches, oldest first.
    pub fn run_batches(&self, run_id: &str) -> Result<Vec<RunBatch>> {
        let mut st = self
            .conn
            .prepare(
                "SELECT run_id, batch_id, provider, status, items, counts, created_at, updated_at
                 FROM run_batches WHERE run_id = ?1 ORDER BY created_at, batch_id",
            )
            .map_err(|e| self.err(e))?;
        let rows = st
            .query_map([run_id], |r| {
                let items: String = r.get(4)?;
                let counts: String = r.get(5)?;
                Ok(RunBatch {
                    run_id: r.get(0)?,
                    batch_id: r.get(1)?,
                    provider: r.get(2)?,
                    status: r.get(3)?,
                    items: serde_json::from_str(&items).unwrap_or_default(),
                    counts: serde_json::from_str(&counts).unwrap_or_default(),
                    created_at: r.get(6)?,
                    updated_at: r.get(7)?,
                })
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<std::result::Result<_, _>>().map_err(|e| self.err(e))
    }

    /// One batch of a run.
    pub fn run_batch(&self, run_id: &str, batch_id: &str) -> Result<Option<RunBatch>> {
        Ok(self.run_batches(run_id)?.into_iter().find(|b| b.batch_id == batch_id))
    }

    /// Whether any batch of the run is still open (a quick check for `runs list`).
    pub fn run_has_open_batches(&self, run_id: &str) -> Result<bool> {
        self.conn
            .query_row(
                "SELECT 1 FROM run_batches WHERE run_id = ?1 AND status != 'collected' LIMIT 1",
                [run_id],
                |_| Ok(()),
            )
            .optional()
            .map(|o| o.is_some())
            .map_err(|e| self.err(e))
    }
}
