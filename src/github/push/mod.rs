//! Executing a push plan: every mutation journaled (pending -> sent -> done/failed) before and
//! after it is sent, serial and spaced; resuming an interrupted push without duplicates (an op
//! journaled as sent is first checked against GitHub); reverting the labels a push added.

use std::collections::{BTreeMap, HashMap};

use reqwest::Method;
use serde::{Deserialize, Serialize};

use super::audit::{self, CommentData};
use super::client::{Client, GithubError, RepoSlug, Result, encode_segment};
use super::plan::{PendingOp, PendingPush, PushMode, PushPlan, comment_data};
use crate::model::now_rfc3339;
use crate::store::{PushOpRow, Store};

mod op;
mod pending;

use op::*;
pub use pending::*;

/// Progress of a running push, for the CLI's stderr and the TUI's push view.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PushProgress {
    pub push_id: String,
    pub done: usize,
    pub total: usize,
    pub key: String,
    pub op: String,
    /// done, failed, already (found on GitHub when resuming), skipped
    pub outcome: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Why an op was skipped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// What a push (or revert, or resume) did.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct PushReport {
    pub push_id: Option<String>,
    pub repo: String,
    pub mode: String,
    pub ops: usize,
    pub done: usize,
    pub failed: usize,
    /// Ops found already applied on GitHub when resuming.
    pub already: usize,
    /// Ops not sent, each listed in `skips` with the reason.
    pub skipped: usize,
    pub skips: Vec<String>,
    pub errors: Vec<String>,
    /// Why the push stopped before its end (GitHub refused the token), when it did; the ops
    /// after that point are in `skips` as not attempted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stopped: Option<String>,
    /// Interrupted pushes finished first.
    pub resumed: Vec<String>,
    pub requests: u64,
}

/// The payload journaled with an op.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct OpPayload {
    pub number: i64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub labels: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<CommentData>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment_id: Option<i64>,
    /// For remove_label: the push that added the label.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_push: Option<String>,
    /// For add_labels: names that, on the issue now, mean a label is not added (see
    /// `PlanEntry::blocked_by`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub blocked_by: BTreeMap<String, Vec<String>>,
}

/// Why an op of an unfinished push is not sent (the plan's words for the same thing).
pub const OFF_REASON: &str = "`/label off` on this issue";

/// Whether GitHub refused the token itself (bad or expired: 401; lacking permission: 403),
/// rather than one issue. Rate-limit 403s never get here: the client waits them out or gives
/// up with its own error. A locked issue refuses comments with a 403 of its own.
fn token_refused(status: u16, message: &str) -> bool {
    status == 401 || (status == 403 && !message.to_ascii_lowercase().contains("locked"))
}

fn skip_line(op: &PushOpRow, reason: &str) -> String {
    format!("{} {}: {reason}", op.item_key, op.op)
}

/// A fresh push id: time plus randomness, sortable.
pub fn new_push_id(prefix: &str) -> String {
    let ts = jiff::Timestamp::now().strftime("%Y%m%dT%H%M%SZ").to_string();
    format!("{prefix}-{ts}-{:06x}", rand::random::<u32>() & 0xff_ffff)
}

/// The comment sift last posted per issue, from the journal: key -> (comment id, data).
pub fn journaled_comments(
    store: &Store,
    repo: &str,
) -> Result<HashMap<String, (Option<i64>, CommentData)>> {
    let mut out = HashMap::new();
    for (key, payload, response) in store.done_comment_ops(repo)? {
        let Ok(p) = serde_json::from_str::<OpPayload>(&payload) else { continue };
        let id = response
            .and_then(|r| serde_json::from_str::<serde_json::Value>(&r).ok())
            .and_then(|v| v.get("comment_id").and_then(|x| x.as_i64()))
            .or(p.comment_id);
        if let Some(d) = p.data {
            out.insert(key, (id, d));
        }
    }
    Ok(out)
}

/// Sift's own blocks among pulled comments (needs the login) merged under the journal's.
pub async fn known_comments(
    store: &Store,
    client: &mut Client,
    login: &mut Option<String>,
    repo: &str,
) -> Result<HashMap<String, (Option<i64>, CommentData)>> {
    let mut out = HashMap::new();
    for issue in store.repo_issues(repo)? {
        let Some(item) = store.item(&issue.key)? else { continue };
        if !item.comments.iter().any(|c| c.body.contains("<!-- sift:start")) {
            continue;
        }
        let me = ensure_login(client, login).await?;
        if let Some((id, block)) = audit::own_block(&item.comments, &me) {
            out.insert(issue.key.clone(), (id, block.data));
        }
    }
    out.extend(journaled_comments(store, repo)?);
    Ok(out)
}

async fn ensure_login(client: &mut Client, login: &mut Option<String>) -> Result<String> {
    if let Some(l) = login {
        return Ok(l.clone());
    }
    let l = client.login().await?;
    *login = Some(l.clone());
    Ok(l)
}

