//! The review workstation: one input task over crossterm's EventStream feeding one channel,
//! a pure update(), effects run by a worker thread, drawing only when something changed.

pub mod action;
pub mod adjudicate;
pub mod help;
pub mod keymap;
pub mod markdown;
pub mod push;
pub mod refresh;
pub mod review;
pub mod runs;
pub mod sample;
pub mod state;
pub mod stats;
pub mod theme;
pub mod ui;
pub mod update;
pub mod worker;

use std::collections::{HashMap, HashSet};
use std::time::Instant;

use anyhow::{Context as _, Result};
use crossterm::event::{Event, EventStream, KeyEventKind};
use futures::StreamExt;
use ratatui::Terminal;
use ratatui::backend::Backend;
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};

use self::action::Action;
use self::keymap::Keymap;
use self::state::{BandAccuracy, Effect, Entry, Overlay, State, View};
use self::stats::StatsView;
use self::theme::Theme;
use self::worker::{Job, Msg};
use crate::app::Context;
use crate::model::LabelScore;
use crate::store::{QueueFilter, Store};
use crate::taxonomy::LabelsFile;
use crate::workspace::Workspace;

/// Options of `sift review`.
#[derive(Debug, clap::Args)]
pub struct ReviewArgs {
    /// Only items of this dataset.
    #[arg(long)]
    pub dataset: Option<String>,
    /// Start in blind mode: suggestions hidden until each item is saved.
    #[arg(long)]
    pub blind: bool,
}

/// `sift review [--dataset D] [--blind]` (and `sift` alone, with the defaults).
pub fn review(ctx: Context, args: ReviewArgs) -> Result<std::process::ExitCode> {
    if let Some(d) = &args.dataset {
        ctx.require_dataset(d)?;
    }
    run(ctx, Options { dataset: args.dataset, blind: args.blind, ..Default::default() })
}

/// `sift sample --review`: the week's sample as a blind review queue.
pub fn review_sample(
    ctx: Context,
    args: &crate::dataset::commands::sample::SampleArgs,
) -> Result<std::process::ExitCode> {
    let (week, keys) = crate::dataset::commands::sample::draw_for_review(&ctx, args)?;
    run(
        ctx,
        Options { keys: Some(keys), sample_week: Some(week.to_string()), ..Default::default() },
    )
}

/// How the review screen opens.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Only these items, in this order (e.g. the weekly sample).
    pub keys: Option<Vec<String>>,
    pub dataset: Option<String>,
    /// Review as the weekly accuracy sample of this ISO week (blind, mode sample).
    pub sample_week: Option<String>,
    pub blind: bool,
    /// The demo workspace: its repository is made up, so nothing can be sent to GitHub.
    pub demo: bool,
}

/// Build the initial state from the store: the queue with per-item status, taxonomies, and
/// the measured accuracy per confidence band.
pub fn load_state(
    ws: &Workspace,
    store: &Store,
    labels: &LabelsFile,
    annotator: &str,
    opts: &Options,
) -> Result<State> {
    // A given list (the weekly sample) is read whole; a dataset's queue, which can hold a
    // million items, draws its first page while the worker reads the rest.
    let rows = match &opts.keys {
        Some(_) => {
            let filter =
                QueueFilter { dataset: opts.dataset.clone(), repo: None, keys: opts.keys.clone() };
            store.queue_rows(&filter)?
        }
        None => store.queue_page(opts.dataset.as_deref(), None, Some(FIRST_PAGE))?,
    };
    let rest = (opts.keys.is_none() && rows.len() == FIRST_PAGE)
        .then(|| rows.last().map(|r| (r.dataset.clone(), r.id)))
        .flatten();
    let (queue, taxonomies) = entries(ws, store, labels, annotator, opts.dataset.as_deref(), rows)?;
    let mut s = State::new(annotator.to_string(), taxonomies, queue);
    s.queue_rest = rest;
    s.status_pending = true;
    s.sample_week = opts.sample_week.clone();
    s.blind = opts.blind || opts.sample_week.is_some();
    s.demo = opts.demo;
    Ok(s)
}

/// Queue rows drawn before the rest of the queue is read: a few screens.
pub const FIRST_PAGE: usize = 500;

