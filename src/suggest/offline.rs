//! Offline providers behind the `Suggester` trait: the keyword matcher and the local model.

use std::sync::Arc;

use futures::future::BoxFuture;

use super::keywords::KeywordSuggester;
use super::parse::RawAnswer;
use super::provider::{Answer, ProviderConfig, ProviderError, Request, Suggester};
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
        let raw = RawAnswer { labels: a.labels, rationale: a.rationale };
        Box::pin(async move { Ok(Answer { raw, tokens_in: 0, tokens_out: 0 }) })
    }
}

/// The local trained model for a taxonomy, if `sift train` made one.
pub fn build_local(cfg: &ProviderConfig, tax: &Taxonomy) -> Result<Arc<dyn Suggester>, String> {
    let path = cfg.models_dir.join(format!("{}.model", tax.name));
    Err(format!("no trained model at {} (run `sift train`)", path.display()))
}
