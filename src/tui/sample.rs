//! The sample view: this week's progress on the accuracy sample, accuracy with its interval,
//! the trend over recent weeks, drift flags, and this week's suggested labels against the
//! baseline.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Gauge, Paragraph, Sparkline};

use super::ui::Ctx;
use crate::dataset::sample::WeekReport;

/// Weeks shown in the trend, ending with the last complete week.
pub const TREND_WEEKS: usize = 8;

pub fn draw(f: &mut Frame, area: Rect, cx: &Ctx) {
    let t = cx.theme;
    let block = Block::default()
        .borders(Borders::ALL)
        .title(" weekly accuracy sample — `sift sample --review` labels it · Esc back ")
        .border_style(t.border(true));
    let inner = block.inner(area);
    f.render_widget(block, area);
    let Some(weeks) = cx.sample.filter(|w| !w.is_empty()) else {
        f.render_widget(Paragraph::new("computing…").style(t.muted()), inner);
        return;
    };
    let Some(last) = weeks.last() else { return };
    let [head, gauge, trend, dist] = Layout::vertical([
        Constraint::Length(3),
        Constraint::Length(3),
        Constraint::Length(7),
        Constraint::Fill(1),
    ])
    .areas(inner);
    draw_head(f, head, last, cx);
    draw_progress(f, gauge, last, cx);
    draw_trend(f, trend, weeks, cx);
    // Overrides sit beside the label bars when sift applied labels that week.
    if last.overrides.is_empty() {
        draw_distribution(f, dist, last, cx);
    } else {
        let [bars, over] =
            Layout::horizontal([Constraint::Fill(3), Constraint::Fill(2)]).areas(dist);
        draw_distribution(f, bars, last, cx);
        draw_overrides(f, over, last, cx);
    }
}

/// Per label: what sift applied this week and how often humans took it off or added to it.
fn draw_overrides(f: &mut Frame, area: Rect, w: &WeekReport, cx: &Ctx) {
    let t = cx.theme;
    let mut lines = vec![Line::from(Span::styled(
        format!("{:<14}{:>8}{:>8}{:>7}", "label", "applied", "removed", "added"),
        t.fg("title"),
    ))];
    for (label, o) in &w.overrides {
        let style = if o.rate.is_some_and(|r| r > 0.2) { t.fg("warning") } else { t.base() };
        lines.push(Line::from(Span::styled(
            format!(
                "{:<14}{:>8}{:>5} {:>3}{:>6}",
                crate::text::truncate_width(label, 13),
                o.applied,
                o.removed,
                pct(o.rate),
                o.added
            ),
            style,
        )));
    }
    let p = Paragraph::new(lines)
        .block(Block::default().borders(Borders::ALL).title(" overridden on GitHub "));
    f.render_widget(p, area);
}

fn pct(x: Option<f64>) -> String {
    x.map(|v| format!("{:.0}%", v * 100.0)).unwrap_or_else(|| "–".into())
}

fn draw_head(f: &mut Frame, area: Rect, w: &WeekReport, cx: &Ctx) {
    let t = cx.theme;
    let ci = w
        .ci95
        .map(|[lo, hi]| format!("[{:.0}%, {:.0}%]", lo * 100.0, hi * 100.0))
        .unwrap_or_default();
    let flags = if w.flags.is_empty() { "no flags".to_string() } else { w.flags.join(", ") };
    let flag_style = if w.flags.is_empty() { t.fg("ok") } else { t.fg("warning") };
    let lines = vec![
        Line::from(vec![
            Span::styled(format!("{}  ", w.week), t.fg("title")),
            Span::raw(format!("accuracy {} {ci} (95% Wilson)  ", pct(w.accuracy))),
            Span::styled(flags, flag_style),
        ]),
        Line::from(Span::styled(
            format!(
                "drift: PSI {}  chi-square p {}",
                w.psi.map(|v| format!("{v:.3}")).unwrap_or_else(|| "–".into()),
                w.chi2_p.map(|v| format!("{v:.3}")).unwrap_or_else(|| "–".into())
            ),
            t.muted(),
        )),
    ];
    f.render_widget(Paragraph::new(lines), area);
}

fn draw_progress(f: &mut Frame, area: Rect, w: &WeekReport, cx: &Ctx) {
    let ratio = if w.size == 0 { 0.0 } else { (w.reviewed as f64 / w.size as f64).min(1.0) };
    let g = Gauge::default()
        .block(Block::default().borders(Borders::ALL).title(" reviewed "))
        .gauge_style(cx.theme.fg("accent"))
        .ratio(ratio)
        .label(format!("{}/{}", w.reviewed, w.size));
    f.render_widget(g, area);
}

fn draw_trend(f: &mut Frame, area: Rect, weeks: &[WeekReport], cx: &Ctx) {
    // Weeks with no reviewed sample have no accuracy; they show as empty bars.
    let data: Vec<u64> =
        weeks.iter().map(|w| w.accuracy.map(|a| (a * 100.0).round() as u64).unwrap_or(0)).collect();
    let first = weeks.first().map(|w| w.week.as_str()).unwrap_or("");
    let last = weeks.last().map(|w| w.week.as_str()).unwrap_or("");
    let title = format!(
        " accuracy trend {first} … {last}: {} ",
        weeks.iter().map(|w| pct(w.accuracy)).collect::<Vec<_>>().join(" ")
    );
    let s = Sparkline::default()
        .block(Block::default().borders(Borders::ALL).title(title))
        .data(&data)
        .max(100)
        .style(cx.theme.fg("confidence_high"));
    f.render_widget(s, area);
}

fn draw_distribution(f: &mut Frame, area: Rect, w: &WeekReport, cx: &Ctx) {
    let t = cx.theme;
    let this_total: u64 = w.distribution.values().map(|(a, _)| a).sum::<u64>().max(1);
    let base_total: u64 = w.distribution.values().map(|(_, b)| b).sum::<u64>().max(1);
    let width = (area.width as usize).saturating_sub(40).max(4) / 2;
    let bar = |share: f64| "█".repeat((share * width as f64).round() as usize);
    let mut lines = vec![Line::from(Span::styled(
        format!("{:<16}{:<w$}  baseline (previous 4 weeks)", "label", "this week", w = width + 8),
        t.fg("title"),
    ))];
    for (label, (now, base)) in &w.distribution {
        let a = *now as f64 / this_total as f64;
        let b = *base as f64 / base_total as f64;
        lines.push(Line::from(vec![
            Span::styled(format!("{:<16}", crate::text::truncate_width(label, 15)), t.base()),
            Span::styled(format!("{:<w$}", bar(a), w = width), t.fg("accent")),
            Span::raw(format!(" {:>4.0}%  ", a * 100.0)),
            Span::styled(format!("{:<w$}", bar(b), w = width), t.muted()),
            Span::raw(format!(" {:>4.0}%", b * 100.0)),
        ]));
    }
    let p = Paragraph::new(lines)
        .block(Block::default().borders(Borders::ALL).title(" suggested labels "));
    f.render_widget(p, area);
}
