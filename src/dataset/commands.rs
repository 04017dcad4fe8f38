//! Command bodies for annotate, annotations import/export, stats, eval, export and sample.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, Result, bail};

use crate::cli::{Context, require_annotator};
use crate::dataset::export::{self, ExportFormat, ExportInput, SplitRatios};
use crate::dataset::gold::{self, Gold};
use crate::dataset::log;
use crate::dataset::sample::{self, SampleSource, Scope};
use crate::dataset::stats::{self, AgreementStats, AnnotatorStats};
use crate::metrics::agreement::{AgreementReport, band};
use crate::metrics::sampling::{IsoWeek, last_complete_week};
use crate::model::{Annotation, Mode, now_rfc3339};
use crate::taxonomy::Taxonomy;
use crate::text::one_line;

/// Print one JSON document on stdout; a closed pipe is an error, not a panic.
fn print_json(v: &impl serde::Serialize) -> Result<()> {
    let mut out = crate::stdout();
    serde_json::to_writer_pretty(&mut out, v)?;
    writeln!(out)?;
    Ok(())
}

/// Split a comma-separated list, dropping blanks.
pub fn comma_list(text: &str) -> Vec<String> {
    text.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect()
}

/// Canonical labels for an answer, or a message naming what is wrong.
fn check_labels(taxonomy: &Taxonomy, raw: &[String]) -> std::result::Result<Vec<String>, String> {
    let (found, unknown) = taxonomy.canonicalize(raw.iter().map(String::as_str));
    if !unknown.is_empty() {
        return Err(format!(
            "unknown label{} {} (taxonomy `{}` has: {})",
            if unknown.len() == 1 { "" } else { "s" },
            unknown.iter().map(|u| format!("`{}`", one_line(u))).collect::<Vec<_>>().join(", "),
            taxonomy.name,
            taxonomy.label_names().join(", ")
        ));
    }
    taxonomy.check_answer(&found)?;
    Ok(found)
}

/// Options of `sift annotate`.
pub struct AnnotateArgs {
    pub item: String,
    pub labels: String,
    pub note: Option<String>,
    pub mode: String,
    pub week: Option<String>,
    pub dataset: Option<String>,
    pub duration_ms: Option<u64>,
}

/// `sift annotate ITEM --labels a,b`: validate, append to the annotator's log, replay.
pub fn annotate(ctx: &mut Context, args: AnnotateArgs) -> Result<ExitCode> {
    let annotator = require_annotator(ctx)?;
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
    let labels = check_labels(&taxonomy, &comma_list(&args.labels))
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
        match check_labels(taxonomy, &record.labels) {
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
    let labels = crate::dataset::gold::label_set(&a.labels).join("\u{1f}");
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
                eprintln!("{}", one_line(e));
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
            eprintln!("{e}");
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
            eprintln!("{} records -> {}", rows.len(), p.display());
        }
        None => crate::stdout().write_all(buf.as_bytes())?,
    }
    Ok(ExitCode::SUCCESS)
}

/// The datasets a command covers and their (shared) taxonomy.
pub fn scope(ctx: &Context, dataset: Option<&str>) -> Result<(Vec<String>, Taxonomy)> {
    let datasets = match dataset {
        Some(d) => vec![d.to_string()],
        None => ctx.store.annotated_datasets()?,
    };
    let mut datasets = datasets;
    let names: BTreeSet<String> =
        datasets.iter().map(|d| ctx.ws.settings.taxonomy_for(d).to_string()).collect();
    let default = &ctx.ws.settings.taxonomy;
    let name = match names.len() {
        0 => default.clone(),
        1 => names.into_iter().next().unwrap_or_default(),
        // Datasets of different taxonomies cannot share one table: take those of the
        // workspace's default taxonomy, and say which were left out.
        _ if names.contains(default) => {
            let (kept, left): (Vec<String>, Vec<String>) =
                datasets.into_iter().partition(|d| ctx.ws.settings.taxonomy_for(d) == default);
            eprintln!(
                "note: showing {} (taxonomy `{default}`); use --dataset for {}",
                kept.join(", "),
                left.join(", ")
            );
            datasets = kept;
            default.clone()
        }
        _ => bail!(
            "datasets {} use different taxonomies ({}); pick one with --dataset",
            datasets.join(", "),
            names.into_iter().collect::<Vec<_>>().join(", ")
        ),
    };
    Ok((datasets, ctx.labels.get(&name)?.clone()))
}

/// Current answers of the datasets in scope.
pub fn answers_in(ctx: &Context, datasets: &[String]) -> Result<Vec<crate::store::LabelAnswer>> {
    let mut out = Vec::new();
    if datasets.len() == 1 {
        return Ok(ctx.store.current_answers(Some(&datasets[0]))?);
    }
    for r in ctx.store.current_answers(None)? {
        if datasets.contains(&r.dataset) {
            out.push(r);
        }
    }
    Ok(out)
}

