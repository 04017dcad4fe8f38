//! A run's life after it ends: experiments that pair two runs over the same items, baseline
//! promotion judged on gold, and retention (archive, restore, delete) by an explicit policy.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::json;

use super::runs::{RunsError, gold_labels};
use crate::metrics::paired::{self, F1Difference, PairedItem};
use crate::model::{Run, RunState, Suggestion, now_rfc3339};
use crate::store::Store;
use crate::workspace::Workspace;

/// The arms of an experiment.
pub const ARMS: [&str; 2] = ["control", "treatment"];

/// The experiment a run belongs to, and its arm.
pub fn experiment_of(run: &Run) -> Option<(String, String)> {
    let e = run.config.get("experiment")?.as_str()?.to_string();
    let arm = run.config.get("arm").and_then(|a| a.as_str()).unwrap_or_default().to_string();
    Some((e, arm))
}

/// Set a key of a run's config, which is a JSON object (made one if a hand-edited record
/// holds something else).
pub fn set_config(run: &mut Run, key: &str, value: serde_json::Value) {
    if !run.config.is_object() {
        run.config = json!({});
    }
    if let Some(m) = run.config.as_object_mut() {
        m.insert(key.to_string(), value);
    }
}

fn find(store: &Store, id_or_name: &str) -> Result<Run, RunsError> {
    store.run(id_or_name)?.ok_or_else(|| RunsError::NoRun(id_or_name.into()))
}

/// Why a run over items with `fingerprint` cannot join `experiment` as `arm`: another run
/// holds the arm, or a run of the experiment covers other items. `this` (an id or a name)
/// is the run itself when it is resumed. None: it may join.
pub fn pairing_conflict(
    store: &Store,
    this: Option<&str>,
    fingerprint: &str,
    experiment: &str,
    arm: &str,
) -> Result<Option<String>, RunsError> {
    let itself = |r: &Run| this.is_some_and(|t| r.id == t || r.name.as_deref() == Some(t));
    for other in store.runs()?.iter().filter(|r| !itself(r)) {
        let Some((e, other_arm)) = experiment_of(other) else { continue };
        if e != experiment {
            continue;
        }
        if other_arm == arm {
            return Ok(Some(format!(
                "the {arm} arm of experiment `{experiment}` is run {} already",
                other.id
            )));
        }
        if other.dataset_fingerprint != fingerprint {
            return Ok(Some(format!(
                "run {} ({} arm of experiment `{experiment}`) covers other items (their dataset \
                 fingerprints differ): an experiment compares two runs over the same items",
                other.id, other_arm
            )));
        }
    }
    Ok(None)
}

/// `sift runs pair A B --experiment NAME`: A becomes the control, B the treatment.
pub fn pair(store: &Store, a: &str, b: &str, experiment: &str) -> Result<(Run, Run), RunsError> {
    let (mut ra, mut rb) = (find(store, a)?, find(store, b)?);
    if ra.id == rb.id {
        return Err(RunsError::Invalid("a run cannot be paired with itself".into()));
    }
    if ra.dataset_fingerprint.is_empty() || ra.dataset_fingerprint != rb.dataset_fingerprint {
        return Err(RunsError::Invalid(format!(
            "runs {} and {} cover different items (their dataset fingerprints differ); an \
             experiment compares two runs over the same items",
            ra.id, rb.id
        )));
    }
    for (r, arm) in [(&mut ra, ARMS[0]), (&mut rb, ARMS[1])] {
        set_config(r, "experiment", json!(experiment));
        set_config(r, "arm", json!(arm));
    }
    // An experiment is one pair: a third run would make its comparison ambiguous.
    let taken = store.runs()?.into_iter().find(|x| {
        x.id != ra.id && x.id != rb.id && experiment_of(x).is_some_and(|(e, _)| e == experiment)
    });
    if let Some(o) = taken {
        return Err(RunsError::Invalid(format!(
            "experiment `{experiment}` has run {} already; name another experiment",
            o.id
        )));
    }
    store.save_run(&ra)?;
    store.save_run(&rb)?;
    Ok((ra, rb))
}

