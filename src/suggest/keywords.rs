//! The keyword suggester: label names, aliases and example words from labels.yml matched
//! against item text. The last resort of the fallback chain; needs no network and no training.

use std::collections::HashSet;

use crate::model::{Item, LabelScore};
use crate::taxonomy::{Select, Taxonomy};

/// A compiled matcher for one taxonomy.
pub struct KeywordSuggester {
    labels: Vec<LabelPatterns>,
    single_select: Vec<Vec<usize>>,
}

struct LabelPatterns {
    name: String,
    /// Normalised phrases (name and aliases), matched on word boundaries.
    phrases: Vec<String>,
    /// Distinctive words from the examples, weaker evidence.
    example_words: HashSet<String>,
}

/// The answer of the keyword suggester.
#[derive(Debug, Clone, PartialEq)]
pub struct KeywordAnswer {
    pub labels: Vec<LabelScore>,
    pub rationale: String,
}

const STOP: &[&str] = &[
    "the", "a", "an", "and", "or", "of", "to", "in", "on", "for", "with", "when", "is", "are",
    "it", "its", "be", "by", "as", "at", "from", "this", "that", "not", "no", "do", "does", "i",
    "we", "you", "my", "our", "add", "new", "since", "after", "into", "has", "have", "can",
];

impl KeywordSuggester {
    pub fn new(tax: &Taxonomy) -> Self {
        let mut labels = Vec::new();
        let mut single_select = Vec::new();
        for dim in &tax.dimensions {
            let mut idx = Vec::new();
            for l in dim.labels.iter().filter(|l| !l.deprecated) {
                idx.push(labels.len());
                let mut phrases: Vec<String> = std::iter::once(&l.name)
                    .chain(&l.aliases)
                    .map(|p| normalise(p))
                    // One- and two-letter aliases ("c", "ts") match too much ordinary text.
                    .filter(|p| p.trim().len() > 2)
                    .collect();
                phrases.sort();
                phrases.dedup();
                let example_words = l
                    .examples
                    .iter()
                    .flat_map(|e| words(e))
                    .filter(|w| w.len() > 3 && !STOP.contains(&w.as_str()))
                    .collect();
                labels.push(LabelPatterns { name: l.name.clone(), phrases, example_words });
            }
            if dim.select == Select::One {
                single_select.push(idx);
            }
        }
        KeywordSuggester { labels, single_select }
    }

    /// Score every label against the item; labels with no evidence are left out.
    pub fn suggest(&self, item: &Item) -> KeywordAnswer {
        let title = normalise(&item.title);
        let rest = normalise(&item.full_text());
        let rest_words: HashSet<String> = words(&item.full_text()).collect();
        let mut scored: Vec<(usize, f64, Vec<String>)> = Vec::new();
        for (i, l) in self.labels.iter().enumerate() {
            let mut score = 0.0;
            let mut hits = Vec::new();
            for p in &l.phrases {
                if title.contains(p.as_str()) {
                    score += 2.0;
                    hits.push(p.trim().to_string());
                } else if rest.contains(p.as_str()) {
                    score += 1.0;
                    hits.push(p.trim().to_string());
                }
            }
            let overlap = l.example_words.iter().filter(|w| rest_words.contains(*w)).count();
            score += 0.25 * overlap.min(4) as f64;
            if score > 0.0 {
                scored.push((i, score, hits));
            }
        }
        self.keep_one_per_single_select(&mut scored);
        scored.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        let rationale = rationale(&scored, &self.labels);
        let labels = scored
            .iter()
            .map(|(i, s, _)| LabelScore {
                name: self.labels[*i].name.clone(),
                // Saturating map from evidence to a modest confidence: keyword hits are never
                // certain, so the ceiling stays below what a careful model would claim.
                confidence: Some(round2(0.9 * (1.0 - (-s / 2.0).exp()))),
            })
            .collect();
        KeywordAnswer { labels, rationale }
    }

    fn keep_one_per_single_select(&self, scored: &mut Vec<(usize, f64, Vec<String>)>) {
        for group in &self.single_select {
            let best = scored
                .iter()
                .filter(|(i, _, _)| group.contains(i))
                .max_by(|a, b| a.1.total_cmp(&b.1).then(b.0.cmp(&a.0)))
                .map(|(i, _, _)| *i);
            scored.retain(|(i, _, _)| !group.contains(i) || Some(*i) == best);
        }
    }
}

fn rationale(scored: &[(usize, f64, Vec<String>)], labels: &[LabelPatterns]) -> String {
    let parts: Vec<String> = scored
        .iter()
        .filter(|(_, _, h)| !h.is_empty())
        .map(|(i, _, h)| format!("{}: {}", labels[*i].name, h.join(", ")))
        .collect();
    if parts.is_empty() {
        "keyword match on example words only".into()
    } else {
        format!("keyword match ({})", parts.join("; "))
    }
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// Lower-case, non-word characters to spaces, padded so " phrase " matches whole words.
fn normalise(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push(' ');
    let mut last_space = true;
    for c in s.chars() {
        if c.is_alphanumeric() || c == '+' || c == '#' {
            out.extend(c.to_lowercase());
            last_space = false;
        } else if !last_space {
            out.push(' ');
            last_space = true;
        }
    }
    if !last_space {
        out.push(' ');
    }
    out
}

fn words(s: &str) -> impl Iterator<Item = String> + '_ {
    s.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).map(str::to_lowercase)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::taxonomy::{DEFAULT_LABELS_YML, LabelsFile};
    use std::path::Path;

    fn tax(name: &str) -> Taxonomy {
        LabelsFile::parse(DEFAULT_LABELS_YML, Path::new("labels.yml"))
            .unwrap()
            .get(name)
            .unwrap()
            .clone()
    }

    #[test]
    fn matches_aliases_on_word_boundaries() {
        let k = KeywordSuggester::new(&tax("issues"));
        let item = Item {
            title: "Crash when opening settings".into(),
            body: "The app is slow and then crashes.".into(),
            ..Default::default()
        };
        let a = k.suggest(&item);
        assert_eq!(a.labels[0].name, "bug");
        assert!(a.labels.iter().any(|l| l.name == "performance"));
        assert!(a.rationale.contains("crash"));
        // "docstring" must not match the "doc" alias.
        let item = Item { title: "docstring formatting".into(), ..Default::default() };
        assert!(!k.suggest(&item).labels.iter().any(|l| l.name == "documentation"));
    }

    #[test]
    fn single_select_dimensions_keep_one_label() {
        let t = tax("sft");
        let k = KeywordSuggester::new(&t);
        let item = Item {
            title: "Please explain and debug and implement this".into(),
            ..Default::default()
        };
        let a = k.suggest(&item);
        let intent = t.dimensions.iter().find(|d| d.name == "intent").unwrap();
        let n = a.labels.iter().filter(|l| intent.labels.iter().any(|x| x.name == l.name)).count();
        assert_eq!(n, 1, "{:?}", a.labels);
    }

    #[test]
    fn nothing_found_gives_no_labels() {
        let k = KeywordSuggester::new(&tax("issues"));
        let a = k.suggest(&Item { title: "zzz".into(), ..Default::default() });
        assert!(a.labels.is_empty());
    }
}
