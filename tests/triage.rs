//! `sift triage` as GitHub Actions runs it: the real webhook payloads of ../shared/data/webhooks
//! (octokit's examples), the environment Actions sets, a checkout with only
//! `.github/labels.yml`, a local GitHub stand-in that keeps issue state, and an OpenAI stand-in.
//! Each test asserts exactly which requests reached GitHub. Skipped without ../shared.

// Test helpers panic on setup failure, like the tests themselves.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use wiremock::matchers::{any, method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

const TOKEN: &str = "ghs_actions_token_0123456789abcdef";
const KEY: &str = "sk-test-TRIAGE-0a1b2c3d4e";
const BOT: &str = "github-actions[bot]";

const LABELS_YML: &str = r#"taxonomies:
  repo:
    max_labels: 3
    min_confidence: 0.5
    dimensions:
      - name: type
        select: many
        labels:
          - name: bug
            threshold: 0.8
          - name: documentation
            aliases: [docs]
          - name: enhancement
            threshold: 0.9
"#;

fn shared(rel: &str) -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data").join(rel);
    if p.exists() {
        Some(p)
    } else {
        eprintln!("skipped: ../shared/data/{rel} is not here");
        None
    }
}

fn payload(name: &str) -> Option<Value> {
    let p = shared(&format!("webhooks/{name}.json"))?;
    Some(serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap())
}

// ---- the GitHub stand-in ---------------------------------------------------------------------

#[derive(Default)]
struct State {
    issue: Value,
    labels: Vec<String>,
    comments: Vec<Value>,
    /// Comments elsewhere in the repository (the hourly cap counts them).
    others: Vec<Value>,
    next_id: i64,
    /// Answer every request with this status (GitHub down).
    fail: Option<u16>,
}

#[derive(Clone)]
struct Github {
    repo: String,
    st: Arc<Mutex<State>>,
}

fn label_json(name: &str) -> Value {
    json!({"id": 1, "name": name, "color": "ededed", "description": null, "default": false})
}

fn decode(seg: &str) -> String {
    let mut out = Vec::new();
    let b = seg.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            out.push(
                u8::from_str_radix(std::str::from_utf8(&b[i + 1..i + 3]).unwrap(), 16).unwrap(),
            );
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap()
}

impl Respond for Github {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let mut st = self.st.lock().unwrap();
        if let Some(s) = st.fail {
            return ResponseTemplate::new(s).set_body_json(json!({"message": "Server Error"}));
        }
        let prefix = format!("/repos/{}/", self.repo);
        let Some(rest) = req.url.path().strip_prefix(&prefix) else {
            return ResponseTemplate::new(404).set_body_json(json!({"message": "Not Found"}));
        };
        let parts: Vec<&str> = rest.split('/').collect();
        let labels: Vec<Value> = st.labels.iter().map(|l| label_json(l)).collect();
        match (req.method.as_str(), parts.as_slice()) {
            ("GET", ["issues"]) => {
                let mut issue = st.issue.clone();
                issue["labels"] = json!(labels);
                ResponseTemplate::new(200).set_body_json(json!([issue]))
            }
            ("GET", ["issues", "comments"]) => {
                let mut all = st.others.clone();
                all.extend(st.comments.clone());
                ResponseTemplate::new(200).set_body_json(all)
            }
            ("GET", ["issues", _]) => {
                let mut issue = st.issue.clone();
                issue["labels"] = json!(labels);
                ResponseTemplate::new(200).set_body_json(issue)
            }
            ("GET", ["issues", _, "comments"]) => {
                ResponseTemplate::new(200).set_body_json(st.comments.clone())
            }
            ("POST", ["issues", _, "comments"]) => {
                let body: Value = serde_json::from_slice(&req.body).unwrap();
                st.next_id += 1;
                let c = json!({"id": st.next_id, "body": body["body"],
                    "user": {"login": BOT, "type": "Bot"}, "author_association": "NONE",
                    "created_at": "2026-12-06T10:00:00Z"});
                st.comments.push(c.clone());
                ResponseTemplate::new(201).set_body_json(c)
            }
            ("PATCH", ["issues", "comments", id]) => {
                let id: i64 = id.parse().unwrap();
                let body: Value = serde_json::from_slice(&req.body).unwrap();
                let Some(c) = st.comments.iter_mut().find(|c| c["id"] == id) else {
                    return ResponseTemplate::new(404)
                        .set_body_json(json!({"message": "Not Found"}));
                };
                c["body"] = body["body"].clone();
                ResponseTemplate::new(200).set_body_json(c.clone())
            }
            ("GET", ["issues", _, "labels"]) => ResponseTemplate::new(200).set_body_json(labels),
            ("POST", ["issues", _, "labels"]) => {
                let body: Value = serde_json::from_slice(&req.body).unwrap();
                for l in body["labels"].as_array().unwrap() {
                    let l = l.as_str().unwrap().to_string();
                    if !st.labels.contains(&l) {
                        st.labels.push(l);
                    }
                }
                let labels: Vec<Value> = st.labels.iter().map(|l| label_json(l)).collect();
                ResponseTemplate::new(200).set_body_json(labels)
            }
            ("DELETE", ["issues", _, "labels", name]) => {
                let name = decode(name);
                st.labels.retain(|l| l != &name);
                let labels: Vec<Value> = st.labels.iter().map(|l| label_json(l)).collect();
                ResponseTemplate::new(200).set_body_json(labels)
            }
            _ => ResponseTemplate::new(404).set_body_json(json!({"message": "Not Found"})),
        }
    }
}

