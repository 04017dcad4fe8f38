//! Agreement per dimension and per label, suggestion accuracy against gold, and per-annotator
//! throughput and acceptance. Pure: callers read the store; the statistics come from metrics.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

use crate::metrics::agreement::{self, AgreementReport, Table};
use crate::metrics::evaluation::{self, EvalItem, EvalReport};
use crate::metrics::gold::{Gold, GoldSource, label_set};
use crate::model::{Mode, Suggestion};
use crate::store::{AnswerRow, LabelAnswer, Store, StoreError};
use crate::taxonomy::Taxonomy;

/// Seed of the bootstrap intervals, so `sift stats` prints the same interval every time.
pub const BOOTSTRAP_SEED: u64 = 0x5EED_0001;

/// `sift stats --json`: agreement over the selected annotators.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AgreementStats {
    /// Items with at least one answer from a selected annotator.
    pub items: usize,
    pub annotators: Vec<String>,
    /// Per dimension: nominal over its categories (the label, or the label set for multi-select).
    pub dimensions: BTreeMap<String, AgreementReport>,
    /// Per label: binary presence.
    pub labels: BTreeMap<String, AgreementReport>,
}

/// Agreement of current answers (adjudications are rulings, not answers, and are left out).
/// `selected` limits the annotators; `with_ci` adds the bootstrap interval of alpha.
pub fn agreement_stats(
    answers: &[LabelAnswer],
    taxonomy: &Taxonomy,
    selected: Option<&[String]>,
    with_ci: bool,
) -> AgreementStats {
    let mut coded = CodedAnswers::new(taxonomy, selected);
    for a in answers {
        if a.mode != Mode::Adjudication {
            coded.add(&a.item, &a.annotator, a.labels.iter().map(String::as_str));
        }
    }
    coded.stats(with_ci, None)
}

/// [`agreement_stats`] straight from the store: the records of `datasets` (all when empty) are
/// streamed oldest first and the latest per (item, annotator) kept, with no per-record
/// allocation; this is the fast path behind `sift stats`.
pub fn agreement_stats_from_store(
    store: &Store,
    datasets: &[String],
    taxonomy: &Taxonomy,
    selected: Option<&[String]>,
    with_ci: bool,
    progress: Option<&indicatif::ProgressBar>,
) -> Result<AgreementStats, StoreError> {
    let mut coded = CodedAnswers::new(taxonomy, selected);
    let only = crate::dataset::only_dataset(datasets);
    store.for_each_annotation(only, |dataset, item, annotator, labels, mode| {
        if mode == Mode::Adjudication.as_str()
            || (datasets.len() > 1 && !datasets.iter().any(|d| d == dataset))
        {
            return;
        }
        if mode == RETRACTED {
            coded.remove(item, annotator);
        } else {
            coded.add_json(item, annotator, labels);
        }
    })?;
    Ok(coded.stats(with_ci, progress))
}

/// The mode for_each_annotation reports for a retracted record.
const RETRACTED: &str = "retracted";

/// Current answers coded as integers: items and annotators interned, each answer a bit set
/// over the taxonomy's labels (labels outside the taxonomy never count in agreement).
/// Building the agreement tables from these avoids a string per rating.
pub struct CodedAnswers<'t> {
    taxonomy: &'t Taxonomy,
    selected: Option<&'t [String]>,
    label_bits: HashMap<String, u128>,
    items: FastMap<String, u32>,
    annotators: FastMap<String, u32>,
    /// Per item id: (annotator id, labels); a later answer replaces an earlier one.
    answers: Vec<Vec<(u32, u128)>>,
    /// Label-set JSON text -> bits: answers repeat a few label sets many times.
    json_cache: FastMap<String, u128>,
}

/// FNV-1a: keys here are short strings from our own store, where SipHash's DoS resistance buys
/// nothing and costs a third of the time of building the tables.
#[derive(Default, Clone, Copy)]
pub struct Fnv(u64);

impl std::hash::Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut h = if self.0 == 0 { 0xcbf2_9ce4_8422_2325 } else { self.0 };
        for &b in bytes {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        self.0 = h;
    }
}

/// hashbrown's map for its `entry_ref`: an interned key is hashed once and copied only when
/// new.
type FastMap<K, V> = hashbrown::HashMap<K, V, std::hash::BuildHasherDefault<Fnv>>;

/// Taxonomies larger than this use one bit per label up to here and ignore the rest, which
/// no real taxonomy reaches (max 128 labels).
const MAX_CODED_LABELS: usize = 128;

