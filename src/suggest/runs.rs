//! Runs as versioned experiments: listing, comparing two runs (flipped items, per-label
//! kappa, F1 against gold, prompt diff), exporting a run's suggestions, importing a run
//! made elsewhere, and marking a run's lifecycle state.

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::validate;
use crate::metrics::agreement::{self, SetRecord};
use crate::metrics::evaluation::{self, EvalItem};
use crate::model::{LabelScore, Run, RunState, Suggestion, now_rfc3339, sha256_hex};
use crate::store::{Store, StoreError};
use crate::taxonomy::{LabelsFile, Taxonomy};
use crate::workspace::Workspace;

#[derive(Debug, thiserror::Error)]
pub enum RunsError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("no run named or with id `{0}` (see `sift runs list`)")]
    NoRun(String),
    #[error("a run named `{0}` exists already; pick another --name")]
    Exists(String),
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{0}")]
    Invalid(String),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> RunsError + '_ {
    move |source| RunsError::Io { path: path.to_path_buf(), source }
}

/// A run as listed (no bundle text).
#[derive(Debug, Clone, Serialize)]
pub struct RunSummary {
    pub id: String,
    pub name: Option<String>,
    pub provider: String,
    pub model: String,
    pub prompt_version: String,
    pub prompt_hash: String,
    pub taxonomy: String,
    pub taxonomy_hash: String,
    pub dataset_fingerprint: String,
    pub started_at: String,
    pub finished_at: Option<String>,
    pub status: String,
    pub state: RunState,
    pub tokens_in: i64,
    pub tokens_out: i64,
    pub cost_usd: f64,
    pub suggestions: i64,
    pub config: serde_json::Value,
}

impl RunSummary {
    fn new(r: &Run, suggestions: i64) -> Self {
        RunSummary {
            id: r.id.clone(),
            name: r.name.clone(),
            provider: r.provider.clone(),
            model: r.model.clone(),
            prompt_version: r.prompt_version.clone(),
            prompt_hash: r.prompt_hash.clone(),
            taxonomy: r.taxonomy.clone(),
            taxonomy_hash: r.taxonomy_hash.clone(),
            dataset_fingerprint: r.dataset_fingerprint.clone(),
            started_at: r.started_at.clone(),
            finished_at: r.finished_at.clone(),
            status: r.status.clone(),
            state: r.state,
            tokens_in: r.tokens_in,
            tokens_out: r.tokens_out,
            cost_usd: r.cost_usd,
            suggestions,
            config: r.config.clone(),
        }
    }
}

/// Every run, newest first, with its suggestion count.
pub fn list(store: &Store) -> Result<Vec<RunSummary>, RunsError> {
    let counts = store.suggestion_counts()?;
    Ok(store
        .runs()?
        .iter()
        .map(|r| RunSummary::new(r, counts.get(&r.id).copied().unwrap_or(0)))
        .collect())
}

/// One run's summary and its prompt bundle.
pub fn show(store: &Store, id_or_name: &str) -> Result<(RunSummary, String), RunsError> {
    let r = find(store, id_or_name)?;
    let n = store.run_item_keys(&r.id, false)?.len() as i64;
    Ok((RunSummary::new(&r, n), r.bundle))
}

fn find(store: &Store, id_or_name: &str) -> Result<Run, RunsError> {
    store.run(id_or_name)?.ok_or_else(|| RunsError::NoRun(id_or_name.into()))
}

/// An item whose labels differ between the two runs.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Flip {
    pub item: String,
    pub a: Vec<String>,
    pub b: Vec<String>,
}

/// Micro and macro F1 of a run against gold, over the items that have gold and that both
/// compared runs answered.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct GoldScore {
    pub items: usize,
    pub micro_f1: Option<f64>,
    pub macro_f1: Option<f64>,
    pub exact_match: Option<f64>,
}

/// `sift runs compare A B`.
#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    pub a: RunSummary,
    pub b: RunSummary,
    /// Items suggested by both runs.
    pub common_items: usize,
    pub only_a: usize,
    pub only_b: usize,
    pub flipped: Vec<Flip>,
    /// Cohen's kappa between the runs, per label, over the common items (null if undefined).
    pub kappa: BTreeMap<String, Option<f64>>,
    pub gold_a: Option<GoldScore>,
    pub gold_b: Option<GoldScore>,
    pub same_prompt: bool,
    /// Both runs cover the same items (equal dataset fingerprints); when not, the figures
    /// compare only the items both answered.
    pub same_items: bool,
    /// Unified diff of the two prompt bundles (empty when identical).
    pub prompt_diff: String,
    /// The same diff by bundle section (system, instructions, taxonomy, ...): only the
    /// sections that differ.
    pub prompt_sections: Vec<SectionDiff>,
    /// Two runs of one experiment: per-item deltas, confidence histograms, the F1 difference
    /// with its bootstrap interval, and McNemar's test.
    pub paired: Option<super::lifecycle::Paired>,
}

