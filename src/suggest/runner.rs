//! The suggestion runner: picks items, asks providers with bounded concurrency, retries with
//! backoff, keeps to the daily token budget, reuses cached answers, falls back when a
//! provider fails, and records a resumable run with a per-item monitor log.

use std::collections::{BTreeMap, HashSet};
use std::future::Future;
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::Rng;
use serde::Serialize;
use serde_json::{Value, json};
use tokio::task::JoinSet;

use super::parse::RawAnswer;
use super::prompt::{ExampleSource, NoExamples, PromptBundle};
use super::provider::{self, ProviderConfig, Request, Suggester};
use super::validate;
use super::worker::{Budget, Job, Outcome, Shared, lock, needs_arbitration, work};
use crate::model::{Run, RunState, Suggestion, now_rfc3339, sha256_hex};
use crate::store::{CachedAnswer, QueueFilter, Store, StoreError};
use crate::taxonomy::{LabelsFile, Taxonomy};
use crate::workspace::{SuggestSettings, Workspace};

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
    pub temperature: f64,
    pub few_shot: usize,
    pub prompt_version: String,
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
            temperature: s.temperature,
            few_shot: s.few_shot,
            prompt_version: s.prompt_version.clone(),
            skip_done: true,
            progress: false,
            on_item: None,
        }
    }

    /// The settings snapshot stored with the run (base URL without credentials).
    fn snapshot(&self) -> Value {
        let mut v = serde_json::to_value(self).unwrap_or(Value::Null);
        if let Some(u) = &self.base_url {
            v["base_url"] = json!(provider::strip_userinfo(u));
        }
        v["timeout_secs"] = json!(self.timeout.as_secs_f64());
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
    pub budget_used: u64,
    pub budget_limit: u64,
    pub monitor_log: PathBuf,
    pub warnings: Vec<String>,
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
    if let Some(w) = stale_local_model(ws, labels, store, opts, &chain) {
        warnings.push(w);
    }
    let mut bundle = PromptBundle::new(&tax, &opts.prompt_version, Vec::new());
    let policy = examples.describe();
    // Offline providers do not read prompts; examples would only cost lookups.
    let few_shot = if chain[0].remote() { opts.few_shot } else { 0 };
    if few_shot > 0 && policy != "none" {
        bundle.example_policy = format!("{policy}; up to {few_shot} per item");
    }
    let run = open_run(store, opts, &tax, chain[0].as_ref(), &bundle)?;
    // --limit picks the first N items of the scope, so re-running the same command after
    // an interruption finishes the same items.
    let scope = &rows[..opts.limit.unwrap_or(rows.len()).min(rows.len())];
    let done =
        if opts.skip_done { store.run_item_keys(&run.id, true)? } else { Default::default() };
    let todo: Vec<String> =
        scope.iter().filter(|r| !done.contains(&r.key)).map(|r| r.key.clone()).collect();

    let mut sink = Sink::open(ws, store, opts, run, tax.clone(), warnings)?;
    sink.report.planned = todo.len();
    sink.report.skipped = scope.len() - todo.len();
    let source: &dyn ExampleSource = if few_shot > 0 { examples } else { &NoExamples };
    let (jobs, fresh) =
        prepare_jobs(store, &mut sink, opts, &bundle, chain[0].as_ref(), source, &todo)?;
    sink.warn_at_start(opts.progress);
    let shared = Arc::new(Shared {
        chain,
        tax,
        budget: sink.budget.clone(),
        retries: opts.retries,
        backoff: opts.backoff,
        arbitration: opts.arbitration,
        temperature: opts.temperature,
        failures_in_a_row: AtomicU32::new(0),
        skipped_primary: AtomicU32::new(0),
        halt: AtomicBool::new(false),
    });
    let status = drive(store, &mut sink, opts, shared, jobs, stop).await?;
    let run_id = sink.run.id.clone();
    // The sink writes the last suggestions when it finishes; only then are they answered.
    let report = sink.finish(store, status)?;
    answered_fresh(store, &run_id, &fresh)?;
    Ok(report)
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

/// Turn items into jobs; items with a cached answer are answered on the spot.
fn prepare_jobs(
    store: &mut Store,
    sink: &mut Sink,
    opts: &RunOptions,
    bundle: &PromptBundle,
    primary: &dyn Suggester,
    examples: &dyn ExampleSource,
    todo: &[String],
) -> Result<(Vec<Job>, HashSet<String>), RunError> {
    // `/label auto` on an issue asks for a fresh suggestion: no cached answer for it.
    let fresh = wanted_fresh(store, todo)?;
    let mut jobs = Vec::new();
    let mut hashes = Vec::new();
    for key in todo {
        let Some(item) = store.item(key)? else { continue };
        let content_hash = item.content_hash();
        hashes.push(content_hash.clone());
        let shots =
            if opts.few_shot > 0 { examples.examples(&item, opts.few_shot) } else { vec![] };
        let item_bundle = bundle.with_examples(shots);
        // Examples are part of what the model sees, so they are part of the cache key.
        let prompt_hash = if item_bundle.examples.is_empty() {
            sink.run.prompt_hash.clone()
        } else {
            item_bundle.hash()
        };
        let titles: Vec<String> = item_bundle.examples.iter().map(|e| e.title.clone()).collect();
        let mut cached = None;
        if primary.remote()
            && !fresh.contains(key)
            && let Some(c) = store.cache_get(&content_hash, &prompt_hash, primary.model())?
            && let Ok(raw) = serde_json::from_str::<RawAnswer>(&c.answer)
        {
            // With arbitration on, a low-confidence cached answer still gets its re-ask.
            if !(opts.arbitration && needs_arbitration(&sink.writer.tax, &raw)) {
                sink.handle(store, Outcome::cached(key, raw, primary, titles))?;
                continue;
            }
            cached = Some(raw);
        }
        jobs.push(Job {
            key: key.clone(),
            content_hash,
            prompt_hash,
            examples: titles,
            request: Request {
                system: item_bundle.system_with_taxonomy(),
                user: item_bundle.user_message(&item),
                item: Arc::new(item),
                schema: bundle.schema.clone(),
                temperature: opts.temperature,
            },
            cached,
        });
    }
    if sink.run.dataset_fingerprint.is_empty() {
        hashes.sort();
        sink.run.dataset_fingerprint = sha256_hex(&hashes.concat());
        store.save_run(&sink.run)?;
    }
    Ok((jobs, fresh))
}

/// Keep up to `concurrency` jobs in flight until all are done, the budget is spent, or
/// `stop` resolves. Returns the run's status.
async fn drive(
    store: &mut Store,
    sink: &mut Sink,
    opts: &RunOptions,
    shared: Arc<Shared>,
    jobs: Vec<Job>,
    stop: impl Future<Output = ()>,
) -> Result<&'static str, RunError> {
    sink.bar = progress_bar(opts.progress, jobs.len());
    let mut status = "done";
    let mut pending = jobs.into_iter();
    // A JoinSet aborts whatever is still in flight when it is dropped (Ctrl-C).
    let mut set: JoinSet<Outcome> = JoinSet::new();
    tokio::pin!(stop);
    loop {
        while set.len() < opts.concurrency.max(1) && !shared.halt.load(Ordering::SeqCst) {
            let Some(job) = pending.next() else { break };
            set.spawn(work(shared.clone(), job));
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
    sink.report.not_asked += pending.len() + set.len();
    sink.bar.finish_and_clear();
    Ok(status)
}

/// Where outcomes go: the store (suggestions, cache, budget, run), the monitor log, the
/// report, and the terminal.
struct Sink {
    run: Run,
    report: RunReport,
    log: MonitorLog,
    writer: Writer,
    day: String,
    used_at_start: u64,
    /// Today's token budget, shared with the in-flight requests.
    budget: Arc<Mutex<Budget>>,
    warned_budget: bool,
    progress: bool,
    on_item: Option<OnItem>,
    handled: usize,
    bar: indicatif::ProgressBar,
}

impl Sink {
    fn open(
        ws: &Workspace,
        store: &Store,
        opts: &RunOptions,
        run: Run,
        tax: Arc<Taxonomy>,
        warnings: Vec<String>,
    ) -> Result<Self, RunError> {
        let log_path = ws.logs_dir().join(format!("suggest-{}.jsonl", run.id));
        let day = today();
        let used_at_start = store.budget_used(&day)?;
        let report = RunReport {
            run: run.clone(),
            planned: 0,
            suggested: 0,
            cached: 0,
            abstained: 0,
            failed: 0,
            skipped: 0,
            not_asked: 0,
            providers: BTreeMap::new(),
            retries: 0,
            dropped_labels: 0,
            budget_used: used_at_start,
            budget_limit: opts.daily_budget,
            monitor_log: log_path.clone(),
            warnings,
            items: Vec::new(),
        };
        Ok(Sink {
            writer: Writer { batch: Vec::new(), tax, run_id: run.id.clone() },
            run,
            report,
            log: MonitorLog::open(&log_path)?,
            day,
            used_at_start,
            budget: Arc::new(Mutex::new(Budget::new(opts.daily_budget, used_at_start))),
            warned_budget: false,
            progress: opts.progress,
            on_item: opts.on_item.clone(),
            handled: 0,
            bar: indicatif::ProgressBar::hidden(),
        })
    }

    /// Print the warnings gathered so far (provider substitutions, budget at 80%).
    fn warn_at_start(&mut self, show: bool) {
        if let Some(w) = budget_warning(self.used_at_start, self.report.budget_limit) {
            self.warned_budget = true;
            self.report.warnings.push(w);
        }
        if show {
            for w in &self.report.warnings {
                eprintln!("warning: {}", crate::text::one_line(w));
            }
        }
    }

    fn warn(&mut self, msg: String) {
        if self.progress {
            self.bar.suspend(|| eprintln!("warning: {}", crate::text::one_line(&msg)));
        }
        self.report.warnings.push(msg);
    }

    /// A finished item: its answer is stored, or, when it was never asked (budget, stop),
    /// only what it spent is counted.
    fn settle(&mut self, store: &mut Store, out: Outcome) -> Result<(), RunError> {
        if out.over_budget || out.halted {
            self.report.not_asked += 1;
            return self.account(store, &out);
        }
        self.handle(store, out)?;
        self.bar.inc(1);
        Ok(())
    }

    /// Count an item's tokens against today's budget (a new day starts a new budget) and
    /// the run.
    fn account(&mut self, store: &mut Store, out: &Outcome) -> Result<(), RunError> {
        let day = today();
        if day != self.day {
            self.day = day;
            self.warned_budget = false;
            let total = store.budget_used(&self.day)?;
            lock(&self.budget).stored(0, total);
        }
        let spent = out.tokens_in + out.tokens_out;
        if spent > 0 {
            let total = store.budget_add(&self.day, spent)?;
            lock(&self.budget).stored(spent, total);
            if !self.warned_budget
                && let Some(w) = budget_warning(total, self.report.budget_limit)
            {
                self.warned_budget = true;
                self.warn(w);
            }
        }
        self.run.tokens_in += out.tokens_in as i64;
        self.run.tokens_out += out.tokens_out as i64;
        Ok(())
    }

    fn handle(&mut self, store: &mut Store, out: Outcome) -> Result<(), RunError> {
        self.account(store, &out)?;
        self.writer.handle(store, &mut self.report, &mut self.log, out)?;
        if let Some(f) = &self.on_item
            && let Some(last) = self.report.items.last()
        {
            // Stored before the callback runs (batches are flushed first), so the TUI
            // can read the suggestion back from its own connection.
            self.writer.flush(store)?;
            (f.0)(last);
        }
        self.handled += 1;
        // Keep the stored run's token counts current, so a crash loses little.
        if self.handled.is_multiple_of(BATCH) {
            self.run.cost_usd =
                estimate_cost(&self.run.model, self.run.tokens_in, self.run.tokens_out);
            store.save_run(&self.run)?;
        }
        Ok(())
    }

    fn finish(mut self, store: &mut Store, status: &str) -> Result<RunReport, RunError> {
        self.warn_fallbacks();
        self.writer.flush(store)?;
        self.log.flush()?;
        let all_failed = self.report.suggested == 0 && self.report.failed > 0;
        self.run.status = if status == "done" && all_failed { "failed" } else { status }.into();
        self.run.finished_at = Some(now_rfc3339());
        self.run.cost_usd = estimate_cost(&self.run.model, self.run.tokens_in, self.run.tokens_out);
        store.save_run(&self.run)?;
        self.report.budget_used = store.budget_used(&self.day)?;
        self.report.run = self.run;
        Ok(self.report)
    }
}

impl Sink {
    /// Answers from fallbacks are kept but are not the run's model's: say how many, and
    /// how to have the run's own provider answer them.
    fn warn_fallbacks(&mut self) {
        let fallbacks: Vec<String> = self
            .report
            .providers
            .iter()
            .filter(|(p, _)| **p != self.run.provider)
            .map(|(p, n)| format!("{p} {n}"))
            .collect();
        if fallbacks.is_empty() {
            return;
        }
        let resume = match &self.run.name {
            Some(name) => {
                format!("re-run with --name {name} to ask {} for them", self.run.provider)
            }
            None => "name the run (--name) to be able to re-ask them".to_string(),
        };
        self.warn(format!(
            "{} could not answer some items; fallbacks did ({}), recorded as theirs; {resume}",
            self.run.provider,
            fallbacks.join(", ")
        ));
    }
}

/// A warning when the chain's local model was trained on other gold labels than the
/// workspace has now (its name carries the start of its data fingerprint).
fn stale_local_model(
    ws: &Workspace,
    labels: &LabelsFile,
    store: &Store,
    opts: &RunOptions,
    chain: &[Arc<dyn Suggester>],
) -> Option<String> {
    let local = chain.iter().find(|p| p.provider() == "local")?;
    let trained = local.model().strip_prefix("local:")?;
    let gold = super::train::gold_examples(ws, labels, store, opts.dataset.as_deref()).ok()?;
    let now = super::local::data_fingerprint(&gold.examples);
    (!now.starts_with(trained)).then(|| {
        "the local model was trained on other gold labels than the workspace has now; \
         run `sift train` to refresh it"
            .to_string()
    })
}

fn today() -> String {
    jiff::Timestamp::now().strftime("%Y-%m-%d").to_string()
}

/// The warning due once 80% of the daily budget is used.
fn budget_warning(used: u64, limit: u64) -> Option<String> {
    (limit > 0 && used * 5 >= limit * 4)
        .then(|| format!("{used} of today's {limit}-token budget used ({}%)", used * 100 / limit))
}

fn progress_bar(show: bool, n: usize) -> indicatif::ProgressBar {
    if !show {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::with_draw_target(
        Some(n as u64),
        indicatif::ProgressDrawTarget::stderr(),
    );
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "{spinner} [{bar:30}] {pos}/{len} items  {per_sec}  ETA {eta}  {msg}",
    ) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

/// The taxonomy of the items in scope; refuses a mix.
fn pick_taxonomy<'a>(
    ws: &Workspace,
    labels: &'a LabelsFile,
    rows: &[crate::store::QueueRow],
    dataset: Option<&str>,
) -> Result<&'a Taxonomy, RunError> {
    let mut names: Vec<&str> = rows.iter().map(|r| ws.settings.taxonomy_for(&r.dataset)).collect();
    names.sort();
    names.dedup();
    let name = match (names.as_slice(), dataset) {
        (_, Some(d)) => ws.settings.taxonomy_for(d),
        ([], None) => ws.settings.taxonomy.as_str(),
        ([one], None) => one,
        (many, None) => {
            return Err(RunError::Usage(format!(
                "the items use several taxonomies ({}); pass --dataset D",
                many.join(", ")
            )));
        }
    };
    Ok(labels.get(name)?)
}

/// The primary provider then the configured fallbacks. An unconfigured primary is replaced
/// by the first configured fallback (with a warning).
fn build_chain(
    ws: &Workspace,
    opts: &RunOptions,
    tax: &Taxonomy,
    warnings: &mut Vec<String>,
) -> Result<Vec<Arc<dyn Suggester>>, RunError> {
    let cfg = ProviderConfig {
        model: opts.model.clone(),
        base_url: opts.base_url.clone(),
        send_key: opts.untrusted_base_url.is_none(),
        timeout: opts.timeout,
        models_dir: ws.models_dir(),
    };
    if !provider::PROVIDERS.contains(&opts.provider.as_str()) {
        return Err(RunError::Usage(format!(
            "unknown provider `{}`; use one of {}",
            opts.provider,
            provider::PROVIDERS.join(", ")
        )));
    }
    if opts.untrusted_base_url.is_some() && opts.provider == "openai" {
        warnings.push(provider::untrusted_base_url(&cfg));
    }
    let fallback_cfg =
        ProviderConfig { model: None, base_url: None, send_key: true, ..cfg.clone() };
    let mut chain: Vec<Arc<dyn Suggester>> = Vec::new();
    let mut reasons = Vec::new();
    match provider::build(&opts.provider, &cfg, tax) {
        Ok(p) => chain.push(p),
        Err(e) => reasons.push(e.to_string()),
    }
    for name in opts.fallback.iter().filter(|n| **n != opts.provider) {
        match provider::build(name, &fallback_cfg, tax) {
            Ok(p) => chain.push(p),
            Err(e) => reasons.push(e.to_string()),
        }
    }
    if chain.is_empty() {
        return Err(RunError::NoProvider(reasons.join("; ")));
    }
    if chain[0].provider() != opts.provider {
        warnings.push(format!("{}; using {} instead", reasons[0], chain[0].provider()));
    }
    Ok(chain)
}

/// Resume the named run if it exists (same provider, model and prompt), else start one.
fn open_run(
    store: &Store,
    opts: &RunOptions,
    tax: &Taxonomy,
    primary: &dyn Suggester,
    bundle: &PromptBundle,
) -> Result<Run, RunError> {
    let prompt_hash = bundle.hash();
    if let Some(name) = &opts.name
        && let Some(mut run) = store.run(name)?
    {
        let same = run.provider == primary.provider()
            && run.model == primary.model()
            && run.prompt_hash == prompt_hash;
        if !same {
            return Err(RunError::NameTaken {
                name: name.clone(),
                what: format!(
                    "provider {} model {} prompt {}",
                    run.provider,
                    run.model,
                    &run.prompt_hash[..run.prompt_hash.len().min(12)]
                ),
            });
        }
        run.status = "running".into();
        run.finished_at = None;
        store.save_run(&run)?;
        return Ok(run);
    }
    let started_at = now_rfc3339();
    let nonce: u64 = rand::rng().random();
    let run = Run {
        id: format!("r-{}", &sha256_hex(&format!("{started_at}{nonce}"))[..12]),
        name: opts.name.clone(),
        provider: primary.provider().into(),
        model: primary.model().into(),
        prompt_version: opts.prompt_version.clone(),
        prompt_hash,
        taxonomy: tax.name.clone(),
        taxonomy_hash: tax.hash(),
        config: opts.snapshot(),
        dataset_fingerprint: String::new(),
        started_at,
        finished_at: None,
        status: "running".into(),
        state: RunState::Experimental,
        bundle: bundle.canonical(),
        ..Default::default()
    };
    store.save_run(&run)?;
    Ok(run)
}

/// Turns outcomes into stored suggestions, cache entries, monitor lines and report counts.
struct Writer {
    batch: Vec<Suggestion>,
    tax: Arc<Taxonomy>,
    run_id: String,
}

impl Writer {
    fn handle(
        &mut self,
        store: &mut Store,
        report: &mut RunReport,
        log: &mut MonitorLog,
        out: Outcome,
    ) -> Result<(), RunError> {
        report.retries += out.retries;
        let mut line = json!({
            "at": now_rfc3339(),
            "run": self.run_id,
            "item": out.key,
            "cached": out.cached,
            "latency_ms": out.latency_ms,
            "tokens_in": out.tokens_in,
            "tokens_out": out.tokens_out,
            "retries": out.retries,
            "errors": out.attempt_errors,
            "examples": out.examples,
        });
        let Some(a) = out.answer else {
            report.failed += 1;
            line["error"] = json!(out.error);
            log.write(&line)?;
            report.items.push(ItemResult {
                key: out.key,
                suggestion: None,
                provider: None,
                cached: false,
                error: out.error,
            });
            return Ok(());
        };
        let v = validate::finalize(&self.tax, &a.raw.labels);
        if let Some(first) = &a.cache {
            let cached = CachedAnswer {
                answer: serde_json::to_string(first).unwrap_or_default(),
                tokens_in: out.tokens_in as i64,
                tokens_out: out.tokens_out as i64,
            };
            store.cache_put(
                &out.content_hash,
                &out.prompt_hash,
                &a.model,
                &cached,
                &now_rfc3339(),
            )?;
        }
        let mut rationale = String::new();
        if a.fallback {
            rationale.push_str(&format!("[fallback: {}] ", a.provider));
        }
        rationale.extend(a.raw.rationale.chars().take(MAX_RATIONALE_CHARS));
        let suggestion = Suggestion {
            item: out.key.clone(),
            run: self.run_id.clone(),
            labels: v.labels.clone(),
            rationale,
            abstained: v.abstained,
            raw_labels: if v.labels == a.raw.labels { Vec::new() } else { a.raw.labels.clone() },
            dropped: v.dropped.clone(),
            created_at: now_rfc3339(),
            provider: if a.fallback { a.provider.clone() } else { String::new() },
            model: if a.fallback { a.model.clone() } else { String::new() },
        };
        report.suggested += 1;
        report.cached += usize::from(out.cached);
        report.abstained += usize::from(v.abstained);
        report.dropped_labels += v.dropped.len();
        *report.providers.entry(a.provider.clone()).or_default() += 1;
        line["provider"] = json!(a.provider);
        line["model"] = json!(a.model);
        line["fallback"] = json!(a.fallback);
        line["labels"] = json!(v.labels);
        line["abstained"] = json!(v.abstained);
        line["dropped"] = json!(v.dropped);
        line["issues"] = json!(v.issues);
        if let Some(arb) = out.arbitration {
            line["arbitration"] = arb;
        }
        log.write(&line)?;
        report.items.push(ItemResult {
            key: out.key,
            suggestion: Some(suggestion.clone()),
            provider: Some(a.provider),
            cached: out.cached,
            error: None,
        });
        self.batch.push(suggestion);
        if self.batch.len() >= BATCH {
            self.flush(store)?;
        }
        Ok(())
    }

    fn flush(&mut self, store: &mut Store) -> Result<(), RunError> {
        if !self.batch.is_empty() {
            store.save_suggestions(&self.batch)?;
            self.batch.clear();
        }
        Ok(())
    }
}

/// The per-item JSONL monitor log under .sift/logs/.
struct MonitorLog {
    path: PathBuf,
    out: std::io::BufWriter<std::fs::File>,
}

impl MonitorLog {
    fn open(path: &PathBuf) -> Result<Self, RunError> {
        let io = |source| RunError::Io { path: path.clone(), source };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let f = std::fs::OpenOptions::new().create(true).append(true).open(path).map_err(io)?;
        Ok(MonitorLog { path: path.clone(), out: std::io::BufWriter::new(f) })
    }

    fn write(&mut self, v: &Value) -> Result<(), RunError> {
        writeln!(self.out, "{v}").map_err(|source| RunError::Io { path: self.path.clone(), source })
    }

    fn flush(&mut self) -> Result<(), RunError> {
        self.out.flush().map_err(|source| RunError::Io { path: self.path.clone(), source })
    }
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
            let mut store = Store::open(&ws.store_path())?;
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
mod tests {
    use super::*;

    #[test]
    fn cost_uses_the_longest_matching_price() {
        assert!((estimate_cost("gpt-4o-mini-2024", 1_000_000, 0) - 0.15).abs() < 1e-9);
        assert!((estimate_cost("gpt-4o", 0, 1_000_000) - 10.0).abs() < 1e-9);
        assert_eq!(estimate_cost("llama3", 10, 10), 0.0);
    }
}
