//! Annotation records replayed from annotations/*.jsonl, latest answers, replay offsets.

use rusqlite::{OptionalExtension, params};

use super::{ROWS_PER_INSERT, Result, Store, sql_err, values_rows};
use crate::model::{Annotation, Mode, SuggestionRef};

/// Insert `records` (at most [`ROWS_PER_INSERT`]) in one statement, in their order: ids
/// follow the log.
fn insert_annotations(
    tx: &rusqlite::Transaction,
    dataset: &str,
    log: &str,
    records: &[Annotation],
) -> rusqlite::Result<()> {
    const ROW: &str = "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";
    let sql = format!(
        "INSERT INTO annotations(item_key, dataset, annotator, labels, at, mode, note,
            duration_ms, suggestion, week, retracted, source)
         VALUES {}",
        values_rows(ROW, records.len())
    );
    // The values that are not fields of the record as they are.
    let worked: Vec<(String, Option<String>, Option<i64>, &str)> = records
        .iter()
        .map(|a| {
            let labels = serde_json::to_string(&a.labels).unwrap_or_else(|_| "[]".into());
            let sugg = a.suggestion.as_ref().and_then(|s| serde_json::to_string(s).ok());
            (labels, sugg, a.duration_ms.map(|d| d as i64), a.mode.as_str())
        })
        .collect();
    let mut values: Vec<&dyn rusqlite::ToSql> = Vec::with_capacity(12 * records.len());
    for (a, (labels, sugg, duration, mode)) in records.iter().zip(&worked) {
        values.extend_from_slice(&[
            &a.item as &dyn rusqlite::ToSql,
            &dataset,
            &a.annotator,
            labels,
            &a.at,
            mode,
            &a.note,
            duration,
            sugg,
            &a.week,
            &a.retracted,
            &log,
        ]);
    }
    tx.prepare_cached(&sql)?.execute(rusqlite::params_from_iter(values))?;
    Ok(())
}

/// How far one log file has been replayed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LogOffset {
    pub offset: u64,
    pub lines: u64,
    /// SHA-256 of the file's first `offset` bytes (None: not known, from an older store).
    pub prefix_sha: Option<[u8; 32]>,
    /// The file's modification time when it was read (nanoseconds since the epoch).
    pub mtime_ns: i64,
}

const OFFSET_COLUMNS: &str = "offset, lines, prefix_sha, mtime_ns";

fn offset_row(r: &rusqlite::Row) -> rusqlite::Result<LogOffset> {
    let sha: Option<Vec<u8>> = r.get(2)?;
    Ok(LogOffset {
        offset: r.get::<_, i64>(0)? as u64,
        lines: r.get::<_, i64>(1)? as u64,
        prefix_sha: sha.and_then(|b| <[u8; 32]>::try_from(b.as_slice()).ok()),
        mtime_ns: r.get(3)?,
    })
}

/// An annotation as stored, with its dataset.
#[derive(Debug, Clone, PartialEq)]
pub struct AnswerRow {
    pub id: i64,
    pub dataset: String,
    pub annotation: Annotation,
}

/// One annotation record, borrowed during a pass over many (`Store::for_each_record_ref`):
/// what statistics read, without the allocations of an [`AnswerRow`] per record.
#[derive(Debug)]
pub struct RecordRef<'a> {
    pub dataset: &'a str,
    pub item: &'a str,
    pub annotator: &'a str,
    pub labels: &'a [String],
    /// Equal for records whose stored label text is equal, numbered from 0 in the order first
    /// seen: an index for memoising what is computed from `labels`.
    pub labels_id: u32,
    pub at: &'a str,
    pub mode: Mode,
    pub note: &'a str,
    pub duration_ms: Option<u64>,
    pub suggestion: Option<SuggestionRef>,
    pub retracted: bool,
    /// Whether the item is still in the store.
    pub present: bool,
}

const COLUMNS: &str = "id, dataset, item_key, annotator, labels, at, mode, note, duration_ms, \
    suggestion, week, retracted";

