//! Workspaces: discovery (walk up like git), `sift init`, paths, and layered settings.
//!
//! Precedence: built-in defaults < user config < workspace sift.toml < environment < command line.

pub mod log;
pub mod sources;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::taxonomy::DEFAULT_LABELS_YML;

pub const SETTINGS_FILE: &str = "sift.toml";
pub const LABELS_FILE: &str = "labels.yml";
pub const ANNOTATIONS_DIR: &str = "annotations";
pub const STATE_DIR: &str = ".sift";

#[derive(Debug, thiserror::Error)]
pub enum WorkspaceError {
    #[error(
        "no sift workspace here: no {SETTINGS_FILE} in {start} or any parent folder \
         (run `sift init`, pass --workspace DIR, or try `sift demo`)"
    )]
    NotFound { start: PathBuf },
    #[error("{path}: {message}")]
    Settings { path: PathBuf, message: String },
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path} already holds a workspace ({SETTINGS_FILE} exists)")]
    Exists { path: PathBuf },
    #[error("environment variable {name}: {message}")]
    Env { name: String, message: String },
}

type Result<T> = std::result::Result<T, WorkspaceError>;

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> WorkspaceError + '_ {
    move |source| WorkspaceError::Io { path: path.to_path_buf(), source }
}

/// Every setting, after layering. Unknown keys in any file are refused.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    pub workspace: WorkspaceSettings,
    /// The annotator ID used for records (user config, SIFT_ANNOTATOR, or --annotator).
    pub annotator: Option<String>,
    pub theme: String,
    pub taxonomy: String,
    pub datasets: BTreeMap<String, DatasetSettings>,
    pub suggest: SuggestSettings,
    pub github: GithubSettings,
    pub sample: SampleSettings,
    /// The labeling bot (`sift triage`).
    pub bot: BotSettings,
    /// Per-view key overrides: view -> key -> action.
    pub keys: BTreeMap<String, BTreeMap<String, String>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct WorkspaceSettings {
    /// Stable id of the workspace (seeds the weekly sample so every machine draws alike).
    pub id: String,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct DatasetSettings {
    pub taxonomy: Option<String>,
    pub repo: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SuggestSettings {
    pub provider: String,
    pub fallback: Vec<String>,
    pub model: Option<String>,
    pub base_url: Option<String>,
    pub concurrency: usize,
    pub timeout_secs: u64,
    pub retries: u32,
    pub daily_token_budget: u64,
    pub prompt_version: String,
    pub few_shot: usize,
    pub arbitration: bool,
    /// Dimensions whose best label is below this are re-asked (seed 001: 0.65).
    pub arbitration_threshold: f64,
    /// Temperature of the re-ask (seed 001: 0.3; at least the run's own plus 0.3).
    pub arbitration_temperature: f64,
    pub temperature: f64,
    /// How OpenAI-compatible servers are asked for JSON: `auto` tries json_schema, then
    /// json_object, then plain text as a server refuses each; or one of them, forced.
    pub response_format: String,
    /// The workspace sift.toml, when `base_url` comes from it and neither the user config
    /// nor SIFT_BASE_URL names the same origin: API keys are not sent there (sift.toml is
    /// shared through git). Set by the layering, never read from a file.
    #[serde(skip)]
    pub untrusted_base_url: Option<PathBuf>,
}

impl Default for SuggestSettings {
    fn default() -> Self {
        SuggestSettings {
            provider: "keywords".into(),
            fallback: vec!["local".into(), "keywords".into()],
            model: None,
            base_url: None,
            concurrency: 8,
            timeout_secs: 60,
            retries: 3,
            daily_token_budget: 200_000,
            prompt_version: "v1".into(),
            few_shot: 3,
            arbitration: false,
            arbitration_threshold: 0.65,
            arbitration_temperature: 0.3,
            temperature: 0.0,
            response_format: "auto".into(),
            untrusted_base_url: None,
        }
    }
}

/// GitHub's public API, the one host a workspace file may name without the user's say-so.
pub const DEFAULT_GITHUB_API_URL: &str = "https://api.github.com";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GithubSettings {
    pub api_url: String,
    pub repos: Vec<String>,
    /// Pause between mutations (GitHub asks for at least a second).
    pub mutation_interval_ms: u64,
    /// The workspace sift.toml, when `api_url` comes from it and names a host other than
    /// api.github.com that neither the user config nor SIFT_GITHUB_API_URL names: sift.toml
    /// is shared through git, and a change to it must not choose where the GitHub token goes.
    /// Set by the layering, never read from a file.
    #[serde(skip)]
    pub untrusted_api_url: Option<PathBuf>,
}

impl Default for GithubSettings {
    fn default() -> Self {
        GithubSettings {
            api_url: DEFAULT_GITHUB_API_URL.into(),
            repos: Vec::new(),
            mutation_interval_ms: 1000,
            untrusted_api_url: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SampleSettings {
    pub size: usize,
    pub target_accuracy: f64,
}

impl Default for SampleSettings {
    fn default() -> Self {
        SampleSettings { size: 20, target_accuracy: 0.8 }
    }
}

/// `[bot]`: how `sift triage` acts on new issues.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BotSettings {
    /// comment, apply-confident or apply (seed 000's staged rollout).
    pub stage: String,
    /// Re-evaluate an issue when it is edited.
    pub on_edit: bool,
    /// Applied in the apply stages when no label reaches its threshold; empty for none.
    pub abstain_label: String,
    /// Above this many sift comments in the last hour, sift only comments.
    pub max_actions_per_hour: usize,
    /// A committed local model file (from `sift train`) the bot answers with, no key needed.
    pub model: Option<String>,
}

impl Default for BotSettings {
    fn default() -> Self {
        BotSettings {
            stage: "comment".into(),
            on_edit: false,
            abstain_label: "needs-triage".into(),
            max_actions_per_hour: 30,
            model: None,
        }
    }
}

/// The bot's stages, most cautious first.
pub const BOT_STAGES: &[&str] = &["comment", "apply-confident", "apply"];

impl Default for Settings {
    fn default() -> Self {
        Settings {
            workspace: WorkspaceSettings::default(),
            annotator: None,
            theme: "default".into(),
            taxonomy: "issues".into(),
            datasets: BTreeMap::new(),
            suggest: SuggestSettings::default(),
            github: GithubSettings::default(),
            sample: SampleSettings::default(),
            bot: BotSettings::default(),
            keys: BTreeMap::new(),
        }
    }
}

impl Settings {
    /// The taxonomy a dataset uses.
    pub fn taxonomy_for(&self, dataset: &str) -> &str {
        self.datasets.get(dataset).and_then(|d| d.taxonomy.as_deref()).unwrap_or(&self.taxonomy)
    }
}

/// Command-line overrides, applied last.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub annotator: Option<String>,
    pub theme: Option<String>,
}

/// A located workspace.
#[derive(Debug, Clone)]
pub struct Workspace {
    pub root: PathBuf,
    pub settings: Settings,
}

impl Workspace {
    /// Find the workspace containing `start` (walking up), or at `explicit` when given.
    pub fn discover(start: &Path, explicit: Option<&Path>) -> Result<PathBuf> {
        if let Some(dir) = explicit {
            return if dir.join(SETTINGS_FILE).is_file() {
                Ok(dir.to_path_buf())
            } else {
                Err(WorkspaceError::NotFound { start: dir.to_path_buf() })
            };
        }
        let mut dir = Some(start);
        while let Some(d) = dir {
            if d.join(SETTINGS_FILE).is_file() {
                return Ok(d.to_path_buf());
            }
            dir = d.parent();
        }
        Err(WorkspaceError::NotFound { start: start.to_path_buf() })
    }

    /// Open the workspace at `root` with settings layered from every source.
    pub fn open(root: &Path, user_config: Option<&Path>, overrides: &Overrides) -> Result<Self> {
        let settings = load_settings(root, user_config, &std::env::vars().collect(), overrides)?;
        Ok(Workspace { root: root.to_path_buf(), settings })
    }

    /// Create a workspace in `dir`: sift.toml, labels.yml, annotations/, .sift/.gitignore.
    pub fn init(dir: &Path, name: &str) -> Result<PathBuf> {
        let settings = dir.join(SETTINGS_FILE);
        if settings.exists() {
            return Err(WorkspaceError::Exists { path: dir.to_path_buf() });
        }
        std::fs::create_dir_all(dir.join(ANNOTATIONS_DIR)).map_err(io(dir))?;
        std::fs::create_dir_all(dir.join(STATE_DIR)).map_err(io(dir))?;
        let gi = dir.join(STATE_DIR).join(".gitignore");
        std::fs::write(&gi, "# The store is a cache, rebuilt from sources and annotations/.\n*\n")
            .map_err(io(&gi))?;
        let labels = dir.join(LABELS_FILE);
        if !labels.exists() {
            std::fs::write(&labels, DEFAULT_LABELS_YML).map_err(io(&labels))?;
        }
        let keep = dir.join(ANNOTATIONS_DIR).join(".gitkeep");
        std::fs::write(&keep, "").map_err(io(&keep))?;
        std::fs::write(&settings, initial_settings(name, &new_workspace_id()))
            .map_err(io(&settings))?;
        Ok(dir.to_path_buf())
    }

    pub fn settings_path(&self) -> PathBuf {
        self.root.join(SETTINGS_FILE)
    }
    pub fn labels_path(&self) -> PathBuf {
        self.root.join(LABELS_FILE)
    }
    pub fn annotations_dir(&self) -> PathBuf {
        self.root.join(ANNOTATIONS_DIR)
    }
    pub fn state_dir(&self) -> PathBuf {
        self.root.join(STATE_DIR)
    }
    pub fn store_path(&self) -> PathBuf {
        self.state_dir().join("store.db")
    }

    /// Open the workspace's store, writing run and push journals into the workspace.
    pub fn open_store(&self) -> std::result::Result<crate::store::Store, crate::store::StoreError> {
        let mut store = crate::store::Store::open(&self.store_path())?;
        store.set_journal_root(Some(self.root.clone()));
        Ok(store)
    }
    pub fn models_dir(&self) -> PathBuf {
        self.state_dir().join("models")
    }
    pub fn logs_dir(&self) -> PathBuf {
        self.state_dir().join("logs")
    }

    /// The log file of one annotator in one dataset.
    pub fn annotation_log(&self, dataset: &str, annotator: &str) -> PathBuf {
        self.annotations_dir().join(dataset).join(format!("{annotator}.jsonl"))
    }

    /// The workspace id, falling back to the folder name for workspaces made by hand.
    pub fn id(&self) -> String {
        if self.settings.workspace.id.is_empty() {
            self.root.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
        } else {
            self.settings.workspace.id.clone()
        }
    }
}

fn new_workspace_id() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 8];
    rand::rng().fill_bytes(&mut bytes);
    crate::model::hex(&bytes)
}

fn initial_settings(name: &str, id: &str) -> String {
    format!(
        r#"# sift workspace settings. No secrets here: keys live in the OS keyring or environment.

# The taxonomy (in labels.yml) used by datasets that do not name one.
taxonomy = "issues"

[workspace]
id = "{id}"
name = "{name}"

# [datasets.my-chats]
# taxonomy = "sft"

[suggest]
provider = "keywords"          # anthropic | openai | local | keywords
fallback = ["local", "keywords"]
concurrency = 8
daily_token_budget = 200000

[github]
repos = []

[sample]
size = 20
target_accuracy = 0.8
"#
    )
}

/// The user config file (`~/.config/sift/config.toml` on Linux).
pub fn user_config_path() -> Option<PathBuf> {
    directories::ProjectDirs::from("", "", "sift").map(|d| d.config_dir().join("config.toml"))
}

/// The user's theme folder.
pub fn user_themes_dir() -> Option<PathBuf> {
    directories::ProjectDirs::from("", "", "sift").map(|d| d.config_dir().join("themes"))
}

fn read_layer(path: &Path) -> Result<Option<toml::Table>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(WorkspaceError::Io { path: path.to_path_buf(), source }),
    };
    let table: toml::Table = toml::from_str(&text).map_err(|e| WorkspaceError::Settings {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    // Check the layer alone so an unknown key is reported against its own file.
    Settings::deserialize(toml::Value::Table(table.clone())).map_err(|e| {
        WorkspaceError::Settings { path: path.to_path_buf(), message: e.to_string() }
    })?;
    Ok(Some(table))
}

fn merge(base: &mut toml::Table, over: toml::Table) {
    for (k, v) in over {
        match (base.get_mut(&k), v) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => merge(b, o),
            (_, v) => {
                base.insert(k, v);
            }
        }
    }
}

