//! Local keyword extraction: salient terms by tf-idf against the store, plus taxonomy labels
//! whose names or aliases occur in the text. Pure: document frequencies come in as a closure.

use std::collections::HashMap;

use crate::taxonomy::Taxonomy;

/// Keywords kept per item (the seed asks for 5-8).
pub const MAX_KEYWORDS: usize = 8;
/// At most this many keywords are taxonomy labels, so text terms always describe the item too.
const MAX_LABEL_KEYWORDS: usize = 3;
/// Candidate terms kept per item between tokenizing and scoring (bounds memory on big imports).
pub const MAX_CANDIDATES: usize = 40;
/// Title words count this many times: a title is the author's own summary.
const TITLE_WEIGHT: u32 = 3;
/// Terms shorter or longer than this are noise (ids, hashes, base64, single letters).
const MIN_TERM_CHARS: usize = 3;
const MAX_TERM_CHARS: usize = 30;

/// Function words and chat filler with no topical content.
const STOP: &[&str] = &[
    "about", "above", "after", "again", "against", "all", "also", "and", "any", "are", "aren",
    "because", "been", "before", "being", "below", "between", "both", "but", "can", "cannot",
    "could", "did", "didn", "does", "doesn", "doing", "don", "down", "during", "each", "even",
    "few", "for", "from", "further", "get", "gets", "got", "had", "has", "have", "having", "her",
    "here", "hers", "him", "his", "how", "however", "into", "isn", "its", "itself", "just", "let",
    "like", "make", "may", "might", "more", "most", "much", "must", "near", "not", "now", "off",
    "once", "one", "only", "other", "our", "ours", "out", "over", "own", "please", "same", "see",
    "she", "should", "since", "some", "such", "sure", "than", "thank", "thanks", "that", "the",
    "their", "theirs", "them", "then", "there", "these", "they", "this", "those", "through", "too",
    "under", "until", "use", "used", "using", "very", "want", "was", "wasn", "way", "well", "were",
    "what", "when", "where", "which", "while", "who", "whom", "why", "will", "with", "without",
    "won", "would", "yes", "yet", "you", "your", "yours", "yourself",
];

fn is_stop(term: &str) -> bool {
    static SET: std::sync::OnceLock<std::collections::HashSet<&str, FnvBuild>> =
        std::sync::OnceLock::new();
    // Stop words are 3 to 8 bytes: most terms are ruled out by their length alone.
    (3..=8).contains(&term.len())
        && SET.get_or_init(|| STOP.iter().copied().collect()).contains(term)
}

type FnvBuild = std::hash::BuildHasherDefault<Fnv>;

/// Split lower-cased text into terms the way FTS5's unicode61 tokenizer does (runs of letters
/// and digits), so a term's document frequency can be read from the FTS5 vocabulary.
pub fn terms(lower: &str) -> impl Iterator<Item = &str> {
    lower.split(|c: char| !c.is_alphanumeric()).filter(|t| !t.is_empty())
}

fn salient(term: &str) -> bool {
    let n = term.chars().count();
    (MIN_TERM_CHARS..=MAX_TERM_CHARS).contains(&n)
        && !term.chars().all(|c| c.is_ascii_digit())
        && !is_stop(term)
}

/// What one item's text offers for keywords: weighted term counts and matched labels.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Candidates {
    /// The most frequent salient terms with their title-weighted counts, best first.
    pub terms: Vec<(String, u32)>,
    /// Canonical labels whose name or alias occurs in the text, strongest first.
    pub labels: Vec<String>,
}

/// FNV-1a: terms are short, and SipHash's DoS resistance buys nothing for counting the words
/// of one item (it was a third of the indexing time).
#[derive(Default)]
struct Fnv(u64);

impl std::hash::Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        let mut h = if self.0 == 0 { 0xcbf2_9ce4_8422_2325 } else { self.0 };
        for b in bytes {
            h = (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
        }
        self.0 = h;
    }
}

type Counts<'a> = HashMap<&'a str, u32, FnvBuild>;

fn lower(s: &str) -> String {
    if s.is_ascii() { s.to_ascii_lowercase() } else { s.to_lowercase() }
}

impl Candidates {
    /// The terms as borrowed pairs, the shape `select` takes.
    pub fn borrowed(&self) -> Vec<(&str, u32)> {
        self.terms.iter().map(|(t, n)| (t.as_str(), *n)).collect()
    }
}

