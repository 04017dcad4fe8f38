//! GitHub: auth commands, pull, push (plan, journal, apply, resume, revert), the audit comment
//! block, comment commands and label sync. The command bodies live here; cli.rs only routes.

pub mod audit;
pub mod auth;
pub mod client;
pub mod commands;
pub mod labels;
pub mod plan;
pub mod pull;
pub mod push;

use std::collections::HashMap;
use std::process::ExitCode;

use anyhow::{Context as _, Result, bail};
use serde::Serialize;

pub use auth::{AuthCommand, cmd_auth};
pub use client::{Client, GithubError, Pacing, RepoSlug};
pub use plan::{
    PendingPush, PlanEntry, PlanInputs, PushMode, PushPlan, plan_push, render_pending, render_plan,
};
pub use pull::{IssueState, PullOptions, PullSummary, pull};
pub use push::{AbandonReport, PushProgress, PushReport, journal_plan, run_push};

use crate::app::Context;
use crate::model::LabelScore;
use crate::secrets::{self, Service};

#[derive(Debug, clap::Args)]
pub struct PullArgs {
    /// The repository, OWNER/REPO.
    pub repo: String,
    #[arg(long, value_enum, default_value = "open")]
    pub state: IssueState,
    /// Only issues updated since DATE (default: since the last pull).
    #[arg(long, value_name = "DATE")]
    pub since: Option<String>,
    /// GitHub API base URL (GitHub Enterprise: https://HOST/api/v3).
    #[arg(long, value_name = "URL")]
    pub api_url: Option<String>,
    /// Print one JSON document (the pull summary).
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, clap::Args)]
pub struct PushArgs {
    /// The repository, OWNER/REPO.
    #[arg(required_unless_present_any = ["revert", "abandon"])]
    pub repo: Option<String>,
    /// comment: post one recommendation comment per issue; apply: add the labels.
    #[arg(long, value_enum, default_value = "comment")]
    pub mode: PushMode,
    /// Also push suggestions with confidence at or above X (default: gold labels only).
    #[arg(long, value_name = "X")]
    pub threshold: Option<f64>,
    /// Print the plan and send nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Remove the labels push PUSH_ID added, where they are still present.
    #[arg(long, value_name = "PUSH_ID", conflicts_with_all = ["threshold", "dry_run"])]
    pub revert: Option<String>,
    /// Drop the unfinished push PUSH_ID (see --dry-run): what it has not sent is never sent.
    /// Recorded in the journal; nothing goes to GitHub.
    #[arg(long, value_name = "PUSH_ID", conflicts_with_all = ["threshold", "dry_run", "revert"])]
    pub abandon: Option<String>,
    /// GitHub API base URL (GitHub Enterprise: https://HOST/api/v3).
    #[arg(long, value_name = "URL")]
    pub api_url: Option<String>,
    /// Print one JSON document (plan, resumed pushes, report).
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, clap::Subcommand)]
pub enum LabelsCommand {
    /// Make the repository's labels match labels.yml (plan first; --apply sends it).
    Sync {
        /// The repository, OWNER/REPO.
        repo: String,
        /// Send the plan (without it nothing is sent).
        #[arg(long)]
        apply: bool,
        /// Delete labels that labels.yml marks deprecated.
        #[arg(long)]
        prune: bool,
        /// Taxonomy to sync (default: the repo's dataset taxonomy, else `issues`).
        #[arg(long)]
        taxonomy: Option<String>,
        /// GitHub API base URL (GitHub Enterprise: https://HOST/api/v3).
        #[arg(long, value_name = "URL")]
        api_url: Option<String>,
        /// Print one JSON document (the plan and what was sent).
        #[arg(long)]
        json: bool,
    },
}

pub fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// A client for the settings' (or --api-url's) API with the GitHub token. An API host that
/// only the workspace sift.toml names is refused before the token is even looked up.
pub fn client_for(ctx: &Context, api_url: Option<&str>) -> Result<Client> {
    let gs = &ctx.ws.settings.github;
    let api = match (api_url, &gs.untrusted_api_url) {
        (Some(cli), _) => cli,
        (None, Some(file)) => {
            let user_config = crate::workspace::user_config_path()
                .map(|p| p.display().to_string())
                .unwrap_or_else(|| "config.toml".into());
            return Err(GithubError::UntrustedApiUrl {
                file: file.clone(),
                url: gs.api_url.clone(),
                user_config,
            }
            .into());
        }
        (None, None) => &gs.api_url,
    };
    let token = secrets::lookup(Service::Github).ok_or(GithubError::NoToken)?;
    Ok(Client::new(api, token, Pacing::from_settings(gs))?)
}

