//! Dataset export: train/val/test splits of gold items (stratified by label, leak-free,
//! seeded), a dataset card and a review CSV of suggestions against gold.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use crate::dataset::stats::AgreementStats;
use crate::metrics::gold::{Gold, label_set};
use crate::model::{Annotation, Item, ItemKind, Mode, Turn};
use crate::store::{AnswerRow, Store, StoreError, TimedSuggestion};

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("split {0:?}: expected three whole numbers like 80/10/10 with a positive sum")]
    BadSplit(String),
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path}: {source}")]
    Csv { path: PathBuf, source: csv::Error },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("--where: none of the {0} gold items matches")]
    NothingSelected(usize),
}

/// The three split names, in order.
pub const SPLITS: [&str; 3] = ["train", "val", "test"];

/// Split proportions, e.g. 80/10/10.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SplitRatios(pub [f64; 3]);

impl SplitRatios {
    pub fn parse(text: &str) -> Result<SplitRatios, ExportError> {
        let bad = || ExportError::BadSplit(text.to_string());
        let parts: Vec<u32> = text
            .split(['/', ',', ':'])
            .map(|p| p.trim().parse::<u32>().map_err(|_| bad()))
            .collect::<Result<_, _>>()?;
        let [a, b, c] = parts[..] else { return Err(bad()) };
        let total = f64::from(a) + f64::from(b) + f64::from(c);
        if total <= 0.0 {
            return Err(bad());
        }
        Ok(SplitRatios([f64::from(a) / total, f64::from(b) / total, f64::from(c) / total]))
    }
}

/// Assign each item (key, gold labels) to a split index (0 train, 1 val, 2 test).
///
/// Greedy iterative stratification: items are shuffled with `seed`, then placed rarest label
/// first, each into the split furthest below its target share for the item's labels and
/// overall. Every item gets exactly one split, and the same input and seed give the same splits.
pub fn assign_splits(
    items: &[(String, Vec<String>)],
    ratios: SplitRatios,
    seed: u64,
) -> BTreeMap<String, usize> {
    let mut order: Vec<&(String, Vec<String>)> = items.iter().collect();
    order.sort_by(|a, b| a.0.cmp(&b.0));
    order.dedup_by(|a, b| a.0 == b.0);
    order.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
    let mut label_total: HashMap<&str, usize> = HashMap::new();
    for (_, labels) in &order {
        for l in labels {
            *label_total.entry(l.as_str()).or_default() += 1;
        }
    }
    let rarity = |labels: &Vec<String>| {
        labels.iter().map(|l| label_total.get(l.as_str()).copied().unwrap_or(0)).min()
    };
    // Stable sort: the shuffle decides the order among equally rare items.
    order.sort_by_key(|(_, labels)| rarity(labels).unwrap_or(usize::MAX));
    let mut per_label: HashMap<&str, ([usize; 3], usize)> = HashMap::new();
    let mut overall = ([0usize; 3], 0usize);
    let mut out = BTreeMap::new();
    for (key, labels) in order {
        let deficit = |(counts, n): &([usize; 3], usize), s: usize| {
            ratios.0[s] * (*n as f64 + 1.0) - counts[s] as f64
        };
        let score = |s: usize| {
            let own: f64 = labels
                .iter()
                .map(|l| per_label.get(l.as_str()).map_or(ratios.0[s], |c| deficit(c, s)))
                .sum();
            own + deficit(&overall, s)
        };
        let best = (0..3)
            .filter(|&s| ratios.0[s] > 0.0)
            .max_by(|&a, &b| {
                score(a).total_cmp(&score(b)).then(ratios.0[a].total_cmp(&ratios.0[b]))
            })
            .unwrap_or(0);
        for l in labels {
            let e = per_label.entry(l.as_str()).or_default();
            e.0[best] += 1;
            e.1 += 1;
        }
        overall.0[best] += 1;
        overall.1 += 1;
        out.insert(key.clone(), best);
    }
    out
}

