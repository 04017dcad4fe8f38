//! The review screen: queue, item, suggestions, annotation and status bar, one function each.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};

use super::action::Action;
use super::state::{Loaded, Pane, State, status_icon};
use super::ui::{Ctx, clear};
use crate::model::{Item, ItemKind};
use crate::taxonomy::Select;
use crate::text::truncate_width;

/// Where the review screen's panes are (the mouse finds them the same way).
pub struct Areas {
    pub queue: Rect,
    pub item: Rect,
    pub suggestion: Rect,
    pub annotation: Rect,
    pub status: Rect,
}

pub fn areas(area: Rect, s: &State) -> Areas {
    let [body, status] = Layout::vertical([Constraint::Fill(1), Constraint::Length(1)]).areas(area);
    let [left, right] =
        Layout::horizontal([Constraint::Percentage(32), Constraint::Fill(1)]).areas(body);
    // Not clamp: on a tiny screen half the body is under 8 rows, and clamp would panic.
    let bottom_h = annotation_height(s).min(body.height / 2).max(8.min(body.height));
    let [item, lower] =
        Layout::vertical([Constraint::Fill(1), Constraint::Length(bottom_h)]).areas(right);
    let [sugg, ann] =
        Layout::horizontal([Constraint::Percentage(50), Constraint::Fill(1)]).areas(lower);
    Areas { queue: left, item, suggestion: sugg, annotation: ann, status }
}

pub fn draw(f: &mut Frame, area: Rect, s: &State, cx: &Ctx) {
    let a = areas(area, s);
    draw_queue(f, a.queue, s, cx);
    draw_item(f, a.item, s, cx);
    draw_suggestion(f, a.suggestion, s, cx);
    draw_annotation(f, a.annotation, s, cx);
    draw_status(f, a.status, s, cx);
}

/// Sized by the taxonomy's longest dimension, not the focused one: moving between
/// dimensions must not make the layout jump.
fn annotation_height(s: &State) -> u16 {
    let n =
        s.taxonomy().and_then(|t| t.dimensions.iter().map(|d| d.labels.len()).max()).unwrap_or(3);
    n.min(u16::MAX as usize - 5) as u16 + 5
}

fn pane_block<'a>(title: String, focused: bool, cx: &Ctx) -> Block<'a> {
    Block::default()
        .borders(Borders::ALL)
        .title(title)
        .border_style(cx.theme.border(focused))
        .title_style(cx.theme.fg("title"))
}

pub(super) fn draw_queue(f: &mut Frame, area: Rect, s: &State, cx: &Ctx) {
    let t = cx.theme;
    let (done, total) = s.progress();
    let filter =
        if s.filter_text.is_empty() { String::new() } else { format!(" /{}", s.filter_text) };
    // While the worker reads the rest of the queue, the count is of the rows read so far.
    let more = if s.queue_rest.is_some() { "+ reading…" } else { "" };
    let block =
        pane_block(format!(" queue {done}/{total}{more}{filter} "), s.pane == Pane::Queue, cx);
    let inner = block.inner(area);
    f.render_widget(block, area);
    let h = inner.height as usize;
    if h == 0 {
        return;
    }
    // Virtualised: only the rows on screen are built, whatever the queue length.
    let offset = s.cursor.saturating_sub(h.saturating_sub(1));
    let width = inner.width as usize;
    let lines: Vec<Line> = s
        .visible
        .iter()
        .enumerate()
        .skip(offset)
        .take(h)
        .map(|(pos, &i)| {
            let e = &s.queue[i];
            let (icon, _) = status_icon(e, s.hides_answers_of(e));
            let key = short_key(&e.key);
            let text = truncate_width(&format!("{key} {}", e.title), width.saturating_sub(3));
            let selected = s.selection().contains(&pos);
            let style = if pos == s.cursor {
                t.selection()
            } else if selected {
                t.fg("accent").add_modifier(Modifier::REVERSED)
            } else {
                t.base()
            };
            let icon_style = if pos == s.cursor { style } else { icon_style(icon, cx) };
            let icon = if selected && pos != s.cursor { "▍" } else { icon };
            Line::from(vec![
                Span::styled(format!("{icon} "), icon_style),
                Span::styled(text, style),
            ])
        })
        .collect();
    f.render_widget(Paragraph::new(lines), inner);
}