/// What `runs compare` adds for two runs of one experiment.
#[derive(Debug, Clone, Serialize)]
pub struct Paired {
    pub experiment: String,
    /// The arms of the runs compared as A and B (in the order given).
    pub arm_a: String,
    pub arm_b: String,
    /// Per common item: labels of both runs, the top confidence of each, and whether each
    /// matches gold exactly (when the item has gold).
    pub deltas: Vec<ItemDelta>,
    /// Top-label confidences of the common items in ten bins over [0, 1].
    pub histogram_a: Vec<usize>,
    pub histogram_b: Vec<usize>,
    pub f1: Option<F1Difference>,
    pub mcnemar: Option<paired::McNemar>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ItemDelta {
    pub item: String,
    pub a: Vec<String>,
    pub b: Vec<String>,
    pub top_a: Option<f64>,
    pub top_b: Option<f64>,
    pub correct_a: Option<bool>,
    pub correct_b: Option<bool>,
}

/// Bootstrap draws for the F1 interval; seeded so a comparison prints the same every time.
const DRAWS: usize = 2000;
const SEED: u64 = 20_260_101;

fn names(s: &Suggestion) -> Vec<String> {
    let mut v: Vec<String> = s.labels.iter().map(|l| l.name.clone()).collect();
    v.sort();
    v
}

fn top(s: &Suggestion) -> Option<f64> {
    s.labels.iter().filter_map(|l| l.confidence).reduce(f64::max)
}

/// The paired figures of two runs, when both belong to the same experiment.
pub fn paired(
    ws: &Workspace,
    store: &Store,
    a: &Run,
    b: &Run,
) -> Result<Option<Paired>, RunsError> {
    let (Some((ea, arm_a)), Some((eb, arm_b))) = (experiment_of(a), experiment_of(b)) else {
        return Ok(None);
    };
    if ea != eb {
        return Ok(None);
    }
    let gold = gold_labels(ws, store)?;
    let sb: BTreeMap<String, Suggestion> =
        store.run_suggestions(&b.id)?.into_iter().map(|s| (s.item.clone(), s)).collect();
    let mut deltas = Vec::new();
    let mut scored = Vec::new();
    let (mut only_a, mut only_b) = (0u64, 0u64);
    for x in store.run_suggestions(&a.id)? {
        let Some(y) = sb.get(&x.item) else { continue };
        let (la, lb) = (names(&x), names(y));
        let g = gold.get(&x.item).map(|g| {
            let mut g = g.clone();
            g.sort();
            g
        });
        let (ca, cb) = (g.as_ref().map(|g| *g == la), g.as_ref().map(|g| *g == lb));
        only_a += u64::from(ca == Some(true) && cb == Some(false));
        only_b += u64::from(ca == Some(false) && cb == Some(true));
        if let Some(g) = g {
            scored.push(PairedItem { gold: g, a: la.clone(), b: lb.clone() });
        }
        deltas.push(ItemDelta {
            item: x.item.clone(),
            top_a: top(&x),
            top_b: top(y),
            a: la,
            b: lb,
            correct_a: ca,
            correct_b: cb,
        });
    }
    let tops = |f: fn(&ItemDelta) -> Option<f64>| deltas.iter().filter_map(f).collect::<Vec<_>>();
    Ok(Some(Paired {
        experiment: ea,
        arm_a,
        arm_b,
        histogram_a: paired::histogram(&tops(|d| d.top_a), 10),
        histogram_b: paired::histogram(&tops(|d| d.top_b), 10),
        f1: paired::f1_difference(&scored, DRAWS, SEED),
        mcnemar: paired::mcnemar(only_a, only_b),
        deltas,
    }))
}

/// The outcome of `sift runs promote`.
#[derive(Debug, Clone, Serialize)]
pub struct Promotion {
    pub run: String,
    /// The baseline it replaced (None: there was none for its taxonomy).
    pub previous: Option<String>,
    pub forced: bool,
    /// Both runs on the gold items both answered (None without a previous baseline or gold).
    pub f1: Option<F1Difference>,
}

/// `sift runs promote RUN [--force]`: RUN becomes the baseline of its taxonomy when it beats
/// the current one on shared gold (higher micro-F1), or when forced (recorded as forced).
pub fn promote(
    ws: &Workspace,
    store: &Store,
    run: &str,
    force: bool,
) -> Result<Promotion, RunsError> {
    let mut r = find(store, run)?;
    if r.state == RunState::Baseline {
        return Err(RunsError::Invalid(format!("run {} is the baseline already", r.id)));
    }
    if r.status == "running" || (r.status != "done" && !force) {
        return Err(RunsError::Invalid(format!(
            "run {} is {}, not done: a baseline answers all its items (--force promotes it \
             anyway, unless it is still running)",
            r.id, r.status
        )));
    }
    let baselines: Vec<Run> = store
        .runs()?
        .into_iter()
        .filter(|b| b.state == RunState::Baseline && b.taxonomy == r.taxonomy && b.id != r.id)
        .collect();
    let current = baselines.first().cloned();
    let f1 = match &current {
        Some(b) => shared_gold_f1(ws, store, b, &r)?,
        None => None,
    };
    if let Some(b) = &current
        && !force
    {
        let why = match &f1 {
            None => format!(
                "runs {} and {} share no gold-labeled item, so nothing shows it is better: \
                 label some (sift sample --review), or promote with --force",
                b.id, r.id
            ),
            Some(d) if d.difference <= 0.0 => format!(
                "run {} does not beat baseline {} on the {} gold items both answered (micro-F1 \
                 {:.3} against {:.3}); promote with --force to make it the baseline anyway",
                r.id, b.id, d.items, d.f1_b, d.f1_a
            ),
            Some(_) => String::new(),
        };
        if !why.is_empty() {
            return Err(RunsError::Invalid(why));
        }
    }
    // One baseline per taxonomy: every other one steps down.
    for mut b in baselines {
        b.state = RunState::Experimental;
        set_config(&mut b, "demoted_by", json!(r.id));
        store.save_run(&b)?;
    }
    r.state = RunState::Baseline;
    let record = json!({
        "at": now_rfc3339(),
        "previous": current.as_ref().map(|b| b.id.clone()),
        "forced": force,
        "f1": f1,
    });
    set_config(&mut r, "promotion", record);
    store.save_run(&r)?;
    Ok(Promotion { run: r.id, previous: current.map(|b| b.id), forced: force, f1 })
}

/// Micro-F1 of the baseline (A) and the candidate (B) on the gold items both answered.
fn shared_gold_f1(
    ws: &Workspace,
    store: &Store,
    baseline: &Run,
    candidate: &Run,
) -> Result<Option<F1Difference>, RunsError> {
    let gold = gold_labels(ws, store)?;
    let cand: BTreeMap<String, Suggestion> =
        store.run_suggestions(&candidate.id)?.into_iter().map(|s| (s.item.clone(), s)).collect();
    let mut items = Vec::new();
    for s in store.run_suggestions(&baseline.id)? {
        if let (Some(g), Some(c)) = (gold.get(&s.item), cand.get(&s.item)) {
            items.push(PairedItem { gold: g.clone(), a: names(&s), b: names(c) });
        }
    }
    Ok(paired::f1_difference(&items, DRAWS, SEED))
}

/// A retention policy (`sift runs cleanup`).
#[derive(Debug, Clone, Default)]
pub struct Policy {
    /// Keep this many newest experimental runs; older ones are archived.
    pub keep_experimental: Option<usize>,
    /// Archive runs that ended longer ago than this.
    pub archive_after: Option<jiff::SignedDuration>,
    /// Delete archived runs archived longer ago than this.
    pub delete_archived_after: Option<jiff::SignedDuration>,
    /// Baseline runs follow the policy too (otherwise never touched).
    pub force: bool,
}

/// What cleanup does to one run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Planned {
    pub run: String,
    pub name: Option<String>,
    pub action: &'static str,
    pub reason: String,
}

