//! Per-label thresholds from a run scored on gold (`sift eval --write-thresholds`): the lowest
//! confidence at which a label's suggestions reach the wanted precision (or, where none does,
//! the F1-best one), written into labels.yml as a change to review in git.

use std::collections::{BTreeMap, HashSet};

use serde::Serialize;

use crate::model::Suggestion;
use crate::taxonomy::Taxonomy;

/// The threshold picked for one label, and what it scores on gold.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Picked {
    pub threshold: f64,
    pub precision: f64,
    pub recall: f64,
    /// `precision` when the threshold reaches the wanted precision, else `f1`.
    pub rule: &'static str,
    /// Suggestions of the label on gold items at or above the threshold.
    pub predicted: usize,
}

/// For each label with suggestions on gold items: the threshold to use. `gold` maps item keys
/// to their gold labels (canonical).
pub fn pick(
    tax: &Taxonomy,
    gold: &BTreeMap<String, Vec<String>>,
    suggestions: &[Suggestion],
    min_precision: f64,
) -> BTreeMap<String, Picked> {
    let mut out = BTreeMap::new();
    for name in tax.label_names() {
        let positives = gold.values().filter(|g| g.contains(&name)).count();
        let mut scored: Vec<(f64, bool)> = Vec::new();
        let mut seen = HashSet::new();
        for s in suggestions.iter().filter(|s| gold.contains_key(&s.item)) {
            if !seen.insert(s.item.as_str()) {
                continue;
            }
            if let Some(l) = s.labels.iter().find(|l| l.name == name) {
                let correct = gold.get(&s.item).is_some_and(|g| g.contains(&name));
                scored.push((crate::suggest::validate::score(l), correct));
            }
        }
        if let Some(p) = pick_one(&mut scored, positives, min_precision) {
            out.insert(name, p);
        }
    }
    out
}

/// The lowest threshold reaching `min_precision`, else the F1-best; None without suggestions.
fn pick_one(scored: &mut [(f64, bool)], positives: usize, min_precision: f64) -> Option<Picked> {
    scored.sort_by(|a, b| b.0.total_cmp(&a.0));
    let mut best_f1: Option<(f64, Picked)> = None;
    let mut lowest_precise: Option<Picked> = None;
    let (mut tp, mut n) = (0usize, 0usize);
    for (i, &(conf, correct)) in scored.iter().enumerate() {
        n += 1;
        tp += usize::from(correct);
        // Only where the next confidence is lower: a threshold keeps every tie.
        if scored.get(i + 1).is_some_and(|next| next.0 == conf) {
            continue;
        }
        let precision = tp as f64 / n as f64;
        let recall = if positives == 0 { 0.0 } else { tp as f64 / positives as f64 };
        let f1 = if tp == 0 { 0.0 } else { 2.0 * precision * recall / (precision + recall) };
        let p = |rule| Picked { threshold: round2(conf), precision, recall, rule, predicted: n };
        if precision >= min_precision {
            lowest_precise = Some(p("precision"));
        }
        if best_f1.as_ref().is_none_or(|(b, _)| f1 > *b) {
            best_f1 = Some((f1, p("f1")));
        }
    }
    lowest_precise.or(best_f1.map(|(_, p)| p))
}

/// Two decimals, rounded down: a threshold rounded up would leave out the suggestion it was
/// picked at.
fn round2(x: f64) -> f64 {
    (x * 100.0).floor() / 100.0
}

/// Why labels.yml could not take a threshold.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EditError {
    #[error("taxonomy `{0}` is not a block under `taxonomies:` in labels.yml")]
    NoTaxonomy(String),
    #[error(
        "label `{0}` is not written as `- name: {0}` or `- {0}` on a line of its own; add \
         `threshold: {1}` to it by hand"
    )]
    NoLabelLine(String, f64),
}

/// labels.yml text with `threshold: X` set on each label of `taxonomy`, the rest of the file
/// (comments, order, spacing) as it was.
pub fn write_into(
    text: &str,
    taxonomy: &str,
    thresholds: &BTreeMap<String, f64>,
) -> Result<String, EditError> {
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let (start, end) =
        taxonomy_block(&lines, taxonomy).ok_or_else(|| EditError::NoTaxonomy(taxonomy.into()))?;
    let mut end = end;
    for (name, t) in thresholds {
        let Some(at) = (start..end).find(|&i| names_label(&lines[i], name)) else {
            return Err(EditError::NoLabelLine(name.clone(), *t));
        };
        let dash = indent(&lines[at]);
        let key_indent = dash + 2;
        let value = format!("{}threshold: {t}", " ".repeat(key_indent));
        let bare = lines[at].trim_start().trim_start_matches("- ").trim();
        if !bare.starts_with("name:") {
            // `- bug` becomes a mapping so that it can hold a threshold.
            lines[at] = format!("{}- name: {bare}", " ".repeat(dash));
            lines.insert(at + 1, value);
            end += 1;
            continue;
        }
        let body_end = (at + 1..end)
            .find(|&i| {
                let l = &lines[i];
                !l.trim().is_empty() && !l.trim_start().starts_with('#') && indent(l) <= dash
            })
            .unwrap_or(end);
        match (at + 1..body_end).find(|&i| {
            indent(&lines[i]) == key_indent && lines[i].trim_start().starts_with("threshold:")
        }) {
            Some(i) => lines[i] = value,
            None => {
                lines.insert(at + 1, value);
                end += 1;
            }
        }
    }
    let mut out = lines.join("\n");
    if text.ends_with('\n') {
        out.push('\n');
    }
    Ok(out)
}

