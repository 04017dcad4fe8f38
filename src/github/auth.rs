//! `sift auth set|status|clear`: secrets into and out of the OS keyring, and where each secret
//! would come from — never its value.

use std::io::{BufRead, IsTerminal, Write};

use anyhow::{Context as _, Result, bail};
use serde::Serialize;

use crate::secrets::{self, SecretError, Service, Source};

/// A service name on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ServiceArg {
    Github,
    Anthropic,
    Openai,
}

impl From<ServiceArg> for Service {
    fn from(s: ServiceArg) -> Self {
        match s {
            ServiceArg::Github => Service::Github,
            ServiceArg::Anthropic => Service::Anthropic,
            ServiceArg::Openai => Service::Openai,
        }
    }
}

#[derive(Debug, clap::Subcommand)]
pub enum AuthCommand {
    /// Store a secret in the OS keyring (read without echo; from stdin when it is not a terminal).
    Set { service: ServiceArg },
    /// Say where each secret would come from (keyring, environment, `gh auth token`), never its value.
    Status {
        #[arg(long)]
        json: bool,
    },
    /// Remove a secret from the OS keyring.
    Clear { service: ServiceArg },
}

/// Where one service's secret would come from.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuthStatus {
    pub service: String,
    /// keyring, env, gh, none
    pub source: String,
    /// The environment variable, when the source is env.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub variable: Option<String>,
    /// Why the keyring could not be asked, if it could not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keyring_error: Option<String>,
}

/// The status of one service, with an explicit environment (tests) or the process's.
pub fn status_of(
    service: Service,
    env: &dyn Fn(&str) -> Option<String>,
    use_gh: bool,
) -> AuthStatus {
    let mut st = AuthStatus {
        service: service.name().into(),
        source: "none".into(),
        variable: None,
        keyring_error: None,
    };
    match secrets::from_keyring(service) {
        Ok(Some(_)) => {
            st.source = "keyring".into();
            return st;
        }
        Ok(None) => {}
        Err(e) => st.keyring_error = Some(e.to_string()),
    }
    if let Some(s) = secrets::lookup_with(service, env, use_gh && service == Service::Github) {
        match s.source {
            Source::Env(v) => {
                st.source = "env".into();
                st.variable = Some(v.to_string());
            }
            Source::GhCli => st.source = "gh".into(),
            Source::Keyring => st.source = "keyring".into(),
        }
    }
    st
}

pub fn cmd_auth(cmd: AuthCommand) -> Result<std::process::ExitCode> {
    match cmd {
        AuthCommand::Set { service } => {
            let service = Service::from(service);
            let value = read_secret(&format!("{} secret: ", service.name()))?;
            match secrets::store(service, &value) {
                Ok(()) => {
                    outln!("stored the {} secret in the OS keyring", service.name());
                    Ok(std::process::ExitCode::SUCCESS)
                }
                Err(e @ SecretError::NoKeyring(_)) => bail!("{e}"),
                Err(e) => Err(e.into()),
            }
        }
        AuthCommand::Clear { service } => {
            let service = Service::from(service);
            if secrets::clear(service)? {
                outln!("removed the {} secret from the OS keyring", service.name());
            } else {
                outln!("no {} secret was in the OS keyring", service.name());
            }
            Ok(std::process::ExitCode::SUCCESS)
        }
        AuthCommand::Status { json } => {
            let env = |v: &str| std::env::var(v).ok();
            let all: Vec<AuthStatus> =
                Service::ALL.iter().map(|s| status_of(*s, &env, true)).collect();
            if json {
                outln!("{}", serde_json::to_string_pretty(&all)?);
            } else {
                for s in &all {
                    let from = match (s.source.as_str(), &s.variable) {
                        ("env", Some(v)) => format!("environment ({v})"),
                        ("keyring", _) => "OS keyring".into(),
                        ("gh", _) => "`gh auth token`".into(),
                        _ => "not set".into(),
                    };
                    outln!("{:<10} {from}", s.service);
                }
                if let Some(e) = all.iter().find_map(|s| s.keyring_error.as_ref()) {
                    eprintln!("note: {e}");
                }
            }
            Ok(std::process::ExitCode::SUCCESS)
        }
    }
}

/// Read a secret: without echo from a terminal, else one line from stdin (scripts).
fn read_secret(prompt: &str) -> Result<String> {
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        let mut line = String::new();
        stdin.lock().read_line(&mut line).context("cannot read the secret from stdin")?;
        return Ok(line.trim().to_string());
    }
    eprint!("{prompt}");
    std::io::stderr().flush().ok();
    crossterm::terminal::enable_raw_mode().context("cannot switch the terminal to raw mode")?;
    let result = read_raw();
    // Leave raw mode whatever happened, so the shell is usable again.
    let _ = crossterm::terminal::disable_raw_mode();
    eprintln!();
    result
}

fn read_raw() -> Result<String> {
    use crossterm::event::{Event, KeyCode, KeyEventKind, KeyModifiers, read};
    let mut s = String::new();
    loop {
        let Event::Key(k) = read().context("cannot read the terminal")? else { continue };
        if k.kind == KeyEventKind::Release {
            continue;
        }
        match k.code {
            KeyCode::Enter => return Ok(s),
            KeyCode::Esc => bail!("cancelled"),
            KeyCode::Char('c') if k.modifiers.contains(KeyModifiers::CONTROL) => bail!("cancelled"),
            KeyCode::Backspace => {
                s.pop();
            }
            KeyCode::Char(c) => s.push(c),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_names_the_source_never_the_value() {
        secrets::use_store(keyring_core::mock::Store::new().unwrap());
        let env = |v: &str| (v == "ANTHROPIC_API_KEY").then(|| "sk-secret".to_string());
        let st = status_of(Service::Anthropic, &env, false);
        assert_eq!(
            (st.source.as_str(), st.variable.as_deref()),
            ("env", Some("ANTHROPIC_API_KEY"))
        );
        assert!(!serde_json::to_string(&st).unwrap().contains("sk-secret"));
        assert_eq!(status_of(Service::Anthropic, &|_| None, false).source, "none");
    }
}
