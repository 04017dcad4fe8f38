//! Turning outcomes into stored suggestions, cache entries, monitor-log lines and counts.

use super::*;

/// Turns outcomes into stored suggestions, cache entries, monitor lines and report counts.
pub(super) struct Writer {
    pub(super) batch: Vec<Suggestion>,
    pub(super) tax: Arc<Taxonomy>,
    pub(super) run_id: String,
}

impl Writer {
    pub(super) fn handle(
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

    pub(super) fn flush(&mut self, store: &mut Store) -> Result<(), RunError> {
        if !self.batch.is_empty() {
            store.save_suggestions(&self.batch)?;
            self.batch.clear();
        }
        Ok(())
    }
}

/// The per-item JSONL monitor log under .sift/logs/.
pub(super) struct MonitorLog {
    pub(super) path: PathBuf,
    pub(super) out: std::io::BufWriter<std::fs::File>,
}

impl MonitorLog {
    pub(super) fn open(path: &PathBuf) -> Result<Self, RunError> {
        let io = |source| RunError::Io { path: path.clone(), source };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let f = std::fs::OpenOptions::new().create(true).append(true).open(path).map_err(io)?;
        Ok(MonitorLog { path: path.clone(), out: std::io::BufWriter::new(f) })
    }

    pub(super) fn write(&mut self, v: &Value) -> Result<(), RunError> {
        writeln!(self.out, "{v}").map_err(|source| RunError::Io { path: self.path.clone(), source })
    }

    pub(super) fn flush(&mut self) -> Result<(), RunError> {
        self.out.flush().map_err(|source| RunError::Io { path: self.path.clone(), source })
    }
}
