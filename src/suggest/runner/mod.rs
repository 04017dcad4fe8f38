//! The suggestion runner: picks items, asks providers with bounded concurrency, retries with
//! backoff, keeps to the daily token budget, reuses cached answers, falls back when a
//! provider fails, and records a resumable run with a per-item monitor log.

use std::collections::{BTreeMap, HashSet};
use std::future::Future;
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::Rng;
use serde::Serialize;
use serde_json::{Value, json};
use tokio::task::JoinSet;

use super::parse::RawAnswer;
use super::prompt::{CallPrompt, ExampleSource, NoExamples, PromptBundle};
use super::provider::{self, ProviderConfig, ProviderError, Request, Suggester};
use super::validate;
use super::worker::{
    Budget, Job, Ledger, Outcome, Shared, guarded_work, lock, needs_arbitration, note_answer,
    prefetch_calls,
};
use crate::model::{Run, RunState, Suggestion, now_rfc3339, sha256_hex};
use crate::store::{CachedAnswer, QueueFilter, Store, StoreError};
use crate::taxonomy::{LabelsFile, Taxonomy};
use crate::workspace::{SuggestSettings, Workspace};

mod batch;
mod setup;
mod sink;
mod writer;

pub use batch::{BatchOptions, cancel_batches};

use setup::*;
use sink::*;
use writer::*;

pub(in crate::suggest) use setup::{build_chain, today};
pub(in crate::suggest) use writer::MonitorLog;
pub(crate) use writer::summary_of;

/// Suggestions are written in batches of this size (and at the end, and on Ctrl-C).
const BATCH: usize = 32;

/// Rationale text kept per suggestion.
const MAX_RATIONALE_CHARS: usize = 1000;

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Taxonomy(#[from] crate::taxonomy::TaxonomyError),
    #[error("{0}")]
    Usage(String),
    #[error("no provider is usable: {0}")]
    NoProvider(String),
    #[error("run `{name}` exists with {what}; pick another --name to start a new run")]
    NameTaken { name: String, what: String },
    #[error(
        "run `{name}` is being worked by another sift process{holder}; wait for it to end (or \
         stop it), then run the same command again to resume"
    )]
    Busy { name: String, holder: String },
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
}

/// Everything that shapes a run; built from settings, then from the command line.
#[derive(Debug, Clone, Serialize)]
pub struct RunOptions {
    pub provider: String,
    pub fallback: Vec<String>,
    pub model: Option<String>,
    pub base_url: Option<String>,
    /// Set when `base_url` comes only from the shared workspace sift.toml (the file named):
    /// API keys are not sent there.
    #[serde(skip)]
    pub untrusted_base_url: Option<PathBuf>,
    pub dataset: Option<String>,
    /// Only these items (the TUI's focused item or queue).
    pub keys: Option<Vec<String>>,
    pub limit: Option<usize>,
    pub concurrency: usize,
    pub name: Option<String>,
    pub timeout: Duration,
    pub retries: u32,
    /// Base of the exponential backoff between retries.
    pub backoff: Duration,
    /// Tokens per UTC day over all runs; 0 means no limit.
    pub daily_budget: u64,
    pub arbitration: bool,
    pub arbitration_threshold: f64,
    pub arbitration_temperature: f64,
    pub temperature: f64,
    pub few_shot: usize,
    pub prompt_version: String,
    /// Through the provider's batch API (`--batch`), and how.
    #[serde(skip)]
    pub batch: Option<BatchOptions>,
    /// The workspace's prompt files (read when the run starts).
    #[serde(skip)]
    pub prompt_sources: super::prompt::PromptSources,
    /// The experiment this run is an arm of (`--experiment`), and its arm.
    pub experiment: Option<String>,
    pub arm: Option<String>,
    /// How an OpenAI-compatible server is asked for JSON: auto (negotiated), json_schema,
    /// json_object or text.
    pub response_format: String,
    /// `--concurrency` was given: a loopback server is not started at 1.
    #[serde(skip)]
    pub concurrency_given: bool,
    /// Skip items the resumed run already answered; false re-asks them (TUI requests).
    #[serde(skip)]
    pub skip_done: bool,
    /// Show a progress bar and warnings on stderr.
    #[serde(skip)]
    pub progress: bool,
    /// Called with each item's result as soon as it is stored (the TUI updates from it).
    #[serde(skip)]
    pub on_item: Option<OnItem>,
}