fn indent(line: &str) -> usize {
    line.len() - line.trim_start_matches(' ').len()
}

/// Lines `[start, end)` of the taxonomy's block under `taxonomies:`.
fn taxonomy_block(lines: &[String], taxonomy: &str) -> Option<(usize, usize)> {
    let top = lines.iter().position(|l| l.trim_end() == "taxonomies:")?;
    let head = (top + 1..lines.len()).find(|&i| {
        let t = lines[i].trim();
        let key = t.strip_suffix(':').map(|k| k.trim_matches(|c| c == '"' || c == '\''));
        indent(&lines[i]) > 0 && key == Some(taxonomy)
    })?;
    let level = indent(&lines[head]);
    let end = (head + 1..lines.len())
        .find(|&i| {
            let l = &lines[i];
            !l.trim().is_empty() && !l.trim_start().starts_with('#') && indent(l) <= level
        })
        .unwrap_or(lines.len());
    Some((head + 1, end))
}

/// `- name: bug`, `- name: "bug"` or `- bug` (with an optional trailing comment).
fn names_label(line: &str, name: &str) -> bool {
    let Some(rest) = line.trim_start().strip_prefix("- ") else { return false };
    let rest = rest.split(" #").next().unwrap_or(rest).trim();
    let value = rest.strip_prefix("name:").map(str::trim).unwrap_or(rest);
    value.trim_matches(|c| c == '"' || c == '\'') == name
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lowest_threshold_reaching_the_precision_wins() {
        // 0.9 right, 0.8 right, 0.7 wrong, 0.6 right, 0.5 wrong.
        let mut s = vec![(0.9, true), (0.8, true), (0.7, false), (0.6, true), (0.5, false)];
        let p = pick_one(&mut s, 3, 0.75).unwrap();
        assert_eq!((p.threshold, p.rule, p.predicted), (0.6, "precision", 4));
        let p = pick_one(&mut s, 3, 0.99).unwrap();
        assert_eq!((p.threshold, p.rule), (0.8, "precision"));
        let mut wrong = vec![(0.9, false), (0.7, true)];
        let p = pick_one(&mut wrong, 1, 0.99).unwrap();
        assert_eq!((p.threshold, p.rule), (0.7, "f1"));
        assert!(pick_one(&mut [], 2, 0.9).is_none());
    }

    #[test]
    fn ties_stay_together() {
        let mut s = vec![(0.8, true), (0.8, false), (0.8, true)];
        let p = pick_one(&mut s, 2, 0.5).unwrap();
        assert_eq!((p.threshold, p.predicted), (0.8, 3));
    }

    const YML: &str = "# labels\ntaxonomies:\n  issues:\n    min_confidence: 0.6\n    dimensions:\n      - name: type\n        select: many\n        labels:\n          - name: bug  # broken things\n            aliases: [crash]\n            threshold: 0.5\n          - name: docs\n            description: words\n\n          - question\n  other:\n    dimensions:\n      - name: d\n        labels:\n          - name: bug\n";

    #[test]
    fn thresholds_are_written_in_place_and_the_rest_is_kept() {
        let t: BTreeMap<String, f64> =
            [("bug".into(), 0.85), ("docs".into(), 0.7), ("question".into(), 0.65)].into();
        let out = write_into(YML, "issues", &t).unwrap();
        let file = crate::taxonomy::LabelsFile::parse(&out, std::path::Path::new("l.yml")).unwrap();
        let tax = file.get("issues").unwrap();
        assert_eq!(tax.threshold_for("bug"), 0.85);
        assert_eq!(tax.threshold_for("docs"), 0.7);
        assert_eq!(tax.threshold_for("question"), 0.65);
        // The other taxonomy's `bug` is not touched; comments stay.
        assert_eq!(file.get("other").unwrap().label("bug").unwrap().1.threshold, None);
        assert!(out.starts_with("# labels\n") && out.contains("# broken things"));
        assert_eq!(out.matches("threshold:").count(), 3, "{out}");
        let e = write_into("taxonomies:\n  issues:\n    labels: [a, b]\n", "issues", &t);
        assert!(matches!(e, Err(EditError::NoLabelLine(..))));
        assert!(matches!(write_into(YML, "nope", &t), Err(EditError::NoTaxonomy(_))));
    }
}
