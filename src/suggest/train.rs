//! `sift train`: fit the local model on the workspace's gold labels (adjudicated or
//! unanimous answers) and save it under .sift/models/<taxonomy>.model.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

use serde::Serialize;

use super::crossval::{Answering, CrossValidation, cross_validate};
use super::local::{self, LocalModel, TrainOptions};
use super::runs::{RunsError, gold_labels};
use crate::store::Store;
use crate::taxonomy::{LabelsFile, Select, Taxonomy};
use crate::workspace::Workspace;

#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error(transparent)]
    Runs(#[from] RunsError),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error(transparent)]
    Taxonomy(#[from] crate::taxonomy::TaxonomyError),
    #[error(transparent)]
    Local(#[from] local::LocalError),
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("cross-validation with --cv {folds}: {source}")]
    CrossValidation { folds: usize, source: local::LocalError },
    #[error("no gold labels for taxonomy `{0}` yet: annotate some items first")]
    NoGold(String),
}

/// What `sift train` did.
#[derive(Debug, Clone, Serialize)]
pub struct TrainReport {
    pub taxonomy: String,
    pub dataset: Option<String>,
    pub examples: usize,
    /// Gold labels outside the taxonomy, ignored.
    pub unknown_labels: usize,
    /// Examples per label.
    pub labels: BTreeMap<String, usize>,
    pub fingerprint: String,
    pub path: PathBuf,
    pub seconds: f64,
    /// With `--cv K`: the model's scores on gold it was not trained on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cross_validation: Option<CrossValidation>,
}

/// The local model's label space for a taxonomy.
pub fn dimensions(tax: &Taxonomy) -> Vec<local::Dimension> {
    tax.dimensions
        .iter()
        .map(|d| local::Dimension {
            name: d.name.clone(),
            single: d.select == Select::One,
            labels: d.labels.iter().map(|l| l.name.clone()).collect(),
        })
        .collect()
}

/// What a model was trained on, saved beside it (`<taxonomy>.model.json`): `sift eval`
/// leaves these items out (a model scored on its own training data looks far better than it
/// is), and the stale-model check rebuilds the same scope.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct TrainingSet {
    pub fingerprint: String,
    pub taxonomy: String,
    /// The `--dataset` it was trained on (None: every dataset of the taxonomy).
    pub dataset: Option<String>,
    pub items: Vec<String>,
}

impl TrainingSet {
    fn path(model: &std::path::Path) -> PathBuf {
        let mut p = model.as_os_str().to_owned();
        p.push(".json");
        PathBuf::from(p)
    }

    fn save(&self, model: &std::path::Path) -> Result<(), TrainError> {
        let path = Self::path(model);
        let text = serde_json::to_string(self).unwrap_or_default();
        std::fs::write(&path, text).map_err(|source| TrainError::Io { path, source })
    }

    /// The training set of the model at `model`, if it was saved with one.
    pub fn of_model(model: &std::path::Path) -> Option<Self> {
        let text = std::fs::read_to_string(Self::path(model)).ok()?;
        serde_json::from_str(&text).ok()
    }

    /// The training set of the local model named `local:<fingerprint start>`, found among the
    /// workspace's models.
    pub fn of_model_name(ws: &Workspace, name: &str) -> Option<Self> {
        let start = name.strip_prefix("local:")?;
        let dir = std::fs::read_dir(ws.models_dir()).ok()?;
        dir.flatten()
            .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
            .filter_map(|e| {
                serde_json::from_str::<Self>(&std::fs::read_to_string(e.path()).ok()?).ok()
            })
            .find(|s| !start.is_empty() && s.fingerprint.starts_with(start))
    }
}

/// Where the model of a taxonomy lives.
pub fn model_path(ws: &Workspace, taxonomy: &str) -> PathBuf {
    ws.models_dir().join(format!("{taxonomy}.model"))
}

/// Gold-labeled training data of one taxonomy.
pub struct GoldSet<'a> {
    pub taxonomy: &'a Taxonomy,
    /// `(item text, canonical labels)`, in item key order.
    pub examples: Vec<(String, Vec<String>)>,
    /// The examples' item keys, in the same order.
    pub keys: Vec<String>,
    /// Gold labels outside the taxonomy, dropped.
    pub unknown: usize,
}

/// Gold-labeled examples of a dataset (or of every dataset using the default taxonomy).
pub fn gold_examples<'a>(
    ws: &Workspace,
    labels: &'a LabelsFile,
    store: &Store,
    dataset: Option<&str>,
) -> Result<GoldSet<'a>, TrainError> {
    let tname = dataset.map(|d| ws.settings.taxonomy_for(d)).unwrap_or(&ws.settings.taxonomy);
    let tax = labels.get(tname)?;
    let gold = gold_labels(ws, store)?;
    let mut keys: Vec<&String> = gold.keys().collect();
    keys.sort();
    let mut examples = Vec::new();
    let mut in_set = Vec::new();
    let mut unknown = 0;
    for key in keys {
        let Some(item) = store.item(key)? else { continue };
        let in_scope = match dataset {
            Some(d) => item.dataset == d,
            None => ws.settings.taxonomy_for(&item.dataset) == tname,
        };
        if !in_scope {
            continue;
        }
        let (names, bad) = tax.canonicalize(gold[key].iter().map(String::as_str));
        unknown += bad.len();
        examples.push((item.full_text(), names));
        in_set.push(key.clone());
    }
    Ok(GoldSet { taxonomy: tax, examples, keys: in_set, unknown })
}

/// Train and save the local model.
pub fn train(
    ws: &Workspace,
    labels: &LabelsFile,
    store: &Store,
    dataset: Option<&str>,
    cv_folds: Option<usize>,
) -> Result<TrainReport, TrainError> {
    let GoldSet { taxonomy: tax, examples, keys, unknown } =
        gold_examples(ws, labels, store, dataset)?;
    if examples.is_empty() {
        return Err(TrainError::NoGold(tax.name.clone()));
    }
    let (dims, opts) = (dimensions(tax), TrainOptions::default());
    let cross_validation = match cv_folds {
        Some(k) => {
            let answering = Answering::AsARun(tax);
            let bar = crate::progress::bar(k as u64, "folds");
            bar.set_message("cross-validation");
            let cv = cross_validate(&examples, &dims, &opts, answering, (k, opts.seed), Some(&bar));
            bar.finish_and_clear();
            Some(cv.map_err(|source| TrainError::CrossValidation { folds: k, source })?)
        }
        None => None,
    };
    // Timed after cross-validation, so `seconds` is what training the saved model took.
    let started = Instant::now();
    let model = LocalModel::train(&examples, &dims, &opts)?;
    let path = model_path(ws, &tax.name);
    let dir = ws.models_dir();
    std::fs::create_dir_all(&dir).map_err(|source| TrainError::Io { path: dir, source })?;
    model.save(&path)?;
    let set = TrainingSet {
        fingerprint: model.fingerprint().to_string(),
        taxonomy: tax.name.clone(),
        dataset: dataset.map(str::to_string),
        items: keys,
    };
    set.save(&path)?;
    let mut counts = BTreeMap::new();
    for (_, l) in &examples {
        for n in l {
            *counts.entry(n.clone()).or_insert(0) += 1;
        }
    }
    Ok(TrainReport {
        taxonomy: tax.name.clone(),
        dataset: dataset.map(str::to_string),
        examples: examples.len(),
        unknown_labels: unknown,
        labels: counts,
        fingerprint: model.fingerprint().to_string(),
        path,
        seconds: started.elapsed().as_secs_f64(),
        cross_validation,
    })
}
