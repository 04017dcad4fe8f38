//! Per-item work of a run: the fallback chain, retries with backoff and Retry-After, the
//! token budget shared by the in-flight requests, and arbitration of low-confidence answers.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::Rng;
use serde_json::{Value, json};

use super::parse::RawAnswer;
use super::prompt::{CallPrompt, earlier_answers};
use super::provider::{self, Answer, ProviderError, Request, Suggester};
use super::validate;
use crate::model::LabelScore;
use crate::taxonomy::Taxonomy;

/// After this many items in a row on which the primary provider failed, it is skipped and
/// the fallback chain answers directly (the provider is down; stop hammering it).
const BREAKER_LIMIT: u32 = 5;

/// While the primary is skipped, every this-many-th item asks it again, so a provider that
/// comes back is used again within the same run.
const BREAKER_PROBE_EVERY: u32 = 10;

/// Longest single wait between retries.
const MAX_WAIT: Duration = Duration::from_secs(120);

/// Tokens counted against today's budget, with what in-flight requests are expected to use.
pub(super) struct Budget {
    pub(super) limit: u64,
    /// Today's total as the store last said: every process's spending, this run's included.
    pub(super) recorded: u64,
    /// Spent by this run's requests but not yet added to the store.
    unrecorded: u64,
    reserved: u64,
    answered: u64,
    spent: u64,
    /// Reservations in the store, seen by every sift process (None: this process only).
    ledger: Option<Ledger>,
}

/// The store's budget ledger, through a connection of the budget's own.
pub(super) struct Ledger {
    pub(super) store: crate::store::Store,
    /// Names this run's reservations, so that they are dropped when it ends.
    pub(super) owner: String,
}

/// A request's reserved tokens, and its row in the ledger.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Reservation {
    tokens: u64,
    id: Option<i64>,
}

/// A reservation older than this belongs to a request that cannot still be running (its
/// process was killed): every retry and timeout together end well within it.
const STALE_RESERVATION: jiff::SignedDuration = jiff::SignedDuration::from_mins(30);

impl Budget {
    pub(super) fn new(limit: u64, recorded: u64) -> Self {
        let (unrecorded, reserved, answered, spent) = (0, 0, 0, 0);
        Budget { limit, recorded, unrecorded, reserved, answered, spent, ledger: None }
    }

    /// Reserve through the store, so that other processes' requests count too.
    pub(super) fn with_ledger(mut self, ledger: Ledger) -> Self {
        self.ledger = Some(ledger);
        self
    }

    /// Reserve what one request may cost, or None when it would pass the limit: the most it
    /// can cost (`worst`: its input and the output limit), or this run's average if higher.
    /// Reserving the worst case means requests in flight together never pass the limit.
    fn reserve(&mut self, worst: u64) -> Option<Reservation> {
        let est = self.spent.checked_div(self.answered).unwrap_or(0).max(worst);
        let id = match self.reserve_in_ledger(est) {
            Ok(Some(id)) => Some(id),
            Ok(None) => return None,
            Err(()) => {
                let committed = self.recorded + self.unrecorded + self.reserved;
                if self.limit > 0 && committed + est > self.limit {
                    return None;
                }
                None
            }
        };
        self.reserved += est;
        Some(Reservation { tokens: est, id })
    }

    /// `Ok(Some(id))` reserved, `Ok(None)` over the limit, `Err` no ledger to ask (or it
    /// failed, said in the log): the in-memory count decides.
    fn reserve_in_ledger(&mut self, est: u64) -> Result<Option<i64>, ()> {
        let Some(l) = &mut self.ledger else { return Err(()) };
        let now = jiff::Timestamp::now();
        let stale = (now - STALE_RESERVATION).round(jiff::Unit::Second).map_err(|_| ())?;
        let day = now.strftime("%Y-%m-%d").to_string();
        let now = crate::model::now_rfc3339();
        l.store
            .budget_reserve(&day, est, self.limit, &l.owner, &now, &stale.to_string())
            .map_err(|e| tracing::warn!("budget ledger: {e}"))
    }

    fn settle(&mut self, r: Reservation, actual: Option<u64>) {
        let reserved = r.tokens;
        self.reserved = self.reserved.saturating_sub(reserved);
        if let Some(a) = actual {
            self.unrecorded += a;
            self.spent += a;
            self.answered += 1;
        }
    }

    /// `added` tokens of this run reached the store, whose total for the day is now `total`
    /// (which also holds what other sift processes spent meanwhile).
    pub(super) fn stored(&mut self, added: u64, total: u64) {
        self.unrecorded = self.unrecorded.saturating_sub(added);
        self.recorded = total;
    }
}

pub(super) struct Shared {
    pub(super) chain: Vec<Arc<dyn Suggester>>,
    pub(super) tax: Arc<Taxonomy>,
    pub(super) budget: Arc<Mutex<Budget>>,
    pub(super) retries: u32,
    pub(super) backoff: Duration,
    pub(super) arbitration: bool,
    /// Dimensions whose best label is below this are re-asked (with min_confidence, if higher).
    pub(super) arbitration_threshold: f64,
    /// The re-ask's temperature (at least the run's own plus 0.3).
    pub(super) arbitration_temperature: f64,
    /// For the prompt of a re-ask about some dimensions only.
    pub(super) prompt_version: String,
    pub(super) prompt_sources: super::prompt::PromptSources,
    pub(super) temperature: f64,
    pub(super) failures_in_a_row: AtomicU32,
    /// Items that skipped the primary since it was last asked (see BREAKER_PROBE_EVERY).
    pub(super) skipped_primary: AtomicU32,
    pub(super) halt: AtomicBool,
}