/// Journal a plan as a new push (nothing is sent yet). Returns the push id, or None when the
/// plan has nothing to send.
pub fn journal_plan(
    store: &mut Store,
    plan: &PushPlan,
    existing: &HashMap<String, (Option<i64>, CommentData)>,
) -> Result<Option<String>> {
    if plan.is_empty() {
        return Ok(None);
    }
    let id = new_push_id("p");
    let mut ops = Vec::new();
    for e in &plan.entries {
        let (op, payload) = match plan.mode {
            PushMode::Apply => (
                "add_labels",
                OpPayload {
                    number: e.number,
                    labels: e.add.clone(),
                    blocked_by: e.blocked_by.clone(),
                    ..Default::default()
                },
            ),
            PushMode::Comment => {
                let mut data = comment_data(&e.source, &e.labels);
                data.bot = e.audit.clone();
                let body = audit::render(&id, &data);
                let comment_id = existing.get(&e.key).and_then(|(cid, _)| *cid);
                let op = if comment_id.is_some() { "update_comment" } else { "comment" };
                (
                    op,
                    OpPayload {
                        number: e.number,
                        body: Some(body),
                        data: Some(data),
                        comment_id,
                        ..Default::default()
                    },
                )
            }
        };
        ops.push((
            e.key.clone(),
            op.to_string(),
            serde_json::to_string(&payload).unwrap_or_default(),
        ));
    }
    let plan_json = serde_json::to_string(plan).unwrap_or_else(|_| "{}".into());
    store.create_push(&id, &plan.repo, plan.mode.as_str(), &plan_json, &now_rfc3339())?;
    store.add_push_ops(&id, &ops)?;
    Ok(Some(id))
}

/// Journal a revert of `push_id`: remove the labels it added that sift has not removed yet.
pub fn journal_revert(store: &mut Store, push_id: &str) -> Result<Option<(String, String)>> {
    let Some(push) = store.push_record(push_id)? else {
        return Err(GithubError::Body {
            url: push_id.to_string(),
            reason: "no such push in the store".into(),
        });
    };
    let labels = store.pushed_labels(&push.repo, Some(push_id))?;
    if labels.is_empty() {
        return Ok(None);
    }
    let id = new_push_id("r");
    let ops: Vec<(String, String, String)> = labels
        .iter()
        .map(|l| {
            let payload = OpPayload {
                number: l.number,
                labels: vec![l.label.clone()],
                source_push: Some(push_id.to_string()),
                ..Default::default()
            };
            (
                format!("github:{}#{}", push.repo, l.number),
                "remove_label".to_string(),
                serde_json::to_string(&payload).unwrap_or_default(),
            )
        })
        .collect();
    store.create_push(
        &id,
        &push.repo,
        "revert",
        &format!("{{\"revert\":\"{push_id}\"}}"),
        &now_rfc3339(),
    )?;
    store.add_push_ops(&id, &ops)?;
    Ok(Some((id, push.repo)))
}

