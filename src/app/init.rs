//! `sift init`: create a workspace.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, Result};

use crate::workspace::Workspace;

/// Options of `sift init`.
#[derive(Debug, clap::Args)]
pub struct InitArgs {
    /// Folder to create the workspace in (default: the current folder).
    pub dir: Option<PathBuf>,
    /// A name for the workspace.
    #[arg(long)]
    pub name: Option<String>,
}

/// `sift init [DIR] [--name NAME]`.
pub fn run(args: InitArgs) -> Result<ExitCode> {
    let dir = match args.dir {
        Some(d) => d,
        None => std::env::current_dir().context("cannot read the current folder")?,
    };
    let name = args.name.unwrap_or_else(|| {
        dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "sift".into())
    });
    Workspace::init(&dir, &name)?;
    outln!("Created a sift workspace in {}", dir.display());
    outln!("Next: sift import FILE --dataset NAME   (or: sift pull OWNER/REPO)");
    Ok(ExitCode::SUCCESS)
}