impl Shared {
    /// True when the primary has failed on BREAKER_LIMIT items in a row and this item is not
    /// the one that probes it again.
    fn skip_primary(&self) -> bool {
        if self.chain.len() < 2 || self.failures_in_a_row.load(Ordering::SeqCst) < BREAKER_LIMIT {
            return false;
        }
        let skipped = self.skipped_primary.fetch_add(1, Ordering::SeqCst) + 1;
        if skipped >= BREAKER_PROBE_EVERY {
            self.skipped_primary.store(0, Ordering::SeqCst);
            return false;
        }
        true
    }
}

pub(super) struct Job {
    pub(super) key: String,
    pub(super) content_hash: String,
    pub(super) prompt_hash: String,
    pub(super) examples: Vec<String>,
    pub(super) request: Request,
    /// The primary's cached answer, when only arbitration is left to do.
    pub(super) cached: Option<RawAnswer>,
    /// The ordered calls of a multi-call prompt (empty: `request` is the one call). Each
    /// call's request is `request`'s user message after the earlier calls' answers.
    pub(super) calls: Arc<[CallPrompt]>,
    /// Cached answers of the first calls, with their cache keys (see [`prefetch_calls`]).
    pub(super) call_cached: Vec<CachedCall>,
}

/// A call's cached answer and the key it was found under (None: taken).
pub(super) type CachedCall = Option<(String, RawAnswer)>;

/// A call's fresh answer from the primary, to cache under its own key.
pub(super) struct CallCache {
    pub(super) key: String,
    pub(super) raw: RawAnswer,
    pub(super) model: String,
    pub(super) tokens_in: u64,
    pub(super) tokens_out: u64,
}

/// A provider's final answer for an item.
pub(super) struct Answered {
    pub(super) raw: RawAnswer,
    pub(super) provider: String,
    pub(super) model: String,
    /// Answered by a fallback, not the run's provider.
    pub(super) fallback: bool,
    /// The answer to cache: the primary remote provider's first answer (never the
    /// arbitration's re-ask, which was made at another temperature).
    pub(super) cache: Option<RawAnswer>,
}

/// What a worker reports back to the driver.
pub(super) struct Outcome {
    pub(super) key: String,
    pub(super) content_hash: String,
    pub(super) prompt_hash: String,
    pub(super) examples: Vec<String>,
    pub(super) answer: Option<Answered>,
    pub(super) error: Option<String>,
    pub(super) attempt_errors: Vec<String>,
    /// What each failed attempt's server said (scrubbed of secrets), beside its kind.
    pub(super) attempt_messages: Vec<String>,
    pub(super) retries: u32,
    pub(super) latency_ms: u64,
    pub(super) tokens_in: u64,
    pub(super) tokens_out: u64,
    pub(super) cached: bool,
    pub(super) over_budget: bool,
    pub(super) halted: bool,
    pub(super) arbitration: Option<Value>,
    /// Ledger rows of this item's requests, dropped when their spending is recorded.
    pub(super) reservations: Vec<i64>,
    /// The item asked about (its signals and text feed the rules and the fallback summary).
    pub(super) item: Option<Arc<crate::model::Item>>,
    /// A multi-call prompt's monitor entries, one per call asked or found in the cache.
    pub(super) call_lines: Vec<Value>,
    /// Fresh answers of calls, cached even when a later call fails (a resume asks only the
    /// calls after them).
    pub(super) call_cache: Vec<CallCache>,
    /// The slowest call asked (not cached) of a multi-call prompt: what one request took,
    /// which flow control judges (the item's latency adds its calls up).
    pub(super) slowest_call_ms: Option<u64>,
}

impl Outcome {
    fn new(job: &Job) -> Self {
        Outcome {
            key: job.key.clone(),
            content_hash: job.content_hash.clone(),
            prompt_hash: job.prompt_hash.clone(),
            examples: job.examples.clone(),
            answer: None,
            error: None,
            attempt_errors: Vec::new(),
            attempt_messages: Vec::new(),
            retries: 0,
            latency_ms: 0,
            tokens_in: 0,
            tokens_out: 0,
            cached: false,
            over_budget: false,
            halted: false,
            arbitration: None,
            reservations: Vec::new(),
            item: Some(job.request.item.clone()),
            call_lines: Vec::new(),
            call_cache: Vec::new(),
            slowest_call_ms: None,
        }
    }

    pub(super) fn cached(
        item: Arc<crate::model::Item>,
        raw: RawAnswer,
        p: &dyn Suggester,
        examples: Vec<String>,
    ) -> Self {
        let key = item.key.clone();
        Outcome {
            key,
            content_hash: String::new(),
            prompt_hash: String::new(),
            examples,
            answer: Some(Answered {
                raw,
                provider: p.provider().into(),
                model: p.model().into(),
                fallback: false,
                cache: None,
            }),
            error: None,
            attempt_errors: Vec::new(),
            attempt_messages: Vec::new(),
            retries: 0,
            latency_ms: 0,
            tokens_in: 0,
            tokens_out: 0,
            cached: true,
            over_budget: false,
            halted: false,
            arbitration: None,
            reservations: Vec::new(),
            item: Some(item),
            call_lines: Vec::new(),
            call_cache: Vec::new(),
            slowest_call_ms: None,
        }
    }
}

enum AskError {
    OverBudget,
    Halted,
    Provider(ProviderError),
}