impl<'t> CodedAnswers<'t> {
    pub fn new(taxonomy: &'t Taxonomy, selected: Option<&'t [String]>) -> Self {
        let label_bits = taxonomy
            .label_names()
            .into_iter()
            .take(MAX_CODED_LABELS)
            .enumerate()
            .map(|(i, name)| (name, 1u128 << i))
            .collect();
        CodedAnswers {
            taxonomy,
            selected,
            label_bits,
            items: FastMap::default(),
            annotators: FastMap::default(),
            answers: Vec::new(),
            json_cache: FastMap::default(),
        }
    }

    /// Room for `items` items, so a large pass does not grow its tables step by step.
    fn reserve(&mut self, items: usize) {
        self.items.reserve(items);
        self.answers.reserve(items);
    }

    fn bits<'a>(&self, labels: impl IntoIterator<Item = &'a str>) -> u128 {
        labels.into_iter().filter_map(|l| self.label_bits.get(l)).fold(0, |acc, b| acc | b)
    }

    fn intern(map: &mut FastMap<String, u32>, name: &str) -> u32 {
        let next = map.len() as u32;
        *map.entry_ref(name).or_insert(next)
    }

    fn add_bits(&mut self, item: &str, annotator: &str, bits: u128) {
        let mut unknown = u32::MAX;
        self.add_bits_by_id(&mut unknown, item, annotator, bits);
    }

    /// `add_bits` for an item whose id here the caller keeps in `id` (u32::MAX until known),
    /// so a pass that already interned the item elsewhere does not hash its key again.
    fn add_bits_by_id(&mut self, id: &mut u32, item: &str, annotator: &str, bits: u128) {
        if self.selected.is_some_and(|s| !s.iter().any(|a| a == annotator)) {
            return;
        }
        if *id == u32::MAX {
            *id = Self::intern(&mut self.items, item);
        }
        let i = *id as usize;
        let a = Self::intern(&mut self.annotators, annotator);
        if i == self.answers.len() {
            self.answers.push(Vec::with_capacity(3));
        }
        let answers = &mut self.answers[i];
        match answers.iter_mut().find(|(who, _)| *who == a) {
            Some(slot) => slot.1 = bits,
            None => answers.push((a, bits)),
        }
    }

    /// Withdraw an annotator's answer (an undo with nothing to go back to).
    pub fn remove(&mut self, item: &str, annotator: &str) {
        let (Some(&i), Some(&a)) = (self.items.get(item), self.annotators.get(annotator)) else {
            return;
        };
        if let Some(answers) = self.answers.get_mut(i as usize) {
            answers.retain(|(who, _)| *who != a);
        }
    }

    /// Record an answer (a later one for the same item and annotator replaces it).
    pub fn add<'a>(
        &mut self,
        item: &str,
        annotator: &str,
        labels: impl IntoIterator<Item = &'a str>,
    ) {
        let bits = self.bits(labels);
        self.add_bits(item, annotator, bits);
    }

    /// Record an answer whose labels are a JSON array of names (as stored); unreadable
    /// label text counts as no labels.
    pub fn add_json(&mut self, item: &str, annotator: &str, labels_json: &str) {
        let bits = match self.json_cache.get(labels_json) {
            Some(&b) => b,
            None => {
                let names: Vec<String> = serde_json::from_str(labels_json).unwrap_or_default();
                let b = self.bits(names.iter().map(String::as_str));
                self.json_cache.insert(labels_json.to_owned(), b);
                b
            }
        };
        self.add_bits(item, annotator, bits);
    }

    /// The names of the ids that are `kept`, sorted, and for each interned id its sorted
    /// position (u32::MAX for ids not kept).
    fn sorted(map: &FastMap<String, u32>, kept: impl Fn(u32) -> bool) -> (Vec<String>, Vec<u32>) {
        let mut names: Vec<(&String, u32)> =
            map.iter().filter(|&(_, &v)| kept(v)).map(|(k, &v)| (k, v)).collect();
        names.sort_unstable();
        let mut rank = vec![u32::MAX; map.len()];
        for (pos, (_, id)) in names.iter().enumerate() {
            rank[*id as usize] = pos as u32;
        }
        (names.into_iter().map(|(k, _)| k.clone()).collect(), rank)
    }

    /// One table: `category` maps an answer's bits to a category code, `name` names a code;
    /// categories are sorted by name, units by item key and columns by annotator, as
    /// `Table::from_triples` orders them.
    /// An answer whose category is None did not rate this unit (missing data).
    fn table(
        &self,
        layout: &Layout,
        category: &dyn Fn(u128) -> Option<u128>,
        name: &dyn Fn(u128) -> String,
    ) -> Table {
        // Few distinct categories per table: a short list beats hashing every cell.
        let mut codes: Vec<(u128, u32)> = Vec::new();
        let lookup = |codes: &[(u128, u32)], code: u128| {
            codes.iter().find(|(c, _)| *c == code).map(|&(_, i)| i)
        };
        for answers in &self.answers {
            for &(_, bits) in answers {
                let Some(code) = category(bits) else { continue };
                if lookup(&codes, code).is_none() {
                    codes.push((code, 0));
                }
            }
        }
        let mut named: Vec<(String, u128)> = codes.iter().map(|&(c, _)| (name(c), c)).collect();
        named.sort();
        for (position, (_, code)) in named.iter().enumerate() {
            if let Some(slot) = codes.iter_mut().find(|(c, _)| c == code) {
                slot.1 = position as u32;
            }
        }
        let width = layout.annotators.len();
        let mut cells = vec![None; width * layout.items];
        // Items without answers have no row (their rank is u32::MAX).
        for (item, answers) in self.answers.iter().enumerate().filter(|(_, a)| !a.is_empty()) {
            let row = layout.item_rank[item] as usize * width;
            for &(a, bits) in answers {
                cells[row + layout.annotator_rank[a as usize] as usize] =
                    category(bits).and_then(|c| lookup(&codes, c));
            }
        }
        Table {
            annotators: layout.annotators.clone(),
            categories: named.into_iter().map(|(n, _)| n).collect(),
            cells,
        }
    }

    /// Agreement per dimension and per label; `progress` counts the tables as they are done.
    pub fn stats(
        &self,
        with_ci: bool,
        progress: Option<&indicatif::ProgressBar>,
    ) -> AgreementStats {
        // Only items and annotators with an answer left count: an answer withdrawn (an undo
        // with nothing to go back to) leaves no trace, as in everyone's current answers.
        let answered = |i: u32| self.answers.get(i as usize).is_some_and(|a| !a.is_empty());
        let mut rating = vec![false; self.annotators.len()];
        for &(a, _) in self.answers.iter().flatten() {
            rating[a as usize] = true;
        }
        let (items, item_rank) = Self::sorted(&self.items, answered);
        let (annotators, annotator_rank) = Self::sorted(&self.annotators, |a| rating[a as usize]);
        let layout = Layout { item_rank, items: items.len(), annotators, annotator_rank };
        let names = self.taxonomy.label_names();
        let bit_of = |name: &str| self.label_bits.get(name).copied().unwrap_or(0);
        let set_name = |bits: u128| {
            let mut picked: Vec<&str> =
                names.iter().map(String::as_str).filter(|n| bits & bit_of(n) != 0).collect();
            picked.sort_unstable();
            if picked.is_empty() { agreement::EMPTY_SET.to_string() } else { picked.join("+") }
        };
        let table = |category: &dyn Fn(u128) -> Option<u128>, name: &dyn Fn(u128) -> String| {
            self.table(&layout, category, name)
        };
        let dim_mask = |d: &crate::taxonomy::Dimension| {
            d.labels.iter().fold(0u128, |m, l| m | bit_of(&l.name))
        };
        // With several dimensions, an answer that gives no label in a dimension did not answer
        // it: missing data, not a rating of "none" (saving 2 of 9 SFT dimensions used to make
        // the other 7 read as disagreement). With one dimension, an empty answer is a rating:
        // "no label applies".
        let several = self.taxonomy.dimensions.len() > 1;
        let answered = |bits: u128, dim: u128| !several || bits & dim != 0;
        // One job per dimension (mask over its labels) and per label (presence of its bit),
        // each with the mask of the dimension it belongs to.
        let jobs: Vec<(bool, &str, u128, u128)> = self
            .taxonomy
            .dimensions
            .iter()
            .map(|d| (true, d.name.as_str(), dim_mask(d), dim_mask(d)))
            .chain(self.taxonomy.dimensions.iter().flat_map(|d| {
                let dim = dim_mask(d);
                d.labels.iter().map(move |l| (false, l.name.as_str(), bit_of(&l.name), dim))
            }))
            .collect();
        let run = |&(is_dimension, name, mask, dim): &(bool, &str, u128, u128)| {
            let t = if is_dimension {
                table(&|b| answered(b, dim).then_some(b & mask), &set_name)
            } else {
                let present = |b: u128| answered(b, dim).then_some(u128::from(b & mask != 0));
                presence_table(table(&present, &|c| {
                    if c == 1 { agreement::PRESENT } else { agreement::ABSENT }.to_string()
                }))
            };
            let report = agreement::report(&t, with_ci, BOOTSTRAP_SEED);
            if let Some(p) = progress {
                p.inc(1);
            }
            (is_dimension, name.to_string(), report)
        };
        if let Some(p) = progress {
            p.set_length(jobs.len() as u64);
        }
        // Tables are independent: build them on every core (the CLI's wall time is the budget).
        let threads =
            std::thread::available_parallelism().map_or(1, |n| n.get()).clamp(1, jobs.len().max(1));
        let results: Vec<(bool, String, AgreementReport)> = std::thread::scope(|scope| {
            let handles: Vec<_> = (1..threads)
                .map(|k| {
                    let (jobs, run) = (&jobs, &run);
                    scope.spawn(move || {
                        jobs.iter().skip(k).step_by(threads).map(run).collect::<Vec<_>>()
                    })
                })
                .collect();
            let mut all: Vec<_> = jobs.iter().step_by(threads).map(run).collect();
            for h in handles {
                // A panic in a worker is a bug in the statistics; surface it here.
                all.extend(h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)));
            }
            all
        });
        let mut dimensions = BTreeMap::new();
        let mut labels = BTreeMap::new();
        for (is_dimension, name, report) in results {
            if is_dimension {
                dimensions.insert(name, report);
            } else {
                labels.insert(name, report);
            }
        }
        AgreementStats { items: items.len(), annotators: layout.annotators, dimensions, labels }
    }
}

