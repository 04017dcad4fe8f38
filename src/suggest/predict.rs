//! One-off predictions outside runs (`sift serve`): the same provider chain, retries, token
//! budget, cache, validation and monitor log as `sift suggest`, for an item a caller sends.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex, MutexGuard};

use serde_json::{Value, json};

use super::parse::RawAnswer;
use super::prompt::PromptBundle;
use super::provider::{Request, Suggester};
use super::runner::{MonitorLog, RunError, RunOptions, build_chain, today};
use super::validate::{self, Validated};
use super::worker::{
    Budget, Job, Ledger, Outcome, Shared, call_line, guarded_work, lock, needs_arbitration,
    note_answer, prefetch_calls,
};
use crate::model::{Item, ItemKind, LabelScore, now_rfc3339, sha256_hex};
use crate::store::{CachedAnswer, Store, StoreError};
use crate::taxonomy::Taxonomy;
use crate::workspace::Workspace;

/// Most answers kept in memory for read-your-writes (the store has them all).
const RECENT_MAX: usize = 4096;

/// Rationale text kept per prediction.
const MAX_RATIONALE_CHARS: usize = 1000;

/// Why a prediction has no answer.
#[derive(Debug, thiserror::Error)]
pub enum PredictError {
    /// Every provider of the chain failed; the last one's error.
    #[error("no provider answered: {0}")]
    NoAnswer(String, Vec<String>),
    #[error("today's token budget is spent")]
    OverBudget,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Run(#[from] RunError),
}

/// What the predictor is: sift's version, the provider and model asked first, the prompt.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Version {
    pub sift: String,
    pub provider: String,
    pub model: String,
    pub prompt_hash: String,
    pub taxonomy: String,
}

/// A validated answer for one item.
#[derive(Debug, Clone)]
pub struct Prediction {
    /// Labels kept by validation, highest confidence first.
    pub labels: Vec<LabelScore>,
    pub abstained: bool,
    pub rationale: String,
    pub provider: String,
    pub model: String,
    pub fallback: bool,
    pub cached: bool,
    pub tokens_in: u64,
    pub tokens_out: u64,
    /// Kinds of the failed attempts before the answer (http_500, timeout, ...).
    pub errors: Vec<String>,
    /// The hash of the prompt actually asked (a restricted label set is its own prompt).
    pub prompt_hash: String,
}

/// Answers items one at a time, from many tasks at once.
pub struct Predictor {
    shared: Arc<Shared>,
    tax: Arc<Taxonomy>,
    bundle: PromptBundle,
    prompt_hash: String,
    prompt_version: String,
    arbitration: bool,
    arbitration_threshold: f64,
    temperature: f64,
    /// Cache and item lookups. Only remote answers and `{"item"}` requests use it.
    store: Mutex<Store>,
    /// Cache entries and spending go to the store from a thread of their own, so a request
    /// never waits on a write.
    keeper: Keeper,
    /// Answers this process sent to the keeper, so the next request for the same text finds
    /// them before the write lands. Bounded: emptied when it reaches RECENT_MAX.
    recent: Mutex<std::collections::HashMap<String, RawAnswer>>,
    log: Mutex<MonitorLog>,
    /// Some provider of the chain reads prompts (otherwise none is built per request).
    needs_prompt: bool,
    pub warnings: Vec<String>,
}

