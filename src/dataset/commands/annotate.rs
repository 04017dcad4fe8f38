//! `sift annotate` (one decision) and `sift annotations import|export` (log-format files).

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, Result, bail};

use super::{comma_list, print_json};
use crate::app::{Context, require_annotator};
use crate::metrics::sampling::IsoWeek;
use crate::model::{Annotation, Mode, now_rfc3339};
use crate::taxonomy::Taxonomy;
use crate::text::one_line;
use crate::workspace::log;

/// Options of `sift annotate`.
#[derive(Debug, clap::Args)]
pub struct AnnotateArgs {
    pub item: String,
    /// Labels (names or aliases), comma-separated; empty for "no label applies".
    #[arg(long, value_name = "A,B", allow_hyphen_values = true)]
    pub labels: String,
    #[arg(long)]
    pub note: Option<String>,
    /// assisted, blind, sample, adjudication or import.
    #[arg(long, default_value = "assisted")]
    pub mode: String,
    /// ISO week (YYYY-Www) of the accuracy sample this answers (with --mode sample).
    #[arg(long)]
    pub week: Option<String>,
    /// Dataset of an item not in the store yet.
    #[arg(long)]
    pub dataset: Option<String>,
    /// Time spent on the decision.
    #[arg(long)]
    pub duration_ms: Option<u64>,
}