/// Wait for `fut`, or stop at Ctrl-C (the push journal keeps what was sent).
async fn until_ctrl_c<T>(fut: impl std::future::Future<Output = T>) -> Result<T> {
    tokio::select! {
        v = fut => Ok(v),
        _ = tokio::signal::ctrl_c() => bail!("interrupted; the journal keeps what was sent — run the same command to resume"),
    }
}

/// Pull a repository's issues into the store and record it in `sources/<dataset>.jsonl`
/// (with `record`; a rebuild replays a recorded pull without recording it again).
pub fn pull_repo(
    ctx: &mut Context,
    repo: &str,
    state: IssueState,
    since: Option<&str>,
    api_url: Option<&str>,
    record: bool,
) -> Result<PullSummary> {
    let repo = RepoSlug::parse(repo)?;
    let since = since.map(pull::normalize_since).transpose().map_err(anyhow::Error::msg)?;
    let dataset = pull::dataset_for(&ctx.ws.settings, &repo);
    let opts = PullOptions { dataset: dataset.clone(), repo, state, since };
    let mut client = client_for(ctx, api_url)?;
    let rt = runtime()?;
    let summary = rt.block_on(until_ctrl_c(pull::pull(&mut ctx.store, &mut client, &opts)))?;
    let summary = summary.map_err(|e| {
        let hint = pull::explain(&e);
        let e = anyhow::Error::from(e);
        match hint {
            Some(h) => e.context(h),
            None => e,
        }
    })?;
    if record {
        let source = crate::workspace::sources::Source::Github {
            repo: opts.repo.full(),
            api_url: api_url.map(str::to_string),
            state: state.as_str().to_string(),
            at: crate::model::now_rfc3339(),
        };
        crate::workspace::sources::record(&ctx.ws, &dataset, &source)
            .context("recording the pull in sources/")?;
    }
    // Keep the similarity index in step; an unchanged pull writes nothing, here too.
    if summary.inserted + summary.updated > 0 {
        crate::similar::refresh_index(ctx).context("updating the similarity index")?;
    }
    Ok(summary)
}

pub fn cmd_pull(ctx: &mut Context, args: PullArgs) -> Result<ExitCode> {
    let since = args.since.as_deref();
    let summary = pull_repo(ctx, &args.repo, args.state, since, args.api_url.as_deref(), true)?;
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        outln!(
            "{}: {} issues into dataset {} ({} new, {} updated, {} unchanged), {} comments; \
             {} pages ({} not modified), {} pull requests skipped",
            summary.repo,
            summary.issues,
            summary.dataset,
            summary.inserted,
            summary.updated,
            summary.unchanged,
            summary.comments,
            summary.pages,
            summary.pages_not_modified,
            summary.pull_requests_skipped
        );
        if summary.label_off + summary.label_auto + summary.commands_ignored > 0 {
            outln!(
                "comment commands: {} issue(s) /label off, {} /label auto, {} ignored (unauthorised)",
                summary.label_off,
                summary.label_auto,
                summary.commands_ignored
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(Serialize, Default)]
struct PushJson<'a> {
    plan: Option<&'a PushPlan>,
    dry_run: bool,
    resumed: Vec<PushReport>,
    report: Option<PushReport>,
    #[serde(skip_serializing_if = "Option::is_none")]
    abandoned: Option<AbandonReport>,
}

/// Everything from the store the planner needs for a repo.
pub fn plan_for_repo(
    ctx: &Context,
    repo: &RepoSlug,
    mode: PushMode,
    threshold: Option<f64>,
    last_comments: &HashMap<String, audit::CommentData>,
) -> Result<PushPlan> {
    let dataset = pull::dataset_for(&ctx.ws.settings, repo);
    let tax = ctx.labels.get(ctx.ws.settings.taxonomy_for(&dataset))?;
    let issues = ctx.store.repo_issues(&repo.full())?;
    if issues.is_empty() {
        bail!("no issues of {} in the store: run `sift pull {}` first", repo.full(), repo.full());
    }
    let gold = crate::metrics::gold::gold_labels_from_store(&ctx.store, None)?;
    let mut suggestions: HashMap<String, Vec<LabelScore>> = HashMap::new();
    if threshold.is_some() {
        for i in &issues {
            if let Some(row) = ctx.store.latest_suggestion(&i.key)?
                && !row.suggestion.abstained
            {
                suggestions.insert(i.key.clone(), row.suggestion.labels);
            }
        }
    }
    let pushed = ctx.store.pushed_labels(&repo.full(), None)?;
    let inputs = PlanInputs {
        repo: &repo.full(),
        mode,
        taxonomy: tax,
        issues: &issues,
        gold: &gold,
        suggestions: &suggestions,
        threshold,
        pushed: &pushed,
        last_comments,
    };
    let mut plan = plan_push(&inputs);
    plan.unfinished = push::pending_pushes(&ctx.store, &repo.full())?;
    Ok(plan)
}

fn progress_line(p: &PushProgress) {
    let err =
        p.error.as_deref().map(|e| format!(": {}", crate::text::one_line(e))).unwrap_or_default();
    let note =
        p.note.as_deref().map(|n| format!(" ({})", crate::text::one_line(n))).unwrap_or_default();
    eprintln!("[{}/{}] {} {} {}{note}{err}", p.done, p.total, p.op, p.key, p.outcome);
}

/// What to push where.
pub struct PushRequest<'a> {
    pub repo: &'a RepoSlug,
    pub mode: PushMode,
    pub threshold: Option<f64>,
    pub api_url: Option<&'a str>,
}