fn icon_style(icon: &str, cx: &Ctx) -> Style {
    match icon {
        "●" => cx.theme.fg("checked"),
        "!" => cx.theme.fg("warning"),
        "↑" => cx.theme.fg("accent"),
        "◇" => cx.theme.fg("focus_border"),
        _ => cx.theme.muted(),
    }
}

/// `github:o/r#12` -> `#12`, `demo:101` -> `101`: the queue shows the part that varies.
fn short_key(key: &str) -> &str {
    if let Some(pos) = key.rfind('#') {
        return &key[pos..];
    }
    key.split_once(':').map(|(_, id)| id).unwrap_or(key)
}

pub(super) fn draw_item(f: &mut Frame, area: Rect, s: &State, cx: &Ctx) {
    let focused = s.pane == Pane::Item;
    let Some(entry) = s.current() else {
        let p = Paragraph::new("No items. Import some with `sift import FILE --dataset NAME` or `sift pull OWNER/REPO`.")
            .block(pane_block(" item ".into(), focused, cx))
            .wrap(Wrap { trim: true });
        f.render_widget(p, area);
        return;
    };
    let title = format!(" {} ", truncate_width(&entry.key, area.width.saturating_sub(4) as usize));
    let block = pane_block(title, focused, cx);
    let lines = match s.loaded.get(&entry.key) {
        Some(Loaded { item, suggestion, shape, .. }) => {
            let mut lines = item_lines(item, s.suggestions_visible(), s.unfolded, cx);
            if let Some(shape) = shape {
                // Under the title and its facts line, above the blank line before the text.
                let at = lines.iter().position(|l| l.spans.is_empty()).unwrap_or(lines.len());
                lines.insert(at, Line::from(Span::styled(shape.as_str(), cx.theme.muted())));
            }
            // The model's summary sits under the title, where suggestions may be seen.
            if let Some(sum) = suggestion
                .as_ref()
                .map(|r| r.suggestion.summary.as_str())
                .filter(|t| !t.is_empty() && s.suggestions_visible())
            {
                let text = format!("≡ {}", crate::text::one_line(sum));
                lines.insert(1, Line::from(Span::styled(text, cx.theme.fg("accent"))));
            }
            lines
        }
        None => vec![Line::from(Span::styled("loading…", cx.theme.muted()))],
    };
    let p =
        Paragraph::new(lines).block(block).wrap(Wrap { trim: false }).scroll((s.item_scroll, 0));
    f.render_widget(p, area);
}

/// The lines of an item (its text was sanitized when it was loaded).
pub fn item_lines<'a>(
    item: &'a Item,
    show_labels: bool,
    unfolded: bool,
    cx: &Ctx,
) -> Vec<Line<'a>> {
    let t = cx.theme;
    let mut lines = vec![Line::from(Span::styled(
        item.title.as_str(),
        t.fg("title").add_modifier(Modifier::BOLD),
    ))];
    let mut meta: Vec<String> = Vec::new();
    if let Some(r) = &item.repo {
        meta.push(r.clone());
    }
    for v in [&item.state, &item.author, &item.created_at].into_iter().flatten() {
        meta.push(v.clone());
    }
    if !meta.is_empty() {
        lines.push(Line::from(Span::styled(meta.join(" · "), t.muted())));
    }
    // Labels people set on GitHub are others' answers: hidden in blind review until saved.
    if !item.source_labels.is_empty() && show_labels {
        lines.push(Line::from(Span::styled(
            format!("labels at source: {}", item.source_labels.join(", ")),
            t.muted(),
        )));
    }
    lines.push(Line::from(""));
    match item.kind() {
        ItemKind::Issue => {
            markdown_lines(&item.body, cx, &mut lines);
            for c in &item.comments {
                lines.push(Line::from(""));
                let who = format!(
                    "— {} ({}) {}",
                    c.author,
                    c.author_association.to_lowercase(),
                    c.created_at
                );
                lines.push(Line::from(Span::styled(who, t.fg("accent"))));
                markdown_lines(&c.body, cx, &mut lines);
            }
        }
        ItemKind::Conversation => conversation_lines(item, unfolded, cx, &mut lines),
    }
    lines
}