/// Callback receiving each item's result as it is stored.
#[derive(Clone)]
pub struct OnItem(pub Arc<dyn Fn(&ItemResult) + Send + Sync>);

impl std::fmt::Debug for OnItem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OnItem(..)")
    }
}

impl RunOptions {
    pub fn from_settings(s: &SuggestSettings) -> Self {
        RunOptions {
            provider: s.provider.clone(),
            fallback: s.fallback.clone(),
            model: s.model.clone(),
            base_url: s.base_url.clone(),
            untrusted_base_url: s.untrusted_base_url.clone(),
            dataset: None,
            keys: None,
            limit: None,
            concurrency: s.concurrency.max(1),
            name: None,
            timeout: Duration::from_secs(s.timeout_secs.max(1)),
            retries: s.retries,
            backoff: Duration::from_millis(500),
            daily_budget: s.daily_token_budget,
            arbitration: s.arbitration,
            arbitration_threshold: s.arbitration_threshold,
            arbitration_temperature: s.arbitration_temperature,
            temperature: s.temperature,
            few_shot: s.few_shot,
            response_format: s.response_format.clone(),
            concurrency_given: false,
            prompt_version: s.prompt_version.clone(),
            batch: None,
            prompt_sources: Default::default(),
            experiment: None,
            arm: None,
            skip_done: true,
            progress: false,
            on_item: None,
        }
    }

    /// Provider, model and base URL named on a command line, over the settings. A base URL
    /// given there is the user's own choice: keys may go to it.
    pub fn choose(&mut self, provider: Option<&str>, model: Option<&str>, base_url: Option<&str>) {
        if let Some(p) = provider {
            self.provider = p.to_string();
        }
        if let Some(m) = model {
            self.model = Some(m.to_string());
        }
        if let Some(u) = base_url {
            self.base_url = Some(u.to_string());
            self.untrusted_base_url = None;
        }
    }

    /// The settings snapshot stored with the run (base URL without credentials).
    fn snapshot(&self) -> Value {
        let mut v = serde_json::to_value(self).unwrap_or(Value::Null);
        if let Some(u) = &self.base_url {
            v["base_url"] = json!(provider::strip_userinfo(u));
        }
        v["timeout_secs"] = json!(self.timeout.as_secs_f64());
        v["batch"] = json!(self.batch.is_some());
        if let Some(b) = &self.batch {
            v["batch_size"] = json!(b.max_requests);
        }
        v["backoff_ms"] = json!(self.backoff.as_millis() as u64);
        if let Some(m) = v.as_object_mut() {
            m.remove("timeout");
            m.remove("backoff");
            m.remove("keys");
        }
        v
    }
}

/// What happened to one item.
#[derive(Debug, Clone, Serialize)]
pub struct ItemResult {
    pub key: String,
    /// The stored suggestion, if the item got one.
    pub suggestion: Option<Suggestion>,
    /// The provider that answered (a fallback's name when the primary failed).
    pub provider: Option<String>,
    pub cached: bool,
    pub error: Option<String>,
}

/// The outcome of a run (or of one resumed part of it).
#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    pub run: Run,
    /// Items asked this time (after skipping done ones and applying --limit).
    pub planned: usize,
    pub suggested: usize,
    pub cached: usize,
    pub abstained: usize,
    pub failed: usize,
    /// Items already answered in the resumed run.
    pub skipped: usize,
    /// Items not asked because the run stopped (budget or Ctrl-C).
    pub not_asked: usize,
    /// Answers per provider.
    pub providers: BTreeMap<String, usize>,
    pub retries: u32,
    pub dropped_labels: usize,
    /// Suggestions that break a consistency rule of labels.yml.
    pub inconsistent: usize,
    pub budget_used: u64,
    pub budget_limit: u64,
    pub monitor_log: PathBuf,
    pub warnings: Vec<String>,
    /// Failed attempts by kind (http_500, timeout, truncated, ...), and what the server said
    /// the first time each kind happened.
    pub errors_by_kind: BTreeMap<String, usize>,
    pub first_errors: BTreeMap<String, String>,
    /// Concurrency at the start (1 for a server on this machine unless --concurrency was
    /// given) and at the end of the run, after adapting to timeouts and rate limits.
    pub concurrency_start: usize,
    pub concurrency: usize,
    /// Provider batches submitted this time (`--batch`).
    pub batches: Vec<String>,
    /// Per-item results (for the TUI; not in --json output).
    #[serde(skip)]
    pub items: Vec<ItemResult>,
}

