//! GitHub pull benchmarks: 5,000 issues in 50 pages from a local fake GitHub into a fresh
//! store, then an unchanged re-pull that must make only conditional requests and write nothing.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use wiremock::matchers::any;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use sift::github::{Client, IssueState, Pacing, PullOptions, RepoSlug, pull};
use sift::secrets::{Secret, Source};

const ISSUES: usize = 5_000;
const PER_PAGE: usize = 100;

/// Serves /repos/o/r/issues like GitHub: pages, Link rel="next", ETag / 304, since=.
struct Issues {
    issues: Arc<Vec<Value>>,
    origin: String,
}

impl Respond for Issues {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let q = |n: &str| req.url.query_pairs().find(|(k, _)| k == n).map(|(_, v)| v.into_owned());
        let page: usize = q("page").and_then(|p| p.parse().ok()).unwrap_or(1);
        let since = q("since");
        let list: Vec<&Value> = self
            .issues
            .iter()
            .filter(|i| {
                since.as_deref().is_none_or(|s| i["updated_at"].as_str().unwrap_or("") >= s)
            })
            .collect();
        let chunk: Vec<&Value> =
            list.iter().skip((page - 1) * PER_PAGE).take(PER_PAGE).copied().collect();
        let body = serde_json::to_string(&chunk).unwrap_or_default();
        let mut h = DefaultHasher::new();
        body.hash(&mut h);
        let tag = format!("\"{:016x}\"", h.finish());
        if req.headers.get("if-none-match").and_then(|v| v.to_str().ok()) == Some(tag.as_str()) {
            return ResponseTemplate::new(304).insert_header("etag", tag.as_str());
        }
        let mut t =
            ResponseTemplate::new(200).insert_header("etag", tag.as_str()).set_body_string(body);
        if page * PER_PAGE < list.len() {
            let mut next = format!(
                "{}{}?state=open&sort=updated&direction=asc&per_page=100",
                self.origin,
                req.url.path()
            );
            if let Some(s) = &since {
                next.push_str(&format!("&since={s}"));
            }
            next.push_str(&format!("&page={}", page + 1));
            t = t.insert_header("link", format!("<{next}>; rel=\"next\"").as_str());
        }
        t
    }
}

fn issue_json(n: usize, item: &sift::model::Item) -> Value {
    let minute = n % 60;
    let hour = (n / 60) % 24;
    let day = 1 + (n / 1440) % 28;
    json!({
        "id": n, "number": n, "title": item.title, "body": item.body, "state": "open",
        "user": {"login": format!("user{}", n % 97)},
        "html_url": format!("https://github.com/o/r/issues/{n}"),
        "created_at": "2026-01-01T00:00:00Z",
        "updated_at": format!("2026-01-{day:02}T{hour:02}:{minute:02}:00Z"),
        "labels": item.source_labels.iter().map(|l| json!({"name": l})).collect::<Vec<_>>(),
        "comments": 0, "author_association": "CONTRIBUTOR"
    })
}

fn median(mut xs: Vec<Duration>) -> Duration {
    xs.sort();
    xs[xs.len() / 2]
}

pub fn run(filter: &str) {
    if !filter.is_empty() && !"github".contains(filter) {
        return;
    }
    let Ok(rt) = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()
    else {
        eprintln!("github bench: cannot start a runtime");
        return;
    };
    rt.block_on(bench());
}

async fn bench() {
    let items = sift::synth::issues(ISSUES, 7);
    let issues: Arc<Vec<Value>> =
        Arc::new(items.iter().enumerate().map(|(i, it)| issue_json(i + 1, it)).collect());
    let server = MockServer::start().await;
    let opts = PullOptions {
        repo: RepoSlug { owner: "o".into(), name: "r".into() },
        state: IssueState::Open,
        since: None,
        dataset: "o-r".into(),
    };
    let mut first = Vec::new();
    let mut again = Vec::new();
    let mut facts = String::new();
    for _ in 0..3 {
        let dir = match tempfile::tempdir() {
            Ok(d) => d,
            Err(e) => return eprintln!("github bench: {e}"),
        };
        let db = dir.path().join("store.db");
        let Ok(mut store) = sift::store::Store::open(&db) else {
            return eprintln!("github bench: store");
        };
        let token = Secret::new("bench-token".into(), Source::Env("GITHUB_TOKEN"));
        let Ok(mut client) = Client::new(&server.uri(), token, Pacing::default()) else { return };
        server.reset().await;
        Mock::given(any())
            .respond_with(Issues { issues: issues.clone(), origin: server.uri() })
            .mount(&server)
            .await;
        let t = Instant::now();
        let s = match pull(&mut store, &mut client, &opts).await {
            Ok(s) => s,
            Err(e) => return eprintln!("github bench: pull failed: {e}"),
        };
        first.push(t.elapsed());
        assert_eq!(s.inserted, ISSUES, "first pull stores every issue");
        let n_before = server.received_requests().await.map(|r| r.len()).unwrap_or(0);
        drop(store);
        let bytes_before = std::fs::read(&db).unwrap_or_default();
        let Ok(mut store) = sift::store::Store::open(&db) else { return };
        let t = Instant::now();
        let s2 = match pull(&mut store, &mut client, &opts).await {
            Ok(s) => s,
            Err(e) => return eprintln!("github bench: re-pull failed: {e}"),
        };
        again.push(t.elapsed());
        drop(store);
        let reqs = server.received_requests().await.unwrap_or_default();
        let conditional = reqs[n_before..].iter().all(|r| r.headers.get("if-none-match").is_some());
        let unchanged = std::fs::read(&db).unwrap_or_default() == bytes_before;
        assert!(
            conditional && s2.pages == s2.pages_not_modified,
            "re-pull made an unconditional request"
        );
        assert!(unchanged, "re-pull wrote to the store");
        facts = format!(
            "first pull {} requests ({} issue pages incl. the priming page); re-pull {} request(s), all 304, store bytes unchanged",
            s.requests,
            s.pages,
            reqs.len() - n_before
        );
    }
    println!(
        "{:<58} target {:<12} measured {:.2} s",
        "github: pull 5,000 issues (50 pages) into the store",
        "<= 5 s",
        median(first).as_secs_f64()
    );
    println!(
        "{:<58} target {:<12} measured {:.1} ms",
        "github: unchanged re-pull (conditional only, no writes)",
        "0 writes",
        median(again).as_secs_f64() * 1000.0
    );
    println!("  {facts}");
}
