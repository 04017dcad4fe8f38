//! `sift serve`: the prediction endpoint for bots and other tools (POST /predict, /healthz,
//! /readyz, /metrics, /version), on the same suggestion path as `sift suggest`.

pub mod api;
pub mod http;
pub mod metrics;
pub mod record;

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use clap::Args;
use tokio::sync::Semaphore;

use crate::app::Context;
use crate::suggest::RunOptions;
use crate::suggest::predict::Predictor;

/// The environment variable holding the bearer token.
pub const TOKEN_VAR: &str = "SIFT_SERVE_TOKEN";

/// `sift serve` options; unset ones come from sift.toml's [suggest].
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on (port 0 picks a free port; the address is printed).
    #[arg(long, default_value = "127.0.0.1:8787", value_name = "HOST:PORT")]
    pub addr: String,
    /// anthropic, openai, local or keywords (fallbacks from sift.toml).
    #[arg(long)]
    pub provider: Option<String>,
    #[arg(long)]
    pub model: Option<String>,
    /// Base URL of the provider's API (OpenAI-compatible servers).
    #[arg(long, value_name = "URL")]
    pub base_url: Option<String>,
    /// Taxonomy of labels.yml to predict (default: the workspace's).
    #[arg(long, value_name = "T")]
    pub taxonomy: Option<String>,
    /// Predictions in flight at once; more are answered 503 with Retry-After.
    #[arg(long, default_value_t = 64, value_name = "N", value_parser = crate::suggest::cmd::at_least_one)]
    pub max_concurrent: usize,
    /// Longest a request may take, body included (504 after it; 408 for a slow body).
    #[arg(long, default_value_t = 30, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..))]
    pub request_timeout: u64,
    /// Per-attempt provider timeout in seconds (default: sift.toml's).
    #[arg(long, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..))]
    pub timeout: Option<u64>,
    /// Provider retries on 429, 5xx and timeouts (default: sift.toml's).
    #[arg(long, value_name = "N")]
    pub retries: Option<u32>,
    /// Store each answered request as a suggestion in the run `serve-YYYY-MM-DD`.
    #[arg(long)]
    pub record: bool,
}

/// `sift serve`.
pub fn cmd(ctx: Context, a: &ServeArgs) -> Result<ExitCode> {
    let tax_name = a.taxonomy.clone().unwrap_or_else(|| ctx.ws.settings.taxonomy.clone());
    let tax = ctx.labels.get(&tax_name)?.clone();
    if a.record && ctx.ws.settings.taxonomy_for(http::SERVE_DATASET) != tax.name {
        bail!(
            "--record keeps served texts in the dataset `{}`, which uses taxonomy `{}`, not `{}`; \
             add [datasets.{0}] taxonomy = \"{2}\" to sift.toml",
            http::SERVE_DATASET,
            ctx.ws.settings.taxonomy_for(http::SERVE_DATASET),
            tax.name
        );
    }
    let opts = options(&ctx, a);
    let token =
        std::env::var(TOKEN_VAR).ok().map(|t| t.trim().to_string()).filter(|t| !t.is_empty());
    if let Some(t) = &token {
        crate::secrets::remember(t);
    }
    let rt = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    rt.block_on(async move {
        let listener = bind(&a.addr, token.is_some()).await?;
        let predictor = Predictor::open(&ctx.ws, &tax, &opts)?;
        for w in &predictor.warnings {
            eprintln!("warning: {}", crate::text::one_line(w));
        }
        let recorder = if a.record {
            Some(record::Recorder::start(ctx.ws.open_store()?, predictor.version()))
        } else {
            None
        };
        let state = Arc::new(http::AppState {
            predictor,
            metrics: metrics::Metrics::new().context("cannot set up the metrics")?,
            token_hash: token.as_deref().map(http::digest),
            permits: Arc::new(Semaphore::new(a.max_concurrent)),
            request_timeout: Duration::from_secs(a.request_timeout),
            recorder,
            ready: tokio::sync::Mutex::new(None),
        });
        // The signal handlers are in place before anyone is told where to connect.
        let stop = stop_signal()?;
        announce(&listener, &state, token.is_some())?;
        let app = http::router(state.clone());
        axum::serve(listener, app).with_graceful_shutdown(stop).await?;
        finish(state);
        Ok(ExitCode::SUCCESS)
    })
}

/// Settings, then the command line.
fn options(ctx: &Context, a: &ServeArgs) -> RunOptions {
    let mut opts = RunOptions::from_settings(&ctx.ws.settings.suggest);
    opts.choose(a.provider.as_deref(), a.model.as_deref(), a.base_url.as_deref());
    if let Some(t) = a.timeout {
        opts.timeout = Duration::from_secs(t);
    }
    opts.retries = a.retries.unwrap_or(opts.retries);
    // Examples per item would cost a similarity lookup on every request.
    opts.few_shot = 0;
    opts
}

/// Listen on `addr`; anything but a loopback address needs a token.
async fn bind(addr: &str, has_token: bool) -> Result<tokio::net::TcpListener> {
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host(addr)
        .await
        .with_context(|| format!("--addr {addr}: not an address to listen on"))?
        .collect();
    let Some(first) = addrs.first() else { bail!("--addr {addr}: the name has no address") };
    if !first.ip().is_loopback() && !has_token {
        bail!(
            "--addr {addr} is reachable from other machines: set {TOKEN_VAR} to the bearer token \
             callers must send (or listen on 127.0.0.1)"
        );
    }
    tokio::net::TcpListener::bind(first).await.with_context(|| format!("cannot listen on {first}"))
}

/// Say where the endpoint is (first line on stdout, for scripts and tests).
fn announce(l: &tokio::net::TcpListener, s: &http::AppState, token: bool) -> Result<()> {
    let addr = l.local_addr()?;
    let v = s.predictor.version();
    outln!("listening on http://{addr}");
    std::io::Write::flush(&mut crate::stdout())?;
    eprintln!(
        "sift serve: taxonomy {}, provider {} ({}), {} in flight at most, timeout {} s{}{}",
        v.taxonomy,
        v.provider,
        v.model,
        s.permits.available_permits(),
        s.request_timeout.as_secs(),
        if token { ", bearer token required" } else { "" },
        if s.recorder.is_some() { ", recording to serve-YYYY-MM-DD" } else { "" },
    );
    tracing::info!(%addr, provider = %v.provider, model = %v.model, "serving");
    Ok(())
}

/// SIGTERM or Ctrl-C: stop taking connections, let the requests in flight finish. The
/// handlers are registered now; the future resolves on the first signal.
fn stop_signal() -> Result<impl std::future::Future<Output = ()>> {
    #[cfg(unix)]
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("cannot listen for SIGTERM")?;
    Ok(async move {
        #[cfg(unix)]
        let term = async move {
            term.recv().await;
        };
        #[cfg(not(unix))]
        let term = std::future::pending::<()>();
        tokio::select! {
            r = tokio::signal::ctrl_c() => {
                if r.is_err() {
                    std::future::pending::<()>().await;
                }
            }
            _ = term => {}
        }
        eprintln!("sift serve: stopping; finishing the requests in flight");
    })
}

/// After the last request: write what is recorded, flush the monitor log.
fn finish(state: Arc<http::AppState>) {
    if let Some(r) = &state.recorder {
        r.finish();
    }
    state.predictor.flush();
    eprintln!("sift serve: stopped");
}