impl Predictor {
    /// The chain of `opts` for taxonomy `tax`, logging to `.sift/logs/serve-<day>.jsonl`.
    pub fn open(ws: &Workspace, tax: &Taxonomy, opts: &RunOptions) -> Result<Self, RunError> {
        let mut warnings = Vec::new();
        let chain = build_chain(ws, opts, tax, &mut warnings)?;
        let sources = super::prompt::PromptSources::load(&ws.root)?;
        let opts = &RunOptions { prompt_sources: sources, ..opts.clone() };
        let bundle =
            PromptBundle::with_sources(tax, &opts.prompt_version, Vec::new(), &opts.prompt_sources);
        let store = ws.open_store()?;
        let day = today();
        let used = store.budget_used(&day)?;
        let owner = format!("serve/{}", std::process::id());
        let mut budget = Budget::new(opts.daily_budget, used);
        // The ledger makes a limit hold across processes; with no limit there is nothing to
        // hold, and each request would pay a write for it.
        if opts.daily_budget > 0 {
            budget = budget.with_ledger(Ledger { store: Store::open(&ws.store_path())?, owner });
        }
        let budget = Arc::new(Mutex::new(budget));
        let keeper = Keeper::start(ws.open_store()?, budget.clone());
        let log = MonitorLog::open(&ws.logs_dir().join(format!("serve-{day}.jsonl")))?;
        let needs_prompt = chain.iter().any(|s| s.remote());
        let shared = Arc::new(Shared::new(chain, Arc::new(tax.clone()), budget, opts));
        Ok(Predictor {
            tax: shared.tax.clone(),
            shared,
            prompt_hash: bundle.hash(),
            bundle,
            prompt_version: opts.prompt_version.clone(),
            arbitration: opts.arbitration,
            arbitration_threshold: opts.arbitration_threshold,
            temperature: opts.temperature,
            store: Mutex::new(store),
            keeper,
            recent: Mutex::new(Default::default()),
            log: Mutex::new(log),
            needs_prompt,
            warnings,
        })
    }

    pub fn taxonomy(&self) -> &Taxonomy {
        &self.tax
    }

    fn primary(&self) -> &dyn Suggester {
        // The chain is never empty: build_chain refuses to return an empty one.
        self.shared.chain[0].as_ref()
    }

    pub fn version(&self) -> Version {
        Version {
            sift: env!("CARGO_PKG_VERSION").into(),
            provider: self.primary().provider().into(),
            model: self.primary().model().into(),
            prompt_hash: self.prompt_hash.clone(),
            taxonomy: self.tax.name.clone(),
        }
    }

    /// The providers of the chain, in order, and whether each answers a probe now.
    pub async fn probe(&self) -> Vec<(String, bool, bool, Option<String>)> {
        let mut out = Vec::new();
        for s in &self.shared.chain {
            let r = s.probe().await;
            let err = r.err().map(|e| crate::text::one_line(&e.to_string()));
            out.push((s.provider().to_string(), s.remote(), err.is_none(), err));
        }
        out
    }

    /// An item of the store, by key.
    pub fn item(&self, key: &str) -> Result<Option<Item>, StoreError> {
        self.store().item(key)
    }

    fn store(&self) -> MutexGuard<'_, Store> {
        // A panic while holding the store leaves SQLite consistent (transactions roll back).
        self.store.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Answer one item; `allowed` (canonical names) restricts the labels the provider is
    /// asked about and may answer.
    pub async fn predict(
        &self,
        item: Item,
        allowed: Option<&BTreeSet<String>>,
    ) -> Result<Prediction, PredictError> {
        let restricted = allowed.map(|a| (self.tax.restricted(a), a));
        let tax: &Taxonomy = restricted.as_ref().map_or(&self.tax, |(t, _)| t);
        let owned_bundle;
        let (bundle, prompt_hash) = match &restricted {
            Some((t, _)) => {
                let sources = &self.shared.prompt_sources;
                owned_bundle = PromptBundle::with_sources(t, &self.prompt_version, vec![], sources);
                let h = owned_bundle.hash();
                (&owned_bundle, h)
            }
            None => (&self.bundle, self.prompt_hash.clone()),
        };
        let content_hash = item.content_hash();
        let (system, user) = if self.needs_prompt {
            (bundle.system_with_taxonomy(), bundle.user_message(&item))
        } else {
            (String::new(), String::new())
        };
        let key = item.key.clone();
        let mut job = Job {
            key: key.clone(),
            content_hash: content_hash.clone(),
            prompt_hash: prompt_hash.clone(),
            examples: Vec::new(),
            request: Request {
                item: Arc::new(item),
                system,
                user,
                schema: bundle.schema.clone(),
                temperature: self.temperature,
            },
            cached: None,
            // Offline providers do not read prompts: one call answers every dimension.
            calls: if self.needs_prompt && self.primary().remote() {
                bundle.calls.clone().into()
            } else {
                Arc::from(Vec::new())
            },
            call_cached: Vec::new(),
        };
        if !job.calls.is_empty() {
            let out = self.predict_calls(job).await?;
            return self.settle(tax, out, prompt_hash);
        }
        let out = match self.cached(&job)? {
            Some(raw)
                if !(self.arbitration
                    && needs_arbitration(tax, &raw, self.arbitration_threshold)) =>
            {
                Outcome::cached(job.request.item.clone(), raw, self.primary(), Vec::new())
            }
            raw => {
                job.cached = raw;
                guarded_work(self.shared.clone(), job).await
            }
        };
        self.settle(tax, out, prompt_hash)
    }

