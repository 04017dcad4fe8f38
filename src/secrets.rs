//! Secrets (GitHub token, provider API keys): OS keyring, then environment, then `gh auth token`.
//! A secret's value never reaches logs, errors, files or the store: `Secret` prints redacted.

use std::fmt;
use std::sync::Arc;

/// Keyring service name under which sift keeps its secrets.
const KEYRING_SERVICE: &str = "sift";

/// Every secret value this process has read. A server may echo a token back in an error
/// ("Bad credentials Bearer ghp_..."); whatever sift prints, logs or stores goes through
/// [`scrub`], which knows them all.
static KNOWN: std::sync::RwLock<Vec<String>> = std::sync::RwLock::new(Vec::new());

/// Shorter values are not scrubbed: they would match ordinary words.
const MIN_SCRUBBED_LEN: usize = 6;

/// Remember a secret value so that [`scrub`] removes it.
pub fn remember(value: &str) {
    let value = value.trim();
    if value.len() < MIN_SCRUBBED_LEN {
        return;
    }
    // A poisoned lock only means another thread panicked while holding it; the list is
    // still a list of strings.
    let mut known = KNOWN.write().unwrap_or_else(|p| p.into_inner());
    if !known.iter().any(|k| k == value) {
        known.push(value.to_string());
        // Longest first: a secret that contains another is replaced whole.
        known.sort_by_key(|k| std::cmp::Reverse(k.len()));
    }
}

/// `text` with every known secret value replaced by `<redacted>`.
pub fn scrub(text: &str) -> std::borrow::Cow<'_, str> {
    let known = KNOWN.read().unwrap_or_else(|p| p.into_inner());
    if !known.iter().any(|k| text.contains(k.as_str())) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = text.to_string();
    for k in known.iter() {
        out = out.replace(k.as_str(), "<redacted>");
    }
    std::borrow::Cow::Owned(out)
}

/// What a secret is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    Github,
    Anthropic,
    Openai,
}

impl Service {
    pub const ALL: [Service; 3] = [Service::Github, Service::Anthropic, Service::Openai];

    pub fn name(self) -> &'static str {
        match self {
            Service::Github => "github",
            Service::Anthropic => "anthropic",
            Service::Openai => "openai",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Service::ALL.into_iter().find(|x| x.name() == s)
    }

    /// Environment variables consulted, in order.
    pub fn env_vars(self) -> &'static [&'static str] {
        match self {
            Service::Github => &["GITHUB_TOKEN", "GH_TOKEN"],
            Service::Anthropic => &["ANTHROPIC_API_KEY"],
            Service::Openai => &["OPENAI_API_KEY"],
        }
    }
}

/// Where a secret came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Keyring,
    Env(&'static str),
    GhCli,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Keyring => f.write_str("OS keyring"),
            Source::Env(v) => write!(f, "environment ({v})"),
            Source::GhCli => f.write_str("`gh auth token`"),
        }
    }
}

/// A secret value. Debug and Display never show it.
#[derive(Clone)]
pub struct Secret {
    value: String,
    pub source: Source,
}

impl Secret {
    pub fn new(value: String, source: Source) -> Self {
        remember(&value);
        Secret { value, source }
    }

    /// The value, for building a request header. Never format it into text.
    pub fn expose(&self) -> &str {
        &self.value
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret(<redacted>, from {})", self.source)
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error(
        "no usable OS keyring on this machine ({0}); set the secret in the environment \
         instead (e.g. GITHUB_TOKEN, ANTHROPIC_API_KEY, OPENAI_API_KEY)"
    )]
    NoKeyring(String),
    #[error("keyring: {0}")]
    Keyring(String),
    #[error("an empty secret was given; nothing stored")]
    Empty,
}

/// Use the Linux kernel keyring as the default credential store unless one is set already
/// (tests set keyring-core's mock store). Returns why it is unavailable, if it is.
pub fn init_keyring() -> Result<(), SecretError> {
    if keyring_core::get_default_store().is_some() {
        return Ok(());
    }
    let store = linux_keyutils_keyring_store::Store::new()
        .map_err(|e| SecretError::NoKeyring(describe(&e)))?;
    keyring_core::set_default_store(store as Arc<_>);
    Ok(())
}

/// Use a specific credential store (keyring-core's mock store in tests).
pub fn use_store(store: Arc<keyring_core::CredentialStore>) {
    keyring_core::set_default_store(store);
}

// Keyring errors can embed platform details but never the secret; still, keep them short.
fn describe(e: &keyring_core::Error) -> String {
    match e {
        keyring_core::Error::NoStorageAccess(_) => {
            "the keyring is not accessible (no login session?)".into()
        }
        keyring_core::Error::PlatformFailure(p) => format!("platform failure: {p}"),
        keyring_core::Error::NoEntry => "no entry".into(),
        other => format!("{other}"),
    }
}

fn entry(service: Service) -> Result<keyring_core::Entry, SecretError> {
    init_keyring()?;
    keyring_core::Entry::new(KEYRING_SERVICE, service.name())
        .map_err(|e| SecretError::NoKeyring(describe(&e)))
}