impl Store {
    /// Record annotations and move the replay offset of their log file, atomically: a crash
    /// leaves either both or neither. The offset is compared and swapped inside one immediate
    /// transaction, so when two sift processes replay the same file only one records it;
    /// the other gets `false` and re-reads from the new offset.
    pub fn replay_annotations(
        &mut self,
        log: &str,
        dataset: &str,
        from: LogOffset,
        records: &[Annotation],
        to: LogOffset,
    ) -> Result<bool> {
        let path = self.path.clone();
        // A small write, as every process opening the workspace makes while a log is fresh:
        // announced, so an import beside it steps aside (see `announce_save`).
        let _turn = self.try_announce_save();
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(|e| sql_err(&path, e))?;
        let sql = format!("SELECT {OFFSET_COLUMNS} FROM log_offsets WHERE path = ?1");
        let current: LogOffset = tx
            .query_row(&sql, [log], offset_row)
            .optional()
            .map_err(|e| sql_err(&path, e))?
            .unwrap_or_default();
        if current != from {
            return Ok(false);
        }
        {
            for group in records.chunks(ROWS_PER_INSERT) {
                insert_annotations(&tx, dataset, log, group).map_err(|e| sql_err(&path, e))?;
            }
            tx.execute(
                "INSERT INTO log_offsets(path, offset, lines, prefix_sha, mtime_ns)
                 VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT(path) DO UPDATE SET offset = excluded.offset, lines = excluded.lines,
                    prefix_sha = excluded.prefix_sha, mtime_ns = excluded.mtime_ns",
                params![
                    log,
                    to.offset as i64,
                    to.lines as i64,
                    to.prefix_sha.map(|h| h.to_vec()),
                    to.mtime_ns
                ],
            )
            .map_err(|e| sql_err(&path, e))?;
        }
        tx.commit().map_err(|e| sql_err(&path, e))?;
        Ok(true)
    }

    /// Where replay of a log file stopped last time.
    pub fn log_offset(&self, log: &str) -> Result<Option<LogOffset>> {
        let sql = format!("SELECT {OFFSET_COLUMNS} FROM log_offsets WHERE path = ?1");
        self.conn.query_row(&sql, [log], offset_row).optional().map_err(|e| self.err(e))
    }

    /// Forget a log file's records (it was rewritten or truncated) so it can be replayed anew.
    pub fn forget_log(&mut self, log: &str) -> Result<()> {
        let path = self.path.clone();
        let tx = self.conn.transaction().map_err(|e| sql_err(&path, e))?;
        tx.execute("DELETE FROM annotations WHERE source = ?1", [log])
            .map_err(|e| sql_err(&path, e))?;
        tx.execute("DELETE FROM log_offsets WHERE path = ?1", [log])
            .map_err(|e| sql_err(&path, e))?;
        tx.commit().map_err(|e| sql_err(&path, e))
    }

