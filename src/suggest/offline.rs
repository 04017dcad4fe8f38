//! Offline providers behind the `Suggester` trait: the keyword matcher and the local model
//! trained by `sift train`.

use std::sync::Arc;

use futures::future::BoxFuture;

use super::keywords::KeywordSuggester;
use super::local::LocalModel;
use super::parse::RawAnswer;
use super::provider::{Answer, ProviderConfig, ProviderError, Request, Suggester};
use crate::model::LabelScore;
use crate::taxonomy::Taxonomy;

/// labels.yml names, aliases and example words matched against the item.
pub struct KeywordProvider {
    inner: KeywordSuggester,
}

impl KeywordProvider {
    pub fn new(tax: &Taxonomy) -> Self {
        KeywordProvider { inner: KeywordSuggester::new(tax) }
    }
}

impl Suggester for KeywordProvider {
    fn provider(&self) -> &str {
        "keywords"
    }

    fn model(&self) -> &str {
        "labels.yml aliases"
    }

    fn remote(&self) -> bool {
        false
    }

    fn suggest<'a>(&'a self, req: &'a Request) -> BoxFuture<'a, Result<Answer, ProviderError>> {
        let a = self.inner.suggest(&req.item);
        let raw = RawAnswer { labels: a.labels, rationale: a.rationale, ..Default::default() };
        Box::pin(async move { Ok(Answer { raw, tokens_in: 0, tokens_out: 0 }) })
    }
}

/// The model trained by `sift train` on the workspace's gold labels.
pub struct LocalProvider {
    model: LocalModel,
    /// `local:<first 12 hex of the data fingerprint>`: a retrained model is another model.
    name: String,
}

impl LocalProvider {
    pub fn new(model: LocalModel) -> Self {
        let fp = model.fingerprint();
        let name = format!("local:{}", &fp[..fp.len().min(12)]);
        LocalProvider { model, name }
    }
}

impl Suggester for LocalProvider {
    fn provider(&self) -> &str {
        "local"
    }

    fn model(&self) -> &str {
        &self.name
    }

    fn remote(&self) -> bool {
        false
    }

    fn suggest<'a>(&'a self, req: &'a Request) -> BoxFuture<'a, Result<Answer, ProviderError>> {
        let labels = model_labels(&self.model, &req.item.full_text());
        let rationale = format!("local model {}", self.name);
        Box::pin(async move {
            let raw = RawAnswer { labels, rationale, ..Default::default() };
            Ok(Answer { raw, tokens_in: 0, tokens_out: 0 })
        })
    }
}

/// The raw answer of the local model for a text, before validation against the taxonomy.
pub fn model_labels(model: &LocalModel, text: &str) -> Vec<LabelScore> {
    let predicted = model.predict(text).into_iter().filter(|(_, p)| *p >= MIN_REPORTED);
    predicted.map(|(name, p)| LabelScore { name, confidence: Some(round3(p)) }).collect()
}

/// Probabilities below this are not worth reporting (validation drops them anyway).
const MIN_REPORTED: f64 = 0.05;

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// The local trained model for a taxonomy, if `sift train` made one for this label space.
pub fn build_local(cfg: &ProviderConfig, tax: &Taxonomy) -> Result<Arc<dyn Suggester>, String> {
    let path = cfg.models_dir.join(format!("{}.model", tax.name));
    if !path.exists() {
        return Err(format!("no trained model at {} (run `sift train`)", path.display()));
    }
    let model = LocalModel::load(&path).map_err(|e| e.to_string())?;
    if model.dimensions() != super::train::dimensions(tax).as_slice() {
        return Err(format!(
            "the model at {} was trained for other labels; run `sift train` again",
            path.display()
        ));
    }
    Ok(Arc::new(LocalProvider::new(model)))
}