/// Body text as markdown (super::markdown): headings, bullets, fenced code set apart by a bar
/// in the code colours, aligned tables; issue-template comments hidden.
fn markdown_lines<'a>(text: &'a str, cx: &Ctx, out: &mut Vec<Line<'a>>) {
    use super::markdown::Md;
    let t = cx.theme;
    let code = t.fg("code").bg(t.color("code_bg"));
    for md in super::markdown::render(text) {
        out.push(match md {
            Md::Text(l) => Line::from(l),
            Md::Heading(h) => {
                Line::from(Span::styled(h, t.fg("accent").add_modifier(Modifier::BOLD)))
            }
            Md::Item(l) => Line::from(l),
            Md::Code(l) => Line::from(vec![Span::styled("│ ", t.muted()), Span::styled(l, code)]),
            Md::Fence(info) => Line::from(Span::styled(format!("╭─ {info}"), t.muted())),
            Md::FenceEnd => Line::from(Span::styled("╰─", t.muted())),
            Md::Table(l) => Line::from(Span::styled(l, t.base())),
            Md::Rule => Line::from(Span::styled("────────", t.muted())),
        });
    }
}

/// Turns longer than this many lines are folded (z shows them whole).
pub const FOLD_LINES: usize = 14;

/// Lines kept of a folded turn.
const FOLDED_KEEP: usize = 8;

fn conversation_lines<'a>(item: &'a Item, unfolded: bool, cx: &Ctx, out: &mut Vec<Line<'a>>) {
    for turn in &item.turns {
        let role_style = cx.theme.fg(role_color(&turn.role)).add_modifier(Modifier::BOLD);
        out.push(Line::from(Span::styled(format!("▌{}", turn.role), role_style)));
        let mut body = Vec::new();
        markdown_lines(&turn.content, cx, &mut body);
        for call in &turn.tool_calls {
            tool_call_lines(&call.name, &call.arguments, cx, &mut body);
        }
        if !unfolded && body.len() > FOLD_LINES {
            let hidden = body.len() - FOLDED_KEEP;
            body.truncate(FOLDED_KEEP);
            let note = format!("… {hidden} more lines (z shows the whole conversation)");
            body.push(Line::from(Span::styled(note, cx.theme.muted())));
        }
        out.extend(body);
        out.push(Line::from(""));
    }
}

/// A tool call: its name, then its arguments as indented JSON when they are JSON.
fn tool_call_lines(name: &str, arguments: &str, cx: &Ctx, out: &mut Vec<Line<'_>>) {
    let style = cx.theme.fg("role_tool");
    let pretty = serde_json::from_str::<serde_json::Value>(arguments)
        .ok()
        .filter(|v| v.is_object() || v.is_array())
        .and_then(|v| serde_json::to_string_pretty(&v).ok());
    match pretty {
        Some(p) => {
            out.push(Line::from(Span::styled(format!("⚙ {name}("), style)));
            for l in p.lines() {
                out.push(Line::from(Span::styled(format!("    {l}"), style)));
            }
            out.push(Line::from(Span::styled(")", style)));
        }
        None => out.push(Line::from(Span::styled(format!("⚙ {name}({arguments})"), style))),
    }
}

fn role_color(role: &str) -> &'static str {
    match role {
        "system" => "role_system",
        "user" => "role_user",
        "assistant" => "role_assistant",
        _ => "role_tool",
    }
}

fn draw_suggestion(f: &mut Frame, area: Rect, s: &State, cx: &Ctx) {
    let t = cx.theme;
    let block = pane_block(" suggestions ".into(), s.pane == Pane::Suggestion, cx);
    let mut lines: Vec<Line> = Vec::new();
    if !s.suggestions_visible() {
        lines
            .push(Line::from(Span::styled("hidden (blind mode) — shown once you save", t.muted())));
    } else if let Some(row) = s.loaded_current().and_then(|l| l.suggestion.as_ref()) {
        let sg = &row.suggestion;
        if sg.abstained || sg.labels.is_empty() {
            let min = s.taxonomy().map(|t| t.min_confidence).unwrap_or(0.6);
            lines.push(Line::from(Span::styled(
                format!("abstained: no label reached {min:.2}"),
                t.muted(),
            )));
        }
        let name_w = sg.labels.iter().map(|l| l.name.chars().count()).max().unwrap_or(4) + 1;
        // Number and band accuracy always fit; the bar takes what is left (4 to 10 cells).
        let bar_w = (area.width as usize).saturating_sub(name_w + 2 + 5 + 13).clamp(4, 10);
        for l in &sg.labels {
            lines.push(suggestion_line(&l.name, l.confidence, (name_w, bar_w), s, cx));
        }
        lines.push(Line::from(Span::styled(
            format!("{} · {} · {}", row.provider, row.model, row.prompt_version),
            t.muted(),
        )));
        if !sg.rationale.is_empty() {
            lines.push(Line::from(sg.rationale.as_str()));
        }
        // Broken consistency rules sit right under the labels they concern.
        for v in &sg.violations {
            let text = format!("⚠ {}", crate::text::one_line(v));
            lines.push(Line::from(Span::styled(text, t.fg("warning"))));
        }
    } else if s.loaded_current().is_some() {
        lines.push(Line::from(Span::styled("no suggestion yet (sift suggest)", t.muted())));
    }
    similar_lines(s, cx, &mut lines);
    f.render_widget(Paragraph::new(lines).block(block).wrap(Wrap { trim: true }), area);
}

