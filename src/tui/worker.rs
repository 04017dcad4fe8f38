//! The worker thread: the one owner of the store on the UI side. It runs effects (loads,
//! saves) off the UI path and sends results back as actions tagged with their request ids.

use std::sync::mpsc;

use tokio::sync::mpsc::UnboundedSender;

use super::action::Action;
use super::state::Effect;
use super::stats::StatsView;
use crate::app::Context;
use crate::model::{Comment, Item, Turn};
use crate::store::{Store, SuggestionRow};
use crate::text::sanitize;
use crate::workspace::Workspace;
use crate::workspace::log;

/// What the worker sends back.
#[derive(Debug)]
pub enum Msg {
    Action(Action),
    Stats(Box<StatsView>),
    Sample(Box<Vec<crate::dataset::sample::WeekReport>>),
    Input(crossterm::event::Event),
}

/// Jobs for the worker.
pub enum Job {
    Effect(Effect),
    Stats {
        dataset: String,
    },
    Sample,
    SuggestionStatus {
        dataset: Option<String>,
    },
    /// Read the queue after its first page (`State::queue_rest`).
    QueueRest {
        dataset: Option<String>,
        annotator: String,
        after: (String, i64),
    },
    /// Look whether another process changed the store (see `refresh`).
    Refresh {
        dataset: Option<String>,
        annotator: String,
    },
}

/// Start the worker; it stops when the job channel closes. With `fixed_queue` (a given list
/// of items, such as the weekly sample) items added to the store later do not join the queue.
pub fn spawn(
    mut ctx: Context,
    out: UnboundedSender<Msg>,
    fixed_queue: bool,
) -> (mpsc::Sender<Job>, std::thread::JoinHandle<()>) {
    let mut follow = super::refresh::Follow::start(&ctx.store, fixed_queue);
    let (tx, rx) = mpsc::channel::<Job>();
    let handle = std::thread::spawn(move || {
        for job in rx {
            let run = |job| run_job(&mut ctx, &mut follow, job, &out);
            let Some(msg) = guarded(job, run) else { continue };
            if out.send(msg).is_err() {
                break;
            }
        }
    });
    (tx, handle)
}

/// Run a job; a panic in it becomes a message on screen instead of a dead worker. A save
/// that panicked is reported as not saved (its record reached the log only if `save` said so).
pub(super) fn guarded(job: Job, run: impl FnOnce(Job) -> Option<Msg>) -> Option<Msg> {
    let save = match &job {
        Job::Effect(Effect::Save { req, annotation, .. }) => Some((*req, annotation.item.clone())),
        _ => None,
    };
    let payload = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run(job))) {
        Ok(msg) => return msg,
        Err(p) => p,
    };
    let why = crate::text::one_line(&crate::panic_message(&*payload));
    tracing::error!("review worker: a job panicked: {why}");
    Some(Msg::Action(match save {
        Some((req, key)) => {
            Action::SaveFailed { req, key, error: format!("internal error: {why}") }
        }
        None => Action::Failed { error: format!("internal error in the worker: {why}") },
    }))
}

