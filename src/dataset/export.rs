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
#[cfg(test)]
use crate::store::AnswerRow;
use crate::store::{Store, StoreError, TimedSuggestion};

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
    /// The note explaining each item's gold (see [`Notes`]).
    pub notes: &'a HashMap<String, String>,
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

/// What export keeps of a gold item between reading it and writing it: everything but its
/// text, so memory does not grow with the texts.
struct Facts {
    /// Position in the pass over the store (None: not found there, read by key).
    scanned: Option<usize>,
    /// Hash of the item's text, whitespace and case aside (None: no text).
    text: Option<[u8; 16]>,
    chosen: bool,
    title: String,
    source: String,
    has_tools: bool,
}

/// Write the split files, the dataset card and the review CSV into `out`. Items are read
/// twice, one at a time: once for what splits and the card need, once to write each record,
/// so a large export holds no item text beyond the one being written.
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
    if let Some(p) = input.progress {
        p.set_length(2 * input.gold.len() as u64);
    }
    let facts = read_facts(store, input)?;
    let original = originals(input.gold, &facts);
    let pairs: Vec<(String, Vec<String>)> = input
        .gold
        .iter()
        .filter(|(k, _)| original.get(k.as_str()).is_some_and(|o| o == k))
        .map(|(k, g)| (k.clone(), g.labels.clone()))
        .collect();
    let splits = assign_splits(&pairs, ratios, seed);
    if !facts.values().any(|f| f.chosen) {
        return Err(ExportError::NothingSelected(input.gold.len()));
    }
    // The chosen items with their split, in gold (key) order.
    let chosen: Vec<(&String, usize)> = input
        .gold
        .keys()
        .filter(|k| facts.get(k.as_str()).is_some_and(|f| f.chosen))
        .map(|k| {
            let of = original.get(k.as_str()).copied().unwrap_or(k);
            (k, splits.get(of).copied().unwrap_or(0))
        })
        .collect();
    let duplicates = original.iter().filter(|(k, o)| **k != o.as_str()).count();
    let mut summary = ExportSummary { items: chosen.len(), duplicates, ..Default::default() };
    for (i, name) in SPLITS.iter().enumerate() {
        summary.splits.insert(name.to_string(), chosen.iter().filter(|c| c.1 == i).count());
    }
    let card_rows: Vec<CardRow> = chosen
        .iter()
        .map(|(k, split)| CardRow {
            split: *split,
            labels: input.gold.get(k.as_str()).map(|g| g.labels.as_slice()).unwrap_or(&[]),
            source: facts.get(k.as_str()).map(|f| f.source.as_str()).unwrap_or(""),
        })
        .collect();
    let mut card_text = dataset_card(&card_rows, input);
    let writer = RecordWriter { store, input, out, progress: input.progress };
    match format {
        ExportFormat::LlamaFactory => {
            let name = dataset_name(input.datasets);
            let (files, left_out) = writer.llama_factory(&name, &chosen, &facts)?;
            summary.files.extend(files);
            summary.left_out = left_out;
        }
        ExportFormat::Jsonl | ExportFormat::Csv | ExportFormat::Hf => {
            let csv = format == ExportFormat::Csv;
            let mut parts: Vec<Vec<&String>> = Vec::new();
            let mut outs = Vec::new();
            for (i, name) in SPLITS.iter().enumerate() {
                let mut part: Vec<&String> =
                    chosen.iter().filter(|c| c.1 == i).map(|c| c.0).collect();
                // In reading order: d:2 before d:10.
                part.sort_by(|a, b| crate::text::natural_cmp(a, b));
                let file = format!("{name}.{}", if csv { "csv" } else { "jsonl" });
                outs.push(SplitFile::create(out.join(&file), csv)?);
                parts.push(part);
                summary.files.push(out.join(&file).display().to_string());
            }
            writer.splits(&parts, &facts, &mut outs)?;
            let mut written = Vec::new();
            for ((name, part), f) in SPLITS.iter().zip(&parts).zip(outs) {
                let file = f.finish()?;
                if !part.is_empty() {
                    written.push((*name, file));
                }
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
    write_review(&review, input, &facts, &chosen)?;
    summary.files.push(review.display().to_string());
    Ok(summary)
}

/// The first reading: each gold item's text hash, selection, title, source and tools, in one
/// pass over the exported datasets (gold items not found there are read by key).
fn read_facts<'a>(
    store: &Store,
    input: &ExportInput<'a>,
) -> Result<HashMap<&'a str, Facts>, ExportError> {
    let read = |send: &mut dyn FnMut(Item) -> bool| -> Result<(), ExportError> {
        for d in input.datasets {
            // A worker that stopped (it failed) ends the reading of later datasets too.
            let mut going = true;
            store.for_each_item(Some(d), |item| {
                going = !input.gold.contains_key(&item.key) || send(item);
                going
            })?;
            if !going {
                break;
            }
        }
        Ok(())
    };
    // Items arrive in the store's order; their position is kept for the second reading.
    let work = |items: &mut dyn Iterator<Item = Item>| {
        let mut facts = HashMap::with_capacity(input.gold.len());
        for (position, item) in items.enumerate() {
            if let Some((key, g)) = input.gold.get_key_value(&item.key) {
                facts.insert(key.as_str(), item_facts(item, &g.labels, input, Some(position)));
                if let Some(p) = input.progress {
                    p.inc(1);
                }
            }
        }
        facts
    };
    let mut facts = read_and_work(read, work)?;
    for (key, g) in input.gold {
        if !facts.contains_key(key.as_str()) {
            facts.insert(key.as_str(), item_facts(load(store, key)?, &g.labels, input, None));
        }
    }
    Ok(facts)
}

