//! Interrupted pushes: what each has left, abandoning one, and resuming them in order.

use super::*;

/// The interrupted pushes of a repository and the ops each has left, oldest first, with the
/// ops that will not be sent (issues now under `/label off`) marked: what `--dry-run` shows.
pub fn pending_pushes(store: &Store, repo: &str) -> Result<Vec<PendingPush>> {
    let mut out = Vec::new();
    for push in store.unfinished_pushes(repo)? {
        let mut ops = Vec::new();
        for op in store.push_ops(&push.id)? {
            if !matches!(op.state.as_str(), "pending" | "sent") {
                continue;
            }
            let payload: OpPayload =
                serde_json::from_str(&op.payload).map_err(|e| GithubError::Body {
                    url: format!("journal {}#{}", push.id, op.seq),
                    reason: e.to_string(),
                })?;
            let labels = match &payload.data {
                Some(d) if payload.labels.is_empty() => {
                    d.labels.iter().map(|l| l.name.clone()).collect()
                }
                _ => payload.labels.clone(),
            };
            let off = op.op != "remove_label"
                && store.issue_flags(&op.item_key)?.is_some_and(|(sift_off, _)| sift_off);
            ops.push(PendingOp {
                key: op.item_key.clone(),
                number: payload.number,
                op: op.op.clone(),
                state: op.state.clone(),
                labels,
                skip: off.then(|| OFF_REASON.to_string()),
            });
        }
        // A push that stopped after its last op sends nothing more; resuming only closes it.
        if !ops.is_empty() {
            out.push(PendingPush {
                id: push.id,
                mode: push.mode,
                started_at: push.started_at,
                ops,
            });
        }
    }
    Ok(out)
}

/// What `sift push --abandon` dropped.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AbandonReport {
    pub push_id: String,
    pub repo: String,
    pub mode: String,
    /// Ops that will never be sent.
    pub dropped: usize,
    /// Of those, ops that were being sent when the push was interrupted: they may have
    /// reached GitHub, and sift no longer tracks them (item key and op).
    pub maybe_sent: Vec<String>,
}

/// Drop an interrupted push: its unsent ops are closed in the journal and never sent. Nothing
/// goes to GitHub.
pub fn abandon(store: &mut Store, push_id: &str) -> Result<AbandonReport> {
    let Some(push) = store.push_record(push_id)? else {
        return Err(GithubError::Journal {
            push: push_id.to_string(),
            reason: "no such push in the store".into(),
        });
    };
    if push.status != "running" {
        return Err(GithubError::Journal {
            push: push_id.to_string(),
            reason: format!("it is not unfinished (status {}); nothing to abandon", push.status),
        });
    }
    let ops = store.push_ops(push_id)?;
    let open: Vec<&PushOpRow> =
        ops.iter().filter(|o| matches!(o.state.as_str(), "pending" | "sent")).collect();
    let maybe_sent = open
        .iter()
        .filter(|o| o.state == "sent")
        .map(|o| format!("{} {}", o.item_key, o.op))
        .collect();
    store.abandon_push(push_id, &now_rfc3339())?;
    Ok(AbandonReport {
        push_id: push_id.to_string(),
        repo: push.repo,
        mode: push.mode,
        dropped: open.len(),
        maybe_sent,
    })
}

/// Finish every interrupted push of a repository, oldest first.
pub async fn resume_unfinished(
    store: &mut Store,
    client: &mut Client,
    repo: &str,
    login: &mut Option<String>,
    progress: &mut dyn FnMut(&PushProgress),
) -> Result<Vec<PushReport>> {
    let mut out = Vec::new();
    for p in store.unfinished_pushes(repo)? {
        let report = run_push(store, client, &p.id, login, progress).await?;
        // A refused token refuses every push alike: the others stay unfinished, unsent.
        let stopped = report.stopped.is_some();
        out.push(report);
        if stopped {
            break;
        }
    }
    Ok(out)
}
