//! One op on GitHub: read the issue's labels, then add or remove a label, or post or edit
//! sift's comment (found again after a lost answer instead of posted twice).

use super::*;

pub(super) async fn issue_labels(
    client: &mut Client,
    repo: &RepoSlug,
    number: i64,
) -> Result<Vec<String>> {
    #[derive(Deserialize)]
    struct L {
        name: String,
    }
    let url = client.url(&format!("{}/issues/{number}/labels?per_page=100", repo.path()));
    Ok(client.get_all::<L>(&url).await?.into_iter().map(|l| l.name).collect())
}

pub(super) fn has(labels: &[String], name: &str) -> bool {
    labels.iter().any(|l| l.eq_ignore_ascii_case(name))
}

/// Whether the issue's labels already say `label` (under its name or an alias) or rule it
/// out (another label of its pick-one dimension).
pub(super) fn stands(current: &[String], label: &str, p: &OpPayload) -> bool {
    has(current, label)
        || p.blocked_by.get(label).is_some_and(|b| b.iter().any(|x| has(current, x)))
}

/// A finished op: its outcome, the response to journal, and the labels it added or removed.
pub(super) struct OpDone {
    pub(super) outcome: &'static str,
    pub(super) response: String,
    /// add_labels: the labels sift added; remove_label: the labels now gone.
    pub(super) labels: Vec<String>,
}

impl OpDone {
    pub(super) fn new(outcome: &'static str, response: serde_json::Value) -> Self {
        OpDone { outcome, response: response.to_string(), labels: Vec::new() }
    }
}

/// The labels an interrupted add_labels op was sending, as journaled with its `sent` state.
pub(super) fn journaled_sending(op: &PushOpRow) -> Option<Vec<String>> {
    let v: serde_json::Value = serde_json::from_str(op.response.as_deref()?).ok()?;
    serde_json::from_value(v.get("sending")?.clone()).ok()
}

/// Send one op (or, when journaled as sent, check GitHub first). With `check_only` (an op
/// interrupted while sending, on an issue now under `/label off`) nothing is sent: what reached
/// GitHub is recorded, the rest comes back as "skipped".
pub(super) async fn run_op(
    store: &Store,
    client: &mut Client,
    repo: &RepoSlug,
    op: &PushOpRow,
    p: &OpPayload,
    login: &mut Option<String>,
    check_only: bool,
) -> Result<OpDone> {
    let push_id = op.push_id.as_str();
    let resumed = op.state == "sent";
    let now = now_rfc3339();
    match op.op.as_str() {
        "add_labels" => {
            // The plan was made from the last pull; a human may have added some of the labels
            // since. Only the labels missing now are sent and recorded as sift's.
            let current = issue_labels(client, repo, p.number).await?;
            // The next plan starts from what GitHub has now, not from the last pull: a label
            // a human added meanwhile is not planned (and a push made) again and again.
            store.set_source_labels(&op.item_key, &current)?;
            let sending: Vec<String> = match journaled_sending(op) {
                // Interrupted after the journal said what was being sent: whichever of those
                // labels are on GitHub now got there through that request.
                Some(s) if resumed => s,
                // A journal of an older sift, which did not say; every label counts as sent.
                None if resumed => p.labels.clone(),
                _ => p.labels.iter().filter(|l| !stands(&current, l, p)).cloned().collect(),
            };
            let to_add: Vec<String> =
                sending.iter().filter(|l| !has(&current, l)).cloned().collect();
            if check_only && !to_add.is_empty() {
                let mut d = OpDone::new("skipped", serde_json::json!({ "skipped": OFF_REASON }));
                d.labels = sending.into_iter().filter(|l| !to_add.contains(l)).collect();
                return Ok(d);
            }
            if to_add.is_empty() {
                let mut d = OpDone::new(
                    "already",
                    serde_json::json!({ "already": true, "added": sending }),
                );
                d.labels = sending;
                return Ok(d);
            }
            let journal = serde_json::json!({ "sending": sending }).to_string();
            store.set_op_state(push_id, op.seq, "sent", Some(&journal), &now)?;
            let url = client.url(&format!("{}/issues/{}/labels", repo.path(), p.number));
            let body = serde_json::json!({ "labels": to_add });
            client.mutate(Method::POST, &url, Some(&body)).await?;
            let now_on_github: Vec<String> = current.iter().chain(&to_add).cloned().collect();
            store.set_source_labels(&op.item_key, &now_on_github)?;
            let mut d = OpDone::new("done", serde_json::json!({ "added": sending }));
            d.labels = sending;
            Ok(d)
        }
        "comment" => {
            if resumed
                && let Some(id) = find_own_comment(client, repo, p.number, push_id, login).await?
            {
                return Ok(OpDone::new("already", serde_json::json!({ "comment_id": id })));
            }
            if check_only {
                return Ok(OpDone::new("skipped", serde_json::json!({ "skipped": OFF_REASON })));
            }
            store.set_op_state(push_id, op.seq, "sent", None, &now)?;
            post_comment(client, repo, p, push_id, login).await
        }
        "update_comment" => {
            // An edit may or may not have landed; either way the issue is not touched again.
            if check_only {
                return Ok(OpDone::new("skipped", serde_json::json!({ "skipped": OFF_REASON })));
            }
            store.set_op_state(push_id, op.seq, "sent", None, &now)?;
            let Some(id) = p.comment_id else {
                return post_comment(client, repo, p, push_id, login).await;
            };
            let url = client.url(&format!("{}/issues/comments/{id}", repo.path()));
            let body = serde_json::json!({ "body": p.body.clone().unwrap_or_default() });
            match client.mutate(Method::PATCH, &url, Some(&body)).await {
                Ok(_) => Ok(OpDone::new("done", serde_json::json!({ "comment_id": id }))),
                // The old comment was deleted: post a new one, unless an earlier attempt of
                // this op (interrupted before the journal heard of it) already did.
                Err(GithubError::Http { status: 404, .. }) => {
                    match find_own_comment(client, repo, p.number, push_id, login).await? {
                        Some(found) => {
                            Ok(OpDone::new("already", serde_json::json!({ "comment_id": found })))
                        }
                        None => post_comment(client, repo, p, push_id, login).await,
                    }
                }
                Err(e) => Err(e),
            }
        }
        "remove_label" => {
            let current = issue_labels(client, repo, p.number).await?;
            let mut removed = Vec::new();
            for l in &p.labels {
                if !has(&current, l) {
                    continue;
                }
                store.set_op_state(push_id, op.seq, "sent", None, &now)?;
                let url = client.url(&format!(
                    "{}/issues/{}/labels/{}",
                    repo.path(),
                    p.number,
                    encode_segment(l)
                ));
                match client.mutate(Method::DELETE, &url, None).await {
                    Ok(_) | Err(GithubError::Http { status: 404, .. }) => removed.push(l.clone()),
                    Err(e) => return Err(e),
                }
            }
            let left: Vec<String> =
                current.iter().filter(|c| !removed.iter().any(|r| r == *c)).cloned().collect();
            store.set_source_labels(&op.item_key, &left)?;
            let outcome = if removed.is_empty() { "already" } else { "done" };
            // Gone either way: every label of the op is marked removed.
            let mut d = OpDone::new(outcome, serde_json::json!({ "removed": removed }));
            d.labels = p.labels.clone();
            Ok(d)
        }
        other => Err(GithubError::Body {
            url: format!("journal {push_id}#{}", op.seq),
            reason: format!("unknown op {other:?}"),
        }),
    }
}