fn item_facts(item: Item, labels: &[String], input: &ExportInput, scanned: Option<usize>) -> Facts {
    Facts {
        scanned,
        text: item_hash(&item),
        chosen: input.select.is_none_or(|w| w.matches(&item, labels)),
        has_tools: item.meta.get("tools").is_some(),
        source: source_of(&item),
        title: item.title,
    }
}

/// Items read from the store on this thread (`read` hands each to its `send`, which says
/// whether to go on) and worked on, in order, by `work` on a second thread: SQLite's reading
/// and sift's hashing or writing overlap on two cores.
fn read_and_work<R: Send>(
    read: impl FnOnce(&mut dyn FnMut(Item) -> bool) -> Result<(), ExportError>,
    work: impl FnOnce(&mut dyn Iterator<Item = Item>) -> R + Send,
) -> Result<R, ExportError> {
    // Items go over in batches: one hand-over per item costs more than the overlap saves.
    const BATCH: usize = 256;
    std::thread::scope(|scope| {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<Item>>(4);
        let worker = scope.spawn(move || work(&mut rx.into_iter().flatten()));
        let mut batch = Vec::with_capacity(BATCH);
        // A closed channel means the worker stopped (it failed): reading stops too.
        let read = read(&mut |item| {
            batch.push(item);
            batch.len() < BATCH
                || tx.send(std::mem::replace(&mut batch, Vec::with_capacity(BATCH))).is_ok()
        });
        let read = match read {
            Ok(()) if !batch.is_empty() => {
                // The worker may have stopped; its result says why.
                let _ = tx.send(batch);
                Ok(())
            }
            other => other,
        };
        drop(tx);
        let done = match worker.join() {
            Ok(done) => done,
            Err(panic) => std::panic::resume_unwind(panic),
        };
        read.map(|()| done)
    })
}

/// A stored item, or a bare one for a gold key whose item is gone.
fn load(store: &Store, key: &str) -> Result<Item, ExportError> {
    Ok(store.item(key)?.unwrap_or_else(|| Item { key: key.to_string(), ..Default::default() }))
}

