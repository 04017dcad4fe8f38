//! The opened workspace every command works in: settings, taxonomy, store, replayed log.
//!
//! It sits below every feature: features receive a `&mut Context` and never reach up to the
//! command line for it. The two commands about the workspace itself live here too: `init`
//! and `status`.

pub mod init;
pub mod status;

use std::path::Path;

use anyhow::{Context as _, Result, bail};

use crate::store::Store;
use crate::taxonomy::LabelsFile;
use crate::workspace::{Overrides, Workspace, log, user_config_path};

/// Everything a command needs from an opened workspace.
pub struct Context {
    pub ws: Workspace,
    pub store: Store,
    pub labels: LabelsFile,
}

impl Context {
    /// Open the workspace, its taxonomy and store, and replay new annotation records.
    pub fn open(cli_ws: Option<&Path>, overrides: &Overrides) -> Result<Self> {
        Self::open_with_store(cli_ws, overrides, None)
    }

    /// [`Context::open`] on a store at `store` instead of the workspace's own (a rebuild fills
    /// a new store beside it, then moves it into place).
    pub fn open_with_store(
        cli_ws: Option<&Path>,
        overrides: &Overrides,
        store: Option<&Path>,
    ) -> Result<Self> {
        let cwd = std::env::current_dir().context("cannot read the current folder")?;
        let root = Workspace::discover(&cwd, cli_ws)?;
        let ws = Workspace::open(&root, user_config_path().as_deref(), overrides)?;
        let labels = LabelsFile::load(&ws.labels_path())?;
        let mut store = match store {
            Some(path) => {
                let mut s = Store::open(path)?;
                s.set_journal_root(Some(ws.root.clone()));
                s
            }
            None => ws.open_store()?,
        };
        let report = log::replay(&ws, &mut store)?;
        for e in report.errors.iter().chain(&report.torn) {
            eprintln!("warning: {}", crate::text::one_line(e));
        }
        Ok(Context { ws, store, labels })
    }

    /// Refuse a dataset name the workspace does not know (a typo would otherwise print
    /// zeros), listing the ones it has: datasets with items or annotations, and those
    /// sift.toml configures.
    pub fn require_dataset(&self, name: &str) -> Result<()> {
        let mut known: Vec<String> =
            self.store.dataset_counts()?.into_iter().map(|d| d.dataset).collect();
        known.extend(self.store.annotated_datasets()?);
        known.extend(self.ws.settings.datasets.keys().cloned());
        known.sort();
        known.dedup();
        if known.iter().any(|k| k == name) {
            return Ok(());
        }
        let name = crate::text::one_line(name);
        match known.is_empty() {
            true => bail!(
                "no dataset `{name}`: the workspace has none yet (sift import FILE --dataset NAME)"
            ),
            false => bail!("no dataset `{name}` (datasets: {})", known.join(", ")),
        }
    }

    /// The annotator for records: --annotator, then settings.
    pub fn annotator(&self) -> Option<&str> {
        self.ws.settings.annotator.as_deref()
    }
}

/// Refuse to go on without an annotator ID, with the ways to give one.
pub fn require_annotator(ctx: &Context) -> Result<String> {
    match ctx.annotator() {
        Some(a) if crate::workspace::valid_annotator(a) => Ok(a.to_string()),
        Some(a) => bail!("annotator ID {a:?} is not usable (letters, digits, '-', '_', '.')"),
        None => bail!(
            "no annotator ID: pass --annotator ID, set SIFT_ANNOTATOR, or put annotator = \"ID\" in {}",
            user_config_path()
                .map(|p| p.display().to_string())
                .unwrap_or_else(|| "config.toml".into())
        ),
    }
}
