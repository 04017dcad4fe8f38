//! Shared HTTP setup: one TLS stack (rustls with ring) for reqwest and octocrab, and a client
//! with sift's user agent and timeouts.

use std::time::Duration;

/// Install rustls's ring provider as the process default. reqwest is built with
/// `rustls-no-provider` so that only one crypto backend is compiled; calling this twice is fine.
pub fn install_crypto() {
    // Err means a provider is already installed, which is what we want.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// A reqwest client for provider and GitHub calls.
pub fn client(timeout: Duration) -> reqwest::Result<reqwest::Client> {
    install_crypto();
    reqwest::Client::builder()
        .user_agent(concat!("sift/", env!("CARGO_PKG_VERSION")))
        .timeout(timeout)
        .connect_timeout(Duration::from_secs(10))
        .build()
}
