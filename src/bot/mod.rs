//! `sift triage`: the repository's labeling bot. One GitHub event (or one issue named by hand)
//! becomes a suggestion through the provider chain, a decision by stage, and actions through
//! the same push journal as `sift push`, with one audit comment per issue.

pub mod act;
pub mod backtest;
pub mod decide;
pub mod event;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, Result, bail};
use clap::Args;

use crate::app::Context;
use crate::workspace::{Overrides, Workspace};
use decide::Stage;

/// `sift triage` options.
#[derive(Debug, Args)]
pub struct TriageArgs {
    /// One issue by hand: OWNER/REPO#N.
    #[arg(value_name = "OWNER/REPO#N", conflicts_with_all = ["event", "backfill", "backtest"])]
    pub issue: Option<String>,
    /// The webhook payload (default: $GITHUB_EVENT_PATH).
    #[arg(long, value_name = "FILE")]
    pub event: Option<PathBuf>,
    /// The event name (default: $GITHUB_EVENT_NAME, else the payload's shape).
    #[arg(long, value_name = "NAME")]
    pub event_name: Option<String>,
    /// comment, apply-confident or apply (default: bot.stage, $SIFT_BOT_STAGE).
    #[arg(long, value_parser = ["comment", "apply-confident", "apply"])]
    pub stage: Option<String>,
    /// anthropic, openai, local or keywords (fallbacks from sift.toml).
    #[arg(long)]
    pub provider: Option<String>,
    #[arg(long)]
    pub model: Option<String>,
    #[arg(long, value_name = "URL")]
    pub base_url: Option<String>,
    /// The taxonomy file when there is no sift workspace (default: .github/labels.yml).
    #[arg(long, value_name = "PATH")]
    pub labels: Option<PathBuf>,
    /// GitHub API URL (default: $GITHUB_API_URL, else the settings').
    #[arg(long, value_name = "URL")]
    pub api_url: Option<String>,
    /// Triage the open issues without labels of OWNER/REPO, at most --max of them.
    #[arg(long, value_name = "OWNER/REPO", requires = "max")]
    pub backfill: Option<String>,
    /// The cap of --backfill (required: no mass relabeling by accident).
    #[arg(long, value_name = "N", value_parser = crate::suggest::cmd::at_least_one)]
    pub max: Option<usize>,
    /// Replay the bot's decisions on recently labeled issues of OWNER/REPO; sends nothing.
    #[arg(long, value_name = "OWNER/REPO")]
    pub backtest: Option<String>,
    /// How many labeled issues --backtest replays.
    #[arg(long, value_name = "N", default_value_t = 200)]
    pub last: usize,
    #[arg(long)]
    pub json: bool,
}

/// `sift triage`.
pub fn cmd(ws: Option<&Path>, ov: &Overrides, a: &TriageArgs) -> Result<ExitCode> {
    // An event with nothing to do says so before anything is opened or asked for (no token
    // and no taxonomy are needed to ignore a pull request).
    let ev = match (&a.issue, &a.backfill, &a.backtest) {
        (None, None, None) => match read_event(a)? {
            event::Event::Nothing(why) => {
                outln!("{}", crate::text::one_line(&why));
                return Ok(ExitCode::SUCCESS);
            }
            ev => Some(ev),
        },
        _ => None,
    };
    let (mut ctx, _scratch) = open_context(ws, ov, a)?;
    let stage_name = a.stage.clone().unwrap_or_else(|| ctx.ws.settings.bot.stage.clone());
    let stage = Stage::parse(&stage_name).with_context(|| {
        format!("unknown stage {stage_name:?}: comment, apply-confident, apply")
    })?;
    if let Some(ev) = &ev
        && let Some(why) = needs_nothing(ev, ctx.ws.settings.bot.on_edit)
    {
        outln!("{}", crate::text::one_line(&why));
        return Ok(ExitCode::SUCCESS);
    }
    let mut bot = act::Bot::new(&mut ctx, a, stage)?;
    if let Some(repo) = &a.backtest {
        return backtest::run(&mut bot, repo, a.last, a.json);
    }
    if let Some(repo) = &a.backfill {
        return bot.backfill(repo, a.max.unwrap_or(0));
    }
    if let Some(spec) = &a.issue {
        let (repo, number) = parse_issue(spec)?;
        return bot.triage_one(&repo, number, false, "by hand");
    }
    match ev {
        Some(ev) => bot.handle(ev),
        None => Ok(ExitCode::SUCCESS),
    }
}