/// Presence tables always name both categories, as `label_presence_tables` does.
fn presence_table(mut t: Table) -> Table {
    if t.categories.len() < 2 {
        let only_present = t.categories.first().is_some_and(|c| c == agreement::PRESENT);
        t.categories = vec![agreement::ABSENT.to_string(), agreement::PRESENT.to_string()];
        if only_present {
            for v in t.cells.iter_mut().flatten() {
                *v = 1;
            }
        }
    }
    t
}

/// Where interned items and annotators go in a table.
struct Layout {
    item_rank: Vec<u32>,
    /// Items with a row.
    items: usize,
    annotators: Vec<String>,
    annotator_rank: Vec<u32>,
}

/// How often an annotator's saved labels equal the suggestion they were shown (or, in blind
/// mode, the suggestion recorded beside the answer).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Acceptance {
    /// Records that carry a suggestion.
    pub with_suggestion: u64,
    /// Of those, records whose labels equal the suggestion's labels.
    pub unchanged: u64,
    pub rate: Option<f64>,
}

impl Acceptance {
    fn add(&mut self, unchanged: bool) {
        self.with_suggestion += 1;
        self.unchanged += u64::from(unchanged);
        self.rate = Some(self.unchanged as f64 / self.with_suggestion as f64);
    }
}