/// "Seen before?": the most similar items with what was decided for them.
fn similar_lines<'a>(s: &'a State, cx: &Ctx, lines: &mut Vec<Line<'a>>) {
    let Some(l) = s.loaded_current().filter(|l| !l.similar.is_empty()) else { return };
    let t = cx.theme;
    // The neighbours' labels are other people's answers: not shown in blind review.
    let show = s.suggestions_visible();
    let head = if show { "similar (o opens):" } else { "similar (o opens; labels hidden):" };
    lines.push(Line::from(Span::styled(head, t.fg("accent"))));
    for (i, x) in l.similar.iter().enumerate() {
        let selected = s.pane == Pane::Suggestion && i == s.similar_cursor;
        let style = if selected { t.selection() } else { t.base() };
        let mut spans = vec![
            Span::styled(format!("{:>3.0}% ", x.overlap * 100.0), t.muted()),
            Span::styled(format!("{} ", short_key(&x.key)), style),
        ];
        if show {
            let labels = if x.labels.is_empty() { "–".to_string() } else { x.labels.join(",") };
            spans.push(Span::styled(format!("[{labels}] "), t.fg("checked")));
        }
        spans.push(Span::styled(x.title.as_str(), t.muted()));
        lines.push(Line::from(spans));
    }
}

/// "bug  ▰▰▰▰▰▰▰▰▱▱ 0.82 · 61% right": the number, a bar, and how often suggestions in this
/// confidence band turned out right so far (only once there is enough history).
fn suggestion_line<'a>(
    name: &'a str,
    conf: Option<f64>,
    (name_w, bar_w): (usize, usize),
    s: &State,
    cx: &Ctx,
) -> Line<'a> {
    let Some(c) = conf else {
        return Line::from(vec![
            Span::styled(format!("{name:<name_w$}"), cx.theme.base()),
            Span::raw(" (no confidence)"),
        ]);
    };
    let filled = ((c * bar_w as f64).round() as usize).min(bar_w);
    let bar = format!("{}{}", "▰".repeat(filled), "▱".repeat(bar_w - filled));
    let mut spans = vec![
        Span::styled(format!("{name:<name_w$}"), cx.theme.base()),
        Span::styled(bar, cx.theme.confidence(c)),
        Span::styled(format!(" {c:.2}"), cx.theme.confidence(c)),
    ];
    if let Some(acc) = s.band(c) {
        spans.push(Span::styled(format!(" · {:.0}% right", acc * 100.0), cx.theme.muted()));
    }
    Line::from(spans)
}

