//! Command-line bodies of `sift suggest` and `sift runs ...` (clap argument types included).

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context as _, Result};
use clap::{Args, Subcommand, ValueEnum};

use super::prompt::NoExamples;
use super::runner::{self, RunOptions, RunReport};
use super::runs;
use crate::app::Context;
use crate::model::{Run, RunState};
use crate::text::one_line;

/// `sift suggest` options; unset ones come from sift.toml's [suggest].
#[derive(Debug, Args)]
pub struct SuggestArgs {
    /// anthropic, openai, local or keywords.
    #[arg(long)]
    pub provider: Option<String>,
    #[arg(long)]
    pub model: Option<String>,
    /// Base URL of the provider's API (OpenAI-compatible servers: LiteLLM, vLLM, Ollama, llama.cpp).
    #[arg(long, value_name = "URL")]
    pub base_url: Option<String>,
    /// Ask for at most N items.
    #[arg(long, value_name = "N")]
    pub limit: Option<usize>,
    /// Requests in flight at once (default 8).
    #[arg(long, value_name = "N", value_parser = at_least_one)]
    pub concurrency: Option<usize>,
    #[arg(long, value_name = "D")]
    pub dataset: Option<String>,
    /// Name of the run; re-running with the same name resumes it.
    #[arg(long)]
    pub name: Option<String>,
    /// Per-request timeout in seconds.
    #[arg(long, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..))]
    pub timeout: Option<u64>,
    /// Retries on 429, 5xx and timeouts (default 3).
    #[arg(long, value_name = "N")]
    pub retries: Option<u32>,
    /// Base delay of the exponential backoff between retries.
    #[arg(long, value_name = "MS", default_value_t = 500)]
    pub retry_base_ms: u64,
    /// Daily token budget (all runs of the day); 0 for none.
    #[arg(long, value_name = "TOKENS")]
    pub budget: Option<u64>,
    /// Few-shot examples per item: the N most similar gold-labeled items (0 for none).
    #[arg(long, value_name = "N")]
    pub few_shot: Option<usize>,
    /// Re-ask low-confidence items at a higher temperature.
    #[arg(long)]
    pub arbitration: bool,
    /// Ask through the provider's batch API (anthropic, openai): half the price, answered
    /// within 24 hours. The wait can be left and picked up with `sift runs poll RUN`.
    #[arg(long)]
    pub batch: bool,
    /// Seconds between two status requests while waiting for batches.
    #[arg(long, value_name = "SECS", default_value_t = 30.0, value_parser = positive_secs)]
    pub poll_interval: f64,
    /// Most requests per batch (within the provider's own limit).
    #[arg(long, value_name = "N", default_value_t = 5000, value_parser = at_least_one)]
    pub batch_size: usize,
    /// Make this run an arm of an experiment: two runs over the same items, compared in
    /// `sift runs compare` with paired statistics.
    #[arg(long, value_name = "NAME", requires = "arm")]
    pub experiment: Option<String>,
    #[arg(long, requires = "experiment")]
    pub arm: Option<ArmArg>,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ArmArg {
    Control,
    Treatment,
}

/// A number of seconds above 0.
pub fn positive_secs(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(x) if x.is_finite() && x > 0.0 && x <= 86_400.0 => Ok(x),
        Ok(_) => Err("must be above 0 and at most a day (86400)".into()),
        Err(e) => Err(e.to_string()),
    }
}

/// A count that must be at least 1.
pub fn at_least_one(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(0) => Err("must be at least 1".into()),
        Ok(n) => Ok(n),
        Err(e) => Err(e.to_string()),
    }
}

/// `sift train` options.
#[derive(Debug, Args)]
pub struct TrainArgs {
    /// Train on this dataset's gold labels (default: every dataset using the default taxonomy).
    #[arg(long, value_name = "D")]
    pub dataset: Option<String>,
    /// First cross-validate with K folds and report macro-F1 and calibration on held-out gold.
    #[arg(long, value_name = "K", value_parser = clap::value_parser!(u16).range(2..=100))]
    pub cv: Option<u16>,
    #[arg(long)]
    pub json: bool,
}

