//! Validation of provider answers against the taxonomy: aliases mapped, unknown labels
//! dropped and counted (so are deprecated ones), confidences outside 0..1 distrusted, one label per
//! single-select dimension, at most max_labels, abstention below min_confidence.

use crate::model::LabelScore;
use crate::taxonomy::{Select, Taxonomy};

/// A provider's labels after validation.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Validated {
    /// Labels kept, highest confidence first.
    pub labels: Vec<LabelScore>,
    /// True when the provider answered but no label reached min_confidence.
    pub abstained: bool,
    /// Names outside the taxonomy or deprecated in it, as given.
    pub dropped: Vec<String>,
    /// Human-readable notes on what validation changed (for the monitor log).
    pub issues: Vec<String>,
}

/// Validate raw labels. Labels below min_confidence are not suggested; if none is left the
/// answer is an abstention (recorded as such, not as "no answer").
pub fn finalize(tax: &Taxonomy, raw: &[LabelScore]) -> Validated {
    let mut out = Validated::default();
    let mut kept: Vec<LabelScore> = Vec::new();
    for l in raw {
        let Some(name) = tax.resolve(&l.name) else {
            out.dropped.push(l.name.clone());
            out.issues.push(format!("dropped unknown label {:?}", l.name));
            continue;
        };
        // The prompt and schema never offer deprecated labels; one that comes back anyway
        // must not take a max_labels slot or win a pick-one dimension.
        if tax.label(name).is_some_and(|(_, def)| def.deprecated) {
            out.dropped.push(l.name.clone());
            out.issues.push(format!("dropped deprecated label {:?}", l.name));
            continue;
        }
        if l.confidence.is_none() {
            out.issues.push(format!("no confidence given for {:?}; kept as a plain claim", l.name));
        }
        let conf = l.confidence.map(|c| clamp(c, &l.name, &mut out.issues));
        if name != l.name {
            out.issues.push(format!("mapped {:?} to {name:?}", l.name));
        }
        match kept.iter_mut().find(|k| k.name == name) {
            Some(k) => k.confidence = max_conf(k.confidence, conf),
            None => kept.push(LabelScore { name: name.to_string(), confidence: conf }),
        }
    }
    sort_by_confidence(&mut kept);
    keep_top_per_single_select(tax, &mut kept, &mut out.issues);
    let before = kept.len();
    kept.retain(|l| score(l) >= tax.min_confidence);
    if kept.len() > tax.max_labels {
        out.issues.push(format!("capped {} labels at max_labels {}", kept.len(), tax.max_labels));
        kept.truncate(tax.max_labels);
    }
    out.abstained = kept.is_empty() && before > 0;
    out.labels = kept;
    out
}

/// The confidence a label is judged by. A label given without one (a name-only answer or
/// an imported heuristic) is a plain claim: it passes min_confidence and sorts first.
pub fn score(l: &LabelScore) -> f64 {
    l.confidence.unwrap_or(1.0)
}

/// A confidence outside 0..1 (a model answering 1.25, 2000 or 3.5) says nothing about how
/// sure the model is: it is a validation issue and counts as 0, never as certainty.
fn clamp(c: f64, name: &str, issues: &mut Vec<String>) -> f64 {
    if c.is_nan() {
        issues.push(format!("confidence of {name:?} is not a number; treated as 0"));
        return 0.0;
    }
    if !(0.0..=1.0).contains(&c) {
        issues.push(format!("confidence {c} of {name:?} is outside 0..1; treated as 0"));
        return 0.0;
    }
    c
}

fn max_conf(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.max(y)),
        (x, None) => x,
        (None, y) => y,
    }
}

fn sort_by_confidence(labels: &mut [LabelScore]) {
    labels.sort_by(|a, b| score(b).total_cmp(&score(a)));
}

fn keep_top_per_single_select(
    tax: &Taxonomy,
    labels: &mut Vec<LabelScore>,
    issues: &mut Vec<String>,
) {
    for dim in tax.dimensions.iter().filter(|d| d.select == Select::One) {
        let mut seen = false;
        labels.retain(|l| {
            if !dim.labels.iter().any(|d| d.name == l.name) {
                return true;
            }
            if seen {
                issues.push(format!(
                    "dropped {:?}: dimension {:?} takes one label",
                    l.name, dim.name
                ));
                return false;
            }
            seen = true;
            true
        });
    }
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

    fn ls(name: &str, c: f64) -> LabelScore {
        LabelScore { name: name.into(), confidence: Some(c) }
    }

    #[test]
    fn maps_aliases_drops_unknown_distrusts_out_of_range_and_caps() {
        let t = tax("issues");
        let v = finalize(
            &t,
            &[
                ls("crash", 1.7),
                ls("wontfix", 0.9),
                ls("docs", 0.8),
                ls("perf", 0.7),
                ls("ux", 0.65),
                ls("question", 0.62),
            ],
        );
        let names: Vec<_> = v.labels.iter().map(|l| l.name.as_str()).collect();
        // 1.7 is no confidence at all: bug counts as 0, not as certain.
        assert_eq!(names, ["documentation", "performance", "ux"]);
        assert_eq!(v.dropped, ["wontfix"]);
        assert!(!v.abstained);
        assert!(v.issues.iter().any(|i| i.contains("1.7 of \"crash\" is outside 0..1")));
        assert!(v.issues.iter().any(|i| i.contains("capped")));
        // Every label out of range: an abstention, not a certain answer.
        let v = finalize(&t, &[ls("bug", 2000.0), ls("ux", 3.5), ls("question", -1.0)]);
        assert!(v.labels.is_empty() && v.abstained, "{v:?}");
        assert_eq!(v.issues.len(), 3);
    }

    #[test]
    fn abstains_below_min_confidence() {
        let t = tax("issues");
        let v = finalize(&t, &[ls("bug", 0.3), ls("question", 0.59)]);
        assert!(v.labels.is_empty());
        assert!(v.abstained);
        let none = finalize(&t, &[]);
        assert!(!none.abstained, "no labels at all is not an abstention");
    }

    #[test]
    fn single_select_keeps_the_top_label() {
        let t = tax("sft");
        let v = finalize(&t, &[ls("beginner", 0.7), ls("expert", 0.9), ls("python", 0.8)]);
        let names: Vec<_> = v.labels.iter().map(|l| l.name.as_str()).collect();
        assert_eq!(names, ["expert", "python"]);
    }

    #[test]
    fn deprecated_labels_are_dropped_before_they_take_a_slot() {
        let text = "taxonomies:\n  t:\n    max_labels: 1\n    dimensions:\n      - name: kind\n        select: one\n        labels:\n          - bug\n          - name: old\n            aliases: [legacy]\n            deprecated: true\n";
        let t = LabelsFile::parse(text, Path::new("labels.yml")).unwrap().get("t").unwrap().clone();
        let v = finalize(&t, &[ls("legacy", 0.95), ls("bug", 0.8)]);
        let names: Vec<_> = v.labels.iter().map(|l| l.name.as_str()).collect();
        assert_eq!(names, ["bug"], "the deprecated label must not win the pick-one dimension");
        assert_eq!(v.dropped, ["legacy"]);
        assert!(v.issues.iter().any(|i| i.contains("deprecated")));
    }

    #[test]
    fn a_label_without_confidence_is_kept_and_noted() {
        let t = tax("issues");
        let v = finalize(&t, &[LabelScore { name: "bug".into(), confidence: None }]);
        assert_eq!(v.labels.len(), 1);
        assert!(!v.abstained);
        assert!(v.issues.iter().any(|i| i.contains("no confidence")));
    }
}