/// The queue's entries after its first page, and the taxonomies of their datasets.
pub type QueueRest = (Vec<Entry>, HashMap<String, crate::taxonomy::Taxonomy>);

/// The queue after its first page, with the taxonomies of its datasets: read by the worker
/// right after the first frame.
pub fn queue_rest(
    ctx: &Context,
    annotator: &str,
    dataset: Option<&str>,
    after: (&str, i64),
) -> Result<QueueRest> {
    let rows = ctx.store.queue_page(dataset, Some(after), None)?;
    entries(&ctx.ws, &ctx.store, &ctx.labels, annotator, dataset, rows)
}

/// Queue entries for rows, with this annotator's answers and the pushes (everyone's answers
/// and the suggestions come with the worker's status).
fn entries(
    ws: &Workspace,
    store: &Store,
    labels: &LabelsFile,
    annotator: &str,
    dataset: Option<&str>,
    rows: Vec<crate::store::QueueRow>,
) -> Result<(Vec<Entry>, HashMap<String, crate::taxonomy::Taxonomy>)> {
    let pushed = store.pushed_keys()?;
    // Only this annotator's answers: the first item's draft starts from them. Everyone's
    // (disputes, gold for the accuracy bands) come with the worker's first status.
    let mine = store.annotator_answers(dataset, annotator)?;
    let mut taxonomies = HashMap::new();
    for r in &rows {
        if !taxonomies.contains_key(&r.dataset) {
            let t = labels.get(ws.settings.taxonomy_for(&r.dataset))?;
            taxonomies.insert(r.dataset.clone(), t.clone());
        }
    }
    let queue = rows
        .into_iter()
        .map(|r| {
            let mine = mine.get(&r.key).cloned();
            let pushed = pushed.contains(&r.key);
            Entry::from_row(r, mine, false, pushed, None)
        })
        .collect();
    Ok((queue, taxonomies))
}

/// Item key -> labels.
type Answers = HashMap<String, Vec<String>>;

/// The part of the queue's status that needs everyone's answers or every suggestion, read by
/// the worker right after the first frame (and again when another process changes the store).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SuggestionStatus {
    /// Every item's latest suggested labels.
    pub labels: Answers,
    /// The measured accuracy per confidence band.
    pub bands: BandAccuracy,
    /// Items whose latest suggestion breaks a consistency rule.
    pub inconsistent: HashSet<String>,
    /// The top confidence of each item's latest suggestion.
    pub confidence: HashMap<String, f64>,
    /// Items whose annotators disagree without adjudication.
    pub disputed: HashSet<String>,
}

pub fn suggestion_status(store: &Store, dataset: Option<&str>) -> Result<SuggestionStatus> {
    let latest = store.latest_suggested_labels()?;
    let inconsistent: HashSet<String> =
        latest.iter().filter(|(_, (_, broken))| *broken).map(|(k, _)| k.clone()).collect();
    let suggested: HashMap<String, Vec<LabelScore>> =
        latest.into_iter().map(|(k, (labels, _))| (k, labels)).collect();
    let items = crate::metrics::gold::group(&store.current_answers(dataset)?);
    let disputed =
        crate::metrics::gold::disagreements(&items).into_iter().map(|i| i.item.clone()).collect();
    let gold: HashMap<String, Vec<String>> =
        crate::metrics::gold::gold_map(&items).into_iter().map(|(k, g)| (k, g.labels)).collect();
    let bands = band_accuracy(&gold, &suggested);
    let confidence = suggested
        .iter()
        .filter_map(|(k, v)| {
            let top = v.iter().map(|l| l.confidence.unwrap_or(1.0)).reduce(f64::max)?;
            Some((k.clone(), top))
        })
        .collect();
    let labels =
        suggested.into_iter().map(|(k, v)| (k, v.into_iter().map(|l| l.name).collect())).collect();
    Ok(SuggestionStatus { labels, bands, inconsistent, confidence, disputed })
}

/// For every suggested label with a confidence on an item that has gold: was it right?
fn band_accuracy(
    gold: &HashMap<String, Vec<String>>,
    suggested: &HashMap<String, Vec<LabelScore>>,
) -> BandAccuracy {
    let mut bands: BandAccuracy = [(0, 0); 10];
    for (key, labels) in suggested {
        let Some(g) = gold.get(key) else { continue };
        for l in labels {
            if let Some(c) = l.confidence {
                let i = ((c * 10.0).floor() as usize).min(9);
                bands[i].1 += 1;
                if g.contains(&l.name) {
                    bands[i].0 += 1;
                }
            }
        }
    }
    bands
}