/// Count the salient terms of an item (title words weigh more) and match taxonomy phrases.
pub fn candidates(title: &str, rest: &str, labels: Option<&LabelPhrases>) -> Candidates {
    let title = lower(title);
    let rest = lower(rest);
    let mut counts: Counts = Counts::default();
    for (text, weight) in [(title.as_str(), TITLE_WEIGHT), (rest.as_str(), 1)] {
        for t in terms(text) {
            *counts.entry(t).or_insert(0) += weight;
        }
    }
    let labels = match labels {
        Some(p) => p.matches(&title, &rest, &counts),
        None => Vec::new(),
    };
    // Stop words and noise are filtered once per distinct term, not per occurrence.
    let mut kept: Vec<(&str, u32)> = counts.into_iter().filter(|(t, _)| salient(t)).collect();
    // Ties broken by the term itself so extraction is deterministic.
    let order = |a: &(&str, u32), b: &(&str, u32)| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0));
    if kept.len() > MAX_CANDIDATES {
        kept.select_nth_unstable_by(MAX_CANDIDATES, order);
        kept.truncate(MAX_CANDIDATES);
    }
    kept.sort_by(order);
    Candidates { terms: kept.into_iter().map(|(t, c)| (t.to_string(), c)).collect(), labels }
}

/// Choose up to `MAX_KEYWORDS` keywords: matched labels first (at most three), then terms by
/// tf-idf. `terms` are candidate terms with their weighted counts; `df` gives a term's
/// document frequency in a store of `docs` documents.
pub fn select(
    labels: &[String],
    terms: &[(&str, u32)],
    docs: u64,
    df: &mut dyn FnMut(&str) -> u64,
) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(MAX_KEYWORDS);
    for l in labels.iter().take(MAX_LABEL_KEYWORDS) {
        let l = l.to_lowercase();
        if !out.contains(&l) {
            out.push(l);
        }
    }
    let n = docs.max(1) as f64;
    let mut scored: Vec<(f64, &str)> = terms
        .iter()
        .map(|&(t, tf)| {
            let d = df(t).max(1) as f64;
            // Smoothed idf stays positive, so a store of one item still gets keywords.
            let mut s = (1.0 + (tf as f64).ln()) * (1.0 + n / d).ln();
            // A term no other item has cannot make two items similar; keep it only if the
            // text has nothing better.
            if d <= 1.0 && n > 1.0 {
                s *= 0.5;
            }
            (s, t)
        })
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.cmp(b.1)));
    for (_, t) in scored {
        if out.len() >= MAX_KEYWORDS {
            break;
        }
        if !out.iter().any(|o| o == t) {
            out.push(t.to_string());
        }
    }
    out
}

/// Name and alias phrases of one taxonomy, normalised to term sequences.
#[derive(Debug, Clone, Default)]
pub struct LabelPhrases {
    /// (canonical label, phrase terms)
    phrases: Vec<(String, Vec<String>)>,
    hash: String,
}

impl LabelPhrases {
    pub fn new(tax: &Taxonomy) -> Self {
        let mut phrases = Vec::new();
        for (_, l) in tax.labels().filter(|(_, l)| !l.deprecated) {
            for p in std::iter::once(&l.name).chain(&l.aliases) {
                let lower = p.to_lowercase();
                let words: Vec<String> = terms(&lower).map(str::to_string).collect();
                // One- and two-letter aliases ("c", "ts") match too much ordinary text.
                if words.is_empty() || words.concat().chars().count() <= 2 {
                    continue;
                }
                phrases.push((l.name.clone(), words));
            }
        }
        LabelPhrases { phrases, hash: tax.hash() }
    }

    /// Fingerprint of the taxonomy: keywords are recomputed when it changes.
    pub fn hash(&self) -> &str {
        &self.hash
    }

    /// Labels whose phrases occur in the (lower-cased) text; title matches first. `counts`
    /// holds every term of the text, so one-word phrases need no scan.
    fn matches(&self, title: &str, rest: &str, counts: &Counts) -> Vec<String> {
        let title_terms: Vec<&str> = terms(title).collect();
        let mut rest_terms: Option<Vec<&str>> = None;
        let mut hits: Vec<(u32, usize, &str)> = Vec::new();
        for (order, (label, words)) in self.phrases.iter().enumerate() {
            // A phrase with a word the text lacks cannot occur: no scan (most phrases, most
            // items; the scans were a third of indexing a large import).
            if !words.iter().all(|w| counts.contains_key(w.as_str())) {
                continue;
            }
            let in_rest = match words.as_slice() {
                [one] => counts.contains_key(one.as_str()),
                _ => contains_seq(rest_terms.get_or_insert_with(|| terms(rest).collect()), words),
            };
            let strength = if contains_seq(&title_terms, words) {
                2
            } else if in_rest {
                1
            } else {
                continue;
            };
            match hits.iter_mut().find(|h| h.2 == label) {
                Some(h) => h.0 = h.0.max(strength),
                None => hits.push((strength, order, label)),
            }
        }
        hits.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        hits.into_iter().map(|(_, _, l)| l.to_string()).collect()
    }
}