/// `sift annotations import|export`.
#[derive(Debug, clap::Subcommand)]
pub enum AnnotationsCommand {
    /// Import records in the log format (item, annotator, labels required); all or nothing.
    Import {
        file: PathBuf,
        #[arg(long)]
        dataset: String,
        #[arg(long)]
        taxonomy: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Write every record as JSONL (stdout, or --out FILE).
    Export {
        #[arg(long)]
        dataset: Option<String>,
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
}

/// Dispatch `sift annotations ...`.
pub fn annotations(ctx: &mut Context, cmd: AnnotationsCommand) -> Result<ExitCode> {
    match cmd {
        AnnotationsCommand::Import { file, dataset, taxonomy, json } => {
            annotations_import(ctx, &file, &dataset, taxonomy.as_deref(), json)
        }
        AnnotationsCommand::Export { dataset, out } => {
            annotations_export(ctx, dataset.as_deref(), out.as_deref())
        }
    }
}

/// `sift annotate ITEM --labels a,b`: validate, append to the annotator's log, replay.
pub fn annotate(ctx: &mut Context, args: AnnotateArgs) -> Result<ExitCode> {
    let annotator = require_annotator(ctx)?;
    // One small save: an import running beside it steps aside until it is done, and it does
    // not copy the import's pages back into the database (see the methods).
    let _turn = ctx.store.announce_save();
    ctx.store.leave_checkpoints_to_others()?;
    let mode = Mode::parse(&args.mode).with_context(|| {
        format!("mode {:?}: expected assisted, blind, sample, adjudication or import", args.mode)
    })?;
    let week = match (&args.week, mode) {
        (Some(w), _) => Some(IsoWeek::parse(w).map_err(anyhow::Error::msg)?.to_string()),
        (None, Mode::Sample) => bail!("--mode sample needs --week YYYY-Www (the sample's week)"),
        (None, _) => None,
    };
    let known = ctx.store.item_dataset(&args.item)?;
    let dataset = match (&args.dataset, known) {
        (Some(d), Some(k)) if *d != k => {
            bail!("item {} belongs to dataset `{k}`, not `{d}`", one_line(&args.item))
        }
        (_, Some(k)) => k,
        (Some(d), None) => d.clone(),
        (None, None) => bail!(
            "item {} is not in the store; pass --dataset D to annotate it anyway",
            one_line(&args.item)
        ),
    };
    let taxonomy = ctx.labels.get(ctx.ws.settings.taxonomy_for(&dataset))?.clone();
    let labels = taxonomy
        .answer_labels(&comma_list(&args.labels))
        .map_err(|e| anyhow::anyhow!("{}: {e}", one_line(&args.item)))?;
    let now = now_rfc3339();
    ctx.store.ensure_bare_item(&args.item, &dataset, &now)?;
    let suggestion = ctx.store.latest_suggestion(&args.item)?.map(|s| {
        crate::model::SuggestionRef { run: s.suggestion.run, labels: s.suggestion.labels }
    });
    let record = Annotation {
        item: args.item.clone(),
        annotator,
        labels,
        at: now,
        mode,
        note: args.note.unwrap_or_default(),
        duration_ms: args.duration_ms,
        suggestion,
        week,
        retracted: false,
    };
    let path = log::append(&ctx.ws, &dataset, &record)?;
    log::replay(&ctx.ws, &mut ctx.store)?;
    eprintln!(
        "{} -> [{}] by {} ({}), {}",
        one_line(&record.item),
        record.labels.join(", "),
        record.annotator,
        record.mode.as_str(),
        path.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// What `sift annotations import` did.
#[derive(Debug, serde::Serialize)]
pub struct ImportReport {
    pub records: usize,
    pub annotators: BTreeMap<String, usize>,
    pub new_items: usize,
    /// Records the workspace already holds (same item, annotator, time, labels and mode):
    /// not appended again, so re-importing an older export cannot bring back old answers.
    pub already_present: usize,
}

/// Read and validate a whole annotations file; nothing is written unless every line is good.
/// Records without `at` keep it empty (the caller stamps them once it has compared them).
pub fn read_annotation_file(
    file: &Path,
    taxonomy: &Taxonomy,
) -> Result<std::result::Result<Vec<Annotation>, Vec<String>>> {
    let text = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    let mut records = Vec::new();
    let mut errors = Vec::new();
    for (i, line) in text.split(|&b| b == b'\n').enumerate() {
        let at = format!("{}:{}", file.display(), i + 1);
        let record = match log::parse_line(line) {
            Ok(Some(r)) => r,
            Ok(None) => continue,
            Err(e) => {
                errors.push(format!("{at}: {e}"));
                continue;
            }
        };
        let mut record = record;
        // A record that names no mode came from elsewhere: it is an import.
        let names_mode = std::str::from_utf8(line)
            .ok()
            .and_then(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .is_some_and(|v| v.get("mode").is_some());
        if !names_mode {
            record.mode = Mode::Import;
        }
        if !crate::workspace::valid_annotator(&record.annotator) {
            errors.push(format!(
                "{at}: annotator ID {:?} is not usable (letters, digits, '-', '_', '.')",
                one_line(&record.annotator)
            ));
            continue;
        }
        match taxonomy.answer_labels(&record.labels) {
            Ok(labels) => record.labels = labels,
            Err(e) => {
                errors.push(format!("{at}: {e}"));
                continue;
            }
        }
        records.push(record);
    }
    Ok(if errors.is_empty() { Ok(records) } else { Err(errors) })
}

/// What makes two records the same decision (with or without its time).
fn identity(a: &Annotation, timed: bool) -> String {
    let labels = crate::metrics::gold::label_set(&a.labels).join("\u{1f}");
    let at = if timed { a.at.as_str() } else { "" };
    [a.item.as_str(), &a.annotator, at, &labels, a.mode.as_str()].join("\u{1e}")
}

/// `sift annotations import FILE --dataset D`.
pub fn annotations_import(
    ctx: &mut Context,
    file: &Path,
    dataset: &str,
    taxonomy: Option<&str>,
    json: bool,
) -> Result<ExitCode> {
    if !log::valid_dataset(dataset) {
        bail!("dataset name {dataset:?} is not usable as a folder name");
    }
    let tax_name =
        taxonomy.map_or_else(|| ctx.ws.settings.taxonomy_for(dataset).to_string(), str::to_owned);
    let tax = ctx.labels.get(&tax_name)?.clone();
    let records = match read_annotation_file(file, &tax)? {
        Ok(r) => r,
        Err(errors) => {
            for e in &errors {
                eprintln!("error: {}", one_line(e));
            }
            bail!(
                "{}: {} bad record{}; nothing was imported",
                file.display(),
                errors.len(),
                if errors.len() == 1 { "" } else { "s" }
            );
        }
    };
    let known = ctx.store.item_datasets()?;
    // Records live beside their item's dataset; filing them elsewhere would hide them from
    // that dataset's stats and exports.
    let elsewhere: Vec<String> = records
        .iter()
        .filter_map(|r| known.get(&r.item).filter(|d| *d != dataset).map(|d| (r, d)))
        .map(|(r, d)| {
            format!("{}: item {:?} is in dataset `{d}`", file.display(), one_line(&r.item))
        })
        .collect();
    if !elsewhere.is_empty() {
        for e in &elsewhere {
            eprintln!("error: {e}");
        }
        bail!(
            "{}: {} record(s) are for items of another dataset; import those with that --dataset; \
             nothing was imported",
            file.display(),
            elsewhere.len()
        );
    }
    if taxonomy.is_some() {
        crate::sources::import::remember_taxonomy(ctx, dataset, &tax_name)?;
    }
    let held = ctx.store.annotation_records(Some(dataset))?;
    let present: HashSet<String> = held.iter().map(|r| identity(&r.annotation, true)).collect();
    // A record without a time matches the same decision made at any time.
    let untimed: HashSet<String> = held.iter().map(|r| identity(&r.annotation, false)).collect();
    let before = records.len();
    let now = now_rfc3339();
    let records: Vec<Annotation> = records
        .into_iter()
        .filter(|r| match r.at.is_empty() {
            true => !untimed.contains(&identity(r, false)),
            false => !present.contains(&identity(r, true)),
        })
        .map(|mut r| {
            if r.at.is_empty() {
                r.at = now.clone();
            }
            r
        })
        .collect();
    let already_present = before - records.len();
    let new: BTreeSet<String> =
        records.iter().filter(|r| !known.contains_key(&r.item)).map(|r| r.item.clone()).collect();
    let new: Vec<String> = new.into_iter().collect();
    ctx.store.ensure_bare_items(&new, dataset, &now_rfc3339())?;
    let mut by: BTreeMap<String, Vec<Annotation>> = BTreeMap::new();
    for r in records {
        by.entry(r.annotator.clone()).or_default().push(r);
    }
    for (who, recs) in &by {
        log::append_many(&ctx.ws, dataset, who, recs)?;
    }
    log::replay(&ctx.ws, &mut ctx.store)?;
    let report = ImportReport {
        records: by.values().map(Vec::len).sum(),
        annotators: by.iter().map(|(k, v)| (k.clone(), v.len())).collect(),
        new_items: new.len(),
        already_present,
    };
    if json {
        print_json(&report)?;
    } else {
        writeln!(
            crate::stdout(),
            "{}: {} records from {} annotator(s) into dataset `{dataset}`; {} new items; {} already present",
            file.display(),
            report.records,
            report.annotators.len(),
            report.new_items,
            report.already_present
        )?;
    }
    Ok(ExitCode::SUCCESS)
}

/// `sift annotations export`: every record as JSONL (with its dataset).
pub fn annotations_export(
    ctx: &Context,
    dataset: Option<&str>,
    out: Option<&Path>,
) -> Result<ExitCode> {
    let rows = ctx.store.annotation_records(dataset)?;
    let mut buf = String::new();
    for r in &rows {
        let mut v = serde_json::to_value(&r.annotation)?;
        if let Some(o) = v.as_object_mut() {
            o.insert("dataset".into(), r.dataset.clone().into());
        }
        buf.push_str(&serde_json::to_string(&v)?);
        buf.push('\n');
    }
    match out {
        Some(p) => {
            std::fs::write(p, buf).with_context(|| format!("cannot write {}", p.display()))?;
            let what = crate::text::count(rows.len(), "record", "records");
            outln!("{what} -> {}", p.display());
        }
        None => crate::stdout().write_all(buf.as_bytes())?,
    }
    Ok(ExitCode::SUCCESS)
}