fn env_layer(env: &BTreeMap<String, String>) -> Result<toml::Table> {
    let mut t = toml::Table::new();
    let mut suggest = toml::Table::new();
    for (name, key) in [("SIFT_ANNOTATOR", "annotator"), ("SIFT_THEME", "theme")] {
        if let Some(v) = env.get(name).filter(|v| !v.is_empty()) {
            t.insert(key.into(), toml::Value::String(v.clone()));
        }
    }
    for (name, key) in
        [("SIFT_PROVIDER", "provider"), ("SIFT_MODEL", "model"), ("SIFT_BASE_URL", "base_url")]
    {
        if let Some(v) = env.get(name).filter(|v| !v.is_empty()) {
            suggest.insert(key.into(), toml::Value::String(v.clone()));
        }
    }
    if let Some(v) = env.get("SIFT_DAILY_TOKEN_BUDGET").filter(|v| !v.is_empty()) {
        let n: i64 = v.parse().map_err(|_| WorkspaceError::Env {
            name: "SIFT_DAILY_TOKEN_BUDGET".into(),
            message: format!("{v:?} is not a whole number"),
        })?;
        suggest.insert("daily_token_budget".into(), toml::Value::Integer(n));
    }
    if !suggest.is_empty() {
        t.insert("suggest".into(), toml::Value::Table(suggest));
    }
    let mut bot = toml::Table::new();
    if let Some(v) = env.get("SIFT_BOT_STAGE").filter(|v| !v.is_empty()) {
        if !BOT_STAGES.contains(&v.as_str()) {
            return Err(WorkspaceError::Env {
                name: "SIFT_BOT_STAGE".into(),
                message: format!("{v:?} is not one of {}", BOT_STAGES.join(", ")),
            });
        }
        bot.insert("stage".into(), toml::Value::String(v.clone()));
    }
    bot_env(env, &mut bot)?;
    if !bot.is_empty() {
        t.insert("bot".into(), toml::Value::Table(bot));
    }
    if let Some(v) = env.get("SIFT_GITHUB_API_URL").filter(|v| !v.is_empty()) {
        let mut github = toml::Table::new();
        github.insert("api_url".into(), toml::Value::String(v.clone()));
        t.insert("github".into(), toml::Value::Table(github));
    }
    Ok(t)
}