/// Throughput and acceptance of one annotator (the stats screen's annotator table).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AnnotatorStats {
    pub annotator: String,
    pub records: u64,
    /// Distinct items answered.
    pub items: u64,
    /// Records per hour of active time (durations, else gaps between records under 10 min).
    pub items_per_hour: Option<f64>,
    pub median_seconds: Option<f64>,
    pub blind: Acceptance,
    pub assisted: Acceptance,
}

/// A gap between two records longer than this is a break, not time spent on the item.
const IDLE_GAP_SECONDS: f64 = 600.0;

/// Throughput and acceptance per annotator from every record (oldest first), sorted by name.
pub fn annotator_stats(records: &[AnswerRow]) -> Vec<AnnotatorStats> {
    let mut by: BTreeMap<&str, AnnotatorTally> = BTreeMap::new();
    let mut ids: FastMap<String, u32> = FastMap::default();
    for r in records {
        let a = &r.annotation;
        let item = CodedAnswers::intern(&mut ids, &a.item);
        let tally = by.entry(a.annotator.as_str()).or_default();
        tally.add(item, &a.at, a.duration_ms);
        tally.accepted(a.mode, a.suggestion.as_ref(), &a.labels);
    }
    by.into_iter().map(|(who, t)| t.finish(who)).collect()
}

/// One annotator's records, taken oldest first: what [`AnnotatorStats`] is computed from.
#[derive(Default)]
struct AnnotatorTally {
    records: u64,
    seconds: Vec<f64>,
    previous: Option<jiff::Timestamp>,
    /// The last record's time as written and as read: records imported together share it.
    last_at: (String, Option<jiff::Timestamp>),
    blind: Acceptance,
    assisted: Acceptance,
    /// Distinct items, by an id the caller interns.
    items: ItemSet,
}

/// A set of interned item ids (dense, from 0): one bit each.
#[derive(Default)]
struct ItemSet {
    bits: Vec<u64>,
    len: u64,
}

impl ItemSet {
    fn insert(&mut self, id: u32) {
        let (word, bit) = (id as usize / 64, 1u64 << (id % 64));
        if self.bits.len() <= word {
            self.bits.resize(word + 1, 0);
        }
        if self.bits[word] & bit == 0 {
            self.bits[word] |= bit;
            self.len += 1;
        }
    }
}

