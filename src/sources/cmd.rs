//! `sift import FILE --dataset NAME`: the command's arguments and its handler.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;

use super::files::Format;
use super::import::{ImportOptions, import_and_index};
use crate::app::Context;

/// Options of `sift import`.
#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    pub file: PathBuf,
    #[arg(long)]
    pub dataset: String,
    #[arg(long, default_value = "auto")]
    pub format: Format,
    /// Taxonomy for this dataset (recorded in sift.toml when new).
    #[arg(long)]
    pub taxonomy: Option<String>,
    /// Column or field holding labels (recorded as annotations of --annotator, mode import).
    #[arg(long, value_name = "COL")]
    pub label_column: Option<String>,
    /// Allow records of another kind (issues, conversations) than the dataset already holds.
    #[arg(long)]
    pub mixed_kinds: bool,
    #[arg(long)]
    pub json: bool,
}

/// `sift import`. `cli_annotator` is `--annotator` as given on this command line: the file's
/// labels belong to it (or to `import`), never to a configured annotator.
pub fn run(ctx: &mut Context, args: ImportArgs, cli_annotator: Option<String>) -> Result<ExitCode> {
    let ImportArgs { file, dataset, format, taxonomy, label_column, mixed_kinds, json } = args;
    let annotator = cli_annotator;
    let opts = ImportOptions { dataset, format, taxonomy, label_column, annotator, mixed_kinds };
    let (summary, _) = import_and_index(ctx, &file, &opts)?;
    for e in &summary.errors {
        eprintln!("error: {}", crate::text::one_line(e));
    }
    if json {
        outln!("{}", serde_json::to_string(&summary)?);
    } else {
        outln!(
            "{}: {} imported, {} updated, {} unchanged, {} skipped; {} label records",
            file.display(),
            summary.imported,
            summary.updated,
            summary.unchanged,
            summary.skipped,
            summary.label_records
        );
    }
    // A file read only partway is a failure even though its first records were imported.
    let anything = summary.imported + summary.updated + summary.unchanged > 0;
    Ok(if anything && summary.complete { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}