/// `SIFT_BOT_ON_EDIT`, `SIFT_BOT_ABSTAIN_LABEL`, `SIFT_BOT_MAX_ACTIONS_PER_HOUR`,
/// `SIFT_BOT_MODEL`: the bot's settings where Actions runs without a sift.toml.
fn bot_env(env: &BTreeMap<String, String>, bot: &mut toml::Table) -> Result<()> {
    let bad = |name: &str, message: String| WorkspaceError::Env { name: name.into(), message };
    if let Some(v) = env.get("SIFT_BOT_ON_EDIT").filter(|v| !v.is_empty()) {
        let on = match v.to_ascii_lowercase().as_str() {
            "1" | "true" | "yes" | "on" => true,
            "0" | "false" | "no" | "off" => false,
            _ => return Err(bad("SIFT_BOT_ON_EDIT", format!("{v:?} is not true or false"))),
        };
        bot.insert("on_edit".into(), toml::Value::Boolean(on));
    }
    if let Some(v) = env.get("SIFT_BOT_ABSTAIN_LABEL") {
        bot.insert("abstain_label".into(), toml::Value::String(v.clone()));
    }
    if let Some(v) = env.get("SIFT_BOT_MAX_ACTIONS_PER_HOUR").filter(|v| !v.is_empty()) {
        let n: i64 = v.parse().ok().filter(|n| *n >= 0).ok_or_else(|| {
            bad("SIFT_BOT_MAX_ACTIONS_PER_HOUR", format!("{v:?} is not a whole number"))
        })?;
        bot.insert("max_actions_per_hour".into(), toml::Value::Integer(n));
    }
    if let Some(v) = env.get("SIFT_BOT_MODEL").filter(|v| !v.is_empty()) {
        bot.insert("model".into(), toml::Value::String(v.clone()));
    }
    Ok(())
}

