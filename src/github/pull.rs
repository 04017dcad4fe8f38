//! `sift pull`: issues (not pull requests) and their comments into the store, 100 per page,
//! incremental (since the newest `updated_at` seen), with conditional requests so an unchanged
//! page costs no quota and writes nothing; comment commands are folded into item flags.

use serde::{Deserialize, Serialize};

use super::client::{Client, GithubError, RepoSlug, Result};
use super::commands::command_state;
use crate::model::{Comment, Item, ItemKind};
use crate::store::Store;

/// Which issues to ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum IssueState {
    Open,
    Closed,
    All,
}

impl IssueState {
    pub fn as_str(self) -> &'static str {
        match self {
            IssueState::Open => "open",
            IssueState::Closed => "closed",
            IssueState::All => "all",
        }
    }
}

#[derive(Debug, Clone)]
pub struct PullOptions {
    pub repo: RepoSlug,
    pub state: IssueState,
    /// Overrides the stored high-water mark (RFC 3339 or a date).
    pub since: Option<String>,
    pub dataset: String,
}

/// What a pull did.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct PullSummary {
    pub repo: String,
    pub dataset: String,
    pub since: Option<String>,
    pub pages: usize,
    pub pages_not_modified: usize,
    pub issues: usize,
    pub pull_requests_skipped: usize,
    pub inserted: usize,
    pub updated: usize,
    pub unchanged: usize,
    pub comments: usize,
    pub label_off: usize,
    pub label_auto: usize,
    pub commands_ignored: usize,
    /// Humans overriding sift, newly seen: labels sift applied that were removed, labels
    /// added to issues sift labeled.
    pub overrides: usize,
    pub requests: u64,
}