pub(super) fn draw_annotation(f: &mut Frame, area: Rect, s: &State, cx: &Ctx) {
    let t = cx.theme;
    let focused = s.pane == Pane::Annotation;
    let Some(tax) = s.taxonomy() else {
        f.render_widget(pane_block(" labels ".into(), focused, cx), area);
        return;
    };
    let Some(dim) = tax.dimensions.get(s.dim) else { return };
    let select = if dim.select == Select::One { "one" } else { "many" };
    let title = if tax.dimensions.len() > 1 {
        format!(" {} ({select}) {}/{} — Tab ", dim.name, s.dim + 1, tax.dimensions.len())
    } else {
        format!(" labels ({select}, max {}) ", tax.max_labels)
    };
    let mut lines: Vec<Line> = Vec::new();
    let labels: Vec<_> = dim.labels.iter().filter(|l| !l.deprecated).collect();
    let extra = usize::from(s.draft.labels.iter().any(|l| !labels.iter().any(|x| &x.name == l)))
        + usize::from(!s.note.lines().join(" ").trim().is_empty());
    let rows = (area.height.saturating_sub(2) as usize).saturating_sub(extra).max(1);
    let (first, last) = label_window(labels.len(), rows, s.label_cursor);
    if first > 0 {
        lines.push(Line::from(Span::styled(format!("  ↑ {first} more"), t.muted())));
    }
    for (i, l) in labels.iter().enumerate().take(last).skip(first) {
        let on = s.draft.labels.contains(&l.name);
        // In the adjudication view digits pick answers, so label hotkeys are not shown.
        let digits = s.view == super::state::View::Review;
        let hotkey = match i {
            _ if !digits => " ".into(),
            0..=8 => format!("{}", i + 1),
            9 => "0".into(),
            _ => " ".into(),
        };
        let mark = if on { "[x]" } else { "[ ]" };
        let mut style = if on { t.fg("checked").add_modifier(Modifier::BOLD) } else { t.base() };
        if focused && i == s.label_cursor {
            style = t.selection();
        }
        lines.push(Line::from(vec![
            Span::styled(format!("{hotkey} "), t.muted()),
            Span::styled(format!("{mark} {}", l.name), style),
        ]));
    }
    if last < labels.len() {
        let more = labels.len() - last;
        lines.push(Line::from(Span::styled(
            format!("  ↓ {more} more (l finds any label)"),
            t.muted(),
        )));
    }
    let others: Vec<String> = tax
        .dimensions
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != s.dim)
        .filter_map(|(_, d)| {
            let chosen: Vec<&str> = d
                .labels
                .iter()
                .filter(|l| s.draft.labels.contains(&l.name))
                .map(|l| l.name.as_str())
                .collect();
            (!chosen.is_empty()).then(|| format!("{}: {}", d.name, chosen.join(",")))
        })
        .collect();
    if !others.is_empty() {
        lines.push(Line::from(Span::styled(others.join(" · "), t.muted())));
    }
    let note = s.note.lines().join(" ");
    if !note.trim().is_empty() {
        lines.push(Line::from(Span::styled(format!("note: {}", note.trim()), t.muted())));
    }
    f.render_widget(Paragraph::new(lines).block(pane_block(title, focused, cx)), area);
}

/// The labels shown in `rows` lines around the cursor: (first, end). A list that does not fit
/// gives a line to each `↑ more` / `↓ more` marker it needs; the cursor is always shown.
pub fn label_window(n: usize, rows: usize, cursor: usize) -> (usize, usize) {
    if n <= rows {
        return (0, n);
    }
    let cursor = cursor.min(n - 1);
    if rows < 3 {
        return (cursor, cursor + 1);
    }
    // At either end one marker is needed; in between, two.
    if cursor < rows - 1 {
        return (0, rows - 1);
    }
    if cursor >= n - (rows - 1) {
        return (n - (rows - 1), n);
    }
    let k = rows - 2;
    let first = cursor.saturating_sub(k / 2).clamp(1, n - 1 - k);
    (first, first + k)
}

pub(super) fn draw_status(f: &mut Frame, area: Rect, s: &State, cx: &Ctx) {
    let t = cx.theme;
    let mut mode = match (&s.sample_week, s.blind) {
        (Some(w), _) => format!("sample {w}"),
        (None, true) => "blind".to_string(),
        (None, false) => "assisted".to_string(),
    };
    if s.visual.is_some() {
        mode = format!("VISUAL {} · {mode}", s.selection().count());
    }
    let (done, total) = s.progress();
    let rate = s.items_per_hour().map(|r| format!("{r:.0}/h")).unwrap_or_else(|| "–/h".into());
    let hints = hint_text(cx);
    let more = if s.queue_rest.is_some() { "+" } else { "" };
    let left = format!(" {} · {mode} · {done}/{total}{more} · {rate} ", s.annotator);
    let msg = s.message.as_ref().map(|(m, _)| m.as_str()).unwrap_or("");
    let msg_style = match s.message.as_ref().map(|(_, sev)| *sev) {
        Some(super::state::Severity::Error) => t.fg("error").add_modifier(Modifier::BOLD),
        Some(super::state::Severity::Ok) => t.fg("ok"),
        _ => t.status_bar(),
    };
    let width = area.width as usize;
    // A message outranks the key hints, and then the counts: it is what just happened.
    let msg_w = unicode_width::UnicodeWidthStr::width(msg);
    let fits = |parts: usize| width >= parts + msg_w + 2;
    let left_w = unicode_width::UnicodeWidthStr::width(left.as_str());
    let hints_w = unicode_width::UnicodeWidthStr::width(hints.as_str());
    let (left, hints) = if msg.is_empty() || fits(left_w + hints_w) {
        (left, hints)
    } else if fits(left_w) {
        (left, String::new())
    } else {
        (format!(" {} ", s.annotator), String::new())
    };
    let used = unicode_width::UnicodeWidthStr::width(left.as_str())
        + unicode_width::UnicodeWidthStr::width(hints.as_str());
    let room = width.saturating_sub(used + 2);
    let shown = truncate_width(msg, room);
    let pad = room.saturating_sub(unicode_width::UnicodeWidthStr::width(shown.as_str()));
    let line = Line::from(vec![
        Span::styled(left, t.status_bar().add_modifier(Modifier::BOLD)),
        Span::styled(format!(" {shown}{}", " ".repeat(pad)), msg_style),
        Span::styled(format!("{hints} "), t.status_bar()),
    ]);
    f.render_widget(Paragraph::new(line).style(t.status_bar()), area);
}