/// One repository's push, shared by `sift push` and the TUI's push view: finish interrupted
/// pushes (those `--dry-run` lists; an interrupted push of the other mode stops everything
/// before a request), plan (shown through `on_plan` before anything is sent), journal, send
/// with progress.
pub fn push_repo(
    ctx: &mut Context,
    rt: &tokio::runtime::Runtime,
    req: &PushRequest,
    on_plan: &mut dyn FnMut(&PushPlan),
    progress: &mut dyn FnMut(&PushProgress),
) -> Result<(Option<PushPlan>, Vec<push::PushReport>, Option<push::PushReport>)> {
    let repo = req.repo;
    // A push of one mode must not send another mode's leftovers: comments wanted, labels
    // added. The user finishes or drops them explicitly.
    if let Some(p) = push::pending_pushes(&ctx.store, &repo.full())?
        .into_iter()
        .find(|p| !p.resumed_by(req.mode))
    {
        bail!(
            "push {} ({}) of {} did not finish and has {} op(s) left, which a {} push does not \
             send: finish it with `sift push {} --mode {}`, or drop it with `sift push --abandon {}` \
             (`--dry-run` lists them)",
            p.id,
            p.mode,
            repo.full(),
            p.ops.len(),
            req.mode.as_str(),
            repo.full(),
            p.mode,
            p.id
        );
    }
    let mut client = client_for(ctx, req.api_url)?;
    let mut login = None;
    let resumed = rt.block_on(until_ctrl_c(push::resume_unfinished(
        &mut ctx.store,
        &mut client,
        &repo.full(),
        &mut login,
        progress,
    )))??;
    if resumed.iter().any(|r| r.stopped.is_some()) {
        // GitHub refused the token: nothing more is planned or sent.
        return Ok((None, resumed, None));
    }
    let known = match req.mode {
        PushMode::Comment => {
            rt.block_on(push::known_comments(&ctx.store, &mut client, &mut login, &repo.full()))?
        }
        PushMode::Apply => HashMap::new(),
    };
    let last: HashMap<_, _> = known.iter().map(|(k, (_, d))| (k.clone(), d.clone())).collect();
    let plan = plan_for_repo(ctx, repo, req.mode, req.threshold, &last)?;
    on_plan(&plan);
    let report = match journal_plan(&mut ctx.store, &plan, &known)? {
        Some(id) => Some(rt.block_on(until_ctrl_c(run_push(
            &mut ctx.store,
            &mut client,
            &id,
            &mut login,
            progress,
        )))??),
        None => None,
    };
    Ok((Some(plan), resumed, report))
}

/// The plan `sift push --dry-run` shows, for the TUI: nothing is sent.
pub fn dry_plan(
    ctx: &Context,
    repo: &RepoSlug,
    mode: PushMode,
    threshold: Option<f64>,
) -> Result<PushPlan> {
    let last: HashMap<_, _> = push::journaled_comments(&ctx.store, &repo.full())?
        .into_iter()
        .map(|(k, (_, d))| (k, d))
        .collect();
    plan_for_repo(ctx, repo, mode, threshold, &last)
}