#[derive(Debug, Deserialize)]
struct User {
    login: String,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum LabelJson {
    Named { name: String },
    Plain(String),
}

#[derive(Debug, Deserialize)]
struct IssueJson {
    number: i64,
    #[serde(default)]
    title: String,
    #[serde(default)]
    body: Option<String>,
    #[serde(default)]
    state: Option<String>,
    #[serde(default)]
    user: Option<User>,
    #[serde(default)]
    html_url: Option<String>,
    #[serde(default)]
    created_at: Option<String>,
    #[serde(default)]
    updated_at: Option<String>,
    #[serde(default)]
    labels: Vec<LabelJson>,
    #[serde(default)]
    comments: i64,
    #[serde(default)]
    pull_request: Option<serde_json::Value>,
    #[serde(default)]
    author_association: Option<String>,
}

#[derive(Debug, Deserialize)]
struct CommentJson {
    id: i64,
    #[serde(default)]
    user: Option<User>,
    #[serde(default)]
    author_association: Option<String>,
    #[serde(default)]
    body: Option<String>,
    #[serde(default)]
    created_at: Option<String>,
}

impl From<CommentJson> for Comment {
    fn from(c: CommentJson) -> Self {
        Comment {
            id: Some(c.id),
            author: c.user.map(|u| u.login).unwrap_or_default(),
            author_association: c.author_association.unwrap_or_default(),
            body: c.body.unwrap_or_default(),
            created_at: c.created_at.unwrap_or_default(),
        }
    }
}

/// What the http_cache keeps for an issues page: enough to go on after a 304.
#[derive(Debug, Serialize, Deserialize)]
struct PageMemo {
    next: Option<String>,
    max_updated: Option<String>,
}

/// The dataset a repo's issues go to: the datasets entry naming this repo, else the slug with
/// '/' replaced (dataset names are file names).
pub fn dataset_for(settings: &crate::workspace::Settings, repo: &RepoSlug) -> String {
    let full = repo.full();
    settings
        .datasets
        .iter()
        .find(|(_, d)| d.repo.as_deref().is_some_and(|r| r.eq_ignore_ascii_case(&full)))
        .map(|(name, _)| name.clone())
        .unwrap_or_else(|| full.replace('/', "-"))
}

/// The item key of an issue.
pub fn issue_key(repo: &RepoSlug, number: i64) -> String {
    format!("github:{}#{number}", repo.full())
}

fn sync_scope(opts: &PullOptions) -> String {
    format!("github:pull:{}:{}", opts.repo.full(), opts.state.as_str())
}

/// Accept a date (YYYY-MM-DD) or an RFC 3339 timestamp; GitHub wants ISO 8601.
pub fn normalize_since(s: &str) -> std::result::Result<String, String> {
    let s = s.trim();
    if let Ok(ts) = s.parse::<jiff::Timestamp>() {
        return Ok(ts.to_string());
    }
    if let Ok(d) = s.parse::<jiff::civil::Date>() {
        return Ok(format!("{d}T00:00:00Z"));
    }
    Err(format!(
        "--since {s:?}: give a date (2026-01-31) or an RFC 3339 time (2026-01-31T12:00:00Z)"
    ))
}

/// Pull issues and comments of one repository into the store.
///
/// When the high-water mark moves, the incremental page it leads to is fetched once more in the
/// same pull, so its ETag is cached and the next unchanged pull is one conditional request.
pub async fn pull(
    store: &mut Store,
    client: &mut Client,
    opts: &PullOptions,
) -> Result<PullSummary> {
    let scope = sync_scope(opts);
    let mut since = match &opts.since {
        Some(s) => Some(s.clone()),
        None => store.sync_get(&scope)?,
    };
    let mut summary = PullSummary {
        repo: opts.repo.full(),
        dataset: opts.dataset.clone(),
        since: since.clone(),
        ..PullSummary::default()
    };
    let requests_before = client.requests;
    let mut seen = std::collections::HashSet::new();
    for _round in 0..2 {
        let high_water =
            pull_round(store, client, opts, since.as_deref(), &mut summary, &mut seen).await?;
        match high_water {
            Some(hw) if since.as_deref() != Some(hw.as_str()) => {
                store.sync_set(&scope, &hw, &crate::model::now_rfc3339())?;
                since = Some(hw);
            }
            _ => break,
        }
    }
    summary.requests = client.requests - requests_before;
    Ok(summary)
}

/// One walk over the issue pages from `since`; returns the newest `updated_at` seen.
async fn pull_round(
    store: &mut Store,
    client: &mut Client,
    opts: &PullOptions,
    since: Option<&str>,
    summary: &mut PullSummary,
    seen: &mut std::collections::HashSet<i64>,
) -> Result<Option<String>> {
    let mut query =
        format!("?state={}&sort=updated&direction=asc&per_page=100", opts.state.as_str());
    if let Some(s) = since {
        query.push_str(&format!("&since={}", super::client::encode_segment(s)));
    }
    let mut next = Some(client.url(&format!("{}/issues{query}", opts.repo.path())));
    let mut high_water = since.map(str::to_string);
    while let Some(url) = next.take() {
        // Refuse before sending: the token must never reach another host.
        client.check_url(&url)?;
        let cached = store.http_cache_get(&url)?;
        let etag = cached.as_ref().and_then(|(e, _)| e.clone());
        let resp = client.get(&url, etag.as_deref()).await?;
        summary.pages += 1;
        if resp.status == reqwest::StatusCode::NOT_MODIFIED {
            summary.pages_not_modified += 1;
            let memo: Option<PageMemo> =
                cached.and_then(|(_, body)| serde_json::from_slice(&body).ok());
            if let Some(m) = memo {
                high_water = max_opt(high_water, m.max_updated);
                next = m.next;
            }
            continue;
        }
        let issues: Vec<IssueJson> = resp.json()?;
        let page_next = resp.next_link();
        let mut page_max = None;
        let mut items = Vec::new();
        let mut seen_before = 0;
        for issue in issues {
            page_max = max_opt(page_max, issue.updated_at.clone());
            // The priming round sees the newest issues again; count each once.
            let first_sight = seen.insert(issue.number);
            if issue.pull_request.is_some() {
                summary.pull_requests_skipped += usize::from(first_sight);
                continue;
            }
            let comments = if issue.comments > 0 {
                fetch_comments(client, &opts.repo, issue.number).await?
            } else {
                Vec::new()
            };
            if first_sight {
                summary.comments += comments.len();
                summary.issues += 1;
            } else {
                seen_before += 1;
            }
            items.push(to_item(&opts.repo, &opts.dataset, issue, comments));
        }
        let now = crate::model::now_rfc3339();
        summary.overrides += note_overrides(store, &opts.repo, &items, &now)?;
        let counts = store.upsert_items(&items, &now)?;
        summary.inserted += counts.inserted;
        summary.updated += counts.updated;
        // Issues seen again in the priming round are unchanged; count them once.
        summary.unchanged += counts.unchanged.saturating_sub(seen_before);
        for item in &items {
            let st = command_state(item.author.as_deref(), &item.comments, since);
            summary.commands_ignored += st.ignored;
            let (_, wants) = store.issue_flags(&item.key)?.unwrap_or((false, false));
            summary.label_off += usize::from(st.off);
            summary.label_auto += usize::from(st.new_auto);
            store.set_issue_flags(&item.key, st.off, wants || st.new_auto)?;
        }
        let memo = PageMemo { next: page_next.clone(), max_updated: page_max.clone() };
        let memo_json = serde_json::to_vec(&memo).unwrap_or_default();
        if let Some(tag) = resp.header("etag") {
            store.http_cache_put(&url, Some(tag), &memo_json, &now)?;
        }
        high_water = max_opt(high_water, page_max);
        next = page_next;
    }
    Ok(high_water)
}

/// Record what humans changed on issues sift labeled, comparing each pulled issue with what the
/// store last saw of it (after sift's own push, which records the labels it left).
fn note_overrides(store: &Store, repo: &RepoSlug, items: &[Item], now: &str) -> Result<usize> {
    let applied = store.applied_labels(&repo.full())?;
    if applied.is_empty() {
        return Ok(0);
    }
    let mut new = 0;
    for item in items {
        let Some(number) = item.number else { continue };
        let mine: Vec<&crate::store::AppliedLabel> =
            applied.iter().filter(|a| a.number == number).collect();
        if mine.is_empty() {
            continue;
        }
        let before = store.source_labels(&item.key)?;
        for o in overrides(&mine, before.as_deref(), &item.source_labels) {
            let (label, kind, push_id, applied_at) = o;
            let rec = crate::store::LabelOverride {
                repo: repo.full(),
                number,
                label,
                kind: kind.into(),
                applied_at,
                seen_at: now.to_string(),
            };
            new += usize::from(store.record_override(&push_id, &rec)?);
        }
    }
    Ok(new)
}

/// Overrides of one issue: sift's labels missing now (`removed`), and labels new since the
/// store last saw the issue that are not sift's (`added`). (label, kind, push, applied_at)
fn overrides(
    mine: &[&crate::store::AppliedLabel],
    before: Option<&[String]>,
    now: &[String],
) -> Vec<(String, &'static str, String, String)> {
    let has = |set: &[String], l: &str| set.iter().any(|x| x.eq_ignore_ascii_case(l));
    let mut out = Vec::new();
    for a in mine.iter().filter(|a| !has(now, &a.label)) {
        out.push((a.label.clone(), "removed", a.push_id.clone(), a.added_at.clone()));
    }
    if let (Some(before), Some(first)) = (before, mine.first()) {
        for l in now
            .iter()
            .filter(|l| !has(before, l) && !mine.iter().any(|a| a.label.eq_ignore_ascii_case(l)))
        {
            out.push((l.clone(), "added", first.push_id.clone(), first.added_at.clone()));
        }
    }
    out
}

fn max_opt(a: Option<String>, b: Option<String>) -> Option<String> {
    match (a, b) {
        (Some(x), Some(y)) => Some(if y > x { y } else { x }),
        (x, None) => x,
        (None, y) => y,
    }
}

async fn fetch_comments(client: &mut Client, repo: &RepoSlug, number: i64) -> Result<Vec<Comment>> {
    let url = client.url(&format!("{}/issues/{number}/comments?per_page=100", repo.path()));
    let raw: Vec<CommentJson> = client.get_all(&url).await?;
    Ok(raw.into_iter().map(Comment::from).collect())
}

fn to_item(repo: &RepoSlug, dataset: &str, issue: IssueJson, comments: Vec<Comment>) -> Item {
    let labels = issue
        .labels
        .into_iter()
        .map(|l| match l {
            LabelJson::Named { name } | LabelJson::Plain(name) => name,
        })
        .collect();
    let meta = match issue.author_association {
        Some(a) => serde_json::json!({ "author_association": a }),
        None => serde_json::Value::Null,
    };
    Item {
        key: issue_key(repo, issue.number),
        dataset: dataset.to_string(),
        kind: Some(ItemKind::Issue),
        title: issue.title,
        body: issue.body.unwrap_or_default(),
        repo: Some(repo.full()),
        number: Some(issue.number),
        state: issue.state,
        author: issue.user.map(|u| u.login),
        url: issue.html_url,
        created_at: issue.created_at,
        updated_at: issue.updated_at,
        source_labels: labels,
        turns: Vec::new(),
        comments,
        meta,
    }
}

/// Surface a pull error for a repo that does not exist or is private without access.
pub fn explain(e: &GithubError) -> Option<&'static str> {
    match e {
        GithubError::Http { status: 404, .. } => {
            Some("GitHub says not found: check OWNER/REPO and that the token can read it")
        }
        GithubError::Http { status: 401, .. } => Some("the token was refused: `sift auth status`"),
        _ => None,
    }
}

