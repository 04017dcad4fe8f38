//! Actions: everything update() reacts to. Bindable actions' snake_case names are the keymap
//! vocabulary; the rest are results of effects, tagged with the request id that asked for them.

use crate::model::Item;
use crate::store::SuggestionRow;

/// A request id; results carrying an older id than the one awaited are stale and dropped.
pub type ReqId = u64;

/// What the mouse did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MouseKind {
    Click,
    ScrollUp,
    ScrollDown,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    // ---- bindable (the keymap vocabulary) ----
    Quit,
    Help,
    Close,
    NextPane,
    PrevPane,
    MoveDown,
    MoveUp,
    PageDown,
    PageUp,
    First,
    Last,
    /// Toggle the Nth (1-based) label of the focused dimension.
    Toggle(u8),
    ToggleCurrent,
    /// Open the label picker: type to filter every dimension's labels.
    LabelPicker,
    /// Show long conversation turns whole, or folded again.
    ToggleFold,
    /// Visual mode: select several queue items to label at once.
    ToggleVisual,
    Accept,
    SaveNext,
    Skip,
    Undo,
    EditNote,
    ToggleBlind,
    Search,
    ClearFilter,
    OpenSimilar,
    /// Back to the item (and filter) before the last `o`.
    Back,
    /// Open the item's web page in the browser.
    OpenBrowser,
    /// Copy the item's URL (or key) to the clipboard.
    CopyRef,
    SuggestItem,
    SuggestQueue,
    ViewReview,
    ViewStats,
    ViewAdjudicate,
    ViewSample,
    ViewPush,
    ViewRuns,
    CompareMark,
    PushSend,
    PushMode,
    /// Adjudication: take the Nth annotator's answer (1-based) as gold.
    Pick(u8),

    // ---- input for text fields (note editor, search line) ----
    Key(crossterm::event::KeyEvent),
    /// A mouse click or wheel turn at a terminal cell.
    Mouse {
        kind: MouseKind,
        column: u16,
        row: u16,
    },
    Resize(u16, u16),
    Tick,

    // ---- effect results ----
    ItemLoaded {
        req: ReqId,
        key: String,
        item: Box<Option<Item>>,
        suggestion: Option<Box<SuggestionRow>>,
        answers: Vec<(String, Vec<String>)>,
        similar: Vec<crate::similar::SimilarItem>,
        notes: std::collections::BTreeMap<String, String>,
    },
    /// The record is in the annotations log. `behind` says why the store does not have it
    /// yet (it is replayed from the log at the next start).
    Saved {
        req: ReqId,
        key: String,
        labels: Vec<String>,
        behind: Option<String>,
        /// Whether the item's annotators now disagree (None when the store could not say).
        disputed: Option<bool>,
    },
    SaveFailed {
        req: ReqId,
        key: String,
        error: String,
    },
    Undone {
        req: ReqId,
        key: String,
        labels: Option<Vec<String>>,
        behind: Option<String>,
    },
    Failed {
        error: String,
    },
    /// Another process changed the store: the queue's status as it is now.
    StoreChanged(Box<super::refresh::StoreStatus>),
    /// The queue after its first page, with the taxonomies of its datasets, or why it could
    /// not be read (boxed: keeps Action small).
    QueueRest(Box<Result<super::QueueRest, String>>),
    /// The queue's status that needs everyone's answers or every suggestion (boxed: keeps
    /// Action small).
    SuggestionStatus(Box<super::SuggestionStatus>),
    RunsListed {
        rows: Vec<(String, String)>,
    },
    RunsCompared {
        lines: Vec<String>,
    },
    /// One item got a fresh suggestion (stored already).
    Suggested {
        key: String,
    },
    SuggestDone {
        summary: String,
    },
    PushPlanned {
        repo: String,
        text: String,
        entries: usize,
    },
    PushProgress {
        line: String,
    },
    PushDone {
        summary: String,
    },
}