/// The event of `--event` or `$GITHUB_EVENT_PATH`, read with `bot.on_edit` assumed on (the
/// setting is applied once the workspace is open).
fn read_event(a: &TriageArgs) -> Result<event::Event> {
    let path = match &a.event {
        Some(p) => p.clone(),
        None => std::env::var_os("GITHUB_EVENT_PATH").map(PathBuf::from).context(
            "no event: pass --event FILE or OWNER/REPO#N (in Actions, $GITHUB_EVENT_PATH is set)",
        )?,
    };
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("reading the event {}", path.display()))?;
    let payload: serde_json::Value = serde_json::from_str(&text)
        .with_context(|| format!("{}: the event is not JSON", path.display()))?;
    let name = a.event_name.clone().or_else(|| std::env::var("GITHUB_EVENT_NAME").ok());
    event::parse(name.as_deref(), &payload, true)
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}

/// Why an event needs no request at all, once the settings are known: an edit with
/// `bot.on_edit` off, a comment without a command, a command from someone who may not give it.
fn needs_nothing(ev: &event::Event, on_edit: bool) -> Option<String> {
    use crate::github::commands;
    match ev {
        event::Event::Triage { repo, number, action } if action == "edited" && !on_edit => {
            Some(format!("{repo}#{number} edited: nothing to do (bot.on_edit is off)"))
        }
        event::Event::Comment { repo, number, comment, issue_author } => {
            match commands::parse_command(&comment.body) {
                None => Some(format!(
                    "comment on {repo}#{number} holds no /label command: nothing to do"
                )),
                Some(_) if !commands::authorised(comment, issue_author.as_deref()) => {
                    Some(format!(
                        "{} may not give /label commands on {repo}#{number} (only the author \
                         and maintainers): ignored",
                        crate::text::one_line(&comment.author)
                    ))
                }
                Some(_) => None,
            }
        }
        _ => None,
    }
}

/// `OWNER/REPO#N`.
fn parse_issue(spec: &str) -> Result<(String, i64)> {
    let (repo, n) = spec.rsplit_once('#').context("name the issue as OWNER/REPO#N")?;
    let number: i64 = n.parse().with_context(|| format!("{spec}: {n:?} is not an issue number"))?;
    crate::github::client::RepoSlug::parse(repo)?;
    Ok((repo.to_string(), number))
}

/// The workspace in the checkout, or, where Actions runs without one, a scratch workspace in
/// `$RUNNER_TEMP` holding `.github/labels.yml` (and the committed model `bot.model` names).
fn open_context(
    ws: Option<&Path>,
    ov: &Overrides,
    a: &TriageArgs,
) -> Result<(Context, Option<tempfile::TempDir>)> {
    let cwd = std::env::current_dir().context("no current folder")?;
    if Workspace::discover(&cwd, ws).is_ok() {
        if let Some(l) = &a.labels {
            eprintln!("note: the sift workspace's labels.yml is used; {} is not read", l.display());
        }
        return Ok((crate::rebuild::open(ws, ov)?, None));
    }
    let labels = a.labels.clone().unwrap_or_else(|| cwd.join(".github/labels.yml"));
    if !labels.is_file() {
        bail!(
            "no sift workspace here and no taxonomy at {}: commit .github/labels.yml (or a sift \
             workspace), or pass --labels PATH",
            labels.display()
        );
    }
    let base =
        std::env::var_os("RUNNER_TEMP").map(PathBuf::from).unwrap_or_else(std::env::temp_dir);
    let scratch = tempfile::Builder::new()
        .prefix("sift-triage-")
        .tempdir_in(&base)
        .with_context(|| format!("creating a scratch workspace in {}", base.display()))?;
    Workspace::init(scratch.path(), "triage")?;
    let copied = scratch.path().join(crate::workspace::LABELS_FILE);
    std::fs::copy(&labels, &copied).with_context(|| format!("copying {}", labels.display()))?;
    // The file's own taxonomy is the default when it has no `issues` (sift's default name).
    let file = crate::taxonomy::LabelsFile::load(&copied)
        .with_context(|| format!("{}: the taxonomy", labels.display()))?;
    if let Some(first) = file.taxonomies.keys().next()
        && !file.taxonomies.contains_key("issues")
    {
        let toml = scratch.path().join(crate::workspace::SETTINGS_FILE);
        let text = std::fs::read_to_string(&toml)?.replacen(
            "taxonomy = \"issues\"",
            &format!("taxonomy = {first:?}"),
            1,
        );
        std::fs::write(&toml, text)?;
    }
    let ctx = Context::open(Some(scratch.path()), ov)
        .with_context(|| format!("{}: the taxonomy", labels.display()))?;
    Ok((ctx, Some(scratch)))
}