/// The item's text's hash with runs of whitespace folded and case ignored: the hash of
/// `normalised_hash(&item.full_text())`, read from the parts without joining them (they are
/// joined by line breaks, which the folding ignores).
fn item_hash(item: &Item) -> Option<[u8; 16]> {
    let turns = item.turns.iter().map(|t| t.content.as_str());
    let comments = item.comments.iter().map(|c| c.body.as_str());
    let parts = [item.title.as_str(), item.body.as_str()].into_iter().chain(turns).chain(comments);
    words_hash(parts.flat_map(str::split_whitespace))
}

/// The text's hash with runs of whitespace folded and case ignored.
#[cfg(test)]
fn normalised_hash(text: &str) -> Option<[u8; 16]> {
    words_hash(text.split_whitespace())
}

/// The hash of words, lower-cased, joined by single spaces.
fn words_hash<'a>(words: impl Iterator<Item = &'a str>) -> Option<[u8; 16]> {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    let mut any = false;
    // ASCII words (nearly all) are lower-cased in one reused buffer; others as Unicode says,
    // word by word (a final sigma depends on the word).
    let mut buf = Vec::with_capacity(64);
    for word in words {
        if any {
            h.update(b" ");
        }
        if word.is_ascii() {
            buf.clear();
            buf.extend_from_slice(word.as_bytes());
            buf.make_ascii_lowercase();
            h.update(&buf);
        } else {
            h.update(word.to_lowercase().as_bytes());
        }
        any = true;
    }
    let digest = h.finalize();
    let mut out = [0u8; 16];
    out.copy_from_slice(&digest[..16]);
    any.then_some(out)
}

fn source_of(item: &Item) -> String {
    match (&item.repo, &item.url) {
        (Some(repo), _) => format!("github:{repo}"),
        _ => item.dataset.clone(),
    }
}

/// The second reading: records built one at a time and written at once.
struct RecordWriter<'s, 'i, 'a> {
    store: &'s Store,
    input: &'i ExportInput<'a>,
    out: &'s Path,
    progress: Option<&'a indicatif::ProgressBar>,
}