/// The keyring's value for a service: Ok(None) when unset, Err when the keyring is unusable.
pub fn from_keyring(service: Service) -> Result<Option<Secret>, SecretError> {
    match entry(service)?.get_password() {
        Ok(v) if !v.is_empty() => Ok(Some(Secret::new(v, Source::Keyring))),
        Ok(_) | Err(keyring_core::Error::NoEntry) => Ok(None),
        Err(
            e @ (keyring_core::Error::NoStorageAccess(_) | keyring_core::Error::PlatformFailure(_)),
        ) => Err(SecretError::NoKeyring(describe(&e))),
        Err(e) => Err(SecretError::Keyring(describe(&e))),
    }
}

fn from_env(service: Service, env: &dyn Fn(&str) -> Option<String>) -> Option<Secret> {
    service.env_vars().iter().find_map(|v| {
        env(v)
            .filter(|s| !s.trim().is_empty())
            .map(|s| Secret::new(s.trim().to_string(), Source::Env(v)))
    })
}

fn from_gh_cli() -> Option<Secret> {
    let out = std::process::Command::new("gh")
        .args(["auth", "token"])
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    let token = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (out.status.success() && !token.is_empty()).then(|| Secret::new(token, Source::GhCli))
}

/// Find a secret: keyring, then environment, then (GitHub only) `gh auth token`. A broken
/// keyring is logged (without any value) and the other sources still work.
pub fn lookup(service: Service) -> Option<Secret> {
    lookup_with(service, &|v| std::env::var(v).ok(), true)
}

/// `lookup` with an explicit environment and with or without the keyring and gh (tests).
pub fn lookup_with(
    service: Service,
    env: &dyn Fn(&str) -> Option<String>,
    use_keyring: bool,
) -> Option<Secret> {
    if use_keyring {
        match from_keyring(service) {
            Ok(Some(s)) => return Some(s),
            Ok(None) => {}
            Err(e) => tracing::debug!(service = service.name(), error = %e, "keyring unavailable"),
        }
    }
    if let Some(s) = from_env(service, env) {
        return Some(s);
    }
    if service == Service::Github && use_keyring {
        return from_gh_cli();
    }
    None
}

/// Store a secret in the keyring.
pub fn store(service: Service, value: &str) -> Result<(), SecretError> {
    let value = value.trim();
    if value.is_empty() {
        return Err(SecretError::Empty);
    }
    entry(service)?.set_password(value).map_err(|e| match e {
        keyring_core::Error::NoStorageAccess(_) | keyring_core::Error::PlatformFailure(_) => {
            SecretError::NoKeyring(describe(&e))
        }
        other => SecretError::Keyring(describe(&other)),
    })
}

/// Remove a secret from the keyring; Ok(false) when there was none.
pub fn clear(service: Service) -> Result<bool, SecretError> {
    match entry(service)?.delete_credential() {
        Ok(()) => Ok(true),
        Err(keyring_core::Error::NoEntry) => Ok(false),
        Err(e) => Err(SecretError::Keyring(describe(&e))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_secret_read_is_scrubbed_from_text() {
        let s = Secret::new("tok-scrub-test-77".into(), Source::Env("GITHUB_TOKEN"));
        let text = "401: Bad credentials Bearer tok-scrub-test-77 (tok-scrub-test-77)";
        assert_eq!(scrub(text), "401: Bad credentials Bearer <redacted> (<redacted>)");
        assert!(matches!(scrub("nothing secret here"), std::borrow::Cow::Borrowed(_)));
        // Very short values would match ordinary words: they are not taken.
        remember("abc");
        assert_eq!(scrub("abc"), "abc");
        drop(s);
    }

    #[test]
    fn secrets_never_print() {
        let s = Secret::new("sk-very-secret".into(), Source::Env("ANTHROPIC_API_KEY"));
        assert!(!format!("{s:?}").contains("very-secret"));
        assert!(!format!("{s}").contains("very-secret"));
        assert_eq!(s.expose(), "sk-very-secret");
    }

    #[test]
    fn keyring_then_environment() {
        use_store(keyring_core::mock::Store::new().unwrap());
        let env = |v: &str| (v == "OPENAI_API_KEY").then(|| "from-env".to_string());
        assert_eq!(
            lookup_with(Service::Openai, &env, true).unwrap().source,
            Source::Env("OPENAI_API_KEY")
        );
        store(Service::Openai, "from-keyring").unwrap();
        let got = lookup_with(Service::Openai, &env, true).unwrap();
        assert_eq!((got.expose(), &got.source), ("from-keyring", &Source::Keyring));
        assert!(clear(Service::Openai).unwrap());
        assert!(!clear(Service::Openai).unwrap());
        assert!(matches!(store(Service::Openai, "  "), Err(SecretError::Empty)));
        assert!(lookup_with(Service::Anthropic, &|_| None, false).is_none());
    }
}
