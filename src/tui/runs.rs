//! The runs view: suggestion runs newest first; `c` on two runs shows their comparison
//! (flipped items, kappa per label, F1 against gold, the prompt diff).

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};

use super::state::State;
use super::ui::Ctx;

pub fn draw(f: &mut Frame, area: Rect, s: &State, cx: &Ctx) {
    let t = cx.theme;
    let block = Block::default()
        .borders(Borders::ALL)
        .title(" runs — c marks A, c on another compares · Esc back ")
        .border_style(t.border(true));
    let inner = block.inner(area);
    f.render_widget(block, area);
    let [list, cmp] =
        Layout::vertical([Constraint::Percentage(40), Constraint::Fill(1)]).areas(inner);
    let rows: Vec<Line> = s
        .runs
        .rows
        .iter()
        .enumerate()
        .map(|(i, (id, line))| {
            let mark = if s.runs.marked.as_deref() == Some(id.as_str()) { "A " } else { "  " };
            let style = if i == s.runs.cursor { t.selection() } else { t.base() };
            Line::from(vec![Span::styled(mark, t.fg("accent")), Span::styled(line.as_str(), style)])
        })
        .collect();
    let empty = rows.is_empty();
    let list_widget = if empty {
        Paragraph::new("No runs yet: `sift suggest`, or S / Ctrl-A in the review screen.")
            .style(t.muted())
    } else {
        Paragraph::new(rows)
    };
    f.render_widget(
        list_widget.block(Block::default().borders(Borders::ALL).title(" runs ")),
        list,
    );
    let lines: Vec<Line> = s
        .runs
        .comparison
        .iter()
        .map(|l| {
            let style = if l.starts_with('+') && !l.starts_with("+++") {
                t.fg("added")
            } else if l.starts_with('-') && !l.starts_with("---") {
                t.fg("removed")
            } else {
                t.base()
            };
            Line::from(Span::styled(l.as_str(), style))
        })
        .collect();
    let p = Paragraph::new(lines)
        .block(Block::default().borders(Borders::ALL).title(" comparison "))
        .wrap(Wrap { trim: false });
    f.render_widget(p, cmp);
}
