//! The TUI's state: plain data that update() changes and the views read. No IO here.

use std::collections::{BTreeSet, HashMap};

use ratatui_textarea::TextArea;

use super::action::ReqId;
use crate::model::{Annotation, Item, ItemKind};
use crate::store::SuggestionRow;
use crate::taxonomy::Taxonomy;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    Review,
    Stats,
    /// The disagreement queue: pick one annotator's answer or edit, saved as adjudication.
    Adjudicate,
    /// The weekly accuracy sample: progress, accuracy, trend, drift.
    Sample,
    /// Push plans per repository, and sending them with progress.
    Push,
    /// Suggestion runs, and the comparison of two.
    Runs,
}

/// The runs view's state.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunsView {
    /// (run id, one summary line)
    pub rows: Vec<(String, String)>,
    pub cursor: usize,
    /// The run marked as A for a comparison.
    pub marked: Option<String>,
    /// The comparison as text lines.
    pub comparison: Vec<String>,
}

/// The push view's state.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PushView {
    pub repos: Vec<String>,
    pub cursor: usize,
    /// Apply labels (true) or post recommendation comments (false, the default).
    pub apply: bool,
    /// (repo, plan text, number of issues it touches)
    pub plan: Option<(String, String, usize)>,
    /// The first press of push_send arms, the second sends.
    pub armed: bool,
    pub running: bool,
    pub log: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pane {
    Queue,
    Item,
    Suggestion,
    Annotation,
}

impl Pane {
    pub const ORDER: [Pane; 4] = [Pane::Queue, Pane::Item, Pane::Suggestion, Pane::Annotation];
}

#[derive(Debug, Clone, PartialEq)]
pub enum Overlay {
    None,
    Help,
    /// The search line being edited.
    Search(String),
    Note,
    /// The label picker: what is typed, and the highlighted match.
    Picker(Picker),
}

/// The label picker's query and highlighted row.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Picker {
    pub query: String,
    pub cursor: usize,
}

/// One row of the queue, light enough to hold 100,000 of.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub key: String,
    pub dataset: String,
    pub kind: ItemKind,
    /// Sanitized, one line.
    pub title: String,
    pub repo: Option<String>,
    pub suggested: bool,
    /// The suggested label names (for `label:` filters), highest confidence first.
    pub suggested_labels: Vec<String>,
    /// The top confidence of the latest suggestion (for `sort:confidence`).
    pub confidence: Option<f64>,
    /// This annotator's current answer.
    pub mine: Option<Vec<String>>,
    pub disputed: bool,
    pub pushed: bool,
    /// A save for this item is on its way to disk.
    pub saving: bool,
    /// Structural signals in brief, for `lang:`, `tools:` and `turns:` filters.
    pub signals: crate::text::signals::Brief,
    /// The latest suggestion breaks a consistency rule (`status:inconsistent`).
    pub inconsistent: bool,
    /// When the item was opened, in seconds since 1970 (for `sort:age`); None where the
    /// source does not say.
    pub created: Option<i64>,
}

impl Entry {
    /// A queue entry for a stored item, with what the store says of it.
    pub fn from_row(
        r: crate::store::QueueRow,
        mine: Option<Vec<String>>,
        disputed: bool,
        pushed: bool,
        suggested: Option<Vec<String>>,
    ) -> Self {
        Entry {
            suggested: suggested.is_some(),
            suggested_labels: suggested.unwrap_or_default(),
            mine,
            disputed,
            pushed,
            saving: false,
            signals: crate::text::signals::Brief::parse(&r.signals),
            inconsistent: false,
            confidence: None,
            created: r
                .created_at
                .as_deref()
                .and_then(|t| t.parse::<jiff::Timestamp>().ok())
                .map(|t| t.as_second()),
            title: crate::text::one_line(&r.title),
            key: r.key,
            dataset: r.dataset,
            kind: r.kind,
            repo: r.repo,
        }
    }
}