/// One exported example.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExportRecord {
    pub id: String,
    pub title: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub conversation: Option<Vec<Turn>>,
    pub labels: Vec<String>,
    pub annotators: Vec<String>,
    pub created_at: Option<String>,
    pub split: String,
    pub source: String,
    pub rationale: Option<String>,
    /// Structural signals (turns, tools, code languages, size), as sift computed them.
    pub signals: crate::text::signals::Signals,
}

/// Output format of the split files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportFormat {
    Jsonl,
    Csv,
    /// LLaMA-Factory: ShareGPT files and the dataset_info.json that names them.
    #[value(name = "llama-factory")]
    LlamaFactory,
    /// Hugging Face: JSONL splits and a README.md whose header `datasets` reads.
    Hf,
}

/// What `export` wrote.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ExportSummary {
    pub items: usize,
    pub splits: BTreeMap<String, usize>,
    /// Items whose text repeats another exported item's: each copy went to its original's
    /// split, so no text is in two splits.
    pub duplicates: usize,
    pub files: Vec<String>,
    /// Records the format cannot hold (LLaMA-Factory needs turns that alternate), left out.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub left_out: Vec<String>,
}

/// Everything export needs, gathered by the caller.
pub struct ExportInput<'a> {
    pub gold: &'a BTreeMap<String, Gold>,
    /// Every annotation record of the exported datasets, oldest first (for notes).
    pub records: &'a [AnswerRow],
    pub suggestions: &'a HashMap<String, TimedSuggestion>,
    pub agreement: &'a AgreementStats,
    pub datasets: &'a [String],
    pub taxonomy: &'a str,
    /// `--where`: only items that pass are written; splits are still drawn over all gold, so
    /// an item is in the same split whether or not a selection was made.
    pub select: Option<&'a super::formats::Where>,
    /// Counts the items as they are read (the slow part of a large export).
    pub progress: Option<&'a indicatif::ProgressBar>,
}

/// Write the split files, the dataset card and the review CSV into `out`.
pub fn export(
    store: &Store,
    input: &ExportInput,
    out: &Path,
    format: ExportFormat,
    ratios: SplitRatios,
    seed: u64,
) -> Result<ExportSummary, ExportError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ExportError::Io { path: path.clone(), source }
    };
    std::fs::create_dir_all(out).map_err(io(out))?;
    let mut items: HashMap<String, Item> = HashMap::new();
    if let Some(p) = input.progress {
        p.set_length(input.gold.len() as u64);
    }
    for key in input.gold.keys() {
        let item =
            store.item(key)?.unwrap_or_else(|| Item { key: key.clone(), ..Default::default() });
        items.insert(key.clone(), item);
        if let Some(p) = input.progress {
            p.inc(1);
        }
    }
    let original = originals(input.gold, &items);
    let pairs: Vec<(String, Vec<String>)> = input
        .gold
        .iter()
        .filter(|(k, _)| original.get(k.as_str()).is_some_and(|o| o == k))
        .map(|(k, g)| (k.clone(), g.labels.clone()))
        .collect();
    let splits = assign_splits(&pairs, ratios, seed);
    let chosen = |key: &String| {
        input.select.is_none_or(|w| {
            let labels = input.gold.get(key).map(|g| g.labels.as_slice()).unwrap_or(&[]);
            items.get(key).is_some_and(|i| w.matches(i, labels))
        })
    };
    if !input.gold.keys().any(chosen) {
        return Err(ExportError::NothingSelected(input.gold.len()));
    }
    let notes = rationale_notes(input.records, input.gold);
    let mut records: Vec<ExportRecord> = Vec::with_capacity(input.gold.len());
    for (key, g) in input.gold.iter().filter(|(k, _)| chosen(k)) {
        let Some(item) = items.get(key) else { continue };
        let of = original.get(key.as_str()).copied().unwrap_or(key);
        let split = SPLITS[splits.get(of).copied().unwrap_or(0)].to_string();
        records.push(export_record(item, g, split, notes.get(key.as_str()).cloned()));
    }
    let duplicates = original.iter().filter(|(k, o)| **k != o.as_str()).count();
    let mut summary = ExportSummary { items: records.len(), duplicates, ..Default::default() };
    for name in SPLITS {
        let n = records.iter().filter(|r| r.split == name).count();
        summary.splits.insert(name.to_string(), n);
    }
    let mut card_text = dataset_card(&records, input);
    match format {
        ExportFormat::LlamaFactory => {
            let tools: BTreeMap<String, serde_json::Value> = items
                .iter()
                .filter_map(|(k, i)| i.meta.get("tools").map(|t| (k.clone(), t.clone())))
                .collect();
            let name = dataset_name(input.datasets);
            let (files, left_out) =
                super::formats::write_llama_factory(out, &name, &records, &tools)?;
            summary.files.extend(files);
            summary.left_out = left_out;
        }
        ExportFormat::Jsonl | ExportFormat::Csv | ExportFormat::Hf => {
            let mut written = Vec::new();
            for name in SPLITS {
                let part: Vec<&ExportRecord> = records.iter().filter(|r| r.split == name).collect();
                let file = match format {
                    ExportFormat::Csv => format!("{name}.csv"),
                    _ => format!("{name}.jsonl"),
                };
                let path = out.join(&file);
                match format {
                    ExportFormat::Csv => write_split_csv(&path, &part)?,
                    _ => write_jsonl(&path, &part)?,
                }
                if !part.is_empty() {
                    written.push((name, file));
                }
                summary.files.push(path.display().to_string());
            }
            if format == ExportFormat::Hf {
                card_text = format!("{}{card_text}", super::formats::hf_card_header(&written));
                let readme = out.join("README.md");
                std::fs::write(&readme, &card_text).map_err(io(&readme))?;
                summary.files.push(readme.display().to_string());
            }
        }
    }
    let card = out.join("dataset_card.md");
    std::fs::write(&card, card_text).map_err(io(&card))?;
    summary.files.push(card.display().to_string());
    let review = out.join("review.csv");
    let kept: std::collections::HashSet<&str> = records.iter().map(|r| r.id.as_str()).collect();
    write_review(&review, input, &items, &kept)?;
    summary.files.push(review.display().to_string());
    Ok(summary)
}