impl AnnotatorTally {
    /// A record of `item` made at `at`, taking `duration_ms` where the record says.
    fn add(&mut self, item: u32, at: &str, duration_ms: Option<u64>) {
        self.records += 1;
        self.items.insert(item);
        if self.last_at.0 != at {
            self.last_at = (at.to_owned(), at.parse().ok());
        }
        let at = self.last_at.1;
        let spent = match (duration_ms, at, self.previous) {
            (Some(ms), _, _) => Some(ms as f64 / 1000.0),
            (None, Some(now), Some(before)) => {
                let gap = now.duration_since(before).as_secs_f64();
                (0.0..=IDLE_GAP_SECONDS).contains(&gap).then_some(gap)
            }
            _ => None,
        };
        self.seconds.extend(spent);
        if at.is_some() {
            self.previous = at;
        }
    }

    /// Whether a record made with a suggestion on screen kept its labels.
    fn accepted(
        &mut self,
        mode: Mode,
        suggestion: Option<&crate::model::SuggestionRef>,
        labels: &[String],
    ) {
        if let Some(s) = suggestion {
            let shown: Vec<String> = s.labels.iter().map(|l| l.name.clone()).collect();
            let unchanged = label_set(&shown) == label_set(labels);
            match mode {
                Mode::Blind | Mode::Sample => self.blind.add(unchanged),
                Mode::Assisted => self.assisted.add(unchanged),
                Mode::Adjudication | Mode::Import => {}
            }
        }
    }

    fn finish(mut self, who: &str) -> AnnotatorStats {
        let total: f64 = self.seconds.iter().sum();
        AnnotatorStats {
            annotator: who.to_string(),
            records: self.records,
            items: self.items.len,
            items_per_hour: (total > 0.0).then(|| self.seconds.len() as f64 * 3600.0 / total),
            median_seconds: median(&mut self.seconds),
            blind: self.blind,
            assisted: self.assisted,
        }
    }
}

/// One item's (annotator, label set) answers, and each adjudicator's latest ruling:
/// (adjudicator, record number, label set unless withdrawn).
type ItemTally = (Vec<(u32, u32)>, Vec<(u32, u64, Option<u32>)>);

/// The ruling that stands: the latest among the adjudicators' rulings not withdrawn.
fn ruling(rulings: &[(u32, u64, Option<u32>)]) -> Option<(u32, u32)> {
    rulings
        .iter()
        .filter_map(|&(who, at, set)| Some((at, who, set?)))
        .max_by_key(|&(at, _, _)| at)
        .map(|(_, who, set)| (who, set))
}

/// Current answers per item, interned, for counting gold and disagreements the way
/// `metrics::gold` decides them (the latest record per annotator counts, a retraction
/// withdraws it, the latest ruling not withdrawn wins).
#[derive(Default)]
struct GoldTally {
    items: FastMap<String, u32>,
    annotators: FastMap<String, u32>,
    sets: HashMap<Vec<String>, u32>,
    /// Records taken so far: their order.
    records: u64,
    /// Per item id: its current answers and rulings.
    answers: Vec<ItemTally>,
}

impl GoldTally {
    /// The id of a label set (equal sets, in any order or with repeats, share one).
    fn set_id(&mut self, labels: &[String]) -> u32 {
        let next = self.sets.len() as u32;
        *self.sets.entry(label_set(labels)).or_insert(next)
    }

    /// A record of `item` by `annotator` whose labels are the set `set` (see `set_id`).
    fn take(&mut self, item: u32, annotator: &str, set: u32, mode: Mode, retracted: bool) {
        let item = item as usize;
        if self.answers.len() <= item {
            self.answers.resize_with(item + 1, Default::default);
        }
        let who = CodedAnswers::intern(&mut self.annotators, annotator);
        self.records += 1;
        let at = self.records;
        let (answers, rulings) = &mut self.answers[item];
        if mode == Mode::Adjudication {
            let set = (!retracted).then_some(set);
            match rulings.iter_mut().find(|(w, _, _)| *w == who) {
                Some(slot) => *slot = (who, at, set),
                None => rulings.push((who, at, set)),
            }
        } else if retracted {
            answers.retain(|(w, _)| *w != who);
        } else {
            match answers.iter_mut().find(|(w, _)| *w == who) {
                Some(slot) => slot.1 = set,
                None => answers.push((who, set)),
            }
        }
    }

    /// (items with gold, items waiting for an adjudicator).
    fn counts(&self) -> (usize, usize) {
        let (mut gold, mut waiting) = (0, 0);
        for (answers, rulings) in &self.answers {
            let unanimous = answers.first().is_some_and(|f| answers.iter().all(|a| a.1 == f.1));
            if ruling(rulings).is_some() || unanimous {
                gold += 1;
            } else if answers.len() >= 2 {
                waiting += 1;
            }
        }
        (gold, waiting)
    }

