//! GitHub integration: a local fake GitHub (wiremock) speaking the REST wire format — paths,
//! methods, JSON bodies, Link pagination, ETags, rate-limit headers — driven through the sift
//! binary: pull, push (apply, comment, crash and resume, revert), label sync, auth status.

// Helpers of an integration test crate: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::path::Path;
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use wiremock::matchers::{any, method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

const TOKEN: &str = "ghp_test_token_0123456789";
const OWNER_REPO: &str = "o/r";

const LABELS_YML: &str = r#"taxonomies:
  issues:
    max_labels: 3
    dimensions:
      - name: type
        select: many
        labels:
          - name: bug
            description: Something is broken.
            color: d73a4a
            aliases: [defect]
          - name: enhancement
            description: A new feature.
            color: a2eeef
          - name: needs info
            description: More information is needed.
            color: fbca04
          - name: old
            description: No longer used.
            color: "000000"
            deprecated: true
"#;

// ---- the fake GitHub ---------------------------------------------------------------------------

#[derive(Default)]
struct State {
    issues: Vec<Value>,
    comments: HashMap<i64, Vec<Value>>,
    labels: HashMap<i64, Vec<String>>,
    repo_labels: Vec<Value>,
    next_comment_id: i64,
}

/// A stateful fake of the GitHub REST endpoints sift uses, under an optional base path.
#[derive(Clone)]
struct Fake {
    prefix: String,
    page_size: usize,
    /// Base URL to put into Link headers instead of the request's own (foreign-host test).
    link_base: Option<String>,
    /// The server's own base URL (wiremock's request URLs say localhost without the port).
    origin: Arc<Mutex<String>>,
    state: Arc<Mutex<State>>,
}

impl Fake {
    fn new(prefix: &str, page_size: usize) -> Self {
        Fake {
            prefix: prefix.to_string(),
            page_size,
            link_base: None,
            origin: Arc::new(Mutex::new(String::new())),
            state: Arc::new(Mutex::new(State { next_comment_id: 9000, ..Default::default() })),
        }
    }

    fn with_issues(self, issues: Vec<Value>) -> Self {
        self.state.lock().unwrap().issues = issues;
        self
    }

    fn labels_of(&self, n: i64) -> Vec<String> {
        self.state.lock().unwrap().labels.get(&n).cloned().unwrap_or_default()
    }
}

fn etag_of(body: &str) -> String {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    body.hash(&mut h);
    format!("\"{:016x}\"", h.finish())
}

fn query(req: &Request, name: &str) -> Option<String> {
    req.url.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned())
}

fn label_json(name: &str) -> Value {
    json!({"id": 1, "name": name, "color": "ededed", "description": null, "default": false})
}

fn decode(seg: &str) -> String {
    let bytes = seg.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap();
            out.push(u8::from_str_radix(hex, 16).unwrap());
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap()
}

impl Respond for Fake {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let Some(p) = req.url.path().strip_prefix(&self.prefix) else {
            return ResponseTemplate::new(404).set_body_json(json!({"message": "Not Found"}));
        };
        let parts: Vec<&str> = p.trim_start_matches('/').split('/').collect();
        let m = req.method.as_str();
        let mut st = self.state.lock().unwrap();
        let not_found =
            || ResponseTemplate::new(404).set_body_json(json!({"message": "Not Found"}));
        match (m, parts.as_slice()) {
            ("GET", ["user"]) => ResponseTemplate::new(200).set_body_json(json!({
                "login": "sift-bot", "id": 1, "node_id": "U_1", "avatar_url": "https://a/1",
                "gravatar_id": "", "url": "https://api/users/sift-bot", "html_url": "https://gh/sift-bot",
                "followers_url": "https://x", "following_url": "https://x", "gists_url": "https://x",
                "starred_url": "https://x", "subscriptions_url": "https://x",
                "organizations_url": "https://x", "repos_url": "https://x", "events_url": "https://x",
                "received_events_url": "https://x", "type": "User", "site_admin": false
            })),
            ("GET", ["repos", _, _, "issues"]) => {
                let since = query(req, "since");
                let page: usize = query(req, "page").and_then(|v| v.parse().ok()).unwrap_or(1);
                let mut list: Vec<&Value> = st
                    .issues
                    .iter()
                    .filter(|i| since.as_ref().is_none_or(|s| i["updated_at"].as_str().unwrap() >= s.as_str()))
                    .collect();
                list.sort_by_key(|i| i["updated_at"].as_str().unwrap().to_string());
                let chunk: Vec<&Value> =
                    list.iter().skip((page - 1) * self.page_size).take(self.page_size).copied().collect();
                let body = serde_json::to_string(&chunk).unwrap();
                let tag = etag_of(&body);
                if req.headers.get("if-none-match").and_then(|v| v.to_str().ok()) == Some(tag.as_str()) {
                    return ResponseTemplate::new(304).insert_header("etag", tag.as_str());
                }
                let mut t = ResponseTemplate::new(200)
                    .insert_header("etag", tag.as_str())
                    .insert_header("content-type", "application/json")
                    .set_body_string(body);
                if page * self.page_size < list.len() {
                    let mut next = req.url.clone();
                    let pairs: Vec<(String, String)> = next
                        .query_pairs()
                        .filter(|(k, _)| k != "page")
                        .map(|(k, v)| (k.into_owned(), v.into_owned()))
                        .collect();
                    next.query_pairs_mut().clear().extend_pairs(pairs).append_pair("page", &(page + 1).to_string());
                    let own = self.origin.lock().unwrap().clone();
                    let base = self.link_base.clone().unwrap_or(own);
                    let origin = format!("{}://{}", req.url.scheme(), req.url.authority());
                    let link = next.to_string().replacen(&origin, &base, 1);
                    t = t.insert_header("link", format!("<{link}>; rel=\"next\"").as_str());
                }
                t
            }
            ("GET", ["repos", _, _, "issues", n, "comments"]) => {
                let n: i64 = n.parse().unwrap();
                ResponseTemplate::new(200).set_body_json(st.comments.get(&n).cloned().unwrap_or_default())
            }
            ("POST", ["repos", _, _, "issues", n, "comments"]) => {
                let n: i64 = n.parse().unwrap();
                let body: Value = serde_json::from_slice(&req.body).unwrap();
                st.next_comment_id += 1;
                let c = json!({"id": st.next_comment_id, "body": body["body"], "user": {"login": "sift-bot"},
                               "author_association": "NONE", "created_at": "2026-01-09T00:00:00Z"});
                st.comments.entry(n).or_default().push(c.clone());
                ResponseTemplate::new(201).set_body_json(c)
            }
            ("PATCH", ["repos", _, _, "issues", "comments", id]) => {
                let id: i64 = id.parse().unwrap();
                let body: Value = serde_json::from_slice(&req.body).unwrap();
                for list in st.comments.values_mut() {
                    for c in list.iter_mut() {
                        if c["id"] == id {
                            c["body"] = body["body"].clone();
                            return ResponseTemplate::new(200).set_body_json(c.clone());
                        }
                    }
                }
                not_found()
            }
            ("GET", ["repos", _, _, "issues", n, "labels"]) => {
                let n: i64 = n.parse().unwrap();
                let l: Vec<Value> = st.labels.get(&n).cloned().unwrap_or_default().iter().map(|x| label_json(x)).collect();
                ResponseTemplate::new(200).set_body_json(l)
            }
            ("POST", ["repos", _, _, "issues", n, "labels"]) => {
                let n: i64 = n.parse().unwrap();
                let body: Value = serde_json::from_slice(&req.body).unwrap();
                let cur = st.labels.entry(n).or_default();
                for l in body["labels"].as_array().unwrap() {
                    let l = l.as_str().unwrap().to_string();
                    if !cur.contains(&l) {
                        cur.push(l);
                    }
                }
                let l: Vec<Value> = cur.iter().map(|x| label_json(x)).collect();
                ResponseTemplate::new(200).set_body_json(l)
            }
            ("DELETE", ["repos", _, _, "issues", n, "labels", name]) => {
                let n: i64 = n.parse().unwrap();
                let name = decode(name);
                let cur = st.labels.entry(n).or_default();
                let before = cur.len();
                cur.retain(|l| l != &name);
                if cur.len() == before {
                    return ResponseTemplate::new(404).set_body_json(json!({"message": "Label does not exist"}));
                }
                let l: Vec<Value> = cur.iter().map(|x| label_json(x)).collect();
                ResponseTemplate::new(200).set_body_json(l)
            }
            ("GET", ["repos", _, _, "labels"]) => ResponseTemplate::new(200).set_body_json(st.repo_labels.clone()),
            ("POST", ["repos", _, _, "labels"]) => {
                let body: Value = serde_json::from_slice(&req.body).unwrap();
                st.repo_labels.push(body.clone());
                ResponseTemplate::new(201).set_body_json(body)
            }
            ("PATCH", ["repos", _, _, "labels", name]) => {
                let name = decode(name);
                let body: Value = serde_json::from_slice(&req.body).unwrap();
                let Some(l) = st.repo_labels.iter_mut().find(|l| l["name"] == name.as_str()) else { return not_found() };
                if let Some(n) = body.get("new_name") {
                    l["name"] = n.clone();
                }
                for k in ["color", "description"] {
                    if let Some(v) = body.get(k) {
                        l[k] = v.clone();
                    }
                }
                ResponseTemplate::new(200).set_body_json(l.clone())
            }
            ("DELETE", ["repos", _, _, "labels", name]) => {
                let name = decode(name);
                st.repo_labels.retain(|l| l["name"] != name.as_str());
                ResponseTemplate::new(204)
            }
            _ => not_found(),
        }
    }
}

