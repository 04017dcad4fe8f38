//! The routes and the limits around them: bearer token, body size, slow clients, the
//! concurrency limit (503 with Retry-After), the per-request timeout (504), and metrics.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use tokio::sync::Semaphore;

use super::api::{self, PredictRequest, Subject};
use super::metrics::{self, Metrics};
use super::record::{Recorder, Served};
use crate::suggest::predict::{PredictError, Predictor, item_from_text};

/// Largest request body taken.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// Dataset of the items made from served texts.
pub const SERVE_DATASET: &str = "serve";

/// How long a readiness answer is reused before the providers are asked again.
const READY_TTL: Duration = Duration::from_secs(5);

/// What every handler shares.
pub struct AppState {
    pub predictor: Predictor,
    pub metrics: Metrics,
    /// SHA-256 of the bearer token, when one is required.
    pub token_hash: Option<[u8; 32]>,
    pub permits: Arc<Semaphore>,
    pub request_timeout: Duration,
    pub recorder: Option<Recorder>,
    pub ready: tokio::sync::Mutex<Option<(Instant, StatusCode, Value)>>,
}

type Shared = Arc<AppState>;

/// The router with its middleware.
pub fn router(state: Shared) -> Router {
    let guarded = Router::new()
        .route("/predict", post(predict))
        .route("/metrics", get(metrics_text))
        .route("/version", get(version))
        .route_layer(middleware::from_fn_with_state(state.clone(), require_token));
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .merge(guarded)
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(state.clone(), count))
        .with_state(state)
}

/// A JSON error answer: `{"error": message}`.
pub fn error(status: StatusCode, message: impl Into<String>) -> Response {
    let message = crate::secrets::scrub(&message.into()).into_owned();
    (status, axum::Json(json!({ "error": message }))).into_response()
}

/// Count every answer by route and status, with its latency.
async fn count(State(s): State<Shared>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let route = match req.uri().path() {
        p @ ("/predict" | "/healthz" | "/readyz" | "/metrics" | "/version") => p.to_string(),
        // Any other path is one label: callers' typos must not grow the metrics.
        _ => "other".to_string(),
    };
    let resp = next.run(req).await;
    s.metrics.request(&route, resp.status().as_u16(), started.elapsed().as_secs_f64());
    resp
}

/// The bearer token, when one is set. Compared as digests, so the time taken says nothing
/// about how much of a guess was right.
async fn require_token(State(s): State<Shared>, req: Request, next: Next) -> Response {
    let Some(want) = &s.token_hash else { return next.run(req).await };
    let given = bearer(req.headers()).map(digest);
    if given.as_ref() == Some(want) {
        return next.run(req).await;
    }
    let mut resp = error(StatusCode::UNAUTHORIZED, "a valid bearer token is required");
    resp.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    resp
}

/// SHA-256 of a token.
pub fn digest(token: &str) -> [u8; 32] {
    use sha2::Digest as _;
    sha2::Sha256::digest(token.as_bytes()).into()
}

fn bearer(h: &HeaderMap) -> Option<&str> {
    let v = h.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

async fn not_found() -> Response {
    error(StatusCode::NOT_FOUND, "no such route; try POST /predict")
}

async fn healthz() -> Response {
    (StatusCode::OK, axum::Json(json!({ "status": "ok" }))).into_response()
}

async fn version(State(s): State<Shared>) -> Response {
    axum::Json(s.predictor.version()).into_response()
}

async fn metrics_text(State(s): State<Shared>) -> Response {
    ([(header::CONTENT_TYPE, metrics::CONTENT_TYPE)], s.metrics.render()).into_response()
}

/// Ready when some provider of the chain answers: the primary, or a fallback (offline ones
/// always do).
async fn readyz(State(s): State<Shared>) -> Response {
    let mut cached = s.ready.lock().await;
    if let Some((at, status, body)) = cached.as_ref()
        && at.elapsed() < READY_TTL
    {
        return (*status, axum::Json(body.clone())).into_response();
    }
    let probes = s.predictor.probe().await;
    let ready = probes.iter().any(|(_, _, ok, _)| *ok);
    let providers: Vec<Value> = probes
        .into_iter()
        .map(|(name, remote, ok, err)| {
            let err = err.map(|e| crate::secrets::scrub(&e).into_owned());
            json!({ "provider": name, "remote": remote, "reachable": ok, "error": err })
        })
        .collect();
    let body = json!({ "ready": ready, "providers": providers });
    let status = if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    *cached = Some((Instant::now(), status, body.clone()));
    (status, axum::Json(body)).into_response()
}

/// `POST /predict`.
async fn predict(State(s): State<Shared>, req: Request) -> Response {
    // Taken before the body is read: a slow client holds a slot like any other request.
    let Ok(_permit) = s.permits.clone().try_acquire_owned() else {
        let mut resp = error(StatusCode::SERVICE_UNAVAILABLE, "too many requests in flight");
        resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        return resp;
    };
    // A body too large to be worth reading is refused at once; a little too large is read
    // (and dropped) first, so the client is not cut off mid-send and sees the 413.
    let declared = req.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok());
    if declared.and_then(|v| v.parse::<u64>().ok()).is_some_and(|n| n > DRAIN_BYTES as u64) {
        return too_large();
    }
    let deadline = tokio::time::Instant::now() + s.request_timeout;
    let bytes = match read_body(req.into_body(), deadline).await {
        Ok(b) => b,
        Err(resp) => return resp,
    };
    let parsed: PredictRequest = match serde_json::from_slice(&bytes) {
        Ok(p) => p,
        Err(e) => {
            return error(StatusCode::BAD_REQUEST, format!("the body is not a valid request: {e}"));
        }
    };
    let checked = match api::check(parsed, s.predictor.taxonomy()) {
        Ok(c) => c,
        Err(msg) => return error(StatusCode::UNPROCESSABLE_ENTITY, msg),
    };
    // The prediction runs as a task of its own: a request that times out (or a client that
    // goes away) leaves it to finish, so its tokens are counted and its reservation released.
    let task = tokio::spawn({
        let s = s.clone();
        async move {
            let _flying = InFlight::new(&s.metrics);
            answer(&s, checked).await
        }
    });
    match tokio::time::timeout_at(deadline, task).await {
        Ok(Ok(resp)) => resp,
        Ok(Err(e)) => {
            error(StatusCode::INTERNAL_SERVER_ERROR, format!("the prediction failed: {e}"))
        }
        Err(_) => error(
            StatusCode::GATEWAY_TIMEOUT,
            format!("no prediction within {} s", s.request_timeout.as_secs_f64()),
        ),
    }
}