/// One job's work; `None` when it has nothing to report.
fn run_job(
    ctx: &mut Context,
    follow: &mut super::refresh::Follow,
    job: Job,
    out: &UnboundedSender<Msg>,
) -> Option<Msg> {
    let msg = match job {
        Job::Refresh { dataset, annotator } => {
            match super::refresh::changed(ctx, follow, dataset.as_deref(), &annotator) {
                Ok(status) => Msg::Action(Action::StoreChanged(Box::new(status?))),
                Err(e) => Msg::Action(Action::Failed { error: format!("{e:#}") }),
            }
        }
        Job::Effect(Effect::PlanPush { repo, apply }) => Msg::Action(plan_push(ctx, &repo, apply)),
        Job::Effect(Effect::Suggest { keys }) => Msg::Action(suggest(ctx, keys, out)),
        Job::Effect(Effect::ListRuns) => Msg::Action(list_runs(ctx)),
        Job::Effect(Effect::CompareRuns { a, b }) => Msg::Action(compare_runs(ctx, &a, &b)),
        Job::Effect(Effect::Push { repo, apply }) => Msg::Action(push(ctx, &repo, apply, out)),
        Job::Effect(e) => Msg::Action(run_effect(&ctx.ws, &mut ctx.store, e)?),
        Job::Stats { dataset } => stats(&ctx.ws, &ctx.store, &ctx.labels, &dataset),
        Job::Sample => sample(&ctx.ws, &ctx.store),
        Job::QueueRest { dataset, annotator, after } => {
            let (d, id) = (after.0.as_str(), after.1);
            let rest = super::queue_rest(ctx, &annotator, dataset.as_deref(), (d, id));
            Msg::Action(Action::QueueRest(Box::new(rest.map_err(|e| format!("{e:#}")))))
        }
        Job::SuggestionStatus { dataset } => {
            match super::suggestion_status(&ctx.store, dataset.as_deref()) {
                Ok(status) => Msg::Action(Action::SuggestionStatus(Box::new(status))),
                Err(e) => Msg::Action(Action::Failed { error: format!("{e:#}") }),
            }
        }
    };
    Some(msg)
}

/// Suggestions for items, through the same runner as `sift suggest` (cache, budget, retries,
/// fallback); each stored answer is reported as it lands.
fn suggest(ctx: &Context, keys: Vec<String>, out: &UnboundedSender<Msg>) -> Action {
    use crate::suggest::runner::{OnItem, suggest_keys_blocking};
    let sender = out.clone();
    let on_item = OnItem(std::sync::Arc::new(move |r: &crate::suggest::runner::ItemResult| {
        if r.suggestion.is_some() {
            let _ = sender.send(Msg::Action(Action::Suggested { key: r.key.clone() }));
        }
    }));
    let examples = crate::suggest::prompt::SimilarGold::open(&ctx.ws);
    let no_examples = crate::suggest::prompt::NoExamples;
    let source: &dyn crate::suggest::prompt::ExampleSource = match &examples {
        Ok(e) => e,
        Err(_) => &no_examples,
    };
    match suggest_keys_blocking(&ctx.ws, &ctx.labels, keys, None, source, Some(on_item)) {
        Ok(r) => Action::SuggestDone {
            summary: format!(
                "suggestions: {} answered ({} from cache), {} failed, via {}",
                r.suggested,
                r.cached,
                r.failed,
                crate::text::one_line(&r.run.provider)
            ),
        },
        Err(e) => Action::SuggestDone {
            summary: format!("suggest failed: {}", crate::text::one_line(&e.to_string())),
        },
    }
}

/// The runs, newest first, one line each: the baseline marked, each run's experiment and
/// arm named; archived runs are hidden (`sift runs list --all` shows them).
pub(super) fn list_runs(ctx: &Context) -> Action {
    use crate::model::RunState;
    match crate::suggest::runs::list(&ctx.store) {
        Ok(runs) => Action::RunsListed {
            rows: runs
                .into_iter()
                .filter(|r| r.state != RunState::Archived)
                .map(|r| {
                    let experiment = match r.config.get("experiment").and_then(|e| e.as_str()) {
                        Some(e) => {
                            let arm = r.config.get("arm").and_then(|a| a.as_str()).unwrap_or("");
                            format!(" · experiment {e} ({arm})")
                        }
                        None => String::new(),
                    };
                    let state = match r.state {
                        RunState::Baseline => "★ baseline",
                        _ => "experimental",
                    };
                    let line = format!(
                        "{} {} · {}/{} · {} · {} suggestions · {state}{experiment}",
                        r.started_at,
                        r.name.as_deref().unwrap_or(&r.id),
                        r.provider,
                        r.model,
                        r.status,
                        r.suggestions,
                    );
                    (r.id, crate::text::one_line(&line))
                })
                .collect(),
        },
        Err(e) => Action::Failed { error: format!("runs: {e}") },
    }
}