/// A name for the exported dataset in LLaMA-Factory's registry: the datasets, joined, in the
/// characters a key should have.
fn dataset_name(datasets: &[String]) -> String {
    let joined = datasets.join("_");
    let clean: String = joined
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '_' || c == '-' { c } else { '_' })
        .collect();
    if clean.is_empty() { "sift".into() } else { clean }
}

/// For each exported key, the first key (in key order) with the same text, whitespace and
/// case aside: the same conversation imported twice, or an issue both pulled and imported,
/// must not land in two splits. Items without text are their own originals.
fn originals<'a>(
    gold: &'a BTreeMap<String, Gold>,
    items: &HashMap<String, Item>,
) -> HashMap<&'a str, &'a String> {
    let mut first: HashMap<String, &String> = HashMap::new();
    let mut out = HashMap::new();
    for key in gold.keys() {
        let text = items.get(key).map(Item::full_text).unwrap_or_default();
        let norm = text.split_whitespace().collect::<Vec<_>>().join(" ").to_lowercase();
        let of = if norm.is_empty() { key } else { *first.entry(norm).or_insert(key) };
        out.insert(key.as_str(), of);
    }
    out
}

/// The note that explains an item's gold: the latest adjudication's note, else the note of
/// the newest current answer (each annotator's latest) that gave the gold labels. A note on an
/// answer that was later replaced explains something else.
fn rationale_notes<'a>(
    records: &'a [AnswerRow],
    gold: &BTreeMap<String, Gold>,
) -> HashMap<&'a str, String> {
    // Records come oldest first: later inserts replace earlier ones.
    let mut adjudication: HashMap<&str, &Annotation> = HashMap::new();
    let mut current: HashMap<(&str, &str), (usize, &Annotation)> = HashMap::new();
    for (i, r) in records.iter().enumerate() {
        let a = &r.annotation;
        if a.mode == Mode::Adjudication {
            adjudication.insert(a.item.as_str(), a);
        } else {
            current.insert((a.item.as_str(), a.annotator.as_str()), (i, a));
        }
    }
    let mut newest: HashMap<&str, (usize, String)> = HashMap::new();
    for (i, a) in current.into_values() {
        let gives_gold =
            gold.get(&a.item).is_some_and(|g| label_set(&g.labels) == label_set(&a.labels));
        if gives_gold && !a.note.trim().is_empty() {
            let slot = newest.entry(a.item.as_str()).or_insert((i, a.note.clone()));
            if i > slot.0 {
                *slot = (i, a.note.clone());
            }
        }
    }
    let mut out: HashMap<&str, String> = newest.into_iter().map(|(k, (_, n))| (k, n)).collect();
    for (k, a) in adjudication {
        if !a.note.trim().is_empty() {
            out.insert(k, a.note.clone());
        }
    }
    out
}

