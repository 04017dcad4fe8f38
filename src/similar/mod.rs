//! "Has this been seen before?": similar items from the FTS5 keyword index (BM25 candidates),
//! re-ranked by Jaccard overlap of keyword sets with a boost for shared labels, explained by the
//! shared keywords and labels. Used by `sift similar`, the TUI's suggestion pane and the LLM
//! prompt's few-shot examples.
//!
//! Candidates come from the index of stored keywords rather than the full text: an item that
//! shares no keyword has zero overlap and would be dropped by the re-ranking anyway, and the
//! keyword index has far shorter posting lists than the text (eight terms per item), which with
//! the stepped queries of `candidates` keeps top-5 over 100,000 items under 20 ms at p95. The
//! full-text index supplies the document frequencies keywords are chosen by.
//! Every query term is a quoted FTS5 string built from extracted terms, never raw item text, so
//! FTS5 syntax in titles and bodies (quotes, NEAR, `title:`, `*`, `^`, AND/OR/NOT, parentheses)
//! is plain text to sift.

use std::collections::{BTreeSet, HashMap};
use std::io::Write;
use std::process::ExitCode;

use serde::Serialize;

use crate::app::Context;
use crate::model::Item;
use crate::store::{AnswerRow, IndexReport, KeywordHit, Store, StoreError, fts_quote};
use crate::text::keywords::{self, LabelMatcher, LabelPhrases};

/// Candidates gathered before re-ranking (at least four per result asked for).
const POOL: usize = 20;
/// A larger pool when looking for gold-labeled items, which may be a minority.
const GOLD_POOL: usize = 400;
/// Below this keyword overlap (Jaccard) a match is noise: one shared term of sixteen.
pub const MIN_OVERLAP: f64 = 0.1;
/// Steps whose rarest keyword is in at most this many items are ranked by BM25.
const RANK_BUDGET: u64 = 3000;
/// Weight of label agreement (Jaccard of label sets) added to keyword overlap.
const LABEL_BOOST: f64 = 0.25;

