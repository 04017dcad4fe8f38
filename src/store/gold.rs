//! Queries for gold labels, agreement, evaluation, export and the weekly sample.

use std::collections::HashMap;

use rusqlite::params;

use super::{Result, Store};
use crate::model::{LabelScore, Mode};

/// One annotator's current answer (or an adjudication) for an item, lean for bulk statistics.
#[derive(Debug, Clone, PartialEq)]
pub struct LabelAnswer {
    pub item: String,
    pub dataset: String,
    pub annotator: String,
    pub labels: Vec<String>,
    pub mode: Mode,
    /// Row id: later records have larger ids.
    pub id: i64,
}

/// A suggestion's labels with when it was made (for the weekly sample).
#[derive(Debug, Clone, PartialEq)]
pub struct TimedSuggestion {
    pub item: String,
    pub run: String,
    pub labels: Vec<LabelScore>,
    pub created_at: String,
}

/// A label sift pushed to a GitHub issue.
#[derive(Debug, Clone, PartialEq)]
pub struct TimedPushedLabel {
    pub item: String,
    pub label: String,
    pub added_at: String,
}

impl Store {
    /// The latest record per (item, annotator), kept apart for adjudication records: each
    /// annotator's current answer, and each adjudicator's current ruling. Ordered by item.
    pub fn current_answers(&self, dataset: Option<&str>) -> Result<Vec<LabelAnswer>> {
        let mut st = self
            .conn
            .prepare_cached(
                "SELECT a.id, a.item_key, a.dataset, a.annotator, a.labels, a.mode
                 FROM annotations a
                 JOIN (SELECT max(id) AS mid FROM annotations
                       WHERE ?1 IS NULL OR dataset = ?1
                       GROUP BY item_key, annotator, mode = 'adjudication') m
                   ON a.id = m.mid
                 WHERE a.retracted = 0 AND a.item_key IN (SELECT key FROM items)
                 ORDER BY a.item_key, a.annotator",
            )
            .map_err(|e| self.err(e))?;
        let rows = st
            .query_map(params![dataset], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, String>(4)?,
                    r.get::<_, String>(5)?,
                ))
            })
            .map_err(|e| self.err(e))?;
        let mut out = Vec::new();
        for row in rows {
            let (id, item, dataset, annotator, labels, mode) = row.map_err(|e| self.err(e))?;
            let labels: Vec<String> =
                serde_json::from_str(&labels).map_err(|e| self.corrupt(&item, e))?;
            let mode = Mode::parse(&mode).unwrap_or_default();
            out.push(LabelAnswer { item, dataset, annotator, labels, mode, id });
        }
        Ok(out)
    }

    /// One annotator's current answer per item (adjudication rulings not counted; a retracted
    /// latest record means no answer): what `current_answers` gives for that annotator, read
    /// without everyone else's records.
    pub fn annotator_answers(
        &self,
        dataset: Option<&str>,
        annotator: &str,
    ) -> Result<std::collections::HashMap<String, Vec<String>>> {
        let mut st = self
            .conn
            .prepare_cached(
                "SELECT a.item_key, a.labels
                 FROM annotations a
                 JOIN (SELECT max(id) AS mid FROM annotations INDEXED BY annotations_annotator
                       WHERE annotator = ?2 AND mode != 'adjudication'
                         AND (?1 IS NULL OR dataset = ?1)
                       GROUP BY item_key) m
                   ON a.id = m.mid
                 WHERE a.retracted = 0 AND a.item_key IN (SELECT key FROM items)",
            )
            .map_err(|e| self.err(e))?;
        let mut rows = st.query(params![dataset, annotator]).map_err(|e| self.err(e))?;
        let mut out = std::collections::HashMap::new();
        while let Some(r) = rows.next().map_err(|e| self.err(e))? {
            let item: String = r.get(0).map_err(|e| self.err(e))?;
            let labels: String = r.get(1).map_err(|e| self.err(e))?;
            let mut labels: Vec<String> =
                serde_json::from_str(&labels).map_err(|e| self.corrupt(&item, e))?;
            // As `metrics::gold::group` keeps answers: a set, sorted.
            labels.sort_unstable();
            labels.dedup();
            out.insert(item, labels);
        }
        Ok(out)
    }

    /// Visit every annotation record in id order (oldest first) with borrowed text, without
    /// allocating per row: (dataset, item, annotator, labels as JSON text, mode). The bulk path
    /// for statistics over hundreds of thousands of records. A withdrawn answer's mode is
    /// "retracted"; a withdrawn ruling stays "adjudication" (it withdraws no answer).
    pub fn for_each_annotation(
        &self,
        dataset: Option<&str>,
        mut visit: impl FnMut(&str, &str, &str, &str, &str),
    ) -> Result<()> {
        let mut st = self
            .conn
            .prepare_cached(
                "SELECT dataset, item_key, annotator, labels,
                        CASE WHEN retracted AND mode != 'adjudication' THEN 'retracted'
                             ELSE mode END
                 FROM annotations
                 WHERE (?1 IS NULL OR dataset = ?1) AND item_key IN (SELECT key FROM items)
                 ORDER BY id",
            )
            .map_err(|e| self.err(e))?;
        let mut rows = st.query(params![dataset]).map_err(|e| self.err(e))?;
        while let Some(r) = rows.next().map_err(|e| self.err(e))? {
            let text = |i: usize| -> Result<&str> {
                r.get_ref(i)
                    .and_then(|v| {
                        v.as_str().map_err(|e| {
                            rusqlite::Error::FromSqlConversionFailure(
                                i,
                                rusqlite::types::Type::Text,
                                Box::new(e),
                            )
                        })
                    })
                    .map_err(|e| self.err(e))
            };
            visit(text(0)?, text(1)?, text(2)?, text(3)?, text(4)?);
        }
        Ok(())
    }

    /// Datasets that hold annotation records.
    pub fn annotated_datasets(&self) -> Result<Vec<String>> {
        let mut st = self
            .conn
            .prepare("SELECT DISTINCT dataset FROM annotations ORDER BY dataset")
            .map_err(|e| self.err(e))?;
        let rows = st.query_map([], |r| r.get(0)).map_err(|e| self.err(e))?;
        rows.collect::<std::result::Result<_, _>>().map_err(|e| self.err(e))
    }

    /// The newest suggestion per item from live runs: item key -> (run, labels, rationale).
    pub fn latest_suggestions(&self) -> Result<HashMap<String, TimedSuggestion>> {
        let mut st = self
            .conn
            .prepare(
                "SELECT s.item_key, s.run_id, s.labels, s.created_at
                 FROM suggestions s JOIN runs r ON r.id = s.run_id
                 WHERE r.state != 'archived'
                 ORDER BY s.item_key, s.created_at, r.started_at, r.rowid",
            )
            .map_err(|e| self.err(e))?;
        let rows = st.query_map([], timed_suggestion).map_err(|e| self.err(e))?;
        let mut out = HashMap::new();
        for row in rows {
            let s = row.map_err(|e| self.err(e))?;
            // Ordered oldest first, so the last one written for a key is the newest.
            out.insert(s.item.clone(), s);
        }
        Ok(out)
    }

    /// Suggestions made between `from` and `to` (RFC 3339 text; callers re-check exact bounds
    /// because stored times may differ in precision), oldest first.
    pub fn suggestions_between(&self, from: &str, to: &str) -> Result<Vec<TimedSuggestion>> {
        let mut st = self
            .conn
            .prepare(
                "SELECT s.item_key, s.run_id, s.labels, s.created_at
                 FROM suggestions s JOIN runs r ON r.id = s.run_id
                 WHERE r.state != 'archived' AND s.created_at >= ?1 AND s.created_at < ?2
                 ORDER BY s.created_at, s.item_key",
            )
            .map_err(|e| self.err(e))?;
        let rows = st.query_map(params![from, to], timed_suggestion).map_err(|e| self.err(e))?;
        rows.collect::<std::result::Result<_, _>>().map_err(|e| self.err(e))
    }

    /// Labels sift pushed between `from` and `to` (RFC 3339 text), as item keys.
    pub fn pushed_labels_between(&self, from: &str, to: &str) -> Result<Vec<TimedPushedLabel>> {
        let mut st = self
            .conn
            .prepare(
                "SELECT repo, number, label, added_at FROM pushed_labels
                 WHERE added_at >= ?1 AND added_at < ?2 ORDER BY added_at, repo, number, label",
            )
            .map_err(|e| self.err(e))?;
        let rows = st
            .query_map(params![from, to], |r| {
                let repo: String = r.get(0)?;
                let number: i64 = r.get(1)?;
                Ok(TimedPushedLabel {
                    item: format!("github:{repo}#{number}"),
                    label: r.get(2)?,
                    added_at: r.get(3)?,
                })
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<std::result::Result<_, _>>().map_err(|e| self.err(e))
    }

    /// Dataset of every item: key -> dataset.
    pub fn item_datasets(&self) -> Result<HashMap<String, String>> {
        let mut st =
            self.conn.prepare("SELECT key, dataset FROM items").map_err(|e| self.err(e))?;
        let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).map_err(|e| self.err(e))?;
        rows.collect::<std::result::Result<_, _>>().map_err(|e| self.err(e))
    }

    /// Create bare items for many keys in one transaction (see [`Store::ensure_bare_item`]).
    pub fn ensure_bare_items(&mut self, keys: &[String], dataset: &str, now: &str) -> Result<()> {
        let path = self.path.clone();
        let tx = self.conn.transaction().map_err(|e| super::sql_err(&path, e))?;
        {
            let mut st = tx
                .prepare_cached(
                    "INSERT OR IGNORE INTO items(key, dataset, kind, content_hash, imported_at)
                     VALUES (?1, ?2, 'issue', '', ?3)",
                )
                .map_err(|e| super::sql_err(&path, e))?;
            for key in keys {
                st.execute(params![key, dataset, now]).map_err(|e| super::sql_err(&path, e))?;
            }
        }
        tx.commit().map_err(|e| super::sql_err(&path, e))
    }
}

