//! Shared HTTP setup: one TLS stack (rustls with ring) for reqwest and octocrab, and a client
//! with sift's user agent and timeouts.

use std::time::Duration;

/// Install rustls's ring provider as the process default. reqwest is built with
/// `rustls-no-provider` so that only one crypto backend is compiled; calling this twice is fine.
pub fn install_crypto() {
    // Err means a provider is already installed, which is what we want.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// A reqwest client for provider and GitHub calls. Redirects are followed only to the same
/// origin as the request's: reqwest drops `Authorization` on a cross-host redirect but not
/// other key headers (Anthropic's `x-api-key`), so a key never travels to another host.
pub fn client(timeout: Duration) -> reqwest::Result<reqwest::Client> {
    install_crypto();
    let policy = reqwest::redirect::Policy::custom(|attempt| {
        let elsewhere = attempt
            .previous()
            .first()
            .is_some_and(|first| first.origin() != attempt.url().origin());
        if attempt.previous().len() > 5 || elsewhere { attempt.stop() } else { attempt.follow() }
    });
    reqwest::Client::builder()
        .user_agent(concat!("sift/", env!("CARGO_PKG_VERSION")))
        .timeout(timeout)
        .connect_timeout(Duration::from_secs(10))
        .redirect(policy)
        .build()
}