/// Run suggestions over the items chosen by `opts`, resuming the run named `opts.name` if it
/// exists. `stop` resolving (Ctrl-C) ends the run cleanly as `interrupted`.
pub async fn run_suggestions(
    ws: &Workspace,
    labels: &LabelsFile,
    store: &mut Store,
    opts: &RunOptions,
    examples: &dyn ExampleSource,
    stop: impl Future<Output = ()>,
) -> Result<RunReport, RunError> {
    // Polled once now so a Ctrl-C handler is in place before the (possibly long) job
    // preparation: an interrupt there leaves an interrupted run, not a killed process.
    let mut stop = std::pin::pin!(stop);
    let early = futures::FutureExt::now_or_never(stop.as_mut()).is_some();
    // A finished future must not be polled again: one that is already done stops at once.
    let stop = async move {
        if !early {
            stop.await;
        }
    };
    let rows = store.queue_rows(&QueueFilter {
        dataset: opts.dataset.clone(),
        keys: opts.keys.clone(),
        ..Default::default()
    })?;
    if rows.is_empty() {
        return Err(RunError::Usage(match &opts.dataset {
            Some(d) => format!("no items in dataset `{d}` (import or pull some first)"),
            None => "no items to suggest for (import or pull some first)".into(),
        }));
    }
    let tax = Arc::new(pick_taxonomy(ws, labels, &rows, opts.dataset.as_deref())?.clone());
    let mut warnings = Vec::new();
    let chain = build_chain(ws, opts, &tax, &mut warnings)?;
    let batch_api = match &opts.batch {
        Some(_) => Some(batch_client(opts, &tax, chain[0].as_ref())?),
        None => None,
    };
    if let Some(w) = stale_local_model(ws, labels, store, opts, &chain) {
        warnings.push(w);
    }
    let sources = super::prompt::PromptSources::load(&ws.root)?;
    let opts = &RunOptions { prompt_sources: sources, ..opts.clone() };
    let mut bundle =
        PromptBundle::with_sources(&tax, &opts.prompt_version, Vec::new(), &opts.prompt_sources);
    let policy = examples.describe();
    // Offline providers do not read prompts; examples would only cost lookups.
    let few_shot = if chain[0].remote() { opts.few_shot } else { 0 };
    if few_shot > 0 && policy != "none" {
        bundle.example_policy = format!("{policy}; up to {few_shot} per item");
    }
    // One process works a named run at a time (two would ask every item twice); the lock
    // goes with the process, however it ends.
    let _lock = match &opts.name {
        Some(name) => Some(lock_run(ws, name)?),
        None => None,
    };
    let scope = &rows[..opts.limit.unwrap_or(rows.len()).min(rows.len())];
    // An experiment's arms must cover the same items: checked before any run is recorded.
    if let (Some(e), Some(arm)) = (&opts.experiment, &opts.arm) {
        let fingerprint = scope_fingerprint(store, scope)?;
        let this = opts.name.as_deref();
        match super::lifecycle::pairing_conflict(store, this, &fingerprint, e, arm) {
            Ok(None) => {}
            Ok(Some(why)) => return Err(RunError::Usage(why)),
            Err(e) => return Err(RunError::Usage(e.to_string())),
        }
    }
    let run = open_run(store, opts, &tax, chain[0].as_ref(), &bundle, &mut warnings)?;
    // --limit picks the first N items of the scope (above), so re-running the same command
    // after an interruption finishes the same items.
    let done =
        if opts.skip_done { store.run_item_keys(&run.id, true)? } else { Default::default() };
    // Items in the run's open batches are the batches' to answer (collecting them there).
    let waiting: HashSet<String> = match &opts.batch {
        Some(_) => store
            .run_batches(&run.id)?
            .into_iter()
            .filter(crate::store::RunBatch::open)
            .flat_map(|b| b.items.into_iter().map(|i| i.key))
            .collect(),
        None => HashSet::new(),
    };
    let todo: Vec<String> = scope
        .iter()
        .filter(|r| !done.contains(&r.key) && !waiting.contains(&r.key))
        .map(|r| r.key.clone())
        .collect();

    let mut sink = Sink::open(ws, store, opts, run, tax.clone(), warnings)?;
    let collecting = scope.iter().filter(|r| waiting.contains(&r.key)).count();
    sink.report.planned = todo.len() + collecting;
    sink.report.skipped = scope.len() - todo.len() - collecting;
    if sink.run.dataset_fingerprint.is_empty() {
        sink.run.dataset_fingerprint = scope_fingerprint(store, scope)?;
        store.save_run(&sink.run)?;
    }
    let source: &dyn ExampleSource = if few_shot > 0 { examples } else { &NoExamples };
    let fresh = wanted_fresh(store, &todo)?;
    let primary = chain[0].clone();
    // Offline providers do not read prompts: one call answers every dimension.
    let calls: Arc<[CallPrompt]> =
        if primary.remote() { bundle.calls.clone().into() } else { Arc::from(Vec::new()) };
    let jobs = Jobs {
        todo: todo.iter(),
        opts,
        bundle: &bundle,
        calls,
        primary: primary.as_ref(),
        examples: source,
        fresh: &fresh,
    };
    sink.warn_at_start(opts.progress);
    let shared = Arc::new(Shared::new(chain, tax, sink.budget.clone(), opts));
    let status = match &batch_api {
        Some(api) => {
            batch::drive_batch(store, &mut sink, opts, shared, jobs, api.as_ref(), stop).await?
        }
        None => drive(store, &mut sink, opts, shared, jobs, stop).await?,
    };
    if let Some(format) = primary.negotiated() {
        sink.warn(format!(
            "the server does not take a JSON-schema response format: answers were asked as \
             {format} (recorded in the run)"
        ));
        sink.run.config["response_format_used"] = json!(format);
    }
    let run_id = sink.run.id.clone();
    // The sink writes the last suggestions when it finishes; only then are they answered.
    let report = sink.finish(store, status)?;
    answered_fresh(store, &run_id, &fresh)?;
    Ok(report)
}