/// sift's comment of push `push_id` on an issue, if GitHub has one: found by the push id in
/// the hidden block of a comment the authenticated user wrote.
pub(super) async fn find_own_comment(
    client: &mut Client,
    repo: &RepoSlug,
    number: i64,
    push_id: &str,
    login: &mut Option<String>,
) -> Result<Option<i64>> {
    let me = ensure_login(client, login).await?;
    let url = client.url(&format!("{}/issues/{number}/comments?per_page=100", repo.path()));
    let comments: Vec<serde_json::Value> = client.get_all(&url).await?;
    Ok(comments.iter().find_map(|c| {
        let author = c.pointer("/user/login")?.as_str()?;
        let block = audit::parse(c.get("body")?.as_str()?)?;
        (author.eq_ignore_ascii_case(&me) && block.run == push_id).then(|| c.get("id")?.as_i64())?
    }))
}

/// Post the comment of an op. A POST that failed without a clear answer (timeout, broken
/// connection, 5xx) may still have created the comment, so before each new attempt the issue's
/// comments are searched for this push's block; after the last attempt the error stops the
/// push, and resuming searches again.
pub(super) async fn post_comment(
    client: &mut Client,
    repo: &RepoSlug,
    p: &OpPayload,
    push_id: &str,
    login: &mut Option<String>,
) -> Result<OpDone> {
    let url = client.url(&format!("{}/issues/{}/comments", repo.path(), p.number));
    let body = serde_json::json!({ "body": p.body.clone().unwrap_or_default() });
    let mut attempt = 0;
    loop {
        match client.create(&url, &body).await {
            Ok(resp) => {
                let id = resp
                    .json::<serde_json::Value>()
                    .ok()
                    .and_then(|v| v.get("id").and_then(|x| x.as_i64()));
                return Ok(OpDone::new("done", serde_json::json!({ "comment_id": id })));
            }
            Err(GithubError::Ambiguous { .. }) if attempt + 1 < client.pacing.attempts => {
                client.retry_pause(&url, attempt).await?;
                if let Some(id) = find_own_comment(client, repo, p.number, push_id, login).await? {
                    return Ok(OpDone::new("done", serde_json::json!({ "comment_id": id })));
                }
                attempt += 1;
            }
            Err(e) => return Err(e),
        }
    }
}
