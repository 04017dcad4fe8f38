//! The push plan, a pure function of the store's facts: which labels each issue gets (from gold
//! answers, or from suggestions at or above an explicit threshold), capped by max_labels, inside
//! the taxonomy, never touching labels a human set, skipping issues under `/label off`.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::{Deserialize, Serialize};

use super::audit::CommentData;
use crate::model::LabelScore;
use crate::store::{IssueRow, PushedLabel};
use crate::taxonomy::{Select, Taxonomy};

/// What a push does on GitHub.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum PushMode {
    /// Post (or update) one recommendation comment per issue.
    Comment,
    /// Add the labels to the issues.
    Apply,
}

impl PushMode {
    pub fn as_str(self) -> &'static str {
        match self {
            PushMode::Comment => "comment",
            PushMode::Apply => "apply",
        }
    }
}

/// Everything the planner looks at.
pub struct PlanInputs<'a> {
    pub repo: &'a str,
    pub mode: PushMode,
    pub taxonomy: &'a Taxonomy,
    pub issues: &'a [IssueRow],
    /// Gold labels per item key.
    pub gold: &'a HashMap<String, Vec<String>>,
    /// The latest suggestion per item key (used only with a threshold).
    pub suggestions: &'a HashMap<String, Vec<LabelScore>>,
    pub threshold: Option<f64>,
    /// Labels sift added earlier and has not removed.
    pub pushed: &'a [PushedLabel],
    /// The recommendation last posted per item key (comment mode).
    pub last_comments: &'a HashMap<String, CommentData>,
}

/// One issue's part of the plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanEntry {
    pub key: String,
    pub number: i64,
    /// "gold" or "suggestion".
    pub source: String,
    /// The recommended labels (what a comment shows).
    pub labels: Vec<LabelScore>,
    /// Labels to add (apply mode).
    pub add: Vec<String>,
    /// Why some recommended labels are not added.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// Per label to add: the names whose presence on the issue, when the push is sent, means
    /// it must not be added (its aliases, the other labels of a pick-one dimension). Humans
    /// may have labelled the issue since the pull.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub blocked_by: BTreeMap<String, Vec<String>>,
    /// The labeling bot's audit record, shown in its comment (comment mode).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audit: Option<super::audit::BotAudit>,
}

/// An issue left alone, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Skipped {
    pub key: String,
    pub number: i64,
    pub reason: String,
}

/// One op an unfinished push has not finished.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PendingOp {
    pub key: String,
    pub number: i64,
    /// add_labels, comment, update_comment, remove_label
    pub op: String,
    /// pending (never sent) or sent (interrupted while sending: checked on GitHub first).
    pub state: String,
    /// The labels it adds, recommends or removes.
    pub labels: Vec<String>,
    /// Why it will not be sent, when it will not (`/label off` since the push was planned).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skip: Option<String>,
}

/// A push (or revert) that was interrupted: the next push of its repository in its mode sends
/// the rest first, unless it is dropped with `sift push --abandon ID`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PendingPush {
    pub id: String,
    /// apply, comment or revert
    pub mode: String,
    pub started_at: String,
    pub ops: Vec<PendingOp>,
}

impl PendingPush {
    /// Whether a push in `mode` resumes it: pushes of the same mode, and reverts (they only
    /// take back what sift added) with either.
    pub fn resumed_by(&self, mode: PushMode) -> bool {
        self.mode == mode.as_str() || self.mode == "revert"
    }
}

/// The plan of one push.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PushPlan {
    pub repo: String,
    pub mode: PushMode,
    pub threshold: Option<f64>,
    pub entries: Vec<PlanEntry>,
    pub skipped: Vec<Skipped>,
    /// Issues with a recommendation that is already on GitHub.
    pub up_to_date: usize,
    /// Interrupted pushes of the repository, sent before this plan (not part of it: the
    /// planner leaves this empty, the caller fills it from the journal).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unfinished: Vec<PendingPush>,
}