/// The batch API of the run's provider, when a batch run can use it.
fn batch_client(
    opts: &RunOptions,
    tax: &Taxonomy,
    primary: &dyn Suggester,
) -> Result<Box<dyn crate::suggest::batch_api::BatchApi>, RunError> {
    if primary.provider() != opts.provider {
        return Err(RunError::NoProvider(format!(
            "--batch needs {} itself, which is not usable here",
            opts.provider
        )));
    }
    if !tax.call_parts().is_empty() {
        return Err(RunError::Usage(format!(
            "--batch asks each item in one request, and taxonomy `{}` is split into calls; \
             run it without --batch",
            tax.name
        )));
    }
    if let Some(file) = &opts.untrusted_base_url {
        return Err(RunError::Usage(format!(
            "the API key is not sent to the base URL only {} names; give it with --base-url",
            file.display()
        )));
    }
    let cfg = crate::suggest::batch_api::BatchConfig {
        model: primary.model().to_string(),
        base_url: opts.base_url.clone(),
        timeout: opts.timeout,
    };
    crate::suggest::batch_api::build(&opts.provider, &cfg).map_err(|e| match e {
        ProviderError::NotConfigured { .. } => RunError::Usage(e.to_string()),
        other => RunError::NoProvider(other.to_string()),
    })
}

/// Items whose issue asked for fresh suggestions (`/label auto` from an authorised user).
fn wanted_fresh(store: &Store, todo: &[String]) -> Result<HashSet<String>, RunError> {
    let mut fresh = HashSet::new();
    for key in todo.iter().filter(|k| k.starts_with("github:")) {
        if store.issue_flags(key)?.is_some_and(|(_, wants)| wants) {
            fresh.insert(key.clone());
        }
    }
    Ok(fresh)
}

