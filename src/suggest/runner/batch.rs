//! A run through a provider's batch API (`sift suggest --batch`, `sift runs poll`): items
//! not answered yet go out in batches within the provider's limits; the batches are recorded
//! before the wait, so any process can pick them up; results go through the same validation,
//! cache, budget and monitor log as live answers; failed and expired requests are asked
//! again live, cancelled ones are left for a later resume.

use std::collections::{HashMap, HashSet};

use super::*;
use crate::store::{BatchItem, RunBatch};
use crate::suggest::batch_api::{BatchApi, BatchOutcome, BatchStatus};

/// How a batch run submits and waits.
#[derive(Debug, Clone)]
pub struct BatchOptions {
    /// Between two rounds of status requests.
    pub poll_interval: Duration,
    /// Most requests per batch (within the provider's own limit): what one batch holds in
    /// memory while it is written.
    pub max_requests: usize,
}

impl Default for BatchOptions {
    fn default() -> Self {
        BatchOptions { poll_interval: Duration::from_secs(30), max_requests: 5_000 }
    }
}

/// Submit what is left, wait for the run's batches, collect them, then ask live what failed.
pub(super) async fn drive_batch(
    store: &mut Store,
    sink: &mut Sink,
    opts: &RunOptions,
    shared: Arc<Shared>,
    mut pending: Jobs<'_>,
    api: &dyn BatchApi,
    stop: impl Future<Output = ()>,
) -> Result<&'static str, RunError> {
    let b = opts.batch.clone().unwrap_or_default();
    tokio::pin!(stop);
    let open: Vec<RunBatch> =
        store.run_batches(&sink.run.id)?.into_iter().filter(RunBatch::open).collect();
    let waiting: HashSet<String> =
        open.iter().flat_map(|x| x.items.iter().map(|i| i.key.clone())).collect();
    if !submit(store, sink, &mut pending, api, &b, &waiting).await? {
        return Ok("budget_exhausted");
    }
    let mut retry = Vec::new();
    let mut canceled = false;
    loop {
        let open: Vec<RunBatch> =
            store.run_batches(&sink.run.id)?.into_iter().filter(RunBatch::open).collect();
        if open.is_empty() {
            break;
        }
        sink.bar = waiting_bar(opts.progress, &open);
        let mut ended_any = false;
        for batch in open {
            let status = api.status(&batch.batch_id).await.map_err(provider_failed)?;
            note_counts(store, sink, &batch, &status)?;
            if status.ended {
                canceled |= status.status.starts_with("cancel") || batch.status == "canceling";
                collect(store, sink, api, batch, &status, &mut retry).await?;
                ended_any = true;
            }
        }
        if !ended_any {
            tokio::select! {
                biased;
                _ = &mut stop => {
                    sink.bar.finish_and_clear();
                    sink.warn(format!(
                        "stopped waiting; the batches keep running at {}: `sift runs poll {}` \
                         collects them",
                        api.provider(),
                        sink.run.name.as_deref().unwrap_or(&sink.run.id)
                    ));
                    return Ok("interrupted");
                }
                _ = tokio::time::sleep(b.poll_interval) => {}
            }
        }
    }
    sink.bar.finish_and_clear();
    sink.writer.flush(store)?;
    if !retry.is_empty() {
        sink.warn(format!("{} batch requests failed or expired: asked again live", retry.len()));
        let again = Jobs { todo: retry.iter(), ..pending };
        let status = drive(store, sink, opts, shared, again, stop).await?;
        if status != "done" {
            return Ok(status);
        }
    }
    Ok(if canceled { "canceled" } else { "done" })
}

fn provider_failed(e: ProviderError) -> RunError {
    RunError::NoProvider(crate::text::one_line(&e.to_string()))
}