/// The running application: state plus what it needs to turn keys into actions and draw.
pub struct App {
    pub state: State,
    pub keymap: Keymap,
    pub theme: Theme,
    pub stats: Option<StatsView>,
    pub sample: Option<Vec<crate::dataset::sample::WeekReport>>,
    /// The dataset the queue is limited to, if any.
    pub dataset: Option<String>,
    pub jobs: std::sync::mpsc::Sender<Job>,
    started: Instant,
    /// OSC 52 sequences for the terminal, written after the next frame.
    clipboard: Vec<String>,
    /// Write them to this process's stdout (the real terminal); tests read them instead.
    pub write_clipboard: bool,
}

impl App {
    pub fn new(
        state: State,
        keymap: Keymap,
        theme: Theme,
        jobs: std::sync::mpsc::Sender<Job>,
    ) -> Self {
        App {
            state,
            keymap,
            theme,
            stats: None,
            sample: None,
            dataset: None,
            jobs,
            started: Instant::now(),
            clipboard: Vec::new(),
            write_clipboard: false,
        }
    }

    fn tick_clock(&mut self) {
        self.state.now_ms = self.started.elapsed().as_millis() as u64;
        self.state.now_rfc3339 = crate::model::now_rfc3339();
    }

    /// Turn a terminal event into an action, according to the focused view's keymap.
    pub fn action_for(&self, ev: &Event) -> Option<Action> {
        match ev {
            Event::Key(k) if k.kind != KeyEventKind::Release => match &self.state.overlay {
                Overlay::Search(_) | Overlay::Picker(_) => Some(Action::Key(*k)),
                Overlay::Note => Some(self.keymap.action("note", k).unwrap_or(Action::Key(*k))),
                _ => self.keymap.action(self.state.key_view(), k),
            },
            Event::Resize(w, h) => Some(Action::Resize(*w, *h)),
            Event::Mouse(m) => {
                use crossterm::event::{MouseButton, MouseEventKind};
                let kind = match m.kind {
                    MouseEventKind::Down(MouseButton::Left) => action::MouseKind::Click,
                    MouseEventKind::ScrollDown => action::MouseKind::ScrollDown,
                    MouseEventKind::ScrollUp => action::MouseKind::ScrollUp,
                    _ => return None,
                };
                Some(Action::Mouse { kind, column: m.column, row: m.row })
            }
            _ => None,
        }
    }

    /// Apply an action and hand its effects to the worker.
    pub fn dispatch(&mut self, action: Action) {
        self.tick_clock();
        let opened_stats = action == Action::ViewStats;
        if action == Action::Tick {
            let dataset = self.dataset.clone();
            let annotator = self.state.annotator.clone();
            let _ = self.jobs.send(Job::Refresh { dataset, annotator });
        }
        if action == Action::ViewSample {
            self.sample = None;
            let _ = self.jobs.send(Job::Sample);
        }
        let effects = update::update(&mut self.state, action);
        if opened_stats && let Some(e) = self.state.current() {
            self.stats = None;
            let _ = self.jobs.send(Job::Stats { dataset: e.dataset.clone() });
        }
        for e in effects {
            if let Effect::Copy { text } = e {
                self.clipboard.push(osc52(&text));
                continue;
            }
            if e != Effect::Quit {
                // A closed worker means we are shutting down; nothing left to do.
                let _ = self.jobs.send(Job::Effect(e));
            }
        }
    }

    /// OSC 52 sequences waiting to be written to the terminal (after the next frame).
    pub fn take_clipboard(&mut self) -> Vec<String> {
        std::mem::take(&mut self.clipboard)
    }

    pub fn draw<B: Backend>(&self, terminal: &mut Terminal<B>) -> Result<()> {
        let cx = ui::Ctx {
            theme: &self.theme,
            keymap: &self.keymap,
            stats: self.stats.as_ref(),
            sample: self.sample.as_deref(),
        };
        terminal
            .draw(|f| ui::draw(f, &self.state, &cx))
            .map_err(|e| anyhow::anyhow!("drawing: {e}"))?;
        Ok(())
    }

