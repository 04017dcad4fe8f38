//! The `?` overlay: every binding, read from the keymap itself.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};

use super::action::bindable;
use super::state::{State, status_icon};
use super::ui::{Ctx, clear};

pub fn draw(f: &mut Frame, area: Rect, s: &State, cx: &Ctx) {
    clear(f, area);
    let t = cx.theme;
    let mut lines = vec![
        Line::from(Span::styled("sift — keys (from your keymap)", t.fg("title"))),
        Line::from(Span::styled(
            "Label with 1-9/0, Enter saves and moves on; a accepts suggestions; u undoes.",
            t.muted(),
        )),
        Line::from(""),
    ];
    let described: Vec<(&str, &str)> = bindable().into_iter().map(|(n, _, d)| (n, d)).collect();
    // The screen under the overlay, not the overlay's own section.
    let base = match s.view {
        super::state::View::Stats | super::state::View::Sample => "stats",
        super::state::View::Adjudicate => "adjudicate",
        super::state::View::Push => "push",
        super::state::View::Runs => "runs",
        super::state::View::Review => "review",
    };
    // Descriptions wrap inside their own column; too narrow a screen puts them under the key.
    let inner = area.width.saturating_sub(2) as usize;
    let (desc_at, desc_w) = if inner >= KEY_W + NAME_W + 20 {
        (KEY_W + NAME_W, inner - KEY_W - NAME_W)
    } else {
        (4, inner.saturating_sub(4).max(10))
    };
    for view in ["global", base, "note", "help"] {
        lines.push(Line::from(Span::styled(format!("[{view}]"), t.fg("accent"))));
        for (keys, name) in cx.keymap.listing(view) {
            let desc = described.iter().find(|(n, _)| *n == name).map(|(_, d)| *d).unwrap_or("");
            let wrapped = wrap_words(desc, desc_w);
            let mut first = vec![
                Span::styled(format!("  {keys:<18}"), t.fg("focus_border")),
                Span::styled(format!("{name:<16}"), t.base()),
            ];
            let mut rest = wrapped.iter();
            if desc_at > 4
                && let Some(l) = rest.next()
            {
                first.push(Span::styled(l.clone(), t.muted()));
            }
            lines.push(Line::from(first));
            for l in rest {
                let pad = " ".repeat(desc_at);
                lines.push(Line::from(Span::styled(format!("{pad}{l}"), t.muted())));
            }
        }
    }
    lines.push(Line::from(""));
    lines.push(Line::from(Span::styled("Queue icons", t.fg("accent"))));
    for (icon, what) in icons() {
        lines.push(Line::from(format!("  {icon}  {what}")));
    }
    let p = Paragraph::new(lines)
        .block(
            Block::default()
                .borders(Borders::ALL)
                .title(" help — Esc closes ")
                .border_style(t.border(true)),
        )
        .style(t.base())
        .wrap(Wrap { trim: false })
        .scroll((s.help_scroll, 0));
    f.render_widget(p, area);
}

/// Widths of the key and action columns.
const KEY_W: usize = 20;
const NAME_W: usize = 16;

/// Words laid into lines of at most `width` columns (a longer word gets a line of its own).
pub fn wrap_words(text: &str, width: usize) -> Vec<String> {
    use unicode_width::UnicodeWidthStr;
    let mut lines: Vec<String> = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        let needed = line.width() + usize::from(!line.is_empty()) + word.width();
        if !line.is_empty() && needed > width {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

fn icons() -> Vec<(&'static str, &'static str)> {
    use super::state::Entry;
    use crate::model::ItemKind;
    let base = Entry {
        key: String::new(),
        dataset: String::new(),
        kind: ItemKind::Issue,
        title: String::new(),
        repo: None,
        suggested: false,
        suggested_labels: vec![],
        mine: None,
        disputed: false,
        pushed: false,
        saving: false,
        signals: Default::default(),
        inconsistent: false,
        confidence: None,
        created: None,
    };
    let variants = [
        base.clone(),
        Entry { suggested: true, ..base.clone() },
        Entry { mine: Some(vec![]), ..base.clone() },
        Entry { disputed: true, ..base.clone() },
        Entry { pushed: true, ..base.clone() },
        Entry { saving: true, ..base },
    ];
    variants.iter().map(|e| status_icon(e, false)).collect()
}