/// The stand-in for the payload's repository and issue; the issue starts with `labels`.
async fn github(event: &Value, labels: &[&str]) -> (MockServer, Github) {
    let repo = event["repository"]["full_name"].as_str().unwrap().to_string();
    let mut issue = event["issue"].clone();
    issue.as_object_mut().unwrap().remove("pull_request");
    let gh = Github {
        repo,
        st: Arc::new(Mutex::new(State {
            issue,
            labels: labels.iter().map(|s| s.to_string()).collect(),
            next_id: 5000,
            ..Default::default()
        })),
    };
    let server = MockServer::start().await;
    Mock::given(any()).respond_with(gh.clone()).mount(&server).await;
    (server, gh)
}

/// An OpenAI stand-in answering `labels` (or failing with 500).
async fn provider(labels: Option<Value>) -> MockServer {
    let server = MockServer::start().await;
    let t = match labels {
        Some(l) => {
            let content =
                json!({"labels": l, "rationale": "the reporter points at a typo in the README"});
            ResponseTemplate::new(200).set_body_json(json!({
                "id": "c1", "object": "chat.completion", "model": "gpt-4o-mini",
                "choices": [{"index": 0, "finish_reason": "stop",
                    "message": {"role": "assistant", "content": content.to_string()}}],
                "usage": {"prompt_tokens": 300, "completion_tokens": 40}
            }))
        }
        None => ResponseTemplate::new(500)
            .set_body_json(json!({"error": {"message": "overloaded", "type": "server_error"}})),
    };
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .respond_with(t)
        .mount(&server)
        .await;
    server
}

fn confident() -> Value {
    json!([{"name": "documentation", "confidence": 0.92}, {"name": "enhancement", "confidence": 0.6}])
}

// ---- running sift as the Action does ----------------------------------------------------------

struct Checkout {
    dir: tempfile::TempDir,
}

fn checkout() -> Checkout {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("repo/.github")).unwrap();
    std::fs::create_dir_all(dir.path().join("runner-temp")).unwrap();
    std::fs::write(dir.path().join("repo/.github/labels.yml"), LABELS_YML).unwrap();
    Checkout { dir }
}

async fn triage(
    co: &Checkout,
    name: &str,
    event: &Value,
    gh: &MockServer,
    llm: &MockServer,
    stage: &str,
) -> Output {
    triage_env(co, name, event, gh, llm, stage, &[]).await
}