/// `sift runs compare A B` as lines for the runs view.
pub(super) fn compare_runs(ctx: &Context, a: &str, b: &str) -> Action {
    let c = match crate::suggest::runs::compare(&ctx.ws, &ctx.labels, &ctx.store, a, b) {
        Ok(c) => c,
        Err(e) => return Action::Failed { error: format!("compare: {e}") },
    };
    let f1 = |g: &Option<crate::suggest::runs::GoldScore>| match g {
        Some(g) => format!(
            "micro F1 {} · macro F1 {} · exact {} over the {} gold items both answered",
            fmt(g.micro_f1),
            fmt(g.macro_f1),
            fmt(g.exact_match),
            g.items
        ),
        None => "no gold items both runs answered".to_string(),
    };
    let mut lines = vec![
        format!("A {}  ({})", c.a.name.as_deref().unwrap_or(&c.a.id), f1(&c.gold_a)),
        format!("B {}  ({})", c.b.name.as_deref().unwrap_or(&c.b.id), f1(&c.gold_b)),
        format!(
            "{} common items, {} only in A, {} only in B, {} flipped",
            c.common_items,
            c.only_a,
            c.only_b,
            c.flipped.len()
        ),
    ];
    // The same words as `sift runs compare`.
    lines.extend(c.items_warning());
    lines.extend([format!(
        "kappa per label: {}",
        c.kappa.iter().map(|(l, k)| format!("{l} {}", fmt(*k))).collect::<Vec<_>>().join(", ")
    )]);
    for f in c.flipped.iter().take(10) {
        lines.push(format!("  {}: [{}] -> [{}]", f.item, f.a.join(","), f.b.join(",")));
    }
    if let Some(p) = &c.paired {
        lines.push(format!("experiment {} (A {}, B {})", p.experiment, p.arm_a, p.arm_b));
        if let Some(d) = &p.f1 {
            let ci =
                d.ci95.map(|[l, h]| format!(", 95% CI [{l:+.3}, {h:+.3}]")).unwrap_or_default();
            lines.push(format!(
                "  micro F1 B - A {:+.3}{ci} on {} gold items",
                d.difference, d.items
            ));
        }
        if let Some(m) = &p.mcnemar {
            lines.push(format!(
                "  McNemar: right only in A {}, only in B {}, p = {:.4}",
                m.only_a, m.only_b, m.p_value
            ));
        }
    }
    lines.push(if c.same_prompt { "same prompt bundle".into() } else { "prompt diff:".into() });
    lines.extend(c.prompt_diff.lines().take(200).map(str::to_string));
    Action::RunsCompared { lines: lines.iter().map(|l| crate::text::sanitize(l)).collect() }
}

fn fmt(x: Option<f64>) -> String {
    x.map(|v| format!("{v:.3}")).unwrap_or_else(|| "–".into())
}

fn push_mode(apply: bool) -> crate::github::PushMode {
    if apply { crate::github::PushMode::Apply } else { crate::github::PushMode::Comment }
}

/// The plan of one repository, as `sift push --dry-run` shows it; nothing is sent.
pub(crate) fn plan_push(ctx: &Context, repo: &str, apply: bool) -> Action {
    let plan = crate::github::RepoSlug::parse(repo)
        .map_err(anyhow::Error::from)
        .and_then(|slug| crate::github::dry_plan(ctx, &slug, push_mode(apply), None));
    match plan {
        Ok(p) => Action::PushPlanned {
            repo: repo.to_string(),
            text: crate::text::sanitize(&crate::github::render_plan(&p)),
            // Unfinished pushes are sent first by the same key: they count as work to send.
            entries: p.entries.len() + p.unfinished_ops(),
        },
        Err(e) => Action::Failed { error: format!("plan for {repo}: {e:#}") },
    }
}