/// One issue with its comments, fresh from the API (the bot's view when an event arrives);
/// None for a pull request.
pub async fn fetch_issue(
    client: &mut Client,
    repo: &RepoSlug,
    number: i64,
    dataset: &str,
) -> Result<Option<Item>> {
    let url = client.url(&format!("{}/issues/{number}", repo.path()));
    let issue: IssueJson = client.get(&url, None).await?.json()?;
    if issue.pull_request.is_some() {
        return Ok(None);
    }
    let comments = fetch_comments(client, repo, number).await?;
    Ok(Some(to_item(repo, dataset, issue, comments)))
}

/// Issues of a listing (`state`, newest or oldest first), pull requests left out, stopping at
/// `max` that `keep` accepts; comments are not fetched.
pub async fn list_issues(
    client: &mut Client,
    repo: &RepoSlug,
    query: &str,
    dataset: &str,
    max: usize,
    keep: &dyn Fn(&Item) -> bool,
) -> Result<Vec<Item>> {
    let mut next = Some(client.url(&format!("{}/issues?{query}&per_page=100", repo.path())));
    let mut out = Vec::new();
    while let Some(url) = next.take() {
        client.check_url(&url)?;
        let resp = client.get(&url, None).await?;
        next = resp.next_link();
        for issue in resp.json::<Vec<IssueJson>>()? {
            if issue.pull_request.is_some() {
                continue;
            }
            let item = to_item(repo, dataset, issue, Vec::new());
            if keep(&item) {
                out.push(item);
                if out.len() >= max {
                    return Ok(out);
                }
            }
        }
    }
    Ok(out)
}

/// Comments made on the repository's issues since `since` (RFC 3339), all pages.
pub async fn repo_comments_since(
    client: &mut Client,
    repo: &RepoSlug,
    since: &str,
) -> Result<Vec<Comment>> {
    let url = client.url(&format!(
        "{}/issues/comments?since={}&per_page=100",
        repo.path(),
        super::client::encode_segment(since)
    ));
    let raw: Vec<CommentJson> = client.get_all(&url).await?;
    Ok(raw.into_iter().map(Comment::from).collect())
}