#[derive(Debug, thiserror::Error)]
pub enum SimilarError {
    #[error("no item {0:?} in the store{1} (see `sift status`)")]
    NotFound(String, String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub type Result<T> = std::result::Result<T, SimilarError>;

/// Where an item's labels come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum LabelSource {
    /// Adjudicated, else unanimous human answer.
    Gold,
    /// The newest suggestion (no gold yet).
    Suggested,
    #[default]
    None,
}

/// One similar item, with why it matched.
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct SimilarItem {
    pub key: String,
    /// Untrusted: display through `crate::text::one_line`.
    pub title: String,
    /// Overlap plus the label boost; what results are ordered by.
    pub score: f64,
    /// Jaccard overlap of the keyword sets, 0..=1.
    pub overlap: f64,
    /// Keywords both items have.
    pub shared_keywords: Vec<String>,
    /// Labels both items have (gold where known, else the latest suggestion).
    pub shared_labels: Vec<String>,
    /// This item's own labels, and where they come from ("what did we decide last time?").
    pub labels: Vec<String>,
    pub label_source: LabelSource,
}

/// An FTS5 query matching any of the terms, or None when no term has searchable text.
pub fn fts_query(terms: &[String]) -> Option<String> {
    let parts: Vec<String> = terms
        .iter()
        .filter(|t| t.chars().any(char::is_alphanumeric))
        .map(|t| fts_quote(t))
        .collect();
    (!parts.is_empty()).then(|| parts.join(" OR "))
}

/// Jaccard overlap |a ∩ b| / |a ∪ b| and the shared elements in `a`'s order.
pub fn jaccard(a: &[String], b: &[String]) -> (f64, Vec<String>) {
    let sa: BTreeSet<&str> = a.iter().map(String::as_str).collect();
    let sb: BTreeSet<&str> = b.iter().map(String::as_str).collect();
    let union = sa.union(&sb).count();
    if union == 0 {
        return (0.0, Vec::new());
    }
    let mut seen = BTreeSet::new();
    let shared: Vec<String> =
        a.iter().filter(|x| sb.contains(x.as_str()) && seen.insert(x.as_str())).cloned().collect();
    (shared.len() as f64 / union as f64, shared)
}

/// Gold labels of one item from its records (the shared rule in `metrics::gold`).
pub fn gold(records: &[AnswerRow]) -> Option<Vec<String>> {
    crate::metrics::gold::item_answers(records)
        .and_then(|i| crate::metrics::gold::gold(&i))
        .map(|g| g.labels)
}

/// An item's labels: gold where known, else its newest suggestion's.
pub fn item_labels(store: &Store, key: &str) -> Result<(Vec<String>, LabelSource)> {
    if let Some(g) = gold(&store.item_annotations(key)?) {
        return Ok((g, LabelSource::Gold));
    }
    match store.latest_suggestion(key)? {
        Some(s) => {
            let labels = s.suggestion.labels.into_iter().map(|l| l.name).collect();
            Ok((labels, LabelSource::Suggested))
        }
        None => Ok((Vec::new(), LabelSource::None)),
    }
}

/// Keywords of an item: stored ones when its index row is current, else extracted now
/// (without taxonomy labels) against the store's document frequencies; either way led by the
/// model's keywords when its latest suggestion has them.
fn item_keywords(store: &Store, key: &str) -> Result<Vec<String>> {
    let own = text_item_keywords(store, key)?;
    prefer_model_keywords(store, key, own)
}

/// Keywords of an item's own text (stored, or extracted now), without the model's.
fn text_item_keywords(store: &Store, key: &str) -> Result<Vec<String>> {
    if let Some((_, kw)) = store.indexed_keywords(key)? {
        return Ok(kw);
    }
    let Some(item) = store.item(key)? else {
        // `sift similar 1` means an item of some dataset: name the keys it could be.
        let like = if key.contains(':') { Vec::new() } else { store.keys_with_id(key)? };
        let hint = match like.as_slice() {
            [] => String::new(),
            keys => format!("; did you mean {}?", keys.join(" or ")),
        };
        return Err(SimilarError::NotFound(key.to_string(), crate::text::one_line(&hint)));
    };
    text_keywords(store, &item.title, &rest_text(&item))
}

/// The words of the model's keywords for the item (its latest suggestion's) come first, then
/// the extracted ones, as many as before: the model read the whole item.
fn prefer_model_keywords(store: &Store, key: &str, extracted: Vec<String>) -> Result<Vec<String>> {
    let Some(row) = store.latest_suggestion(key)? else { return Ok(extracted) };
    if row.suggestion.keywords.is_empty() {
        return Ok(extracted);
    }
    let want = extracted.len().max(8);
    let mut out: Vec<String> = Vec::new();
    let words = row
        .suggestion
        .keywords
        .iter()
        .flat_map(|k| {
            k.split(|c: char| !c.is_alphanumeric()).map(str::to_lowercase).collect::<Vec<_>>()
        })
        .filter(|w| w.chars().count() > 2);
    for w in words.chain(extracted) {
        if !out.contains(&w) && out.len() < want {
            out.push(w);
        }
    }
    Ok(out)
}

fn text_keywords(store: &Store, title: &str, rest: &str) -> Result<Vec<String>> {
    let c = keywords::candidates(title, rest, None);
    let terms: Vec<&str> = c.terms.iter().map(|(t, _)| t.as_str()).collect();
    let df: HashMap<&str, u64> = terms.iter().copied().zip(store.doc_freqs(&terms)?).collect();
    let docs = store.indexed_docs()?;
    let mut lookup = |t: &str| df.get(t).copied().unwrap_or(0);
    Ok(keywords::select(&c.labels, &c.borrowed(), docs, &mut lookup))
}

fn rest_text(item: &Item) -> String {
    let full = item.full_text();
    full.strip_prefix(item.title.as_str()).unwrap_or(&full).to_string()
}

/// Candidates sharing keywords with `kw`, strongest first; gathering stops once there are
/// `pool`. Keywords are taken rarest first and relaxed in steps: items having all of them, then
/// the rarer half, then any. Each step reads at most `pool` rows, so a query costs about the
/// same on 1,000 items or 100,000 even when common keywords match a third of the store (ranking
/// an OR of eight such keywords by BM25 took 40-110 ms over 100,000 items). A step is ordered by
/// BM25 when the number of its matches is bounded by `RANK_BUDGET`, else taken in store order.
fn candidates(
    store: &Store,
    kw: &[String],
    exclude: Option<&str>,
    pool: usize,
) -> Result<Vec<KeywordHit>> {
    let terms: Vec<&str> =
        kw.iter().map(String::as_str).filter(|t| t.chars().any(char::is_alphanumeric)).collect();
    let df = store.keyword_doc_freqs(&terms)?;
    let mut order: Vec<(u64, &str)> = df.into_iter().zip(terms).filter(|(d, _)| *d > 0).collect();
    order.sort();
    let Some((rarest, _)) = order.first().copied() else { return Ok(Vec::new()) };
    let any: u64 = order.iter().map(|(d, _)| d).sum();
    let quoted: Vec<String> = order.iter().map(|(_, t)| fts_quote(t)).collect();
    // All keywords, then the rarer half, then any: three steps bound the cost of a query whose
    // strict steps match nothing (each step scans its keywords' posting lists once).
    // With one keyword there is no AND step at all: the OR step is the whole query.
    let mut sizes = vec![quoted.len(), quoted.len().div_ceil(2).max(2).min(quoted.len())];
    sizes.dedup();
    // A step is ranked when its matches are bounded by the budget: an AND step by its rarest
    // keyword, the OR step by the sum.
    let mut steps: Vec<(String, bool)> = sizes
        .into_iter()
        .filter(|m| *m >= 2)
        .map(|m| (quoted[..m].join(" AND "), rarest <= RANK_BUDGET))
        .collect();
    steps.push((quoted.join(" OR "), any <= RANK_BUDGET));
    let mut out: Vec<KeywordHit> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (q, ranked) in steps {
        for h in store.keyword_search(&q, exclude, pool, ranked)? {
            if seen.insert(h.id) {
                out.push(h);
            }
        }
        if out.len() >= pool {
            break;
        }
    }
    Ok(out)
}

/// Re-rank keyword-index candidates: Jaccard overlap, plus a boost for shared labels when the
/// target has labels. Drops candidates below `MIN_OVERLAP`. Labels of candidates are read only
/// when they can change the order.
fn rank(
    store: &Store,
    target_kw: &[String],
    target_labels: &[String],
    hits: Vec<KeywordHit>,
) -> Result<Vec<(SimilarItem, f64)>> {
    let mut out = Vec::new();
    for h in hits {
        let (overlap, shared_keywords) = jaccard(target_kw, &h.keywords);
        if overlap < MIN_OVERLAP {
            continue;
        }
        let (labels, label_source) = if target_labels.is_empty() {
            (Vec::new(), LabelSource::None)
        } else {
            item_labels(store, &h.key)?
        };
        let (label_overlap, shared_labels) = jaccard(target_labels, &labels);
        let item = SimilarItem {
            key: h.key,
            title: h.title,
            score: overlap + LABEL_BOOST * label_overlap,
            overlap,
            shared_keywords,
            shared_labels,
            labels,
            label_source,
        };
        out.push((item, h.rank));
    }
    out.sort_by(|(a, ra), (b, rb)| {
        b.score.total_cmp(&a.score).then(ra.total_cmp(rb)).then_with(|| a.key.cmp(&b.key))
    });
    Ok(out)
}

/// The `limit` items most similar to `key`, best first; empty when nothing overlaps enough.
/// For the TUI's suggestion pane: each result carries its own labels (gold where known).
pub fn similar(store: &Store, key: &str, limit: usize) -> Result<Vec<SimilarItem>> {
    let target_kw = item_keywords(store, key)?;
    let (target_labels, _) = item_labels(store, key)?;
    let hits = candidates(store, &target_kw, Some(key), limit.saturating_mul(4).max(POOL))?;
    let mut ranked: Vec<SimilarItem> =
        rank(store, &target_kw, &target_labels, hits)?.into_iter().map(|(s, _)| s).collect();
    ranked.truncate(limit);
    for s in ranked.iter_mut().filter(|s| s.label_source == LabelSource::None) {
        (s.labels, s.label_source) = item_labels(store, &s.key)?;
    }
    Ok(ranked)
}

/// The top `n` gold-labeled items most similar to an item (by key) or to free text, with their
/// gold labels: few-shot examples for the suggestion prompt. The item itself is never returned.
pub fn similar_gold_examples(
    store: &Store,
    key_or_text: &str,
    n: usize,
) -> Result<Vec<(Item, Vec<String>)>> {
    // The item's own text only: with the model's keywords the examples (and so the prompt
    // and its cache key) would change after every answer.
    let (target_kw, exclude) = match store.item(key_or_text)? {
        Some(_) => (text_item_keywords(store, key_or_text)?, Some(key_or_text)),
        None => (text_keywords(store, "", key_or_text)?, None),
    };
    let hits = candidates(store, &target_kw, exclude, GOLD_POOL)?;
    let mut out = Vec::new();
    for (s, _) in rank(store, &target_kw, &[], hits)? {
        if out.len() >= n {
            break;
        }
        let Some(labels) = gold(&store.item_annotations(&s.key)?) else { continue };
        if let Some(item) = store.item(&s.key)? {
            out.push((item, labels));
        }
    }
    Ok(out)
}

/// Label phrases for every dataset in the store, from the workspace's taxonomies.
pub fn label_matcher(ctx: &Context) -> anyhow::Result<LabelMatcher> {
    let mut m = LabelMatcher::new();
    let mut compiled: HashMap<String, LabelPhrases> = HashMap::new();
    for d in ctx.store.dataset_counts()? {
        let name = ctx.ws.settings.taxonomy_for(&d.dataset).to_string();
        let Ok(tax) = ctx.labels.get(&name) else { continue };
        let phrases = compiled.entry(name).or_insert_with(|| LabelPhrases::new(tax)).clone();
        m.insert(&d.dataset, phrases);
    }
    Ok(m)
}

/// Bring the similarity index in step with the store (call after import and pull).
pub fn refresh_index(ctx: &mut Context) -> anyhow::Result<IndexReport> {
    let m = label_matcher(ctx)?;
    Ok(ctx.store.refresh_index(&m)?)
}

#[derive(Serialize)]
struct JsonResult<'a> {
    item: &'a str,
    title: &'a str,
    score: f64,
    overlap: f64,
    keywords: &'a [String],
    labels: &'a [String],
}