/// Send a repository's plan, reporting each mutation as it happens.
fn push(ctx: &mut Context, repo: &str, apply: bool, out: &UnboundedSender<Msg>) -> Action {
    let mut run = || -> anyhow::Result<String> {
        let slug = crate::github::RepoSlug::parse(repo)?;
        let rt = crate::github::runtime()?;
        let req = crate::github::PushRequest {
            repo: &slug,
            mode: push_mode(apply),
            threshold: None,
            api_url: None,
        };
        let mut progress = |p: &crate::github::PushProgress| {
            let err = p
                .error
                .as_deref()
                .or(p.note.as_deref())
                .map(|e| format!(": {}", crate::text::one_line(e)))
                .unwrap_or_default();
            let line = format!("[{}/{}] {} {} {}{err}", p.done, p.total, p.op, p.key, p.outcome);
            let _ = out.send(Msg::Action(Action::PushProgress { line }));
        };
        let (_, resumed, report) =
            crate::github::push_repo(ctx, &rt, &req, &mut |_| {}, &mut progress)?;
        Ok(push_summary(&resumed, report.as_ref()))
    };
    match run() {
        Ok(summary) => Action::PushDone { summary },
        Err(e) => Action::PushDone {
            summary: format!("push failed: {}", crate::text::one_line(&format!("{e:#}"))),
        },
    }
}

/// One status line in the words of `sift push`: resumed pushes first (their failures, skips
/// and a refused token included), then the new one.
pub(crate) fn push_summary(
    resumed: &[crate::github::push::PushReport],
    report: Option<&crate::github::push::PushReport>,
) -> String {
    let mut parts: Vec<String> =
        resumed.iter().map(|r| crate::github::report_line("resumed push", r)).collect();
    if let Some(r) = report {
        let mut line = crate::github::report_line("push", r);
        if r.stopped.is_none() && r.done > 0 {
            let id = r.push_id.as_deref().unwrap_or("-");
            line.push_str(&format!(" — undo with `sift push --revert {id}`"));
        }
        parts.push(line);
    }
    if parts.is_empty() {
        return "nothing to push".to_string();
    }
    parts.join("; ").replace("\n  ", "; ")
}

/// The sample reports of the recent weeks, for the sample view.
fn sample(ws: &Workspace, store: &Store) -> Msg {
    match sample_reports(ws, store) {
        Ok(r) => Msg::Sample(Box::new(r)),
        Err(e) => Msg::Action(Action::Failed { error: format!("sample: {e}") }),
    }
}

pub(crate) fn sample_reports(
    ws: &Workspace,
    store: &Store,
) -> anyhow::Result<Vec<crate::dataset::sample::WeekReport>> {
    use crate::dataset::sample::{SampleSource, Scope, report};
    let last = crate::metrics::sampling::last_complete_week(jiff::Timestamp::now())?;
    let mut weeks = last.weeks_before(super::sample::TREND_WEEKS - 1)?;
    weeks.push(last);
    let source = SampleSource::new(store, Scope::default())?;
    let records = store.annotation_records(None)?;
    let s = &ws.settings.sample;
    Ok(report(&source, &weeks, s.size, &ws.id(), &records, s.target_accuracy)?)
}

fn stats(
    ws: &Workspace,
    store: &Store,
    labels: &crate::taxonomy::LabelsFile,
    dataset: &str,
) -> Msg {
    let tax = match labels.get(ws.settings.taxonomy_for(dataset)) {
        Ok(t) => t,
        Err(e) => return Msg::Action(Action::Failed { error: e.to_string() }),
    };
    match StatsView::compute(store, tax, dataset) {
        Ok(v) => Msg::Stats(Box::new(v)),
        Err(e) => Msg::Action(Action::Failed { error: e.to_string() }),
    }
}

