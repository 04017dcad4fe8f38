//! Label suggestions: providers behind one trait, output validation, runs.

pub mod anthropic;
pub mod batch_api;
pub mod cmd;
pub mod crossval;
pub mod keywords;
pub mod lifecycle;
// Owned by the local-model work on main; left as main has it so merges stay clean.
pub mod local;
pub mod matrix;
pub mod offline;
pub mod openai;
pub mod parse;
pub mod predict;
pub mod prompt;
pub mod provider;
pub mod rules;
pub mod runner;
pub mod runs;
pub mod stats;
pub mod train;
pub mod validate;
mod worker;

pub use prompt::{ExampleSource, FewShot, NoExamples, PromptBundle, SimilarGold};
pub use provider::{ProviderError, Suggester};
pub use runner::{
    ItemResult, OnItem, RunOptions, RunReport, run_suggestions, suggest_keys_blocking,
};

use anyhow::Result;

use crate::model::{Run, RunState, Suggestion, now_rfc3339, sha256_hex};
use crate::store::{QueueFilter, Store};
use crate::taxonomy::Taxonomy;

/// Run the keyword suggester over a dataset and store the run. Offline and instant, so the
/// demo and a fresh workspace have suggestions before any provider is configured.
pub fn keyword_run(store: &mut Store, tax: &Taxonomy, dataset: &str, name: &str) -> Result<Run> {
    let k = keywords::KeywordSuggester::new(tax);
    let who = OfflineRun {
        name,
        provider: "keywords",
        model: "labels.yml aliases".into(),
        prompt_version: "keywords-v1",
        at: None,
    };
    offline_run(store, tax, dataset, &who, &mut |item| {
        let a = k.suggest(item);
        (a.labels, a.rationale)
    })
}

/// Run a model trained by `sift train` over a dataset and store the run, as a `local`
/// provider run would; no worker, no budget, no network. `at` dates each suggestion (the
/// demo replays a week of the labeling bot); without it, every suggestion is made now.
pub fn local_run(
    store: &mut Store,
    tax: &Taxonomy,
    dataset: &str,
    name: &str,
    model: &local::LocalModel,
    at: Option<&dyn Fn(&crate::model::Item) -> String>,
) -> Result<Run> {
    let fp = model.fingerprint();
    let who = OfflineRun {
        name,
        provider: "local",
        model: format!("local:{}", &fp[..fp.len().min(12)]),
        prompt_version: "local-v1",
        at,
    };
    let rationale = format!("local model {}", who.model);
    offline_run(store, tax, dataset, &who, &mut |item| {
        (offline::model_labels(model, &item.full_text()), rationale.clone())
    })
}

/// Who answers an offline run.
struct OfflineRun<'a> {
    name: &'a str,
    provider: &'a str,
    model: String,
    prompt_version: &'a str,
    /// When each suggestion was made, if not now.
    at: Option<&'a dyn Fn(&crate::model::Item) -> String>,
}

/// Ask `answer` about every item of a dataset, validate and check the answers as a live run
/// does, and store the run with its suggestions.
fn offline_run(
    store: &mut Store,
    tax: &Taxonomy,
    dataset: &str,
    who: &OfflineRun,
    answer: &mut dyn FnMut(&crate::model::Item) -> (Vec<crate::model::LabelScore>, String),
) -> Result<Run> {
    let rows =
        store.queue_rows(&QueueFilter { dataset: Some(dataset.into()), ..Default::default() })?;
    let started_at = now_rfc3339();
    let run_id = format!("r-{}", &sha256_hex(&format!("{}{started_at}{dataset}", who.name))[..12]);
    let mut suggestions = Vec::with_capacity(rows.len());
    let mut hashes = Vec::with_capacity(rows.len());
    for row in &rows {
        let Some(item) = store.item(&row.key)? else { continue };
        hashes.push(item.content_hash());
        let (labels, rationale) = answer(&item);
        let v = validate::finalize(tax, &labels);
        let signals = crate::text::signals::Signals::of(&item);
        let violations = rules::check(tax, &v.labels, &signals).violations;
        let summary = runner::summary_of(&parse::RawAnswer::default(), Some(&item));
        suggestions.push(Suggestion {
            item: item.key.clone(),
            run: run_id.clone(),
            labels: v.labels,
            rationale,
            abstained: v.abstained,
            raw_labels: labels,
            dropped: v.dropped,
            violations,
            summary,
            created_at: who.at.map(|at| at(&item)).unwrap_or_else(|| started_at.clone()),
            ..Default::default()
        });
    }
    hashes.sort();
    // A dated run spans its suggestions.
    let first = suggestions.iter().map(|s| s.created_at.as_str()).min();
    let last = suggestions.iter().map(|s| s.created_at.as_str()).max();
    let (started, finished) = match (who.at, first, last) {
        (Some(_), Some(a), Some(b)) => (a.to_string(), b.to_string()),
        _ => (started_at.clone(), now_rfc3339()),
    };
    let run = Run {
        id: run_id,
        name: Some(who.name.to_string()),
        provider: who.provider.into(),
        model: who.model.clone(),
        prompt_version: who.prompt_version.into(),
        prompt_hash: tax.hash(),
        taxonomy: tax.name.clone(),
        taxonomy_hash: tax.hash(),
        config: serde_json::json!({ "dataset": dataset }),
        dataset_fingerprint: sha256_hex(&hashes.concat()),
        started_at: started,
        finished_at: Some(finished),
        status: "done".into(),
        state: RunState::Experimental,
        ..Default::default()
    };
    store.save_run(&run)?;
    store.save_suggestions(&suggestions)?;
    Ok(run)
}