pub fn cmd_push(ctx: &mut Context, args: PushArgs) -> Result<ExitCode> {
    if let Some(t) = args.threshold
        && !(0.0..=1.0).contains(&t)
    {
        bail!("--threshold {t}: give a confidence between 0 and 1");
    }
    let rt = runtime()?;
    if let Some(id) = &args.abandon {
        return cmd_abandon(ctx, id, args.repo.as_deref(), args.json);
    }
    if let Some(id) = &args.revert {
        return cmd_revert(ctx, &rt, id, args.api_url.as_deref(), args.json);
    }
    let Some(repo) = args.repo.as_deref() else {
        bail!("give OWNER/REPO, --revert PUSH_ID or --abandon PUSH_ID")
    };
    let repo = RepoSlug::parse(repo)?;
    if args.dry_run {
        let plan = dry_plan(ctx, &repo, args.mode, args.threshold)?;
        print_plan(&plan, args.json, true, Vec::new(), None)?;
        return Ok(ExitCode::SUCCESS);
    }
    let json = args.json;
    if !json {
        // Shown for the record before they are sent, like the plan.
        let pending = push::pending_pushes(&ctx.store, &repo.full())?;
        out!("{}", render_pending(&repo.full(), args.mode, &pending));
    }
    let mut show_plan = |plan: &PushPlan| {
        if !json {
            // The plan is shown for the record before sending; if nobody reads stdout any more
            // the push still runs, and its outcome is in the journal (`sift push --revert`).
            use std::io::Write as _;
            let _ = write!(crate::stdout(), "{}", render_plan(plan));
        }
    };
    let opts = PushRequest {
        repo: &repo,
        mode: args.mode,
        threshold: args.threshold,
        api_url: args.api_url.as_deref(),
    };
    let (plan, resumed, report) = push_repo(ctx, &rt, &opts, &mut show_plan, &mut progress_line)?;
    // A failure in a resumed push is a failure of this command too.
    let failed = resumed.iter().chain(&report).any(|r| r.failed > 0);
    let code = if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS };
    if args.json {
        let doc =
            PushJson { plan: plan.as_ref(), dry_run: false, resumed, report, abandoned: None };
        outln!("{}", serde_json::to_string_pretty(&doc)?);
        return Ok(code);
    }
    for r in &resumed {
        outln!("{}", report_line("resumed push", r));
    }
    if let Some(r) = &report {
        outln!("{}", report_line("push", r));
        outln!("undo with: sift push --revert {}", r.push_id.as_deref().unwrap_or("-"));
    } else if plan.is_some() {
        outln!("nothing to push");
    }
    Ok(code)
}

fn print_plan(
    plan: &PushPlan,
    json: bool,
    dry_run: bool,
    resumed: Vec<PushReport>,
    report: Option<PushReport>,
) -> Result<()> {
    if json {
        let doc = PushJson { plan: Some(plan), dry_run, resumed, report, abandoned: None };
        outln!("{}", serde_json::to_string_pretty(&doc)?);
    } else {
        out!("{}", render_plan(plan));
        if dry_run {
            outln!("dry run: nothing sent");
        }
    }
    Ok(())
}

/// One line for a finished (or resumed) push.
pub(crate) fn report_line(what: &str, r: &PushReport) -> String {
    let mut line = format!(
        "{what} {}: {} done, {} failed",
        r.push_id.as_deref().unwrap_or("-"),
        r.done,
        r.failed
    );
    if r.already > 0 {
        line.push_str(&format!(", {} already on GitHub", r.already));
    }
    if r.skipped > 0 {
        line.push_str(&format!(", {} skipped", r.skipped));
    }
    for s in &r.skips {
        line.push_str(&format!("\n  skipped {}", crate::text::one_line(s)));
    }
    if let Some(s) = &r.stopped {
        line.push_str(&format!(
            "\n  stopped: {}; check the token (`sift auth status`) and push again",
            crate::text::one_line(s)
        ));
    }
    line
}

