//! The push view: per repository, the plan `sift push` would send (like a diff), the mode,
//! and the progress of a push once sent (two presses of push_send).

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};

use super::state::State;
use super::ui::Ctx;

pub fn draw(f: &mut Frame, area: Rect, s: &State, cx: &Ctx) {
    let t = cx.theme;
    let p = &s.push;
    let mode = if p.apply { "apply: add labels" } else { "comment: recommendation comments" };
    let title = format!(" push — {mode} · m switches · P twice sends · Esc back ");
    let block = Block::default().borders(Borders::ALL).title(title).border_style(t.border(true));
    let inner = block.inner(area);
    f.render_widget(block, area);
    if p.repos.is_empty() {
        let msg = "No GitHub issues in the store: `sift pull OWNER/REPO` first.";
        f.render_widget(Paragraph::new(msg).style(t.muted()), inner);
        return;
    }
    let [left, right] =
        Layout::horizontal([Constraint::Percentage(25), Constraint::Fill(1)]).areas(inner);
    let repos: Vec<Line> = p
        .repos
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let style = if i == p.cursor { t.selection() } else { t.base() };
            Line::from(Span::styled(r.as_str(), style))
        })
        .collect();
    f.render_widget(
        Paragraph::new(repos).block(Block::default().borders(Borders::ALL).title(" repositories ")),
        left,
    );
    let [plan, log] = Layout::vertical([Constraint::Fill(2), Constraint::Fill(1)]).areas(right);
    draw_plan(f, plan, s, cx);
    let lines: Vec<Line> = p.log.iter().map(|l| Line::from(l.as_str())).collect();
    let title = if p.running { " progress (sending…) " } else { " progress " };
    f.render_widget(
        Paragraph::new(lines)
            .block(Block::default().borders(Borders::ALL).title(title))
            .wrap(Wrap { trim: true }),
        log,
    );
}

fn draw_plan(f: &mut Frame, area: Rect, s: &State, cx: &Ctx) {
    let t = cx.theme;
    let lines: Vec<Line> = match &s.push.plan {
        None => vec![Line::from(Span::styled("planning…", t.muted()))],
        Some((_, _, 0)) => {
            vec![Line::from(Span::styled("nothing to push: GitHub is up to date", t.fg("ok")))]
        }
        Some((_, text, _)) => text
            .lines()
            .map(|l| {
                let style = if l.trim_start().starts_with('+') {
                    t.fg("added")
                } else if l.trim_start().starts_with('-') {
                    t.fg("removed")
                } else {
                    t.base()
                };
                Line::from(Span::styled(l, style))
            })
            .collect(),
    };
    let n = s.push.plan.as_ref().map(|(_, _, n)| *n).unwrap_or(0);
    let armed = if s.push.armed { " — press P again to send " } else { "" };
    let block = Block::default().borders(Borders::ALL).title(format!(" plan: {n} issue(s){armed}"));
    f.render_widget(Paragraph::new(lines).block(block).wrap(Wrap { trim: false }), area);
}
