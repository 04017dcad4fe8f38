//! Gold labels from annotators' current answers: adjudicated, else unanimous, else none; the
//! disagreement queue and the data the adjudication view shows. Pure: no IO.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::model::Mode;
use crate::store::{LabelAnswer, TimedSuggestion};

/// Everyone's current answer for one item.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ItemAnswers {
    pub item: String,
    pub dataset: String,
    /// Annotator -> their current labels (sorted, deduplicated); adjudications not included.
    pub answers: BTreeMap<String, Vec<String>>,
    /// The latest adjudication of the item, if any: (adjudicator, labels).
    pub adjudication: Option<(String, Vec<String>)>,
}

/// Where an item's gold comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum GoldSource {
    Adjudicated,
    Unanimous,
}

/// An item's gold labels.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Gold {
    pub labels: Vec<String>,
    pub source: GoldSource,
    /// Annotators whose answers make up the gold (the adjudicator for adjudicated items).
    pub annotators: Vec<String>,
}

/// Labels as a set: sorted and deduplicated, so answers compare by content.
pub fn label_set(labels: &[String]) -> Vec<String> {
    let mut set = labels.to_vec();
    set.sort_unstable();
    set.dedup();
    set
}

/// Gold labels of every item with gold (in one dataset, or all), read from the store: the one
/// place the rule "adjudicated, else unanimous, else none" is applied.
pub fn gold_labels_from_store(
    store: &crate::store::Store,
    dataset: Option<&str>,
) -> Result<std::collections::HashMap<String, Vec<String>>, crate::store::StoreError> {
    let items = group(&store.current_answers(dataset)?);
    Ok(gold_map(&items).into_iter().map(|(k, g)| (k, g.labels)).collect())
}

/// Group current answers (as from `Store::current_answers`) by item, in item order.
pub fn group(rows: &[LabelAnswer]) -> Vec<ItemAnswers> {
    let mut by_item: BTreeMap<&str, ItemAnswers> = BTreeMap::new();
    let mut adjudication_id: BTreeMap<&str, i64> = BTreeMap::new();
    for r in rows {
        let entry = by_item.entry(r.item.as_str()).or_insert_with(|| ItemAnswers {
            item: r.item.clone(),
            dataset: r.dataset.clone(),
            answers: BTreeMap::new(),
            adjudication: None,
        });
        if r.mode == Mode::Adjudication {
            let latest = adjudication_id.entry(r.item.as_str()).or_insert(i64::MIN);
            if r.id > *latest {
                *latest = r.id;
                entry.adjudication = Some((r.annotator.clone(), label_set(&r.labels)));
            }
        } else {
            entry.answers.insert(r.annotator.clone(), label_set(&r.labels));
        }
    }
    by_item.into_values().collect()
}

/// One item's answers from all its records, oldest first (as from `Store::item_annotations`):
/// the latest record per annotator counts, a retraction withdraws it; the ruling is the latest
/// among each adjudicator's current rulings (a withdrawn ruling leaves an earlier one of
/// another adjudicator standing), as `Store::current_answers` reads them.
pub fn item_answers(records: &[crate::store::AnswerRow]) -> Option<ItemAnswers> {
    let first = records.first()?;
    let mut item = ItemAnswers {
        item: first.annotation.item.clone(),
        dataset: first.dataset.clone(),
        answers: BTreeMap::new(),
        adjudication: None,
    };
    // Adjudicator -> (their latest record's position, its labels unless withdrawn).
    let mut rulings: BTreeMap<&str, (usize, Option<&[String]>)> = BTreeMap::new();
    for (i, r) in records.iter().enumerate() {
        let a = &r.annotation;
        if a.mode == Mode::Adjudication {
            rulings.insert(&a.annotator, (i, (!a.retracted).then_some(a.labels.as_slice())));
        } else {
            take_record(&mut item, a);
        }
    }
    item.adjudication = rulings
        .into_iter()
        .filter_map(|(who, (i, labels))| Some((i, who, labels?)))
        .max_by_key(|(i, _, _)| *i)
        .map(|(_, who, labels)| (who.to_string(), label_set(labels)));
    Some(item)
}

/// Apply one answer record (taken oldest first; not a ruling) to an item's answers.
fn take_record(item: &mut ItemAnswers, a: &crate::model::Annotation) {
    if a.retracted {
        item.answers.remove(&a.annotator);
    } else {
        item.answers.insert(a.annotator.clone(), label_set(&a.labels));
    }
}

/// Gold per DESIGN.md: the adjudicated answer if any, else the unanimous answer, else none.
/// A single annotator's answer is unanimous.
pub fn gold(item: &ItemAnswers) -> Option<Gold> {
    if let Some((by, labels)) = &item.adjudication {
        return Some(Gold {
            labels: labels.clone(),
            source: GoldSource::Adjudicated,
            annotators: vec![by.clone()],
        });
    }
    let mut answers = item.answers.values();
    let first = answers.next()?;
    answers.all(|a| a == first).then(|| Gold {
        labels: first.clone(),
        source: GoldSource::Unanimous,
        annotators: item.answers.keys().cloned().collect(),
    })
}

