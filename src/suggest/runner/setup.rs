//! Starting a run: the taxonomy, the provider chain, the run record, and the warnings and
//! progress bar shown before the first item.

use super::*;

/// A warning when the chain's local model was trained on other gold labels than the
/// workspace has now (its name carries the start of its data fingerprint).
pub(super) fn stale_local_model(
    ws: &Workspace,
    labels: &LabelsFile,
    store: &Store,
    opts: &RunOptions,
    chain: &[Arc<dyn Suggester>],
) -> Option<String> {
    let local = chain.iter().find(|p| p.provider() == "local")?;
    let trained = local.model().strip_prefix("local:")?;
    // The gold of the scope the model was trained on (its saved training set says which),
    // not of this run's --dataset: another scope is other data, not newer data.
    let set = super::super::train::TrainingSet::of_model_name(ws, local.model());
    let scope = match &set {
        Some(s) => s.dataset.as_deref(),
        None => opts.dataset.as_deref(),
    };
    let gold = super::super::train::gold_examples(ws, labels, store, scope).ok()?;
    let now = super::super::local::data_fingerprint(&gold.examples);
    (!now.starts_with(trained)).then(|| {
        "the local model was trained on other gold labels than the workspace has now; \
         run `sift train` to refresh it"
            .to_string()
    })
}

/// Settings a resume may change without making another run; each resume's are recorded.
const RESUME_SETTINGS: [&str; 5] =
    ["base_url", "timeout_secs", "concurrency", "retries", "response_format"];

/// Record what this resume uses in the run's config (`resumes`), and say which settings
/// differ from the ones the run started with.
fn record_resume(run: &mut Run, opts: &RunOptions, warnings: &mut Vec<String>) {
    let now = opts.snapshot();
    let mut used = serde_json::Map::new();
    used.insert("at".into(), json!(now_rfc3339()));
    let mut changed = Vec::new();
    for key in RESUME_SETTINGS {
        let value = now.get(key).cloned().unwrap_or(Value::Null);
        if run.config.get(key).is_some_and(|before| *before != value) {
            changed.push(format!("{key} {} (started with {})", value, run.config[key]));
        }
        used.insert(key.into(), value);
    }
    if !changed.is_empty() {
        warnings.push(format!("resuming run with other settings: {}", changed.join(", ")));
    }
    let Some(config) = run.config.as_object_mut() else { return };
    match config.get_mut("resumes").and_then(Value::as_array_mut) {
        Some(list) => list.push(Value::Object(used)),
        None => {
            config.insert("resumes".into(), json!([used]));
        }
    }
}

/// Held while this process works a named run; the OS releases it when the process ends.
pub(super) struct RunLock {
    _file: std::fs::File,
}

/// Take the named run's lock, or say which process holds it.
pub(super) fn lock_run(ws: &Workspace, name: &str) -> Result<RunLock, RunError> {
    let dir = ws.state_dir().join("locks");
    let path = dir.join(format!("run-{}.lock", &sha256_hex(name)[..16]));
    let io = |source| RunError::Io { path: path.clone(), source };
    std::fs::create_dir_all(&dir).map_err(io)?;
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(&path)
        .map_err(io)?;
    match file.try_lock() {
        Ok(()) => {
            file.set_len(0).map_err(io)?;
            write!(file, "{}", std::process::id()).map_err(io)?;
            Ok(RunLock { _file: file })
        }
        Err(std::fs::TryLockError::WouldBlock) => {
            let pid = std::fs::read_to_string(&path).unwrap_or_default();
            let pid = pid.trim();
            let holder = if pid.is_empty() { String::new() } else { format!(" (pid {pid})") };
            Err(RunError::Busy { name: name.to_string(), holder })
        }
        Err(std::fs::TryLockError::Error(e)) => Err(io(e)),
    }
}

pub(in crate::suggest) fn today() -> String {
    jiff::Timestamp::now().strftime("%Y-%m-%d").to_string()
}

/// The warning due once 80% of the daily budget is used.
pub(super) fn budget_warning(used: u64, limit: u64) -> Option<String> {
    (limit > 0 && used * 5 >= limit * 4)
        .then(|| format!("{used} of today's {limit}-token budget used ({}%)", used * 100 / limit))
}