/// The status icon of an entry, most specific first. With `blind`, nothing that tells of
/// other people's answers is shown (a dispute, a push of gold labels).
pub fn status_icon(e: &Entry, blind: bool) -> (&'static str, &'static str) {
    if e.saving {
        ("…", "saving")
    } else if e.pushed && !blind {
        ("↑", "pushed")
    } else if e.disputed && !blind {
        ("!", "disputed")
    } else if e.mine.is_some() {
        ("●", "annotated by me")
    } else if e.suggested {
        ("◇", "suggested")
    } else {
        ("○", "new")
    }
}

/// A loaded item with its latest suggestion (text already sanitized).
#[derive(Debug, Clone, PartialEq)]
pub struct Loaded {
    pub item: Item,
    pub suggestion: Option<SuggestionRow>,
    /// Each annotator's current answer (adjudications excluded), sorted by annotator.
    pub answers: Vec<(String, Vec<String>)>,
    /// The most similar items ("what did we decide last time?"), titles sanitized.
    pub similar: Vec<crate::similar::SimilarItem>,
    /// The note of each annotator's current answer (undo restores it with the answer).
    pub notes: std::collections::BTreeMap<String, String>,
    /// A conversation's structural signals in one line, read once when it loads.
    pub shape: Option<String>,
}

impl Loaded {
    pub fn new(
        item: Item,
        suggestion: Option<SuggestionRow>,
        answers: Vec<(String, Vec<String>)>,
        similar: Vec<crate::similar::SimilarItem>,
        notes: std::collections::BTreeMap<String, String>,
    ) -> Self {
        let shape = (item.kind() == crate::model::ItemKind::Conversation)
            .then(|| crate::text::one_line(&crate::text::signals::Signals::of(&item).describe()));
        Loaded { item, suggestion, answers, similar, notes, shape }
    }
}

/// The answer being edited for the focused item.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Draft {
    pub key: String,
    pub labels: BTreeSet<String>,
    /// When the item got focus (ms on the session clock), for duration_ms.
    pub started_ms: u64,
}

/// A save that undo can take back.
#[derive(Debug, Clone, PartialEq)]
pub struct SaveRecord {
    pub key: String,
    pub dataset: String,
    /// The answer this save replaced, with its note (undo records it again).
    pub previous: Option<Vec<String>>,
    pub previous_note: String,
    pub labels: Vec<String>,
    /// The note saved with `labels`, back in the editor after an undo.
    pub note: String,
    /// Saves made together (visual mode) share a group, and one undo takes them all back;
    /// 0 is a save of its own.
    pub group: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    Info,
    Ok,
    Error,
}

/// Parsed `/` filter.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Filter {
    pub text: Vec<String>,
    pub status: Option<String>,
    pub label: Option<String>,
    pub dataset: Option<String>,
    pub repo: Option<String>,
    /// `lang:rust`: a code block in this language (named or inferred).
    pub lang: Option<String>,
    /// `tools:yes` / `tools:no`.
    pub tools: Option<bool>,
    /// `turns:>4`, `turns:<3`, `turns:6`: (comparison, count).
    pub turns: Option<(std::cmp::Ordering, usize)>,
    /// `sort:confidence|disagreement|age|newest`: the order of the matching items.
    pub sort: Option<SortKey>,
}

/// How `sort:` orders the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortKey {
    /// Lowest top suggestion confidence first (unsuggested items last): review the
    /// uncertain ones first.
    Confidence,
    /// Items whose annotators disagree first.
    Disagreement,
    /// Oldest first (the order items were stored in).
    Age,
    Newest,
}

/// Measured accuracy of past suggestions per confidence band of width 0.1: (right, total).
pub type BandAccuracy = [(u32, u32); 10];