/// Ask one provider, retrying what is worth retrying, within the budget.
async fn ask(
    shared: &Shared,
    s: &dyn Suggester,
    req: &Request,
    out: &mut Outcome,
) -> Result<Answer, AskError> {
    let mut attempt = 0u32;
    loop {
        if shared.halt.load(Ordering::SeqCst) {
            return Err(AskError::Halted);
        }
        let reserved = if s.remote() {
            let guess = provider::estimate_tokens(&req.system)
                + provider::estimate_tokens(&req.user)
                + super::openai::max_tokens(req);
            match lock(&shared.budget).reserve(guess) {
                Some(r) => r,
                None => return Err(AskError::OverBudget),
            }
        } else {
            Reservation { tokens: 0, id: None }
        };
        let result = s.suggest(req).await;
        match result {
            Ok(a) => {
                if s.remote() {
                    lock(&shared.budget).settle(reserved, Some(a.tokens_in + a.tokens_out));
                    out.reservations.extend(reserved.id);
                }
                out.tokens_in += a.tokens_in;
                out.tokens_out += a.tokens_out;
                return Ok(a);
            }
            Err(e) => {
                // An unusable answer was still billed: it counts like any other.
                let usage = e.usage().filter(|_| s.remote());
                lock(&shared.budget).settle(reserved, usage.map(|(i, o)| i + o));
                out.reservations.extend(reserved.id);
                if let Some((i, o)) = usage {
                    out.tokens_in += i;
                    out.tokens_out += o;
                }
                out.attempt_errors.push(e.kind());
                out.attempt_messages.push(crate::text::one_line(&e.to_string()));
                if e.retryable() && attempt < shared.retries {
                    out.retries += 1;
                    tokio::time::sleep(backoff(shared.backoff, attempt, e.retry_after())).await;
                    attempt += 1;
                    continue;
                }
                return Err(AskError::Provider(e));
            }
        }
    }
}

impl Outcome {
    /// The item's monitor-log line before its answer: what it cost and what went wrong (the
    /// same fields for runs and `sift serve`).
    pub(super) fn monitor_line(&self, run: &str) -> Value {
        json!({
            "at": crate::model::now_rfc3339(),
            "run": run,
            "item": self.key,
            "cached": self.cached,
            "latency_ms": self.latency_ms,
            "tokens_in": self.tokens_in,
            "tokens_out": self.tokens_out,
            "retries": self.retries,
            "errors": self.attempt_errors,
            "error_messages": self.attempt_messages,
            "examples": self.examples,
        })
    }
}

/// A call's monitor-log line: when, the run and the item, then what the call recorded.
pub(super) fn call_line(run: &str, item: &str, call: &Value) -> Value {
    let mut line = json!({"at": crate::model::now_rfc3339(), "run": run, "item": item});
    if let (Some(l), Some(c)) = (line.as_object_mut(), call.as_object()) {
        l.extend(c.iter().map(|(k, v)| (k.clone(), v.clone())));
    }
    line
}

/// The answer's part of a monitor-log line: who answered, what validation kept, arbitration.
pub(super) fn note_answer(
    line: &mut Value,
    a: &Answered,
    v: &validate::Validated,
    arbitration: Option<&Value>,
) {
    line["provider"] = json!(a.provider);
    line["model"] = json!(a.model);
    line["fallback"] = json!(a.fallback);
    line["labels"] = json!(v.labels);
    line["abstained"] = json!(v.abstained);
    line["dropped"] = json!(v.dropped);
    line["issues"] = json!(v.issues);
    if let Some(arb) = arbitration {
        line["arbitration"] = arb.clone();
    }
}

impl Shared {
    /// What a run's (or the endpoint's) workers share, from its options.
    pub(super) fn new(
        chain: Vec<Arc<dyn Suggester>>,
        tax: Arc<Taxonomy>,
        budget: Arc<Mutex<Budget>>,
        opts: &super::runner::RunOptions,
    ) -> Self {
        Shared {
            chain,
            tax,
            budget,
            retries: opts.retries,
            backoff: opts.backoff,
            arbitration: opts.arbitration,
            arbitration_threshold: opts.arbitration_threshold,
            arbitration_temperature: opts.arbitration_temperature,
            prompt_version: opts.prompt_version.clone(),
            prompt_sources: opts.prompt_sources.clone(),
            temperature: opts.temperature,
            failures_in_a_row: AtomicU32::new(0),
            skipped_primary: AtomicU32::new(0),
            halt: AtomicBool::new(false),
        }
    }
}

pub(super) fn lock(b: &Mutex<Budget>) -> std::sync::MutexGuard<'_, Budget> {
    // The budget holds plain counters: a panic elsewhere cannot leave them inconsistent.
    b.lock().unwrap_or_else(|p| p.into_inner())
}

/// Exponential backoff with jitter: a random wait in [d/2, d] for d = base * 2^attempt;
/// the server's Retry-After wins when it asks for longer.
pub fn backoff(base: Duration, attempt: u32, retry_after: Option<Duration>) -> Duration {
    let d = base.saturating_mul(1u32 << attempt.min(16));
    let half = d / 2;
    let jitter = rand::rng().random_range(0.0..=1.0);
    let wait = half + half.mul_f64(jitter);
    match retry_after {
        Some(r) => r.max(wait.min(r + base)).min(MAX_WAIT),
        None => wait.min(MAX_WAIT),
    }
}

/// One item: the chain in order until one answers, then arbitration if asked for.
/// [`work`], with a panic turned into a failed outcome for its item: the run records the
/// failure and goes on instead of losing the item without a word.
pub(super) async fn guarded_work(shared: Arc<Shared>, job: Job) -> Outcome {
    use futures::FutureExt as _;
    let mut failed = Outcome::new(&job);
    match std::panic::AssertUnwindSafe(work(shared, job)).catch_unwind().await {
        Ok(out) => out,
        Err(payload) => {
            let why = crate::panic_message(&*payload);
            tracing::error!(item = %failed.key, "suggest worker panicked: {why}");
            failed.error = Some(format!("internal error: {why}"));
            failed
        }
    }
}