fn export_record(item: &Item, g: &Gold, split: String, rationale: Option<String>) -> ExportRecord {
    let is_chat = item.kind() == ItemKind::Conversation;
    let source = match (&item.repo, &item.url) {
        (Some(repo), _) => format!("github:{repo}"),
        _ => item.dataset.clone(),
    };
    ExportRecord {
        id: item.key.clone(),
        title: item.title.clone(),
        body: (!is_chat).then(|| item.body.clone()),
        conversation: is_chat.then(|| item.turns.clone()),
        labels: g.labels.clone(),
        annotators: g.annotators.clone(),
        created_at: item.created_at.clone(),
        split,
        source,
        rationale,
        signals: crate::text::signals::Signals::of(item),
    }
}

fn write_jsonl(path: &Path, records: &[&ExportRecord]) -> Result<(), ExportError> {
    let err = |source| ExportError::Io { path: path.to_path_buf(), source };
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).map_err(err)?);
    let mut records = records.to_vec();
    // In reading order: d:2 before d:10.
    records.sort_by(|a, b| crate::text::natural_cmp(&a.id, &b.id));
    for r in records {
        let line = serde_json::to_string(r).map_err(|e| err(std::io::Error::other(e)))?;
        writeln!(f, "{line}").map_err(err)?;
    }
    f.flush().map_err(err)
}

fn write_split_csv(path: &Path, records: &[&ExportRecord]) -> Result<(), ExportError> {
    let err = |source| ExportError::Csv { path: path.to_path_buf(), source };
    let mut w = csv::Writer::from_path(path).map_err(err)?;
    w.write_record([
        "id",
        "title",
        "body",
        "conversation",
        "labels",
        "annotators",
        "created_at",
        "split",
        "source",
        "rationale",
        "signals",
    ])
    .map_err(err)?;
    for r in records {
        let conversation = r
            .conversation
            .as_ref()
            .map(|c| serde_json::to_string(c).unwrap_or_default())
            .unwrap_or_default();
        w.write_record([
            r.id.as_str(),
            &r.title,
            r.body.as_deref().unwrap_or(""),
            &conversation,
            &r.labels.join(";"),
            &r.annotators.join(";"),
            r.created_at.as_deref().unwrap_or(""),
            &r.split,
            &r.source,
            r.rationale.as_deref().unwrap_or(""),
            &serde_json::to_string(&r.signals).unwrap_or_default(),
        ])
        .map_err(err)?;
    }
    w.flush().map_err(|source| ExportError::Io { path: path.to_path_buf(), source })
}

fn fmt_opt(x: Option<f64>) -> String {
    x.map_or_else(|| "n/a".to_string(), |v| format!("{v:.3}"))
}