fn issue(n: i64, updated: &str, labels: &[&str], comments: i64, author: &str) -> Value {
    json!({
        "id": 1000 + n, "number": n, "title": format!("Issue {n}"), "body": format!("Body of {n}"),
        "state": "open", "user": {"login": author}, "html_url": format!("https://github.com/o/r/issues/{n}"),
        "created_at": "2026-01-01T00:00:00Z", "updated_at": updated,
        "labels": labels.iter().map(|l| json!({"name": l, "color": "ededed"})).collect::<Vec<_>>(),
        "comments": comments, "author_association": "NONE"
    })
}

fn comment(id: i64, author: &str, assoc: &str, body: &str, at: &str) -> Value {
    json!({"id": id, "user": {"login": author}, "author_association": assoc, "body": body, "created_at": at})
}

async fn serve(fake: &Fake) -> MockServer {
    let server = MockServer::start().await;
    *fake.origin.lock().unwrap() = server.uri();
    Mock::given(any()).respond_with(fake.clone()).with_priority(10).mount(&server).await;
    server
}

/// GitHub acting on a request and then failing to say so: the fake applies it, the client gets
/// `status` (a 502 from a proxy after the comment was created, say).
struct ActsThenFails {
    fake: Fake,
    status: u16,
}

impl Respond for ActsThenFails {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let _ = self.fake.respond(req);
        ResponseTemplate::new(self.status).set_body_json(json!({"message": "Server Error"}))
    }
}

// ---- the workspace and the binary --------------------------------------------------------------

fn workspace(mutation_interval_ms: u64) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    sift::workspace::Workspace::init(dir.path(), "t").unwrap();
    std::fs::write(dir.path().join("labels.yml"), LABELS_YML).unwrap();
    let toml = dir.path().join("sift.toml");
    let text = std::fs::read_to_string(&toml).unwrap().replace(
        "repos = []",
        &format!("repos = []\nmutation_interval_ms = {mutation_interval_ms}"),
    );
    std::fs::write(&toml, text).unwrap();
    dir
}

fn sift_cmd(ws: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_sift"));
    c.arg("--workspace")
        .arg(ws)
        .args(args)
        .env("GITHUB_TOKEN", TOKEN)
        .env_remove("GH_TOKEN")
        .env("SIFT_GITHUB_SECONDARY_WAIT_MS", "50")
        .env("SIFT_GITHUB_RETRY_BASE_MS", "20")
        .env("SIFT_ANNOTATOR", "tester")
        .env("XDG_CONFIG_HOME", ws.join(".cfg"))
        .env("HOME", ws);
    c
}

async fn sift(ws: &Path, args: &[&str]) -> Output {
    let mut c = sift_cmd(ws, args);
    tokio::task::spawn_blocking(move || c.output().unwrap()).await.unwrap()
}

/// `sift push OWNER_REPO --mode apply --json` against the fake.
async fn push_apply(ws: &Path, server: &MockServer) -> Output {
    sift(ws, &["push", OWNER_REPO, "--mode", "apply", "--api-url", &server.uri(), "--json"]).await
}

fn stdout_json(o: &Output) -> Value {
    let text = String::from_utf8_lossy(&o.stdout);
    serde_json::from_str(&text).unwrap_or_else(|e| {
        panic!(
            "stdout is not one JSON document ({e}):\n{text}\nstderr:\n{}",
            String::from_utf8_lossy(&o.stderr)
        )
    })
}

fn ok(o: &Output) {
    assert!(
        o.status.success(),
        "sift failed: {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
}

fn store(ws: &Path) -> sift::store::Store {
    sift::store::Store::open(&ws.join(".sift/store.db")).unwrap()
}

/// Every request carries the headers GitHub documents, with the token, and went to the API.
fn assert_github_headers(reqs: &[Request]) {
    for r in reqs {
        let h = |n: &str| {
            r.headers.get_all(n).iter().map(|v| v.to_str().unwrap().to_string()).collect::<Vec<_>>()
        };
        assert_eq!(h("accept"), vec!["application/vnd.github+json"], "{} {}", r.method, r.url);
        assert_eq!(h("x-github-api-version"), vec!["2022-11-28"], "{} {}", r.method, r.url);
        assert_eq!(h("authorization"), vec![format!("Bearer {TOKEN}")], "{} {}", r.method, r.url);
    }
}

fn count(reqs: &[Request], m: &str, p: &str) -> usize {
    reqs.iter().filter(|r| r.method.as_str() == m && r.url.path() == p).count()
}

fn mutations(reqs: &[Request]) -> usize {
    reqs.iter().filter(|r| r.method.as_str() != "GET").count()
}

/// Put issues of o/r into the store directly, as a pull would.
fn seed_issues(ws: &Path, issues: &[(i64, &[&str])], comments: &[(i64, sift::model::Comment)]) {
    let mut s = store(ws);
    let items: Vec<sift::model::Item> = issues
        .iter()
        .map(|(n, labels)| sift::model::Item {
            key: format!("github:o/r#{n}"),
            dataset: "o-r".into(),
            kind: Some(sift::model::ItemKind::Issue),
            title: format!("Issue {n}"),
            repo: Some("o/r".into()),
            number: Some(*n),
            author: Some("alice".into()),
            source_labels: labels.iter().map(|l| l.to_string()).collect(),
            comments: comments.iter().filter(|(k, _)| k == n).map(|(_, c)| c.clone()).collect(),
            ..Default::default()
        })
        .collect();
    s.upsert_items(&items, "2026-01-01T00:00:00Z").unwrap();
}

/// Gold through annotations/: two annotators agreeing on each item.
fn seed_gold(ws: &Path, gold: &[(i64, &[&str])]) {
    for who in ["ann1", "ann2"] {
        let dir = ws.join("annotations/o-r");
        std::fs::create_dir_all(&dir).unwrap();
        let mut text = String::new();
        for (n, labels) in gold {
            let rec = json!({"item": format!("github:o/r#{n}"), "annotator": who, "labels": labels,
                             "at": "2026-01-02T00:00:00Z", "mode": "assisted"});
            text.push_str(&format!("{rec}\n"));
        }
        std::fs::write(dir.join(format!("{who}.jsonl")), text).unwrap();
    }
}

// ---- pull ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pull_pages_skips_prs_stores_comments_and_is_conditional_on_an_enterprise_path() {
    let mut pr = issue(5, "2026-01-05T00:00:00Z", &[], 0, "dave");
    pr["pull_request"] = json!({"url": "https://api/pulls/5"});
    let fake = Fake::new("/api/v3", 2).with_issues(vec![
        issue(1, "2026-01-01T00:00:00Z", &["bug"], 2, "alice"),
        issue(2, "2026-01-02T00:00:00Z", &[], 0, "bob"),
        issue(3, "2026-01-03T00:00:00Z", &["needs info", "wontfix"], 1, "carol"),
        issue(4, "2026-01-04T00:00:00Z", &[], 1, "erin"),
        pr,
    ]);
    {
        let mut st = fake.state.lock().unwrap();
        st.comments.insert(
            1,
            vec![
                comment(11, "mallory", "NONE", "/label off", "2026-01-01T01:00:00Z"),
                comment(12, "zed", "CONTRIBUTOR", "me too", "2026-01-01T02:00:00Z"),
            ],
        );
        // The issue's own author may switch sift off.
        st.comments.insert(
            3,
            vec![comment(31, "carol", "NONE", "thanks\n/label off", "2026-01-03T01:00:00Z")],
        );
        st.comments
            .insert(4, vec![comment(41, "maint", "MEMBER", "/label auto", "2026-01-04T01:00:00Z")]);
    }
    let server = serve(&fake).await;
    let api = format!("{}/api/v3", server.uri());
    let ws = workspace(0);
    let o = sift(ws.path(), &["pull", OWNER_REPO, "--api-url", &api, "--json"]).await;
    ok(&o);
    let j = stdout_json(&o);
    assert_eq!(j["issues"], 4);
    assert_eq!(j["pull_requests_skipped"], 1);
    assert_eq!(j["inserted"], 4);
    assert_eq!(j["comments"], 4);
    assert_eq!(j["dataset"], "o-r");
    let reqs = server.received_requests().await.unwrap();
    assert_github_headers(&reqs);
    let pages: Vec<&Request> =
        reqs.iter().filter(|r| r.url.path() == "/api/v3/repos/o/r/issues").collect();
    assert!(pages.len() >= 3, "three pages of two");
    for p in &pages {
        assert_eq!(query(p, "per_page").as_deref(), Some("100"));
        assert_eq!(query(p, "state").as_deref(), Some("open"));
    }
    let s = store(ws.path());
    let one = s.item("github:o/r#1").unwrap().unwrap();
    assert_eq!(one.source_labels, vec!["bug"]);
    assert_eq!(one.comments.len(), 2);
    assert_eq!(one.comments[0].author_association, "NONE");
    assert_eq!(one.repo.as_deref(), Some("o/r"));
    assert!(s.item("github:o/r#5").unwrap().is_none(), "pull requests are skipped");
    assert_eq!(
        s.issue_flags("github:o/r#1").unwrap(),
        Some((false, false)),
        "mallory may not switch sift off"
    );
    assert_eq!(s.issue_flags("github:o/r#3").unwrap(), Some((true, false)), "the issue author may");
    assert_eq!(
        s.issue_flags("github:o/r#4").unwrap(),
        Some((false, true)),
        "a member asked for suggestions"
    );
    drop(s);

    // Unchanged re-pull: only conditional requests, all answered 304, nothing written.
    let db = ws.path().join(".sift/store.db");
    let before = std::fs::read(&db).unwrap();
    let wal = ws.path().join(".sift/store.db-wal");
    let wal_before = std::fs::read(&wal).unwrap_or_default();
    let n_before = reqs.len();
    let o = sift(ws.path(), &["pull", OWNER_REPO, "--api-url", &api, "--json"]).await;
    ok(&o);
    let j = stdout_json(&o);
    let reqs = server.received_requests().await.unwrap();
    let new: Vec<&Request> = reqs[n_before..].iter().collect();
    assert!(!new.is_empty());
    for r in &new {
        assert!(r.headers.get("if-none-match").is_some(), "unconditional request {}", r.url);
        assert!(query(r, "since").is_some(), "incremental pull sends since=: {}", r.url);
    }
    assert_eq!(j["pages_not_modified"], new.len());
    assert_eq!(j["inserted"].as_u64().unwrap() + j["updated"].as_u64().unwrap(), 0);
    assert_eq!(std::fs::read(&db).unwrap(), before, "the store was written");
    assert_eq!(std::fs::read(&wal).unwrap_or_default(), wal_before, "the WAL was written");

    // A changed issue comes back through the incremental page.
    fake.state.lock().unwrap().issues.push(issue(6, "2026-01-06T00:00:00Z", &[], 0, "fay"));
    let o = sift(ws.path(), &["pull", OWNER_REPO, "--api-url", &api, "--json"]).await;
    ok(&o);
    assert_eq!(stdout_json(&o)["inserted"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pull_refuses_a_pagination_link_to_another_host() {
    let foreign = MockServer::start().await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([])))
        .mount(&foreign)
        .await;
    let mut fake = Fake::new("", 1).with_issues(vec![
        issue(1, "2026-01-01T00:00:00Z", &[], 0, "a"),
        issue(2, "2026-01-02T00:00:00Z", &[], 0, "b"),
    ]);
    fake.link_base = Some(foreign.uri());
    let server = serve(&fake).await;
    let ws = workspace(0);
    let o = sift(ws.path(), &["pull", OWNER_REPO, "--api-url", &server.uri()]).await;
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("refusing to follow"), "{err}");
    assert!(!err.contains(TOKEN));
    assert!(
        foreign.received_requests().await.unwrap().is_empty(),
        "the foreign host got a request"
    );
    assert_github_headers(&server.received_requests().await.unwrap());
}

