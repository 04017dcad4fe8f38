//! The bot's decision for one issue, by stage (seed 000, phase 6): comment only; apply when
//! every recommended label is confident; apply the confident ones. Pure: no IO.

use std::collections::BTreeMap;

use crate::github::plan::labels_to_add;
use crate::model::LabelScore;
use crate::suggest::validate::score;
use crate::taxonomy::Taxonomy;

/// The staged rollout, most cautious first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    Comment,
    ApplyConfident,
    Apply,
}

impl Stage {
    pub fn parse(s: &str) -> Option<Stage> {
        match s {
            "comment" => Some(Stage::Comment),
            "apply-confident" => Some(Stage::ApplyConfident),
            "apply" => Some(Stage::Apply),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Comment => "comment",
            Stage::ApplyConfident => "apply-confident",
            Stage::Apply => "apply",
        }
    }
}

/// What the decision looks at.
pub struct Inputs<'a> {
    pub tax: &'a Taxonomy,
    pub stage: Stage,
    /// The validated suggestion, highest confidence first.
    pub labels: &'a [LabelScore],
    /// Labels on the issue now (a human's are never removed; present ones are not re-added).
    pub present: &'a [String],
    /// Applied when nothing reaches its threshold in an apply stage; empty for none.
    pub abstain_label: &'a str,
    /// Why the bot may only comment this time (the hourly cap), when it may.
    pub capped: Option<String>,
}

/// What the bot does.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    /// The stage acted in (comment when capped).
    pub stage: Stage,
    /// Labels to add.
    pub add: Vec<String>,
    /// applied, recommended or abstained.
    pub decision: &'static str,
    /// The threshold each suggested label was held to.
    pub thresholds: BTreeMap<String, f64>,
    /// Why some labels are not added, and the cap.
    pub notes: Vec<String>,
}

/// Decide for one issue.
pub fn decide(i: &Inputs) -> Decision {
    let thresholds: BTreeMap<String, f64> =
        i.labels.iter().map(|l| (l.name.clone(), i.tax.threshold_for(&l.name))).collect();
    let reaching: Vec<LabelScore> =
        i.labels.iter().filter(|l| score(l) >= thresholds[&l.name]).cloned().collect();
    let mut notes: Vec<String> = i.capped.iter().cloned().collect();
    let stage = if i.capped.is_some() { Stage::Comment } else { i.stage };
    let mut d =
        Decision { stage, add: Vec::new(), decision: "recommended", thresholds, notes: Vec::new() };
    let confident = match stage {
        Stage::Comment => None,
        Stage::ApplyConfident if reaching.is_empty() => Some(Vec::new()),
        Stage::ApplyConfident if reaching.len() < i.labels.len() => {
            notes.push(format!(
                "{} of {} recommended labels reach their thresholds; stage apply-confident \
                 applies only when all do",
                reaching.len(),
                i.labels.len()
            ));
            None
        }
        Stage::ApplyConfident | Stage::Apply => Some(reaching),
    };
    match confident {
        None => {}
        Some(labels) if labels.is_empty() => {
            d.decision = "abstained";
            let present = i.present.iter().any(|p| p.eq_ignore_ascii_case(i.abstain_label));
            if !i.abstain_label.is_empty() && !present {
                d.add.push(i.abstain_label.to_string());
            }
        }
        Some(labels) => {
            d.decision = "applied";
            d.add = labels_to_add(i.tax, &labels, i.present, &mut notes);
        }
    }
    d.notes = notes;
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tax() -> Taxonomy {
        let text = "taxonomies:\n  t:\n    max_labels: 2\n    min_confidence: 0.5\n    dimensions:\n      - name: kind\n        select: many\n        labels:\n          - name: bug\n            threshold: 0.8\n          - name: docs\n          - name: question\n";
        crate::taxonomy::LabelsFile::parse(text, std::path::Path::new("labels.yml"))
            .unwrap()
            .taxonomies
            .remove("t")
            .unwrap()
    }

    fn ls(v: &[(&str, f64)]) -> Vec<LabelScore> {
        v.iter().map(|(n, c)| LabelScore { name: (*n).into(), confidence: Some(*c) }).collect()
    }

    fn run(stage: Stage, labels: &[(&str, f64)], present: &[&str]) -> Decision {
        let t = tax();
        let labels = ls(labels);
        let present: Vec<String> = present.iter().map(|s| s.to_string()).collect();
        decide(&Inputs {
            tax: &t,
            stage,
            labels: &labels,
            present: &present,
            abstain_label: "needs-triage",
            capped: None,
        })
    }

    #[test]
    fn comment_stage_never_adds() {
        let d = run(Stage::Comment, &[("bug", 0.95)], &[]);
        assert_eq!((d.add.len(), d.decision), (0, "recommended"));
        assert_eq!(d.thresholds["bug"], 0.8);
    }

    #[test]
    fn label_thresholds_override_min_confidence() {
        // bug needs 0.8 (its own), docs 0.5 (the taxonomy's).
        let d = run(Stage::Apply, &[("bug", 0.7), ("docs", 0.6)], &[]);
        assert_eq!(d.add, ["docs"]);
        assert_eq!(d.decision, "applied");
    }

    #[test]
    fn apply_confident_needs_every_label() {
        let d = run(Stage::ApplyConfident, &[("bug", 0.7), ("docs", 0.6)], &[]);
        assert_eq!((d.add.len(), d.decision), (0, "recommended"));
        let d = run(Stage::ApplyConfident, &[("bug", 0.9), ("docs", 0.6)], &[]);
        assert_eq!(d.add, ["bug", "docs"]);
    }

    #[test]
    fn nothing_confident_applies_the_abstain_label_once() {
        let d = run(Stage::Apply, &[("bug", 0.6)], &[]);
        assert_eq!(
            (d.add.as_slice(), d.decision),
            (&["needs-triage".to_string()][..], "abstained")
        );
        let d = run(Stage::ApplyConfident, &[], &["Needs-Triage"]);
        assert!(d.add.is_empty());
        assert_eq!(d.decision, "abstained");
    }

    #[test]
    fn present_labels_and_max_labels_are_respected() {
        let d = run(Stage::Apply, &[("bug", 0.9), ("docs", 0.9), ("question", 0.9)], &["bug"]);
        // bug is there already; max_labels 2 leaves room for one more.
        assert_eq!(d.add, ["docs"]);
        assert!(d.notes.iter().any(|n| n.contains("max_labels")), "{:?}", d.notes);
    }

    #[test]
    fn the_cap_turns_any_stage_into_comment() {
        let t = tax();
        let labels = ls(&[("bug", 0.95)]);
        let d = decide(&Inputs {
            tax: &t,
            stage: Stage::Apply,
            labels: &labels,
            present: &[],
            abstain_label: "needs-triage",
            capped: Some("30 sift comments in the last hour".into()),
        });
        assert_eq!((d.stage, d.add.len()), (Stage::Comment, 0));
        assert_eq!(d.notes, ["30 sift comments in the last hour"]);
    }
}