fn timed_suggestion(r: &rusqlite::Row) -> rusqlite::Result<TimedSuggestion> {
    let labels: String = r.get(2)?;
    Ok(TimedSuggestion {
        item: r.get(0)?,
        run: r.get(1)?,
        labels: serde_json::from_str(&labels).unwrap_or_default(),
        created_at: r.get(3)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Annotation;
    use crate::store::LogOffset;

    fn ann(item: &str, who: &str, labels: &[&str], mode: Mode) -> Annotation {
        Annotation {
            item: item.into(),
            annotator: who.into(),
            labels: labels.iter().map(|s| s.to_string()).collect(),
            at: String::new(),
            mode,
            note: String::new(),
            duration_ms: None,
            suggestion: None,
            week: None,
            retracted: false,
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]
        /// One annotator's answers read alone equal that annotator's answers among everyone's,
        /// and the gold of one streamed pass equals the gold of everyone's answers, whatever
        /// the records: blind and adjudication, retractions, label order and repeats,
        /// items of two datasets, records of items no longer in the store.
        #[test]
        fn one_annotators_answers_equal_theirs_among_everyones(
            records in proptest::collection::vec(
                (0..4usize, 0..3usize, proptest::collection::vec(0..3usize, 0..4),
                 proptest::bool::ANY, proptest::bool::weighted(0.2)),
                0..30,
            )
        ) {
            let mut s = Store::open_in_memory().unwrap();
            let dataset = |i: usize| if i < 2 { "d" } else { "e" };
            // Item 3 is never stored: its records count for nobody.
            let items: Vec<crate::model::Item> = (0..3)
                .map(|i| crate::model::Item {
                    key: format!("x{i}"),
                    dataset: dataset(i).into(),
                    ..Default::default()
                })
                .collect();
            s.upsert_items(&items, "t").unwrap();
            let names = ["bug", "ux", "question"];
            for (n, (item, who, labels, adjudication, retracted)) in records.iter().enumerate() {
                let labels: Vec<&str> = labels.iter().map(|&l| names[l]).collect();
                let mode = if *adjudication { Mode::Adjudication } else { Mode::Blind };
                let mut a = ann(&format!("x{item}"), ["a", "b", "c"][*who], &labels, mode);
                a.retracted = *retracted;
                let to = LogOffset { offset: 1, lines: 1, ..Default::default() };
                s.replay_annotations(&format!("l{n}"), dataset(*item), LogOffset::default(), &[a], to)
                    .unwrap();
            }
            let text = "taxonomies:\n  t:\n    dimensions:\n      - name: kind\n        select: many\n        labels: [bug, ux, question]\n";
            let tax = crate::taxonomy::LabelsFile::parse(text, std::path::Path::new("l.yml"))
                .unwrap()
                .taxonomies
                .remove("t")
                .unwrap();
            for filter in [None, Some("d"), Some("e")] {
                let everyone = crate::metrics::gold::group(&s.current_answers(filter).unwrap());
                // Export's gold, from one pass over the records, is the gold of everyone's
                // current answers.
                let scope: Vec<String> = match filter {
                    Some(d) => vec![d.to_string()],
                    None => vec!["d".to_string(), "e".to_string()],
                };
                let (report, gold) =
                    crate::dataset::stats::report_with_gold(&s, &scope, &tax).unwrap();
                proptest::prop_assert_eq!(gold, crate::metrics::gold::gold_map(&everyone));
                // Agreement from the streamed records equals agreement of everyone's current
                // answers (withdrawn answers and rulings included), by both streamed paths.
                let current = s.current_answers(filter).unwrap();
                let want = crate::dataset::stats::agreement_stats(&current, &tax, None, false);
                proptest::prop_assert_eq!(&report.agreement, &want);
                let from_store = crate::dataset::stats::agreement_stats_from_store(
                    &s, &scope, &tax, None, false, None,
                )
                .unwrap();
                proptest::prop_assert_eq!(&from_store, &want);
                // The review screen's view of one item (from its records) agrees too.
                for key in ["x0", "x1", "x2"].into_iter().filter(|k| filter.is_none_or(|d| dataset(k[1..].parse().unwrap()) == d)) {
                    let one = crate::metrics::gold::item_answers(&s.item_annotations(key).unwrap());
                    let got = one.map(|i| (i.answers, i.adjudication)).unwrap_or_default();
                    let want = everyone
                        .iter()
                        .find(|i| i.item == key)
                        .map(|i| (i.answers.clone(), i.adjudication.clone()))
                        .unwrap_or_default();
                    proptest::prop_assert_eq!(got, want, "{}", key);
                }
                for who in ["a", "b", "c"] {
                    let want: std::collections::HashMap<String, Vec<String>> = everyone
                        .iter()
                        .filter_map(|i| i.answers.get(who).map(|l| (i.item.clone(), l.clone())))
                        .collect();
                    proptest::prop_assert_eq!(s.annotator_answers(filter, who).unwrap(), want);
                }
            }
        }
    }

    #[test]
    fn current_answers_keep_adjudications_apart() {
        let mut s = Store::open_in_memory().unwrap();
        let x = crate::model::Item { key: "x".into(), dataset: "d".into(), ..Default::default() };
        s.upsert_items(&[x], "t").unwrap();
        let recs = vec![
            ann("x", "a", &["bug"], Mode::Blind),
            ann("x", "a", &["ux"], Mode::Adjudication),
            ann("x", "a", &["question"], Mode::Blind),
        ];
        let to = LogOffset { offset: 1, lines: 3, ..Default::default() };
        s.replay_annotations("l", "d", LogOffset::default(), &recs, to).unwrap();
        let got = s.current_answers(Some("d")).unwrap();
        assert_eq!(got.len(), 2);
        assert!(got.iter().any(|r| r.mode == Mode::Adjudication && r.labels == ["ux"]));
        assert!(got.iter().any(|r| r.mode == Mode::Blind && r.labels == ["question"]));
        assert!(s.current_answers(Some("other")).unwrap().is_empty());
    }
}
