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
/// A provider that keeps failing while waiting ends the run `interrupted`: the batches go on
/// at the provider and a later poll collects them.
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
    if opts.arbitration {
        sink.warn("arbitration is not done on batch answers".into());
    }
    let budget_left = match submit(store, sink, &mut pending, api, &b).await {
        Ok(left) => left,
        Err(e) => return Ok(gave_up(sink, api, &e)),
    };
    let mut w = Waited::default();
    loop {
        let open: Vec<RunBatch> =
            store.run_batches(&sink.run.id)?.into_iter().filter(RunBatch::open).collect();
        if open.is_empty() {
            break;
        }
        sink.bar = waiting_bar(opts.progress, &open);
        let ended_any = match poll_round(store, sink, api, open, &mut w).await {
            Ok(ended) => ended,
            Err(Stop::Provider(e)) => return Ok(gave_up(sink, api, &e)),
            Err(Stop::Run(e)) => return Err(e),
        };
        if !ended_any {
            tokio::select! {
                biased;
                _ = &mut stop => {
                    sink.bar.finish_and_clear();
                    let e = "stopped waiting".to_string();
                    return Ok(gave_up(sink, api, &e));
                }
                _ = tokio::time::sleep(b.poll_interval) => {}
            }
        }
    }
    sink.bar.finish_and_clear();
    sink.writer.flush(store)?;
    if !w.retry.is_empty() {
        sink.warn(format!("{} batch requests failed or expired: asked again live", w.retry.len()));
        let again = Jobs { todo: w.retry.iter(), ..pending };
        let status = drive(store, sink, opts, shared, again, stop).await?;
        if status != "done" {
            return Ok(status);
        }
    }
    Ok(if w.canceled {
        "canceled"
    } else if !budget_left {
        "budget_exhausted"
    } else {
        "done"
    })
}

/// What the wait has seen so far.
#[derive(Default)]
struct Waited {
    /// Items to ask again live.
    retry: Vec<String>,
    /// A batch was cancelled (by `runs cancel`, or at the provider's console).
    canceled: bool,
}

enum Stop {
    Provider(String),
    Run(RunError),
}

impl From<RunError> for Stop {
    fn from(e: RunError) -> Self {
        Stop::Run(e)
    }
}

impl From<crate::store::StoreError> for Stop {
    fn from(e: crate::store::StoreError) -> Self {
        Stop::Run(e.into())
    }
}

/// Ask each open batch where it stands; collect the ended ones. True when one ended.
async fn poll_round(
    store: &mut Store,
    sink: &mut Sink,
    api: &dyn BatchApi,
    open: Vec<RunBatch>,
    w: &mut Waited,
) -> Result<bool, Stop> {
    let mut ended_any = false;
    for batch in open {
        let status = with_retries(|| api.status(&batch.batch_id)).await.map_err(Stop::Provider)?;
        note_counts(store, sink, &batch, &status)?;
        if status.ended {
            collect(store, sink, api, batch, &status, w).await?;
            ended_any = true;
        }
    }
    Ok(ended_any)
}

/// Stop waiting: the batches go on at the provider; say how to pick them up.
fn gave_up(sink: &mut Sink, api: &dyn BatchApi, why: &str) -> &'static str {
    sink.bar.finish_and_clear();
    sink.warn(format!(
        "{}; the batches keep running at {}: `sift runs poll {}` collects them",
        crate::text::one_line(why),
        api.provider(),
        sink.run.name.as_deref().unwrap_or(&sink.run.id)
    ));
    "interrupted"
}

/// Status and result requests are retried (a 24-hour wait must not end on one 503).
const POLL_RETRIES: u32 = 4;