/// A fake whose first answer to the issues list is `first`, then normal pages.
async fn pull_after(first: ResponseTemplate, env: &[(&str, &str)]) -> (Output, Duration, usize) {
    let fake = Fake::new("", 100).with_issues(vec![issue(1, "2026-01-01T00:00:00Z", &[], 0, "a")]);
    let server = serve(&fake).await;
    Mock::given(method("GET"))
        .and(path("/repos/o/r/issues"))
        .respond_with(first)
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    let ws = workspace(0);
    let mut c = sift_cmd(ws.path(), &["pull", OWNER_REPO, "--api-url", &server.uri(), "--json"]);
    for (k, v) in env {
        c.env(k, v);
    }
    let t = Instant::now();
    let o = tokio::task::spawn_blocking(move || c.output().unwrap()).await.unwrap();
    let n = server.received_requests().await.unwrap().len();
    (o, t.elapsed(), n)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pull_honours_rate_limits_and_retries_server_errors() {
    let msg = |m: &str| json!({"message": m, "documentation_url": "https://docs.github.com/rest"});
    // 429 with retry-after: waits that long, then goes on.
    let (o, took, n) = pull_after(
        ResponseTemplate::new(429)
            .insert_header("retry-after", "1")
            .set_body_json(msg("slow down")),
        &[],
    )
    .await;
    ok(&o);
    assert!(took >= Duration::from_millis(950), "did not wait for retry-after: {took:?}");
    assert_eq!(stdout_json(&o)["issues"], 1);
    assert!(n >= 2);
    // 403 with x-ratelimit-remaining 0: waits until x-ratelimit-reset.
    let reset = (jiff::Timestamp::now().as_second() + 1).to_string();
    let (o, took, _) = pull_after(
        ResponseTemplate::new(403)
            .insert_header("x-ratelimit-remaining", "0")
            .insert_header("x-ratelimit-reset", reset.as_str())
            .set_body_json(msg("API rate limit exceeded")),
        &[],
    )
    .await;
    ok(&o);
    assert!(took >= Duration::from_millis(900), "did not wait for the reset: {took:?}");
    // Secondary limits without retry-after: the (shortened) minimum wait, then on.
    for first in [
        ResponseTemplate::new(403).set_body_json(msg("You have exceeded a secondary rate limit.")),
        ResponseTemplate::new(429).set_body_json(msg("Too many requests")),
        ResponseTemplate::new(502).set_body_json(msg("Server Error")),
    ] {
        let (o, _, n) = pull_after(first, &[]).await;
        ok(&o);
        assert_eq!(stdout_json(&o)["issues"], 1);
        assert!(n >= 2);
    }
    // A wait longer than sift accepts fails plainly instead of hanging.
    let (o, took, _) = pull_after(
        ResponseTemplate::new(429).insert_header("retry-after", "3600").set_body_json(msg("later")),
        &[("SIFT_GITHUB_MAX_WAIT_SECS", "5")],
    )
    .await;
    assert!(!o.status.success());
    assert!(took < Duration::from_secs(30));
    assert!(String::from_utf8_lossy(&o.stderr).contains("rate limited"));
    // A plain 403 (no rate limit) and a 404 are errors with GitHub's message.
    let (o, _, n) =
        pull_after(ResponseTemplate::new(404).set_body_json(msg("Not Found")), &[]).await;
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(n, 1, "a 404 is not retried");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("404") && err.contains("Not Found"), "{err}");
    let (o, _, n) =
        pull_after(ResponseTemplate::new(403).set_body_json(msg("Resource not accessible")), &[])
            .await;
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(n, 1);
}