/// When a run ended (or started, if it never did), and when it was archived.
fn ended(r: &Run) -> Option<jiff::Timestamp> {
    r.finished_at.as_deref().unwrap_or(&r.started_at).parse().ok()
}

fn archived_at(r: &Run) -> Option<jiff::Timestamp> {
    r.config
        .get("archived_at")
        .and_then(|a| a.as_str())
        .and_then(|a| a.parse().ok())
        .or_else(|| ended(r))
}

/// What the policy does to `runs` (newest first) at `now`. Pure: `--dry-run` prints it, and
/// cleanup carries it out. A running run is never touched.
/// Runs in `busy` (with provider batches still open) are left alone too.
pub fn plan(
    runs: &[Run],
    busy: &std::collections::HashSet<String>,
    policy: &Policy,
    now: jiff::Timestamp,
) -> Vec<Planned> {
    let mut out = Vec::new();
    let mut experimental_seen = 0usize;
    for r in runs.iter().filter(|r| r.status != "running" && !busy.contains(&r.id)) {
        let planned = |action, reason: String| Planned {
            run: r.id.clone(),
            name: r.name.clone(),
            action,
            reason,
        };
        match r.state {
            RunState::Archived => {
                if let (Some(limit), Some(at)) = (policy.delete_archived_after, archived_at(r))
                    && older(now, at, limit)
                {
                    out.push(planned("delete", format!("archived more than {} ago", days(limit))));
                }
            }
            RunState::Baseline if !policy.force => {}
            state => {
                if state == RunState::Experimental {
                    experimental_seen += 1;
                }
                if let Some(keep) = policy.keep_experimental
                    && state == RunState::Experimental
                    && experimental_seen > keep
                {
                    out.push(planned(
                        "archive",
                        format!("older than the {keep} newest experimental runs"),
                    ));
                } else if let (Some(limit), Some(at)) = (policy.archive_after, ended(r))
                    && older(now, at, limit)
                {
                    out.push(planned("archive", format!("ended more than {} ago", days(limit))));
                }
            }
        }
    }
    out
}