    /// A multi-call prompt: the calls found in the cache, then the rest asked in order.
    async fn predict_calls(&self, mut job: Job) -> Result<Outcome, StoreError> {
        let threshold = self.arbitration.then_some(self.arbitration_threshold);
        let (found, whole) = prefetch_calls(&job.calls, &job.prompt_hash, threshold, |k| {
            self.cached_under(&job.content_hash, k)
        })?;
        if let Some(raw) = whole {
            return Ok(Outcome::cached(job.request.item.clone(), raw, self.primary(), Vec::new()));
        }
        job.call_cached = found;
        Ok(guarded_work(self.shared.clone(), job).await)
    }

    /// The primary's cached answer for this item and prompt, when it is remote.
    fn cached(&self, job: &Job) -> Result<Option<RawAnswer>, StoreError> {
        self.cached_under(&job.content_hash, &job.prompt_hash)
    }

    /// The primary's cached answer for a text under a prompt (or call) key.
    fn cached_under(
        &self,
        content_hash: &str,
        prompt_key: &str,
    ) -> Result<Option<RawAnswer>, StoreError> {
        let p = self.primary();
        if !p.remote() {
            return Ok(None);
        }
        let key = recent_key(content_hash, prompt_key, p.model());
        if let Some(raw) = self.recent.lock().unwrap_or_else(|e| e.into_inner()).get(&key) {
            return Ok(Some(raw.clone()));
        }
        let hit = self.store().cache_get(content_hash, prompt_key, p.model())?;
        Ok(hit.and_then(|c| serde_json::from_str::<RawAnswer>(&c.answer).ok()))
    }

    /// Keep an answer for the next request of the same text (in memory at once, in the
    /// store through the keeper).
    fn remember(
        &self,
        content_hash: &str,
        prompt_key: &str,
        model: &str,
        raw: &RawAnswer,
        tokens: (u64, u64),
    ) {
        let mut recent = self.recent.lock().unwrap_or_else(|e| e.into_inner());
        if recent.len() >= RECENT_MAX {
            recent.clear();
        }
        recent.insert(recent_key(content_hash, prompt_key, model), raw.clone());
        drop(recent);
        self.keeper.send(Write::Cache {
            content_hash: content_hash.to_string(),
            prompt_hash: prompt_key.to_string(),
            model: model.to_string(),
            answer: CachedAnswer {
                answer: serde_json::to_string(raw).unwrap_or_default(),
                tokens_in: tokens.0 as i64,
                tokens_out: tokens.1 as i64,
            },
        });
    }

    /// Count the tokens, cache the answer, write the monitor line, validate.
    fn settle(
        &self,
        tax: &Taxonomy,
        out: Outcome,
        prompt_hash: String,
    ) -> Result<Prediction, PredictError> {
        self.account(&out)?;
        for c in &out.call_cache {
            self.remember(&out.content_hash, &c.key, &c.model, &c.raw, (c.tokens_in, c.tokens_out));
        }
        for c in &out.call_lines {
            self.log_line(&call_line("serve", &out.key, c));
        }
        let mut line = out.monitor_line("serve");
        line["prompt_hash"] = json!(prompt_hash);
        let Some(a) = out.answer else {
            let why = out.error.clone().unwrap_or_else(|| "no provider answered".into());
            line["error"] = json!(why);
            self.log_line(&line);
            if out.over_budget {
                return Err(PredictError::OverBudget);
            }
            return Err(PredictError::NoAnswer(why, out.attempt_errors));
        };
        if let Some(first) = &a.cache {
            let tokens = (out.tokens_in, out.tokens_out);
            self.remember(&out.content_hash, &prompt_hash, &a.model, first, tokens);
        }
        let v: Validated = validate::finalize(tax, &a.raw.labels);
        note_answer(&mut line, &a, &v, out.arbitration.as_ref());
        self.log_line(&line);
        let mut rationale: String = a.raw.rationale.chars().take(MAX_RATIONALE_CHARS).collect();
        if a.fallback {
            rationale = format!("[fallback: {}] {rationale}", a.provider);
        }
        Ok(Prediction {
            labels: v.labels,
            abstained: v.abstained,
            rationale,
            provider: a.provider,
            model: a.model,
            fallback: a.fallback,
            cached: out.cached,
            tokens_in: out.tokens_in,
            tokens_out: out.tokens_out,
            errors: out.attempt_errors,
            prompt_hash,
        })
    }