/// Clear the `/label auto` request of the items this run answered.
fn answered_fresh(store: &Store, run: &str, fresh: &HashSet<String>) -> Result<(), RunError> {
    if fresh.is_empty() {
        return Ok(());
    }
    let answered = store.run_item_keys(run, true)?;
    for key in fresh.iter().filter(|k| answered.contains(*k)) {
        let off = store.issue_flags(key)?.is_some_and(|(off, _)| off);
        store.set_issue_flags(key, off, false)?;
    }
    Ok(())
}

/// Items turned into jobs as slots free up, so the first request goes out at once: a job
/// reads its item and, with few-shot examples, runs a similarity query (that took 3.5-5 s
/// for a few hundred items when every job was prepared before the first request).
struct Jobs<'a> {
    todo: std::slice::Iter<'a, String>,
    opts: &'a RunOptions,
    bundle: &'a PromptBundle,
    /// The prompt's calls, when it has several and the primary reads prompts.
    calls: Arc<[CallPrompt]>,
    primary: &'a dyn Suggester,
    examples: &'a dyn ExampleSource,
    /// `/label auto` on an issue asks for a fresh suggestion: no cached answer for it.
    fresh: &'a HashSet<String>,
}

impl Jobs<'_> {
    /// The next item that needs a request; items with a usable cached answer are answered
    /// on the spot.
    fn next(&mut self, store: &mut Store, sink: &mut Sink) -> Result<Option<Job>, RunError> {
        while let Some(key) = self.todo.next() {
            if let Some(job) = self.prepare(store, sink, key)? {
                return Ok(Some(job));
            }
        }
        Ok(None)
    }

    /// Items not turned into jobs yet.
    fn remaining(&self) -> usize {
        self.todo.len()
    }

    /// Leave the items not turned into jobs yet (the budget has no room for them).
    fn skip_rest(&mut self) {
        let rest = self.todo.as_slice();
        self.todo = rest[rest.len()..].iter();
    }

    fn prepare(
        &self,
        store: &mut Store,
        sink: &mut Sink,
        key: &str,
    ) -> Result<Option<Job>, RunError> {
        let Some(item) = store.item(key)? else { return Ok(None) };
        let item = Arc::new(item);
        let content_hash = item.content_hash();
        let few_shot = self.opts.few_shot;
        let shots = if few_shot > 0 { self.examples.examples(&item, few_shot) } else { vec![] };
        let item_bundle = self.bundle.with_examples(shots);
        // Examples are part of what the model sees, so they are part of the cache key.
        let prompt_hash = if item_bundle.examples.is_empty() {
            sink.run.prompt_hash.clone()
        } else {
            item_bundle.hash()
        };
        let titles: Vec<String> = item_bundle.examples.iter().map(|e| e.title.clone()).collect();
        let mut cached = None;
        let mut call_cached = Vec::new();
        let use_cache = self.primary.remote() && !self.fresh.contains(key);
        if use_cache && !self.calls.is_empty() {
            let threshold = self.opts.arbitration.then_some(self.opts.arbitration_threshold);
            let model = self.primary.model();
            let (found, whole) = prefetch_calls(&self.calls, &prompt_hash, threshold, |k| {
                let hit = store.cache_get(&content_hash, k, model)?;
                Ok::<_, RunError>(hit.and_then(|c| serde_json::from_str(&c.answer).ok()))
            })?;
            if let Some(raw) = whole {
                sink.handle(store, Outcome::cached(item, raw, self.primary, titles))?;
                return Ok(None);
            }
            call_cached = found;
        } else if use_cache
            && let Some(c) = store.cache_get(&content_hash, &prompt_hash, self.primary.model())?
            && let Ok(raw) = serde_json::from_str::<RawAnswer>(&c.answer)
        {
            // With arbitration on, a low-confidence cached answer still gets its re-ask.
            let threshold = self.opts.arbitration_threshold;
            if !(self.opts.arbitration && needs_arbitration(&sink.writer.tax, &raw, threshold)) {
                sink.handle(store, Outcome::cached(item, raw, self.primary, titles))?;
                return Ok(None);
            }
            cached = Some(raw);
        }
        Ok(Some(Job {
            key: key.to_string(),
            content_hash,
            prompt_hash,
            examples: titles,
            request: Request {
                system: item_bundle.system_with_taxonomy(),
                user: item_bundle.user_message(&item),
                item,
                schema: self.bundle.schema.clone(),
                temperature: self.opts.temperature,
            },
            cached,
            calls: self.calls.clone(),
            call_cached,
        }))
    }
}