// ---- push ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_push_adds_gold_labels_once_and_revert_removes_only_what_it_added() {
    let fake = Fake::new("", 100);
    {
        let mut st = fake.state.lock().unwrap();
        st.labels.insert(1, vec!["wontfix".into()]);
        st.labels.insert(2, vec!["bug".into()]);
    }
    let server = serve(&fake).await;
    let ws = workspace(0);
    seed_issues(ws.path(), &[(1, &["wontfix"]), (2, &["bug"]), (3, &[]), (4, &[])], &[]);
    // #1 gold has a label outside the taxonomy (refused when the log is read, so the earlier
    // answer stands); #2 already has bug (set by a human); #3 gold has 4 labels; #4 has a
    // deprecated one.
    seed_gold(
        ws.path(),
        &[
            (1, &["bug"]),
            (2, &["bug", "needs info"]),
            (3, &["bug", "enhancement", "needs info"]),
            (4, &["old"]),
        ],
    );
    let log = ws.path().join("annotations/o-r/ann1.jsonl");
    let made_up = json!({"item": "github:o/r#1", "annotator": "ann1", "labels": ["bug", "made-up"],
                         "at": "2026-01-03T00:00:00Z", "mode": "assisted"});
    let text = std::fs::read_to_string(&log).unwrap() + &format!("{made_up}\n");
    std::fs::write(&log, text).unwrap();
    {
        // `/label off` on #3: left alone.
        let s = store(ws.path());
        s.set_issue_flags("github:o/r#3", true, false).unwrap();
    }
    let dry = sift(
        ws.path(),
        &["push", OWNER_REPO, "--mode", "apply", "--dry-run", "--api-url", &server.uri()],
    )
    .await;
    ok(&dry);
    let text = String::from_utf8_lossy(&dry.stdout);
    assert!(text.contains("o/r#1") && text.contains("+ bug"), "{text}");
    assert!(text.contains("+ needs info"));
    let err = String::from_utf8_lossy(&dry.stderr);
    assert!(err.contains("ann1.jsonl:5: unknown label `made-up`"), "{err}");
    assert!(!text.contains("made-up"), "{text}");
    assert!(server.received_requests().await.unwrap().is_empty(), "--dry-run sent a request");

    let o = push_apply(ws.path(), &server).await;
    ok(&o);
    let j = stdout_json(&o);
    let push_id = j["report"]["push_id"].as_str().unwrap().to_string();
    assert_eq!(j["report"]["done"], 2);
    let reqs = server.received_requests().await.unwrap();
    assert_github_headers(&reqs);
    assert_eq!(count(&reqs, "POST", "/repos/o/r/issues/1/labels"), 1);
    assert_eq!(count(&reqs, "POST", "/repos/o/r/issues/2/labels"), 1);
    assert_eq!(mutations(&reqs), 2, "#3 is off, #4's label is deprecated");
    let body: Value = reqs
        .iter()
        .find(|r| r.method.as_str() == "POST" && r.url.path() == "/repos/o/r/issues/2/labels")
        .unwrap()
        .body_json()
        .unwrap();
    assert_eq!(body, json!({"labels": ["needs info"]}));
    assert_eq!(fake.labels_of(1), vec!["wontfix", "bug"]);

    // Nothing new: no request at all.
    let n = reqs.len();
    let o =
        sift(ws.path(), &["push", OWNER_REPO, "--mode", "apply", "--api-url", &server.uri()]).await;
    ok(&o);
    assert_eq!(server.received_requests().await.unwrap().len(), n, "a second push sent requests");

    // A human removes `bug` from #1; revert then removes only `needs info` from #2
    // (URL-encoded), and never the `bug` a human set on #2.
    fake.state.lock().unwrap().labels.insert(1, vec!["wontfix".into()]);
    let n = server.received_requests().await.unwrap().len();
    let o = sift(ws.path(), &["push", "--revert", &push_id, "--api-url", &server.uri(), "--json"])
        .await;
    ok(&o);
    let reqs = server.received_requests().await.unwrap();
    assert_github_headers(&reqs);
    assert_eq!(
        count(&reqs[n..], "GET", "/repos/o/r/issues/1/labels"),
        1,
        "presence is checked first"
    );
    assert_eq!(count(&reqs, "DELETE", "/repos/o/r/issues/2/labels/needs%20info"), 1);
    assert_eq!(reqs.iter().filter(|r| r.method.as_str() == "DELETE").count(), 1);
    assert_eq!(fake.labels_of(1), vec!["wontfix"]);
    assert_eq!(fake.labels_of(2), vec!["bug"], "the human's bug label stays");
    // The revert is idempotent.
    let n = reqs.len();
    let o = sift(ws.path(), &["push", "--revert", &push_id, "--api-url", &server.uri()]).await;
    ok(&o);
    assert_eq!(mutations(&server.received_requests().await.unwrap()[n..]), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_label_a_human_added_after_the_pull_is_neither_sent_nor_reverted() {
    let fake = Fake::new("", 100);
    let server = serve(&fake).await;
    let ws = workspace(0);
    // The pull saw #1 without labels; a human has added `bug` since.
    seed_issues(ws.path(), &[(1, &[])], &[]);
    seed_gold(ws.path(), &[(1, &["bug", "enhancement"])]);
    fake.state.lock().unwrap().labels.insert(1, vec!["bug".into()]);
    let o = push_apply(ws.path(), &server).await;
    ok(&o);
    let push_id = stdout_json(&o)["report"]["push_id"].as_str().unwrap().to_string();
    let reqs = server.received_requests().await.unwrap();
    let post = reqs.iter().find(|r| r.method.as_str() == "POST").unwrap();
    assert_eq!(post.body_json::<Value>().unwrap(), json!({"labels": ["enhancement"]}));
    let pushed: Vec<String> = store(ws.path())
        .pushed_labels("o/r", Some(&push_id))
        .unwrap()
        .into_iter()
        .map(|l| l.label)
        .collect();
    assert_eq!(pushed, vec!["enhancement"], "the human's label is not recorded as sift's");
    // Pushing again: nothing new, so no push record and no request (the push read what the
    // human added; it used to plan `bug` again and report it 'already on GitHub' each time).
    let pushes = |ws: &Path| store(ws).unfinished_pushes("o/r").unwrap().len();
    let n = reqs.len();
    let o = push_apply(ws.path(), &server).await;
    ok(&o);
    assert!(stdout_json(&o)["report"].is_null(), "{}", stdout_json(&o));
    assert_eq!(server.received_requests().await.unwrap().len(), n, "no request");
    assert_eq!(pushes(ws.path()), 0);

    let n = reqs.len();
    let o = sift(ws.path(), &["push", "--revert", &push_id, "--api-url", &server.uri()]).await;
    ok(&o);
    let reqs = server.received_requests().await.unwrap();
    assert_eq!(count(&reqs[n..], "DELETE", "/repos/o/r/issues/1/labels/bug"), 0);
    assert_eq!(count(&reqs[n..], "DELETE", "/repos/o/r/issues/1/labels/enhancement"), 1);
    assert_eq!(fake.labels_of(1), vec!["bug"], "the human's bug label stays");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_label_a_human_added_under_an_alias_after_the_pull_is_not_added_again() {
    let fake = Fake::new("", 100);
    let server = serve(&fake).await;
    let ws = workspace(0);
    // The pull saw #1 without labels; a human has added `Defect` (an alias of bug) since.
    seed_issues(ws.path(), &[(1, &[])], &[]);
    seed_gold(ws.path(), &[(1, &["bug"])]);
    fake.state.lock().unwrap().labels.insert(1, vec!["Defect".into()]);
    let o = push_apply(ws.path(), &server).await;
    ok(&o);
    let reqs = server.received_requests().await.unwrap();
    assert!(reqs.iter().all(|r| r.method.as_str() != "POST"), "bug is not added on top");
    assert_eq!(fake.labels_of(1), vec!["Defect"]);
    assert_eq!(stdout_json(&o)["report"]["already"], 1, "{}", stdout_json(&o));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_resumes_after_a_crash_without_duplicates() {
    // (a) The journal says an op was sent but not confirmed; GitHub already has the label.
    let fake = Fake::new("", 100);
    fake.state.lock().unwrap().labels.insert(1, vec!["bug".into()]);
    let server = serve(&fake).await;
    let ws = workspace(0);
    seed_issues(ws.path(), &[(1, &[]), (2, &[])], &[]);
    seed_gold(ws.path(), &[(1, &["bug"]), (2, &["enhancement"])]);
    {
        let mut s = store(ws.path());
        s.create_push("p-crash", "o/r", "apply", "{}", "2026-01-01T00:00:00Z").unwrap();
        s.add_push_ops(
            "p-crash",
            &[
                (
                    "github:o/r#1".into(),
                    "add_labels".into(),
                    r#"{"number":1,"labels":["bug"]}"#.into(),
                ),
                (
                    "github:o/r#2".into(),
                    "add_labels".into(),
                    r#"{"number":2,"labels":["enhancement"]}"#.into(),
                ),
            ],
        )
        .unwrap();
        s.set_op_state("p-crash", 0, "sent", None, "2026-01-01T00:00:01Z").unwrap();
    }
    let o = push_apply(ws.path(), &server).await;
    ok(&o);
    let j = stdout_json(&o);
    assert_eq!(j["resumed"][0]["push_id"], "p-crash");
    assert_eq!(j["resumed"][0]["already"], 1);
    assert!(j["report"].is_null(), "the resumed push covered everything");
    let reqs = server.received_requests().await.unwrap();
    assert_eq!(
        count(&reqs, "GET", "/repos/o/r/issues/1/labels"),
        1,
        "the sent op was checked first"
    );
    assert_eq!(count(&reqs, "POST", "/repos/o/r/issues/1/labels"), 0, "duplicate of a sent op");
    assert_eq!(count(&reqs, "POST", "/repos/o/r/issues/2/labels"), 1);
    assert_eq!(store(ws.path()).pushed_labels("o/r", Some("p-crash")).unwrap().len(), 2);

    // (b) The process is killed between two ops; the next run finishes without duplicates.
    let fake = Fake::new("", 100);
    let server = serve(&fake).await;
    let ws = workspace(3000);
    seed_issues(ws.path(), &[(1, &[]), (2, &[]), (3, &[])], &[]);
    seed_gold(ws.path(), &[(1, &["bug"]), (2, &["bug"]), (3, &["bug"])]);
    let mut child =
        sift_cmd(ws.path(), &["push", OWNER_REPO, "--mode", "apply", "--api-url", &server.uri()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let posts = server
            .received_requests()
            .await
            .unwrap()
            .iter()
            .filter(|r| r.method.as_str() == "POST")
            .count();
        if posts >= 1 {
            break;
        }
        assert!(Instant::now() < deadline, "the push never sent its first mutation");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Give it a moment to journal the answer, then kill it while it waits to send the next op.
    tokio::time::sleep(Duration::from_millis(300)).await;
    child.kill().unwrap();
    child.wait().unwrap();
    {
        let s = store(ws.path());
        let unfinished = s.unfinished_pushes("o/r").unwrap();
        assert_eq!(unfinished.len(), 1, "the killed push is still open in the journal");
    }
    std::fs::write(
        ws.path().join("sift.toml"),
        std::fs::read_to_string(ws.path().join("sift.toml"))
            .unwrap()
            .replace("mutation_interval_ms = 3000", "mutation_interval_ms = 0"),
    )
    .unwrap();
    let o =
        sift(ws.path(), &["push", OWNER_REPO, "--mode", "apply", "--api-url", &server.uri()]).await;
    ok(&o);
    let reqs = server.received_requests().await.unwrap();
    for n in 1..=3 {
        assert_eq!(count(&reqs, "POST", &format!("/repos/o/r/issues/{n}/labels")), 1, "issue {n}");
        assert_eq!(fake.labels_of(n), vec!["bug"]);
    }
    assert!(store(ws.path()).unfinished_pushes("o/r").unwrap().is_empty());
}

/// Journal an interrupted apply push of o/r adding `labels` to each issue (ops pending).
fn seed_unfinished(ws: &Path, id: &str, issues: &[(i64, &[&str])]) {
    let mut s = store(ws);
    s.create_push(id, "o/r", "apply", "{}", "2026-01-01T00:00:00Z").unwrap();
    let ops: Vec<(String, String, String)> = issues
        .iter()
        .map(|(n, labels)| {
            (
                format!("github:o/r#{n}"),
                "add_labels".to_string(),
                json!({"number": n, "labels": labels}).to_string(),
            )
        })
        .collect();
    s.add_push_ops(id, &ops).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unfinished_pushes_are_shown_first_honour_label_off_and_can_be_abandoned() {
    let fake = Fake::new("", 100);
    let server = serve(&fake).await;
    let ws = workspace(0);
    seed_issues(ws.path(), &[(1, &[]), (2, &[]), (3, &[])], &[]);
    seed_unfinished(ws.path(), "p-old", &[(1, &["bug"]), (2, &["bug"])]);
    // `/label off` on #2 since p-old was planned.
    store(ws.path()).set_issue_flags("github:o/r#2", true, false).unwrap();

    // The dry run lists the unfinished push and what it would (not) send.
    let o = sift(
        ws.path(),
        &["push", OWNER_REPO, "--mode", "apply", "--dry-run", "--api-url", &server.uri()],
    )
    .await;
    ok(&o);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("unfinished push p-old (apply"), "{text}");
    assert!(text.contains("o/r#1 + bug\n"), "{text}");
    assert!(text.contains("o/r#2 + bug (skipped: `/label off` on this issue)"), "{text}");
    assert!(text.contains("sift push --abandon p-old"), "{text}");
    let o = sift(
        ws.path(),
        &["push", OWNER_REPO, "--mode", "apply", "--dry-run", "--json", "--api-url", &server.uri()],
    )
    .await;
    ok(&o);
    let j = stdout_json(&o);
    assert_eq!(j["plan"]["unfinished"][0]["id"], "p-old");
    assert_eq!(j["plan"]["unfinished"][0]["ops"].as_array().unwrap().len(), 2);
    assert!(j["plan"]["unfinished"][0]["ops"][1]["skip"].as_str().unwrap().contains("label off"));
    assert!(server.received_requests().await.unwrap().is_empty(), "--dry-run sent a request");

    // A comment push does not send an apply push's leftovers: it stops before any request.
    let o = sift(ws.path(), &["push", OWNER_REPO, "--api-url", &server.uri()]).await;
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("--mode apply") && err.contains("--abandon p-old"), "{err}");
    assert!(server.received_requests().await.unwrap().is_empty());

    // An apply push resumes p-old: #1 gets its label, #2 is skipped and says why.
    let o = push_apply(ws.path(), &server).await;
    ok(&o);
    let j = stdout_json(&o);
    assert_eq!(j["resumed"][0]["push_id"], "p-old");
    assert_eq!(j["resumed"][0]["done"], 1);
    assert_eq!(j["resumed"][0]["skipped"], 1);
    assert!(j["resumed"][0]["skips"][0].as_str().unwrap().contains("o/r#2"));
    let reqs = server.received_requests().await.unwrap();
    assert_eq!(count(&reqs, "POST", "/repos/o/r/issues/1/labels"), 1);
    assert_eq!(mutations(&reqs), 1, "#2 is under /label off");
    assert_eq!(store(ws.path()).push_ops("p-old").unwrap()[1].state, "skipped");

    // --abandon drops an unfinished push without a request; a later push does not send it.
    seed_unfinished(ws.path(), "p-drop", &[(3, &["bug"])]);
    let n = reqs.len();
    let o = sift(ws.path(), &["push", "--abandon", "p-drop", "--json"]).await;
    ok(&o);
    let j = stdout_json(&o);
    assert_eq!(j["abandoned"]["push_id"], "p-drop");
    assert_eq!(j["abandoned"]["dropped"], 1);
    assert_eq!(store(ws.path()).push_record("p-drop").unwrap().unwrap().status, "abandoned");
    let o =
        sift(ws.path(), &["push", OWNER_REPO, "--mode", "apply", "--api-url", &server.uri()]).await;
    ok(&o);
    assert_eq!(mutations(&server.received_requests().await.unwrap()[n..]), 0);
    assert!(fake.labels_of(3).is_empty());
    // A finished push cannot be abandoned.
    let o = sift(ws.path(), &["push", "--abandon", "p-drop"]).await;
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("not unfinished"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn comment_mode_recognises_only_its_own_block() {
    let fake = Fake::new("", 100);
    let server = serve(&fake).await;
    let ws = workspace(0);
    // #1 carries a block pasted by someone else (claiming the same labels): ignored, a new
    // comment is posted. #2 carries sift's own older block: it is updated in place.
    let data_bug = r#"{"labels":[{"name":"bug"}],"source":"gold","sift":"0.1.0"}"#;
    let pasted = format!(
        "<!-- sift:start version=1 run=p-x -->\nhi\n<!-- sift:data {data_bug} -->\n<!-- sift:end -->"
    );
    let own_old = "<!-- sift:start version=1 run=p-old -->\nold\n<!-- sift:data {\"labels\":[{\"name\":\"question\"}],\"source\":\"gold\",\"sift\":\"0.0.1\"} -->\n<!-- sift:end -->";
    let c = |id: i64, author: &str, body: &str| sift::model::Comment {
        id: Some(id),
        author: author.into(),
        author_association: "NONE".into(),
        body: body.into(),
        created_at: "2026-01-01T00:00:00Z".into(),
    };
    seed_issues(
        ws.path(),
        &[(1, &[]), (2, &[])],
        &[(1, c(501, "mallory", &pasted)), (2, c(502, "sift-bot", own_old))],
    );
    fake.state
        .lock()
        .unwrap()
        .comments
        .insert(2, vec![comment(502, "sift-bot", "NONE", own_old, "2026-01-01T00:00:00Z")]);
    seed_gold(ws.path(), &[(1, &["bug"]), (2, &["enhancement"])]);
    let o = sift(
        ws.path(),
        &["push", OWNER_REPO, "--mode", "comment", "--api-url", &server.uri(), "--json"],
    )
    .await;
    ok(&o);
    let reqs = server.received_requests().await.unwrap();
    assert_github_headers(&reqs);
    assert_eq!(count(&reqs, "GET", "/user"), 1, "the login is asked to recognise blocks");
    assert_eq!(count(&reqs, "POST", "/repos/o/r/issues/1/comments"), 1);
    assert_eq!(count(&reqs, "PATCH", "/repos/o/r/issues/comments/502"), 1);
    assert_eq!(mutations(&reqs), 2);
    let post = reqs.iter().find(|r| r.method.as_str() == "POST").unwrap();
    let body: Value = post.body_json().unwrap();
    let text = body["body"].as_str().unwrap();
    assert!(text.starts_with("<!-- sift:start version=1 run=p-"), "{text}");
    assert!(text.trim_end().ends_with("<!-- sift:end -->"));
    assert!(text.contains("<!-- sift:data {\"labels\":[{\"name\":\"bug\"}]"));
    assert_eq!(body.as_object().unwrap().len(), 1, "the body is {{\"body\": ...}}");
    // A second push: nothing new, no requests.
    let n = reqs.len();
    let o = sift(ws.path(), &["push", OWNER_REPO, "--mode", "comment", "--api-url", &server.uri()])
        .await;
    ok(&o);
    let later = server.received_requests().await.unwrap();
    assert_eq!(mutations(&later[n..]), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_422_fails_one_op_and_the_push_goes_on() {
    let fake = Fake::new("", 100);
    let server = serve(&fake).await;
    Mock::given(method("POST"))
        .and(path("/repos/o/r/issues/1/labels"))
        .respond_with(ResponseTemplate::new(422).set_body_json(
            json!({"message": "Validation Failed", "errors": [{"code": "invalid"}]}),
        ))
        .with_priority(1)
        .mount(&server)
        .await;
    let ws = workspace(0);
    seed_issues(ws.path(), &[(1, &[]), (2, &[])], &[]);
    seed_gold(ws.path(), &[(1, &["bug"]), (2, &["bug"])]);
    let o = push_apply(ws.path(), &server).await;
    assert_eq!(o.status.code(), Some(1));
    let j = stdout_json(&o);
    assert_eq!(j["report"]["failed"], 1);
    assert_eq!(j["report"]["done"], 1);
    assert!(j["report"]["errors"][0].as_str().unwrap().contains("422"));
    assert_eq!(fake.labels_of(2), vec!["bug"]);
}

// ---- label sync ---------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn label_sync_plans_then_creates_updates_and_renames_through_aliases() {
    let fake = Fake::new("", 100);
    fake.state.lock().unwrap().repo_labels = vec![
        json!({"name": "defect", "color": "ffffff", "description": "Something is broken."}),
        json!({"name": "needs info", "color": "fbca04", "description": "old text"}),
        json!({"name": "old", "color": "000000", "description": "No longer used."}),
        json!({"name": "wontfix", "color": "ffffff", "description": ""}),
    ];
    let server = serve(&fake).await;
    let ws = workspace(0);
    let o = sift(ws.path(), &["labels", "sync", OWNER_REPO, "--api-url", &server.uri(), "--json"])
        .await;
    ok(&o);
    let j = stdout_json(&o);
    assert_eq!(j["applied"], false);
    assert_eq!(j["plan"]["ops"].as_array().unwrap().len(), 3);
    assert_eq!(mutations(&server.received_requests().await.unwrap()), 0, "a plan sent a mutation");

    let o = sift(ws.path(), &["labels", "sync", OWNER_REPO, "--apply", "--api-url", &server.uri()])
        .await;
    ok(&o);
    let reqs = server.received_requests().await.unwrap();
    assert_github_headers(&reqs);
    let rename = reqs
        .iter()
        .find(|r| r.method.as_str() == "PATCH" && r.url.path() == "/repos/o/r/labels/defect")
        .unwrap();
    assert_eq!(rename.body_json::<Value>().unwrap(), json!({"new_name": "bug", "color": "d73a4a"}));
    let desc = reqs
        .iter()
        .find(|r| r.method.as_str() == "PATCH" && r.url.path() == "/repos/o/r/labels/needs%20info")
        .unwrap();
    assert_eq!(
        desc.body_json::<Value>().unwrap(),
        json!({"description": "More information is needed."})
    );
    let create = reqs.iter().find(|r| r.method.as_str() == "POST").unwrap();
    assert_eq!(create.url.path(), "/repos/o/r/labels");
    assert_eq!(
        create.body_json::<Value>().unwrap(),
        json!({"name": "enhancement", "color": "a2eeef", "description": "A new feature."})
    );
    assert_eq!(
        reqs.iter().filter(|r| r.method.as_str() == "DELETE").count(),
        0,
        "deprecated labels are kept without --prune"
    );
    let names: Vec<String> = fake
        .state
        .lock()
        .unwrap()
        .repo_labels
        .iter()
        .map(|l| l["name"].as_str().unwrap().to_string())
        .collect();
    assert!(names.contains(&"bug".to_string()) && !names.contains(&"defect".to_string()));
    assert!(names.contains(&"wontfix".to_string()), "labels outside the taxonomy are left alone");

    // In sync now: nothing to do. With --prune the deprecated label goes.
    let n = reqs.len();
    let o = sift(
        ws.path(),
        &["labels", "sync", OWNER_REPO, "--apply", "--prune", "--api-url", &server.uri()],
    )
    .await;
    ok(&o);
    let reqs = server.received_requests().await.unwrap();
    assert_eq!(mutations(&reqs[n..]), 1);
    assert_eq!(count(&reqs[n..], "DELETE", "/repos/o/r/labels/old"), 1);

    // A description over 100 characters is refused before anything is sent.
    let long = LABELS_YML.replace("A new feature.", &"x".repeat(101));
    std::fs::write(ws.path().join("labels.yml"), long).unwrap();
    fake.state.lock().unwrap().repo_labels.clear();
    let n = reqs.len();
    let o = sift(ws.path(), &["labels", "sync", OWNER_REPO, "--apply", "--api-url", &server.uri()])
        .await;
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("nothing sent"));
    assert_eq!(mutations(&server.received_requests().await.unwrap()[n..]), 0);
}

// ---- auth ---------------------------------------------------------------------------------------

#[test]
fn auth_status_names_sources_never_values() {
    let ws = workspace(0);
    let o = sift_cmd(ws.path(), &["auth", "status", "--json"])
        .env("ANTHROPIC_API_KEY", "sk-ant-very-secret")
        .env_remove("OPENAI_API_KEY")
        .output()
        .unwrap();
    ok(&o);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(!out.contains(TOKEN) && !out.contains("very-secret"));
    let j: Value = serde_json::from_str(&out).unwrap();
    let by: HashMap<String, Value> = j
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["service"].as_str().unwrap().to_string(), s.clone()))
        .collect();
    // The keyring may hold something on a developer machine; the environment is the fallback.
    if by["github"]["source"] != "keyring" {
        assert_eq!(by["github"]["source"], "env");
        assert_eq!(by["github"]["variable"], "GITHUB_TOKEN");
    }
    if by["anthropic"]["source"] != "keyring" {
        assert_eq!(by["anthropic"]["variable"], "ANTHROPIC_API_KEY");
    }
}

#[test]
fn auth_set_reads_stdin_in_scripts_and_refuses_an_empty_secret() {
    use std::io::Write;
    let ws = workspace(0);
    let mut child = sift_cmd(ws.path(), &["auth", "set", "github"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // A binary that exits before reading would close the pipe; the exit code says why.
    let _ = child.stdin.take().unwrap().write_all(b"   \n");
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("empty secret"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_comment_sent_before_a_crash_is_found_not_posted_twice() {
    let fake = Fake::new("", 100);
    let server = serve(&fake).await;
    let ws = workspace(0);
    seed_issues(ws.path(), &[(1, &[]), (2, &[])], &[]);
    seed_gold(ws.path(), &[(1, &["bug"]), (2, &["bug"])]);
    let data = r#"{"labels":[{"name":"bug"}],"source":"gold","sift":"0.1.0"}"#;
    let body = |run: &str| {
        format!(
            "<!-- sift:start version=1 run={run} -->\nx\n<!-- sift:data {data} -->\n<!-- sift:end -->"
        )
    };
    // GitHub got the comment of #1 before the crash; someone else pasted the same block on #2.
    {
        let mut st = fake.state.lock().unwrap();
        st.comments
            .insert(1, vec![comment(77, "sift-bot", "NONE", &body("p-c"), "2026-01-09T00:00:00Z")]);
        st.comments
            .insert(2, vec![comment(78, "mallory", "NONE", &body("p-c"), "2026-01-09T00:00:00Z")]);
    }
    {
        let mut s = store(ws.path());
        s.create_push("p-c", "o/r", "comment", "{}", "2026-01-01T00:00:00Z").unwrap();
        let payload = |n: i64| {
            json!({"number": n, "body": body("p-c"), "data": serde_json::from_str::<Value>(data).unwrap()})
                .to_string()
        };
        s.add_push_ops(
            "p-c",
            &[
                ("github:o/r#1".into(), "comment".into(), payload(1)),
                ("github:o/r#2".into(), "comment".into(), payload(2)),
            ],
        )
        .unwrap();
        s.set_op_state("p-c", 0, "sent", None, "t").unwrap();
        s.set_op_state("p-c", 1, "sent", None, "t").unwrap();
    }
    let o = sift(ws.path(), &["push", OWNER_REPO, "--api-url", &server.uri(), "--json"]).await;
    ok(&o);
    let j = stdout_json(&o);
    assert_eq!(j["resumed"][0]["already"], 1);
    let reqs = server.received_requests().await.unwrap();
    assert_github_headers(&reqs);
    assert_eq!(count(&reqs, "POST", "/repos/o/r/issues/1/comments"), 0, "posted twice");
    assert_eq!(
        count(&reqs, "POST", "/repos/o/r/issues/2/comments"),
        1,
        "a pasted block is not ours"
    );
    assert_eq!(mutations(&reqs), 1, "the fresh plan found both recommendations already posted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_comment_post_without_a_clear_answer_is_looked_for_not_repeated() {
    let fake = Fake::new("", 100);
    let server = serve(&fake).await;
    // The first POST creates the comment, then answers 502.
    Mock::given(method("POST"))
        .and(path("/repos/o/r/issues/1/comments"))
        .respond_with(ActsThenFails { fake: fake.clone(), status: 502 })
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    let ws = workspace(0);
    seed_issues(ws.path(), &[(1, &[])], &[]);
    seed_gold(ws.path(), &[(1, &["bug"])]);
    let o = sift(ws.path(), &["push", OWNER_REPO, "--api-url", &server.uri(), "--json"]).await;
    ok(&o);
    let j = stdout_json(&o);
    assert_eq!(j["report"]["done"], 1);
    let reqs = server.received_requests().await.unwrap();
    assert_eq!(count(&reqs, "POST", "/repos/o/r/issues/1/comments"), 1, "posted twice");
    assert_eq!(count(&reqs, "GET", "/repos/o/r/issues/1/comments"), 1, "looked for it");
    assert_eq!(fake.state.lock().unwrap().comments[&1].len(), 1);
    let push_id = j["report"]["push_id"].as_str().unwrap();
    let op = &store(ws.path()).push_ops(push_id).unwrap()[0];
    assert_eq!(op.state, "done");
    assert!(op.response.as_deref().unwrap().contains("9001"), "{:?}", op.response);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edit_of_a_deleted_comment_finds_the_replacement_it_already_posted() {
    let fake = Fake::new("", 100);
    let server = serve(&fake).await;
    let ws = workspace(0);
    seed_issues(ws.path(), &[(1, &[])], &[]);
    let data = r#"{"labels":[{"name":"bug"}],"source":"gold","sift":"0.1.0"}"#;
    let body = format!(
        "<!-- sift:start version=1 run=p-u -->\nx\n<!-- sift:data {data} -->\n<!-- sift:end -->"
    );
    // Push p-u edited comment 555, which a human had deleted (404); its fallback post landed
    // (comment 9100), and sift was interrupted before it journaled that.
    fake.state
        .lock()
        .unwrap()
        .comments
        .insert(1, vec![comment(9100, "sift-bot", "NONE", &body, "2026-01-09T00:00:00Z")]);
    {
        let mut s = store(ws.path());
        s.create_push("p-u", "o/r", "comment", "{}", "2026-01-01T00:00:00Z").unwrap();
        let payload = json!({"number": 1, "body": body, "comment_id": 555,
                             "data": serde_json::from_str::<Value>(data).unwrap()});
        s.add_push_ops(
            "p-u",
            &[("github:o/r#1".into(), "update_comment".into(), payload.to_string())],
        )
        .unwrap();
        s.set_op_state("p-u", 0, "sent", None, "t").unwrap();
    }
    let o = sift(ws.path(), &["push", OWNER_REPO, "--api-url", &server.uri(), "--json"]).await;
    ok(&o);
    assert_eq!(stdout_json(&o)["resumed"][0]["done"], 1);
    let reqs = server.received_requests().await.unwrap();
    assert_eq!(count(&reqs, "PATCH", "/repos/o/r/issues/comments/555"), 1);
    assert_eq!(count(&reqs, "POST", "/repos/o/r/issues/1/comments"), 0, "posted twice");
    assert_eq!(fake.state.lock().unwrap().comments[&1].len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_token_does_not_go_to_an_api_host_only_the_workspace_names() {
    let fake = Fake::new("", 100).with_issues(vec![issue(1, "2026-01-01T00:00:00Z", &[], 0, "a")]);
    let server = serve(&fake).await;
    let ws = workspace(0);
    // A change to the shared sift.toml points the API at another host.
    let toml = ws.path().join("sift.toml");
    let text = std::fs::read_to_string(&toml)
        .unwrap()
        .replace("repos = []", &format!("repos = []\napi_url = \"{}\"", server.uri()));
    std::fs::write(&toml, text).unwrap();
    for args in [&["pull", OWNER_REPO][..], &["push", OWNER_REPO], &["labels", "sync", OWNER_REPO]]
    {
        let o = sift(ws.path(), args).await;
        assert_eq!(o.status.code(), Some(1), "{args:?}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains("sift.toml") && err.contains("github.api_url"), "{err}");
        assert!(err.contains("SIFT_GITHUB_API_URL") && err.contains("--api-url"), "{err}");
        assert!(!err.contains(TOKEN));
    }
    assert!(server.received_requests().await.unwrap().is_empty(), "the host got a request");

    // The user allows the host in their own config: the workspace's setting is used.
    let cfg = ws.path().join(".cfg/sift");
    std::fs::create_dir_all(&cfg).unwrap();
    std::fs::write(cfg.join("config.toml"), format!("[github]\napi_url = \"{}\"\n", server.uri()))
        .unwrap();
    let o = sift(ws.path(), &["pull", OWNER_REPO, "--json"]).await;
    ok(&o);
    assert_eq!(stdout_json(&o)["issues"], 1);
    // Or through the environment.
    std::fs::remove_file(cfg.join("config.toml")).unwrap();
    let mut c = sift_cmd(ws.path(), &["pull", OWNER_REPO, "--json"]);
    c.env("SIFT_GITHUB_API_URL", server.uri());
    let o = tokio::task::spawn_blocking(move || c.output().unwrap()).await.unwrap();
    ok(&o);
    assert_github_headers(&server.received_requests().await.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_token_stops_the_push_with_the_rest_recorded_as_not_attempted() {
    let msg = |m: &str| json!({"message": m, "documentation_url": "https://docs.github.com/rest"});
    // (a) A bad token: GitHub answers 401 to everything. One request, not one per issue.
    let fake = Fake::new("", 100);
    let server = serve(&fake).await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(401).set_body_json(msg("Bad credentials")))
        .with_priority(1)
        .mount(&server)
        .await;
    let ws = workspace(0);
    seed_issues(ws.path(), &[(1, &[]), (2, &[]), (3, &[])], &[]);
    seed_gold(ws.path(), &[(1, &["bug"]), (2, &["bug"]), (3, &["bug"])]);
    let o = push_apply(ws.path(), &server).await;
    assert_eq!(o.status.code(), Some(1));
    let j = stdout_json(&o);
    assert_eq!(server.received_requests().await.unwrap().len(), 1);
    assert_eq!(j["report"]["failed"], 1);
    assert_eq!(j["report"]["skipped"], 2, "what was not attempted is recorded");
    assert!(j["report"]["stopped"].as_str().unwrap().contains("401"));
    assert!(j["report"]["skips"][0].as_str().unwrap().contains("not attempted"));
    let s = store(ws.path());
    let id = j["report"]["push_id"].as_str().unwrap();
    assert_eq!(s.push_record(id).unwrap().unwrap().status, "stopped");
    assert!(s.unfinished_pushes("o/r").unwrap().is_empty());
    drop(s);

    // (b) A token without write access: the first mutation's 403 stops the push.
    let fake = Fake::new("", 100);
    let server = serve(&fake).await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(403)
                .set_body_json(msg("Resource not accessible by personal access token")),
        )
        .with_priority(1)
        .mount(&server)
        .await;
    let ws = workspace(0);
    seed_issues(ws.path(), &[(1, &[]), (2, &[]), (3, &[])], &[]);
    seed_gold(ws.path(), &[(1, &["bug"]), (2, &["bug"]), (3, &["bug"])]);
    let o = push_apply(ws.path(), &server).await;
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(mutations(&server.received_requests().await.unwrap()), 1);
    assert_eq!(stdout_json(&o)["report"]["skipped"], 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_in_resumed_pushes_and_reverts_exit_1() {
    let msg = |m: &str| json!({"message": m, "documentation_url": "https://docs.github.com/rest"});
    // (a) A failure in a resumed push fails the command, though the new plan is empty.
    let fake = Fake::new("", 100);
    let server = serve(&fake).await;
    Mock::given(method("POST"))
        .and(path("/repos/o/r/issues/1/labels"))
        .respond_with(ResponseTemplate::new(422).set_body_json(msg("Validation Failed")))
        .with_priority(1)
        .mount(&server)
        .await;
    let ws = workspace(0);
    seed_issues(ws.path(), &[(1, &[])], &[]);
    seed_unfinished(ws.path(), "p-old", &[(1, &["bug"])]);
    let o = push_apply(ws.path(), &server).await;
    assert_eq!(o.status.code(), Some(1));
    let j = stdout_json(&o);
    assert_eq!(j["resumed"][0]["failed"], 1);
    assert!(j["report"].is_null());

    // (b) A revert with a failed op fails the command.
    let fake = Fake::new("", 100);
    let server = serve(&fake).await;
    let ws = workspace(0);
    seed_issues(ws.path(), &[(1, &[])], &[]);
    seed_gold(ws.path(), &[(1, &["bug"])]);
    let o = push_apply(ws.path(), &server).await;
    ok(&o);
    let push_id = stdout_json(&o)["report"]["push_id"].as_str().unwrap().to_string();
    Mock::given(method("DELETE"))
        .respond_with(ResponseTemplate::new(410).set_body_json(msg("Issues are disabled")))
        .with_priority(1)
        .mount(&server)
        .await;
    let o = sift(ws.path(), &["push", "--revert", &push_id, "--api-url", &server.uri(), "--json"])
        .await;
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(stdout_json(&o)["report"]["failed"], 1);
}

/// Every file under `dir` (store, WAL, logs, journals), as bytes.
fn files_under(dir: &Path) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push((p.clone(), std::fs::read(&p).unwrap()));
            }
        }
    }
    out
}

/// A server that echoes the Authorization header in its error (as some proxies and GitHub
/// Enterprise versions do) never gets the token into sift's output, logs or store.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_echoed_by_the_server_is_scrubbed_everywhere() {
    let fake = Fake::new("", 100).with_issues(vec![issue(1, "2026-01-01T00:00:00Z", &[], 0, "a")]);
    let server = serve(&fake).await;
    let echo = json!({"message": format!("Bad credentials Bearer {TOKEN}"),
                      "documentation_url": "https://docs.github.com/rest"});
    Mock::given(any())
        .respond_with(ResponseTemplate::new(401).set_body_json(echo))
        .with_priority(1)
        .mount(&server)
        .await;
    let ws = workspace(0);
    seed_issues(ws.path(), &[(1, &[]), (2, &[])], &[]);
    seed_gold(ws.path(), &[(1, &["bug"]), (2, &["bug"])]);
    let uri = server.uri();
    let outputs = [
        sift(ws.path(), &["pull", OWNER_REPO, "--api-url", &uri]).await,
        push_apply(ws.path(), &server).await,
        sift(ws.path(), &["push", OWNER_REPO, "--mode", "apply", "--api-url", &uri]).await,
        sift(ws.path(), &["labels", "sync", OWNER_REPO, "--apply", "--api-url", &uri]).await,
    ];
    for o in &outputs {
        assert!(!o.status.success());
        let text =
            format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
        assert!(!text.contains(TOKEN), "token printed: {text}");
        assert!(text.contains("Bad credentials Bearer <redacted>"), "{text}");
    }
    let files = files_under(&ws.path().join(".sift"));
    assert!(files.iter().any(|(p, _)| p.ends_with("sift.log")), "the log is checked");
    for (p, bytes) in files {
        let hit = bytes.windows(TOKEN.len()).any(|w| w == TOKEN.as_bytes());
        assert!(!hit, "token in {}", p.display());
    }
}

/// A lost store takes no push history with it: the issues come back from the recorded pull,
/// the push from its journal in pushes/, and `push --revert` still finds what it added.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_can_be_reverted_after_the_store_is_lost() {
    let fake = Fake::new("", 100).with_issues(vec![issue(1, "2026-01-01T00:00:00Z", &[], 0, "a")]);
    let server = serve(&fake).await;
    let ws = workspace(0);
    let uri = server.uri();
    ok(&sift(ws.path(), &["pull", OWNER_REPO, "--api-url", &uri]).await);
    seed_gold(ws.path(), &[(1, &["bug"])]);
    let o = push_apply(ws.path(), &server).await;
    ok(&o);
    let push_id = stdout_json(&o)["report"]["push_id"].as_str().unwrap().to_string();
    assert_eq!(fake.labels_of(1), vec!["bug"]);
    assert!(ws.path().join(format!("pushes/{push_id}.jsonl")).is_file());
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(ws.path().join(format!(".sift/store.db{suffix}")));
    }
    // The recorded API host is not trusted because a shared file names it...
    let n = server.received_requests().await.unwrap().len();
    let o = sift(ws.path(), &["status"]).await;
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("NOT restored: GitHub repository o/r: it was pulled from"), "{err}");
    assert_eq!(server.received_requests().await.unwrap().len(), n, "no request, no token sent");
    // ...but once the user names it themselves.
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(ws.path().join(format!(".sift/store.db{suffix}")));
    }
    let mut c = sift_cmd(ws.path(), &["push", "--revert", &push_id, "--api-url", &uri, "--json"]);
    c.env("SIFT_GITHUB_API_URL", &uri);
    let o = tokio::task::spawn_blocking(move || c.output().unwrap()).await.unwrap();
    ok(&o);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("rebuilt: 1 items from 1 sources") && err.contains("1 pushes"), "{err}");
    let reqs = server.received_requests().await.unwrap();
    assert_eq!(count(&reqs, "DELETE", "/repos/o/r/issues/1/labels/bug"), 1);
    assert!(fake.labels_of(1).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pull_notices_humans_overriding_what_sift_applied() {
    let fake = Fake::new("", 100);
    let server = serve(&fake).await;
    let ws = workspace(0);
    seed_issues(ws.path(), &[(1, &[]), (2, &[])], &[]);
    seed_gold(ws.path(), &[(1, &["bug"]), (2, &["enhancement"])]);
    ok(&push_apply(ws.path(), &server).await);
    assert_eq!(fake.labels_of(1), ["bug"]);
    // Humans since: `bug` taken off #1; `needs info` added to #2 beside sift's `enhancement`;
    // a label sift never touched, on an issue it never labeled, is no override.
    fake.state.lock().unwrap().issues = vec![
        issue(1, "2026-01-05T00:00:00Z", &[], 0, "alice"),
        issue(2, "2026-01-05T00:00:00Z", &["enhancement", "needs info"], 0, "alice"),
        issue(3, "2026-01-05T00:00:00Z", &["bug"], 0, "alice"),
    ];
    let pull = |ws: &Path, uri: String| {
        let ws = ws.to_path_buf();
        async move { sift(&ws, &["pull", OWNER_REPO, "--api-url", &uri, "--json"]).await }
    };
    let o = pull(ws.path(), server.uri()).await;
    ok(&o);
    assert_eq!(stdout_json(&o)["overrides"], 2, "{}", String::from_utf8_lossy(&o.stdout));
    // Seen once: the next pull adds none.
    let o = pull(ws.path(), server.uri()).await;
    assert_eq!(stdout_json(&o)["overrides"], 0);

    // The week of the push, in UTC like every stored time.
    let week = jiff::Timestamp::now().to_zoned(jiff::tz::TimeZone::UTC).date().iso_week_date();
    let week = format!("{}-W{:02}", week.year(), week.week());
    let o = sift(ws.path(), &["sample", "report", "--week", &week, "--json"]).await;
    ok(&o);
    let j = stdout_json(&o);
    let over = &j["weeks"][0]["overrides"];
    assert_eq!(over["bug"]["applied"], 1, "{j}");
    assert_eq!(over["bug"]["removed"], 1);
    assert_eq!(over["bug"]["rate"], 1.0);
    assert_eq!(over["enhancement"]["removed"], 0);
    assert_eq!(over["needs info"]["added"], 1);
    let o = sift(ws.path(), &["sample", "report", "--week", &week]).await;
    assert!(String::from_utf8_lossy(&o.stdout).contains("overrides on GitHub"));

    // The store is a cache: a rebuild keeps the overrides (journaled with the push).
    std::fs::remove_file(ws.path().join(".sift/store.db")).unwrap();
    let o = sift(ws.path(), &["sample", "report", "--week", &week, "--json"]).await;
    ok(&o);
    assert_eq!(stdout_json(&o)["weeks"][0]["overrides"]["bug"]["removed"], 1);
}