async fn triage_env(
    co: &Checkout,
    name: &str,
    event: &Value,
    gh: &MockServer,
    llm: &MockServer,
    stage: &str,
    env: &[(&str, &str)],
) -> Output {
    let event_path = co.dir.path().join("event.json");
    std::fs::write(&event_path, serde_json::to_string(event).unwrap()).unwrap();
    let mut c = Command::new(env!("CARGO_BIN_EXE_sift"));
    c.current_dir(co.dir.path().join("repo"))
        .args(["triage", "--provider", "openai", "--base-url", &llm.uri()])
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_EVENT_NAME", name)
        .env("GITHUB_EVENT_PATH", &event_path)
        .env("GITHUB_REPOSITORY", event["repository"]["full_name"].as_str().unwrap())
        .env("GITHUB_API_URL", gh.uri())
        .env("GITHUB_TOKEN", TOKEN)
        .env("RUNNER_TEMP", co.dir.path().join("runner-temp"))
        .env("OPENAI_API_KEY", KEY)
        .env("SIFT_BOT_STAGE", stage)
        .env("SIFT_GITHUB_RETRY_BASE_MS", "20")
        .env("HOME", co.dir.path())
        .env("XDG_CONFIG_HOME", co.dir.path().join("cfg"))
        .env_remove("GH_TOKEN")
        .env_remove("SIFT_LOG")
        .envs(env.iter().copied());
    let out = tokio::task::spawn_blocking(move || c.output().unwrap()).await.unwrap();
    let (o, e) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(!o.contains(TOKEN) && !e.contains(TOKEN) && !o.contains(KEY) && !e.contains(KEY));
    out
}

/// Every request GitHub saw, as `METHOD /path`, queries left out.
async fn sent(gh: &MockServer) -> Vec<String> {
    gh.received_requests()
        .await
        .unwrap()
        .iter()
        .map(|r| format!("{} {}", r.method, r.url.path()))
        .collect()
}

fn mutations(reqs: &[String]) -> Vec<String> {
    reqs.iter().filter(|r| !r.starts_with("GET ")).cloned().collect()
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

const ISSUE: &str = "/repos/Codertocat/Hello-World/issues/1";

fn comment_body(gh: &Github) -> String {
    gh.st.lock().unwrap().comments.last().unwrap()["body"].as_str().unwrap().to_string()
}

// ---- tests ------------------------------------------------------------------------------------

#[tokio::test]
async fn opened_in_the_comment_stage_posts_one_audit_comment_and_changes_no_label() {
    let Some(ev) = payload("issues.opened.1") else { return };
    let co = checkout();
    let (gh, state) = github(&ev, &["bug"]).await;
    let llm = provider(Some(confident())).await;
    let out = triage(&co, "issues", &ev, &gh, &llm, "comment").await;
    assert!(out.status.success(), "{}", text(&out));
    let reqs = sent(&gh).await;
    assert_eq!(mutations(&reqs), [format!("POST {ISSUE}/comments")], "{reqs:?}");
    // GET /user is closed to the Actions token: its comments are github-actions[bot]'s.
    assert!(reqs.iter().any(|r| r.ends_with("/user")));
    assert_eq!(state.st.lock().unwrap().labels, ["bug"]);
    let body = comment_body(&state);
    for part in [
        "stage `comment`",
        "`documentation` 0.92 (threshold 0.50",
        "`enhancement` 0.60 (threshold 0.90, below",
        "openai gpt-4o-mini",
        "prompt ",
        "typo in the README",
        "/label off",
        "<!-- sift:data",
    ] {
        assert!(body.contains(part), "{part:?} missing from:\n{body}");
    }

    // The same event again: the comment says the same, so nothing is sent.
    let again = triage(&co, "issues", &ev, &gh, &llm, "comment").await;
    assert!(again.status.success(), "{}", text(&again));
    assert_eq!(mutations(&sent(&gh).await).len(), 1, "{}", text(&again));
}

#[tokio::test]
async fn apply_adds_only_confident_labels_and_edits_its_comment_on_a_reopen() {
    let Some(ev) = payload("issues.opened.2") else { return };
    let Some(reopened) = payload("issues.reopened.1") else { return };
    let co = checkout();
    let (gh, state) = github(&ev, &["bug"]).await;
    let llm = provider(Some(confident())).await;
    let out = triage(&co, "issues", &ev, &gh, &llm, "apply").await;
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        mutations(&sent(&gh).await),
        [format!("POST {ISSUE}/labels"), format!("POST {ISSUE}/comments")]
    );
    assert_eq!(state.st.lock().unwrap().labels, ["bug", "documentation"]);
    assert!(comment_body(&state).contains("applied labels"), "{}", comment_body(&state));

    // Reopened with a less confident answer: sift's one comment is edited, no new one, and no
    // label a human set (bug) or sift set (documentation) is removed.
    let llm2 = provider(Some(json!([{"name": "enhancement", "confidence": 0.7}]))).await;
    let out = triage(&co, "issues", &reopened, &gh, &llm2, "apply").await;
    assert!(out.status.success(), "{}", text(&out));
    let m = mutations(&sent(&gh).await);
    assert_eq!(
        m[2..],
        [
            format!("POST {ISSUE}/labels"),
            "PATCH /repos/Codertocat/Hello-World/issues/comments/5001".to_string()
        ],
        "{m:?}"
    );
    assert_eq!(state.st.lock().unwrap().labels, ["bug", "documentation", "needs-triage"]);
    assert_eq!(state.st.lock().unwrap().comments.len(), 1);
}