/// The fingerprint of the items a run covers: every item of its scope, done or not, so a
/// resume records the same one as the start.
fn scope_fingerprint(store: &Store, scope: &[crate::store::QueueRow]) -> Result<String, RunError> {
    let mut by_dataset: BTreeMap<&str, std::collections::HashMap<String, String>> = BTreeMap::new();
    let mut hashes = Vec::with_capacity(scope.len());
    for r in scope {
        if !by_dataset.contains_key(r.dataset.as_str()) {
            by_dataset.insert(&r.dataset, store.content_hashes(&r.dataset)?);
        }
        if let Some(h) = by_dataset.get(r.dataset.as_str()).and_then(|m| m.get(&r.key)) {
            hashes.push(h.clone());
        }
    }
    hashes.sort();
    Ok(sha256_hex(&hashes.concat()))
}

/// Keep up to `concurrency` jobs in flight until all are done, the budget is spent, or
/// `stop` resolves. Returns the run's status.
async fn drive(
    store: &mut Store,
    sink: &mut Sink,
    opts: &RunOptions,
    shared: Arc<Shared>,
    mut pending: Jobs<'_>,
    stop: impl Future<Output = ()>,
) -> Result<&'static str, RunError> {
    sink.bar = progress_bar(opts.progress, pending.remaining());
    let mut status = "done";
    let mut flow = Flow::new(opts);
    sink.report.concurrency_start = flow.limit;
    // A JoinSet aborts whatever is still in flight when it is dropped (Ctrl-C).
    let mut set: JoinSet<Outcome> = JoinSet::new();
    tokio::pin!(stop);
    loop {
        while set.len() < flow.limit && !shared.halt.load(Ordering::SeqCst) {
            let Some(job) = pending.next(store, sink)? else { break };
            set.spawn(guarded_work(shared.clone(), job));
        }
        let next = tokio::select! {
            biased;
            _ = &mut stop => {
                shared.halt.store(true, Ordering::SeqCst);
                status = "interrupted";
                break;
            }
            n = set.join_next() => n,
        };
        let Some(joined) = next else { break };
        let Ok(out) = joined else { continue };
        if let Some(lowered) = flow.observe(&out, opts.timeout) {
            sink.warn(format!(
                "the server is slow or limiting requests: concurrency lowered to {lowered}"
            ));
        }
        if out.over_budget && status == "done" {
            status = "budget_exhausted";
            sink.warn(format!(
                "daily token budget of {} reached; stopping cleanly (resume tomorrow with the same --name)",
                opts.daily_budget
            ));
        }
        if out.over_budget || out.halted {
            shared.halt.store(true, Ordering::SeqCst);
        }
        sink.settle(store, out)?;
    }
    // Answers that arrived before the stop was seen were paid for: keep them.
    while let Some(joined) = set.try_join_next() {
        if let Ok(out) = joined {
            sink.settle(store, out)?;
        }
    }
    set.abort_all();
    sink.report.not_asked += pending.remaining() + set.len();
    sink.report.concurrency = flow.limit;
    sink.bar.finish_and_clear();
    Ok(status)
}

/// Requests in flight, adapted to the server (AIMD): halved when requests time out or are
/// turned away (429, 503), lowered by one when answers take far longer than the quickest so
/// far (the server is queuing them), raised by one after a round of quick answers, never
/// above the configured concurrency. A server on this machine (llama.cpp, Ollama) usually has one
/// slot: it starts at 1 unless `--concurrency` was given, so the timeout measures the
/// answer, not the queue in front of it.
struct Flow {
    limit: usize,
    max: usize,
    fast: usize,
    /// Items finished since the last cut: requests that were already in flight when the
    /// limit was halved report the same congestion, and must not halve it again.
    since_cut: usize,
    /// The quickest answer so far, in ms: what an answer takes when it does not queue.
    best_ms: Option<u64>,
}

impl Flow {
    fn new(opts: &RunOptions) -> Self {
        let max = opts.concurrency.max(1);
        let local = opts.base_url.as_deref().is_some_and(is_loopback);
        let limit = if local && !opts.concurrency_given { 1 } else { max };
        Flow { limit, max, fast: 0, since_cut: usize::MAX, best_ms: None }
    }