impl RecordWriter<'_, '_, '_> {
    /// Each key's record, in order, handed to `write`.
    fn each(
        &self,
        keys: &[&String],
        split: &str,
        mut write: impl FnMut(&ExportRecord) -> Result<(), ExportError>,
    ) -> Result<(), ExportError> {
        for key in keys {
            let item = load(self.store, key)?;
            let Some(g) = self.input.gold.get(key.as_str()) else { continue };
            let note = self.input.notes.get(key.as_str()).cloned();
            write(&export_record(&item, g, split.to_string(), note))?;
            if let Some(p) = self.progress {
                p.inc(1);
            }
        }
        Ok(())
    }

    /// Write every split's records, each split in the order of its keys. When those orders
    /// agree with the store's (the usual case: items imported in the order of their ids),
    /// one more pass over the store writes all three files; otherwise items are read by key.
    fn splits(
        &self,
        parts: &[Vec<&String>],
        facts: &HashMap<&str, Facts>,
        outs: &mut [SplitFile],
    ) -> Result<(), ExportError> {
        let at = |k: &String| facts.get(k.as_str()).and_then(|f| f.scanned);
        let in_store_order = parts.iter().all(|p| {
            p.iter().all(|k| at(k).is_some()) && p.windows(2).all(|w| at(w[0]) < at(w[1]))
        });
        if !in_store_order {
            for ((part, split), out) in parts.iter().zip(SPLITS).zip(outs.iter_mut()) {
                self.each(part, split, |r| out.write(r))?;
            }
            return Ok(());
        }
        let split_of: HashMap<&str, usize> = parts
            .iter()
            .enumerate()
            .flat_map(|(i, p)| p.iter().map(move |k| (k.as_str(), i)))
            .collect();
        let read = |send: &mut dyn FnMut(Item) -> bool| -> Result<(), ExportError> {
            for d in self.input.datasets {
                let mut going = true;
                self.store.for_each_item(Some(d), |item| {
                    going = !split_of.contains_key(item.key.as_str()) || send(item);
                    going
                })?;
                if !going {
                    break;
                }
            }
            Ok(())
        };
        // The writing thread gets what it needs, not the store's connection (one thread's).
        let (input, progress, split_of) = (self.input, self.progress, &split_of);
        let work = move |items: &mut dyn Iterator<Item = Item>| -> Result<(), ExportError> {
            for item in items {
                let Some(&i) = split_of.get(item.key.as_str()) else { continue };
                let Some(g) = input.gold.get(&item.key) else { continue };
                let note = input.notes.get(&item.key).cloned();
                let record = export_record(&item, g, SPLITS[i].to_string(), note);
                if let Some(p) = progress {
                    p.inc(1);
                }
                // An error drops the channel, which stops the reading.
                outs[i].write(&record)?;
            }
            Ok(())
        };
        read_and_work(read, work)?
    }

    /// LLaMA-Factory's ShareGPT files, records in key order, and its dataset_info.json.
    fn llama_factory(
        &self,
        name: &str,
        chosen: &[(&String, usize)],
        facts: &HashMap<&str, Facts>,
    ) -> Result<(Vec<String>, Vec<String>), ExportError> {
        let mut written = Vec::new();
        let mut files = Vec::new();
        let mut left_out = Vec::new();
        for (i, split) in SPLITS.iter().enumerate() {
            let keys: Vec<&String> = chosen.iter().filter(|c| c.1 == i).map(|c| c.0).collect();
            let file = format!("{split}.json");
            let path = self.out.join(&file);
            let mut array = super::formats::JsonArrayFile::new(&path);
            self.each(&keys, split, |r| {
                let tools = facts.get(r.id.as_str()).filter(|f| f.has_tools).and_then(|_| {
                    self.store.item(&r.id).ok().flatten().and_then(|i| i.meta.get("tools").cloned())
                });
                match super::formats::sharegpt_record(r, tools.as_ref()) {
                    Some(v) => array.push(&v),
                    None => {
                        left_out.push(r.id.clone());
                        Ok(())
                    }
                }
            })?;
            if array.finish()? {
                written.push(path.display().to_string());
                files.push((*split, file));
            }
        }
        let info = self.out.join("dataset_info.json");
        super::formats::write_json(&info, &super::formats::dataset_info(name, &files))?;
        written.push(info.display().to_string());
        Ok((written, left_out))
    }
}

/// One split file being written: JSON Lines or CSV.
enum SplitFile {
    Jsonl(PathBuf, std::io::BufWriter<std::fs::File>),
    Csv(PathBuf, Box<csv::Writer<std::fs::File>>),
}

impl SplitFile {
    fn create(path: PathBuf, csv: bool) -> Result<SplitFile, ExportError> {
        if csv {
            let mut w = csv::Writer::from_path(&path)
                .map_err(|source| ExportError::Csv { path: path.clone(), source })?;
            w.write_record(CSV_HEADER)
                .map_err(|source| ExportError::Csv { path: path.clone(), source })?;
            return Ok(SplitFile::Csv(path, Box::new(w)));
        }
        let f = std::fs::File::create(&path)
            .map_err(|source| ExportError::Io { path: path.clone(), source })?;
        Ok(SplitFile::Jsonl(path, std::io::BufWriter::new(f)))
    }

    fn write(&mut self, r: &ExportRecord) -> Result<(), ExportError> {
        match self {
            SplitFile::Jsonl(path, f) => {
                let err = |source| ExportError::Io { path: path.clone(), source };
                serde_json::to_writer(&mut *f, r).map_err(|e| err(std::io::Error::other(e)))?;
                f.write_all(b"\n").map_err(err)
            }
            SplitFile::Csv(path, w) => {
                csv_row(w, r).map_err(|source| ExportError::Csv { path: path.clone(), source })
            }
        }
    }