    /// Gold per item, as `metrics::gold::gold_map` decides it from the same answers.
    fn gold_map(&self) -> BTreeMap<String, Gold> {
        let mut keys: Vec<&str> = vec![""; self.items.len()];
        for (k, &id) in &self.items {
            keys[id as usize] = k;
        }
        let mut who: Vec<&str> = vec![""; self.annotators.len()];
        for (k, &id) in &self.annotators {
            who[id as usize] = k;
        }
        let mut sets: Vec<&[String]> = vec![&[]; self.sets.len()];
        for (set, &id) in &self.sets {
            sets[id as usize] = set;
        }
        let mut out = BTreeMap::new();
        for (item, (answers, rulings)) in self.answers.iter().enumerate() {
            let gold = match (ruling(rulings), answers.first()) {
                (Some((by, set)), _) => Gold {
                    labels: sets[set as usize].to_vec(),
                    source: GoldSource::Adjudicated,
                    annotators: vec![who[by as usize].to_string()],
                },
                (None, Some(first)) if answers.iter().all(|a| a.1 == first.1) => {
                    let mut by: Vec<String> =
                        answers.iter().map(|a| who[a.0 as usize].to_string()).collect();
                    by.sort_unstable();
                    Gold {
                        labels: sets[first.1 as usize].to_vec(),
                        source: GoldSource::Unanimous,
                        annotators: by,
                    }
                }
                _ => continue,
            };
            out.insert(keys[item].to_string(), gold);
        }
        out
    }
}

/// Everything `sift stats` prints, from one pass over the records.
#[derive(Debug, Clone, PartialEq)]
pub struct StatsReport {
    pub agreement: AgreementStats,
    pub annotators: Vec<AnnotatorStats>,
    /// Items with gold (adjudicated or unanimous).
    pub gold: usize,
    /// Items waiting for an adjudicator.
    pub disagreements: usize,
}

/// [`agreement_stats_from_store`], [`annotator_stats`], and the gold and adjudication-queue
/// counts, from a single pass over the records of `datasets`: a large store is read once,
/// and only the current answer per item and annotator is held.
pub fn stats_report(
    store: &Store,
    datasets: &[String],
    taxonomy: &Taxonomy,
    selected: Option<&[String]>,
    with_ci: bool,
    progress: Option<&indicatif::ProgressBar>,
) -> Result<StatsReport, StoreError> {
    let (report, _) = report_and_tally(store, datasets, taxonomy, selected, with_ci, progress)?;
    Ok(report)
}

/// [`stats_report`] without intervals, and the gold labels of every item that has them (as
/// `metrics::gold::gold_map` gives them), from the same single pass: what `sift export` needs
/// without holding every answer.
pub fn report_with_gold(
    store: &Store,
    datasets: &[String],
    taxonomy: &Taxonomy,
) -> Result<(StatsReport, BTreeMap<String, Gold>), StoreError> {
    let (report, tally) = report_and_tally(store, datasets, taxonomy, None, false, None)?;
    Ok((report, tally.gold_map()))
}

fn report_and_tally(
    store: &Store,
    datasets: &[String],
    taxonomy: &Taxonomy,
    selected: Option<&[String]>,
    with_ci: bool,
    progress: Option<&indicatif::ProgressBar>,
) -> Result<(StatsReport, GoldTally), StoreError> {
    let mut coded = CodedAnswers::new(taxonomy, selected);
    let mut people: BTreeMap<String, AnnotatorTally> = BTreeMap::new();
    let mut gold = GoldTally::default();
    let only = crate::dataset::only_dataset(datasets);
    // Every item has at least the records of the annotator with the most: a size to reserve
    // (capped, as counts are a hint, not a promise).
    let most = store.annotation_counts()?.iter().map(|(_, n)| *n).max().unwrap_or(0);
    let expect = most.min(store.item_count(only)?);
    let expect = usize::try_from(expect).unwrap_or(0).min(1 << 24);
    coded.reserve(expect);
    gold.items.reserve(expect);
    gold.answers.reserve(expect);
    // What is computed from a label set, once per distinct stored label text.
    let mut set_of: Vec<Option<u32>> = Vec::new();
    let mut bits_of: Vec<Option<u128>> = Vec::new();
    // Item ids of the pass -> ids in `coded`.
    let mut coded_ids: Vec<u32> = Vec::new();
    store.for_each_record_ref(only, |r| {
        if datasets.len() > 1 && !datasets.iter().any(|d| d == r.dataset) {
            return;
        }
        let item = CodedAnswers::intern(&mut gold.items, r.item);
        if !people.contains_key(r.annotator) {
            people.insert(r.annotator.to_owned(), AnnotatorTally::default());
        }
        if let Some(t) = people.get_mut(r.annotator) {
            t.add(item, r.at, r.duration_ms);
            t.accepted(r.mode, r.suggestion.as_ref(), r.labels);
        }
        if !r.present {
            return;
        }
        // A withdrawn answer leaves the annotator's answer out; a withdrawn ruling leaves the
        // adjudicator's own answer alone (rulings are not answers).
        if r.mode != Mode::Adjudication && r.retracted {
            coded.remove(r.item, r.annotator);
        } else if r.mode != Mode::Adjudication {
            let bits =
                memo(&mut bits_of, r.labels_id, || coded.bits(r.labels.iter().map(String::as_str)));
            if coded_ids.len() <= item as usize {
                coded_ids.resize(item as usize + 1, u32::MAX);
            }
            coded.add_bits_by_id(&mut coded_ids[item as usize], r.item, r.annotator, bits);
        }
        let set = memo(&mut set_of, r.labels_id, || gold.set_id(r.labels));
        gold.take(item, r.annotator, set, r.mode, r.retracted);
    })?;
    let (gold_items, disagreements) = gold.counts();
    let report = StatsReport {
        agreement: coded.stats(with_ci, progress),
        annotators: people.into_iter().map(|(who, t)| t.finish(&who)).collect(),
        gold: gold_items,
        disagreements,
    };
    Ok((report, gold))
}