/// `sift runs ...`.
#[derive(Debug, Subcommand)]
pub enum RunsCommand {
    /// List runs, newest first (archived ones with --all).
    List {
        /// Archived runs too.
        #[arg(long)]
        all: bool,
        #[arg(long)]
        json: bool,
    },
    /// Show one run: its record and the prompt bundle it used.
    Show {
        run: String,
        #[arg(long)]
        json: bool,
    },
    /// Compare two runs (flipped items, per-label kappa, F1 against gold, prompt diff), or
    /// several: a per-dimension agreement matrix, and accuracy against --reference.
    Compare {
        #[arg(num_args = 2.., required = true, value_name = "RUN")]
        runs: Vec<String>,
        /// A run taken as gold (a strong model's): every other run's accuracy against it.
        #[arg(long, value_name = "RUN")]
        reference: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Write a run's suggestions as JSONL.
    Export {
        run: String,
        #[arg(long)]
        out: PathBuf,
    },
    /// Import suggestions made elsewhere (JSONL {"item", "labels": [{"name", "confidence"}]}).
    Import {
        file: PathBuf,
        #[arg(long)]
        name: String,
        #[arg(long)]
        json: bool,
    },
    /// Mark a run as baseline, experimental or archived.
    Mark {
        run: String,
        #[arg(long)]
        state: StateArg,
    },
    /// Tie two runs over the same items into an experiment: A the control, B the treatment.
    Pair {
        a: String,
        b: String,
        #[arg(long, value_name = "NAME")]
        experiment: String,
    },
    /// Make a run the baseline of its taxonomy, when it beats the current one on shared gold.
    Promote {
        run: String,
        /// Promote even when it does not beat the baseline (recorded as forced).
        #[arg(long)]
        force: bool,
        #[arg(long)]
        json: bool,
    },
    /// Archive and delete runs by policy; baseline runs only with --force.
    Cleanup {
        /// Keep this many newest experimental runs; archive older ones.
        #[arg(long, value_name = "N")]
        keep_experimental: Option<usize>,
        /// Archive runs that ended longer ago than this (30d, 2w, 12h).
        #[arg(long, value_name = "AGE", default_value = "30d", value_parser = super::lifecycle::parse_age)]
        archive_after: jiff::SignedDuration,
        /// Delete runs archived longer ago than this.
        #[arg(long, value_name = "AGE", default_value = "90d", value_parser = super::lifecycle::parse_age)]
        delete_archived_after: jiff::SignedDuration,
        /// List what would change, change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Baseline runs follow the policy too.
        #[arg(long)]
        force: bool,
        #[arg(long)]
        json: bool,
    },
    /// Bring an archived run back to the state it had.
    Restore { run: String },
    /// Pick up a batch run (`suggest --batch`): submit what is left, wait for its batches,
    /// collect them, ask live what failed.
    Poll {
        run: String,
        /// The provider's address, when it is not the one in your settings.
        #[arg(long, value_name = "URL")]
        base_url: Option<String>,
        #[arg(long, value_name = "SECS", default_value_t = 30.0, value_parser = positive_secs)]
        poll_interval: f64,
        #[arg(long)]
        json: bool,
    },
    /// Cancel a batch run's open batches at the provider.
    Cancel {
        run: String,
        #[arg(long, value_name = "URL")]
        base_url: Option<String>,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum StateArg {
    Baseline,
    Experimental,
    Archived,
}

/// `sift suggest`.
pub fn suggest(ctx: &mut Context, a: &SuggestArgs) -> Result<ExitCode> {
    let mut opts = RunOptions::from_settings(&ctx.ws.settings.suggest);
    opts.choose(a.provider.as_deref(), a.model.as_deref(), a.base_url.as_deref());
    opts.limit = a.limit;
    opts.concurrency = a.concurrency.unwrap_or(opts.concurrency).max(1);
    opts.concurrency_given = a.concurrency.is_some();
    // Like every usage error of `sift suggest`, exit 2.
    if let Some(Err(e)) = a.dataset.as_deref().map(|d| ctx.require_dataset(d)) {
        eprintln!("error: {e}");
        return Ok(ExitCode::from(2));
    }
    opts.dataset = a.dataset.clone();
    opts.name = a.name.clone();
    if let Some(t) = a.timeout {
        opts.timeout = Duration::from_secs(t.max(1));
    }
    opts.retries = a.retries.unwrap_or(opts.retries);
    opts.backoff = Duration::from_millis(a.retry_base_ms);
    opts.daily_budget = a.budget.unwrap_or(opts.daily_budget);
    opts.arbitration |= a.arbitration;
    opts.few_shot = a.few_shot.unwrap_or(opts.few_shot);
    if a.batch {
        opts.batch = Some(runner::BatchOptions {
            poll_interval: Duration::from_secs_f64(a.poll_interval),
            max_requests: a.batch_size,
        });
    }
    opts.experiment = a.experiment.clone();
    opts.arm = a.arm.map(|x| match x {
        ArmArg::Control => "control".into(),
        ArmArg::Treatment => "treatment".into(),
    });
    opts.progress = true;
    run_and_report(ctx, &opts, a.json)
}

/// Run (or resume) the suggestions of `opts` until done or Ctrl-C, and print the report: exit
/// 0 when the run is done, 1 when it is not, 2 for a usage error.
fn run_and_report(ctx: &mut Context, opts: &RunOptions, json: bool) -> Result<ExitCode> {
    let similar = super::prompt::SimilarGold::open(&ctx.ws)?;
    let examples: &dyn super::prompt::ExampleSource =
        if opts.few_shot > 0 { &similar } else { &NoExamples };
    let rt = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    let stop = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    let result = rt.block_on(runner::run_suggestions(
        &ctx.ws,
        &ctx.labels,
        &mut ctx.store,
        opts,
        examples,
        stop,
    ));
    let report = match result {
        Err(e @ (runner::RunError::Usage(_) | runner::RunError::NameTaken { .. })) => {
            eprintln!("error: {}", one_line(&e.to_string()));
            return Ok(ExitCode::from(2));
        }
        other => other?,
    };
    print_report(&report, json)?;
    Ok(if report.run.status == "done" { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

fn print_report(r: &RunReport, json: bool) -> Result<()> {
    if json {
        let mut v = serde_json::to_value(r)?;
        if let Some(run) = v.get_mut("run").and_then(|x| x.as_object_mut()) {
            run.remove("bundle");
        }
        outln!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        let mut out = crate::stdout();
        let run = &r.run;
        writeln!(
            out,
            "run {}{} ({} / {}): {}",
            run.id,
            run.name.as_deref().map(|n| format!(" `{}`", one_line(n))).unwrap_or_default(),
            run.provider,
            one_line(&run.model),
            run.status
        )?;
        writeln!(
            out,
            "  {} suggested ({} cached, {} abstained), {} failed, {} already done, {} not asked",
            r.suggested, r.cached, r.abstained, r.failed, r.skipped, r.not_asked
        )?;
        for (p, n) in &r.providers {
            writeln!(out, "  {p:<10} {n}")?;
        }
        writeln!(
            out,
            "  tokens {} in / {} out (est. ${:.4}); today {} of {}; {} retries, {} labels dropped",
            run.tokens_in,
            run.tokens_out,
            run.cost_usd,
            r.budget_used,
            r.budget_limit,
            r.retries,
            r.dropped_labels
        )?;
        writeln!(out, "  monitor log {}", r.monitor_log.display())?;
    }
    match r.run.status.as_str() {
        "interrupted" | "budget_exhausted" => eprintln!(
            "{}: resume with `sift suggest --name {}`",
            r.run.status,
            one_line(r.run.name.as_deref().unwrap_or(&r.run.id))
        ),
        "failed" => eprintln!("every item failed; see {}", r.monitor_log.display()),
        _ if r.failed > 0 => {
            let what = crate::text::count(r.failed, "item", "items");
            eprintln!("{what} failed; see {}", r.monitor_log.display())
        }
        _ => {}
    }
    Ok(())
}

/// `sift runs ...`.
pub fn runs(ctx: &mut Context, cmd: &RunsCommand) -> Result<ExitCode> {
    match cmd {
        RunsCommand::List { all, json } => list(ctx, *all, *json),
        RunsCommand::Pair { a, b, experiment } => {
            let (ra, rb) = super::lifecycle::pair(&ctx.store, a, b, experiment)?;
            outln!("experiment `{}`: control {}, treatment {}", one_line(experiment), ra.id, rb.id);
            Ok(ExitCode::SUCCESS)
        }
        RunsCommand::Promote { run, force, json } => promote(ctx, run, *force, *json),
        RunsCommand::Cleanup {
            keep_experimental,
            archive_after,
            delete_archived_after,
            dry_run,
            force,
            json,
        } => {
            let policy = super::lifecycle::Policy {
                keep_experimental: *keep_experimental,
                archive_after: Some(*archive_after),
                delete_archived_after: Some(*delete_archived_after),
                force: *force,
            };
            cleanup(ctx, &policy, *dry_run, *json)
        }
        RunsCommand::Poll { run, base_url, poll_interval, json } => {
            poll(ctx, run, base_url.as_deref(), *poll_interval, *json)
        }
        RunsCommand::Cancel { run, base_url } => cancel(ctx, run, base_url.as_deref()),
        RunsCommand::Restore { run } => {
            let r = super::lifecycle::restore(&ctx.store, run)?;
            outln!("run {} restored ({})", r.id, format!("{:?}", r.state).to_lowercase());
            Ok(ExitCode::SUCCESS)
        }
        RunsCommand::Show { run, json } => show(ctx, run, *json),
        RunsCommand::Compare { runs, reference, json } => match (runs.as_slice(), reference) {
            ([a, b], None) => compare(ctx, a, b, *json),
            _ => compare_many(ctx, runs, reference.as_deref(), *json),
        },
        RunsCommand::Export { run, out } => {
            let n = runs::export_suggestions(&ctx.store, run, out)?;
            let what = crate::text::count(n, "suggestion", "suggestions");
            outln!("wrote {what} to {}", out.display());
            Ok(ExitCode::SUCCESS)
        }
        RunsCommand::Import { file, name, json } => {
            let r = runs::import_run(&ctx.ws, &ctx.labels, &mut ctx.store, file, name)?;
            for e in &r.errors {
                eprintln!("error: {}", one_line(e));
            }
            if *json {
                outln!("{}", serde_json::to_string_pretty(&r)?);
            } else {
                let dropped: usize = r.dropped_labels.values().sum();
                outln!(
                    "run {} `{}`: {} suggestions imported ({} abstained), {} unknown labels dropped, {} bad lines",
                    r.run,
                    one_line(&r.name),
                    r.imported,
                    r.abstained,
                    dropped,
                    r.errors.len()
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        RunsCommand::Mark { run, state } => {
            let state = match state {
                StateArg::Baseline => RunState::Baseline,
                StateArg::Experimental => RunState::Experimental,
                StateArg::Archived => RunState::Archived,
            };
            // Archiving records when, so retention counts from then.
            let r = match state {
                RunState::Archived => super::lifecycle::archive(&ctx.store, run)?,
                _ => runs::mark(&ctx.store, run, state)?,
            };
            outln!("run {} is now {:?}", r.id, r.state);
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// The options a batch run was started with, for `runs poll` and `runs cancel`: its
/// provider, model and scope from its record; the base URL from the settings or the command
/// line only (a run's record may come from someone else's repository: it never decides
/// where a key goes).
fn batch_run_options(ctx: &Context, run: &Run, base_url: Option<&str>) -> Result<RunOptions> {
    let c = &run.config;
    let text = |k: &str| c.get(k).and_then(|v| v.as_str()).map(str::to_string);
    let mut opts = RunOptions::from_settings(&ctx.ws.settings.suggest);
    opts.choose(Some(&run.provider), Some(&run.model), base_url);
    opts.dataset = text("dataset");
    opts.limit = c.get("limit").and_then(|v| v.as_u64()).map(|n| n as usize);
    opts.few_shot =
        c.get("few_shot").and_then(|v| v.as_u64()).map_or(opts.few_shot, |n| n as usize);
    opts.prompt_version = text("prompt_version").unwrap_or(opts.prompt_version);
    opts.temperature = c.get("temperature").and_then(|v| v.as_f64()).unwrap_or(opts.temperature);
    opts.name = Some(run.name.clone().unwrap_or_else(|| run.id.clone()));
    let recorded = text("base_url").unwrap_or_default();
    let now = opts.base_url.as_deref().map(super::provider::strip_userinfo).unwrap_or_default();
    if recorded.trim_end_matches('/') != now.trim_end_matches('/') {
        let shown = if recorded.is_empty() { "the provider's default address" } else { &recorded };
        anyhow::bail!(
            "run {} was sent to {}; give --base-url {} to reach its batches there",
            run.id,
            one_line(shown),
            one_line(if recorded.is_empty() { "(none: leave base_url unset)" } else { &recorded })
        );
    }
    Ok(opts)
}

/// `sift runs poll RUN`.
fn poll(
    ctx: &mut Context,
    run: &str,
    base_url: Option<&str>,
    interval: f64,
    json: bool,
) -> Result<ExitCode> {
    let r = ctx.store.run(run)?.ok_or_else(|| runs::RunsError::NoRun(run.into()))?;
    let mut opts = batch_run_options(ctx, &r, base_url)?;
    let size = r.config.get("batch_size").and_then(|v| v.as_u64()).map(|n| n as usize);
    opts.batch = Some(runner::BatchOptions {
        poll_interval: Duration::from_secs_f64(interval),
        max_requests: size.unwrap_or(runner::BatchOptions::default().max_requests),
    });
    opts.progress = true;
    run_and_report(ctx, &opts, json)
}

/// `sift runs cancel RUN`.
fn cancel(ctx: &mut Context, run: &str, base_url: Option<&str>) -> Result<ExitCode> {
    let r = ctx.store.run(run)?.ok_or_else(|| runs::RunsError::NoRun(run.into()))?;
    let opts = batch_run_options(ctx, &r, base_url)?;
    if opts.untrusted_base_url.is_some() {
        anyhow::bail!(
            "the API key is not sent to the base URL only the workspace sift.toml names; give it with --base-url"
        );
    }
    let cfg = super::batch_api::BatchConfig {
        model: r.model.clone(),
        base_url: opts.base_url.clone(),
        timeout: opts.timeout,
    };
    let api = super::batch_api::build(&r.provider, &cfg)?;
    let rt = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    let n = rt.block_on(runner::cancel_batches(&ctx.store, &r, api.as_ref()))?;
    let batches = crate::text::count(n, "batch", "batches");
    outln!(
        "cancel requested for {batches} of run {}; `sift runs poll {}` collects what ran",
        r.id,
        one_line(r.name.as_deref().unwrap_or(&r.id))
    );
    Ok(ExitCode::SUCCESS)
}

/// `sift runs promote`: refused (exit 1, saying why) when the run does not beat the baseline.
fn promote(ctx: &Context, run: &str, force: bool, json: bool) -> Result<ExitCode> {
    let p = match super::lifecycle::promote(&ctx.ws, &ctx.store, run, force) {
        Err(runs::RunsError::Invalid(why)) => {
            eprintln!("error: {}", one_line(&why));
            return Ok(ExitCode::FAILURE);
        }
        other => other?,
    };
    if json {
        outln!("{}", serde_json::to_string_pretty(&p)?);
        return Ok(ExitCode::SUCCESS);
    }
    let vs = match (&p.previous, &p.f1) {
        (None, _) => " (there was no baseline)".to_string(),
        (Some(b), Some(d)) => format!(
            " over {b}: micro-F1 {:.3} against {:.3} on {} shared gold items",
            d.f1_b, d.f1_a, d.items
        ),
        (Some(b), None) => format!(" over {b} (no shared gold)"),
    };
    let forced = if p.forced { ", forced" } else { "" };
    outln!("run {} is the baseline{vs}{forced}", p.run);
    Ok(ExitCode::SUCCESS)
}

/// `sift runs cleanup`.
fn cleanup(
    ctx: &mut Context,
    policy: &super::lifecycle::Policy,
    dry_run: bool,
    json: bool,
) -> Result<ExitCode> {
    let runs = ctx.store.runs()?;
    let mut busy = std::collections::HashSet::new();
    for r in &runs {
        if ctx.store.run_has_open_batches(&r.id)? {
            busy.insert(r.id.clone());
        }
    }
    let planned = super::lifecycle::plan(&runs, &busy, policy, jiff::Timestamp::now());
    if !dry_run {
        super::lifecycle::apply(&mut ctx.store, &planned)?;
    }
    if json {
        let v = serde_json::json!({"dry_run": dry_run, "changes": planned});
        outln!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(ExitCode::SUCCESS);
    }
    let verb = |a: &str| match (a, dry_run) {
        ("archive", true) => "would archive",
        ("archive", false) => "archived",
        (_, true) => "would delete",
        (_, false) => "deleted",
    };
    for p in &planned {
        let name = p.name.as_deref().map(|n| format!(" `{}`", one_line(n))).unwrap_or_default();
        outln!("{} {}{name}: {}", verb(p.action), p.run, p.reason);
    }
    if planned.is_empty() {
        outln!("nothing to clean up");
    }
    Ok(ExitCode::SUCCESS)
}

fn list(ctx: &Context, all: bool, json: bool) -> Result<ExitCode> {
    let mut all_runs = runs::list(&ctx.store)?;
    let hidden = all_runs.iter().filter(|r| r.state == RunState::Archived).count();
    if !all {
        all_runs.retain(|r| r.state != RunState::Archived);
    }
    let all_shown = all;
    let all = all_runs;
    if json {
        outln!("{}", serde_json::to_string_pretty(&all)?);
        return Ok(ExitCode::SUCCESS);
    }
    let mut out = crate::stdout();
    writeln!(
        out,
        "{:<16} {:<20} {:<10} {:<22} {:<8} {:<16} {:>6} {:>10} {:<12}",
        "ID", "NAME", "PROVIDER", "MODEL", "PROMPT", "STATUS", "ITEMS", "TOKENS", "STATE"
    )?;
    for r in &all {
        writeln!(
            out,
            "{:<16} {:<20} {:<10} {:<22} {:<8} {:<16} {:>6} {:>10} {:<12}",
            r.id,
            crate::text::truncate_width(&one_line(r.name.as_deref().unwrap_or("-")), 20),
            r.provider,
            crate::text::truncate_width(&one_line(&r.model), 22),
            crate::text::truncate_width(&one_line(&r.prompt_version), 8),
            r.status,
            r.suggestions,
            r.tokens_in + r.tokens_out,
            format!("{:?}", r.state).to_lowercase()
        )?;
    }
    if hidden > 0 && !all_shown {
        let s = if hidden == 1 { "" } else { "s" };
        writeln!(out, "{hidden} archived run{s} hidden (sift runs list --all shows them)")?;
    }
    Ok(ExitCode::SUCCESS)
}

fn show(ctx: &Context, run: &str, json: bool) -> Result<ExitCode> {
    let (summary, bundle) = runs::show(&ctx.store, run)?;
    let stats = run_stats(ctx, run)?;
    if json {
        let mut v = serde_json::to_value(&summary)?;
        v["bundle"] = serde_json::Value::String(bundle);
        v["stats"] = serde_json::to_value(&stats)?;
        outln!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(ExitCode::SUCCESS);
    }
    outln!("{}", serde_json::to_string_pretty(&summary)?);
    if let Some(st) = &stats {
        outln!(
            "{} items: {} abstained, {} re-asked (arbitration), {} by a fallback, {} unmapped labels; {} tokens per item",
            st.items,
            st.abstained,
            st.arbitrated,
            st.fallbacks,
            st.unmapped_labels.values().sum::<usize>(),
            st.tokens_per_item.map_or("-".into(), |t| format!("{t:.0}"))
        );
        for (dim, d) in &st.dimensions {
            let labels: Vec<String> =
                d.labels.iter().map(|(l, n)| format!("{} {n}", one_line(l))).collect();
            let median = d.confidence.as_ref().map_or("-".into(), |q| format!("{:.2}", q.p50));
            outln!(
                "  {:<16} {} answered, median confidence {median}: {}",
                one_line(dim),
                d.answered,
                labels.join(", ")
            );
        }
    }
    outln!("{}", crate::text::sanitize(&bundle));
    Ok(ExitCode::SUCCESS)
}

/// The run's statistics, when its taxonomy is still in labels.yml.
fn run_stats(ctx: &Context, run: &str) -> Result<Option<super::stats::RunStats>> {
    let Some(r) = ctx.store.run(run)? else { return Ok(None) };
    let Ok(tax) = ctx.labels.get(&r.taxonomy) else { return Ok(None) };
    let suggestions = ctx.store.run_suggestions(&r.id)?;
    let log =
        super::stats::monitor_lines(&ctx.ws.logs_dir().join(format!("suggest-{}.jsonl", r.id)));
    Ok(Some(super::stats::run_stats(&r, tax, &suggestions, &log)))
}

/// `sift runs compare A B C ... [--reference R]`.
fn compare_many(
    ctx: &Context,
    names: &[String],
    reference: Option<&str>,
    json: bool,
) -> Result<ExitCode> {
    let mut runs = Vec::new();
    for n in names.iter().map(String::as_str).chain(reference) {
        let Some(run) = ctx.store.run(n)? else {
            anyhow::bail!("no run named {:?} (see `sift runs list`)", one_line(n));
        };
        if runs.iter().any(|r: &super::matrix::RunAnswers| r.run.id == run.id) {
            continue;
        }
        let by_item =
            ctx.store.run_suggestions(&run.id)?.into_iter().map(|s| (s.item.clone(), s)).collect();
        runs.push(super::matrix::RunAnswers { run, by_item });
    }
    let tax = ctx.labels.get(&runs[0].run.taxonomy)?;
    if let Some(other) = runs.iter().find(|r| r.run.taxonomy != tax.name) {
        anyhow::bail!(
            "run {} uses taxonomy {}, run {} uses {}: compare runs of one taxonomy",
            runs[0].run.id,
            tax.name,
            other.run.id,
            other.run.taxonomy
        );
    }
    let reference_at = reference
        .and_then(|r| ctx.store.run(r).ok().flatten())
        .and_then(|r| runs.iter().position(|x| x.run.id == r.id));
    let m = super::matrix::compare(&runs, tax, reference_at);
    if json {
        outln!("{}", serde_json::to_string_pretty(&m)?);
        return Ok(ExitCode::SUCCESS);
    }
    let mut out = crate::stdout();
    writeln!(out, "{} runs, {} items answered by all", m.runs.len(), m.common_items)?;
    for (i, id) in m.runs.iter().enumerate() {
        let name = m.names[i].as_deref().map(one_line).unwrap_or_default();
        writeln!(out, "  [{}] {id} {name}", i + 1)?;
    }
    let cell = |v: &Option<f64>| v.map_or("   -".to_string(), |x| format!("{:>4.0}", x * 100.0));
    for (dim, grid) in &m.agreement {
        writeln!(out, "\n{} (% of items with the same labels)", one_line(dim))?;
        let head: Vec<String> =
            (1..=grid.len()).map(|i| format!("{:>4}", format!("[{i}]"))).collect();
        writeln!(out, "      {}", head.join(" "))?;
        for (i, row) in grid.iter().enumerate() {
            let cells: Vec<String> = row.iter().map(cell).collect();
            writeln!(out, "  [{}] {}", i + 1, cells.join(" "))?;
        }
    }
    if let Some(r) = &m.reference {
        writeln!(out, "\naccuracy against the reference {r}:")?;
        for (id, a) in &m.accuracy {
            let dims: Vec<String> = a
                .dimensions
                .iter()
                .map(|(d, v)| format!("{} {}", one_line(d), cell(v).trim()))
                .collect();
            let f1 = a.micro_f1.map_or("-".into(), |f| format!("{f:.3}"));
            writeln!(out, "  {id}: micro F1 {f1}; {}", dims.join(", "))?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn compare(ctx: &Context, a: &str, b: &str, json: bool) -> Result<ExitCode> {
    let c = runs::compare(&ctx.ws, &ctx.labels, &ctx.store, a, b)?;
    if let Some(w) = c.items_warning() {
        eprintln!("{w}");
    }
    if json {
        outln!("{}", serde_json::to_string_pretty(&c)?);
        return Ok(ExitCode::SUCCESS);
    }
    let mut out = crate::stdout();
    writeln!(
        out,
        "A {} ({} / {}, prompt {} {})",
        c.a.id,
        c.a.provider,
        one_line(&c.a.model),
        one_line(&c.a.prompt_version),
        crate::text::prefix(&c.a.prompt_hash, 12)
    )?;
    writeln!(
        out,
        "B {} ({} / {}, prompt {} {})",
        c.b.id,
        c.b.provider,
        one_line(&c.b.model),
        one_line(&c.b.prompt_version),
        crate::text::prefix(&c.b.prompt_hash, 12)
    )?;
    writeln!(
        out,
        "{} items in both, {} only in A, {} only in B; {} flipped",
        c.common_items,
        c.only_a,
        c.only_b,
        c.flipped.len()
    )?;
    let f = |x: Option<f64>| x.map(|v| format!("{v:.3}")).unwrap_or_else(|| "-".into());
    for (name, g) in [("A", &c.gold_a), ("B", &c.gold_b)] {
        match g {
            Some(g) => writeln!(
                out,
                "{name} vs gold on the {} gold items both runs answered: micro-F1 {} macro-F1 {} exact {}",
                g.items,
                f(g.micro_f1),
                f(g.macro_f1),
                f(g.exact_match)
            )?,
            None => {
                writeln!(out, "{name} vs gold: no gold labels for the items both runs answered")?
            }
        }
    }
    writeln!(out, "kappa per label:")?;
    for (l, k) in &c.kappa {
        writeln!(out, "  {:<24} {}", one_line(l), f(*k))?;
    }
    for fl in c.flipped.iter().take(50) {
        writeln!(out, "  {}: [{}] -> [{}]", one_line(&fl.item), fl.a.join(", "), fl.b.join(", "))?;
    }
    if c.flipped.len() > 50 {
        writeln!(out, "  ... {} more (use --json)", c.flipped.len() - 50)?;
    }
    if let Some(p) = &c.paired {
        print_paired(&mut out, p)?;
    }
    if c.prompt_diff.is_empty() {
        writeln!(out, "prompt bundles are identical")?;
    }
    for d in &c.prompt_sections {
        writeln!(out, "prompt section `{}` differs:", one_line(&d.section))?;
        writeln!(out, "{}", crate::text::sanitize(&d.diff))?;
    }
    Ok(ExitCode::SUCCESS)
}

/// An experiment's figures: F1 difference, McNemar, histograms side by side, changed items.
fn print_paired(out: &mut impl Write, p: &super::lifecycle::Paired) -> Result<()> {
    writeln!(
        out,
        "experiment `{}` (A {}, B {}):",
        one_line(&p.experiment),
        one_line(&p.arm_a),
        one_line(&p.arm_b)
    )?;
    match &p.f1 {
        Some(d) => {
            let ci =
                d.ci95.map(|[l, h]| format!(", 95% CI [{l:+.3}, {h:+.3}]")).unwrap_or_default();
            writeln!(
                out,
                "  micro-F1 on {} gold items: A {:.3}, B {:.3}, B - A {:+.3}{ci} ({} bootstrap draws)",
                d.items, d.f1_a, d.f1_b, d.difference, d.draws
            )?;
        }
        None => writeln!(out, "  no gold labels on the items both runs answered")?,
    }
    if let Some(m) = &p.mcnemar {
        let how = if m.exact { "exact binomial" } else { "chi-square, 1 df" };
        writeln!(
            out,
            "  McNemar: {} items right only in A, {} only in B; statistic {:.3}, p = {:.4} ({how})",
            m.only_a, m.only_b, m.statistic, m.p_value
        )?;
    }
    writeln!(out, "  top confidence      A                         B")?;
    let widest = p.histogram_a.iter().chain(&p.histogram_b).copied().max().unwrap_or(0).max(1);
    let bar = |n: usize| {
        let w = (n * 20).div_ceil(widest);
        format!("{:<20} {n:>4}", "█".repeat(w))
    };
    for (i, (a, b)) in p.histogram_a.iter().zip(&p.histogram_b).enumerate().rev() {
        let lo = i as f64 / 10.0;
        writeln!(out, "  {lo:.1}-{:.1}    {}   {}", lo + 0.1, bar(*a), bar(*b))?;
    }
    let changed: Vec<_> = p.deltas.iter().filter(|d| d.a != d.b).collect();
    writeln!(out, "  {} of {} items changed labels:", changed.len(), p.deltas.len())?;
    let mark = |c: Option<bool>| match c {
        Some(true) => " ✓",
        Some(false) => " ✗",
        None => "",
    };
    for d in changed.iter().take(20) {
        writeln!(
            out,
            "    {}: [{}]{} -> [{}]{}",
            one_line(&d.item),
            d.a.join(", "),
            mark(d.correct_a),
            d.b.join(", "),
            mark(d.correct_b)
        )?;
    }
    Ok(())
}

fn print_cross_validation(cv: &super::crossval::CrossValidation) -> Result<()> {
    let show = |v: Option<f64>| v.map_or_else(|| "n/a".to_string(), |v| format!("{v:.3}"));
    let folds: Vec<String> = cv.fold_macro_f1.iter().map(|&f| show(f)).collect();
    outln!(
        "{}-fold cross-validation on held-out gold: macro-F1 {} (folds {}), ECE {}",
        cv.folds,
        show(cv.macro_f1),
        folds.join(", "),
        show(cv.pooled.ece)
    );
    if cv.abstained > 0 {
        outln!(
            "  no label at or above min_confidence for {} of {} held-out items (counted as misses)",
            cv.abstained,
            cv.pooled.items
        );
    }
    for (label, s) in &cv.pooled.labels {
        outln!("  {:<24} F1 {}  support {}", one_line(label), show(s.f1), s.support);
    }
    Ok(())
}

/// `sift train`.
pub fn train(ctx: &Context, a: &TrainArgs) -> Result<ExitCode> {
    let cv = a.cv.map(usize::from);
    let r = super::train::train(&ctx.ws, &ctx.labels, &ctx.store, a.dataset.as_deref(), cv)?;
    if a.json {
        outln!("{}", serde_json::to_string_pretty(&r)?);
    } else {
        outln!(
            "trained the local model for taxonomy `{}` on {} gold items in {:.1} s",
            one_line(&r.taxonomy),
            r.examples,
            r.seconds
        );
        for (label, n) in &r.labels {
            outln!("  {:<24} {n}", one_line(label));
        }
        if r.unknown_labels > 0 {
            outln!("  ({} gold labels outside the taxonomy ignored)", r.unknown_labels);
        }
        if let Some(cv) = &r.cross_validation {
            print_cross_validation(cv)?;
        }
        outln!("saved {} (data {})", r.path.display(), crate::text::prefix(&r.fingerprint, 12));
        outln!("use it: sift suggest --provider local");
    }
    Ok(ExitCode::SUCCESS)
}