/// Run one effect; returns the action that reports its outcome.
pub fn run_effect(ws: &Workspace, store: &mut Store, effect: Effect) -> Option<Action> {
    match effect {
        Effect::LoadItem { req, key } => Some(load(store, req, key)),
        Effect::Save { req, dataset, annotation, undo } => {
            Some(save(ws, store, req, &dataset, *annotation, undo))
        }
        Effect::OpenUrl { url } => Some(open_url(&url)),
        Effect::Quit
        | Effect::Copy { .. }
        | Effect::PlanPush { .. }
        | Effect::Push { .. }
        | Effect::Suggest { .. }
        | Effect::ListRuns
        | Effect::CompareRuns { .. } => None,
    }
}

/// An undo records the earlier answer again, note included. The screen knows the note only
/// of items it loaded (a visual save covers items never opened), so a note it left empty is
/// taken from the annotator's latest earlier record with the same labels, before the one
/// being undone.
fn with_earlier_note(store: &Store, mut a: crate::model::Annotation) -> crate::model::Annotation {
    if a.retracted || !a.note.is_empty() {
        return a;
    }
    let Ok(rows) = store.item_annotations(&a.item) else { return a };
    let mine: Vec<_> = rows
        .iter()
        .map(|r| &r.annotation)
        .filter(|r| r.annotator == a.annotator && r.mode != crate::model::Mode::Adjudication)
        .collect();
    let want = crate::metrics::gold::label_set(&a.labels);
    let earlier = mine.split_last().map(|(_, before)| before).unwrap_or(&[]);
    if let Some(r) = earlier
        .iter()
        .rev()
        .find(|r| !r.retracted && crate::metrics::gold::label_set(&r.labels) == want)
    {
        a.note = r.note.clone();
    }
    a
}

/// Hand a web address to the system's opener (`open` on macOS, `xdg-open` elsewhere), as
/// one argument: no shell sees it.
fn open_url(url: &str) -> Action {
    let opener = if cfg!(target_os = "macos") { "open" } else { "xdg-open" };
    let spawned = std::process::Command::new(opener)
        .arg(url)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn();
    match spawned {
        Ok(mut child) => {
            // Reaped when the opener exits, so no zombie is left behind.
            std::thread::spawn(move || child.wait());
            Action::SuggestDone { summary: format!("opened {url}") }
        }
        Err(e) => Action::Failed { error: format!("cannot open the browser ({opener}): {e}") },
    }
}

/// Append the record to the log (flushed), then replay it into the store. Once the record is
/// in the log it is saved, whatever the store does next: a store that cannot take it (a full
/// disk, say) is reported as behind, and the next start replays the log into it.
fn save(
    ws: &Workspace,
    store: &mut Store,
    req: u64,
    dataset: &str,
    annotation: crate::model::Annotation,
    undo: bool,
) -> Action {
    // An import running beside the review steps aside until this save is done.
    let _turn = store.announce_save();
    let key = annotation.item.clone();
    let labels = annotation.labels.clone();
    let retracted = annotation.retracted;
    let annotation = if undo { with_earlier_note(store, annotation) } else { annotation };
    let log = match log::append(ws, dataset, &annotation) {
        Ok(path) => path,
        Err(e) => {
            let error = format!("{e} (nothing was added to the annotations log)");
            return Action::SaveFailed { req, key, error };
        }
    };
    let replayed =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| log::replay(ws, store)));
    let behind = match replayed {
        Ok(Ok(_)) => None,
        Ok(Err(e)) => Some(e.to_string()),
        Err(p) => Some(format!("internal error: {}", crate::panic_message(&*p))),
    }
    .map(|why| {
        format!(
            "in {} but not yet in the store ({}); sift replays it when it next opens",
            log.display(),
            crate::text::one_line(&why)
        )
    });
    if undo {
        return Action::Undone { req, key, labels: (!retracted).then_some(labels), behind };
    }
    // Whether this answer leaves the item in dispute, so the adjudication queue stays true.
    let disputed = store
        .item_annotations(&key)
        .ok()
        .and_then(|rows| crate::metrics::gold::item_answers(&rows))
        .map(|i| crate::metrics::gold::is_disagreement(&i));
    Action::Saved { req, key, labels, behind, disputed }
}