pub(super) async fn work(shared: Arc<Shared>, mut job: Job) -> Outcome {
    let mut out = Outcome::new(&job);
    if shared.halt.load(Ordering::SeqCst) {
        out.halted = true;
        return out;
    }
    let started = Instant::now();
    if let Some(raw) = job.cached.take() {
        rearbitrate(&shared, &job, raw, &mut out).await;
        out.latency_ms = started.elapsed().as_millis() as u64;
        return out;
    }
    let skip_primary = shared.skip_primary();
    if skip_primary {
        out.attempt_errors
            .push(format!("{} skipped: failing repeatedly", shared.chain[0].provider()));
    }
    if !job.calls.is_empty() {
        work_calls(&shared, &mut job, skip_primary, &mut out).await;
        out.latency_ms = started.elapsed().as_millis() as u64;
        return out;
    }
    let result = ask_chain(&shared, &job.request, skip_primary, &mut out).await;
    match &result {
        Ok(a) if !a.fallback => shared.failures_in_a_row.store(0, Ordering::SeqCst),
        Ok(_) | Err(ChainEnd::Failed(_)) if !skip_primary => {
            shared.failures_in_a_row.fetch_add(1, Ordering::SeqCst);
        }
        _ => {}
    }
    match result {
        Ok(mut answered) => {
            if !answered.fallback && shared.arbitration {
                let primary = shared.chain[0].as_ref();
                let scope = Scope::whole(&shared.tax);
                out.arbitration =
                    arbitrate(&shared, scope, primary, &job.request, &mut answered, &mut out).await;
            }
            out.answer = Some(answered);
        }
        Err(end) => end.record(&mut out),
    }
    out.latency_ms = started.elapsed().as_millis() as u64;
    out
}

/// Why no provider of the chain answered a request.
enum ChainEnd {
    OverBudget,
    Halted,
    Failed(String),
}

impl ChainEnd {
    fn record(self, out: &mut Outcome) {
        match self {
            ChainEnd::OverBudget => out.over_budget = true,
            ChainEnd::Halted => out.halted = true,
            ChainEnd::Failed(e) => out.error = Some(e),
        }
    }
}

/// The chain in order until one answers `req` (the primary skipped when it is failing
/// repeatedly). The primary's remote answer is the one to cache. The caller keeps the circuit
/// breaker (it counts items, not requests).
async fn ask_chain(
    shared: &Shared,
    req: &Request,
    skip_primary: bool,
    out: &mut Outcome,
) -> Result<Answered, ChainEnd> {
    let mut last_error = None;
    for (i, s) in shared.chain.iter().enumerate() {
        if i == 0 && skip_primary {
            continue;
        }
        match ask(shared, s.as_ref(), req, out).await {
            Ok(a) => {
                return Ok(Answered {
                    cache: (i == 0 && s.remote()).then(|| a.raw.clone()),
                    raw: a.raw,
                    provider: s.provider().into(),
                    model: s.model().into(),
                    fallback: i > 0,
                });
            }
            Err(AskError::OverBudget) => return Err(ChainEnd::OverBudget),
            Err(AskError::Halted) => return Err(ChainEnd::Halted),
            Err(AskError::Provider(e)) => last_error = Some(e.to_string()),
        }
    }
    Err(ChainEnd::Failed(last_error.unwrap_or_else(|| "no provider answered".into())))
}

/// What an outcome has counted so far, to give each call of an item its own share.
struct Counts {
    tokens_in: u64,
    tokens_out: u64,
    retries: u32,
    errors: usize,
    messages: usize,
    started: Instant,
}

impl Counts {
    fn of(out: &Outcome) -> Self {
        Counts {
            tokens_in: out.tokens_in,
            tokens_out: out.tokens_out,
            retries: out.retries,
            errors: out.attempt_errors.len(),
            messages: out.attempt_messages.len(),
            started: Instant::now(),
        }
    }

    /// A call's monitor entry: what it cost since `self` was taken.
    fn line(&self, out: &Outcome, n: usize, call: &CallPrompt, total: usize) -> Value {
        json!({
            "call": n + 1,
            "of": total,
            "dimensions": call.dimensions,
            "latency_ms": self.started.elapsed().as_millis() as u64,
            "tokens_in": out.tokens_in - self.tokens_in,
            "tokens_out": out.tokens_out - self.tokens_out,
            "retries": out.retries - self.retries,
            "errors": out.attempt_errors[self.errors..],
            "error_messages": out.attempt_messages[self.messages..],
        })
    }
}

/// An item asked in its calls, in order: each call its own request (with its own retries and
/// tokens), told the earlier calls' validated answers; the answers merged into one. A call
/// that fails ends the item as failed, with the calls before it cached.
async fn work_calls(shared: &Shared, job: &mut Job, skip_primary: bool, out: &mut Outcome) {
    let calls = job.calls.clone();
    let mut item = ItemCalls {
        skip_primary,
        earlier: Vec::new(),
        parts: Vec::new(),
        fallback: None,
        reasks: Vec::new(),
        all_cached: true,
        primary_failed: false,
        primary_answered: false,
    };
    for n in 0..calls.len() {
        if !one_call(shared, job, &calls, n, &mut item, out).await {
            item.settle_breaker(shared);
            return;
        }
    }
    item.settle_breaker(shared);
    out.cached = item.all_cached;
    if !item.reasks.is_empty() {
        // Counted as arbitrated (runs show stats) when any call was really asked again.
        let seconds: Vec<&Value> =
            item.reasks.iter().filter_map(|a| a.get("second")).filter(|v| !v.is_null()).collect();
        let second = if seconds.is_empty() { Value::Null } else { json!(seconds) };
        out.arbitration = Some(json!({ "second": second, "by_call": item.reasks }));
    }
    let primary = shared.chain[0].as_ref(); // never empty: build_chain refuses an empty chain
    let (provider, model) = item
        .fallback
        .take()
        .unwrap_or_else(|| (primary.provider().to_string(), primary.model().to_string()));
    out.answer = Some(Answered {
        raw: merge_parts(std::mem::take(&mut item.parts)),
        fallback: provider != primary.provider(),
        provider,
        model,
        cache: None,
    });
}