/// Counts a prediction in flight for as long as it lives, however it ends.
struct InFlight<'a>(&'a Metrics);

impl<'a> InFlight<'a> {
    fn new(m: &'a Metrics) -> Self {
        m.in_flight().inc();
        InFlight(m)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight().dec();
    }
}

/// Bodies over MAX_BODY_BYTES but under this are read to the end before the 413.
const DRAIN_BYTES: usize = 8 * 1024 * 1024;

/// The body, at most MAX_BODY_BYTES, by the deadline: 413 when longer (read on to
/// DRAIN_BYTES so the client gets the answer), 408 when the client is too slow to send it.
async fn read_body(body: Body, deadline: tokio::time::Instant) -> Result<Bytes, Response> {
    use futures::StreamExt as _;
    let mut stream = body.into_data_stream();
    let mut kept: Vec<u8> = Vec::new();
    let mut seen = 0usize;
    loop {
        let next = match tokio::time::timeout_at(deadline, stream.next()).await {
            Err(_) => {
                let msg = "the request body did not arrive in time";
                return Err(error(StatusCode::REQUEST_TIMEOUT, msg));
            }
            Ok(next) => next,
        };
        match next {
            None => break,
            Some(Err(e)) => {
                return Err(error(StatusCode::BAD_REQUEST, format!("cannot read the body: {e}")));
            }
            Some(Ok(chunk)) => {
                seen += chunk.len();
                if seen <= MAX_BODY_BYTES {
                    kept.extend_from_slice(&chunk);
                } else if seen > DRAIN_BYTES {
                    break;
                }
            }
        }
    }
    if seen > MAX_BODY_BYTES {
        return Err(too_large());
    }
    Ok(Bytes::from(kept))
}

/// Seconds to the next UTC midnight, when the daily budget starts again.
fn until_utc_midnight() -> HeaderValue {
    let now = jiff::Timestamp::now();
    let secs = 86_400 - now.as_second().rem_euclid(86_400);
    HeaderValue::from(secs)
}

fn too_large() -> Response {
    error(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!("the request body is larger than {MAX_BODY_BYTES} bytes"),
    )
}

/// Predict for a checked request, and record it when asked to.
async fn answer(s: &AppState, c: api::Checked) -> Response {
    let (item, new_item) = match &c.subject {
        Subject::Text { title, body } => {
            let item = item_from_text(SERVE_DATASET, title, body);
            (item.clone(), Some(item))
        }
        Subject::Item(key) => match s.predictor.item(key) {
            Ok(Some(item)) => (item, None),
            Ok(None) => {
                let shown = crate::text::one_line(key);
                return error(StatusCode::NOT_FOUND, format!("no item {shown:?} in the store"));
            }
            Err(e) => return error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
        },
    };
    let key = item.key.clone();
    let started = Instant::now();
    let p = match s.predictor.predict(item, c.allowed.as_ref()).await {
        Ok(p) => p,
        Err(PredictError::NoAnswer(why, kinds)) => {
            s.metrics.attempt_errors(&kinds);
            return error(StatusCode::BAD_GATEWAY, format!("no provider answered: {why}"));
        }
        Err(PredictError::OverBudget) => {
            let mut resp = error(StatusCode::SERVICE_UNAVAILABLE, "today's token budget is spent");
            resp.headers_mut().insert(header::RETRY_AFTER, until_utc_midnight());
            return resp;
        }
        Err(e) => return error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    };
    s.metrics.prediction(&p, started.elapsed().as_secs_f64());
    let body = api::respond(&p, &c, key.clone(), &s.predictor.version());
    if let Some(r) = &s.recorder {
        // The whole validated answer, not the caller's cut of it: the weekly sample measures
        // the model, not a caller's top_k.
        let labels = p.labels.clone();
        let (provider, model) =
            if p.fallback { (p.provider.clone(), p.model.clone()) } else { Default::default() };
        let served = Served {
            new_item,
            key,
            labels,
            rationale: p.rationale.clone(),
            abstained: p.abstained,
            provider,
            model,
        };
        if !r.send(served) {
            tracing::error!("the recording thread has stopped; this prediction is not recorded");
        }
    }
    axum::Json(body).into_response()
}