#[tokio::test]
async fn apply_confident_waits_for_every_label_and_abstains_with_the_abstain_label() {
    let Some(ev) = payload("issues.opened.3") else { return };
    let co = checkout();
    let (gh, state) = github(&ev, &[]).await;
    let llm = provider(Some(confident())).await;
    let out = triage(&co, "issues", &ev, &gh, &llm, "apply-confident").await;
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(mutations(&sent(&gh).await), [format!("POST {ISSUE}/comments")]);
    assert!(comment_body(&state).contains("applies only when all do"), "{}", comment_body(&state));

    let co = checkout();
    let (gh, state) = github(&ev, &[]).await;
    let low = provider(Some(json!([{"name": "enhancement", "confidence": 0.7}]))).await;
    let out = triage(&co, "issues", &ev, &gh, &low, "apply-confident").await;
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        mutations(&sent(&gh).await),
        [format!("POST {ISSUE}/labels"), format!("POST {ISSUE}/comments")]
    );
    assert_eq!(state.st.lock().unwrap().labels, ["needs-triage"]);
}

/// A comment event with `body` from `login` (association `assoc`).
fn comment_event(base: &Value, login: &str, assoc: &str, body: &str, kind: &str) -> Value {
    let mut ev = base.clone();
    ev["comment"]["body"] = json!(body);
    ev["comment"]["user"]["login"] = json!(login);
    ev["comment"]["user"]["type"] = json!(kind);
    ev["comment"]["author_association"] = json!(assoc);
    ev
}

#[tokio::test]
async fn label_off_takes_back_only_what_sift_applied() {
    let Some(opened) = payload("issues.opened.1") else { return };
    let Some(base) = payload("issue_comment.created.1") else { return };
    let co = checkout();
    let (gh, state) = github(&opened, &["bug"]).await;
    let llm = provider(Some(confident())).await;
    assert!(triage(&co, "issues", &opened, &gh, &llm, "apply").await.status.success());
    assert_eq!(state.st.lock().unwrap().labels, ["bug", "documentation"]);
    let before = mutations(&sent(&gh).await).len();

    // A drive-by user may not: nothing is asked of GitHub at all.
    let drive_by = comment_event(&base, "mallory", "NONE", "/label off", "User");
    let n = sent(&gh).await.len();
    let out = triage(&co, "issue_comment", &drive_by, &gh, &llm, "apply").await;
    assert!(out.status.success() && text(&out).contains("ignored"), "{}", text(&out));
    assert_eq!(sent(&gh).await.len(), n);

    // The issue's author may (Codertocat opened it; association NONE here).
    let author = comment_event(&base, "Codertocat", "NONE", "thanks!\n/label off", "User");
    let out = triage(&co, "issue_comment", &author, &gh, &llm, "apply").await;
    assert!(out.status.success(), "{}", text(&out));
    let m = mutations(&sent(&gh).await);
    assert_eq!(
        m[before..],
        [
            format!("DELETE {ISSUE}/labels/documentation"),
            "PATCH /repos/Codertocat/Hello-World/issues/comments/5001".to_string()
        ],
        "{m:?}"
    );
    assert_eq!(state.st.lock().unwrap().labels, ["bug"], "the human's label stays");
    assert!(comment_body(&state).contains("is off on this issue"), "{}", comment_body(&state));

    // From then on sift leaves the issue alone, whatever the stage.
    state.st.lock().unwrap().comments.push(json!({"id": 77, "body": "thanks!\n/label off",
        "user": {"login": "Codertocat", "type": "User"}, "author_association": "NONE",
        "created_at": "2026-12-06T11:00:00Z"}));
    let n = mutations(&sent(&gh).await).len();
    let out = triage(&co, "issues", &opened, &gh, &llm, "apply").await;
    assert!(out.status.success() && text(&out).contains("sift is off"), "{}", text(&out));
    assert_eq!(mutations(&sent(&gh).await).len(), n);

    // A maintainer's /label auto turns it back on and acts at once.
    let maintainer = comment_event(&base, "hubot", "MEMBER", "/label auto", "User");
    let out = triage(&co, "issue_comment", &maintainer, &gh, &llm, "apply").await;
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(state.st.lock().unwrap().labels, ["bug", "documentation"]);
}