    /// Start: focus the first item (which loads it and the next).
    pub fn start(&mut self) {
        self.tick_clock();
        self.state.session_started_ms = self.state.now_ms;
        for e in update::focus(&mut self.state) {
            let _ = self.jobs.send(Job::Effect(e));
        }
        let dataset = self.dataset.clone();
        if let Some(after) = self.state.queue_rest.clone() {
            let annotator = self.state.annotator.clone();
            let _ = self.jobs.send(Job::QueueRest { dataset: dataset.clone(), annotator, after });
        }
        let _ = self.jobs.send(Job::SuggestionStatus { dataset });
    }
}

/// The event loop: wait for a message, apply it (and any others already waiting), draw if
/// anything changed, until quit.
pub async fn run_loop<B: Backend>(
    terminal: &mut Terminal<B>,
    app: &mut App,
    rx: &mut UnboundedReceiver<Msg>,
) -> Result<()> {
    app.start();
    app.draw(terminal)?;
    while let Some(msg) = rx.recv().await {
        let mut changed = handle(app, msg);
        while let Ok(more) = rx.try_recv() {
            changed |= handle(app, more);
        }
        if app.state.should_quit {
            break;
        }
        if changed {
            app.draw(terminal)?;
        }
        flush_clipboard(app);
    }
    Ok(())
}

/// Write queued OSC 52 sequences to the terminal, between frames.
fn flush_clipboard(app: &mut App) {
    if !app.write_clipboard {
        return;
    }
    use std::io::Write as _;
    let mut out = std::io::stdout();
    for seq in app.take_clipboard() {
        let _ = out.write_all(seq.as_bytes());
    }
    let _ = out.flush();
}

fn handle(app: &mut App, msg: Msg) -> bool {
    match msg {
        Msg::Input(ev) => match app.action_for(&ev) {
            Some(a) => {
                app.dispatch(a);
                true
            }
            None => false,
        },
        Msg::Action(a) => {
            app.dispatch(a);
            true
        }
        Msg::Stats(v) => {
            app.stats = Some(*v);
            app.state.view == View::Stats
        }
        Msg::Sample(v) => {
            app.sample = Some(*v);
            app.state.view == View::Sample
        }
    }
}

/// The one input task: terminal events into the channel.
fn spawn_input(tx: UnboundedSender<Msg>) {
    tokio::spawn(async move {
        let mut events = EventStream::new();
        while let Some(Ok(ev)) = events.next().await {
            if tx.send(Msg::Input(ev)).is_err() {
                break;
            }
        }
    });
}

/// Ticks (items/hour) and termination signals become actions.
fn spawn_timers(tx: UnboundedSender<Msg>) {
    let t = tx.clone();
    tokio::spawn(async move {
        let mut every = tokio::time::interval(std::time::Duration::from_secs(5));
        loop {
            every.tick().await;
            if t.send(Msg::Action(Action::Tick)).is_err() {
                break;
            }
        }
    });
    #[cfg(unix)]
    tokio::spawn(async move {
        use tokio::signal::unix::{SignalKind, signal};
        let (Ok(mut term), Ok(mut hup)) =
            (signal(SignalKind::terminate()), signal(SignalKind::hangup()))
        else {
            return;
        };
        tokio::select! {
            _ = term.recv() => {}
            _ = hup.recv() => {}
        }
        let _ = tx.send(Msg::Action(Action::Quit));
    });
}