/// Whether the item waits for an adjudicator: two or more annotators, answers differ, no ruling.
pub fn is_disagreement(item: &ItemAnswers) -> bool {
    item.adjudication.is_none() && item.answers.len() >= 2 && gold(item).is_none()
}

/// The adjudication queue: disagreeing items, in item order.
pub fn disagreements(items: &[ItemAnswers]) -> Vec<&ItemAnswers> {
    items.iter().filter(|i| is_disagreement(i)).collect()
}

/// Gold of every item that has one: item key -> gold.
pub fn gold_map(items: &[ItemAnswers]) -> BTreeMap<String, Gold> {
    items.iter().filter_map(|i| gold(i).map(|g| (i.item.clone(), g))).collect()
}

/// One column of the adjudication view.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AnswerColumn {
    /// Annotator ID, or the run id for the suggestion column.
    pub who: String,
    pub labels: Vec<String>,
    /// Confidences, for the suggestion column only (same order as `labels`).
    pub confidences: Vec<Option<f64>>,
    pub is_suggestion: bool,
}

/// What the adjudication view shows for one item: each annotator's answer side by side, then
/// the latest suggestion; `options` are the distinct answers, numbered for one-key picking.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AdjudicationView {
    pub item: String,
    pub columns: Vec<AnswerColumn>,
    /// Distinct label sets among the columns (annotators first), for "pick one" keys 1..9.
    pub options: Vec<Vec<String>>,
    /// The current ruling, if the item was adjudicated before.
    pub adjudication: Option<(String, Vec<String>)>,
}

/// Build the adjudication view of one item.
pub fn adjudication_view(
    item: &ItemAnswers,
    suggestion: Option<&TimedSuggestion>,
) -> AdjudicationView {
    let mut columns: Vec<AnswerColumn> = item
        .answers
        .iter()
        .map(|(who, labels)| AnswerColumn {
            who: who.clone(),
            labels: labels.clone(),
            confidences: vec![None; labels.len()],
            is_suggestion: false,
        })
        .collect();
    if let Some(s) = suggestion {
        columns.push(AnswerColumn {
            who: s.run.clone(),
            labels: s.labels.iter().map(|l| l.name.clone()).collect(),
            confidences: s.labels.iter().map(|l| l.confidence).collect(),
            is_suggestion: true,
        });
    }
    let mut options: Vec<Vec<String>> = Vec::new();
    for c in &columns {
        let set = label_set(&c.labels);
        if !options.contains(&set) {
            options.push(set);
        }
    }
    AdjudicationView {
        item: item.item.clone(),
        columns,
        options,
        adjudication: item.adjudication.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: i64, item: &str, who: &str, labels: &[&str], mode: Mode) -> LabelAnswer {
        LabelAnswer {
            item: item.into(),
            dataset: "d".into(),
            annotator: who.into(),
            labels: labels.iter().map(|s| s.to_string()).collect(),
            mode,
            id,
        }
    }

    #[test]
    fn gold_follows_adjudication_then_unanimity() {
        let rows = vec![
            row(1, "a", "x", &["bug", "ux"], Mode::Blind),
            row(2, "a", "y", &["ux", "bug"], Mode::Blind),
            row(3, "b", "x", &["bug"], Mode::Blind),
            row(4, "b", "y", &["question"], Mode::Blind),
            row(5, "c", "x", &["bug"], Mode::Blind),
            row(6, "c", "y", &["ux"], Mode::Blind),
            row(7, "c", "z", &["ux"], Mode::Adjudication),
            row(8, "c", "w", &["bug"], Mode::Adjudication),
            row(9, "d", "x", &[], Mode::Assisted),
        ];
        let items = group(&rows);
        let g = gold_map(&items);
        assert_eq!(g["a"].labels, ["bug", "ux"]);
        assert_eq!(g["a"].source, GoldSource::Unanimous);
        assert!(!g.contains_key("b"));
        // The later ruling wins.
        assert_eq!(g["c"].labels, ["bug"]);
        assert_eq!(g["c"].annotators, ["w"]);
        assert_eq!(g["d"].labels, Vec::<String>::new());
        let queue: Vec<&str> = disagreements(&items).iter().map(|i| i.item.as_str()).collect();
        assert_eq!(queue, ["b"]);
    }

    #[test]
    fn adjudication_view_lists_answers_then_suggestion() {
        let rows = vec![
            row(1, "b", "x", &["bug"], Mode::Blind),
            row(2, "b", "y", &["question"], Mode::Blind),
        ];
        let items = group(&rows);
        let s = TimedSuggestion {
            item: "b".into(),
            run: "r-1".into(),
            labels: vec![crate::model::LabelScore { name: "bug".into(), confidence: Some(0.9) }],
            created_at: String::new(),
        };
        let v = adjudication_view(&items[0], Some(&s));
        assert_eq!(v.columns.len(), 3);
        assert!(v.columns[2].is_suggestion);
        assert_eq!(v.columns[2].confidences, [Some(0.9)]);
        assert_eq!(v.options, vec![vec!["bug".to_string()], vec!["question".to_string()]]);
    }
}
