//! Where a run's outcomes go: the store (suggestions, cache, budget, run), the monitor log,
//! the report, and the terminal.

use super::*;

/// Where outcomes go: the store (suggestions, cache, budget, run), the monitor log, the
/// report, and the terminal.
pub(super) struct Sink {
    pub(super) run: Run,
    pub(super) report: RunReport,
    pub(super) log: MonitorLog,
    pub(super) writer: Writer,
    pub(super) day: String,
    pub(super) used_at_start: u64,
    /// Today's token budget, shared with the in-flight requests.
    pub(super) budget: Arc<Mutex<Budget>>,
    pub(super) warned_budget: bool,
    pub(super) progress: bool,
    pub(super) on_item: Option<OnItem>,
    pub(super) handled: usize,
    pub(super) bar: indicatif::ProgressBar,
}

impl Sink {
    pub(super) fn open(
        ws: &Workspace,
        store: &Store,
        opts: &RunOptions,
        run: Run,
        tax: Arc<Taxonomy>,
        warnings: Vec<String>,
    ) -> Result<Self, RunError> {
        let log_path = ws.logs_dir().join(format!("suggest-{}.jsonl", run.id));
        let ledger = Ledger { store: Store::open(&ws.store_path())?, owner: ledger_owner(&run) };
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
            inconsistent: 0,
            budget_used: used_at_start,
            budget_limit: opts.daily_budget,
            monitor_log: log_path.clone(),
            warnings,
            errors_by_kind: BTreeMap::new(),
            first_errors: BTreeMap::new(),
            concurrency_start: opts.concurrency,
            concurrency: opts.concurrency,
            batches: Vec::new(),
            items: Vec::new(),
        };
        Ok(Sink {
            writer: Writer { batch: Vec::new(), tax, run_id: run.id.clone() },
            run,
            report,
            log: MonitorLog::open(&log_path)?,
            day,
            used_at_start,
            budget: Arc::new(Mutex::new(
                Budget::new(opts.daily_budget, used_at_start).with_ledger(ledger),
            )),
            warned_budget: false,
            progress: opts.progress,
            on_item: opts.on_item.clone(),
            handled: 0,
            bar: indicatif::ProgressBar::hidden(),
        })
    }

    /// Print the warnings gathered so far (provider substitutions, budget at 80%).
    pub(super) fn warn_at_start(&mut self, show: bool) {
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

    /// Count failed attempts by kind, and say what the server said the first time each kind
    /// happened (a run that falls back on every item used to hide the cause).
    fn note_errors(&mut self, out: &Outcome) {
        for (kind, message) in out.attempt_errors.iter().zip(&out.attempt_messages) {
            *self.report.errors_by_kind.entry(kind.clone()).or_insert(0) += 1;
            if !self.report.first_errors.contains_key(kind) {
                self.report.first_errors.insert(kind.clone(), message.clone());
                tracing::warn!(kind = %kind, "{message}");
                self.warn(format!("{kind}: {message}"));
            }
        }
    }

    pub(super) fn warn(&mut self, msg: String) {
        if self.progress {
            self.bar.suspend(|| eprintln!("warning: {}", crate::text::one_line(&msg)));
        }
        self.report.warnings.push(msg);
    }

    /// A finished item: its answer is stored, or, when it was never asked (budget, stop),
    /// only what it spent is counted.
    pub(super) fn settle(&mut self, store: &mut Store, out: Outcome) -> Result<(), RunError> {
        if out.over_budget || out.halted {
            self.report.not_asked += 1;
            // Calls answered before the stop were paid for: a resume starts after them.
            self.writer.cache_calls(store, &out)?;
            self.writer.log_calls(&mut self.log, &out)?;
            return self.account(store, &out);
        }
        self.handle(store, out)?;
        self.bar.inc(1);
        Ok(())
    }

    /// Count an item's tokens against today's budget (a new day starts a new budget) and
    /// the run.
    pub(super) fn account(&mut self, store: &mut Store, out: &Outcome) -> Result<(), RunError> {
        let day = today();
        if day != self.day {
            self.day = day;
            self.warned_budget = false;
            let total = store.budget_used(&self.day)?;
            lock(&self.budget).stored(0, total);
        }
        let spent = out.tokens_in + out.tokens_out;
        if spent > 0 || !out.reservations.is_empty() {
            let total = store.budget_settle(&self.day, spent, &out.reservations)?;
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

    pub(super) fn handle(&mut self, store: &mut Store, out: Outcome) -> Result<(), RunError> {
        self.account(store, &out)?;
        self.note_errors(&out);
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
            self.run.cost_usd = self.cost();
            store.save_run(&self.run)?;
        }
        Ok(())
    }

    pub(super) fn finish(mut self, store: &mut Store, status: &str) -> Result<RunReport, RunError> {
        self.warn_fallbacks();
        self.writer.flush(store)?;
        self.log.flush()?;
        let all_failed = self.report.suggested == 0 && self.report.failed > 0;
        self.run.status = if status == "done" && all_failed { "failed" } else { status }.into();
        self.run.finished_at = Some(now_rfc3339());
        self.run.cost_usd = self.cost();
        store.save_run(&self.run)?;
        self.report.budget_used = store.budget_used(&self.day)?;
        // Requests cut off by a stop still hold reservations: the run has ended, drop them.
        store.budget_release(&ledger_owner(&self.run))?;
        self.report.run = self.run;
        Ok(self.report)
    }
}

impl Sink {
    /// The run's estimated cost: tokens answered through a provider batch at half the list
    /// price (both providers' batch discount), the rest at the list price.
    pub(super) fn cost(&self) -> f64 {
        let (bi, bo) = batch_tokens(&self.run);
        let live =
            estimate_cost(&self.run.model, self.run.tokens_in - bi, self.run.tokens_out - bo);
        live + 0.5 * estimate_cost(&self.run.model, bi, bo)
    }

    /// Count a batch answer's tokens as batch tokens (recorded in the run's config).
    pub(super) fn add_batch_tokens(&mut self, tokens_in: u64, tokens_out: u64) {
        let (bi, bo) = batch_tokens(&self.run);
        self.run.config["batch_tokens"] = json!([bi + tokens_in as i64, bo + tokens_out as i64]);
    }
}

/// Tokens of a run answered through provider batches (input, output).
pub(super) fn batch_tokens(run: &Run) -> (i64, i64) {
    let t = run.config.get("batch_tokens");
    let at = |i: usize| t.and_then(|t| t.get(i)).and_then(Value::as_i64).unwrap_or(0);
    (at(0), at(1))
}

/// Names this process's reservations for a run in the budget ledger.
pub(super) fn ledger_owner(run: &Run) -> String {
    format!("{}/{}", run.id, std::process::id())
}

impl Sink {
    /// Answers from fallbacks are kept but are not the run's model's: say how many, and
    /// how to have the run's own provider answer them.
    pub(super) fn warn_fallbacks(&mut self) {
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