/// Work that update() asks the outside world to do.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    LoadItem {
        req: ReqId,
        key: String,
    },
    Save {
        req: ReqId,
        dataset: String,
        annotation: Box<Annotation>,
        undo: bool,
    },
    PlanPush {
        repo: String,
        apply: bool,
    },
    ListRuns,
    CompareRuns {
        a: String,
        b: String,
    },
    /// Ask the configured provider (with its fallback chain) for suggestions for these items.
    Suggest {
        keys: Vec<String>,
    },
    Push {
        repo: String,
        apply: bool,
    },
    /// Open a web address in the browser (an http(s) URL of the item).
    OpenUrl {
        url: String,
    },
    /// Put text on the clipboard through the terminal (OSC 52); the UI thread writes it.
    Copy {
        text: String,
    },
    Quit,
}

pub struct State {
    pub view: View,
    pub pane: Pane,
    pub overlay: Overlay,
    pub annotator: String,
    pub blind: bool,
    /// The demo: pushes are planned but never sent (its repository is made up).
    pub demo: bool,
    /// Set when reviewing the weekly accuracy sample: records carry mode sample and the week.
    pub sample_week: Option<String>,
    /// Taxonomy per dataset.
    pub taxonomies: HashMap<String, Taxonomy>,
    pub queue: Vec<Entry>,
    /// Where the rest of the queue starts (the last row read: dataset and id) while the
    /// worker reads it; `None` once the queue is whole.
    pub queue_rest: Option<(String, i64)>,
    /// Until the worker's first status arrives, disputes and suggestions are not known yet.
    pub status_pending: bool,
    /// Indices into `queue` that pass the filter, in order.
    pub visible: Vec<usize>,
    /// Position in `visible`.
    pub cursor: usize,
    pub filter: Filter,
    pub filter_text: String,
    /// Loaded items by key (the focused one and the next, kept small).
    pub loaded: HashMap<String, Loaded>,
    /// Keys being loaded, with the request id whose answer counts.
    pub loading: HashMap<String, ReqId>,
    pub draft: Draft,
    pub dim: usize,
    pub label_cursor: usize,
    pub item_scroll: u16,
    /// Long conversation turns shown whole (z); folded again on the next item.
    pub unfolded: bool,
    /// Where `o` came from: (item, filter line), newest last; Backspace goes back.
    pub history: Vec<(String, String)>,
    /// Selected similar item in the suggestion pane.
    pub similar_cursor: usize,
    pub note: TextArea<'static>,
    pub undo_stack: Vec<SaveRecord>,
    /// Visual mode: the queue position where the selection started (None: off).
    pub visual: Option<usize>,
    pub pending_saves: HashMap<ReqId, String>,
    pub message: Option<(String, Severity)>,
    pub session_started_ms: u64,
    pub saved_this_session: u32,
    /// Keys saved this session (for items revealed after a blind save).
    pub saved_keys: BTreeSet<String>,
    pub next_req: ReqId,
    /// Session clock in ms, set by the event loop before each update.
    pub now_ms: u64,
    /// Wall-clock time for record timestamps, set by the event loop.
    pub now_rfc3339: String,
    pub band_accuracy: BandAccuracy,
    pub push: PushView,
    pub runs: RunsView,
    pub help_scroll: u16,
    pub stats_scroll: u16,
    pub should_quit: bool,
    pub size: (u16, u16),
}

impl State {
    /// The queue positions the visual selection covers (empty when it is off).
    pub fn selection(&self) -> std::ops::Range<usize> {
        match self.visual {
            Some(a) if !self.visible.is_empty() => {
                let a = a.min(self.visible.len() - 1);
                a.min(self.cursor)..a.max(self.cursor) + 1
            }
            _ => 0..0,
        }
    }