fn github_api_url(layer: &toml::Table) -> Option<&str> {
    layer.get("github")?.get("api_url")?.as_str()
}

fn suggest_base_url(layer: &toml::Table) -> Option<&str> {
    layer.get("suggest")?.get("base_url")?.as_str()
}

/// Whether `url`, named by the shared workspace file, is a place the user agreed to send
/// keys to: the same origin their own config names.
fn same_origin(url: &str, user: Option<&str>) -> bool {
    origin(url).is_some_and(|o| user.and_then(origin) == Some(o))
}

/// Scheme, host and port: where a token sent to this URL ends up, and whether in clear text.
fn origin(url: &str) -> Option<(String, String, u16)> {
    let u = reqwest::Url::parse(url.trim()).ok()?;
    Some((u.scheme().to_string(), u.host_str()?.to_ascii_lowercase(), u.port_or_known_default()?))
}

/// Whether a workspace file may name `url` as the GitHub API: api.github.com, or the origin
/// the user's own config names.
fn workspace_api_url_allowed(url: &str, user: Option<&str>) -> bool {
    let Some(o) = origin(url) else { return false };
    origin(DEFAULT_GITHUB_API_URL).as_ref() == Some(&o) || user.and_then(origin) == Some(o)
}

/// Layer the settings: defaults < user config < workspace < environment < command line.
pub fn load_settings(
    root: &Path,
    user_config: Option<&Path>,
    env: &BTreeMap<String, String>,
    overrides: &Overrides,
) -> Result<Settings> {
    let mut merged = toml::Table::try_from(Settings::default()).map_err(|e| {
        WorkspaceError::Settings { path: PathBuf::from("<defaults>"), message: e.to_string() }
    })?;
    let (mut user_api, mut user_base) = (None, None);
    if let Some((user, path)) = user_config.and_then(|p| read_layer(p).transpose().map(|t| (t, p)))
    {
        let user = user?;
        check_layer(&user, path)?;
        user_api = github_api_url(&user).map(str::to_string);
        user_base = suggest_base_url(&user).map(str::to_string);
        merge(&mut merged, user);
    }
    let ws = root.join(SETTINGS_FILE);
    let (mut ws_api, mut ws_base) = (None, None);
    if let Some(t) = read_layer(&ws)? {
        check_layer(&t, &ws)?;
        ws_api = github_api_url(&t).map(str::to_string);
        ws_base = suggest_base_url(&t).map(str::to_string);
        merge(&mut merged, t);
    }
    let env_t = env_layer(env)?;
    check_layer(&env_t, Path::new("the environment"))?;
    let env_sets_api = github_api_url(&env_t).is_some();
    let env_sets_base = suggest_base_url(&env_t).is_some();
    merge(&mut merged, env_t);
    let mut settings = Settings::deserialize(toml::Value::Table(merged))
        .map_err(|e| WorkspaceError::Settings { path: ws.clone(), message: e.to_string() })?;
    if let Some(url) = ws_api
        && !env_sets_api
        && !workspace_api_url_allowed(&url, user_api.as_deref())
    {
        settings.github.untrusted_api_url = Some(ws.clone());
    }
    if let Some(url) = ws_base
        && !env_sets_base
        && !same_origin(&url, user_base.as_deref())
    {
        settings.suggest.untrusted_base_url = Some(ws.clone());
    }
    if let Some(a) = &overrides.annotator {
        settings.annotator = Some(a.clone());
    }
    if let Some(t) = &overrides.theme {
        settings.theme = t.clone();
    }
    Ok(settings)
}

