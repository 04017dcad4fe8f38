//! The adjudication view: disputed items with every annotator's answer and the suggestion
//! side by side; one key takes an answer, or edit the labels and save, as mode adjudication.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};

use super::review::{draw_annotation, draw_item, draw_queue, draw_status};
use super::state::State;
use super::ui::Ctx;

pub fn draw(f: &mut Frame, area: Rect, s: &State, cx: &Ctx) {
    let [body, status] = Layout::vertical([Constraint::Fill(1), Constraint::Length(1)]).areas(area);
    let [left, right] =
        Layout::horizontal([Constraint::Percentage(32), Constraint::Fill(1)]).areas(body);
    let [item, lower] =
        Layout::vertical([Constraint::Fill(1), Constraint::Length(16)]).areas(right);
    let [answers, labels] =
        Layout::horizontal([Constraint::Percentage(50), Constraint::Fill(1)]).areas(lower);
    draw_queue(f, left, s, cx);
    draw_item(f, item, s, cx);
    draw_answers(f, answers, s, cx);
    draw_annotation(f, labels, s, cx);
    draw_status(f, status, s, cx);
}

fn draw_answers(f: &mut Frame, area: Rect, s: &State, cx: &Ctx) {
    let t = cx.theme;
    let mut lines: Vec<Line> = Vec::new();
    match s.loaded_current() {
        // Disputes come with everyone's answers, read right after the first frame.
        None if s.current().is_none() && s.status_pending => {
            lines.push(Line::from(Span::styled("reading everyone's answers…", t.muted())));
        }
        None if s.current().is_none() => {
            lines.push(Line::from(Span::styled(
                "No disagreements left. Esc returns to review.",
                t.fg("ok"),
            )));
        }
        None => lines.push(Line::from(Span::styled("loading…", t.muted()))),
        Some(l) => {
            for (i, (who, labels)) in l.answers.iter().enumerate() {
                let key = if i < 9 { format!("{}", i + 1) } else { " ".into() };
                lines.push(Line::from(vec![
                    Span::styled(format!("{key} "), t.fg("focus_border")),
                    Span::styled(format!("{who:<12}"), t.fg("accent")),
                    Span::raw(if labels.is_empty() {
                        "(no labels)".to_string()
                    } else {
                        labels.join(", ")
                    }),
                ]));
            }
            if let Some(row) = &l.suggestion {
                let sugg: Vec<String> = row
                    .suggestion
                    .labels
                    .iter()
                    .map(|x| match x.confidence {
                        Some(c) => format!("{} {c:.2}", x.name),
                        None => x.name.clone(),
                    })
                    .collect();
                lines.push(Line::from(vec![
                    Span::styled("  suggestion  ", t.muted()),
                    Span::raw(if sugg.is_empty() { "(abstained)".into() } else { sugg.join(", ") }),
                ]));
            }
            lines.push(Line::from(""));
            lines.push(Line::from(Span::styled(
                "1-9 takes that answer · Tab to the labels, Space toggles, Enter saves · Esc back",
                t.muted(),
            )));
        }
    }
    let block =
        Block::default().borders(Borders::ALL).title(" answers ").border_style(t.border(false));
    f.render_widget(Paragraph::new(lines).block(block).wrap(Wrap { trim: true }), area);
}