/// (name, action) for every bindable action, in help-overlay order.
pub fn bindable() -> Vec<(&'static str, Action, &'static str)> {
    let mut v = vec![
        ("move_down", Action::MoveDown, "next item (or scroll / next label in a pane)"),
        ("move_up", Action::MoveUp, "previous item (or scroll / previous label)"),
        ("page_down", Action::PageDown, "page down"),
        ("page_up", Action::PageUp, "page up"),
        ("first", Action::First, "first item"),
        ("last", Action::Last, "last item"),
        ("next_pane", Action::NextPane, "next pane or dimension"),
        ("prev_pane", Action::PrevPane, "previous pane or dimension"),
    ];
    const TOGGLES: [&str; 10] = [
        "toggle_1",
        "toggle_2",
        "toggle_3",
        "toggle_4",
        "toggle_5",
        "toggle_6",
        "toggle_7",
        "toggle_8",
        "toggle_9",
        "toggle_10",
    ];
    for (i, name) in TOGGLES.iter().enumerate() {
        v.push((name, Action::Toggle(i as u8 + 1), "toggle that label of the dimension"));
    }
    const PICKS: [&str; 9] =
        ["pick_1", "pick_2", "pick_3", "pick_4", "pick_5", "pick_6", "pick_7", "pick_8", "pick_9"];
    for (i, name) in PICKS.iter().enumerate() {
        v.push((name, Action::Pick(i as u8 + 1), "adjudicate: take that annotator's answer"));
    }
    v.extend([
        ("toggle_current", Action::ToggleCurrent, "toggle the label under the cursor"),
        ("suggest_item", Action::SuggestItem, "ask the provider for a suggestion for this item"),
        (
            "suggest_queue",
            Action::SuggestQueue,
            "ask the provider for suggestions for the whole (filtered) queue",
        ),
        (
            "label_picker",
            Action::LabelPicker,
            "label picker: type to filter all labels, Enter or 1-9 toggles, Enter on empty saves",
        ),
        ("toggle_fold", Action::ToggleFold, "show long conversation turns whole, or fold them"),
        (
            "toggle_visual",
            Action::ToggleVisual,
            "visual mode: select items with j/k, Enter saves the labels for each (u undoes all)",
        ),
        ("accept", Action::Accept, "accept suggestions at or above the threshold"),
        ("save_next", Action::SaveNext, "save the annotation and go to the next item"),
        ("skip", Action::Skip, "skip to the next item without saving"),
        ("undo", Action::Undo, "undo the last save"),
        ("edit_note", Action::EditNote, "edit the note (Esc leaves the editor)"),
        ("toggle_blind", Action::ToggleBlind, "blind mode: hide suggestions until saved"),
        (
            "search",
            Action::Search,
            "filter: text, status:new|suggested|mine|disputed, label:, dataset:, repo:",
        ),
        ("clear_filter", Action::ClearFilter, "clear the filter"),
        (
            "open_similar",
            Action::OpenSimilar,
            "open the selected similar item (suggestions pane, j/k selects)",
        ),
        ("back", Action::Back, "back to the item (and filter) before the last similar item opened"),
        ("open_browser", Action::OpenBrowser, "open the item's web page in the browser"),
        ("copy_ref", Action::CopyRef, "copy the item's URL (or key) to the clipboard (OSC 52)"),
        ("view_review", Action::ViewReview, "review screen"),
        ("view_stats", Action::ViewStats, "agreement and accuracy screen"),
        (
            "view_adjudicate",
            Action::ViewAdjudicate,
            "disagreements: pick an answer or edit (saved as adjudication)",
        ),
        (
            "view_sample",
            Action::ViewSample,
            "weekly accuracy sample: progress, accuracy, trend, drift",
        ),
        (
            "view_push",
            Action::ViewPush,
            "push plans per repository (nothing is sent without a second key)",
        ),
        ("push_send", Action::PushSend, "push view: press twice to send the plan to GitHub"),
        ("view_runs", Action::ViewRuns, "suggestion runs; c on two runs compares them"),
        ("compare_mark", Action::CompareMark, "runs view: mark run A, then compare with run B"),
        ("push_mode", Action::PushMode, "push view: comment mode or apply mode"),
        ("help", Action::Help, "this help"),
        ("close", Action::Close, "close overlay / leave editor"),
        ("quit", Action::Quit, "quit"),
    ]);
    v
}

/// The action a keymap name stands for.
pub fn from_name(name: &str) -> Option<Action> {
    bindable().into_iter().find(|(n, _, _)| *n == name).map(|(_, a, _)| a)
}

/// The keymap name of a bindable action.
pub fn name_of(action: &Action) -> Option<&'static str> {
    bindable().into_iter().find(|(_, a, _)| a == action).map(|(n, _, _)| n)
}
