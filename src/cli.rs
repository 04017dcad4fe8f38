//! The command line: composes each feature's arguments into one parser and dispatches.
//!
//! Every command's arguments and handler live in the feature that owns it; this file only
//! names the subcommands, opens the workspace, and routes.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::{Parser, Subcommand};

use crate::app;
use crate::dataset::commands::{annotate, eval, export, sample, stats};
use crate::workspace::Overrides;
use crate::{bot, demo, github, rebuild, serve, similar, sources, suggest, tui};

#[derive(Debug, Parser)]
#[command(
    name = "sift",
    version,
    about = "Label GitHub issues and SFT chat samples at keyboard speed"
)]
pub struct Cli {
    /// Use the workspace in DIR instead of searching upwards from the current folder.
    #[arg(long, global = true, value_name = "DIR")]
    pub workspace: Option<PathBuf>,
    /// Annotator ID recorded with every decision (overrides settings).
    #[arg(long, global = true, value_name = "ID")]
    pub annotator: Option<String>,
    /// Colour theme (default, light, high-contrast, gruvbox, or a user theme).
    #[arg(long, global = true, value_name = "NAME")]
    pub theme: Option<String>,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a workspace: sift.toml, labels.yml, annotations/, .sift/.
    Init(app::init::InitArgs),
    /// Copy the bundled demo workspace somewhere fresh, import it, suggest offline, open it.
    Demo(demo::DemoArgs),
    /// Open the review screen (the same as `sift` alone, with options).
    Review(tui::ReviewArgs),
    /// Report items, annotations, runs and the store.
    Status(app::status::StatusArgs),
    /// Rebuild the store from the workspace: sources, annotations, runs and pushes.
    Rebuild(rebuild::RebuildArgs),
    /// Import items from a file (ShareGPT, OpenAI messages, Alpaca, issue CSV/JSONL).
    Import(sources::cmd::ImportArgs),
    /// Ask a provider for label suggestions (a resumable, versioned run).
    Suggest(suggest::cmd::SuggestArgs),
    /// Serve predictions over HTTP (POST /predict) for bots and other tools.
    Serve(serve::ServeArgs),
    /// The labeling bot: act on one GitHub event (Actions) or one issue, by stage.
    Triage(bot::TriageArgs),
    /// Train the local model on the workspace's gold labels.
    Train(suggest::cmd::TrainArgs),
    /// Suggestion runs: list, show, compare, export, import, mark.
    Runs {
        #[command(subcommand)]
        cmd: suggest::cmd::RunsCommand,
    },
    /// Store, inspect or clear secrets (GitHub token, provider API keys).
    Auth {
        #[command(subcommand)]
        command: github::AuthCommand,
    },
    /// Pull a GitHub repository's issues and comments into the store.
    Pull(github::PullArgs),
    /// Push accepted labels to GitHub (plan first; comment or apply mode; --revert to undo).
    Push(github::PushArgs),
    /// Repository labels: sync them from labels.yml.
    Labels {
        #[command(subcommand)]
        command: github::LabelsCommand,
    },
    /// Items most like ITEM: shared keywords and labels ("has this been seen before?").
    Similar(similar::SimilarArgs),
    /// Record one decision for an item (for scripts); appends to annotations/<dataset>/<you>.jsonl.
    Annotate(annotate::AnnotateArgs),
    /// Import or export annotation records.
    Annotations {
        #[command(subcommand)]
        action: annotate::AnnotationsCommand,
    },
    /// Agreement between annotators per dimension and per label.
    Stats(stats::StatsArgs),
    /// Accuracy of a run's suggestions against gold.
    Eval(eval::EvalArgs),
    /// Export gold items as train/val/test files, a dataset card and a review CSV.
    Export(export::ExportArgs),
    /// Draw the weekly accuracy sample (or report on it with `sample report`).
    Sample(sample::SampleArgs),
    /// Print a shell completion script (e.g. `sift completions bash > ~/.local/share/bash-completion/completions/sift`).
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff), e.g. `sift man | man -l -`.
    Man,
}

/// `sift completions SHELL`: the script for the whole command tree, on stdout.
fn completions(shell: clap_complete::Shell) -> Result<ExitCode> {
    let mut cmd = <Cli as clap::CommandFactory>::command();
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut cmd, "sift", &mut out);
    std::io::Write::write_all(&mut crate::stdout(), &out)?;
    Ok(ExitCode::SUCCESS)
}

/// `sift man`: the manual page of sift and its commands, in roff, on stdout.
fn man_page() -> Result<ExitCode> {
    let cmd = <Cli as clap::CommandFactory>::command();
    let mut out = Vec::new();
    clap_mangen::Man::new(cmd.clone()).render(&mut out)?;
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        let title = format!("sift-{}", sub.get_name());
        clap_mangen::Man::new(sub.clone()).title(title).render(&mut out)?;
    }
    std::io::Write::write_all(&mut crate::stdout(), &out)?;
    Ok(ExitCode::SUCCESS)
}

/// Run the parsed command line.
pub fn run(cli: Cli) -> Result<ExitCode> {
    let ov = Overrides { annotator: cli.annotator.clone(), theme: cli.theme.clone() };
    let ws = cli.workspace.as_deref();
    // A missing store is rebuilt from the workspace's files, a corrupt one moved aside first.
    let open = || rebuild::open(ws, &ov);
    let Some(command) = cli.command else {
        return tui::run(open()?, tui::Options::default());
    };
    match command {
        Command::Init(args) => app::init::run(args),
        Command::Demo(args) => demo::run(args, &ov),
        Command::Auth { command } => github::cmd_auth(command),
        Command::Completions { shell } => completions(shell),
        Command::Man => man_page(),
        Command::Rebuild(args) => rebuild::run(ws, &ov, &args),
        Command::Review(args) => tui::review(open()?, args),
        Command::Status(args) => app::status::run(&open()?, &args),
        Command::Import(args) => sources::cmd::run(&mut open()?, args, ov.annotator.clone()),
        Command::Suggest(args) => suggest::cmd::suggest(&mut open()?, &args),
        Command::Train(args) => suggest::cmd::train(&open()?, &args),
        Command::Runs { cmd } => suggest::cmd::runs(&mut open()?, &cmd),
        Command::Pull(args) => github::cmd_pull(&mut open()?, args),
        Command::Push(args) => github::cmd_push(&mut open()?, args),
        Command::Labels { command } => github::cmd_labels(&mut open()?, command),
        Command::Triage(args) => bot::cmd(ws, &ov, &args),
        Command::Serve(args) => serve::cmd(open()?, &args),
        Command::Similar(args) => similar::cmd_similar(&mut open()?, &args),
        Command::Annotate(args) => annotate::annotate(&mut open()?, args),
        Command::Annotations { action } => annotate::annotations(&mut open()?, action),
        Command::Stats(args) => stats::run(&open()?, &args),
        Command::Eval(args) => eval::run(&open()?, &args),
        Command::Export(args) => export::run(&open()?, &args),
        // The sample's review queue is the review screen's job; the feature only draws it.
        Command::Sample(args) if args.review => tui::review_sample(open()?, &args),
        Command::Sample(args) => sample::run(&open()?, args),
    }
}