impl Comparison {
    /// The warning when the runs answered other items, in the words the command line and the
    /// runs view share.
    pub fn items_warning(&self) -> Option<String> {
        (!self.same_items).then(|| {
            format!(
                "warning: the two runs cover different items (their dataset fingerprints \
                 differ); the figures compare only the {} items both answered",
                self.common_items
            )
        })
    }
}

/// One section of two prompt bundles that differs.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SectionDiff {
    pub section: String,
    pub diff: String,
}

/// The bundle's `## ` sections, by heading, in order; a heading seen again (a prompt file
/// may hold one) is told apart by its count.
fn sections(bundle: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = vec![("header".into(), String::new())];
    for line in bundle.lines() {
        if let Some(h) = line.strip_prefix("## ") {
            let seen =
                out.iter().filter(|(n, _)| n == h || n.starts_with(&format!("{h} #"))).count();
            let name = if seen == 0 { h.to_string() } else { format!("{h} #{}", seen + 1) };
            out.push((name, String::new()));
        } else if let Some((_, text)) = out.last_mut() {
            text.push_str(line);
            text.push('\n');
        }
    }
    out
}

/// The sections of two bundles that differ, each with its own unified diff.
pub fn diff_by_section(a: &str, b: &str) -> Vec<SectionDiff> {
    let (sa, sb) = (sections(a), sections(b));
    let mut names: Vec<&String> = sa.iter().map(|(n, _)| n).collect();
    names.extend(sb.iter().map(|(n, _)| n).filter(|n| !sa.iter().any(|(x, _)| x == *n)));
    let get = |v: &[(String, String)], n: &str| {
        v.iter().find(|(x, _)| x == n).map(|(_, t)| t.clone()).unwrap_or_default()
    };
    names
        .into_iter()
        .filter_map(|n| {
            let (x, y) = (get(&sa, n), get(&sb, n));
            (x != y).then(|| SectionDiff {
                section: n.clone(),
                diff: similar::TextDiff::from_lines(&x, &y)
                    .unified_diff()
                    .context_radius(2)
                    .to_string(),
            })
        })
        .collect()
}

/// Compare two runs.
pub fn compare(
    ws: &Workspace,
    labels: &LabelsFile,
    store: &Store,
    a: &str,
    b: &str,
) -> Result<Comparison, RunsError> {
    let (ra, rb) = (find(store, a)?, find(store, b)?);
    let sa = by_item(store.run_suggestions(&ra.id)?);
    let sb = by_item(store.run_suggestions(&rb.id)?);
    let names = |s: &Suggestion| -> Vec<String> {
        let mut v: Vec<String> = s.labels.iter().map(|l| l.name.clone()).collect();
        v.sort();
        v
    };
    let mut records: Vec<SetRecord> = Vec::new();
    let mut flipped = Vec::new();
    for (key, x) in &sa {
        if let Some(y) = sb.get(key) {
            let (la, lb) = (names(x), names(y));
            if la != lb {
                flipped.push(Flip { item: key.clone(), a: la.clone(), b: lb.clone() });
            }
            records.push((key.clone(), "a".into(), la));
            records.push((key.clone(), "b".into(), lb));
        }
    }
    let common = records.len() / 2;
    let tax = labels.get(&ra.taxonomy).ok().or_else(|| labels.get(&rb.taxonomy).ok());
    let mut universe: Vec<String> = tax.map(Taxonomy::label_names).unwrap_or_default();
    for (_, _, l) in &records {
        for n in l {
            if !universe.contains(n) {
                universe.push(n.clone());
            }
        }
    }
    let tables = agreement::label_presence_tables(&records, &universe);
    let kappa = universe
        .iter()
        .zip(&tables)
        .map(|(l, t)| (l.clone(), if common == 0 { None } else { agreement::cohen_kappa(t, 0, 1) }))
        .collect();
    let gold = gold_labels(ws, store)?;
    let prompt_diff = if ra.bundle == rb.bundle {
        String::new()
    } else {
        similar::TextDiff::from_lines(&ra.bundle, &rb.bundle)
            .unified_diff()
            .context_radius(3)
            .header(
                &format!("{} ({})", ra.id, ra.prompt_version),
                &format!("{} ({})", rb.id, rb.prompt_version),
            )
            .to_string()
    };
    let counts = store.suggestion_counts()?;
    let count = |r: &Run| counts.get(&r.id).copied().unwrap_or(0);
    Ok(Comparison {
        common_items: common,
        only_a: sa.len() - common,
        only_b: sb.len() - common,
        flipped,
        kappa,
        gold_a: gold_score(&sa, &sb, &gold, &universe, tax),
        gold_b: gold_score(&sb, &sa, &gold, &universe, tax),
        same_prompt: ra.prompt_hash == rb.prompt_hash,
        same_items: !ra.dataset_fingerprint.is_empty()
            && ra.dataset_fingerprint == rb.dataset_fingerprint,
        prompt_sections: diff_by_section(&ra.bundle, &rb.bundle),
        prompt_diff,
        paired: super::lifecycle::paired(ws, store, &ra, &rb)?,
        a: RunSummary::new(&ra, count(&ra)),
        b: RunSummary::new(&rb, count(&rb)),
    })
}