    /// The latest record per (item, annotator): each annotator's current answer. A retracted
    /// latest record means the annotator has no answer for that item.
    pub fn latest_answers(&self, dataset: Option<&str>) -> Result<Vec<AnswerRow>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM annotations a
             JOIN (SELECT max(id) AS mid FROM annotations
                   WHERE ?1 IS NULL OR dataset = ?1 GROUP BY item_key, annotator) m
               ON a.id = m.mid
             WHERE a.retracted = 0
             ORDER BY a.item_key, a.annotator"
        );
        self.answer_rows(&sql, params![dataset])
    }

    /// Whether `annotator` has any record in `dataset`.
    pub fn has_records(&self, dataset: &str, annotator: &str) -> Result<bool> {
        self.conn
            .query_row(
                "SELECT EXISTS (SELECT 1 FROM annotations WHERE dataset = ?1 AND annotator = ?2)",
                params![dataset, annotator],
                |r| r.get(0),
            )
            .map_err(|e| self.err(e))
    }

    /// `annotator`'s current answer in `dataset` to each of `keys` that has one (as
    /// [`Store::latest_answers`] has it: the latest record, unless it retracts), looked up
    /// key by key: an import compares its labels a chunk at a time, never holding every
    /// answer of a large dataset.
    pub fn answers_to(
        &self,
        dataset: &str,
        annotator: &str,
        keys: &[&str],
    ) -> Result<std::collections::HashMap<String, Vec<String>>> {
        let mut st = self
            .conn
            .prepare_cached(
                // Named: left to itself, SQLite walks the annotator's records in the
                // dataset for every key.
                "SELECT labels, retracted FROM annotations INDEXED BY annotations_annotator
                 WHERE annotator = ?2 AND item_key = ?1 AND dataset = ?3
                 ORDER BY id DESC LIMIT 1",
            )
            .map_err(|e| self.err(e))?;
        let mut out = std::collections::HashMap::new();
        for key in keys {
            let latest: Option<(String, bool)> = st
                .query_row(params![key, annotator, dataset], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()
                .map_err(|e| self.err(e))?;
            if let Some((labels, false)) = latest {
                let labels: Vec<String> =
                    serde_json::from_str(&labels).map_err(|e| self.corrupt(key, e))?;
                out.insert(key.to_string(), labels);
            }
        }
        Ok(out)
    }

    /// Every record, oldest first (history, throughput, undo).
    pub fn annotation_records(&self, dataset: Option<&str>) -> Result<Vec<AnswerRow>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM annotations WHERE ?1 IS NULL OR dataset = ?1 ORDER BY id"
        );
        self.answer_rows(&sql, params![dataset])
    }

    /// Records of one item, oldest first.
    pub fn item_annotations(&self, key: &str) -> Result<Vec<AnswerRow>> {
        let sql = format!("SELECT {COLUMNS} FROM annotations WHERE item_key = ?1 ORDER BY id");
        self.answer_rows(&sql, params![key])
    }

    /// Number of annotation records per annotator.
    /// Records for items the store does not hold (a teammate's import not run here yet):
    /// kept, and counted in gold, statistics and exports once the item arrives.
    pub fn pending_annotations(&self) -> Result<i64> {
        self.conn
            .query_row("SELECT coalesce(sum(n), 0) FROM counts WHERE what = 'pending'", [], |r| {
                r.get(0)
            })
            .map_err(|e| self.err(e))
    }

    pub fn annotation_counts(&self) -> Result<Vec<(String, i64)>> {
        let mut st = self
            .conn
            .prepare("SELECT k1, n FROM counts WHERE what = 'annotations' AND n > 0 ORDER BY k1")
            .map_err(|e| self.err(e))?;
        let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).map_err(|e| self.err(e))?;
        rows.collect::<std::result::Result<_, _>>().map_err(|e| self.err(e))
    }

    fn answer_rows(&self, sql: &str, p: impl rusqlite::Params) -> Result<Vec<AnswerRow>> {
        let mut out = Vec::new();
        self.visit_answer_rows(sql, p, |row, _| out.push(row))?;
        Ok(out)
    }

    /// The SQL of a record's "is its item in the store" column. With no record pending (the
    /// trigger-kept count), every item is: no lookup per record.
    fn presence_column(&self) -> Result<&'static str> {
        Ok(if self.pending_annotations()? == 0 {
            "1"
        } else {
            "item_key IN (SELECT key FROM items)"
        })
    }

    /// Every record of `dataset` (all when None), oldest first, one at a time, with whether
    /// its item is in the store, as owned records: the reference the borrowed pass
    /// ([`Store::for_each_record_ref`], what sift reads with) is tested against.
    #[cfg(test)]
    pub fn for_each_record(
        &self,
        dataset: Option<&str>,
        visit: impl FnMut(AnswerRow, bool),
    ) -> Result<()> {
        let presence = self.presence_column()?;
        let sql = format!(
            "SELECT {COLUMNS}, {presence} FROM annotations
             WHERE ?1 IS NULL OR dataset = ?1 ORDER BY id"
        );
        self.visit_answer_rows(&sql, params![dataset], visit)
    }

    /// [`Store::for_each_record`] with borrowed records: each distinct label text is parsed
    /// once, and nothing is allocated per record but a suggestion, where one was shown.
    pub fn for_each_record_ref(
        &self,
        dataset: Option<&str>,
        mut visit: impl FnMut(&RecordRef),
    ) -> Result<()> {
        let presence = self.presence_column()?;
        let sql = format!(
            "SELECT dataset, item_key, annotator, labels, at, mode, duration_ms, suggestion,
                    retracted, {presence}, note
             FROM annotations WHERE ?1 IS NULL OR dataset = ?1 ORDER BY id"
        );
        let mut st = self.conn.prepare_cached(&sql).map_err(|e| self.err(e))?;
        let mut rows = st.query(params![dataset]).map_err(|e| self.err(e))?;
        let mut ids: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
        let mut sets: Vec<Vec<String>> = Vec::new();
        while let Some(r) = rows.next().map_err(|e| self.err(e))? {
            let text = |i: usize| -> Result<&str> {
                let v = r.get_ref(i).map_err(|e| self.err(e))?;
                let v = v.as_str_or_null().map_err(|e| self.err(e.into()))?;
                Ok(v.unwrap_or(""))
            };
            let item = text(1)?;
            let labels = text(3)?;
            let set = match ids.get(labels) {
                Some(&i) => i,
                None => {
                    let parsed: Vec<String> =
                        serde_json::from_str(labels).map_err(|e| self.corrupt(item, e))?;
                    sets.push(parsed);
                    ids.insert(labels.to_owned(), sets.len() - 1);
                    sets.len() - 1
                }
            };
            let suggestion = match text(7)? {
                "" => None,
                s => Some(serde_json::from_str(s).map_err(|e| self.corrupt(item, e))?),
            };
            let get_i64 = |i: usize| r.get::<_, Option<i64>>(i).map_err(|e| self.err(e));
            let rec = RecordRef {
                dataset: text(0)?,
                item,
                annotator: text(2)?,
                labels: &sets[set],
                // Fewer distinct label texts than records, and records fit an i64 rowid.
                labels_id: u32::try_from(set).unwrap_or(u32::MAX),
                at: text(4)?,
                mode: Mode::parse(text(5)?).unwrap_or_default(),
                note: text(10)?,
                duration_ms: get_i64(6)?.map(|d| d.max(0) as u64),
                suggestion,
                retracted: get_i64(8)?.unwrap_or(0) != 0,
                present: get_i64(9)?.unwrap_or(1) != 0,
            };
            visit(&rec);
        }
        Ok(())
    }

    /// Rows of `sql` (the COLUMNS, then optionally whether the item is present) as records.
    fn visit_answer_rows(
        &self,
        sql: &str,
        p: impl rusqlite::Params,
        mut visit: impl FnMut(AnswerRow, bool),
    ) -> Result<()> {
        let mut st = self.conn.prepare_cached(sql).map_err(|e| self.err(e))?;
        let with_presence = st.column_count() > 12;
        let rows = st
            .query_map(p, |r| {
                Ok((
                    (
                        r.get::<_, i64>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, String>(3)?,
                        r.get::<_, String>(4)?,
                        r.get::<_, String>(5)?,
                    ),
                    (
                        r.get::<_, String>(6)?,
                        r.get::<_, String>(7)?,
                        r.get::<_, Option<i64>>(8)?,
                        r.get::<_, Option<String>>(9)?,
                        r.get::<_, Option<String>>(10)?,
                        r.get::<_, bool>(11)?,
                    ),
                    if with_presence { r.get::<_, bool>(12)? } else { true },
                ))
            })
            .map_err(|e| self.err(e))?;
        for row in rows {
            let (
                (id, dataset, item, annotator, labels, at),
                (mode, note, dur, sugg, week, retracted),
                present,
            ) = row.map_err(|e| self.err(e))?;
            let labels: Vec<String> =
                serde_json::from_str(&labels).map_err(|e| self.corrupt(&item, e))?;
            let suggestion: Option<SuggestionRef> = match sugg {
                Some(s) => Some(serde_json::from_str(&s).map_err(|e| self.corrupt(&item, e))?),
                None => None,
            };
            let annotation = Annotation {
                item,
                annotator,
                labels,
                at,
                mode: Mode::parse(&mode).unwrap_or_default(),
                note,
                duration_ms: dur.map(|d| d.max(0) as u64),
                suggestion,
                week,
                retracted,
            };
            visit(AnswerRow { id, dataset, annotation }, present);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ann(item: &str, who: &str, labels: &[&str]) -> Annotation {
        Annotation {
            item: item.into(),
            annotator: who.into(),
            labels: labels.iter().map(|s| s.to_string()).collect(),
            at: String::new(),
            mode: Mode::Blind,
            note: String::new(),
            duration_ms: Some(10),
            suggestion: None,
            week: None,
            retracted: false,
        }
    }

    /// Looked up key by key, the answers are the current ones of `latest_answers`.
    #[test]
    fn answers_to_keys_agree_with_latest_answers() {
        let mut s = Store::open_in_memory().unwrap();
        let mut gone = ann("x", "a", &[]);
        gone.retracted = true;
        let recs = vec![
            ann("x", "a", &["bug"]),
            ann("y", "a", &["bug"]),
            ann("y", "a", &["ux"]),
            ann("y", "b", &["docs"]),
            gone,
            ann("z", "b", &["bug"]),
        ];
        let to = LogOffset { offset: 1, lines: recs.len() as u64, ..Default::default() };
        s.replay_annotations("l", "d", LogOffset::default(), &recs, to).unwrap();
        let keys = ["x", "y", "z", "w"];
        for who in ["a", "b", "c"] {
            let want: std::collections::HashMap<String, Vec<String>> = s
                .latest_answers(Some("d"))
                .unwrap()
                .into_iter()
                .filter(|r| r.annotation.annotator == who)
                .map(|r| (r.annotation.item, r.annotation.labels))
                .collect();
            assert_eq!(s.answers_to("d", who, &keys).unwrap(), want, "{who}");
            assert_eq!(s.has_records("d", who).unwrap(), who != "c");
        }
        assert_eq!(s.answers_to("d", "a", &["y"]).unwrap()["y"], vec!["ux".to_string()]);
        assert!(s.answers_to("e", "a", &keys).unwrap().is_empty(), "another dataset");
        assert!(!s.has_records("e", "a").unwrap());
    }

    /// The borrowed pass gives each record as the owning pass does, with one labels id per
    /// distinct stored label text.
    #[test]
    fn borrowed_records_equal_owned_records() {
        let mut s = Store::open_in_memory().unwrap();
        let item = |key: &str| crate::model::Item {
            key: key.into(),
            dataset: "d".into(),
            ..Default::default()
        };
        s.upsert_items(&[item("x"), item("y")], "t").unwrap();
        let mut shown = ann("y", "b", &["ux"]);
        shown.suggestion = Some(SuggestionRef {
            run: "r1".into(),
            labels: vec![crate::model::LabelScore { name: "ux".into(), confidence: Some(0.8) }],
        });
        shown.mode = Mode::Assisted;
        shown.at = "2026-12-07T10:00:00Z".into();
        shown.duration_ms = None;
        shown.note = "looks like a layout glitch".into();
        let mut gone = ann("x", "a", &[]);
        gone.retracted = true;
        let recs = vec![
            ann("x", "a", &["bug", "ux"]),
            ann("y", "a", &["bug", "ux"]),
            shown,
            gone,
            ann("z", "a", &["bug"]),
        ];
        let to = LogOffset { offset: 1, lines: recs.len() as u64, ..Default::default() };
        s.replay_annotations("l", "d", LogOffset::default(), &recs, to).unwrap();
        for dataset in [None, Some("d"), Some("e")] {
            let mut owned = Vec::new();
            s.for_each_record(dataset, |r, present| owned.push((r, present))).unwrap();
            let mut ids = Vec::new();
            let mut n = 0;
            s.for_each_record_ref(dataset, |r| {
                let (o, present) = &owned[n];
                let a = &o.annotation;
                assert_eq!(
                    (r.dataset, r.item, r.annotator),
                    (&*o.dataset, &*a.item, &*a.annotator)
                );
                assert_eq!((r.labels, r.at, r.mode), (a.labels.as_slice(), &*a.at, a.mode));
                assert_eq!(r.note, a.note);
                assert_eq!(
                    (r.duration_ms, r.suggestion.as_ref()),
                    (a.duration_ms, a.suggestion.as_ref())
                );
                assert_eq!((r.retracted, r.present), (a.retracted, *present));
                ids.push(r.labels_id);
                n += 1;
            })
            .unwrap();
            assert_eq!(n, owned.len());
            if dataset != Some("e") {
                assert_eq!(ids, [0, 0, 1, 2, 3], "equal label texts share an id");
                assert!(!owned[4].1, "z is not in the store");
            }
        }
    }

    /// Records replayed several statements at a time come back whole, in log order.
    #[test]
    fn records_replayed_in_groups_keep_their_order_and_fields() {
        let mut s = Store::open_in_memory().unwrap();
        let recs: Vec<Annotation> = (0..2 * ROWS_PER_INSERT + 22)
            .map(|i| {
                let mut a =
                    ann(&format!("k{}", i % 40), ["a", "b"][i % 2], &[["bug", "ux"][i % 3 % 2]]);
                a.note = format!("note {i}");
                a.at = format!("2026-12-07T10:{:02}:00Z", i % 60);
                a.duration_ms = (i % 4 != 0).then_some(i as u64);
                a.week = (i % 5 == 0).then(|| "2026-W49".to_string());
                a.retracted = i % 7 == 0;
                a.mode = [Mode::Blind, Mode::Assisted, Mode::Import][i % 3];
                a.suggestion = (i % 6 == 1).then(|| SuggestionRef {
                    run: format!("r{i}"),
                    labels: vec![crate::model::LabelScore { name: "ux".into(), confidence: None }],
                });
                a
            })
            .collect();
        let to = LogOffset { offset: 1, lines: recs.len() as u64, ..Default::default() };
        assert!(s.replay_annotations("l", "d", LogOffset::default(), &recs, to).unwrap());
        let mut back = Vec::new();
        s.for_each_record(Some("d"), |r, _| back.push(r)).unwrap();
        assert!(back.windows(2).all(|w| w[0].id < w[1].id));
        let back: Vec<Annotation> = back.into_iter().map(|r| r.annotation).collect();
        assert_eq!(back, recs);
    }

    #[test]
    fn latest_answer_wins_and_offsets_move_with_records() {
        let mut s = Store::open_in_memory().unwrap();
        let recs =
            vec![ann("x", "a", &["bug"]), ann("x", "a", &["question"]), ann("x", "b", &["bug"])];
        let to = LogOffset { offset: 99, lines: 3, ..Default::default() };
        assert!(
            s.replay_annotations("annotations/d/a.jsonl", "d", LogOffset::default(), &recs, to)
                .unwrap()
        );
        // A second replay from the stale offset is refused, so nothing is recorded twice.
        assert!(
            !s.replay_annotations("annotations/d/a.jsonl", "d", LogOffset::default(), &recs, to)
                .unwrap()
        );
        let latest = s.latest_answers(Some("d")).unwrap();
        assert_eq!(latest.len(), 2);
        let a = latest.iter().find(|r| r.annotation.annotator == "a").unwrap();
        assert_eq!(a.annotation.labels, ["question"]);
        assert_eq!(a.annotation.mode, Mode::Blind);
        assert_eq!(
            s.log_offset("annotations/d/a.jsonl").unwrap(),
            Some(LogOffset { offset: 99, lines: 3, ..Default::default() })
        );
        s.forget_log("annotations/d/a.jsonl").unwrap();
        assert!(s.latest_answers(None).unwrap().is_empty());
        assert_eq!(s.log_offset("annotations/d/a.jsonl").unwrap(), None);
    }
}