/// What an item's calls have given so far.
struct ItemCalls {
    skip_primary: bool,
    /// The validated answers told to later calls, by dimension.
    earlier: Vec<(String, Vec<LabelScore>)>,
    parts: Vec<RawAnswer>,
    /// The first fallback that answered a call (the item is credited to it).
    fallback: Option<(String, String)>,
    reasks: Vec<Value>,
    all_cached: bool,
    primary_failed: bool,
    primary_answered: bool,
}

impl ItemCalls {
    /// The circuit breaker counts items, not calls: one failure per item at most.
    fn settle_breaker(&self, shared: &Shared) {
        if self.primary_failed {
            shared.failures_in_a_row.fetch_add(1, Ordering::SeqCst);
        } else if self.primary_answered {
            shared.failures_in_a_row.store(0, Ordering::SeqCst);
        }
    }
}

/// Ask (or take from the cache) call `n` of an item and record it; false when the item
/// ends here (the call failed, or the run stops).
async fn one_call(
    shared: &Shared,
    job: &mut Job,
    calls: &[CallPrompt],
    n: usize,
    item: &mut ItemCalls,
    out: &mut Outcome,
) -> bool {
    let call = &calls[n]; // n < calls.len(): the caller counts up to it
    let primary = shared.chain[0].as_ref(); // never empty: build_chain refuses an empty chain
    let context = earlier_answers(&item.earlier);
    let key = call_cache_key(&job.prompt_hash, n, &context);
    let counts = Counts::of(out);
    let req = Request {
        item: job.request.item.clone(),
        system: call.system_with_taxonomy(),
        user: format!("{context}{}", job.request.user),
        schema: call.schema.clone(),
        temperature: job.request.temperature,
    };
    // A cached answer counts only under the key of the context it was given; one cached
    // after arbitration is final.
    let reasked = arbitrated_key(&key);
    let cached = job.call_cached.get_mut(n).and_then(Option::take);
    let cached = cached.filter(|(k, _)| *k == key || *k == reasked);
    let is_final = cached.as_ref().is_some_and(|(k, _)| *k == reasked);
    let found = cached.is_some();
    let result = match cached {
        Some((_, raw)) => Ok(Answered {
            raw,
            provider: primary.provider().into(),
            model: primary.model().into(),
            fallback: false,
            cache: None,
        }),
        None => {
            item.all_cached = false;
            // After the primary failed a call, the item's later calls go to the fallbacks.
            let skip = item.skip_primary || item.primary_failed;
            let r = ask_chain(shared, &req, skip, out).await;
            let primary_asked = !skip;
            match &r {
                Ok(a) if !a.fallback => item.primary_answered = true,
                Ok(_) | Err(ChainEnd::Failed(_)) if primary_asked => item.primary_failed = true,
                _ => {}
            }
            r
        }
    };
    let call_tokens = (out.tokens_in - counts.tokens_in, out.tokens_out - counts.tokens_out);
    let mut answered = match result {
        Ok(a) => a,
        Err(end) => {
            let mut line = counts.line(out, n, call, calls.len());
            line["cached"] = json!(false);
            if let ChainEnd::Failed(e) = &end {
                line["error"] = json!(e);
                let what =
                    format!("call {} of {} ({})", n + 1, calls.len(), call.dimensions.join(", "));
                out.error = Some(format!("{what}: {e}"));
            } else {
                end.record(out);
            }
            out.call_lines.push(line);
            return false;
        }
    };
    if let Some(first) = answered.cache.take() {
        let (tokens_in, tokens_out) = call_tokens;
        let model = answered.model.clone();
        out.call_cache.push(CallCache {
            key: key.clone(),
            raw: first,
            model,
            tokens_in,
            tokens_out,
        });
    }
    let mut arbitration = None;
    if !answered.fallback && !is_final && shared.arbitration {
        let scope = Scope { tax: &call.tax, context: &context, call: Some((n, calls.len())) };
        arbitration = arbitrate(shared, scope, primary, &req, &mut answered, out).await;
        // The answer after a real re-ask is cached too, so the calls after it keep their keys.
        if arbitration.as_ref().is_some_and(|a| a.get("second").is_some_and(|s| !s.is_null())) {
            let (model, raw) = (answered.model.clone(), answered.raw.clone());
            out.call_cache.push(CallCache {
                key: reasked,
                raw,
                model,
                tokens_in: 0,
                tokens_out: 0,
            });
        }
    }
    answered.raw.labels = own_labels(calls, &call.tax, &answered.raw.labels);
    let v = validate::finalize(&call.tax, &answered.raw.labels);
    if !found {
        let ms = counts.started.elapsed().as_millis() as u64;
        out.slowest_call_ms = Some(out.slowest_call_ms.unwrap_or(0).max(ms));
    }
    let mut line = counts.line(out, n, call, calls.len());
    line["cached"] = json!(found);
    line["provider"] = json!(answered.provider);
    line["model"] = json!(answered.model);
    line["fallback"] = json!(answered.fallback);
    line["labels"] = json!(v.labels);
    if let Some(a) = arbitration {
        line["arbitration"] = a.clone();
        item.reasks.push(a);
    }
    out.call_lines.push(line);
    if answered.fallback && item.fallback.is_none() {
        item.fallback = Some((answered.provider.clone(), answered.model.clone()));
    }
    item.earlier.extend(by_dimension(&call.tax, &v.labels));
    item.parts.push(answered.raw);
    true
}

/// The key of a call's answer after arbitration re-asked it.
fn arbitrated_key(key: &str) -> String {
    format!("{key}#arbitrated")
}