fn by_item(v: Vec<Suggestion>) -> BTreeMap<String, Suggestion> {
    v.into_iter().map(|s| (s.item.clone(), s)).collect()
}

/// A run's score against gold on the gold items both runs answered: scores over different
/// items would not be comparable.
fn gold_score(
    run: &BTreeMap<String, Suggestion>,
    other: &BTreeMap<String, Suggestion>,
    gold: &HashMap<String, Vec<String>>,
    universe: &[String],
    tax: Option<&Taxonomy>,
) -> Option<GoldScore> {
    let items: Vec<EvalItem> = run
        .iter()
        .filter(|(k, _)| other.contains_key(*k))
        .filter_map(|(k, s)| {
            Some(EvalItem {
                gold: gold.get(k)?.clone(),
                predicted: s.labels.iter().map(|l| (l.name.clone(), l.confidence)).collect(),
            })
        })
        .collect();
    if items.is_empty() {
        return None;
    }
    let dims = tax.map(evaluation::single_select).unwrap_or_default();
    let r = evaluation::evaluate(&items, universe, &dims);
    Some(GoldScore {
        items: items.len(),
        micro_f1: r.micro.f1,
        macro_f1: r.macro_avg.f1,
        exact_match: r.exact_match,
    })
}

/// Gold labels of the workspace (crate::metrics::gold: the adjudicated answer if any, else
/// the unanimous answer, else none).
pub fn gold_labels(
    _ws: &Workspace,
    store: &Store,
) -> Result<HashMap<String, Vec<String>>, RunsError> {
    let answers = store.current_answers(None)?;
    let items = crate::metrics::gold::group(&answers);
    Ok(crate::metrics::gold::gold_map(&items).into_iter().map(|(k, g)| (k, g.labels)).collect())
}

/// One exported record.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ExportRecord {
    pub item: String,
    pub labels: Vec<LabelScore>,
    pub run: String,
    pub model: String,
    pub prompt_hash: String,
    /// The item's structural signals (absent when the item is not in the store).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signals: Option<crate::text::signals::Signals>,
}

/// Write a run's suggestions as JSONL (one record per item, item order); returns the count.
pub fn export_suggestions(store: &Store, run: &str, out: &Path) -> Result<usize, RunsError> {
    let r = find(store, run)?;
    let mut suggestions = store.run_suggestions(&r.id)?;
    // In reading order: d:2 before d:10.
    suggestions.sort_by(|a, b| crate::text::natural_cmp(&a.item, &b.item));
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(io(dir))?;
    }
    let tmp = out.with_extension("jsonl.tmp");
    let f = std::fs::File::create(&tmp).map_err(io(&tmp))?;
    let mut w = std::io::BufWriter::new(f);
    for s in &suggestions {
        let rec = ExportRecord {
            item: s.item.clone(),
            labels: s.labels.clone(),
            run: r.id.clone(),
            // A fallback's answer names the model that gave it, not the run's.
            model: if s.model.is_empty() { r.model.clone() } else { s.model.clone() },
            prompt_hash: r.prompt_hash.clone(),
            signals: store.item(&s.item)?.map(|i| crate::text::signals::Signals::of(&i)),
        };
        let line = serde_json::to_string(&rec).map_err(|e| RunsError::Invalid(e.to_string()))?;
        writeln!(w, "{line}").map_err(io(&tmp))?;
    }
    w.flush().map_err(io(&tmp))?;
    drop(w);
    std::fs::rename(&tmp, out).map_err(io(out))?;
    Ok(suggestions.len())
}

/// What `sift runs import` did.
#[derive(Debug, Clone, Serialize, Default)]
pub struct ImportReport {
    pub run: String,
    pub name: String,
    pub imported: usize,
    pub abstained: usize,
    /// Labels outside the taxonomy, dropped (count per name).
    pub dropped_labels: BTreeMap<String, usize>,
    /// Lines that could not be used, with their 1-based line numbers.
    pub errors: Vec<String>,
}