fn cmd_abandon(
    ctx: &mut Context,
    push_id: &str,
    repo: Option<&str>,
    json: bool,
) -> Result<ExitCode> {
    if let (Some(repo), Some(push)) = (repo, ctx.store.push_record(push_id)?) {
        let repo = RepoSlug::parse(repo)?;
        if push.repo != repo.full() {
            bail!("push {push_id} is a push of {}, not of {}", push.repo, repo.full());
        }
    }
    let r = push::abandon(&mut ctx.store, push_id)?;
    for m in &r.maybe_sent {
        eprintln!(
            "warning: {} was being sent when push {push_id} stopped; it may have reached GitHub, \
             and sift no longer tracks it",
            crate::text::one_line(m)
        );
    }
    if json {
        let doc = PushJson { abandoned: Some(r), ..Default::default() };
        outln!("{}", serde_json::to_string_pretty(&doc)?);
    } else {
        outln!(
            "push {} of {} abandoned: {} op(s) will not be sent; nothing was sent to GitHub",
            r.push_id,
            r.repo,
            r.dropped
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn cmd_revert(
    ctx: &mut Context,
    rt: &tokio::runtime::Runtime,
    push_id: &str,
    api_url: Option<&str>,
    json: bool,
) -> Result<ExitCode> {
    let mut client = client_for(ctx, api_url)?;
    let mut login = None;
    let mut progress = progress_line;
    let Some((id, _repo)) = push::journal_revert(&mut ctx.store, push_id)? else {
        if json {
            let doc = PushJson::default();
            outln!("{}", serde_json::to_string_pretty(&doc)?);
        } else {
            outln!("push {push_id} added no labels that are still recorded; nothing to revert");
        }
        return Ok(ExitCode::SUCCESS);
    };
    let report = rt.block_on(until_ctrl_c(run_push(
        &mut ctx.store,
        &mut client,
        &id,
        &mut login,
        &mut progress,
    )))??;
    let failed = report.failed > 0;
    if json {
        let doc = PushJson { report: Some(report), ..Default::default() };
        outln!("{}", serde_json::to_string_pretty(&doc)?);
    } else {
        outln!(
            "revert {id} of {push_id}: {} label op(s) done ({} already gone), {} failed",
            report.done,
            report.already,
            report.failed
        );
        if let Some(s) = &report.stopped {
            outln!("stopped: {}; check the token (`sift auth status`)", crate::text::one_line(s));
        }
    }
    Ok(if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}

#[derive(Serialize)]
struct LabelsJson<'a> {
    repo: String,
    taxonomy: String,
    plan: &'a labels::LabelPlan,
    applied: bool,
    sent: usize,
}

pub fn cmd_labels(ctx: &mut Context, cmd: LabelsCommand) -> Result<ExitCode> {
    let LabelsCommand::Sync { repo, apply, prune, taxonomy, api_url, json } = cmd;
    let repo = RepoSlug::parse(&repo)?;
    let tax_name = taxonomy.unwrap_or_else(|| {
        let dataset = pull::dataset_for(&ctx.ws.settings, &repo);
        ctx.ws.settings.taxonomy_for(&dataset).to_string()
    });
    let tax = ctx.labels.get(&tax_name)?.clone();
    let mut client = client_for(ctx, api_url.as_deref())?;
    let rt = runtime()?;
    let current = rt.block_on(labels::repo_labels(&mut client, &repo))?;
    let plan = labels::plan_labels(&tax, &current, prune);
    if !json {
        out!("{}", labels::render_label_plan(&repo.full(), &plan));
    }
    if apply && !plan.problems.is_empty() {
        if json {
            let doc = LabelsJson {
                repo: repo.full(),
                taxonomy: tax_name,
                plan: &plan,
                applied: false,
                sent: 0,
            };
            outln!("{}", serde_json::to_string_pretty(&doc)?);
        }
        bail!(
            "labels.yml has {} problem(s) GitHub would refuse; nothing sent",
            plan.problems.len()
        );
    }
    let sent = if apply {
        rt.block_on(until_ctrl_c(labels::apply_labels(&mut client, &repo, &plan)))??
    } else {
        0
    };
    if json {
        let doc =
            LabelsJson { repo: repo.full(), taxonomy: tax_name, plan: &plan, applied: apply, sent };
        outln!("{}", serde_json::to_string_pretty(&doc)?);
    } else if apply {
        outln!("sent {sent} change(s)");
    } else if !plan.ops.is_empty() {
        outln!("plan only: run again with --apply to send it");
    }
    Ok(ExitCode::SUCCESS)
}