/// The cache key of call `n` (from 0) of an item: its prompt hash, the call, and what the
/// earlier calls answered (a later call's answer holds only for the answers it was told).
pub(super) fn call_cache_key(prompt_hash: &str, n: usize, context: &str) -> String {
    match context {
        "" => format!("{prompt_hash}#call{}", n + 1),
        c => format!("{prompt_hash}#call{}#{}", n + 1, &crate::model::sha256_hex(c)[..16]),
    }
}

/// Validated labels grouped by the dimensions of `tax` (what later calls are told).
fn by_dimension(tax: &Taxonomy, labels: &[LabelScore]) -> Vec<(String, Vec<LabelScore>)> {
    tax.dimensions
        .iter()
        .map(|d| {
            let mine = labels.iter().filter(|l| d.labels.iter().any(|x| x.name == l.name));
            (d.name.clone(), mine.cloned().collect())
        })
        .collect()
}

/// A call's labels in the item's answer: those of its own dimensions, and names no call
/// knows (validation reports them dropped). Another call's labels are not its to give: that
/// call answers them.
fn own_labels(calls: &[CallPrompt], call: &Taxonomy, labels: &[LabelScore]) -> Vec<LabelScore> {
    let known = |name: &str| calls.iter().any(|c| c.tax.resolve(name).is_some());
    labels.iter().filter(|l| call.resolve(&l.name).is_some() || !known(&l.name)).cloned().collect()
}

/// The calls' answers as one: labels together, rationales joined, the first summary and
/// keywords given.
fn merge_parts(parts: Vec<RawAnswer>) -> RawAnswer {
    let mut merged = RawAnswer::default();
    let mut rationales = Vec::new();
    for p in parts {
        merged.labels.extend(p.labels);
        if !p.rationale.trim().is_empty() {
            rationales.push(p.rationale);
        }
        if merged.summary.is_empty() {
            merged.summary = p.summary;
        }
        if merged.keywords.is_empty() {
            merged.keywords = p.keywords;
        }
    }
    merged.rationale = rationales.join(" | ");
    merged
}

/// Cached answers of an item's calls, in order, as far as the cache knows them. A later
/// call's key holds the earlier calls' answers, so lookups stop at the first miss. An answer
/// that arbitration would re-ask counts in its re-asked form, when that was cached; else the
/// lookups stop there too (its final labels are known only after the re-ask). Returns the
/// answers found with their keys, and the whole merged answer when every call was found.
pub(super) fn prefetch_calls<E>(
    calls: &[CallPrompt],
    prompt_hash: &str,
    arbitration: Option<f64>,
    mut lookup: impl FnMut(&str) -> Result<Option<RawAnswer>, E>,
) -> Result<(Vec<CachedCall>, Option<RawAnswer>), E> {
    let mut found = Vec::new();
    let mut earlier = Vec::new();
    let mut parts = Vec::new();
    for (n, call) in calls.iter().enumerate() {
        let key = call_cache_key(prompt_hash, n, &earlier_answers(&earlier));
        let Some(raw) = lookup(&key)? else { break };
        let (key, raw) = match arbitration.filter(|t| needs_arbitration(&call.tax, &raw, *t)) {
            None => (key, raw),
            Some(_) => {
                let reasked = arbitrated_key(&key);
                match lookup(&reasked)? {
                    Some(r) => (reasked, r),
                    None => {
                        found.push(Some((key, raw)));
                        break;
                    }
                }
            }
        };
        let labels = own_labels(calls, &call.tax, &raw.labels);
        let v = validate::finalize(&call.tax, &labels);
        earlier.extend(by_dimension(&call.tax, &v.labels));
        parts.push(RawAnswer { labels, ..raw.clone() });
        found.push(Some((key, raw)));
    }
    let complete = parts.len() == calls.len();
    Ok((found, complete.then(|| merge_parts(parts))))
}

/// A cached low-confidence answer with arbitration on: only the re-ask is sent.
async fn rearbitrate(shared: &Shared, job: &Job, raw: RawAnswer, out: &mut Outcome) {
    let primary = shared.chain[0].as_ref();
    let mut answered = Answered {
        raw,
        provider: primary.provider().into(),
        model: primary.model().into(),
        fallback: false,
        cache: None,
    };
    out.cached = true;
    out.arbitration =
        arbitrate(shared, Scope::whole(&shared.tax), primary, &job.request, &mut answered, out)
            .await;
    out.answer = Some(answered);
}

/// True when arbitration would re-ask part or all of this answer.
pub(super) fn needs_arbitration(tax: &Taxonomy, raw: &RawAnswer, threshold: f64) -> bool {
    !low_dimensions(tax, raw, threshold).is_empty()
}

/// A confidence as validation judges it: none is a plain claim (1), outside 0..1 counts as 0.
fn judged(l: &crate::model::LabelScore) -> f64 {
    match l.confidence {
        None => 1.0,
        Some(c) if c.is_finite() && (0.0..=1.0).contains(&c) => c,
        Some(_) => 0.0,
    }
}

/// The best confidence the answer gives in each dimension it speaks of.
fn best_per_dimension(tax: &Taxonomy, raw: &RawAnswer) -> std::collections::BTreeMap<String, f64> {
    let mut best = std::collections::BTreeMap::new();
    for l in &raw.labels {
        let Some(name) = tax.resolve(&l.name) else { continue };
        let Some(d) = tax.dimension_of(name) else { continue };
        let e = best.entry(d.name.clone()).or_insert(0.0f64);
        *e = e.max(judged(l));
    }
    best
}

