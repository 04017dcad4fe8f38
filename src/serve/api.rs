//! The `/predict` contract (seed 000, phase 5): what a caller sends, how it is checked against
//! the taxonomy, and how a prediction is cut to the caller's `allowed_labels`, `thresholds`
//! and `top_k`. Pure functions: no IO.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::model::LabelScore;
use crate::suggest::predict::{Prediction, Version};
use crate::suggest::validate;
use crate::taxonomy::Taxonomy;

/// The request body.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PredictRequest {
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub body: Option<String>,
    /// An item of the store, by key, instead of title and body.
    #[serde(default)]
    pub item: Option<String>,
    #[serde(default)]
    pub allowed_labels: Option<Vec<String>>,
    #[serde(default)]
    pub top_k: Option<usize>,
    #[serde(default)]
    pub thresholds: Option<Thresholds>,
}

/// One threshold for every label, or one per label (labels not named keep every answer).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum Thresholds {
    All(f64),
    PerLabel(BTreeMap<String, f64>),
}

/// What is asked, once checked: the text or the item, and the cuts in canonical names.
#[derive(Debug, Clone, PartialEq)]
pub struct Checked {
    pub subject: Subject,
    pub allowed: Option<BTreeSet<String>>,
    pub top_k: Option<usize>,
    pub thresholds: CheckedThresholds,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Subject {
    Text { title: String, body: String },
    Item(String),
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct CheckedThresholds {
    pub all: Option<f64>,
    pub per_label: BTreeMap<String, f64>,
}

/// Longest item key accepted (keys are sift's own, short).
const MAX_KEY_CHARS: usize = 512;

/// Check a request against the taxonomy. The error is the message of a 422 answer.
pub fn check(req: PredictRequest, tax: &Taxonomy) -> Result<Checked, String> {
    let subject = match (req.item, req.title, req.body) {
        (Some(_), Some(_), _) | (Some(_), _, Some(_)) => {
            return Err("send either `item` or `title` and `body`, not both".into());
        }
        (Some(key), None, None) => {
            if key.trim().is_empty() || key.chars().count() > MAX_KEY_CHARS {
                return Err("`item` must be an item key such as github:OWNER/REPO#N".into());
            }
            Subject::Item(key)
        }
        (None, None, None) => return Err("send `title` and `body` (or `item`)".into()),
        (None, title, body) => {
            let (title, body) = (title.unwrap_or_default(), body.unwrap_or_default());
            if title.trim().is_empty() && body.trim().is_empty() {
                return Err("`title` and `body` are both empty".into());
            }
            Subject::Text { title, body }
        }
    };
    let allowed = match req.allowed_labels {
        None => None,
        Some(names) => {
            let set = canonical(tax, &names, "allowed_labels")?;
            if set.is_empty() {
                return Err("`allowed_labels` is empty".into());
            }
            Some(set)
        }
    };
    if req.top_k == Some(0) {
        return Err("`top_k` must be at least 1".into());
    }
    let thresholds = check_thresholds(req.thresholds, tax)?;
    Ok(Checked { subject, allowed, top_k: req.top_k, thresholds })
}

/// Names or aliases to canonical names; every unknown one is named in the error.
fn canonical(tax: &Taxonomy, names: &[String], field: &str) -> Result<BTreeSet<String>, String> {
    let mut unknown = Vec::new();
    let mut set = BTreeSet::new();
    for n in names {
        match tax.resolve(n) {
            Some(c) => {
                set.insert(c.to_string());
            }
            None => unknown.push(crate::text::one_line(n)),
        }
    }
    if unknown.is_empty() {
        return Ok(set);
    }
    let shown: Vec<String> = unknown.iter().take(20).map(|u| format!("{u:?}")).collect();
    Err(format!("unknown labels in `{field}` (not in taxonomy {}): {}", tax.name, shown.join(", ")))
}

fn check_thresholds(t: Option<Thresholds>, tax: &Taxonomy) -> Result<CheckedThresholds, String> {
    let in_range = |v: f64| v.is_finite() && (0.0..=1.0).contains(&v);
    match t {
        None => Ok(CheckedThresholds::default()),
        Some(Thresholds::All(v)) if in_range(v) => {
            Ok(CheckedThresholds { all: Some(v), ..Default::default() })
        }
        Some(Thresholds::All(v)) => Err(format!("`thresholds` must be within 0..1, not {v}")),
        Some(Thresholds::PerLabel(map)) => {
            let names: Vec<String> = map.keys().cloned().collect();
            canonical(tax, &names, "thresholds")?;
            let mut per_label = BTreeMap::new();
            for (name, v) in map {
                if !in_range(v) {
                    return Err(format!("the threshold of {name:?} must be within 0..1, not {v}"));
                }
                if let Some(c) = tax.resolve(&name) {
                    per_label.insert(c.to_string(), v);
                }
            }
            Ok(CheckedThresholds { all: None, per_label })
        }
    }
}

/// The answer body.
#[derive(Debug, Clone, Serialize)]
pub struct PredictResponse {
    pub labels: Vec<LabelOut>,
    pub rationale: String,
    pub version: Version,
    /// The item the answer is for (a served text is keyed by its content).
    pub item: String,
    pub abstained: bool,
    pub fallback: bool,
    pub cached: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LabelOut {
    pub name: String,
    pub confidence: f64,
}

/// The labels a caller gets: those at or above their threshold, at most `top_k`.
pub fn cut(labels: &[LabelScore], c: &Checked) -> Vec<LabelScore> {
    let mut kept: Vec<LabelScore> = labels
        .iter()
        .filter(|l| {
            let min = c.thresholds.per_label.get(&l.name).copied().or(c.thresholds.all);
            min.is_none_or(|m| validate::score(l) >= m)
        })
        .cloned()
        .collect();
    if let Some(k) = c.top_k {
        kept.truncate(k);
    }
    kept
}

/// Shape a prediction for the caller.
pub fn respond(p: &Prediction, c: &Checked, item: String, base: &Version) -> PredictResponse {
    let labels = cut(&p.labels, c)
        .into_iter()
        .map(|l| LabelOut { confidence: validate::score(&l), name: l.name })
        .collect();
    let version = Version {
        provider: p.provider.clone(),
        model: p.model.clone(),
        prompt_hash: p.prompt_hash.clone(),
        ..base.clone()
    };
    PredictResponse {
        labels,
        rationale: p.rationale.clone(),
        version,
        item,
        abstained: p.abstained,
        fallback: p.fallback,
        cached: p.cached,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tax() -> Taxonomy {
        let text = "taxonomies:\n  issues:\n    dimensions:\n      - name: kind\n        select: many\n        labels:\n          - name: bug\n            aliases: [defect]\n          - name: docs\n          - name: feature\n";
        crate::taxonomy::LabelsFile::parse(text, std::path::Path::new("labels.yml"))
            .unwrap()
            .taxonomies
            .remove("issues")
            .unwrap()
    }

    fn req(v: serde_json::Value) -> PredictRequest {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn unknown_labels_are_all_named() {
        let r = req(serde_json::json!({"title": "t", "allowed_labels": ["bug", "nope", "zap"]}));
        let e = check(r, &tax()).unwrap_err();
        assert!(e.contains("\"nope\"") && e.contains("\"zap\""), "{e}");
        let r = req(serde_json::json!({"title": "t", "thresholds": {"bogus": 0.5}}));
        assert!(check(r, &tax()).unwrap_err().contains("\"bogus\""));
    }

    #[test]
    fn aliases_resolve_and_bad_values_are_refused() {
        let r = req(serde_json::json!({"body": "b", "allowed_labels": ["Defect", "docs"]}));
        let c = check(r, &tax()).unwrap();
        assert_eq!(c.allowed.unwrap().into_iter().collect::<Vec<_>>(), ["bug", "docs"]);
        for bad in [
            serde_json::json!({"title": "t", "top_k": 0}),
            serde_json::json!({"title": "t", "thresholds": 1.5}),
            serde_json::json!({"title": "t", "thresholds": {"bug": -0.1}}),
            serde_json::json!({"title": " ", "body": ""}),
            serde_json::json!({"item": "x:1", "title": "t"}),
            serde_json::json!({}),
        ] {
            assert!(check(req(bad.clone()), &tax()).is_err(), "{bad}");
        }
    }

    #[test]
    fn thresholds_then_top_k_cut_the_answer() {
        let labels = vec![
            LabelScore { name: "bug".into(), confidence: Some(0.9) },
            LabelScore { name: "docs".into(), confidence: Some(0.6) },
            LabelScore { name: "feature".into(), confidence: Some(0.3) },
        ];
        let c = |v| check(req(v), &tax()).unwrap();
        let names = |v| cut(&labels, &c(v)).into_iter().map(|l| l.name).collect::<Vec<_>>();
        assert_eq!(names(serde_json::json!({"title": "t"})), ["bug", "docs", "feature"]);
        assert_eq!(names(serde_json::json!({"title": "t", "thresholds": 0.5})), ["bug", "docs"]);
        assert_eq!(
            names(serde_json::json!({"title": "t", "thresholds": {"bug": 0.95}})),
            ["docs", "feature"]
        );
        assert_eq!(names(serde_json::json!({"title": "t", "top_k": 1})), ["bug"]);
    }
}