    pub fn new(
        annotator: String,
        taxonomies: HashMap<String, Taxonomy>,
        queue: Vec<Entry>,
    ) -> Self {
        let visible = (0..queue.len()).collect();
        State {
            view: View::Review,
            pane: Pane::Queue,
            overlay: Overlay::None,
            annotator,
            blind: false,
            demo: false,
            sample_week: None,
            taxonomies,
            queue,
            visible,
            queue_rest: None,
            status_pending: false,
            cursor: 0,
            filter: Filter::default(),
            filter_text: String::new(),
            loaded: HashMap::new(),
            loading: HashMap::new(),
            draft: Draft::default(),
            dim: 0,
            label_cursor: 0,
            item_scroll: 0,
            unfolded: false,
            history: Vec::new(),
            similar_cursor: 0,
            note: TextArea::default(),
            undo_stack: Vec::new(),
            visual: None,
            pending_saves: HashMap::new(),
            message: None,
            session_started_ms: 0,
            saved_this_session: 0,
            saved_keys: BTreeSet::new(),
            next_req: 1,
            now_ms: 0,
            now_rfc3339: String::new(),
            band_accuracy: [(0, 0); 10],
            push: PushView::default(),
            runs: RunsView::default(),
            help_scroll: 0,
            stats_scroll: 0,
            should_quit: false,
            size: (0, 0),
        }
    }

    /// The focused entry.
    pub fn current(&self) -> Option<&Entry> {
        self.visible.get(self.cursor).and_then(|&i| self.queue.get(i))
    }

    pub fn current_mut(&mut self) -> Option<&mut Entry> {
        let i = *self.visible.get(self.cursor)?;
        self.queue.get_mut(i)
    }

    pub fn entry_mut(&mut self, key: &str) -> Option<&mut Entry> {
        self.queue.iter_mut().find(|e| e.key == key)
    }

    /// The taxonomy of the focused item.
    pub fn taxonomy(&self) -> Option<&Taxonomy> {
        self.current().and_then(|e| self.taxonomies.get(&e.dataset))
    }

    pub fn loaded_current(&self) -> Option<&Loaded> {
        self.current().and_then(|e| self.loaded.get(&e.key))
    }

    /// Whether suggestions may be shown for the focused item.
    /// Blind review (blind mode or the weekly sample): no label information from suggestions
    /// or other people is shown for an item until it is saved.
    pub fn hides_answers(&self) -> bool {
        self.view != View::Adjudicate && (self.blind || self.sample_week.is_some())
    }

    /// Whether `e`'s labels from others may be shown now.
    pub fn hides_answers_of(&self, e: &Entry) -> bool {
        self.hides_answers() && !self.saved_keys.contains(&e.key)
    }

    pub fn suggestions_visible(&self) -> bool {
        let revealed = self.current().is_some_and(|e| self.saved_keys.contains(&e.key));
        // An adjudicator weighs every answer, the suggestion included.
        self.view == View::Adjudicate || !(self.blind || self.sample_week.is_some()) || revealed
    }

    /// Items done (annotated by me) and total, over the visible queue.
    pub fn progress(&self) -> (usize, usize) {
        let done = self.visible.iter().filter(|&&i| self.queue[i].mine.is_some()).count();
        (done, self.visible.len())
    }

    /// Items saved per hour this session.
    pub fn items_per_hour(&self) -> Option<f64> {
        let ms = self.now_ms.saturating_sub(self.session_started_ms);
        (self.saved_this_session > 0 && ms > 0)
            .then(|| self.saved_this_session as f64 * 3_600_000.0 / ms as f64)
    }

    /// The key view for keymap lookups.
    pub fn key_view(&self) -> &'static str {
        match (&self.overlay, self.view) {
            (Overlay::Note, _) => "note",
            (Overlay::Help, _) => "help",
            (_, View::Stats) => "stats",
            (_, View::Adjudicate) => "adjudicate",
            (_, View::Sample) => "stats",
            (_, View::Push) => "push",
            (_, View::Runs) => "runs",
            _ => "review",
        }
    }

    /// Measured accuracy of past suggestions in the band of `confidence`.
    pub fn band(&self, confidence: f64) -> Option<f64> {
        let i = ((confidence * 10.0).floor() as usize).min(9);
        let (right, total) = self.band_accuracy[i];
        (total >= 5).then(|| right as f64 / total as f64)
    }
}