/// Turn the items still to ask into batches; false when the daily budget is spent.
async fn submit(
    store: &mut Store,
    sink: &mut Sink,
    pending: &mut Jobs<'_>,
    api: &dyn BatchApi,
    b: &BatchOptions,
    waiting: &HashSet<String>,
) -> Result<bool, RunError> {
    let (max_requests, max_bytes) = api.limits();
    let max_requests = b.max_requests.clamp(1, max_requests);
    let mut lines: Vec<Value> = Vec::new();
    let mut items: Vec<BatchItem> = Vec::new();
    let mut bytes = 0usize;
    loop {
        let job = pending.next(store, sink)?;
        let full = match &job {
            None => true,
            Some(_) => lines.len() >= max_requests,
        };
        if full && !lines.is_empty() {
            if over_budget(sink) {
                return Ok(false);
            }
            create(store, sink, api, std::mem::take(&mut lines), std::mem::take(&mut items))
                .await?;
            bytes = 0;
        }
        let Some(job) = job else { break };
        if waiting.contains(&job.key) {
            continue;
        }
        let custom_id = format!("r{}", items.len());
        let line = api.line(&custom_id, &job.request);
        let size = line.to_string().len() + 1;
        if bytes + size > max_bytes && !lines.is_empty() {
            create(store, sink, api, std::mem::take(&mut lines), std::mem::take(&mut items))
                .await?;
            bytes = 0;
            // Custom ids are unique within a batch: this one starts the next.
            let line = api.line("r0", &job.request);
            bytes += line.to_string().len() + 1;
            lines.push(line);
            items.push(BatchItem { custom_id: "r0".into(), ..batch_item(&job) });
            continue;
        }
        bytes += size;
        lines.push(line);
        items.push(BatchItem { custom_id, ..batch_item(&job) });
    }
    Ok(true)
}

fn batch_item(job: &Job) -> BatchItem {
    BatchItem {
        custom_id: String::new(),
        key: job.key.clone(),
        content_hash: job.content_hash.clone(),
        prompt_hash: job.prompt_hash.clone(),
    }
}

/// Today's budget is spent (tokens are counted as results arrive, so this is checked before
/// each batch goes out).
fn over_budget(sink: &mut Sink) -> bool {
    let b = lock(&sink.budget);
    let spent = b.limit > 0 && b.recorded >= b.limit;
    drop(b);
    if spent {
        sink.warn(format!(
            "daily token budget of {} reached; no more batches submitted (resume tomorrow with \
             the same --name)",
            sink.report.budget_limit
        ));
    }
    spent
}

/// Create one batch and record it at once: a process killed while waiting leaves it to be
/// picked up.
async fn create(
    store: &mut Store,
    sink: &mut Sink,
    api: &dyn BatchApi,
    lines: Vec<Value>,
    items: Vec<BatchItem>,
) -> Result<(), RunError> {
    let id = api.submit(&lines).await.map_err(provider_failed)?;
    let now = now_rfc3339();
    let n = items.len();
    store.save_batch(&RunBatch {
        run_id: sink.run.id.clone(),
        batch_id: id.clone(),
        provider: api.provider().into(),
        status: "submitted".into(),
        items,
        counts: Value::Null,
        created_at: now.clone(),
        updated_at: now,
    })?;
    sink.report.batches.push(id.clone());
    if sink.progress {
        eprintln!("submitted batch {id} ({n} requests) to {}", api.provider());
    }
    Ok(())
}

/// The wait's progress bar: every request of the open batches.
fn waiting_bar(show: bool, open: &[RunBatch]) -> indicatif::ProgressBar {
    let n: usize = open.iter().map(|b| b.items.len()).sum();
    let bar = progress_bar(show, n);
    bar.set_message("waiting for the provider");
    bar
}

/// Record the provider's counts and show them.
fn note_counts(
    store: &Store,
    sink: &mut Sink,
    batch: &RunBatch,
    status: &BatchStatus,
) -> Result<(), RunError> {
    let mut saved = batch.clone();
    saved.counts = status.counts.clone();
    saved.updated_at = now_rfc3339();
    store.save_batch(&saved)?;
    let counts: Vec<String> = status
        .counts
        .as_object()
        .map(|m| m.iter().map(|(k, v)| format!("{k} {v}")).collect())
        .unwrap_or_default();
    let finished: u64 = ["succeeded", "errored", "canceled", "expired", "completed", "failed"]
        .iter()
        .filter_map(|k| status.counts.get(*k).and_then(Value::as_u64))
        .sum();
    sink.bar.set_position(finished);
    sink.bar.set_message(format!("{}: {} ({})", batch.batch_id, status.status, counts.join(", ")));
    Ok(())
}