#[derive(Deserialize)]
struct ImportLine {
    item: String,
    labels: Vec<ImportLabel>,
    #[serde(default)]
    rationale: String,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum ImportLabel {
    Name(String),
    Scored { name: String, confidence: Option<f64> },
}

/// Import suggestions made elsewhere as a run (provider "import"). Labels are validated like
/// provider output; suggestions are dated at import time.
pub fn import_run(
    ws: &Workspace,
    labels: &LabelsFile,
    store: &mut Store,
    file: &Path,
    name: &str,
) -> Result<ImportReport, RunsError> {
    if store.run(name)?.is_some() {
        return Err(RunsError::Exists(name.into()));
    }
    let text = std::fs::read_to_string(file).map_err(io(file))?;
    let now = now_rfc3339();
    let id = format!("r-{}", &sha256_hex(&format!("{now}{name}{}", sha256_hex(&text)))[..12]);
    let mut report = ImportReport { run: id.clone(), name: name.into(), ..Default::default() };
    let mut tax: Option<Taxonomy> = None;
    let mut suggestions = Vec::new();
    let mut hashes = Vec::new();
    for (i, line) in std::io::Cursor::new(&text).lines().enumerate() {
        let n = i + 1;
        let Ok(line) = line else { break };
        if line.trim().is_empty() {
            continue;
        }
        let rec: ImportLine = match serde_json::from_str(&line) {
            Ok(r) => r,
            Err(e) => {
                report.errors.push(format!("{}:{n}: {e}", file.display()));
                continue;
            }
        };
        let Some(dataset) = store.item_dataset(&rec.item)? else {
            report.errors.push(format!("{}:{n}: unknown item {:?}", file.display(), rec.item));
            continue;
        };
        let tname = ws.settings.taxonomy_for(&dataset);
        let t = match &tax {
            Some(t) if t.name == tname => t,
            Some(t) => {
                report.errors.push(format!(
                    "{}:{n}: item {:?} uses taxonomy {tname}, the run uses {}",
                    file.display(),
                    rec.item,
                    t.name
                ));
                continue;
            }
            None => tax
                .insert(labels.get(tname).map_err(|e| RunsError::Invalid(e.to_string()))?.clone()),
        };
        let raw: Vec<LabelScore> = rec
            .labels
            .into_iter()
            .map(|l| match l {
                ImportLabel::Name(name) => LabelScore { name, confidence: None },
                ImportLabel::Scored { name, confidence } => LabelScore { name, confidence },
            })
            .collect();
        let v = validate::finalize(t, &raw);
        for d in &v.dropped {
            *report.dropped_labels.entry(d.clone()).or_default() += 1;
        }
        report.abstained += usize::from(v.abstained);
        let mut violations = Vec::new();
        if let Some(item) = store.item(&rec.item)? {
            hashes.push(item.content_hash());
            let signals = crate::text::signals::Signals::of(&item);
            violations = super::rules::check(t, &v.labels, &signals).violations;
        }
        suggestions.push(Suggestion {
            item: rec.item,
            run: id.clone(),
            raw_labels: if v.labels == raw { Vec::new() } else { raw },
            labels: v.labels,
            rationale: rec.rationale.chars().take(1000).collect(),
            abstained: v.abstained,
            dropped: v.dropped,
            violations,
            created_at: now.clone(),
            ..Default::default()
        });
    }
    let Some(tax) = tax else {
        return Err(RunsError::Invalid(format!(
            "{}: no usable records ({} errors)",
            file.display(),
            report.errors.len()
        )));
    };
    hashes.sort();
    let run = Run {
        id,
        name: Some(name.into()),
        provider: "import".into(),
        model: format!(
            "import:{}",
            file.file_name().map(|f| f.to_string_lossy()).unwrap_or_default()
        ),
        prompt_version: "import".into(),
        prompt_hash: sha256_hex(&text),
        taxonomy: tax.name.clone(),
        taxonomy_hash: tax.hash(),
        config: serde_json::json!({"file": file.display().to_string()}),
        dataset_fingerprint: sha256_hex(&hashes.concat()),
        started_at: now.clone(),
        finished_at: Some(now),
        status: "done".into(),
        state: RunState::Experimental,
        bundle: format!("# imported from {}\n", file.display()),
        ..Default::default()
    };
    store.save_run(&run)?;
    store.save_suggestions(&suggestions)?;
    report.imported = suggestions.len();
    Ok(report)
}

/// Set a run's lifecycle state (baseline, experimental, archived).
pub fn mark(store: &Store, run: &str, state: RunState) -> Result<Run, RunsError> {
    let mut r = find(store, run)?;
    r.state = state;
    store.save_run(&r)?;
    Ok(r)
}