/// The values of `suggest.response_format`.
pub const RESPONSE_FORMATS: &[&str] = &["auto", "json_schema", "json_object", "text"];

/// Numbers that parse but make no sense: refused with the field and the file that set it.
fn check_layer(t: &toml::Table, path: &Path) -> Result<()> {
    let get = |table: &str, key: &str| t.get(table).and_then(|v| v.get(key)).cloned();
    let int = |table, key| get(table, key).and_then(|v| v.as_integer());
    let float = |table, key| {
        get(table, key).and_then(|v| v.as_float().or_else(|| v.as_integer().map(|i| i as f64)))
    };
    let mut problems = Vec::new();
    for (table, key) in
        [("suggest", "concurrency"), ("suggest", "timeout_secs"), ("sample", "size")]
    {
        if let Some(v) = int(table, key).filter(|v| *v < 1) {
            problems.push(format!("{table}.{key} = {v}: must be at least 1"));
        }
    }
    if let Some(v) = float("sample", "target_accuracy").filter(|v| !(*v > 0.0 && *v <= 1.0)) {
        problems
            .push(format!("sample.target_accuracy = {v}: must be a share above 0 and at most 1"));
    }
    let format = get("suggest", "response_format");
    if let Some(v) = format.as_ref().and_then(|v| v.as_str())
        && !RESPONSE_FORMATS.contains(&v)
    {
        problems.push(format!(
            "suggest.response_format = {v:?}: must be one of {}",
            RESPONSE_FORMATS.join(", ")
        ));
    }
    if let Some(v) = get("bot", "stage").as_ref().and_then(|v| v.as_str())
        && !BOT_STAGES.contains(&v)
    {
        problems.push(format!("bot.stage = {v:?}: must be one of {}", BOT_STAGES.join(", ")));
    }
    if let Some(v) = float("suggest", "arbitration_threshold").filter(|v| !(0.0..=1.0).contains(v))
    {
        problems.push(format!("suggest.arbitration_threshold = {v}: must be between 0 and 1"));
    }
    if let Some(v) =
        float("suggest", "arbitration_temperature").filter(|v| !(0.0..=2.0).contains(v))
    {
        problems.push(format!("suggest.arbitration_temperature = {v}: must be between 0 and 2"));
    }
    if let Some(v) = float("suggest", "temperature").filter(|v| !(0.0..=2.0).contains(v)) {
        problems.push(format!("suggest.temperature = {v}: must be between 0 and 2"));
    }
    match problems.is_empty() {
        true => Ok(()),
        false => {
            Err(WorkspaceError::Settings { path: path.to_path_buf(), message: problems.join("; ") })
        }
    }
}