/// Dimensions to re-ask: those whose best label is below the threshold (or min_confidence,
/// if higher); every dimension when the answer names no label of the taxonomy.
pub(super) fn low_dimensions(tax: &Taxonomy, raw: &RawAnswer, threshold: f64) -> Vec<String> {
    let best = best_per_dimension(tax, raw);
    if best.is_empty() {
        return tax.dimensions.iter().map(|d| d.name.clone()).collect();
    }
    let floor = threshold.max(tax.min_confidence);
    best.into_iter().filter(|(_, b)| *b < floor).map(|(d, _)| d).collect()
}

// Judged as validation judges it, so a name-only answer is neither abstained nor re-asked.
fn top(v: &validate::Validated) -> f64 {
    v.labels.first().map_or(0.0, validate::score)
}

/// What an answer being arbitrated is about.
#[derive(Clone, Copy)]
struct Scope<'a> {
    /// The dimensions asked about (a call's, or the whole taxonomy).
    tax: &'a Taxonomy,
    /// What earlier calls answered, told again in a re-ask.
    context: &'a str,
    /// The call's place (index, count) in a multi-call prompt.
    call: Option<(usize, usize)>,
}

impl<'a> Scope<'a> {
    fn whole(tax: &'a Taxonomy) -> Self {
        Scope { tax, context: "", call: None }
    }
}

/// The request of a re-ask: the whole prompt when every dimension is re-asked, else a prompt
/// about the low dimensions only (with the call's rules, in a multi-call prompt).
fn reask_request(
    shared: &Shared,
    scope: Scope<'_>,
    req: &Request,
    low: &[String],
    temperature: f64,
) -> Request {
    let tax = scope.tax;
    if low.len() == tax.dimensions.len() {
        return Request { temperature, ..req.clone() };
    }
    let allowed: std::collections::BTreeSet<String> = tax
        .dimensions
        .iter()
        .filter(|d| low.contains(&d.name))
        .flat_map(|d| d.labels.iter().map(|l| l.name.clone()))
        .collect();
    let mut sub = tax.restricted(&allowed);
    sub.calls.clear();
    let sources = &shared.prompt_sources;
    let bundle = super::prompt::PromptBundle::with_sources(
        &sub,
        &shared.prompt_version,
        Vec::new(),
        sources,
    );
    let (system, schema) = match scope.call {
        Some((n, total)) => {
            let c = super::prompt::call_prompt(sub, n, total, sources);
            (c.system_with_taxonomy(), c.schema)
        }
        None => (bundle.system_with_taxonomy(), bundle.schema.clone()),
    };
    Request {
        item: req.item.clone(),
        system,
        user: format!("{}{}", scope.context, bundle.user_message(&req.item)),
        schema,
        temperature,
    }
}

/// Re-ask the low-confidence dimensions of an answer (about the dimensions of `tax`) at a
/// higher temperature; per dimension, keep the more confident answer. Returns the record of
/// both answers for the monitor log, or None when nothing was low.
async fn arbitrate(
    shared: &Shared,
    scope: Scope<'_>,
    s: &dyn Suggester,
    req: &Request,
    answered: &mut Answered,
    out: &mut Outcome,
) -> Option<Value> {
    let tax = scope.tax;
    let low = low_dimensions(tax, &answered.raw, shared.arbitration_threshold);
    if low.is_empty() {
        return None;
    }
    let temperature =
        shared.arbitration_temperature.max(shared.temperature + 0.3).min(s.max_temperature());
    if temperature <= shared.temperature {
        return Some(json!({
            "temperature": shared.temperature,
            "dimensions": low,
            "second": null,
            "kept": "first",
            "skipped": "the run's temperature is already the provider's highest",
        }));
    }
    let again = reask_request(shared, scope, req, &low, temperature);
    let second = match ask(shared, s, &again, out).await {
        Ok(a) => a.raw,
        Err(_) => {
            return Some(json!({
                "temperature": temperature, "dimensions": low, "second": null, "kept": "first"
            }));
        }
    };
    let kept = choose(tax, &answered.raw, &second, &low);
    let taken: Vec<&String> =
        kept.iter().filter(|(_, k)| **k == "second").map(|(d, _)| d).collect();
    let summary = match taken.len() {
        0 => "first",
        n if n == kept.len() => "second",
        _ => "mixed",
    };
    let record = json!({
        "temperature": temperature,
        "dimensions": low,
        "first": answered.raw,
        "second": second,
        "kept": summary,
        "kept_by_dimension": kept,
    });
    let note = format!(" [arbitration at temperature {temperature}: kept the {summary} answer]");
    if !taken.is_empty() {
        let in_taken = |name: &str| {
            tax.resolve(name)
                .and_then(|n| tax.dimension_of(n))
                .is_some_and(|d| taken.contains(&&d.name))
        };
        let mut labels: Vec<_> =
            answered.raw.labels.iter().filter(|l| !in_taken(&l.name)).cloned().collect();
        labels.extend(second.labels.iter().filter(|l| in_taken(&l.name)).cloned());
        if summary == "second" && low.len() == tax.dimensions.len() {
            answered.raw = second;
        } else {
            answered.raw.labels = labels;
        }
    }
    answered.raw.rationale.push_str(&note);
    Some(record)
}