async fn with_retries<'a, T>(
    mut f: impl FnMut() -> futures::future::BoxFuture<'a, Result<T, ProviderError>>,
) -> Result<T, String> {
    let mut attempt = 0;
    loop {
        match f().await {
            Ok(v) => return Ok(v),
            Err(e) if e.retryable() && attempt < POLL_RETRIES => {
                let wait =
                    super::super::worker::backoff(Duration::from_secs(1), attempt, e.retry_after());
                tokio::time::sleep(wait).await;
                attempt += 1;
            }
            Err(e) => return Err(crate::text::one_line(&e.to_string())),
        }
    }
}

fn provider_failed(e: ProviderError) -> RunError {
    RunError::NoProvider(crate::text::one_line(&e.to_string()))
}

/// Turn the items still to ask into batches (items in open batches were taken out of the
/// run's to-do list already). Returns false when the daily budget left room for only part
/// of them: each request is counted at the most it can cost, so a batch never overspends.
async fn submit(
    store: &mut Store,
    sink: &mut Sink,
    pending: &mut Jobs<'_>,
    api: &dyn BatchApi,
    b: &BatchOptions,
) -> Result<bool, String> {
    let (max_requests, max_bytes) = api.limits();
    let max_requests = b.max_requests.clamp(1, max_requests);
    let mut room = budget_room(sink);
    let mut chunk = Chunk::default();
    loop {
        let job = pending.next(store, sink).map_err(|e| e.to_string())?;
        let Some(job) = job else { break };
        let worst = provider::estimate_tokens(&job.request.system)
            + provider::estimate_tokens(&job.request.user)
            + super::super::openai::max_tokens(&job.request);
        if room.is_some_and(|r| worst > r) {
            sink.report.not_asked += 1 + pending.remaining();
            pending.skip_rest();
            let limit = sink.report.budget_limit;
            sink.warn(format!(
                "the daily token budget of {limit} leaves no room for more requests at their \
                 most; the rest was not sent (raise --budget, or resume tomorrow with the same \
                 --name)"
            ));
            chunk.send(store, sink, api).await?;
            return Ok(false);
        }
        room = room.map(|r| r - worst);
        let line = api.line(&format!("r{}", chunk.items.len()), &job.request);
        let size = line.to_string().len() + 1;
        if chunk.items.len() >= max_requests || (chunk.bytes + size > max_bytes) {
            chunk.send(store, sink, api).await?;
        }
        // Custom ids are unique within a batch: numbered from the chunk's start.
        let custom_id = format!("r{}", chunk.items.len());
        let line = api.line(&custom_id, &job.request);
        chunk.bytes += size;
        chunk.lines.push(line);
        chunk.items.push(BatchItem { custom_id, ..batch_item(&job) });
    }
    chunk.send(store, sink, api).await?;
    Ok(true)
}

/// Tokens today's budget has left (None: no limit).
fn budget_room(sink: &Sink) -> Option<u64> {
    let b = lock(&sink.budget);
    (b.limit > 0).then(|| b.limit.saturating_sub(b.recorded))
}

/// The requests of the batch being written.
#[derive(Default)]
struct Chunk {
    lines: Vec<Value>,
    items: Vec<BatchItem>,
    bytes: usize,
}

impl Chunk {
    /// Create the batch (when there is anything to send) and start an empty one.
    async fn send(
        &mut self,
        store: &mut Store,
        sink: &mut Sink,
        api: &dyn BatchApi,
    ) -> Result<(), String> {
        if self.items.is_empty() {
            return Ok(());
        }
        let (lines, items) = (std::mem::take(&mut self.lines), std::mem::take(&mut self.items));
        self.bytes = 0;
        create(store, sink, api, lines, items).await.map_err(|e| e.to_string())
    }
}