/// Open the review screen on a workspace until the user quits.
pub fn run(ctx: Context, opts: Options) -> Result<std::process::ExitCode> {
    let annotator = annotator_or_prompt(&ctx)?;
    let keymap = Keymap::load(&ctx.ws.settings.keys)?;
    let themes_dir = crate::workspace::user_themes_dir();
    let theme = Theme::load(&ctx.ws.settings.theme, themes_dir.as_deref(), theme::no_color_env())?;
    // The first frame needs the queue's first page and this annotator's answers (the first
    // item's draft starts from them); the worker reads the rest of the queue, then everyone's
    // answers and the suggestions (see `App::start`).
    let state = load_state(&ctx.ws, &ctx.store, &ctx.labels, &annotator, &opts)?;
    let (tx, mut rx) = unbounded_channel();
    let (jobs, worker) = worker::spawn(ctx, tx.clone(), opts.keys.is_some());
    let mut app = App::new(state, keymap, theme, jobs);
    app.dataset = opts.dataset.clone();
    app.write_clipboard = true;
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    // ratatui's init installs a panic hook that restores the terminal before the message prints.
    let mut terminal = ratatui::try_init().context("cannot open the terminal")?;
    mouse_capture(true);
    keep_terminal_on_worker_panics();
    let size = terminal.size().map(|s| (s.width, s.height)).unwrap_or((80, 24));
    app.state.size = size;
    let result = rt.block_on(async {
        spawn_input(tx.clone());
        spawn_timers(tx);
        run_loop(&mut terminal, &mut app, &mut rx).await
    });
    mouse_capture(false);
    ratatui::restore();
    // Let in-flight saves finish before exiting: nothing shown as saved may be lost.
    drop(app);
    let _ = worker.join();
    result.map(|_| std::process::ExitCode::SUCCESS)
}

/// The OSC 52 sequence that puts `text` on the clipboard of the terminal (and, through SSH
/// and tmux with `set-clipboard on`, of the machine in front of it). The text is base64:
/// nothing in it can act as a control sequence.
pub fn osc52(text: &str) -> String {
    use base64::Engine as _;
    format!("\x1b]52;c;{}\x07", base64::engine::general_purpose::STANDARD.encode(text))
}

/// Mouse reporting on while the review screen runs (clicks and the wheel reach sift).
fn mouse_capture(on: bool) {
    use crossterm::event::{DisableMouseCapture, EnableMouseCapture};
    let mut out = std::io::stdout();
    let _ = if on {
        crossterm::execute!(out, EnableMouseCapture)
    } else {
        crossterm::execute!(out, DisableMouseCapture)
    };
}

/// Only a panic of this (the UI) thread restores the terminal and prints. A worker's panic is
/// caught where it happens and reported on screen; restoring the terminal for it would leave
/// the screen in cooked mode, where `q` no longer reaches sift.
fn keep_terminal_on_worker_panics() {
    let ui = std::thread::current().id();
    let restore_and_print = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if std::thread::current().id() == ui {
            mouse_capture(false);
            restore_and_print(info);
        } else {
            tracing::error!("{info}");
        }
    }));
}

/// The annotator ID, asking once on first run and remembering it in the user config.
fn annotator_or_prompt(ctx: &Context) -> Result<String> {
    if let Some(a) = ctx.annotator() {
        anyhow::ensure!(
            crate::workspace::valid_annotator(a),
            "annotator ID {a:?} is not usable (letters, digits, '-', '_', '.')"
        );
        return Ok(a.to_string());
    }
    use std::io::{BufRead, IsTerminal, Write};
    anyhow::ensure!(
        std::io::stdin().is_terminal(),
        "no annotator ID: pass --annotator ID or set SIFT_ANNOTATOR"
    );
    let mut out = std::io::stderr();
    loop {
        let kept = crate::workspace::user_config_path()
            .map(|p| format!("; kept in {}", p.display()))
            .unwrap_or_default();
        write!(out, "Your annotator ID (letters, digits, - _ .{kept}): ")?;
        out.flush()?;
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        let id = line.trim().to_string();
        if crate::workspace::valid_annotator(&id) {
            if let Some(path) = crate::workspace::user_config_path() {
                remember_annotator(&path, &id)?;
                writeln!(out, "Saved to {}", path.display())?;
            }
            return Ok(id);
        }
        writeln!(out, "{id:?} is not usable; try again.")?;
    }
}

fn remember_annotator(path: &std::path::Path, id: &str) -> Result<()> {
    let mut text = std::fs::read_to_string(path).unwrap_or_default();
    if text.lines().any(|l| l.trim_start().starts_with("annotator")) {
        return Ok(());
    }
    text.insert_str(0, &format!("annotator = \"{id}\"\n"));
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| dir.display().to_string())?;
    }
    std::fs::write(path, text).with_context(|| path.display().to_string())
}

#[cfg(test)]
mod tests;
