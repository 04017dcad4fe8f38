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
    for view in ["global", base, "note", "help"] {
        lines.push(Line::from(Span::styled(format!("[{view}]"), t.fg("accent"))));
        for (keys, name) in cx.keymap.listing(view) {
            let desc = described.iter().find(|(n, _)| *n == name).map(|(_, d)| *d).unwrap_or("");
            lines.push(Line::from(vec![
                Span::styled(format!("  {keys:<18}"), t.fg("focus_border")),
                Span::styled(format!("{name:<16}"), t.base()),
                Span::styled(desc.to_string(), t.muted()),
            ]));
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