pub(super) fn progress_bar(show: bool, n: usize) -> indicatif::ProgressBar {
    if !show {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::with_draw_target(
        Some(n as u64),
        indicatif::ProgressDrawTarget::stderr(),
    );
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "{spinner} [{bar:30}] {pos}/{len} items  {per_sec}  ETA {eta}  {msg}",
    ) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

/// The taxonomy of the items in scope; refuses a mix.
pub(super) fn pick_taxonomy<'a>(
    ws: &Workspace,
    labels: &'a LabelsFile,
    rows: &[crate::store::QueueRow],
    dataset: Option<&str>,
) -> Result<&'a Taxonomy, RunError> {
    let mut names: Vec<&str> = rows.iter().map(|r| ws.settings.taxonomy_for(&r.dataset)).collect();
    names.sort();
    names.dedup();
    let name = match (names.as_slice(), dataset) {
        (_, Some(d)) => ws.settings.taxonomy_for(d),
        ([], None) => ws.settings.taxonomy.as_str(),
        ([one], None) => one,
        (many, None) => {
            return Err(RunError::Usage(format!(
                "the items use several taxonomies ({}); pass --dataset D",
                many.join(", ")
            )));
        }
    };
    Ok(labels.get(name)?)
}

/// The primary provider then the configured fallbacks. An unconfigured primary is replaced
/// by the first configured fallback (with a warning).
pub(in crate::suggest) fn build_chain(
    ws: &Workspace,
    opts: &RunOptions,
    tax: &Taxonomy,
    warnings: &mut Vec<String>,
) -> Result<Vec<Arc<dyn Suggester>>, RunError> {
    let cfg = ProviderConfig {
        model: opts.model.clone(),
        base_url: opts.base_url.clone(),
        send_key: opts.untrusted_base_url.is_none(),
        timeout: opts.timeout,
        models_dir: ws.models_dir(),
        response_format: opts.response_format.clone(),
    };
    if !provider::PROVIDERS.contains(&opts.provider.as_str()) {
        return Err(RunError::Usage(format!(
            "unknown provider `{}`; use one of {}",
            opts.provider,
            provider::PROVIDERS.join(", ")
        )));
    }
    if opts.untrusted_base_url.is_some() && opts.provider == "openai" {
        warnings.push(provider::untrusted_base_url(&cfg));
    }
    let fallback_cfg =
        ProviderConfig { model: None, base_url: None, send_key: true, ..cfg.clone() };
    let mut chain: Vec<Arc<dyn Suggester>> = Vec::new();
    let mut reasons = Vec::new();
    match provider::build(&opts.provider, &cfg, tax) {
        Ok(p) => chain.push(p),
        Err(e) => reasons.push(e.to_string()),
    }
    for name in opts.fallback.iter().filter(|n| **n != opts.provider) {
        match provider::build(name, &fallback_cfg, tax) {
            Ok(p) => chain.push(p),
            Err(e) => reasons.push(e.to_string()),
        }
    }
    if chain.is_empty() {
        return Err(RunError::NoProvider(reasons.join("; ")));
    }
    if chain[0].provider() != opts.provider {
        warnings.push(format!("{}; using {} instead", reasons[0], chain[0].provider()));
    }
    Ok(chain)
}

/// Resume the named run if it exists (same provider, model and prompt), else start one.
pub(super) fn open_run(
    store: &Store,
    opts: &RunOptions,
    tax: &Taxonomy,
    primary: &dyn Suggester,
    bundle: &PromptBundle,
    warnings: &mut Vec<String>,
) -> Result<Run, RunError> {
    let prompt_hash = bundle.hash();
    if let Some(name) = &opts.name
        && let Some(mut run) = store.run(name)?
    {
        let same = run.provider == primary.provider()
            && run.model == primary.model()
            && run.prompt_hash == prompt_hash;
        if !same {
            return Err(RunError::NameTaken {
                name: name.clone(),
                what: format!(
                    "provider {} model {} prompt {}",
                    run.provider,
                    run.model,
                    crate::text::prefix(&run.prompt_hash, 12)
                ),
            });
        }
        run.status = "running".into();
        run.finished_at = None;
        record_resume(&mut run, opts, warnings);
        store.save_run(&run)?;
        return Ok(run);
    }
    let started_at = now_rfc3339();
    let nonce: u64 = rand::rng().random();
    let run = Run {
        id: format!("r-{}", &sha256_hex(&format!("{started_at}{nonce}"))[..12]),
        name: opts.name.clone(),
        provider: primary.provider().into(),
        model: primary.model().into(),
        prompt_version: opts.prompt_version.clone(),
        prompt_hash,
        taxonomy: tax.name.clone(),
        taxonomy_hash: tax.hash(),
        config: opts.snapshot(),
        dataset_fingerprint: String::new(),
        started_at,
        finished_at: None,
        status: "running".into(),
        state: RunState::Experimental,
        bundle: bundle.canonical(),
        ..Default::default()
    };
    store.save_run(&run)?;
    Ok(run)
}