    /// Adapt to one finished item; returns the new limit when it was lowered.
    fn observe(&mut self, out: &Outcome, timeout: Duration) -> Option<usize> {
        let congested = out
            .attempt_errors
            .iter()
            .any(|k| matches!(k.as_str(), "timeout" | "http_429" | "http_503"));
        self.since_cut = self.since_cut.saturating_add(1);
        if congested {
            self.fast = 0;
            if self.since_cut < self.limit {
                return None;
            }
            let lowered = (self.limit / 2).max(1);
            let changed = lowered < self.limit;
            self.limit = lowered;
            self.since_cut = 0;
            return changed.then_some(lowered);
        }
        if out.answer.is_none() || out.cached {
            return None;
        }
        let ms = out.slowest_call_ms.unwrap_or(out.latency_ms).max(1);
        let best = *self.best_ms.get_or_insert(ms);
        self.best_ms = Some(best.min(ms));
        // Nearly twice the quickest answer with more than one in flight: they wait for each other
        // (a one-slot server), and more in flight would only make the timeout measure a queue.
        if self.limit > 1 && ms * 5 > best * 9 && self.since_cut >= self.limit {
            self.limit -= 1;
            self.fast = 0;
            self.since_cut = 0;
            return None;
        }
        let quick = ms * 3 <= best * 4 && u128::from(ms) * 4 < timeout.as_millis();
        if quick {
            self.fast += 1;
            if self.fast >= self.limit && self.limit < self.max {
                self.limit += 1;
                self.fast = 0;
            }
        }
        None
    }
}

