//! The endpoint's counters in Prometheus text format: requests by route and status, latency,
//! provider errors and fallbacks, cache hits, tokens.

use prometheus::{
    Encoder as _, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    Opts, Registry, TextEncoder,
};

use crate::suggest::predict::Prediction;

/// Every metric of the endpoint, registered once.
pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    latency: HistogramVec,
    provider_errors: IntCounterVec,
    fallbacks: IntCounterVec,
    cache_hits: IntCounter,
    tokens: IntCounterVec,
    in_flight: IntGauge,
    predict_latency: Histogram,
}

/// Latency buckets from half a millisecond to a minute.
fn buckets() -> Vec<f64> {
    vec![
        0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0,
        60.0,
    ]
}

impl Metrics {
    pub fn new() -> Result<Self, prometheus::Error> {
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new("sift_serve_requests_total", "HTTP requests answered, by route and status"),
            &["route", "status"],
        )?;
        let latency = HistogramVec::new(
            HistogramOpts::new("sift_serve_request_duration_seconds", "Time to answer a request")
                .buckets(buckets()),
            &["route"],
        )?;
        let provider_errors = IntCounterVec::new(
            Opts::new("sift_serve_provider_errors_total", "Failed provider attempts, by kind"),
            &["kind"],
        )?;
        let fallbacks = IntCounterVec::new(
            Opts::new("sift_serve_fallbacks_total", "Predictions answered by a fallback provider"),
            &["provider"],
        )?;
        let cache_hits =
            IntCounter::new("sift_serve_cache_hits_total", "Predictions answered from the cache")?;
        let tokens = IntCounterVec::new(
            Opts::new("sift_serve_tokens_total", "Provider tokens spent, by direction"),
            &["direction"],
        )?;
        let in_flight = IntGauge::new("sift_serve_in_flight", "Predictions being answered now")?;
        let predict_latency = Histogram::with_opts(
            HistogramOpts::new(
                "sift_serve_prediction_duration_seconds",
                "Time from a valid request to its prediction (providers, retries, fallbacks)",
            )
            .buckets(buckets()),
        )?;
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(latency.clone()))?;
        registry.register(Box::new(provider_errors.clone()))?;
        registry.register(Box::new(fallbacks.clone()))?;
        registry.register(Box::new(cache_hits.clone()))?;
        registry.register(Box::new(tokens.clone()))?;
        registry.register(Box::new(in_flight.clone()))?;
        registry.register(Box::new(predict_latency.clone()))?;
        Ok(Metrics {
            registry,
            requests,
            latency,
            provider_errors,
            fallbacks,
            cache_hits,
            tokens,
            in_flight,
            predict_latency,
        })
    }

    /// One answered request.
    pub fn request(&self, route: &str, status: u16, secs: f64) {
        self.requests.with_label_values(&[route, &status.to_string()]).inc();
        self.latency.with_label_values(&[route]).observe(secs);
    }

    /// What one prediction cost and how it was reached.
    pub fn prediction(&self, p: &Prediction, secs: f64) {
        self.predict_latency.observe(secs);
        self.attempt_errors(&p.errors);
        if p.fallback {
            self.fallbacks.with_label_values(&[p.provider.as_str()]).inc();
        }
        if p.cached {
            self.cache_hits.inc();
        }
        self.tokens.with_label_values(&["in"]).inc_by(p.tokens_in);
        self.tokens.with_label_values(&["out"]).inc_by(p.tokens_out);
    }

    /// Failed attempts (of a prediction that failed altogether, too).
    pub fn attempt_errors(&self, kinds: &[String]) {
        for kind in kinds {
            self.provider_errors.with_label_values(&[kind.as_str()]).inc();
        }
    }

    pub fn in_flight(&self) -> &IntGauge {
        &self.in_flight
    }

    /// The text exposition format (version 0.0.4).
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        // Encoding gathered families into memory does not fail; an empty answer says so.
        if let Err(e) = TextEncoder::new().encode(&self.registry.gather(), &mut buf) {
            tracing::warn!("metrics: {e}");
        }
        String::from_utf8_lossy(&buf).into_owned()
    }
}

/// The Content-Type of [`Metrics::render`].
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_counted_by_route_and_status() {
        let m = Metrics::new().unwrap();
        m.request("/predict", 200, 0.002);
        m.request("/predict", 200, 0.003);
        m.request("/predict", 413, 0.001);
        let text = m.render();
        assert!(text.contains(r#"sift_serve_requests_total{route="/predict",status="200"} 2"#));
        assert!(text.contains(r#"sift_serve_requests_total{route="/predict",status="413"} 1"#));
        assert!(text.contains(r#"sift_serve_request_duration_seconds_count{route="/predict"} 3"#));
    }
}