/// The dataset card: counts per label and split, agreement and sources, in Markdown.
pub fn dataset_card(records: &[ExportRecord], input: &ExportInput) -> String {
    let mut s = String::new();
    s.push_str(&format!("# Dataset card: {}\n\n", input.datasets.join(", ")));
    s.push_str(&format!(
        "Exported by sift from gold labels (adjudicated, else unanimous). Taxonomy: `{}`. \
         {} items.\n\n",
        input.taxonomy,
        records.len()
    ));
    s.push_str("## Counts per label and split\n\n| label | train | val | test | total |\n|---|---:|---:|---:|---:|\n");
    let mut counts: BTreeMap<&str, [usize; 3]> = BTreeMap::new();
    let mut totals = [0usize; 3];
    for r in records {
        let i = SPLITS.iter().position(|s| *s == r.split).unwrap_or(0);
        totals[i] += 1;
        if r.labels.is_empty() {
            counts.entry("(none)").or_default()[i] += 1;
        }
        for l in &r.labels {
            counts.entry(l.as_str()).or_default()[i] += 1;
        }
    }
    for (label, c) in &counts {
        s.push_str(&format!(
            "| {label} | {} | {} | {} | {} |\n",
            c[0],
            c[1],
            c[2],
            c.iter().sum::<usize>()
        ));
    }
    s.push_str(&format!(
        "| **items** | {} | {} | {} | {} |\n\n",
        totals[0],
        totals[1],
        totals[2],
        totals.iter().sum::<usize>()
    ));
    let a = input.agreement;
    s.push_str(&format!(
        "## Agreement\n\n{} items answered by {} annotator(s): {}.\n\n\
         | dimension | percent agreement | Fleiss' kappa | Krippendorff's alpha |\n|---|---:|---:|---:|\n",
        a.items,
        a.annotators.len(),
        a.annotators.join(", ")
    ));
    for (dim, r) in &a.dimensions {
        s.push_str(&format!(
            "| {dim} | {} | {} | {} |\n",
            fmt_opt(r.percent_agreement),
            fmt_opt(r.fleiss_kappa),
            fmt_opt(r.krippendorff_alpha)
        ));
    }
    s.push_str("\n## Sources\n\n| source | items |\n|---|---:|\n");
    let mut sources: BTreeMap<&str, usize> = BTreeMap::new();
    for r in records {
        *sources.entry(r.source.as_str()).or_default() += 1;
    }
    for (src, n) in sources {
        s.push_str(&format!("| {src} | {n} |\n"));
    }
    s
}

fn write_review(
    path: &Path,
    input: &ExportInput,
    items: &HashMap<String, Item>,
    kept: &std::collections::HashSet<&str>,
) -> Result<(), ExportError> {
    let err = |source| ExportError::Csv { path: path.to_path_buf(), source };
    let mut w = csv::Writer::from_path(path).map_err(err)?;
    w.write_record(["item", "title", "suggested", "gold", "agree"]).map_err(err)?;
    for (key, g) in input.gold.iter().filter(|(k, _)| kept.contains(k.as_str())) {
        let title = items.get(key).map(|i| i.title.as_str()).unwrap_or("");
        let s = input.suggestions.get(key);
        let suggested = s
            .map(|s| {
                s.labels
                    .iter()
                    .map(|l| match l.confidence {
                        Some(c) => format!("{}:{c:.2}", l.name),
                        None => l.name.clone(),
                    })
                    .collect::<Vec<_>>()
                    .join(";")
            })
            .unwrap_or_default();
        let agree = s
            .map(|s| {
                let names: Vec<String> = s.labels.iter().map(|l| l.name.clone()).collect();
                (label_set(&names) == label_set(&g.labels)).to_string()
            })
            .unwrap_or_default();
        w.write_record([key.as_str(), title, &suggested, &g.labels.join(";"), &agree])
            .map_err(err)?;
    }
    w.flush().map_err(|source| ExportError::Io { path: path.to_path_buf(), source })
}