/// `at` is at least `limit` before `now`; a zero limit takes everything (times are kept to
/// the second, so "0h" must not depend on when within a second they were written).
fn older(now: jiff::Timestamp, at: jiff::Timestamp, limit: jiff::SignedDuration) -> bool {
    limit.is_zero() || now.duration_since(at) >= limit
}

fn days(d: jiff::SignedDuration) -> String {
    let h = d.as_hours();
    if h % 24 == 0 { format!("{} days", h / 24) } else { format!("{h} hours") }
}

/// Parse `30d`, `12h` or `2w`.
pub fn parse_age(s: &str) -> Result<jiff::SignedDuration, String> {
    let s = s.trim();
    let (n, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: i64 = n.parse().map_err(|_| format!("`{s}`: say a number of days, like 30d"))?;
    let hours = match unit {
        "d" | "" => 24,
        "w" => 24 * 7,
        "h" => 1,
        _ => return Err(format!("`{s}`: the unit is d (days), w (weeks) or h (hours)")),
    };
    Ok(jiff::SignedDuration::from_hours(n.saturating_mul(hours)))
}

/// Carry out a plan made by [`plan`].
pub fn apply(store: &mut Store, planned: &[Planned]) -> Result<(), RunsError> {
    for p in planned {
        match p.action {
            "archive" => {
                archive(store, &p.run)?;
            }
            _ => store.delete_run(&p.run)?,
        }
    }
    Ok(())
}

/// Archive a run: hidden from lists, kept whole, restorable to the state it had.
pub fn archive(store: &Store, run: &str) -> Result<Run, RunsError> {
    let mut r = find(store, run)?;
    if r.state != RunState::Archived {
        let from = state_name(r.state);
        set_config(&mut r, "archived_from", json!(from));
        set_config(&mut r, "archived_at", json!(now_rfc3339()));
        r.state = RunState::Archived;
        store.save_run(&r)?;
    }
    Ok(r)
}

/// `sift runs restore RUN`: an archived run back to the state it had.
pub fn restore(store: &Store, run: &str) -> Result<Run, RunsError> {
    let mut r = find(store, run)?;
    if r.state != RunState::Archived {
        return Err(RunsError::Invalid(format!("run {} is not archived", r.id)));
    }
    let before = r.config.get("archived_from").and_then(|s| s.as_str()).unwrap_or_default();
    // A baseline comes back as one only while its taxonomy has no other.
    let other_baseline = store
        .runs()?
        .iter()
        .any(|b| b.state == RunState::Baseline && b.taxonomy == r.taxonomy && b.id != r.id);
    r.state = if before == "baseline" && !other_baseline {
        RunState::Baseline
    } else {
        RunState::Experimental
    };
    if let Some(m) = r.config.as_object_mut() {
        m.remove("archived_at");
        m.remove("archived_from");
    }
    store.save_run(&r)?;
    Ok(r)
}

fn state_name(s: RunState) -> &'static str {
    match s {
        RunState::Baseline => "baseline",
        RunState::Experimental => "experimental",
        RunState::Archived => "archived",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(id: &str, state: RunState, ended: &str) -> Run {
        Run {
            id: id.into(),
            state,
            status: "done".into(),
            started_at: ended.into(),
            finished_at: Some(ended.into()),
            config: json!({}),
            ..Default::default()
        }
    }

    #[test]
    fn the_plan_keeps_baselines_running_runs_and_the_newest() {
        let now: jiff::Timestamp = "2026-12-01T00:00:00Z".parse().unwrap();
        let mut archived = run("r-arch", RunState::Archived, "2026-01-01T00:00:00Z");
        archived.config["archived_at"] = json!("2026-08-01T00:00:00Z");
        let mut running = run("r-run", RunState::Experimental, "2025-01-01T00:00:00Z");
        running.status = "running".into();
        let runs = vec![
            run("r-new", RunState::Experimental, "2026-11-30T00:00:00Z"),
            run("r-mid", RunState::Experimental, "2026-11-20T00:00:00Z"),
            run("r-base", RunState::Baseline, "2025-06-01T00:00:00Z"),
            run("r-old", RunState::Experimental, "2026-09-01T00:00:00Z"),
            archived,
            running,
        ];
        let policy = Policy {
            keep_experimental: Some(1),
            archive_after: Some(parse_age("30d").unwrap()),
            delete_archived_after: Some(parse_age("90d").unwrap()),
            force: false,
        };
        let none = Default::default();
        let p = plan(&runs, &none, &policy, now);
        let got: Vec<(&str, &str)> = p.iter().map(|p| (p.run.as_str(), p.action)).collect();
        assert_eq!(got, [("r-mid", "archive"), ("r-old", "archive"), ("r-arch", "delete")]);
        assert!(p[0].reason.contains("1 newest"), "{}", p[0].reason);
        // Forced, the old baseline is archived too.
        let p = plan(&runs, &none, &Policy { force: true, ..policy.clone() }, now);
        // A run with open provider batches is left alone.
        let busy = ["r-mid".to_string()].into();
        assert!(!plan(&runs, &busy, &policy, now).iter().any(|p| p.run == "r-mid"));
        assert!(p.iter().any(|p| p.run == "r-base" && p.action == "archive"));
        // Archived 4 months ago but the limit is a year: kept.
        let lax = Policy { delete_archived_after: Some(parse_age("52w").unwrap()), ..policy };
        assert!(!plan(&runs, &none, &lax, now).iter().any(|p| p.action == "delete"));
    }

    #[test]
    fn ages_parse_with_units() {
        assert_eq!(parse_age("30d").unwrap().as_hours(), 720);
        assert_eq!(parse_age("2w").unwrap().as_hours(), 336);
        assert_eq!(parse_age("12h").unwrap().as_hours(), 12);
        assert!(parse_age("soon").unwrap_err().contains("number of days"));
        assert!(parse_age("3y").unwrap_err().contains("unit"));
    }
}