/// A base URL on this machine.
fn is_loopback(url: &str) -> bool {
    let Ok(u) = reqwest::Url::parse(url) else { return false };
    let Some(host) = u.host_str() else { return false };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Estimated cost in US dollars from list prices per million tokens (input, output) of
/// well-known models; 0 for unknown and local ones.
pub fn estimate_cost(model: &str, tokens_in: i64, tokens_out: i64) -> f64 {
    const PRICES: &[(&str, f64, f64)] = &[
        ("claude-opus", 15.0, 75.0),
        ("claude-sonnet", 3.0, 15.0),
        ("claude-3-5-sonnet", 3.0, 15.0),
        ("claude-haiku-4", 1.0, 5.0),
        ("claude-3-5-haiku", 0.8, 4.0),
        ("gpt-4o-mini", 0.15, 0.6),
        ("gpt-4o", 2.5, 10.0),
        ("gpt-4.1-mini", 0.4, 1.6),
        ("gpt-4.1", 2.0, 8.0),
    ];
    PRICES
        .iter()
        .filter(|(p, _, _)| model.starts_with(p))
        .max_by_key(|(p, _, _)| p.len())
        .map(|(_, i, o)| (tokens_in as f64 * i + tokens_out as f64 * o) / 1e6)
        .unwrap_or(0.0)
}

/// For the TUI: suggest for `keys`, blocking the calling thread (call it from a worker
/// thread; it runs its own async runtime on a thread of its own, so it also works from
/// inside another runtime). Opens its own store connection (the UI keeps its own), uses the
/// same cache, budget, retries and fallback as `sift suggest`, and records the answers in a
/// run named `tui-<provider>-<day>` (a new name if that run was made with another model or
/// prompt). `on_item` gets each item's result as soon as it is stored. Never prints.
pub fn suggest_keys_blocking(
    ws: &Workspace,
    labels: &LabelsFile,
    keys: Vec<String>,
    provider: Option<String>,
    examples: &dyn ExampleSource,
    on_item: Option<OnItem>,
) -> Result<RunReport, RunError> {
    let mut opts = RunOptions::from_settings(&ws.settings.suggest);
    if let Some(p) = provider {
        opts.provider = p;
    }
    opts.keys = Some(keys);
    opts.skip_done = false;
    opts.progress = false;
    opts.on_item = on_item;
    let base = format!("tui-{}-{}", opts.provider, today());
    opts.name = Some(base.clone());
    std::thread::scope(|scope| {
        let worker = scope.spawn(|| {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .map_err(|source| RunError::Io { path: ws.store_path(), source })?;
            let mut store = ws.open_store()?;
            let mut run = |o: &RunOptions| {
                rt.block_on(run_suggestions(
                    ws,
                    labels,
                    &mut store,
                    o,
                    examples,
                    std::future::pending(),
                ))
            };
            match run(&opts) {
                Err(RunError::NameTaken { .. }) => {
                    let nonce: u32 = rand::rng().random();
                    opts.name = Some(format!("{base}-{nonce:08x}"));
                    run(&opts)
                }
                other => other,
            }
        });
        worker
            .join()
            .unwrap_or_else(|_| Err(RunError::Usage("the suggestion worker panicked".into())))
    })
}

#[cfg(test)]
mod flow_tests {
    use super::*;

    fn opts(base: &str, concurrency: usize, given: bool) -> RunOptions {
        let mut o = RunOptions::from_settings(&SuggestSettings::default());
        o.base_url = Some(base.into());
        o.concurrency = concurrency;
        o.concurrency_given = given;
        o
    }

    fn outcome(latency_ms: u64, errors: &[&str]) -> Outcome {
        let item = Arc::new(crate::model::Item { key: "k".into(), ..Default::default() });
        let mut o = Outcome::cached(item, RawAnswer::default(), &Fake, Vec::new());
        o.cached = false;
        o.latency_ms = latency_ms;
        o.attempt_errors = errors.iter().map(|e| e.to_string()).collect();
        if !errors.is_empty() {
            o.answer = None;
        }
        o
    }

    struct Fake;
    impl Suggester for Fake {
        fn provider(&self) -> &str {
            "openai"
        }
        fn model(&self) -> &str {
            "m"
        }
        fn remote(&self) -> bool {
            true
        }
        fn suggest<'a>(
            &'a self,
            _: &'a Request,
        ) -> futures::future::BoxFuture<'a, Result<provider::Answer, provider::ProviderError>>
        {
            Box::pin(async {
                Err(provider::ProviderError::NotConfigured {
                    provider: "f".into(),
                    message: "m".into(),
                })
            })
        }
    }

    const T: Duration = Duration::from_secs(60);

    #[test]
    fn a_loopback_server_starts_at_one_and_a_queue_keeps_it_low() {
        let mut f = Flow::new(&opts("http://127.0.0.1:8011/v1", 8, false));
        assert_eq!(f.limit, 1);
        assert_eq!(Flow::new(&opts("http://127.0.0.1:8011/v1", 8, true)).limit, 8);
        assert_eq!(Flow::new(&opts("https://api.example.com/v1", 8, false)).limit, 8);
        assert_eq!(Flow::new(&opts("http://[::1]:8011", 8, false)).limit, 1);
        // One slot: two in flight take twice as long, so it settles back to one.
        f.observe(&outcome(1000, &[]), T);
        assert_eq!(f.limit, 2, "a quick answer raises it");
        f.observe(&outcome(2000, &[]), T);
        f.observe(&outcome(2000, &[]), T);
        assert_eq!(f.limit, 1, "answers twice as slow mean a queue");
    }

    #[test]
    fn timeouts_halve_once_per_round_and_quick_answers_raise_it() {
        let mut f = Flow::new(&opts("https://api.example.com/v1", 8, true));
        // Eight requests in flight time out together: one halving for the round, not three.
        assert_eq!(f.observe(&outcome(60_000, &["timeout"]), T), Some(4));
        for _ in 0..3 {
            assert_eq!(f.observe(&outcome(60_000, &["timeout"]), T), None);
        }
        assert_eq!(f.limit, 4);
        assert_eq!(f.observe(&outcome(60_000, &["http_429"]), T), Some(2));
        for _ in 0..4 {
            f.observe(&outcome(500, &[]), T);
        }
        assert!(f.limit > 2, "quick answers raise it again: {}", f.limit);
        assert!(f.limit <= 8);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cost_uses_the_longest_matching_price() {
        assert!((estimate_cost("gpt-4o-mini-2024", 1_000_000, 0) - 0.15).abs() < 1e-9);
        assert!((estimate_cost("gpt-4o", 0, 1_000_000) - 10.0).abs() < 1e-9);
        assert_eq!(estimate_cost("llama3", 10, 10), 0.0);
    }
}