    /// Flush and close; the file's name.
    fn finish(self) -> Result<String, ExportError> {
        let (path, flushed) = match self {
            SplitFile::Jsonl(path, mut f) => {
                let r = f.flush();
                (path, r)
            }
            SplitFile::Csv(path, mut w) => {
                let r = w.flush();
                (path, r)
            }
        };
        flushed.map_err(|source| ExportError::Io { path: path.clone(), source })?;
        Ok(path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default())
    }
}

/// Columns of the CSV split files.
const CSV_HEADER: [&str; 11] = [
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
];

fn csv_row(w: &mut csv::Writer<std::fs::File>, r: &ExportRecord) -> Result<(), csv::Error> {
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
    facts: &HashMap<&str, Facts>,
) -> HashMap<&'a str, &'a String> {
    let mut first: HashMap<[u8; 16], &String> = HashMap::new();
    let mut out = HashMap::new();
    for key in gold.keys() {
        let of = match facts.get(key.as_str()).and_then(|f| f.text) {
            Some(h) => *first.entry(h).or_insert(key),
            None => key,
        };
        out.insert(key.as_str(), of);
    }
    out
}

/// Whether `labels` holds the same labels as the set `set` (sorted, deduplicated), in any
/// order and with any repeats.
fn same_set(set: &[String], labels: &[String]) -> bool {
    labels.iter().all(|l| set.contains(l)) && set.iter().all(|l| labels.contains(l))
}

/// The note that explains an item's gold: the latest adjudication's note, else the note of
/// the newest current answer (each annotator's latest) that gave the gold labels. A note on an
/// answer that was later replaced explains something else. Records are taken oldest first,
/// one at a time; only notes that may still count are held.
pub struct Notes<'g> {
    gold: &'g BTreeMap<String, Gold>,
    seen: usize,
    adjudication: HashMap<String, String>,
    /// Item -> (annotator, when, note) of current answers that gave the gold, with a note.
    current: HashMap<String, Vec<(String, usize, String)>>,
}

impl<'g> Notes<'g> {
    pub fn new(gold: &'g BTreeMap<String, Gold>) -> Self {
        Notes { gold, seen: 0, adjudication: HashMap::new(), current: HashMap::new() }
    }

    pub fn take(&mut self, a: &Annotation) {
        self.take_parts(&a.item, &a.annotator, &a.labels, a.mode, &a.note);
    }

    /// [`Notes::take`] for a record given by its parts (as a borrowed pass has them).
    pub fn take_parts(
        &mut self,
        item: &str,
        annotator: &str,
        labels: &[String],
        mode: Mode,
        note: &str,
    ) {
        self.seen += 1;
        let noted = !note.trim().is_empty();
        if mode == Mode::Adjudication {
            match noted {
                true => self.adjudication.insert(item.to_owned(), note.to_owned()),
                false => self.adjudication.remove(item),
            };
            return;
        }
        // Most records carry no note: nothing to compare, nothing allocated.
        let gives_gold = noted && self.gold.get(item).is_some_and(|g| same_set(&g.labels, labels));
        if gives_gold {
            let slot = self.current.entry(item.to_owned()).or_default();
            slot.retain(|(who, _, _)| who != annotator);
            slot.push((annotator.to_owned(), self.seen, note.to_owned()));
        } else if let Some(slot) = self.current.get_mut(item) {
            slot.retain(|(who, _, _)| who != annotator);
            if slot.is_empty() {
                self.current.remove(item);
            }
        }
    }

    /// Item key -> note.
    pub fn finish(self) -> HashMap<String, String> {
        let mut out: HashMap<String, String> = self
            .current
            .into_iter()
            .filter_map(|(item, notes)| {
                let (_, _, note) = notes.into_iter().max_by_key(|(_, when, _)| *when)?;
                Some((item, note))
            })
            .collect();
        out.extend(self.adjudication);
        out
    }
}

