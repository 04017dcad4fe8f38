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
        self.cache_calls(store, &out)?;
        self.log_calls(log, &out)?;
        let mut line = out.monitor_line(&self.run_id);
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
        // Rules are checked on what validation kept, against the item's structure.
        let checked = match out.item.as_deref() {
            Some(item) => crate::suggest::rules::check(
                &self.tax,
                &v.labels,
                &crate::text::signals::Signals::of(item),
            ),
            None => Default::default(),
        };
        report.inconsistent += usize::from(!checked.violations.is_empty());
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
            violations: checked.violations.clone(),
            summary: summary_of(&a.raw, out.item.as_deref()),
            keywords: keywords_of(&a.raw),
        };
        report.suggested += 1;
        report.cached += usize::from(out.cached);
        report.abstained += usize::from(v.abstained);
        report.dropped_labels += v.dropped.len();
        *report.providers.entry(a.provider.clone()).or_default() += 1;
        note_answer(&mut line, &a, &v, out.arbitration.as_ref());
        if !checked.violations.is_empty() {
            line["violations"] = json!(checked.violations);
        }
        if !checked.notes.is_empty() {
            line["rule_notes"] = json!(checked.notes);
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

    /// Cache the fresh answers of a multi-call prompt's calls, whatever became of the item.
    pub(super) fn cache_calls(&self, store: &mut Store, out: &Outcome) -> Result<(), RunError> {
        for c in &out.call_cache {
            let cached = CachedAnswer {
                answer: serde_json::to_string(&c.raw).unwrap_or_default(),
                tokens_in: c.tokens_in as i64,
                tokens_out: c.tokens_out as i64,
            };
            store.cache_put(&out.content_hash, &c.key, &c.model, &cached, &now_rfc3339())?;
        }
        Ok(())
    }

    /// Each call's own monitor-log entry, before the item's.
    pub(super) fn log_calls(&self, log: &mut MonitorLog, out: &Outcome) -> Result<(), RunError> {
        for c in &out.call_lines {
            log.write(&super::super::worker::call_line(&self.run_id, &out.key, c))?;
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
/// The per-item monitor log. Each line goes out in one write, so a killed process leaves
/// whole lines; a fragment left by an older build is cut off when the log is opened again.
pub(in crate::suggest) struct MonitorLog {
    pub(super) path: PathBuf,
    pub(super) out: std::fs::File,
}

impl MonitorLog {
    pub(in crate::suggest) fn open(path: &PathBuf) -> Result<Self, RunError> {
        let io = |source| RunError::Io { path: path.clone(), source };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let opts = std::fs::OpenOptions::new().create(true).read(true).append(true).clone();
        let out = opts.open(path).map_err(io)?;
        cut_torn_tail(&out).map_err(io)?;
        Ok(MonitorLog { path: path.clone(), out })
    }

    pub(in crate::suggest) fn write(&mut self, v: &Value) -> Result<(), RunError> {
        let line = format!("{v}\n");
        self.out
            .write_all(line.as_bytes())
            .map_err(|source| RunError::Io { path: self.path.clone(), source })
    }

    pub(in crate::suggest) fn flush(&mut self) -> Result<(), RunError> {
        self.out.flush().map_err(|source| RunError::Io { path: self.path.clone(), source })
    }
}

/// Drop an unfinished last line (a process killed mid-write): it is not a record.
fn cut_torn_tail(f: &std::fs::File) -> std::io::Result<()> {
    use std::io::{Read, Seek, SeekFrom};
    let len = f.metadata()?.len();
    let mut keep = len;
    let mut r = f;
    let mut buf = [0u8; 4096];
    while keep > 0 {
        let start = keep.saturating_sub(buf.len() as u64);
        r.seek(SeekFrom::Start(start))?;
        let chunk = &mut buf[..(keep - start) as usize];
        r.read_exact(chunk)?;
        match chunk.iter().rposition(|&b| b == b'\n') {
            Some(i) => {
                keep = start + i as u64 + 1;
                break;
            }
            None => keep = start,
        }
    }
    if keep < len {
        f.set_len(keep)?;
    }
    Ok(())
}

/// Longest summary kept.
const MAX_SUMMARY_CHARS: usize = 400;

/// The model's summary, one line and capped; without one (an offline provider answered, or
/// the model gave none), the title and the first 150 characters of the text (seed 003).
pub(crate) fn summary_of(raw: &RawAnswer, item: Option<&crate::model::Item>) -> String {
    let given = crate::text::one_line(&raw.summary);
    if !given.trim().is_empty() {
        return given.chars().take(MAX_SUMMARY_CHARS).collect();
    }
    let Some(item) = item else { return String::new() };
    let text = match item.turns.iter().find(|t| t.role == "user") {
        Some(t) => t.content.as_str(),
        None => item.body.as_str(),
    };
    let start: String = crate::text::one_line(text).chars().take(150).collect();
    let title = crate::text::one_line(&item.title);
    match (title.is_empty(), start.is_empty()) {
        (true, _) => start,
        (false, true) => title,
        (false, false) if start.starts_with(&title) => start,
        (false, false) => format!("{title}: {start}"),
    }
}

/// The model's keywords: one line each, lower case, deduplicated, at most 8 of 40 characters.
pub(crate) fn keywords_of(raw: &RawAnswer) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for k in &raw.keywords {
        let k: String = crate::text::one_line(k).trim().to_lowercase().chars().take(40).collect();
        if !k.is_empty() && !out.contains(&k) && out.len() < 8 {
            out.push(k);
        }
    }
    out
}
