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
    let rows =
        store.queue_rows(&QueueFilter { dataset: Some(dataset.into()), ..Default::default() })?;
    let started_at = now_rfc3339();
    let run_id = format!("r-{}", &sha256_hex(&format!("{name}{started_at}{dataset}"))[..12]);
    let mut suggestions = Vec::with_capacity(rows.len());
    let mut hashes = Vec::with_capacity(rows.len());
    for row in &rows {
        let Some(item) = store.item(&row.key)? else { continue };
        hashes.push(item.content_hash());
        let answer = k.suggest(&item);
        let v = validate::finalize(tax, &answer.labels);
        let signals = crate::text::signals::Signals::of(&item);
        let violations = rules::check(tax, &v.labels, &signals).violations;
        let summary = runner::summary_of(&parse::RawAnswer::default(), Some(&item));
        suggestions.push(Suggestion {
            item: item.key.clone(),
            run: run_id.clone(),
            labels: v.labels,
            rationale: answer.rationale,
            abstained: v.abstained,
            raw_labels: answer.labels,
            dropped: v.dropped,
            violations,
            summary,
            created_at: started_at.clone(),
            ..Default::default()
        });
    }
    hashes.sort();
    let run = Run {
        id: run_id,
        name: Some(name.to_string()),
        provider: "keywords".into(),
        model: "labels.yml aliases".into(),
        prompt_version: "keywords-v1".into(),
        prompt_hash: tax.hash(),
        taxonomy: tax.name.clone(),
        taxonomy_hash: tax.hash(),
        config: serde_json::json!({ "dataset": dataset }),
        dataset_fingerprint: sha256_hex(&hashes.concat()),
        started_at: started_at.clone(),
        finished_at: Some(now_rfc3339()),
        status: "done".into(),
        state: RunState::Experimental,
        ..Default::default()
    };
    store.save_run(&run)?;
    store.save_suggestions(&suggestions)?;
    Ok(run)
}