/// Distinct label sets of the gold, for reporting.
pub fn label_universe(gold: &BTreeMap<String, Gold>) -> BTreeSet<String> {
    gold.values().flat_map(|g| g.labels.iter().cloned()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn items(n: usize) -> Vec<(String, Vec<String>)> {
        (0..n)
            .map(|i| {
                let label =
                    ["bug", "ux", "docs", "question", "rare"][if i % 50 == 0 { 4 } else { i % 4 }];
                (format!("k{i:04}"), vec![label.to_string()])
            })
            .collect()
    }

    #[test]
    fn splits_are_stratified_deterministic_and_complete() {
        let input = items(400);
        let r = SplitRatios::parse("80/10/10").unwrap();
        let a = assign_splits(&input, r, 7);
        assert_eq!(a, assign_splits(&input, r, 7));
        assert_ne!(a, assign_splits(&input, r, 8));
        assert_eq!(a.len(), 400);
        for label in ["bug", "ux", "docs", "question", "rare"] {
            let members: Vec<&String> =
                input.iter().filter(|(_, l)| l[0] == label).map(|(k, _)| k).collect();
            let n = members.len() as f64;
            for (s, share) in r.0.iter().enumerate() {
                let got = members.iter().filter(|k| a[**k] == s).count() as f64;
                assert!((got - share * n).abs() <= 1.0, "{label} split {s}: {got} of {n}");
            }
        }
    }

    #[test]
    fn copies_of_the_same_text_share_their_originals_split() {
        let gold = |labels: &[&str]| Gold {
            labels: labels.iter().map(|l| l.to_string()).collect(),
            source: crate::metrics::gold::GoldSource::Unanimous,
            annotators: vec!["a".into()],
        };
        let item = |key: &str, title: &str| Item {
            key: key.into(),
            title: title.into(),
            body: "Steps:\n1. open".into(),
            ..Default::default()
        };
        let golds: BTreeMap<String, Gold> =
            ["a", "b", "c", "d", "e"].iter().map(|k| (k.to_string(), gold(&["bug"]))).collect();
        let items: HashMap<String, Item> = [
            item("a", "Crash on start"),
            item("b", "crash  ON start"),
            item("c", "Other issue"),
            Item { key: "d".into(), ..Default::default() },
            Item { key: "e".into(), ..Default::default() },
        ]
        .into_iter()
        .map(|i| (i.key.clone(), i))
        .collect();
        let o = originals(&golds, &items);
        assert_eq!(o["b"], "a", "same text, whitespace and case aside");
        assert_eq!((o["a"].as_str(), o["c"].as_str()), ("a", "c"));
        assert_eq!(
            (o["d"].as_str(), o["e"].as_str()),
            ("d", "e"),
            "items without text stand alone"
        );
    }

    #[test]
    fn the_rationale_comes_from_an_answer_that_gave_the_gold() {
        let row = |labels: &[&str], note: &str, mode: Mode| AnswerRow {
            id: 0,
            dataset: "d".into(),
            annotation: crate::model::Annotation {
                item: "d:1".into(),
                annotator: "alice".into(),
                labels: labels.iter().map(|l| l.to_string()).collect(),
                at: String::new(),
                mode,
                note: note.into(),
                duration_ms: None,
                suggestion: None,
                week: None,
                retracted: false,
            },
        };
        let gold: BTreeMap<String, Gold> = [(
            "d:1".to_string(),
            Gold {
                labels: vec!["question".into()],
                source: crate::metrics::gold::GoldSource::Unanimous,
                annotators: vec!["alice".into()],
            },
        )]
        .into();
        // "crash" explained an answer alice later replaced with [question], without a note.
        let records = [row(&["bug"], "crash", Mode::Blind), row(&["question"], "", Mode::Blind)];
        assert!(rationale_notes(&records, &gold).is_empty());
        let records =
            [row(&["bug"], "crash", Mode::Blind), row(&["question"], "asks how", Mode::Blind)];
        assert_eq!(rationale_notes(&records, &gold)["d:1"], "asks how");
        let records = [
            row(&["question"], "asks how", Mode::Blind),
            row(&["question"], "settled", Mode::Adjudication),
        ];
        assert_eq!(rationale_notes(&records, &gold)["d:1"], "settled");
        // [question] "x", then [bug], then [question] without a note: "x" was replaced.
        let records = [
            row(&["question"], "x", Mode::Blind),
            row(&["bug"], "", Mode::Blind),
            row(&["question"], "", Mode::Blind),
        ];
        assert!(rationale_notes(&records, &gold).is_empty());
    }

    #[test]
    fn split_ratios_parse() {
        assert_eq!(SplitRatios::parse("2/1/1").unwrap().0, [0.5, 0.25, 0.25]);
        assert!(SplitRatios::parse("80/20").is_err());
        assert!(SplitRatios::parse("0/0/0").is_err());
    }
}
