//! TUI rows, measured headless with ratatui's TestBackend at 160x50 on a 100,000-item store:
//! first frame after launch, update + render per key (p99), peak RSS.

use std::path::Path;
use std::time::{Duration, Instant};

use ratatui::Terminal;
use ratatui::backend::TestBackend;
use sift::app::Context;
use sift::store::Store;
use sift::tui::action::Action;
use sift::tui::keymap::Keymap;
use sift::tui::theme::Theme;
use sift::tui::{App, Options, load_state, worker};
use sift::workspace::{Overrides, Workspace};

use crate::common::{child_output, median, percentile_ms, row};

const N: usize = 100_000;

pub fn run(filter: &str) {
    if !filter.is_empty() && !"tui".contains(filter) {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let ws = dir.path().join("ws");
    Workspace::init(&ws, "bench").expect("init");
    build_store(&ws);
    let mut first = Vec::new();
    let mut nav = Vec::new();
    let mut toggle = Vec::new();
    let mut rss = Vec::new();
    for _ in 0..3 {
        let out = child_output(&["tui", ws.to_str().unwrap_or_default()]);
        let nums: Vec<f64> = out
            .lines()
            .find(|l| l.starts_with("TUI "))
            .map(|l| l[4..].split(' ').filter_map(|x| x.parse().ok()).collect())
            .unwrap_or_default();
        first.push(nums[0]);
        nav.push(nums[1]);
        toggle.push(nums[2]);
        rss.push(nums[3]);
    }
    row(
        "TUI first frame, 100k-item store, 160x50",
        "<= 300 ms",
        format!("{:.0} ms", median(first)),
    );
    row("TUI update + render, navigation key (p99)", "<= 5 ms", format!("{:.2} ms", median(nav)));
    row("TUI update + render, label toggle (p99)", "<= 5 ms", format!("{:.2} ms", median(toggle)));
    row("TUI peak RSS", "<= 150 MB", format!("{:.0} MB", median(rss)));
}

/// 100,000 synthetic issues with keyword suggestions, as a user's store would hold.
fn build_store(ws: &Path) {
    let mut store = Store::open(&ws.join(".sift/store.db")).expect("store");
    let items = sift::synth::issues(N, 11);
    for chunk in items.chunks(5000) {
        store.upsert_items(chunk, "2026-11-01T00:00:00Z").expect("upsert");
    }
    let labels = sift::taxonomy::LabelsFile::load(&ws.join("labels.yml")).expect("labels");
    let tax = labels.get("issues").expect("issues taxonomy");
    sift::suggest::keyword_run(&mut store, tax, sift::synth::DATASET, "bench").expect("suggest");
}

/// Child side: `tui WS`. Prints "TUI first_ms nav_p99_ms toggle_p99_ms rss_mb".
pub fn child(args: &[&str]) {
    let ["tui", ws] = args else { return };
    let launched = Instant::now();
    let ov = Overrides { annotator: Some("bench".into()), theme: None };
    let ctx = Context::open(Some(Path::new(ws)), &ov).expect("open");
    let state =
        load_state(&ctx.ws, &ctx.store, &ctx.labels, "bench", &Options::default()).expect("state");
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let (jobs, _worker) = worker::spawn(ctx, tx, false);
    let keymap = Keymap::load(&Default::default()).expect("keymap");
    let theme = Theme::load("default", None, false).expect("theme");
    let mut app = App::new(state, keymap, theme, jobs);
    app.state.size = (160, 50);
    let mut terminal = Terminal::new(TestBackend::new(160, 50)).expect("terminal");
    app.start();
    app.draw(&mut terminal).expect("draw");
    let first_ms = launched.elapsed().as_secs_f64() * 1000.0;
    let mut nav = Vec::new();
    for _ in 0..1000 {
        let t = Instant::now();
        app.dispatch(Action::MoveDown);
        app.draw(&mut terminal).expect("draw");
        nav.push(t.elapsed());
        // Loaded items come back as actions, as in the real loop (not part of the key's time).
        while let Ok(msg) = rx.try_recv() {
            if let worker::Msg::Action(a) = msg {
                app.dispatch(a);
            }
        }
    }
    let mut toggle: Vec<Duration> = Vec::new();
    for i in 0..1000 {
        let t = Instant::now();
        app.dispatch(Action::Toggle((i % 10) as u8 + 1));
        app.draw(&mut terminal).expect("draw");
        toggle.push(t.elapsed());
    }
    println!(
        "TUI {first_ms:.1} {:.3} {:.3} {:.1}",
        percentile_ms(nav, 99.0),
        percentile_ms(toggle, 99.0),
        crate::common::peak_rss_mb()
    );
}
