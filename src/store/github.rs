//! GitHub sync state: HTTP cache (ETags), pull high-water marks, comment-command flags, the push
//! journal (pushes, push_ops) and the labels sift itself added (pushed_labels).

use rusqlite::{OptionalExtension, params};
use serde::Serialize;

use super::journal::PushEvent;
use super::{Result, Store};

/// A GitHub issue as the push planner sees it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IssueRow {
    pub key: String,
    pub dataset: String,
    pub number: i64,
    /// Labels the issue carried at the last pull.
    pub source_labels: Vec<String>,
    pub sift_off: bool,
}

/// One push (or revert) as journaled.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PushRow {
    pub id: String,
    pub repo: String,
    pub mode: String,
    pub started_at: String,
    pub finished_at: Option<String>,
    pub status: String,
    pub plan: String,
}

/// One journaled mutation. `state` moves pending -> sent -> done (or failed).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PushOpRow {
    pub push_id: String,
    pub seq: i64,
    pub item_key: String,
    pub op: String,
    pub payload: String,
    pub state: String,
    pub response: Option<String>,
}

/// A label sift added to an issue and has not removed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PushedLabel {
    pub number: i64,
    pub label: String,
    pub push_id: String,
}

/// A human overriding sift on GitHub.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct LabelOverride {
    pub repo: String,
    pub number: i64,
    pub label: String,
    /// `removed`: a label sift applied, taken off by a human; `added`: a label a human put on
    /// an issue sift labeled.
    pub kind: String,
    /// When sift applied its label to the issue.
    pub applied_at: String,
    pub seen_at: String,
}

/// A label sift applied and has not taken back, with when.
#[derive(Debug, Clone, PartialEq)]
pub struct AppliedLabel {
    pub number: i64,
    pub label: String,
    pub push_id: String,
    pub added_at: String,
}

fn op_row(r: &rusqlite::Row) -> rusqlite::Result<PushOpRow> {
    Ok(PushOpRow {
        push_id: r.get(0)?,
        seq: r.get(1)?,
        item_key: r.get(2)?,
        op: r.get(3)?,
        payload: r.get(4)?,
        state: r.get(5)?,
        response: r.get(6)?,
    })
}

fn push_row(r: &rusqlite::Row) -> rusqlite::Result<PushRow> {
    Ok(PushRow {
        id: r.get(0)?,
        repo: r.get(1)?,
        mode: r.get(2)?,
        started_at: r.get(3)?,
        finished_at: r.get(4)?,
        status: r.get(5)?,
        plan: r.get(6)?,
    })
}

const PUSH_COLUMNS: &str = "id, repo, mode, started_at, finished_at, status, plan";
const OP_COLUMNS: &str = "push_id, seq, item_key, op, payload, state, response";

impl Store {
    /// The cached ETag and stored body of a URL.
    pub fn http_cache_get(&self, url: &str) -> Result<Option<(Option<String>, Vec<u8>)>> {
        self.conn
            .query_row("SELECT etag, body FROM http_cache WHERE url = ?1", [url], |r| {
                Ok((r.get(0)?, r.get::<_, Option<Vec<u8>>>(1)?.unwrap_or_default()))
            })
            .optional()
            .map_err(|e| self.err(e))
    }

    pub fn http_cache_put(
        &self,
        url: &str,
        etag: Option<&str>,
        body: &[u8],
        now: &str,
    ) -> Result<()> {
        self.conn
            .execute(
                "INSERT INTO http_cache(url, etag, body, fetched_at) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT(url) DO UPDATE SET etag = excluded.etag, body = excluded.body,
                   fetched_at = excluded.fetched_at",
                params![url, etag, body, now],
            )
            .map(|_| ())
            .map_err(|e| self.err(e))
    }

    pub fn sync_get(&self, scope: &str) -> Result<Option<String>> {
        self.conn
            .query_row("SELECT value FROM sync_state WHERE scope = ?1", [scope], |r| r.get(0))
            .optional()
            .map_err(|e| self.err(e))
    }

    /// Set a sync value; writes nothing when it is unchanged.
    pub fn sync_set(&self, scope: &str, value: &str, now: &str) -> Result<()> {
        self.conn
            .execute(
                "INSERT INTO sync_state(scope, value, updated_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT(scope) DO UPDATE SET value = excluded.value,
                   updated_at = excluded.updated_at
                 WHERE sync_state.value != excluded.value",
                params![scope, value, now],
            )
            .map(|_| ())
            .map_err(|e| self.err(e))
    }