fn load(store: &Store, req: u64, key: String) -> Action {
    let item = match store.item(&key) {
        Ok(i) => i.map(clean_item),
        Err(e) => return Action::Failed { error: e.to_string() },
    };
    let suggestion = match store.latest_suggestion(&key) {
        Ok(s) => s.map(clean_suggestion).map(Box::new),
        Err(e) => return Action::Failed { error: e.to_string() },
    };
    let (answers, notes) = match store.item_annotations(&key) {
        Ok(rows) => current_answers(rows),
        Err(e) => return Action::Failed { error: e.to_string() },
    };
    // Similar items are a hint: if the index cannot answer, the item still opens.
    let similar = crate::similar::similar(store, &key, 5)
        .unwrap_or_default()
        .into_iter()
        .map(|mut s| {
            s.title = crate::text::one_line(&s.title);
            s.labels = s.labels.iter().map(|l| crate::text::one_line(l)).collect();
            s
        })
        .collect();
    Action::ItemLoaded { req, key, item: Box::new(item), suggestion, answers, similar, notes }
}

/// Each annotator's latest answer from an item's records, adjudications and retractions aside.
/// Answers and notes of an item, by annotator.
type CurrentAnswers = (Vec<(String, Vec<String>)>, std::collections::BTreeMap<String, String>);

fn current_answers(rows: Vec<crate::store::AnswerRow>) -> CurrentAnswers {
    let mut latest: std::collections::BTreeMap<String, Option<(Vec<String>, String)>> =
        Default::default();
    for r in rows.into_iter().filter(|r| r.annotation.mode != crate::model::Mode::Adjudication) {
        let a = r.annotation;
        let labels = a.labels.iter().map(|l| crate::text::one_line(l)).collect();
        latest.insert(
            crate::text::one_line(&a.annotator),
            (!a.retracted).then_some((labels, a.note)),
        );
    }
    let mut answers = Vec::new();
    let mut notes = std::collections::BTreeMap::new();
    for (who, answer) in latest {
        if let Some((labels, note)) = answer {
            notes.insert(who.clone(), note);
            answers.push((who, labels));
        }
    }
    (answers, notes)
}

/// Untrusted text is made safe once, here, so every render is cheap and clean.
pub fn clean_item(mut i: Item) -> Item {
    i.title = crate::text::one_line(&i.title);
    i.body = sanitize(&i.body);
    for v in [&mut i.repo, &mut i.state, &mut i.author, &mut i.created_at].into_iter().flatten() {
        *v = crate::text::one_line(v);
    }
    i.source_labels = i.source_labels.iter().map(|l| crate::text::one_line(l)).collect();
    i.turns = i.turns.into_iter().map(clean_turn).collect();
    i.comments = i.comments.into_iter().map(clean_comment).collect();
    i
}

fn clean_turn(mut t: Turn) -> Turn {
    t.role = crate::text::one_line(&t.role);
    t.content = sanitize(&t.content);
    for c in &mut t.tool_calls {
        c.name = crate::text::one_line(&c.name);
        c.arguments = crate::text::one_line(&c.arguments);
    }
    t
}

fn clean_comment(mut c: Comment) -> Comment {
    c.author = crate::text::one_line(&c.author);
    c.author_association = crate::text::one_line(&c.author_association);
    c.body = sanitize(&c.body);
    c
}

fn clean_suggestion(mut s: SuggestionRow) -> SuggestionRow {
    s.suggestion.rationale = crate::text::one_line(&s.suggestion.rationale);
    for l in &mut s.suggestion.labels {
        l.name = crate::text::one_line(&l.name);
    }
    s.model = crate::text::one_line(&s.model);
    s.provider = crate::text::one_line(&s.provider);
    s.prompt_version = crate::text::one_line(&s.prompt_version);
    s
}