impl PushPlan {
    /// Number of mutations the plan sends.
    pub fn mutation_count(&self) -> usize {
        self.entries.len()
    }

    /// Ops of unfinished pushes, sent first.
    pub fn unfinished_ops(&self) -> usize {
        self.unfinished.iter().map(|p| p.ops.len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

fn lower_set<'a>(it: impl IntoIterator<Item = &'a String>) -> HashSet<String> {
    it.into_iter().map(|s| s.to_ascii_lowercase()).collect()
}

/// The recommended labels: canonical, known, not deprecated, highest confidence first for
/// suggestions, at most max_labels.
fn recommendation(
    tax: &Taxonomy,
    key: &str,
    inputs: &PlanInputs,
) -> Option<(String, Vec<LabelScore>, Vec<String>)> {
    let mut notes = Vec::new();
    let (source, mut labels): (&str, Vec<LabelScore>) = if let Some(g) = inputs.gold.get(key) {
        let (names, unknown) = tax.canonicalize(g.iter().map(String::as_str));
        for u in unknown {
            notes.push(format!("`{u}` is not in taxonomy `{}`", tax.name));
        }
        ("gold", names.into_iter().map(|name| LabelScore { name, confidence: None }).collect())
    } else if let (Some(t), Some(s)) = (inputs.threshold, inputs.suggestions.get(key)) {
        let mut v: Vec<LabelScore> = s
            .iter()
            .filter(|l| l.confidence.unwrap_or(0.0) >= t)
            .filter_map(|l| {
                let name = tax.resolve(&l.name)?.to_string();
                Some(LabelScore { name, confidence: l.confidence })
            })
            .collect();
        v.sort_by(|a, b| b.confidence.unwrap_or(0.0).total_cmp(&a.confidence.unwrap_or(0.0)));
        let mut seen = HashSet::new();
        v.retain(|l| seen.insert(l.name.clone()));
        ("suggestion", v)
    } else {
        return None;
    };
    labels.retain(|l| match tax.label(&l.name) {
        Some((_, def)) if def.deprecated => {
            notes.push(format!("`{}` is deprecated", l.name));
            false
        }
        Some(_) => true,
        None => false,
    });
    if labels.len() > tax.max_labels {
        notes.push(format!("capped at max_labels = {}", tax.max_labels));
        labels.truncate(tax.max_labels);
    }
    Some((source.to_string(), labels, notes))
}

/// Build the plan.
pub fn plan_push(inputs: &PlanInputs) -> PushPlan {
    let tax = inputs.taxonomy;
    let mut pushed_by_number: HashMap<i64, Vec<String>> = HashMap::new();
    for p in inputs.pushed {
        pushed_by_number.entry(p.number).or_default().push(p.label.clone());
    }
    let mut plan = PushPlan {
        repo: inputs.repo.to_string(),
        mode: inputs.mode,
        threshold: inputs.threshold,
        entries: Vec::new(),
        skipped: Vec::new(),
        up_to_date: 0,
        unfinished: Vec::new(),
    };
    for issue in inputs.issues {
        let Some((source, labels, mut notes)) = recommendation(tax, &issue.key, inputs) else {
            continue;
        };
        if labels.is_empty() {
            continue;
        }
        if issue.sift_off {
            plan.skipped.push(Skipped {
                key: issue.key.clone(),
                number: issue.number,
                reason: "`/label off` on this issue".into(),
            });
            continue;
        }
        let entry = match inputs.mode {
            PushMode::Comment => {
                let data = comment_data(&source, &labels);
                if inputs.last_comments.get(&issue.key) == Some(&data) {
                    plan.up_to_date += 1;
                    continue;
                }
                PlanEntry {
                    key: issue.key.clone(),
                    number: issue.number,
                    source,
                    labels,
                    add: Vec::new(),
                    notes,
                    blocked_by: BTreeMap::new(),
                    audit: None,
                }
            }
            PushMode::Apply => {
                let mut present: Vec<String> = issue.source_labels.clone();
                present.extend(pushed_by_number.get(&issue.number).cloned().unwrap_or_default());
                let add = labels_to_add(tax, &labels, &present, &mut notes);
                if add.is_empty() {
                    plan.up_to_date += 1;
                    continue;
                }
                PlanEntry {
                    key: issue.key.clone(),
                    number: issue.number,
                    source,
                    labels,
                    blocked_by: add.iter().map(|l| (l.clone(), blockers(tax, l))).collect(),
                    add,
                    notes,
                    audit: None,
                }
            }
        };
        plan.entries.push(entry);
    }
    plan
}

/// Names that stand for `label` on an issue, or rule it out: its aliases, and in a pick-one
/// dimension every other label and their aliases.
pub fn blockers(tax: &Taxonomy, label: &str) -> Vec<String> {
    let mut out: Vec<String> =
        tax.label(label).map(|(_, def)| def.aliases.clone()).unwrap_or_default();
    if let Some(dim) = tax.dimension_of(label).filter(|d| d.select == Select::One) {
        for other in dim.labels.iter().filter(|o| o.name != label) {
            out.push(other.name.clone());
            out.extend(other.aliases.iter().cloned());
        }
    }
    out
}

/// What the hidden block of a comment says for a recommendation.
pub fn comment_data(source: &str, labels: &[LabelScore]) -> CommentData {
    CommentData {
        labels: labels.to_vec(),
        source: source.to_string(),
        sift: env!("CARGO_PKG_VERSION").to_string(),
        bot: None,
    }
}

/// Labels of a recommendation that are not on the issue yet, keeping the issue's taxonomy
/// labels within max_labels and one label per single-select dimension.
pub fn labels_to_add(
    tax: &Taxonomy,
    labels: &[LabelScore],
    present: &[String],
    notes: &mut Vec<String>,
) -> Vec<String> {
    let present_lower = lower_set(present);
    let present_tax: HashSet<String> =
        present.iter().filter_map(|p| tax.resolve(p)).map(str::to_string).collect();
    let mut room = tax.max_labels.saturating_sub(present_tax.len());
    let mut add: Vec<String> = Vec::new();
    for l in labels {
        // Present under its own name or under an alias a human used (`defect` for `bug`).
        if present_lower.contains(&l.name.to_ascii_lowercase()) || present_tax.contains(&l.name) {
            continue;
        }
        if let Some(dim) = tax.dimension_of(&l.name).filter(|d| d.select == Select::One) {
            let taken = dim
                .labels
                .iter()
                .any(|x| present_tax.contains(&x.name) || add.iter().any(|a| a == &x.name));
            if taken {
                notes.push(format!("`{}`: dimension `{}` already has a label", l.name, dim.name));
                continue;
            }
        }
        if room == 0 {
            notes.push(format!(
                "`{}`: the issue would exceed max_labels = {}",
                l.name, tax.max_labels
            ));
            continue;
        }
        room -= 1;
        add.push(l.name.clone());
    }
    add
}

/// Interrupted pushes and what is left of them, as the plan shows them before its own diff.
pub fn render_pending(repo: &str, mode: PushMode, pending: &[PendingPush]) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let clean = crate::text::one_line;
    for p in pending {
        let _ = writeln!(
            s,
            "unfinished push {} ({}, started {}): {} op(s) left",
            clean(&p.id),
            clean(&p.mode),
            clean(&p.started_at),
            p.ops.len()
        );
        for o in &p.ops {
            let labels: Vec<String> = o.labels.iter().map(|l| clean(l)).collect();
            let what = match o.op.as_str() {
                "add_labels" => format!("+ {}", labels.join(", ")),
                "remove_label" => format!("- {}", labels.join(", ")),
                _ => format!("{}: {}", clean(&o.op), labels.join(", ")),
            };
            let note = match (&o.skip, o.state.as_str()) {
                (Some(why), "sent") => {
                    format!(
                        " (interrupted while sending: checked on GitHub, not sent again: {})",
                        clean(why)
                    )
                }
                (Some(why), _) => format!(" (skipped: {})", clean(why)),
                (None, "sent") => " (interrupted while sending: checked on GitHub first)".into(),
                (None, _) => String::new(),
            };
            let _ = writeln!(s, "  {}#{} {what}{note}", repo, o.number);
        }
        if p.resumed_by(mode) {
            let _ = writeln!(s, "  sent first by `sift push {repo} --mode {}`", mode.as_str());
        } else {
            let _ = writeln!(
                s,
                "  ! a {} push does not send these: finish them with `sift push {repo} --mode {}`",
                mode.as_str(),
                clean(&p.mode)
            );
        }
        let _ =
            writeln!(s, "  or drop them, sending nothing: sift push --abandon {}", clean(&p.id));
    }
    s
}

/// The plan as a diff, one issue per block (labels through the terminal sanitizer), after the
/// interrupted pushes that go first.
pub fn render_plan(plan: &PushPlan) -> String {
    use std::fmt::Write;
    let mut s = render_pending(&plan.repo, plan.mode, &plan.unfinished);
    let clean = crate::text::one_line;
    for e in &plan.entries {
        let _ = writeln!(s, "{}#{} ({})", plan.repo, e.number, e.source);
        match plan.mode {
            PushMode::Apply => {
                for a in &e.add {
                    let _ = writeln!(s, "  + {}", clean(a));
                }
            }
            PushMode::Comment => {
                let list: Vec<String> = e
                    .labels
                    .iter()
                    .map(|l| match l.confidence {
                        Some(c) => format!("{} ({c:.2})", clean(&l.name)),
                        None => clean(&l.name),
                    })
                    .collect();
                let _ = writeln!(s, "  comment: {}", list.join(", "));
            }
        }
        for n in &e.notes {
            let _ = writeln!(s, "  ! {}", clean(n));
        }
    }
    for k in &plan.skipped {
        let _ = writeln!(s, "{}#{} skipped: {}", plan.repo, k.number, clean(&k.reason));
    }
    let _ = writeln!(
        s,
        "{} issue(s) to change, {} already up to date, {} skipped",
        plan.entries.len(),
        plan.up_to_date,
        plan.skipped.len()
    );
    let left = plan.unfinished_ops();
    if left > 0 {
        let _ = writeln!(
            s,
            "and {left} op(s) of {} unfinished push(es), listed above",
            plan.unfinished.len()
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::taxonomy::LabelsFile;

    fn tax() -> Taxonomy {
        let text = "taxonomies:\n  issues:\n    max_labels: 2\n    dimensions:\n      - name: type\n        select: many\n        labels:\n          - name: bug\n            aliases: [defect]\n          - enhancement\n          - question\n          - name: old\n            deprecated: true\n      - name: prio\n        select: one\n        labels: [p1, p2]\n";
        LabelsFile::parse(text, std::path::Path::new("labels.yml")).unwrap().taxonomies["issues"]
            .clone()
    }

    fn issue(n: i64, labels: &[&str], off: bool) -> IssueRow {
        IssueRow {
            key: format!("github:o/r#{n}"),
            dataset: "o-r".into(),
            number: n,
            source_labels: labels.iter().map(|s| s.to_string()).collect(),
            sift_off: off,
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn inputs<'a>(
        t: &'a Taxonomy,
        issues: &'a [IssueRow],
        gold: &'a HashMap<String, Vec<String>>,
        sugg: &'a HashMap<String, Vec<LabelScore>>,
        pushed: &'a [PushedLabel],
        last: &'a HashMap<String, CommentData>,
        threshold: Option<f64>,
        mode: PushMode,
    ) -> PlanInputs<'a> {
        PlanInputs {
            repo: "o/r",
            mode,
            taxonomy: t,
            issues,
            gold,
            suggestions: sugg,
            threshold,
            pushed,
            last_comments: last,
        }
    }

    #[test]
    fn apply_plan_respects_humans_caps_and_off() {
        let t = tax();
        let issues = [
            issue(1, &["bug"], false),
            issue(2, &[], true),
            issue(3, &["p2", "wontfix"], false),
            issue(4, &[], false),
        ];
        let gold: HashMap<String, Vec<String>> = [
            (
                "github:o/r#1".to_string(),
                vec!["defect".to_string(), "question".into(), "nonsense".into()],
            ),
            ("github:o/r#2".to_string(), vec!["bug".to_string()]),
            ("github:o/r#3".to_string(), vec!["p1".to_string(), "bug".into()]),
        ]
        .into();
        let sugg: HashMap<String, Vec<LabelScore>> = [(
            "github:o/r#4".to_string(),
            vec![
                LabelScore { name: "bug".into(), confidence: Some(0.95) },
                LabelScore { name: "old".into(), confidence: Some(0.99) },
                LabelScore { name: "question".into(), confidence: Some(0.5) },
            ],
        )]
        .into();
        let none: HashMap<String, CommentData> = HashMap::new();
        let no_sugg: HashMap<String, Vec<LabelScore>> = HashMap::new();
        let p = plan_push(&inputs(&t, &issues, &gold, &sugg, &[], &none, None, PushMode::Apply));
        assert_eq!(p.entries.len(), 2);
        assert_eq!(p.entries[0].add, vec!["question"]);
        assert!(p.entries[0].notes.iter().any(|n| n.contains("nonsense")));
        // p2 is already set in a single-select dimension: p1 is not added on top.
        assert_eq!(p.entries[1].add, vec!["bug"]);
        assert_eq!(p.skipped.len(), 1);
        // Suggestions count only with a threshold; deprecated labels never go out.
        let p =
            plan_push(&inputs(&t, &issues, &gold, &sugg, &[], &none, Some(0.6), PushMode::Apply));
        let e4 = p.entries.iter().find(|e| e.number == 4).unwrap();
        assert_eq!(e4.add, vec!["bug"]);
        // Labels sift pushed earlier count as present: nothing new, nothing planned.
        let pushed = [PushedLabel { number: 1, label: "question".into(), push_id: "p".into() }];
        let p =
            plan_push(&inputs(&t, &issues, &gold, &no_sugg, &pushed, &none, None, PushMode::Apply));
        assert!(p.entries.iter().all(|e| e.number != 1));
        assert!(render_plan(&p).contains("+ bug"));
    }

    #[test]
    fn a_label_present_under_an_alias_is_not_added_again() {
        let t = tax();
        let issues = [issue(1, &["Defect"], false)];
        let gold: HashMap<String, Vec<String>> =
            [("github:o/r#1".to_string(), vec!["bug".to_string(), "question".into()])].into();
        let none: HashMap<String, CommentData> = HashMap::new();
        let no_sugg: HashMap<String, Vec<LabelScore>> = HashMap::new();
        let p = plan_push(&inputs(&t, &issues, &gold, &no_sugg, &[], &none, None, PushMode::Apply));
        assert_eq!(p.entries.len(), 1);
        assert_eq!(p.entries[0].add, vec!["question"]);
    }

    #[test]
    fn comment_plan_skips_unchanged_recommendations() {
        let t = tax();
        let issues = [issue(1, &[], false)];
        let gold: HashMap<String, Vec<String>> =
            [("github:o/r#1".to_string(), vec!["bug".to_string()])].into();
        let none: HashMap<String, CommentData> = HashMap::new();
        let no_sugg: HashMap<String, Vec<LabelScore>> = HashMap::new();
        let p =
            plan_push(&inputs(&t, &issues, &gold, &no_sugg, &[], &none, None, PushMode::Comment));
        assert_eq!(p.entries.len(), 1);
        let last: HashMap<String, CommentData> =
            [("github:o/r#1".to_string(), comment_data("gold", &p.entries[0].labels))].into();
        let p =
            plan_push(&inputs(&t, &issues, &gold, &no_sugg, &[], &last, None, PushMode::Comment));
        assert!(p.is_empty());
        assert_eq!(p.up_to_date, 1);
    }
}