#[tokio::test]
async fn bots_pull_requests_plain_comments_and_other_events_send_nothing() {
    let Some(base) = payload("issue_comment.created.2") else { return };
    let Some(opened) = payload("issues.opened.4") else { return };
    let Some(labeled) = payload("issues.labeled.1") else { return };
    let co = checkout();
    let (gh, _) = github(&opened, &[]).await;
    let llm = provider(Some(confident())).await;
    let bot = comment_event(&base, "other-app[bot]", "NONE", "/label auto", "Bot");
    let mut pr = opened.clone();
    pr["issue"]["pull_request"] =
        json!({"url": "https://api.github.com/repos/Codertocat/Hello-World/pulls/1"});
    let mut on_pr = comment_event(&base, "Codertocat", "OWNER", "/label auto", "User");
    on_pr["issue"]["pull_request"] =
        json!({"url": "https://api.github.com/repos/Codertocat/Hello-World/pulls/1"});
    for (name, ev, says) in [
        ("issue_comment", &on_pr, "pull request"),
        ("issue_comment", &bot, "bot"),
        ("issue_comment", &base, "no /label command"),
        ("issues", &pr, "pull request"),
        ("issues", &labeled, "nothing to do"),
        ("push", &opened, "nothing to do"),
    ] {
        let out = triage(&co, name, ev, &gh, &llm, "apply").await;
        assert!(out.status.success(), "{name}: {}", text(&out));
        let t = text(&out);
        assert!(t.contains(says) && t.lines().count() == 1, "{name}: {t}");
    }
    assert!(sent(&gh).await.is_empty());
    assert!(llm.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn a_failing_provider_falls_back_and_the_comment_names_the_fallback() {
    let Some(ev) = payload("issues.opened.1") else { return };
    let co = checkout();
    let (gh, state) = github(&ev, &[]).await;
    let llm = provider(None).await;
    let out = triage(&co, "issues", &ev, &gh, &llm, "comment").await;
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(mutations(&sent(&gh).await), [format!("POST {ISSUE}/comments")]);
    let body = comment_body(&state);
    assert!(body.contains("keywords"), "{body}");
    assert!(!llm.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn past_the_hourly_cap_sift_only_comments_and_says_why() {
    let Some(ev) = payload("issues.opened.1") else { return };
    let co = checkout();
    let (gh, state) = github(&ev, &[]).await;
    let block = "<!-- sift:start version=1 run=p-1 -->\nx<!-- sift:data {\"labels\":[],\"source\":\"suggestion\",\"sift\":\"0.1.0\"} -->\n<!-- sift:end -->";
    state.st.lock().unwrap().others = (0..30)
        .map(|i| {
            json!({"id": 100 + i, "body": block, "user": {"login": BOT, "type": "Bot"},
            "author_association": "NONE", "created_at": "2026-12-06T09:30:00Z"})
        })
        .collect();
    let llm = provider(Some(confident())).await;
    let out = triage(&co, "issues", &ev, &gh, &llm, "apply").await;
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(mutations(&sent(&gh).await), [format!("POST {ISSUE}/comments")]);
    assert!(state.st.lock().unwrap().labels.is_empty());
    assert!(comment_body(&state).contains("max_actions_per_hour"), "{}", comment_body(&state));
}

#[tokio::test]
async fn github_down_is_retried_once_then_fails_with_one_line() {
    let Some(ev) = payload("issues.opened.1") else { return };
    let co = checkout();
    let (gh, state) = github(&ev, &[]).await;
    state.st.lock().unwrap().fail = Some(502);
    let llm = provider(Some(confident())).await;
    let out = triage(&co, "issues", &ev, &gh, &llm, "apply").await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert_eq!(sent(&gh).await, [format!("GET {ISSUE}"), format!("GET {ISSUE}")]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("GitHub") && err.contains("502"), "{err}");
    assert!(llm.received_requests().await.unwrap().is_empty());
}

/// `sift triage` run by hand (not from an event) in the same checkout.
async fn by_hand(co: &Checkout, gh: &MockServer, llm: &MockServer, args: &[&str]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_sift"));
    c.current_dir(co.dir.path().join("repo"))
        .arg("triage")
        .args(args)
        .args(["--provider", "openai", "--base-url", &llm.uri(), "--api-url", &gh.uri()])
        .env("GITHUB_TOKEN", TOKEN)
        .env("SIFT_BOT_LOGIN", BOT)
        .env("RUNNER_TEMP", co.dir.path().join("runner-temp"))
        .env("OPENAI_API_KEY", KEY)
        .env("HOME", co.dir.path())
        .env("XDG_CONFIG_HOME", co.dir.path().join("cfg"))
        .env_remove("GITHUB_EVENT_PATH")
        .env_remove("GITHUB_ACTIONS")
        .env_remove("SIFT_BOT_STAGE")
        .env_remove("GH_TOKEN");
    tokio::task::spawn_blocking(move || c.output().unwrap()).await.unwrap()
}

#[tokio::test]
async fn backtest_replays_every_stage_and_sends_nothing() {
    let Some(ev) = payload("issues.opened.1") else { return };
    let co = checkout();
    let (gh, _) = github(&ev, &["documentation"]).await;
    let llm = provider(Some(confident())).await;
    let out =
        by_hand(&co, &gh, &llm, &["--backtest", "Codertocat/Hello-World", "--last", "5", "--json"])
            .await;
    assert!(out.status.success(), "{}", text(&out));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["issues"], 1);
    let stages: Vec<&str> =
        v["stages"].as_array().unwrap().iter().map(|s| s["stage"].as_str().unwrap()).collect();
    assert_eq!(stages, ["comment", "apply-confident", "apply"]);
    let apply = &v["stages"][2];
    assert_eq!(
        (apply["would_apply"].as_u64(), apply["would_abstain"].as_u64()),
        (Some(1), Some(0))
    );
    assert_eq!(apply["labels"]["documentation"]["matches"], 1);
    assert_eq!(apply["labels"]["documentation"]["precision"], 1.0);
    // enhancement (0.6) is below its 0.9 threshold: apply-confident would only comment.
    assert_eq!(v["stages"][1]["would_comment"], 1);
    assert!(mutations(&sent(&gh).await).is_empty());
}

#[tokio::test]
async fn backfill_needs_a_cap_and_triages_open_unlabeled_issues() {
    let Some(ev) = payload("issues.opened.1") else { return };
    let co = checkout();
    let (gh, state) = github(&ev, &[]).await;
    let llm = provider(Some(confident())).await;
    let out = by_hand(&co, &gh, &llm, &["--backfill", "Codertocat/Hello-World"]).await;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(sent(&gh).await.is_empty());
    let out = by_hand(
        &co,
        &gh,
        &llm,
        &["--backfill", "Codertocat/Hello-World", "--max", "5", "--stage", "apply"],
    )
    .await;
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(state.st.lock().unwrap().labels, ["documentation"]);
    assert!(text(&out).contains("1 open issues without labels"), "{}", text(&out));
    // One issue by hand: already labeled by sift, its comment says the same: nothing sent.
    let n = mutations(&sent(&gh).await).len();
    let out = by_hand(&co, &gh, &llm, &["Codertocat/Hello-World#1", "--stage", "apply"]).await;
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(mutations(&sent(&gh).await).len(), n, "{}", text(&out));
}

#[tokio::test]
async fn edits_are_triaged_only_when_on_edit_is_set() {
    let Some(ev) = payload("issues.edited.1") else { return };
    let co = checkout();
    let (gh, _) = github(&ev, &[]).await;
    let llm = provider(Some(confident())).await;
    let out = triage(&co, "issues", &ev, &gh, &llm, "comment").await;
    assert!(out.status.success() && text(&out).contains("bot.on_edit is off"), "{}", text(&out));
    assert!(sent(&gh).await.is_empty());
    let out =
        triage_env(&co, "issues", &ev, &gh, &llm, "comment", &[("SIFT_BOT_ON_EDIT", "true")]).await;
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(mutations(&sent(&gh).await), [format!("POST {ISSUE}/comments")]);
}

#[tokio::test]
async fn a_committed_model_answers_without_any_key() {
    let Some(ev) = payload("issues.opened.1") else { return };
    let co = checkout();
    // Train a model in a workspace of its own, then commit only the model file.
    let trainer = co.dir.path().join("trainer");
    sift::workspace::Workspace::init(&trainer, "t").unwrap();
    std::fs::write(trainer.join("labels.yml"), LABELS_YML).unwrap();
    let toml = trainer.join("sift.toml");
    let t = std::fs::read_to_string(&toml).unwrap().replacen(
        "taxonomy = \"issues\"",
        "taxonomy = \"repo\"",
        1,
    );
    std::fs::write(&toml, t).unwrap();
    let mut csv = String::from("title,body,label\n");
    for i in 0..40 {
        let (title, label) = match i % 2 {
            0 => (format!("Typo in the README section {i}"), "documentation"),
            _ => (format!("Crash when saving file {i}"), "bug"),
        };
        csv.push_str(&format!("{title},\"words about {title}\",{label}\n"));
    }
    std::fs::write(trainer.join("issues.csv"), csv).unwrap();
    let run = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_sift"))
            .arg("--workspace")
            .arg(&trainer)
            .args(args)
            .env("SIFT_ANNOTATOR", "maint")
            .env("HOME", co.dir.path())
            .env("XDG_CONFIG_HOME", co.dir.path().join("cfg"))
            .output()
            .unwrap();
        assert!(out.status.success(), "{args:?}: {}", text(&out));
    };
    let csv_path = trainer.join("issues.csv");
    run(&["import", csv_path.to_str().unwrap(), "--dataset", "d", "--label-column", "label"]);
    run(&["train"]);
    std::fs::create_dir_all(co.dir.path().join("repo/models")).unwrap();
    std::fs::copy(
        trainer.join(".sift/models/repo.model"),
        co.dir.path().join("repo/models/bot.model"),
    )
    .unwrap();

    let (gh, state) = github(&ev, &[]).await;
    let event_path = co.dir.path().join("event.json");
    std::fs::write(&event_path, serde_json::to_string(&ev).unwrap()).unwrap();
    let mut c = Command::new(env!("CARGO_BIN_EXE_sift"));
    c.current_dir(co.dir.path().join("repo"))
        .arg("triage")
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_EVENT_NAME", "issues")
        .env("GITHUB_EVENT_PATH", &event_path)
        .env("GITHUB_API_URL", gh.uri())
        .env("GITHUB_TOKEN", TOKEN)
        .env("RUNNER_TEMP", co.dir.path().join("runner-temp"))
        .env("SIFT_BOT_MODEL", "models/bot.model")
        .env("HOME", co.dir.path())
        .env("XDG_CONFIG_HOME", co.dir.path().join("cfg"))
        .env_remove("OPENAI_API_KEY")
        .env_remove("ANTHROPIC_API_KEY")
        .env_remove("SIFT_BOT_STAGE");
    let out = tokio::task::spawn_blocking(move || c.output().unwrap()).await.unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let body = comment_body(&state);
    assert!(body.contains("· local local:"), "{body}");
}

#[tokio::test]
async fn a_label_a_human_removed_is_not_added_again_nor_counted_as_sifts() {
    let Some(ev) = payload("issues.opened.1") else { return };
    let Some(reopened) = payload("issues.reopened.1") else { return };
    let co = checkout();
    let (gh, state) = github(&ev, &[]).await;
    let llm = provider(Some(confident())).await;
    assert!(triage(&co, "issues", &ev, &gh, &llm, "apply").await.status.success());
    assert_eq!(state.st.lock().unwrap().labels, ["documentation"]);
    // A maintainer disagrees and takes it off; the issue is reopened later.
    state.st.lock().unwrap().labels.clear();
    let n = mutations(&sent(&gh).await).len();
    let out = triage(&co, "issues", &reopened, &gh, &llm, "apply").await;
    assert!(out.status.success(), "{}", text(&out));
    let m = mutations(&sent(&gh).await);
    assert_eq!(
        m[n..],
        ["PATCH /repos/Codertocat/Hello-World/issues/comments/5001".to_string()],
        "{m:?}"
    );
    assert!(state.st.lock().unwrap().labels.is_empty());
    assert!(
        comment_body(&state).contains("a human removed documentation"),
        "{}",
        comment_body(&state)
    );
    // Put back by the human, it is the human's: /label off leaves it.
    state.st.lock().unwrap().labels.push("documentation".into());
    let Some(base) = payload("issue_comment.created.1") else { return };
    let off = comment_event(&base, "Codertocat", "OWNER", "/label off", "User");
    assert!(triage(&co, "issue_comment", &off, &gh, &llm, "apply").await.status.success());
    assert_eq!(state.st.lock().unwrap().labels, ["documentation"]);
}