    /// Today's budget: what this request spent, and its reservations released.
    fn account(&self, out: &Outcome) -> Result<(), StoreError> {
        let spent = out.tokens_in + out.tokens_out;
        if spent > 0 || !out.reservations.is_empty() {
            self.keeper.send(Write::Spend { spent, reservations: out.reservations.clone() });
        }
        Ok(())
    }

    fn log_line(&self, line: &Value) {
        let mut log = self.log.lock().unwrap_or_else(|p| p.into_inner());
        // The answer is worth more than its log line: a full disk is said, not fatal.
        if let Err(e) = log.write(line) {
            tracing::warn!("monitor log: {e}");
        }
    }

    /// Write what is queued for the store and the monitor log (on shutdown).
    pub fn flush(&self) {
        self.keeper.finish();
        let mut log = self.log.lock().unwrap_or_else(|p| p.into_inner());
        if let Err(e) = log.flush() {
            tracing::warn!("monitor log: {e}");
        }
    }
}

fn recent_key(content_hash: &str, prompt_hash: &str, model: &str) -> String {
    format!("{content_hash}\u{0}{prompt_hash}\u{0}{model}")
}

/// A write the keeper thread makes.
enum Write {
    Cache { content_hash: String, prompt_hash: String, model: String, answer: CachedAnswer },
    Spend { spent: u64, reservations: Vec<i64> },
}

/// The thread that writes cache entries and spending, in the order they come.
struct Keeper {
    tx: Mutex<Option<std::sync::mpsc::Sender<Write>>>,
    worker: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl Keeper {
    fn start(mut store: Store, budget: Arc<Mutex<Budget>>) -> Self {
        let (tx, rx) = std::sync::mpsc::channel::<Write>();
        let worker = std::thread::Builder::new()
            .name("sift-predict-keeper".into())
            .spawn(move || {
                for w in rx {
                    if let Err(e) = keep(&mut store, &budget, w) {
                        tracing::error!("predictions: writing to the store: {e}");
                    }
                }
            })
            .map_err(|e| tracing::error!("cannot start the store writer: {e}"))
            .ok();
        Keeper { tx: Mutex::new(Some(tx)), worker: Mutex::new(worker) }
    }

    fn send(&self, w: Write) {
        let tx = self.tx.lock().unwrap_or_else(|p| p.into_inner()).clone();
        if tx.is_none_or(|tx| tx.send(w).is_err()) {
            tracing::warn!("predictions: the store writer has stopped; a write is lost");
        }
    }

    fn finish(&self) {
        drop(self.tx.lock().unwrap_or_else(|p| p.into_inner()).take());
        let worker = self.worker.lock().unwrap_or_else(|p| p.into_inner()).take();
        if worker.is_some_and(|w| w.join().is_err()) {
            tracing::error!("predictions: the store writer panicked");
        }
    }
}

fn keep(store: &mut Store, budget: &Mutex<Budget>, w: Write) -> Result<(), StoreError> {
    match w {
        Write::Cache { content_hash, prompt_hash, model, answer } => {
            store.cache_put(&content_hash, &prompt_hash, &model, &answer, &now_rfc3339())
        }
        Write::Spend { spent, reservations } => {
            let total = store.budget_settle(&today(), spent, &reservations)?;
            lock(budget).stored(spent, total);
            Ok(())
        }
    }
}

/// An item for text sent by a caller: keyed by its content, so the same text is the same
/// item (and hits the cache).
pub fn item_from_text(dataset: &str, title: &str, body: &str) -> Item {
    let id = sha256_hex(&format!("{title}\u{0}{body}"));
    Item {
        key: format!("{dataset}:{}", &id[..16]),
        dataset: dataset.into(),
        kind: Some(ItemKind::Issue),
        title: title.into(),
        body: body.into(),
        ..Default::default()
    }
}