#[cfg(test)]
fn rationale_notes(
    records: &[AnswerRow],
    gold: &BTreeMap<String, Gold>,
) -> HashMap<String, String> {
    let mut notes = Notes::new(gold);
    for r in records {
        notes.take(&r.annotation);
    }
    notes.finish()
}

fn export_record(item: &Item, g: &Gold, split: String, rationale: Option<String>) -> ExportRecord {
    let is_chat = item.kind() == ItemKind::Conversation;
    let source = source_of(item);
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

fn fmt_opt(x: Option<f64>) -> String {
    x.map_or_else(|| "n/a".to_string(), |v| format!("{v:.3}"))
}

/// What the dataset card counts of one exported item.
pub struct CardRow<'a> {
    /// Index into `SPLITS`.
    pub split: usize,
    pub labels: &'a [String],
    pub source: &'a str,
}

/// The dataset card: counts per label and split, agreement and sources, in Markdown.
pub fn dataset_card(records: &[CardRow], input: &ExportInput) -> String {
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
        let i = r.split.min(SPLITS.len() - 1);
        totals[i] += 1;
        if r.labels.is_empty() {
            counts.entry("(none)").or_default()[i] += 1;
        }
        for l in r.labels {
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
        *sources.entry(r.source).or_default() += 1;
    }
    for (src, n) in sources {
        s.push_str(&format!("| {src} | {n} |\n"));
    }
    s
}