/// An annotator ID must be usable as a file name and in JSON without surprises.
pub fn valid_annotator(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && !id.starts_with('.')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn init_then_discover_from_a_subfolder() {
        let dir = tempfile::tempdir().unwrap();
        Workspace::init(dir.path(), "t").unwrap();
        for f in ["sift.toml", "labels.yml", "annotations", ".sift/.gitignore"] {
            assert!(dir.path().join(f).exists(), "{f}");
        }
        let sub = dir.path().join("annotations");
        assert_eq!(Workspace::discover(&sub, None).unwrap(), dir.path());
        assert!(matches!(Workspace::init(dir.path(), "t"), Err(WorkspaceError::Exists { .. })));
        let ws = Workspace::open(dir.path(), None, &Overrides::default()).unwrap();
        assert_eq!(ws.settings.workspace.id.len(), 16);
    }

    #[test]
    fn discover_fails_clearly_outside_a_workspace() {
        let dir = tempfile::tempdir().unwrap();
        let e = Workspace::discover(dir.path(), None).unwrap_err().to_string();
        assert!(e.contains("sift init"), "{e}");
    }

    #[test]
    fn layers_apply_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let user = dir.path().join("user.toml");
        std::fs::write(
            &user,
            "annotator = \"from-user\"\ntheme = \"light\"\n[suggest]\nconcurrency = 4\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("sift.toml"),
            "[suggest]\nconcurrency = 6\nprovider = \"local\"\n",
        )
        .unwrap();
        let mut env = BTreeMap::new();
        env.insert("SIFT_PROVIDER".to_string(), "openai".to_string());
        let o = Overrides { annotator: Some("cli".into()), theme: None };
        let s = load_settings(dir.path(), Some(&user), &env, &o).unwrap();
        assert_eq!(s.annotator.as_deref(), Some("cli"));
        assert_eq!(s.theme, "light");
        assert_eq!(s.suggest.concurrency, 6);
        assert_eq!(s.suggest.provider, "openai");
        assert_eq!(s.suggest.daily_token_budget, 200_000);
    }

    #[test]
    fn numbers_that_make_no_sense_are_refused_with_field_and_file() {
        let dir = tempfile::tempdir().unwrap();
        let env = BTreeMap::new();
        let o = Overrides::default();
        for (text, field) in [
            ("[suggest]\nconcurrency = 0\n", "suggest.concurrency = 0: must be at least 1"),
            ("[sample]\nsize = 0\n", "sample.size = 0: must be at least 1"),
            ("[sample]\ntarget_accuracy = 5\n", "sample.target_accuracy = 5: must be a share"),
            ("[suggest]\ntimeout_secs = 0\n", "suggest.timeout_secs = 0"),
            ("[suggest]\ntemperature = -1.0\n", "suggest.temperature = -1: must be between"),
        ] {
            std::fs::write(dir.path().join("sift.toml"), text).unwrap();
            let e = load_settings(dir.path(), None, &env, &o).unwrap_err().to_string();
            assert!(e.contains("sift.toml: ") && e.contains(field), "{text}: {e}");
        }
        let user = dir.path().join("user.toml");
        std::fs::write(&user, "[sample]\nsize = 0\n").unwrap();
        std::fs::write(dir.path().join("sift.toml"), "").unwrap();
        let e = load_settings(dir.path(), Some(&user), &env, &o).unwrap_err().to_string();
        assert!(e.starts_with(&format!("{}: sample.size = 0", user.display())), "{e}");
        std::fs::write(&user, "[sample]\nsize = 5\ntarget_accuracy = 0.9\n").unwrap();
        assert_eq!(load_settings(dir.path(), Some(&user), &env, &o).unwrap().sample.size, 5);
    }

    #[test]
    fn a_workspace_api_url_needs_the_users_consent() {
        let dir = tempfile::tempdir().unwrap();
        let user = dir.path().join("user.toml");
        let load = |ws_api: &str, user_api: Option<&str>, env_api: Option<&str>| {
            std::fs::write(
                dir.path().join("sift.toml"),
                format!("[github]\napi_url = \"{ws_api}\"\n"),
            )
            .unwrap();
            match user_api {
                Some(u) => std::fs::write(&user, format!("[github]\napi_url = \"{u}\"\n")).unwrap(),
                None => std::fs::write(&user, "").unwrap(),
            }
            let mut env = BTreeMap::new();
            if let Some(e) = env_api {
                env.insert("SIFT_GITHUB_API_URL".to_string(), e.to_string());
            }
            load_settings(dir.path(), Some(&user), &env, &Overrides::default()).unwrap().github
        };
        let g = load("https://evil.example", None, None);
        assert_eq!(g.untrusted_api_url, Some(dir.path().join("sift.toml")));
        assert!(load("https://api.github.com/", None, None).untrusted_api_url.is_none());
        // The user's own config names the host (another path on it is fine).
        let g = load("https://ghe.corp/api/v3", Some("https://GHE.corp/api/v3/"), None);
        assert!(g.untrusted_api_url.is_none());
        // ... but not the same host over plain http, nor another port.
        assert!(
            load("http://ghe.corp/api/v3", Some("https://ghe.corp"), None)
                .untrusted_api_url
                .is_some()
        );
        assert!(
            load("https://ghe.corp:8443", Some("https://ghe.corp"), None)
                .untrusted_api_url
                .is_some()
        );
        // The environment wins over the workspace: its value is the one used.
        let g = load("https://evil.example", None, Some("https://ghe.corp"));
        assert_eq!((g.api_url.as_str(), g.untrusted_api_url), ("https://ghe.corp", None));
    }

    #[test]
    fn unknown_key_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("sift.toml"), "[suggest]\nconcurency = 6\n").unwrap();
        let e = load_settings(dir.path(), None, &BTreeMap::new(), &Overrides::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("sift.toml") && e.contains("concurency"), "{e}");
    }

    #[test]
    fn annotator_ids_are_file_safe() {
        assert!(valid_annotator("alice"));
        assert!(valid_annotator("bob.smith-2"));
        assert!(!valid_annotator("../etc"));
        assert!(!valid_annotator("a/b"));
        assert!(!valid_annotator(""));
    }
}