/// Key hints drawn from the keymap, so rebinding shows up here too.
fn hint_text(cx: &Ctx) -> String {
    [
        (Action::SaveNext, "save"),
        (Action::Accept, "accept"),
        (Action::Undo, "undo"),
        (Action::Help, "help"),
    ]
    .iter()
    .filter_map(|(a, label)| {
        cx.keymap.keys_for("review", a).first().map(|k| format!("{k} {label}"))
    })
    .collect::<Vec<_>>()
    .join(" · ")
}

pub fn draw_note(f: &mut Frame, area: Rect, s: &State, cx: &Ctx) {
    clear(f, area);
    let mut editor = s.note.clone();
    editor.set_block(
        Block::default()
            .borders(Borders::ALL)
            .title(" note — Esc to finish (label keys are off while typing) ")
            .border_style(cx.theme.border(true)),
    );
    editor.set_style(cx.theme.base());
    f.render_widget(&editor, area);
}

pub fn draw_search(f: &mut Frame, area: Rect, line: &str, cx: &Ctx) {
    let r = Rect { x: area.x, y: area.bottom().saturating_sub(1), width: area.width, height: 1 };
    clear(f, r);
    let text = format!(
        "/{line}▏  (status:new|suggested|mine|disputed|pushed label: dataset: repo: sort:confidence|disagreement|age text — Enter applies, Esc cancels)"
    );
    f.render_widget(Paragraph::new(text).style(cx.theme.status_bar()), r);
}

/// The label picker: the query, then the matching labels of every dimension (checked when in
/// the draft), the highlighted one marked, the first nine numbered; a window that follows the
/// highlight.
pub fn draw_picker(f: &mut Frame, area: Rect, s: &State, p: &super::state::Picker, cx: &Ctx) {
    let t = cx.theme;
    clear(f, area);
    let block = Block::default()
        .borders(Borders::ALL)
        .title(" labels — type to filter · Enter/1-9 toggle · Enter on empty saves · Esc ")
        .border_style(t.border(true));
    let inner = block.inner(area);
    f.render_widget(block, area);
    let matches = super::update::picker_matches(s, &p.query);
    let rows = (inner.height as usize).saturating_sub(1);
    let first = p.cursor.saturating_sub(rows.saturating_sub(1));
    let mut lines = vec![Line::from(vec![
        Span::styled("> ", t.fg("accent")),
        Span::styled(crate::text::sanitize(&p.query), t.base()),
        Span::styled("▏", t.fg("accent")),
        Span::styled(format!("  {} of the labels", matches.len()), t.muted()),
    ])];
    for (i, m) in matches.iter().enumerate().skip(first).take(rows) {
        let num = if i < 9 && !p.query.is_empty() { format!("{} ", i + 1) } else { "  ".into() };
        let checked = if s.draft.labels.contains(&m.label) { "[x] " } else { "[ ] " };
        let style = if i == p.cursor { t.selection() } else { t.base() };
        let width = inner.width as usize;
        let label = truncate_width(&m.label, width.saturating_sub(8 + m.dimension.len() + 2));
        lines.push(Line::from(vec![
            Span::styled(num, t.muted()),
            Span::styled(checked, style),
            Span::styled(label, style),
            Span::styled(format!("  {}", m.dimension), t.muted()),
        ]));
    }
    f.render_widget(Paragraph::new(lines), inner);
}