fn batch_item(job: &Job) -> BatchItem {
    BatchItem {
        custom_id: String::new(),
        key: job.key.clone(),
        content_hash: job.content_hash.clone(),
        prompt_hash: job.prompt_hash.clone(),
    }
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
    store.batch_counts(&batch.run_id, &batch.batch_id, &status.counts, &now_rfc3339())?;
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

/// Read an ended batch's results into the run; requests that failed go to be asked again.
/// Items the run has answered already (a collection cut short and started again) are not
/// counted twice.
async fn collect(
    store: &mut Store,
    sink: &mut Sink,
    api: &dyn BatchApi,
    batch: RunBatch,
    status: &BatchStatus,
    w: &mut Waited,
) -> Result<(), Stop> {
    if let Some(why) = &status.refused {
        // Nothing of it ran: said, and left for a resume rather than asked live at twice the
        // price.
        sink.warn(format!("batch {} was refused by {}: {why}", batch.batch_id, api.provider()));
        sink.report.not_asked += batch.items.len();
        return finish_batch(store, sink, &batch, status).map_err(Stop::from);
    }
    let by_id: HashMap<&str, &BatchItem> =
        batch.items.iter().map(|i| (i.custom_id.as_str(), i)).collect();
    let done = store.run_item_keys(&sink.run.id, true)?;
    let mut seen: HashSet<String> = HashSet::new();
    let files = with_retries(|| api.results(status)).await.map_err(Stop::Provider)?;
    for mut file in files {
        while let Some(line) = file.next().await.map_err(|e| Stop::Provider(e.to_string()))? {
            let Some((cid, outcome)) = api.outcome(&line) else { continue };
            let Some(item) = by_id.get(cid.as_str()) else { continue };
            if !seen.insert(cid.clone()) || done.contains(&item.key) {
                continue;
            }
            match outcome {
                BatchOutcome::Answer(body) => {
                    answered(store, sink, api, item, &body, &mut w.retry)?
                }
                BatchOutcome::Failed { kind, message } => {
                    note_failure(sink, &kind, &message);
                    w.retry.push(item.key.clone());
                }
                BatchOutcome::Canceled => {
                    w.canceled = true;
                    sink.report.not_asked += 1;
                }
            }
        }
    }
    // Requests the results do not mention: never run (a cancelled batch) or lost (asked
    // again live, never dropped).
    let cancelled = status.status.starts_with("cancel")
        || batch.status == "canceling"
        || status.counts.get("canceled").and_then(Value::as_u64).is_some_and(|n| n > 0);
    w.canceled |= cancelled;
    for item in
        batch.items.iter().filter(|i| !seen.contains(&i.custom_id) && !done.contains(&i.key))
    {
        if cancelled {
            sink.report.not_asked += 1;
        } else {
            note_failure(sink, "batch_missing", "the batch's results do not mention it");
            w.retry.push(item.key.clone());
        }
    }
    finish_batch(store, sink, &batch, status).map_err(Stop::from)
}

/// The batch's answers are stored; it is collected.
fn finish_batch(
    store: &mut Store,
    sink: &mut Sink,
    batch: &RunBatch,
    status: &BatchStatus,
) -> Result<(), RunError> {
    sink.writer.flush(store)?;
    let now = now_rfc3339();
    store.batch_counts(&batch.run_id, &batch.batch_id, &status.counts, &now)?;
    store.batch_status(
        &batch.run_id,
        &batch.batch_id,
        "collected",
        &["submitted", "canceling"],
        &now,
    )?;
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
            // An unusable answer was billed all the same.
            let (tokens_in, tokens_out) = api.usage(body);
            let mut spent =
                Outcome::cached(it, RawAnswer::default(), &BatchSource(api), Vec::new());
            (spent.tokens_in, spent.tokens_out) = (tokens_in, tokens_out);
            sink.add_batch_tokens(tokens_in, tokens_out);
            return sink.account(store, &spent);
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
    for b in store.run_batches(&run.id)?.into_iter().filter(|b| b.status == "submitted") {
        api.cancel(&b.batch_id).await.map_err(provider_failed)?;
        let now = now_rfc3339();
        n += usize::from(store.batch_status(
            &run.id,
            &b.batch_id,
            "canceling",
            &["submitted"],
            &now,
        )?);
    }
    Ok(n)
}