/// `sift stats`.
pub fn cmd_stats(
    ctx: &Context,
    dataset: Option<&str>,
    annotators: Option<&str>,
    json: bool,
    no_ci: bool,
) -> Result<ExitCode> {
    let (datasets, taxonomy) = scope(ctx, dataset)?;
    let selected = annotators.map(comma_list);
    let s = stats::agreement_stats_from_store(
        &ctx.store,
        &datasets,
        &taxonomy,
        selected.as_deref(),
        !no_ci,
    )?;
    if json {
        print_json(&s)?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut records = Vec::new();
    for d in &datasets {
        records.extend(ctx.store.annotation_records(Some(d))?);
    }
    let items = gold::group(&answers_in(ctx, &datasets)?);
    let gold_count = gold::gold_map(&items).len();
    let queue = gold::disagreements(&items).len();
    let mut out = crate::stdout();
    write!(out, "{}", stats_text(&s, &stats::annotator_stats(&records)))?;
    writeln!(out, "gold: {gold_count} items; disagreements awaiting adjudication: {queue}")?;
    Ok(ExitCode::SUCCESS)
}

fn f3(x: Option<f64>) -> String {
    x.map_or_else(|| "-".to_string(), |v| format!("{v:.3}"))
}

fn agreement_row(name: &str, r: &AgreementReport) -> String {
    let ci = r.alpha_ci95.map_or_else(String::new, |[lo, hi]| format!("[{lo:.3}, {hi:.3}]"));
    let strength = r.krippendorff_alpha.map_or("-", |a| band(a).name());
    format!(
        "  {:<20} {:>6} {:>8} {:>8} {:>8} {:<16} {}\n",
        one_line(name),
        r.items,
        f3(r.percent_agreement),
        f3(r.fleiss_kappa),
        f3(r.krippendorff_alpha),
        ci,
        strength
    )
}

/// The text form of `sift stats`: agreement tables with Landis & Koch bands, Cohen's kappa per
/// pair, and the annotator table.
pub fn stats_text(s: &AgreementStats, annotators: &[AnnotatorStats]) -> String {
    let mut t = format!("{} items, annotators: {}\n", s.items, one_line(&s.annotators.join(", ")));
    let header = format!(
        "  {:<20} {:>6} {:>8} {:>8} {:>8} {:<16} {}\n",
        "", "items", "agree%", "fleiss", "alpha", "alpha 95% CI", "band (alpha)"
    );
    for (title, map) in [("dimensions", &s.dimensions), ("labels", &s.labels)] {
        t.push_str(&format!("\n{title}\n{header}"));
        for (name, r) in map {
            t.push_str(&agreement_row(name, r));
        }
    }
    t.push_str("\nCohen's kappa per pair (dimensions)\n");
    for (dim, r) in &s.dimensions {
        for (pair, k) in &r.cohen_kappa {
            let b = k.map_or("-", |k| band(k).name());
            let pair = one_line(pair);
            t.push_str(&format!("  {:<20} {:<24} {:>8} {}\n", one_line(dim), pair, f3(*k), b));
        }
    }
    t.push_str(
        "\nannotators              records  items/h  median s  accepted (blind)  accepted (assisted)\n",
    );
    for a in annotators {
        let acc = |x: &stats::Acceptance| match x.rate {
            Some(r) => format!("{:.0}% of {}", r * 100.0, x.with_suggestion),
            None => "-".to_string(),
        };
        t.push_str(&format!(
            "  {:<20} {:>8} {:>8} {:>9} {:>17} {:>20}\n",
            one_line(&a.annotator),
            a.records,
            a.items_per_hour.map_or_else(|| "-".into(), |v| format!("{v:.1}")),
            a.median_seconds.map_or_else(|| "-".into(), |v| format!("{v:.1}")),
            acc(&a.blind),
            acc(&a.assisted)
        ));
    }
    t
}

/// Gold of the datasets in scope.
pub fn gold_in(ctx: &Context, datasets: &[String]) -> Result<BTreeMap<String, Gold>> {
    Ok(gold::gold_map(&gold::group(&answers_in(ctx, datasets)?)))
}

/// `sift eval --run RUN`.
pub fn cmd_eval(ctx: &Context, run: &str, dataset: Option<&str>, json: bool) -> Result<ExitCode> {
    let Some(r) = ctx.store.run(run)? else {
        bail!("no run named {:?} (see `sift runs list`)", one_line(run))
    };
    let (datasets, taxonomy) = scope(ctx, dataset)?;
    let gold = gold_in(ctx, &datasets)?;
    let suggestions = ctx.store.run_suggestions(&r.id)?;
    let report = stats::evaluate_run(&gold, &suggestions, &taxonomy);
    if json {
        let mut v = serde_json::to_value(&report)?;
        if let Some(o) = v.as_object_mut() {
            o.insert("run".into(), r.id.clone().into());
        }
        print_json(&v)?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut out = crate::stdout();
    writeln!(
        out,
        "run {} ({} / {}): {} gold items scored",
        r.id, r.provider, r.model, report.items
    )?;
    writeln!(
        out,
        "micro P/R/F1 {} {} {}   macro P/R/F1 {} {} {}   exact match {}   ECE {}",
        f3(report.micro.precision),
        f3(report.micro.recall),
        f3(report.micro.f1),
        f3(report.macro_avg.precision),
        f3(report.macro_avg.recall),
        f3(report.macro_avg.f1),
        f3(report.exact_match),
        f3(report.ece)
    )?;
    writeln!(
        out,
        "  {:<20} {:>9} {:>9} {:>9} {:>8} {:>10}",
        "label", "precision", "recall", "f1", "support", "best thr"
    )?;
    for (l, s) in &report.labels {
        writeln!(
            out,
            "  {:<20} {:>9} {:>9} {:>9} {:>8} {:>10}",
            one_line(l),
            f3(s.precision),
            f3(s.recall),
            f3(s.f1),
            s.support,
            f3(s.best_threshold)
        )?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Options of `sift export`.
pub struct ExportArgs {
    pub out: PathBuf,
    pub format: ExportFormat,
    pub split: String,
    pub seed: u64,
    pub dataset: Option<String>,
    pub json: bool,
}

/// `sift export --out DIR`.
pub fn cmd_export(ctx: &Context, args: ExportArgs) -> Result<ExitCode> {
    let ratios = SplitRatios::parse(&args.split)?;
    let (datasets, taxonomy) = scope(ctx, args.dataset.as_deref())?;
    let answers = answers_in(ctx, &datasets)?;
    let gold = gold::gold_map(&gold::group(&answers));
    if gold.is_empty() {
        bail!("no item has gold labels yet (answers that agree, or an adjudication)");
    }
    let mut records = Vec::new();
    for d in &datasets {
        records.extend(ctx.store.annotation_records(Some(d))?);
    }
    let suggestions = ctx.store.latest_suggestions()?;
    let agreement = stats::agreement_stats(&answers, &taxonomy, None, false);
    let input = ExportInput {
        gold: &gold,
        records: &records,
        suggestions: &suggestions,
        agreement: &agreement,
        datasets: &datasets,
        taxonomy: &taxonomy.name,
    };
    let summary = export::export(&ctx.store, &input, &args.out, args.format, ratios, args.seed)?;
    if args.json {
        print_json(&summary)?;
    } else {
        writeln!(
            crate::stdout(),
            "{} items -> {} (train {}, val {}, test {})",
            summary.items,
            args.out.display(),
            summary.splits.get("train").unwrap_or(&0),
            summary.splits.get("val").unwrap_or(&0),
            summary.splits.get("test").unwrap_or(&0)
        )?;
        if summary.duplicates > 0 {
            writeln!(
                crate::stdout(),
                "{} items repeat another item's text; each is in its original's split",
                summary.duplicates
            )?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn week_or_last(week: Option<&str>) -> Result<IsoWeek> {
    match week {
        Some(w) => IsoWeek::parse(w).map_err(anyhow::Error::msg),
        None => last_complete_week(jiff::Timestamp::now()).map_err(anyhow::Error::msg),
    }
}

/// `sift sample`.
/// `sift sample --review`: the week's sample as a blind review queue.
fn review_sample(
    ctx: Context,
    week: Option<&str>,
    size: Option<usize>,
    scope: Scope,
) -> Result<ExitCode> {
    let week = week_or_last(week)?;
    let size = size.unwrap_or(ctx.ws.settings.sample.size);
    let source = SampleSource::new(&ctx.store, scope)?;
    let activity = source.activities(&[week])?.pop().unwrap_or_default();
    let s = sample::draw(&activity, week, size, &ctx.ws.id());
    anyhow::ensure!(
        !s.items.is_empty(),
        "no item got a suggestion or a pushed label in {week}: nothing to sample"
    );
    let opts = crate::tui::Options {
        keys: Some(s.items),
        sample_week: Some(week.to_string()),
        ..Default::default()
    };
    crate::tui::run(ctx, opts)
}

pub fn cmd_sample(
    ctx: &Context,
    week: Option<&str>,
    size: Option<usize>,
    scope: Scope,
    json: bool,
) -> Result<ExitCode> {
    let week = week_or_last(week)?;
    let size = size.unwrap_or(ctx.ws.settings.sample.size);
    let source = SampleSource::new(&ctx.store, scope)?;
    let activity = source.activities(&[week])?.pop().unwrap_or_default();
    let s = sample::draw(&activity, week, size, &ctx.ws.id());
    if s.population < size {
        eprintln!(
            "note: only {} item(s) got a suggestion or a pushed label in {week}, fewer than the \
             sample size {size}; the sample is the whole population",
            s.population
        );
    }
    if json {
        print_json(&s)?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut out = crate::stdout();
    writeln!(out, "sample {week}: {} of {} items", s.items.len(), s.population)?;
    for k in &s.items {
        let labels = activity.labels_of(k).map(|l| l.join(", ")).unwrap_or_default();
        writeln!(out, "  {:<40} {}", one_line(k), one_line(&labels))?;
    }
    writeln!(out, "review: sift annotate ITEM --labels ... --mode sample --week {week}")?;
    Ok(ExitCode::SUCCESS)
}

/// `sift sample report`.
pub fn cmd_sample_report(
    ctx: &Context,
    week: Option<&str>,
    weeks: usize,
    scope: Scope,
    json: bool,
) -> Result<ExitCode> {
    let last = week_or_last(week)?;
    let mut span = last.weeks_before(weeks.max(1) - 1).map_err(anyhow::Error::msg)?;
    span.push(last);
    let source = SampleSource::new(&ctx.store, scope)?;
    let records = ctx.store.annotation_records(None)?;
    let reports = sample::report(
        &source,
        &span,
        ctx.ws.settings.sample.size,
        &ctx.ws.id(),
        &records,
        ctx.ws.settings.sample.target_accuracy,
    )?;
    if json {
        print_json(&serde_json::json!({ "weeks": reports }))?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut out = crate::stdout();
    writeln!(out, "week      reviewed  accuracy  95% CI            PSI     chi2 p  flags")?;
    for r in &reports {
        let ci = r.ci95.map_or_else(|| "-".to_string(), |[lo, hi]| format!("[{lo:.3}, {hi:.3}]"));
        writeln!(
            out,
            "{:<9} {:>4}/{:<4} {:>8}  {:<16} {:>7} {:>7}  {}",
            r.week,
            r.reviewed,
            r.size,
            f3(r.accuracy),
            ci,
            f3(r.psi),
            f3(r.chi2_p),
            r.flags.join(", ")
        )?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Dispatch the commands this module owns (called from cli::run).
pub fn run(
    cmd: crate::cli::Command,
    ws: Option<&Path>,
    ov: &crate::workspace::Overrides,
) -> Result<ExitCode> {
    use crate::cli::{AnnotationsCommand, Command, SampleCommand};
    let mut ctx = Context::open(ws, ov)?;
    match cmd {
        Command::Annotate { item, labels, note, mode, week, dataset, duration_ms } => annotate(
            &mut ctx,
            AnnotateArgs { item, labels, note, mode, week, dataset, duration_ms },
        ),
        Command::Annotations {
            action: AnnotationsCommand::Import { file, dataset, taxonomy, json },
        } => annotations_import(&mut ctx, &file, &dataset, taxonomy.as_deref(), json),
        Command::Annotations { action: AnnotationsCommand::Export { dataset, out } } => {
            annotations_export(&ctx, dataset.as_deref(), out.as_deref())
        }
        Command::Stats { dataset, annotators, json, no_ci } => {
            cmd_stats(&ctx, dataset.as_deref(), annotators.as_deref(), json, no_ci)
        }
        Command::Eval { run, dataset, json } => cmd_eval(&ctx, &run, dataset.as_deref(), json),
        Command::Export { what: crate::cli::ExportWhat::Suggestions, run, out, json, .. } => {
            let Some(run) = run else { bail!("--what suggestions needs --run RUN") };
            let n = crate::suggest::runs::export_suggestions(&ctx.store, &run, &out)?;
            if json {
                print_json(&serde_json::json!({ "run": run, "out": out, "suggestions": n }))?;
            } else {
                outln!("{n} suggestions of run {run} written to {}", out.display());
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Export {
            what: crate::cli::ExportWhat::Dataset,
            out,
            format,
            split,
            seed,
            dataset,
            json,
            ..
        } => cmd_export(&ctx, ExportArgs { out, format, split, seed, dataset, json }),
        Command::Sample {
            action: Some(SampleCommand::Report { week, weeks, repo, dataset, json }),
            ..
        } => cmd_sample_report(&ctx, week.as_deref(), weeks, Scope { dataset, repo }, json),
        Command::Sample { action: None, week, size, repo, dataset, json: _, review: true } => {
            review_sample(ctx, week.as_deref(), size, Scope { dataset, repo })
        }
        Command::Sample { action: None, week, size, repo, dataset, json, review: false } => {
            cmd_sample(&ctx, week.as_deref(), size, Scope { dataset, repo }, json)
        }
        other => bail!("command {other:?} is not handled here"),
    }
}