/// `cache[id]`, computed by `f` the first time.
fn memo<T: Copy>(cache: &mut Vec<Option<T>>, id: u32, f: impl FnOnce() -> T) -> T {
    let i = id as usize;
    if cache.len() <= i {
        cache.resize(i + 1, None);
    }
    *cache[i].get_or_insert_with(f)
}

fn median(values: &mut [f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_unstable_by(f64::total_cmp);
    let mid = values.len() / 2;
    Some(if values.len().is_multiple_of(2) {
        (values[mid - 1] + values[mid]) / 2.0
    } else {
        values[mid]
    })
}

/// Score a run's suggestions against gold. Items with gold that the run made a suggestion for
/// are scored; an abstention or a suggestion naming no valid label is a miss, not skipped.
pub fn evaluate_run(
    gold: &BTreeMap<String, Gold>,
    suggestions: &[Suggestion],
    taxonomy: &Taxonomy,
) -> EvalReport {
    let by_item: HashMap<&str, &Suggestion> =
        suggestions.iter().map(|s| (s.item.as_str(), s)).collect();
    let items: Vec<EvalItem> = gold
        .iter()
        .filter_map(|(key, g)| {
            let s = by_item.get(key.as_str())?;
            let predicted = if s.abstained {
                Vec::new()
            } else {
                s.labels.iter().map(|l| (l.name.clone(), l.confidence)).collect()
            };
            Some(EvalItem { gold: g.labels.clone(), predicted })
        })
        .collect();
    let dims = evaluation::single_select(taxonomy);
    evaluation::evaluate(&items, &taxonomy.label_names(), &dims)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Annotation, LabelScore, SuggestionRef};

    fn rec(
        who: &str,
        item: &str,
        labels: &[&str],
        mode: Mode,
        ms: u64,
        sugg: &[&str],
    ) -> AnswerRow {
        AnswerRow {
            id: 0,
            dataset: "d".into(),
            annotation: Annotation {
                item: item.into(),
                annotator: who.into(),
                labels: labels.iter().map(|s| s.to_string()).collect(),
                at: String::new(),
                mode,
                note: String::new(),
                duration_ms: Some(ms),
                suggestion: Some(SuggestionRef {
                    run: "r".into(),
                    labels: sugg
                        .iter()
                        .map(|s| LabelScore { name: s.to_string(), confidence: None })
                        .collect(),
                }),
                week: None,
                retracted: false,
            },
        }
    }

    #[test]
    fn coded_tables_equal_the_metrics_tables() {
        let yml = "taxonomies:\n  t:\n    dimensions:\n      - name: d\n        select: many\n        labels: [a, b, c]\n      - name: p\n        select: one\n        labels: [lo, hi]\n";
        let file = crate::taxonomy::LabelsFile::parse(yml, std::path::Path::new("l.yml")).unwrap();
        let tax = file.get("t").unwrap();
        let pool: [&[&str]; 7] =
            [&["a"], &["a", "b"], &["c", "lo"], &[], &["hi"], &["b", "hi", "zz"], &["a", "lo"]];
        let mut rows = Vec::new();
        let mut id = 0;
        for item in 0..40 {
            for (k, who) in ["u", "v", "w"].iter().enumerate() {
                if (item + k) % 5 == 0 {
                    continue;
                }
                id += 1;
                let labels = pool[(item * 3 + k * 5 + item / 7) % pool.len()];
                rows.push(LabelAnswer {
                    item: format!("i{item}"),
                    dataset: "d".into(),
                    annotator: who.to_string(),
                    labels: labels.iter().map(|s| s.to_string()).collect(),
                    mode: Mode::Blind,
                    id,
                });
            }
        }
        let fast = agreement_stats(&rows, tax, None, true);
        // The progress bar counts every table: one per dimension and one per label.
        let mut coded = CodedAnswers::new(tax, None);
        for a in &rows {
            coded.add(&a.item, &a.annotator, a.labels.iter().map(String::as_str));
        }
        let bar = indicatif::ProgressBar::hidden();
        coded.stats(false, Some(&bar));
        let tables = (tax.dimensions.len() + tax.label_names().len()) as u64;
        assert_eq!((bar.position(), bar.length()), (tables, Some(tables)));
        let records: Vec<agreement::SetRecord> =
            rows.iter().map(|a| (a.item.clone(), a.annotator.clone(), a.labels.clone())).collect();
        for d in &tax.dimensions {
            let names: Vec<String> = d.labels.iter().map(|l| l.name.clone()).collect();
            // With two dimensions, an answer without a label of this one did not answer it.
            let answered: Vec<agreement::SetRecord> =
                records.iter().filter(|r| r.2.iter().any(|l| names.contains(l))).cloned().collect();
            assert!(answered.len() < records.len(), "the test needs unanswered dimensions");
            let t = agreement::set_table(&answered, Some(&names));
            assert_eq!(
                fast.dimensions[&d.name],
                agreement::report(&t, true, BOOTSTRAP_SEED),
                "{}",
                d.name
            );
            for (name, t) in names.iter().zip(agreement::label_presence_tables(&answered, &names)) {
                let want = agreement::report(&t, true, BOOTSTRAP_SEED);
                assert_eq!(fast.labels[name], want, "{name}");
            }
        }
        assert_eq!(fast.items, 40);
        let only = agreement_stats(&rows, tax, Some(&["u".to_string(), "v".to_string()]), false);
        assert_eq!(only.annotators, ["u", "v"]);
    }

    /// Saving 2 of a taxonomy's dimensions leaves the others unanswered: missing data, not a
    /// disagreement (they used to read -1.000).
    #[test]
    fn unanswered_dimensions_are_missing_not_disagreement() {
        let yml = "taxonomies:\n  t:\n    dimensions:\n      - name: d\n        select: one\n        labels: [a, b]\n      - name: e\n        select: one\n        labels: [xx, yy]\n";
        let file = crate::taxonomy::LabelsFile::parse(yml, std::path::Path::new("l.yml")).unwrap();
        let tax = file.get("t").unwrap();
        let mut rows = Vec::new();
        for (id, (item, who, labels)) in [
            ("1", "u", vec!["a"]),
            ("1", "v", vec!["a"]),
            ("2", "u", vec!["b"]),
            ("2", "v", vec!["b"]),
            ("3", "u", vec!["a", "xx"]),
            ("3", "v", vec!["b"]),
        ]
        .into_iter()
        .enumerate()
        {
            rows.push(LabelAnswer {
                item: item.into(),
                dataset: "d".into(),
                annotator: who.into(),
                labels: labels.into_iter().map(String::from).collect(),
                mode: Mode::Blind,
                id: id as i64,
            });
        }
        let s = agreement_stats(&rows, tax, None, false);
        let e = &s.dimensions["e"];
        assert_eq!((e.items, e.pairable_items), (1, 0), "only u answered e, on item 3");
        assert_eq!(e.krippendorff_alpha, None);
        assert_eq!(e.percent_agreement, None);
        assert_eq!(s.labels["xx"].pairable_items, 0);
        let d = &s.dimensions["d"];
        assert_eq!((d.items, d.pairable_items, d.fleiss_items), (3, 3, 3));
        assert!((d.percent_agreement.unwrap() - 2.0 / 3.0).abs() < 1e-9);
    }

    #[test]
    fn throughput_and_acceptance_split_by_mode() {
        let rows = vec![
            rec("a", "1", &["bug"], Mode::Assisted, 10_000, &["bug"]),
            rec("a", "2", &["ux"], Mode::Assisted, 20_000, &["bug"]),
            rec("a", "3", &["bug"], Mode::Blind, 30_000, &["bug"]),
        ];
        let s = annotator_stats(&rows);
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].median_seconds, Some(20.0));
        // 3 records in 60 s of work: 180 per hour.
        assert!((s[0].items_per_hour.unwrap() - 180.0).abs() < 1e-9);
        assert_eq!(s[0].assisted.with_suggestion, 2);
        assert_eq!(s[0].assisted.rate, Some(0.5));
        assert_eq!(s[0].blind.rate, Some(1.0));
    }
}