#[derive(Serialize)]
struct JsonOut<'a> {
    item: &'a str,
    similar: Vec<JsonResult<'a>>,
}

fn round(x: f64, places: i32) -> f64 {
    let f = 10f64.powi(places);
    (x * f).round() / f
}

/// Options of `sift similar`.
#[derive(Debug, clap::Args)]
pub struct SimilarArgs {
    /// Item key, e.g. github:OWNER/REPO#12 or DATASET:ID.
    pub item: String,
    #[arg(long, default_value_t = 5)]
    pub limit: usize,
    #[arg(long)]
    pub json: bool,
}

/// `sift similar ITEM [--limit N] [--json]`.
pub fn cmd_similar(ctx: &mut Context, args: &SimilarArgs) -> anyhow::Result<ExitCode> {
    let (key, limit, json) = (args.item.as_str(), args.limit, args.json);
    let report = refresh_index(ctx)?;
    if report.indexed > 0 {
        eprintln!("indexed {} items for similarity", report.indexed);
    }
    let found = similar(&ctx.store, key, limit)?;
    let mut out = crate::stdout();
    if json {
        let doc = JsonOut {
            item: key,
            similar: found
                .iter()
                .map(|s| JsonResult {
                    item: &s.key,
                    title: &s.title,
                    score: round(s.score, 4),
                    overlap: round(s.overlap * 100.0, 1),
                    keywords: &s.shared_keywords,
                    labels: &s.shared_labels,
                })
                .collect(),
        };
        writeln!(out, "{}", serde_json::to_string(&doc)?)?;
        return Ok(ExitCode::SUCCESS);
    }
    if found.is_empty() {
        writeln!(out, "no similar items")?;
        return Ok(ExitCode::SUCCESS);
    }
    for (i, s) in found.iter().enumerate() {
        writeln!(
            out,
            "{:>2}. {}  score {:.2}  overlap {:.0}%  {}",
            i + 1,
            crate::text::one_line(&s.key),
            s.score,
            s.overlap * 100.0,
            crate::text::one_line(&s.title)
        )?;
        writeln!(out, "    keywords: {}", s.shared_keywords.join(", "))?;
        if !s.shared_labels.is_empty() {
            writeln!(
                out,
                "    shared labels: {}",
                crate::text::one_line(&s.shared_labels.join(", "))
            )?;
        }
        let source = match s.label_source {
            LabelSource::Gold => "gold",
            LabelSource::Suggested => "suggested",
            LabelSource::None => "",
        };
        if !s.labels.is_empty() {
            writeln!(
                out,
                "    labels ({source}): {}",
                crate::text::one_line(&s.labels.join(", "))
            )?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Annotation, Mode};

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    fn row(id: i64, who: &str, labels: &[&str], mode: Mode) -> AnswerRow {
        AnswerRow {
            id,
            dataset: "d".into(),
            annotation: Annotation {
                item: "d:1".into(),
                annotator: who.into(),
                labels: s(labels),
                at: String::new(),
                mode,
                note: String::new(),
                duration_ms: None,
                suggestion: None,
                week: None,
                retracted: false,
            },
        }
    }

    #[test]
    fn quoting_makes_any_text_a_plain_string() {
        assert_eq!(fts_quote("a\"b"), "\"a\"\"b\"");
        let q = fts_query(&s(&["x", "-", "NEAR(a b)", "title:y"])).unwrap();
        assert_eq!(q, "\"x\" OR \"NEAR(a b)\" OR \"title:y\"");
        assert_eq!(fts_query(&s(&["*", "^"])), None);
    }

    #[test]
    fn jaccard_counts_shared_over_union() {
        let (j, shared) = jaccard(&s(&["a", "b", "c"]), &s(&["c", "b", "d"]));
        assert!((j - 0.5).abs() < 1e-9);
        assert_eq!(shared, ["b", "c"]);
        assert_eq!(jaccard(&[], &[]).0, 0.0);
    }

    #[test]
    fn gold_is_adjudicated_else_unanimous() {
        let agree = [row(1, "a", &["bug"], Mode::Assisted), row(2, "b", &["bug"], Mode::Blind)];
        assert_eq!(gold(&agree), Some(s(&["bug"])));
        let split = [row(1, "a", &["bug"], Mode::Assisted), row(2, "b", &["ux"], Mode::Blind)];
        assert_eq!(gold(&split), None);
        let mut settled = split.to_vec();
        settled.push(row(3, "c", &["ux"], Mode::Adjudication));
        assert_eq!(gold(&settled), Some(s(&["ux"])));
        // The latest record per annotator counts: a changed mind makes it unanimous.
        let mut changed = split.to_vec();
        changed.push(row(4, "a", &["ux"], Mode::Assisted));
        assert_eq!(gold(&changed), Some(s(&["ux"])));
        assert_eq!(gold(&[]), None);
    }
}