fn write_review(
    path: &Path,
    input: &ExportInput,
    facts: &HashMap<&str, Facts>,
    chosen: &[(&String, usize)],
) -> Result<(), ExportError> {
    let err = |source| ExportError::Csv { path: path.to_path_buf(), source };
    let mut w = csv::Writer::from_path(path).map_err(err)?;
    w.write_record(["item", "title", "suggested", "gold", "agree"]).map_err(err)?;
    for (key, _) in chosen {
        let Some(g) = input.gold.get(key.as_str()) else { continue };
        let title = facts.get(key.as_str()).map(|f| f.title.as_str()).unwrap_or("");
        let s = input.suggestions.get(key.as_str());
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
    proptest::proptest! {
        /// An item's hash read from its parts equals the hash of its joined text, and the
        /// lower-casing shortcut for ASCII words equals lower-casing every word, over any
        /// text: empty, CJK, emoji, control characters, Greek final sigma.
        #[test]
        fn the_item_hash_is_the_hash_of_its_text(
            title in ".{0,40}",
            body in "(\\PC|\\s|Σ){0,80}",
            turns in proptest::collection::vec(".{0,30}", 0..3),
            comments in proptest::collection::vec("(\\PC|\\s){0,30}", 0..3),
        ) {
            use sha2::Digest;
            let item = Item {
                title,
                body,
                turns: turns.into_iter().map(|content| crate::model::Turn { content, ..Default::default() }).collect(),
                comments: comments.into_iter().map(|body| crate::model::Comment { body, ..Default::default() }).collect(),
                ..Default::default()
            };
            let text = item.full_text();
            proptest::prop_assert_eq!(item_hash(&item), normalised_hash(&text));
            // The definition, word by word.
            let words: Vec<String> = text.split_whitespace().map(str::to_lowercase).collect();
            let digest = sha2::Sha256::digest(words.join(" ").as_bytes());
            let want = (!words.is_empty()).then(|| <[u8; 16]>::try_from(&digest[..16]).unwrap());
            proptest::prop_assert_eq!(normalised_hash(&text), want);
        }
    }

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
        let items = [
            item("a", "Crash on start"),
            item("b", "crash  ON start"),
            item("c", "Other issue"),
            Item { key: "d".into(), ..Default::default() },
            Item { key: "e".into(), ..Default::default() },
        ];
        let facts: HashMap<&str, Facts> = items
            .iter()
            .map(|i| {
                let f = Facts {
                    scanned: None,
                    text: normalised_hash(&i.full_text()),
                    chosen: true,
                    title: i.title.clone(),
                    source: source_of(i),
                    has_tools: false,
                };
                (i.key.as_str(), f)
            })
            .collect();
        let o = originals(&golds, &facts);
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

    /// Export writes the same files whether the store's order agrees with the keys' reading
    /// order (one pass over the store) or not (items read by key).
    #[test]
    fn the_files_do_not_depend_on_the_order_items_were_stored_in() {
        let tax = crate::taxonomy::LabelsFile::parse(
            crate::taxonomy::DEFAULT_LABELS_YML,
            Path::new("labels.yml"),
        )
        .unwrap()
        .get("issues")
        .unwrap()
        .clone();
        let item = |n: usize| Item {
            key: format!("d:{n}"),
            dataset: "d".into(),
            kind: Some(ItemKind::Issue),
            title: format!("Issue {n}"),
            body: format!("body of {n} with \"quotes\", commas\nand lines"),
            ..Default::default()
        };
        let gold: BTreeMap<String, Gold> = (1..=30)
            .map(|n| {
                let g = Gold {
                    labels: vec![["bug", "ux", "ci"][n % 3].to_string()],
                    source: crate::metrics::gold::GoldSource::Unanimous,
                    annotators: vec!["a".into()],
                };
                (format!("d:{n}"), g)
            })
            .collect();
        let agreement = crate::dataset::stats::agreement_stats(&[], &tax, None, false);
        let (notes, suggestions) = (HashMap::new(), HashMap::new());
        let datasets = ["d".to_string()];
        let input = ExportInput {
            gold: &gold,
            notes: &notes,
            suggestions: &suggestions,
            agreement: &agreement,
            datasets: &datasets,
            taxonomy: "issues",
            select: None,
            progress: None,
        };
        let mut outputs = Vec::new();
        for order in [(1..=30).collect::<Vec<_>>(), (1..=30).rev().collect()] {
            let mut store = Store::open_in_memory().unwrap();
            let items: Vec<Item> = order.into_iter().map(item).collect();
            store.upsert_items(&items, "now").unwrap();
            let mut files = Vec::new();
            for format in [ExportFormat::Jsonl, ExportFormat::Csv, ExportFormat::LlamaFactory] {
                let dir = tempfile::tempdir().unwrap();
                let ratios = SplitRatios::parse("60/20/20").unwrap();
                export(&store, &input, dir.path(), format, ratios, 7).unwrap();
                let mut names: Vec<_> =
                    std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().path()).collect();
                names.sort();
                for p in names {
                    files.push((p.file_name().unwrap().to_owned(), std::fs::read(&p).unwrap()));
                }
            }
            outputs.push(files);
        }
        assert!(
            outputs[0].len() >= 10,
            "{:?}",
            outputs[0].iter().map(|f| &f.0).collect::<Vec<_>>()
        );
        let train = outputs[0].iter().find(|f| f.0 == "train.jsonl").unwrap();
        let ids: Vec<String> = String::from_utf8_lossy(&train.1)
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["id"].to_string())
            .map(|id| id.trim_matches('"').to_string())
            .collect();
        let mut natural = ids.clone();
        natural.sort_by(|a, b| crate::text::natural_cmp(a, b));
        assert_eq!(ids, natural, "in reading order");
        assert!(ids.iter().any(|i| i.len() == 3) && ids.iter().any(|i| i.len() == 4), "{ids:?}");
        assert_eq!(outputs[0], outputs[1]);
    }

    #[test]
    fn split_ratios_parse() {
        assert_eq!(SplitRatios::parse("2/1/1").unwrap().0, [0.5, 0.25, 0.25]);
        assert!(SplitRatios::parse("80/20").is_err());
        assert!(SplitRatios::parse("0/0/0").is_err());
    }
}