    /// Record the comment-command state of an issue (`/label off`, `/label auto`).
    pub fn set_issue_flags(&self, key: &str, sift_off: bool, wants_suggest: bool) -> Result<()> {
        self.conn
            .execute(
                "UPDATE items SET sift_off = ?2, wants_suggest = ?3
                 WHERE key = ?1 AND (sift_off != ?2 OR wants_suggest != ?3)",
                params![key, sift_off, wants_suggest],
            )
            .map(|_| ())
            .map_err(|e| self.err(e))
    }

    /// (sift_off, wants_suggest) of an item.
    pub fn issue_flags(&self, key: &str) -> Result<Option<(bool, bool)>> {
        self.conn
            .query_row("SELECT sift_off, wants_suggest FROM items WHERE key = ?1", [key], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()
            .map_err(|e| self.err(e))
    }

    /// Every pulled issue of a repository, by number.
    pub fn repo_issues(&self, repo: &str) -> Result<Vec<IssueRow>> {
        let mut st = self
            .conn
            .prepare(
                "SELECT key, dataset, number, source_labels, sift_off FROM items
                 WHERE repo = ?1 AND number IS NOT NULL ORDER BY number",
            )
            .map_err(|e| self.err(e))?;
        let rows = st
            .query_map([repo], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, i64>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, bool>(4)?,
                ))
            })
            .map_err(|e| self.err(e))?;
        let mut out = Vec::new();
        for row in rows {
            let (key, dataset, number, labels, sift_off) = row.map_err(|e| self.err(e))?;
            let source_labels = serde_json::from_str(&labels).map_err(|e| self.corrupt(&key, e))?;
            out.push(IssueRow { key, dataset, number, source_labels, sift_off });
        }
        Ok(out)
    }

    /// What GitHub says an issue's labels are now (read by a push before it adds any), so
    /// the next plan knows what a human added since the last pull.
    pub fn set_source_labels(&self, key: &str, labels: &[String]) -> Result<()> {
        let json = serde_json::to_string(labels).unwrap_or_else(|_| "[]".into());
        self.conn
            .execute("UPDATE items SET source_labels = ?2 WHERE key = ?1", params![key, json])
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    pub fn create_push(
        &self,
        id: &str,
        repo: &str,
        mode: &str,
        plan: &str,
        now: &str,
    ) -> Result<()> {
        // Journaled first: the workspace file never misses what the store has.
        {
            let (repo, mode, plan, at) = (repo.into(), mode.into(), plan.into(), now.into());
            self.journal_push(id, &PushEvent::Create { repo, mode, plan, at })?;
        }
        self.conn
            .execute(
                "INSERT INTO pushes(id, repo, mode, started_at, status, plan)
                 VALUES (?1, ?2, ?3, ?4, 'running', ?5)",
                params![id, repo, mode, now, plan],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    pub fn finish_push(&self, id: &str, status: &str, now: &str) -> Result<()> {
        // Journaled first: the workspace file never misses what the store has.
        self.journal_push(id, &PushEvent::Finish { status: status.into(), at: now.into() })?;
        self.conn
            .execute(
                // A push dropped by hand (maybe from another process) stays abandoned.
                "UPDATE pushes SET status = ?2, finished_at = ?3
                 WHERE id = ?1 AND status != 'abandoned'",
                params![id, status, now],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Every push id (for the rebuild's check that each has a journal).
    pub fn push_ids(&self) -> Result<Vec<String>> {
        let mut st =
            self.conn.prepare("SELECT id FROM pushes ORDER BY id").map_err(|e| self.err(e))?;
        let rows = st.query_map([], |r| r.get(0)).map_err(|e| self.err(e))?;
        rows.collect::<std::result::Result<_, _>>().map_err(|e| self.err(e))
    }

    pub fn push_record(&self, id: &str) -> Result<Option<PushRow>> {
        self.conn
            .query_row(&format!("SELECT {PUSH_COLUMNS} FROM pushes WHERE id = ?1"), [id], push_row)
            .optional()
            .map_err(|e| self.err(e))
    }

    /// Pushes of a repository that did not finish (crash, Ctrl-C, error), oldest first: status
    /// running. (done: finished; stopped: the token was refused; abandoned: dropped by hand.)
    pub fn unfinished_pushes(&self, repo: &str) -> Result<Vec<PushRow>> {
        let mut st = self
            .conn
            .prepare(&format!(
                "SELECT {PUSH_COLUMNS} FROM pushes WHERE repo = ?1 AND status = 'running'
                 ORDER BY started_at, id"
            ))
            .map_err(|e| self.err(e))?;
        let rows = st.query_map([repo], push_row).map_err(|e| self.err(e))?;
        rows.collect::<std::result::Result<_, _>>().map_err(|e| self.err(e))
    }

    /// Drop an unfinished push: its pending and sent ops become 'abandoned' and the push is
    /// closed, in one transaction.
    pub fn abandon_push(&mut self, id: &str, now: &str) -> Result<()> {
        let path = self.path.clone();
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(|e| super::sql_err(&path, e))?;
        // Only an unfinished push: one that finished meanwhile keeps its record.
        let running: bool = tx
            .query_row("SELECT status = 'running' FROM pushes WHERE id = ?1", [id], |r| r.get(0))
            .optional()
            .map_err(|e| super::sql_err(&path, e))?
            .unwrap_or(false);
        if !running {
            return Ok(());
        }
        tx.execute(
            "UPDATE push_ops SET state = 'abandoned', done_at = ?2
             WHERE push_id = ?1 AND state IN ('pending', 'sent')",
            params![id, now],
        )
        .map_err(|e| super::sql_err(&path, e))?;
        tx.execute(
            "UPDATE pushes SET status = 'abandoned', finished_at = ?2 WHERE id = ?1",
            params![id, now],
        )
        .map_err(|e| super::sql_err(&path, e))?;
        tx.commit().map_err(|e| super::sql_err(&path, e))?;
        self.journal_push(id, &PushEvent::Abandon { at: now.into() })
    }

    /// Journal the operations of a push (state pending) in one transaction.
    pub fn add_push_ops(&mut self, push_id: &str, ops: &[(String, String, String)]) -> Result<()> {
        let path = self.path.clone();
        let tx = self.conn.transaction().map_err(|e| super::sql_err(&path, e))?;
        {
            let mut st = tx
                .prepare(
                    "INSERT INTO push_ops(push_id, seq, item_key, op, payload, state)
                     VALUES (?1, ?2, ?3, ?4, ?5, 'pending')",
                )
                .map_err(|e| super::sql_err(&path, e))?;
            for (i, (key, op, payload)) in ops.iter().enumerate() {
                st.execute(params![push_id, i as i64, key, op, payload])
                    .map_err(|e| super::sql_err(&path, e))?;
            }
        }
        tx.commit().map_err(|e| super::sql_err(&path, e))?;
        self.journal_push(push_id, &PushEvent::Ops { ops: ops.to_vec() })
    }

    pub fn push_ops(&self, push_id: &str) -> Result<Vec<PushOpRow>> {
        let mut st = self
            .conn
            .prepare(&format!("SELECT {OP_COLUMNS} FROM push_ops WHERE push_id = ?1 ORDER BY seq"))
            .map_err(|e| self.err(e))?;
        let rows = st.query_map([push_id], op_row).map_err(|e| self.err(e))?;
        rows.collect::<std::result::Result<_, _>>().map_err(|e| self.err(e))
    }

    /// Move an op to a new state ('sent' before the request, 'done'/'failed' after it). A
    /// response given with 'sent' records what is being sent, for a resume to check.
    pub fn set_op_state(
        &self,
        push_id: &str,
        seq: i64,
        state: &str,
        response: Option<&str>,
        now: &str,
    ) -> Result<()> {
        let sql = match state {
            "sent" => {
                "UPDATE push_ops SET state = ?3, response = coalesce(?4, response), sent_at = ?5
                 WHERE push_id = ?1 AND seq = ?2"
            }
            _ => {
                "UPDATE push_ops SET state = ?3, response = coalesce(?4, response), done_at = ?5
                 WHERE push_id = ?1 AND seq = ?2"
            }
        };
        // Journaled first: the workspace file never misses what the store has.
        {
            let (state, response, at) = (state.into(), response.map(str::to_string), now.into());
            self.journal_push(push_id, &PushEvent::OpState { seq, state, response, at })?;
        }
        self.conn
            .execute(sql, params![push_id, seq, state, response, now])
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// The latest finished comment operation per issue of a repo: (item key, op payload, response).
    pub fn done_comment_ops(&self, repo: &str) -> Result<Vec<(String, String, Option<String>)>> {
        let mut st = self
            .conn
            .prepare(
                "SELECT o.item_key, o.payload, o.response FROM push_ops o
                 JOIN pushes p ON p.id = o.push_id
                 WHERE p.repo = ?1 AND o.op IN ('comment', 'update_comment') AND o.state = 'done'
                 ORDER BY coalesce(o.done_at, ''), p.started_at, o.seq",
            )
            .map_err(|e| self.err(e))?;
        let rows = st
            .query_map([repo], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .map_err(|e| self.err(e))?;
        rows.collect::<std::result::Result<_, _>>().map_err(|e| self.err(e))
    }

    pub fn record_pushed_label(
        &self,
        repo: &str,
        number: i64,
        label: &str,
        push_id: &str,
        now: &str,
    ) -> Result<()> {
        // Journaled first: the workspace file never misses what the store has.
        {
            let (repo, label, at) = (repo.into(), label.into(), now.into());
            self.journal_push(push_id, &PushEvent::PushedLabel { repo, number, label, at })?;
        }
        self.conn
            .execute(
                "INSERT OR IGNORE INTO pushed_labels(repo, number, label, push_id, added_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![repo, number, label, push_id, now],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    pub fn mark_label_removed(
        &self,
        repo: &str,
        number: i64,
        label: &str,
        push_id: &str,
        now: &str,
    ) -> Result<()> {
        // Journaled first: the workspace file never misses what the store has.
        {
            let (repo, label, at) = (repo.into(), label.into(), now.into());
            self.journal_push(push_id, &PushEvent::LabelRemoved { repo, number, label, at })?;
        }
        self.conn
            .execute(
                "UPDATE pushed_labels SET removed_at = ?5
                 WHERE repo = ?1 AND number = ?2 AND label = ?3 AND push_id = ?4",
                params![repo, number, label, push_id, now],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Record an override once (journaled with the push that applied the label); true when new.
    pub fn record_override(&self, push_id: &str, o: &LabelOverride) -> Result<bool> {
        let exists: bool = self
            .conn
            .query_row(
                "SELECT EXISTS(SELECT 1 FROM label_overrides
                 WHERE repo = ?1 AND number = ?2 AND label = ?3 AND kind = ?4)",
                params![o.repo, o.number, o.label, o.kind],
                |r| r.get(0),
            )
            .map_err(|e| self.err(e))?;
        if exists {
            return Ok(false);
        }
        self.journal_push(
            push_id,
            &PushEvent::Override {
                repo: o.repo.clone(),
                number: o.number,
                label: o.label.clone(),
                kind: o.kind.clone(),
                applied_at: o.applied_at.clone(),
                at: o.seen_at.clone(),
            },
        )?;
        self.conn
            .execute(
                "INSERT OR IGNORE INTO label_overrides(repo, number, label, kind, applied_at, seen_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![o.repo, o.number, o.label, o.kind, o.applied_at, o.seen_at],
            )
            .map_err(|e| self.err(e))?;
        Ok(true)
    }

    /// Overrides of labels sift applied between `from` and `to` (RFC 3339 text).
    pub fn overrides_between(&self, from: &str, to: &str) -> Result<Vec<LabelOverride>> {
        let mut st = self
            .conn
            .prepare(
                "SELECT repo, number, label, kind, applied_at, seen_at FROM label_overrides
                 WHERE applied_at >= ?1 AND applied_at < ?2 ORDER BY applied_at, repo, number",
            )
            .map_err(|e| self.err(e))?;
        let rows = st
            .query_map(params![from, to], |r| {
                Ok(LabelOverride {
                    repo: r.get(0)?,
                    number: r.get(1)?,
                    label: r.get(2)?,
                    kind: r.get(3)?,
                    applied_at: r.get(4)?,
                    seen_at: r.get(5)?,
                })
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<std::result::Result<_, _>>().map_err(|e| self.err(e))
    }

    /// Labels sift applied to a repo's issues and has not taken back, with when.
    pub fn applied_labels(&self, repo: &str) -> Result<Vec<AppliedLabel>> {
        let mut st = self
            .conn
            .prepare(
                "SELECT number, label, push_id, added_at FROM pushed_labels
                 WHERE repo = ?1 AND removed_at IS NULL ORDER BY number, added_at",
            )
            .map_err(|e| self.err(e))?;
        let rows = st
            .query_map([repo], |r| {
                Ok(AppliedLabel {
                    number: r.get(0)?,
                    label: r.get(1)?,
                    push_id: r.get(2)?,
                    added_at: r.get(3)?,
                })
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<std::result::Result<_, _>>().map_err(|e| self.err(e))
    }

    /// The labels an item carried at its source when last stored.
    pub fn source_labels(&self, key: &str) -> Result<Option<Vec<String>>> {
        let text: Option<String> = self
            .conn
            .query_row("SELECT source_labels FROM items WHERE key = ?1", [key], |r| r.get(0))
            .optional()
            .map_err(|e| self.err(e))?;
        Ok(text.map(|t| serde_json::from_str(&t).unwrap_or_default()))
    }

    /// Labels sift added to issues of a repo and has not removed (optionally of one push).
    pub fn pushed_labels(&self, repo: &str, push_id: Option<&str>) -> Result<Vec<PushedLabel>> {
        let mut st = self
            .conn
            .prepare(
                "SELECT number, label, push_id FROM pushed_labels
                 WHERE repo = ?1 AND removed_at IS NULL AND (?2 IS NULL OR push_id = ?2)
                 ORDER BY number, label",
            )
            .map_err(|e| self.err(e))?;
        let rows = st
            .query_map(params![repo, push_id], |r| {
                Ok(PushedLabel { number: r.get(0)?, label: r.get(1)?, push_id: r.get(2)? })
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<std::result::Result<_, _>>().map_err(|e| self.err(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn journal_moves_through_states() {
        let mut s = Store::open_in_memory().unwrap();
        s.create_push("p1", "o/r", "apply", "[]", "t0").unwrap();
        s.add_push_ops("p1", &[("github:o/r#1".into(), "add_labels".into(), "{}".into())]).unwrap();
        assert_eq!(s.push_ops("p1").unwrap()[0].state, "pending");
        s.set_op_state("p1", 0, "sent", Some("sending"), "t1").unwrap();
        assert_eq!(s.push_ops("p1").unwrap()[0].response.as_deref(), Some("sending"));
        s.set_op_state("p1", 0, "done", Some("ok"), "t2").unwrap();
        let op = &s.push_ops("p1").unwrap()[0];
        assert_eq!((op.state.as_str(), op.response.as_deref()), ("done", Some("ok")));
        assert_eq!(s.unfinished_pushes("o/r").unwrap().len(), 1);
        s.finish_push("p1", "done", "t3").unwrap();
        assert!(s.unfinished_pushes("o/r").unwrap().is_empty());
        s.record_pushed_label("o/r", 1, "bug", "p1", "t").unwrap();
        assert_eq!(s.pushed_labels("o/r", None).unwrap().len(), 1);
        s.mark_label_removed("o/r", 1, "bug", "p1", "t").unwrap();
        assert!(s.pushed_labels("o/r", Some("p1")).unwrap().is_empty());
    }

    #[test]
    fn an_abandoned_push_is_not_unfinished() {
        let mut s = Store::open_in_memory().unwrap();
        s.create_push("p1", "o/r", "apply", "[]", "t0").unwrap();
        let op = |n: i64| (format!("github:o/r#{n}"), "add_labels".to_string(), "{}".to_string());
        s.add_push_ops("p1", &[op(1), op(2), op(3)]).unwrap();
        s.set_op_state("p1", 0, "done", None, "t1").unwrap();
        s.set_op_state("p1", 1, "sent", None, "t1").unwrap();
        s.abandon_push("p1", "t2").unwrap();
        assert!(s.unfinished_pushes("o/r").unwrap().is_empty());
        assert_eq!(s.push_record("p1").unwrap().unwrap().status, "abandoned");
        let states: Vec<String> = s.push_ops("p1").unwrap().into_iter().map(|o| o.state).collect();
        assert_eq!(states, ["done", "abandoned", "abandoned"]);
    }
}