/// Per re-asked dimension, which answer wins. With every dimension re-asked, the answers are
/// judged whole: fewer validation issues first (a re-ask answering 1-5 instead of 0..1 does
/// not replace a sound one), then the more confident. Otherwise each dimension goes to the
/// answer with the more confident label in it.
fn choose(
    tax: &Taxonomy,
    first: &RawAnswer,
    second: &RawAnswer,
    low: &[String],
) -> std::collections::BTreeMap<String, &'static str> {
    if low.len() == tax.dimensions.len() {
        let (v1, v2) =
            (validate::finalize(tax, &first.labels), validate::finalize(tax, &second.labels));
        let keep_second = match v2.issues.len().cmp(&v1.issues.len()) {
            std::cmp::Ordering::Less => true,
            std::cmp::Ordering::Greater => false,
            std::cmp::Ordering::Equal => top(&v2) > top(&v1),
        };
        let k = if keep_second { "second" } else { "first" };
        return low.iter().map(|d| (d.clone(), k)).collect();
    }
    let (b1, b2) = (best_per_dimension(tax, first), best_per_dimension(tax, second));
    low.iter()
        .map(|d| {
            let (x, y) = (b1.get(d).copied().unwrap_or(0.0), b2.get(d).copied().unwrap_or(0.0));
            (d.clone(), if y > x { "second" } else { "first" })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_honours_retry_after() {
        let base = Duration::from_millis(100);
        for attempt in 0..4 {
            let d = backoff(base, attempt, None);
            let full = base * (1 << attempt);
            assert!(d >= full / 2 && d <= full, "{attempt}: {d:?}");
        }
        let d = backoff(base, 0, Some(Duration::from_secs(2)));
        assert!(d >= Duration::from_secs(2) && d <= Duration::from_millis(2100), "{d:?}");
        assert!(backoff(Duration::from_secs(100), 10, None) <= MAX_WAIT);
    }

    fn split_sft() -> (Taxonomy, Vec<CallPrompt>) {
        let yml = crate::taxonomy::DEFAULT_LABELS_YML.replacen(
            "  sft:\n    max_labels: 12\n",
            "  sft:\n    max_labels: 12\n    calls: [[intent, language], [domain, task, difficulty, concept, agentic, constraint, context]]\n",
            1,
        );
        let f = crate::taxonomy::LabelsFile::parse(&yml, std::path::Path::new("l.yml")).unwrap();
        let tax = f.get("sft").unwrap().clone();
        let calls = super::super::prompt::PromptBundle::new(&tax, "v1", vec![]).calls;
        (tax, calls)
    }

    fn answer(labels: &[(&str, f64)]) -> RawAnswer {
        RawAnswer {
            labels: labels
                .iter()
                .map(|(n, c)| LabelScore { name: n.to_string(), confidence: Some(*c) })
                .collect(),
            ..Default::default()
        }
    }

    #[test]
    fn prefetch_follows_the_chain_of_answers_and_stops_where_it_must() {
        let (_, calls) = split_sft();
        let first = answer(&[("fix", 0.9), ("rust", 0.9), ("concurrency", 0.9)]);
        let second = answer(&[("snippet", 0.9)]);
        let k1 = call_cache_key("P", 0, "");
        // Call 2's key holds call 1's validated answer (not the label of another call's
        // dimension that call 1 slipped in).
        let ctx = earlier_answers(&[
            ("intent".into(), vec![LabelScore { name: "fix".into(), confidence: Some(0.9) }]),
            ("language".into(), vec![LabelScore { name: "rust".into(), confidence: Some(0.9) }]),
        ]);
        let k2 = call_cache_key("P", 1, &ctx);
        assert_ne!(k2, call_cache_key("P", 1, ""));
        let cache: std::collections::HashMap<String, RawAnswer> =
            [(k1.clone(), first.clone()), (k2.clone(), second.clone())].into();
        let mut asked = Vec::new();
        let mut lookup = |k: &str| {
            asked.push(k.to_string());
            Ok::<_, ()>(cache.get(k).cloned())
        };
        let (found, whole) = prefetch_calls(&calls, "P", None, &mut lookup).unwrap();
        assert_eq!(found.len(), 2);
        let whole = whole.expect("both calls cached");
        let names: Vec<&str> = whole.labels.iter().map(|l| l.name.as_str()).collect();
        assert_eq!(names, ["fix", "rust", "snippet"], "concurrency was not call 1's to give");
        // Arbitration would re-ask call 1 (snippet-only call 2 is sure): stop after call 1.
        let low = answer(&[("fix", 0.9), ("rust", 0.3)]);
        let mut cache: std::collections::HashMap<String, RawAnswer> =
            [(k1.clone(), low), (k2.clone(), second.clone())].into();
        let look = |c: &std::collections::HashMap<String, RawAnswer>| {
            prefetch_calls(&calls, "P", Some(0.65), |k| Ok::<_, ()>(c.get(k).cloned())).unwrap()
        };
        let (found, whole) = look(&cache);
        assert_eq!((found.len(), whole.is_none()), (1, true));
        // With it cached, it is the final answer of call 1 and call 2 follows from it.
        cache.insert(arbitrated_key(&k1), first.clone());
        let (found, whole) = look(&cache);
        assert_eq!(found[0].as_ref().unwrap().0, arbitrated_key(&k1));
        assert!(whole.is_some() && found.len() == 2);
        // A miss on call 1 looks no further.
        asked.clear();
        let (found, whole) =
            prefetch_calls(&calls, "Q", None, |k| Ok::<_, ()>(cache.get(k).cloned())).unwrap();
        assert!(found.is_empty() && whole.is_none());
    }

    #[test]
    fn budget_reserves_and_stops_before_the_limit() {
        let mut b = Budget::new(1000, 0);
        let r = b.reserve(300).unwrap();
        b.settle(r, Some(400));
        let r = b.reserve(300).unwrap(); // 400 + 400 <= 1000
        b.settle(r, Some(400));
        assert!(b.reserve(300).is_none(), "800 + 400 > 1000");
        // Another process spent meanwhile: the store's total is what counts.
        let mut b = Budget::new(1000, 0);
        let r = b.reserve(100).unwrap();
        b.settle(r, Some(100));
        b.stored(100, 950);
        assert!(b.reserve(10).is_none(), "950 recorded + 100 expected > 1000");
        let mut unlimited = Budget::new(0, 5_000_000);
        assert!(unlimited.reserve(10).is_some());
    }
}