fn contains_seq(hay: &[&str], needle: &[String]) -> bool {
    match needle {
        [] => false,
        [one] => hay.iter().any(|t| t == one),
        _ => hay.windows(needle.len()).any(|w| w.iter().zip(needle).all(|(a, b)| a == b)),
    }
}

/// Label phrases per dataset (each dataset has its own taxonomy).
#[derive(Debug, Clone, Default)]
pub struct LabelMatcher {
    by_dataset: HashMap<String, LabelPhrases>,
}

impl LabelMatcher {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn insert(&mut self, dataset: &str, phrases: LabelPhrases) {
        self.by_dataset.insert(dataset.to_string(), phrases);
    }

    pub fn for_dataset(&self, dataset: &str) -> Option<&LabelPhrases> {
        self.by_dataset.get(dataset)
    }

    /// The taxonomies of every dataset, in one string: keywords are current while neither
    /// this nor the items changed.
    pub fn fingerprint(&self) -> String {
        let mut parts: Vec<String> =
            self.by_dataset.iter().map(|(d, p)| format!("{d}={}", p.hash())).collect();
        parts.sort();
        parts.join("\n")
    }

    /// What keywords of a dataset's items depend on besides their text.
    pub fn hash_for(&self, dataset: &str) -> String {
        match self.for_dataset(dataset) {
            Some(p) => p.hash().to_string(),
            None => String::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::taxonomy::LabelsFile;

    #[test]
    fn stop_list_is_sorted_for_binary_search() {
        let mut sorted = STOP.to_vec();
        sorted.sort_unstable();
        assert_eq!(sorted, STOP);
    }

    #[test]
    fn terms_split_like_unicode61() {
        let lower = "title:crash near(a b) \"quoted\" foo_bar x*^ café-2";
        let got: Vec<&str> = terms(lower).collect();
        assert_eq!(
            got,
            ["title", "crash", "near", "a", "b", "quoted", "foo", "bar", "x", "café", "2"]
        );
    }

    #[test]
    fn title_terms_weigh_more_and_stop_words_drop() {
        let c = candidates("Crash on save", "the app crashes when saving; the crash is bad", None);
        assert_eq!(c.terms[0], ("crash".to_string(), 4));
        assert!(c.terms.iter().all(|(t, _)| t != "the" && t != "on"));
    }

    #[test]
    fn idf_prefers_rare_shared_terms() {
        let c = Candidates {
            terms: vec![("common".into(), 5), ("rare".into(), 2), ("unique".into(), 2)],
            labels: vec![],
        };
        let mut df = |t: &str| match t {
            "common" => 1000,
            "rare" => 3,
            _ => 1,
        };
        let k = select(&c.labels, &c.borrowed(), 1000, &mut df);
        assert_eq!(k, ["rare", "unique", "common"]);
    }

    #[test]
    fn labels_from_aliases_come_first_and_cap_at_eight() {
        let yml = "taxonomies:\n  issues:\n    dimensions:\n      - name: type\n        select: many\n        labels:\n          - name: bug\n            aliases: [crash, stack trace]\n          - name: docs\n            aliases: [readme]\n";
        let f = LabelsFile::parse(yml, std::path::Path::new("labels.yml")).unwrap();
        let p = LabelPhrases::new(f.get("issues").unwrap());
        let text = "see the stack trace in the readme; alpha beta gamma delta epsilon zeta eta theta iota kappa";
        let c = candidates("Something odd", text, Some(&p));
        assert_eq!(c.labels, ["bug", "docs"]);
        let k = select(&c.labels, &c.borrowed(), 10, &mut |_| 2);
        assert_eq!(k.len(), MAX_KEYWORDS);
        assert_eq!(&k[..2], ["bug", "docs"]);
        // "stack trace" is a phrase: the words apart do not match.
        let c = candidates("stack of trace", "", Some(&p));
        assert!(c.labels.is_empty());
    }
}