/// Journal the removal of `labels` from one issue (the labels sift applied there, taken back
/// on `/label off`), as a revert push with no push of origin.
pub fn journal_removals(
    store: &mut Store,
    repo: &str,
    key: &str,
    number: i64,
    labels: &[String],
) -> Result<Option<String>> {
    if labels.is_empty() {
        return Ok(None);
    }
    let id = new_push_id("r");
    let payload = OpPayload { number, labels: labels.to_vec(), ..Default::default() };
    let ops = vec![(
        key.to_string(),
        "remove_label".to_string(),
        serde_json::to_string(&payload).unwrap_or_default(),
    )];
    store.create_push(&id, repo, "revert", r#"{"label_off":true}"#, &now_rfc3339())?;
    store.add_push_ops(&id, &ops)?;
    Ok(Some(id))
}

/// Run (or resume) the journaled ops of a push, serially. Client-side errors of one op (404,
/// 422) mark it failed and the push goes on; a refused token (401, permission 403) fails the op
/// and closes the push with the rest not attempted; rate limits that outlast the wait and
/// transport errors stop the push, which stays resumable.
pub async fn run_push(
    store: &mut Store,
    client: &mut Client,
    push_id: &str,
    login: &mut Option<String>,
    progress: &mut dyn FnMut(&PushProgress),
) -> Result<PushReport> {
    let Some(push) = store.push_record(push_id)? else {
        return Err(GithubError::Body {
            url: push_id.to_string(),
            reason: "no such push in the store".into(),
        });
    };
    let repo = RepoSlug::parse(&push.repo)?;
    let ops = store.push_ops(push_id)?;
    let requests_before = client.requests;
    let mut report = PushReport {
        push_id: Some(push_id.to_string()),
        repo: push.repo.clone(),
        mode: push.mode.clone(),
        ops: ops.len(),
        ..Default::default()
    };
    let total = ops.len();
    for (i, op) in ops.iter().enumerate() {
        match op.state.as_str() {
            "done" => report.done += 1,
            "failed" => report.failed += 1,
            "skipped" => {
                report.skipped += 1;
                report.skips.push(skip_line(op, op.response.as_deref().unwrap_or("")));
            }
            _ => {}
        }
        if matches!(op.state.as_str(), "done" | "failed" | "skipped") {
            continue;
        }
        let payload: OpPayload =
            serde_json::from_str(&op.payload).map_err(|e| GithubError::Body {
                url: format!("journal {push_id}#{}", op.seq),
                reason: e.to_string(),
            })?;
        // `/label off` given since the push was planned: what was never sent is not sent now;
        // an op interrupted while sending is only checked. A revert still runs: it takes back
        // only what sift itself added.
        let off = op.op != "remove_label"
            && store.issue_flags(&op.item_key)?.is_some_and(|(sift_off, _)| sift_off);
        let result = if off && op.state != "sent" {
            Ok(OpDone::new("skipped", serde_json::json!({ "skipped": OFF_REASON })))
        } else {
            run_op(store, client, &repo, op, &payload, login, off).await
        };
        // A refused token (401, permission 403): set when this op failed that way.
        let mut refused = None;
        let (outcome, error, note) = match result {
            Ok(d) if d.outcome == "skipped" => {
                store.set_op_state(push_id, op.seq, "skipped", Some(OFF_REASON), &now_rfc3339())?;
                record_effects(store, &repo, push_id, op, &payload, &d.labels)?;
                report.skipped += 1;
                report.skips.push(skip_line(op, OFF_REASON));
                (d.outcome, None, Some(OFF_REASON.to_string()))
            }
            Ok(d) => {
                store.set_op_state(push_id, op.seq, "done", Some(&d.response), &now_rfc3339())?;
                record_effects(store, &repo, push_id, op, &payload, &d.labels)?;
                report.done += 1;
                report.already += usize::from(d.outcome == "already");
                (d.outcome, None, None)
            }
            Err(GithubError::Http { status, message, method, url })
                if (400..500).contains(&status) && status != 429 =>
            {
                let msg = format!("{method} {url}: {status} {message}");
                store.set_op_state(push_id, op.seq, "failed", Some(&msg), &now_rfc3339())?;
                report.failed += 1;
                report.errors.push(msg.clone());
                if token_refused(status, &message) {
                    let reason = format!("not attempted: the push stopped at {status} {message}");
                    refused = Some((reason, msg.clone()));
                }
                ("failed", Some(msg), None)
            }
            Err(e) => {
                report.requests = client.requests - requests_before;
                return Err(e);
            }
        };
        progress(&PushProgress {
            push_id: push_id.to_string(),
            done: i + 1,
            total,
            key: op.item_key.clone(),
            op: op.op.clone(),
            outcome: outcome.to_string(),
            error,
            note,
        });
        if let Some((reason, msg)) = refused {
            // Every later request would be refused the same way: none is sent. The push is
            // closed, so the next push plans the issues afresh instead of resuming this.
            not_attempted(store, push_id, &ops[i + 1..], &reason, &mut report)?;
            report.stopped = Some(msg);
            store.finish_push(push_id, "stopped", &now_rfc3339())?;
            report.requests = client.requests - requests_before;
            return Ok(report);
        }
    }
    store.finish_push(push_id, "done", &now_rfc3339())?;
    report.requests = client.requests - requests_before;
    Ok(report)
}

/// Journal the ops after a refused token as not attempted, and count every later op in the
/// report by its state.
fn not_attempted(
    store: &Store,
    push_id: &str,
    later: &[PushOpRow],
    reason: &str,
    report: &mut PushReport,
) -> Result<()> {
    for op in later {
        if matches!(op.state.as_str(), "pending" | "sent") {
            store.set_op_state(push_id, op.seq, "skipped", Some(reason), &now_rfc3339())?;
        }
        if matches!(op.state.as_str(), "pending" | "sent" | "skipped") {
            report.skipped += 1;
            report.skips.push(skip_line(op, reason));
        } else {
            report.done += usize::from(op.state == "done");
            report.failed += usize::from(op.state == "failed");
        }
    }
    Ok(())
}

/// Store what a finished op changed: the labels sift itself added (`labels`: only those that
/// were missing when it sent them, so a revert never takes back a label a human set), or the
/// labels it removed.
fn record_effects(
    store: &Store,
    repo: &RepoSlug,
    push_id: &str,
    op: &PushOpRow,
    p: &OpPayload,
    labels: &[String],
) -> Result<()> {
    let now = now_rfc3339();
    match op.op.as_str() {
        "add_labels" => {
            for l in labels {
                store.record_pushed_label(&repo.full(), p.number, l, push_id, &now)?;
            }
        }
        "remove_label" => {
            if let Some(src) = &p.source_push {
                for l in &p.labels {
                    store.mark_label_removed(&repo.full(), p.number, l, src, &now)?;
                }
            }
        }
        _ => {}
    }
    Ok(())
}