/// Read an ended batch's results into the run; requests that failed go to `retry`.
async fn collect(
    store: &mut Store,
    sink: &mut Sink,
    api: &dyn BatchApi,
    mut batch: RunBatch,
    status: &BatchStatus,
    retry: &mut Vec<String>,
) -> Result<(), RunError> {
    let by_id: HashMap<&str, &BatchItem> =
        batch.items.iter().map(|i| (i.custom_id.as_str(), i)).collect();
    let mut seen: HashSet<String> = HashSet::new();
    for mut file in api.results(status).await.map_err(provider_failed)? {
        while let Some(line) = file.next().await.map_err(provider_failed)? {
            let Some((cid, outcome)) = api.outcome(&line) else { continue };
            let Some(item) = by_id.get(cid.as_str()) else { continue };
            if !seen.insert(cid.clone()) {
                continue;
            }
            match outcome {
                BatchOutcome::Answer(body) => answered(store, sink, api, item, &body, retry)?,
                BatchOutcome::Failed { kind, message } => {
                    note_failure(sink, &kind, &message);
                    retry.push(item.key.clone());
                }
                BatchOutcome::Canceled => sink.report.not_asked += 1,
            }
        }
    }
    // Requests the results do not mention: never run (a cancelled batch) or lost (asked
    // again live, never dropped).
    let cancelled = status.status.starts_with("cancel") || batch.status == "canceling";
    for item in batch.items.iter().filter(|i| !seen.contains(&i.custom_id)) {
        if cancelled {
            sink.report.not_asked += 1;
        } else {
            note_failure(sink, "batch_missing", "the batch's results do not mention it");
            retry.push(item.key.clone());
        }
    }
    sink.writer.flush(store)?;
    batch.status = "collected".into();
    batch.counts = status.counts.clone();
    batch.updated_at = now_rfc3339();
    store.save_batch(&batch)?;
    store.save_run(&sink.run)?;
    Ok(())
}

fn note_failure(sink: &mut Sink, kind: &str, message: &str) {
    *sink.report.errors_by_kind.entry(kind.to_string()).or_insert(0) += 1;
    if !sink.report.first_errors.contains_key(kind) {
        sink.report.first_errors.insert(kind.to_string(), message.to_string());
        sink.warn(format!("{kind}: {message}"));
    }
}

/// One answered request: read as a live answer is, then stored like one.
fn answered(
    store: &mut Store,
    sink: &mut Sink,
    api: &dyn BatchApi,
    item: &BatchItem,
    body: &Value,
    retry: &mut Vec<String>,
) -> Result<(), RunError> {
    let Some(it) = store.item(&item.key)? else { return Ok(()) };
    let it = Arc::new(it);
    // The request only serves as the fallback for usage the provider did not report.
    let req = Request {
        item: it.clone(),
        system: String::new(),
        user: String::new(),
        schema: Value::Null,
        temperature: 0.0,
    };
    let a = match api.read(body, &req) {
        Ok(a) => a,
        Err(message) => {
            note_failure(sink, "bad_answer", &crate::text::one_line(&message));
            retry.push(item.key.clone());
            return Ok(());
        }
    };
    let mut out = Outcome::cached(it, a.raw.clone(), &BatchSource(api), Vec::new());
    out.cached = false;
    out.content_hash = item.content_hash.clone();
    out.prompt_hash = item.prompt_hash.clone();
    out.tokens_in = a.tokens_in;
    out.tokens_out = a.tokens_out;
    if let Some(ans) = out.answer.as_mut() {
        ans.cache = Some(a.raw);
    }
    sink.add_batch_tokens(a.tokens_in, a.tokens_out);
    sink.settle(store, out)
}

/// A batch API seen as the suggester that answered (its name and model), for outcomes.
struct BatchSource<'a>(&'a dyn BatchApi);

impl Suggester for BatchSource<'_> {
    fn provider(&self) -> &str {
        self.0.provider()
    }
    fn model(&self) -> &str {
        self.0.model()
    }
    fn remote(&self) -> bool {
        true
    }
    fn suggest<'a>(
        &'a self,
        _: &'a Request,
    ) -> futures::future::BoxFuture<'a, Result<provider::Answer, provider::ProviderError>> {
        Box::pin(async {
            Err(provider::ProviderError::NotConfigured {
                provider: self.0.provider().into(),
                message: "batch answers are collected, not asked".into(),
            })
        })
    }
}

/// `sift runs cancel RUN`: ask the provider to cancel the run's open batches. What already
/// ran is collected by the next poll; the rest is left for a resume.
pub async fn cancel_batches(
    store: &Store,
    run: &Run,
    api: &dyn BatchApi,
) -> Result<usize, RunError> {
    let mut n = 0;
    for mut b in store.run_batches(&run.id)?.into_iter().filter(RunBatch::open) {
        api.cancel(&b.batch_id).await.map_err(provider_failed)?;
        b.status = "canceling".into();
        b.updated_at = now_rfc3339();
        store.save_batch(&b)?;
        n += 1;
    }
    Ok(n)
}
