//! The stats screen: agreement by Landis & Koch band, per-label F1 bars, the reliability
//! diagram, the label distribution and per-annotator throughput and acceptance.

use std::collections::HashMap;

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};

use super::state::State;
use super::ui::Ctx;
use crate::metrics::agreement::{self, SetRecord};
use crate::metrics::evaluation::{self, EvalItem};
use crate::model::Mode;
use crate::store::{Store, StoreError};
use crate::taxonomy::{Select, Taxonomy};

/// One agreement row.
#[derive(Debug, Clone, PartialEq)]
pub struct AgreementRow {
    pub name: String,
    /// Items answered by two or more annotators: what agreement and alpha are computed over.
    pub items: usize,
    pub percent: Option<f64>,
    pub kappa: Option<f64>,
    pub alpha: Option<f64>,
}

/// Everything the stats screen shows, computed off the UI path.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct StatsView {
    pub dataset: String,
    pub annotators: Vec<String>,
    pub agreement: Vec<AgreementRow>,
    pub f1: Vec<(String, Option<f64>)>,
    pub reliability: Vec<(f64, Option<f64>, u64)>,
    pub ece: Option<f64>,
    pub distribution: Vec<(String, usize)>,
    /// Throughput and acceptance per annotator: the same figures as `sift stats`.
    pub people: Vec<crate::dataset::stats::AnnotatorStats>,
}

impl StatsView {
    /// Compute the screen's data for one dataset.
    pub fn compute(store: &Store, tax: &Taxonomy, dataset: &str) -> Result<Self, StoreError> {
        let answers = store.latest_answers(Some(dataset))?;
        let records: Vec<SetRecord> = answers
            .iter()
            .filter(|a| a.annotation.mode != Mode::Adjudication)
            .map(|a| {
                (
                    a.annotation.item.clone(),
                    a.annotation.annotator.clone(),
                    a.annotation.labels.clone(),
                )
            })
            .collect();
        let mut annotators: Vec<String> = records.iter().map(|r| r.1.clone()).collect();
        annotators.sort();
        annotators.dedup();
        let gold = crate::metrics::gold::gold_labels_from_store(store, Some(dataset))?;
        let mut view = StatsView { dataset: dataset.to_string(), annotators, ..Default::default() };
        view.agreement = agreement_rows(store, tax, dataset)?;
        view.distribution = distribution(tax, &gold);
        fill_accuracy(&mut view, store, tax, &gold)?;
        let records = store.annotation_records(Some(dataset))?;
        view.people = crate::dataset::stats::annotator_stats(&records);
        Ok(view)
    }
}

/// Agreement rows in taxonomy order, from the shared statistics (`sift stats` computes the same).
fn agreement_rows(
    store: &Store,
    tax: &Taxonomy,
    dataset: &str,
) -> Result<Vec<AgreementRow>, StoreError> {
    let stats = crate::dataset::stats::agreement_stats_from_store(
        store,
        &[dataset.to_string()],
        tax,
        None,
        false,
        None,
    )?;
    let row = |name: String, r: &agreement::AgreementReport| AgreementRow {
        name,
        items: r.pairable_items,
        percent: r.percent_agreement,
        kappa: r.fleiss_kappa,
        alpha: r.krippendorff_alpha,
    };
    let mut rows = Vec::new();
    for d in &tax.dimensions {
        if let Some(r) = stats.dimensions.get(&d.name) {
            let kind = if d.select == Select::One { "one" } else { "set" };
            rows.push(row(format!("{} ({kind})", d.name), r));
        }
    }
    for name in tax.label_names() {
        if let Some(r) = stats.labels.get(&name) {
            rows.push(row(name, r));
        }
    }
    Ok(rows)
}

fn distribution(tax: &Taxonomy, gold: &HashMap<String, Vec<String>>) -> Vec<(String, usize)> {
    tax.label_names()
        .into_iter()
        .map(|n| {
            let c = gold.values().filter(|g| g.contains(&n)).count();
            (n, c)
        })
        .collect()
}

fn fill_accuracy(
    view: &mut StatsView,
    store: &Store,
    tax: &Taxonomy,
    gold: &HashMap<String, Vec<String>>,
) -> Result<(), StoreError> {
    let mut items = Vec::new();
    for (key, g) in gold {
        let predicted = store
            .latest_suggestion(key)?
            .map(|r| r.suggestion.labels.into_iter().map(|l| (l.name, l.confidence)).collect())
            .unwrap_or_default();
        items.push(EvalItem { gold: g.clone(), predicted });
    }
    let dims = evaluation::single_select(tax);
    let report = evaluation::evaluate(&items, &tax.label_names(), &dims);
    view.f1 = tax
        .label_names()
        .into_iter()
        .map(|n| {
            let f = report.labels.get(&n).and_then(|l| l.f1);
            (n, f)
        })
        .collect();
    view.reliability = report.reliability.iter().map(|b| (b.lower, b.accuracy, b.count)).collect();
    view.ece = report.ece;
    Ok(())
}

// ---- drawing ----------------------------------------------------------------------------------

pub fn draw(f: &mut Frame, area: Rect, s: &State, cx: &Ctx) {
    let block = Block::default()
        .borders(Borders::ALL)
        .title(" stats — Esc back to review ")
        .border_style(cx.theme.border(true));
    let inner = block.inner(area);
    f.render_widget(block, area);
    let Some(v) = cx.stats else {
        f.render_widget(Paragraph::new("computing…").style(cx.theme.muted()), inner);
        return;
    };
    let [top, bottom] =
        Layout::vertical([Constraint::Percentage(55), Constraint::Fill(1)]).areas(inner);
    let [agree, f1] =
        Layout::horizontal([Constraint::Percentage(55), Constraint::Fill(1)]).areas(top);
    let [rel, dist, people] = Layout::horizontal([
        Constraint::Percentage(30),
        Constraint::Percentage(25),
        Constraint::Fill(1),
    ])
    .areas(bottom);
    draw_agreement(f, agree, v, s, cx);
    draw_f1(f, f1, v, cx);
    draw_reliability(f, rel, v, cx);
    draw_distribution(f, dist, v, cx);
    draw_people(f, people, v, cx);
}

fn fmt(x: Option<f64>) -> String {
    x.map(|v| format!("{v:.3}")).unwrap_or_else(|| "  –  ".into())
}

fn draw_agreement(f: &mut Frame, area: Rect, v: &StatsView, s: &State, cx: &Ctx) {
    let t = cx.theme;
    let mut lines = vec![Line::from(Span::styled(
        format!("{} · annotators: {}", v.dataset, v.annotators.join(", ")),
        t.muted(),
    ))];
    // Narrow screens keep the name and alpha, then kappa, agreement, pairs, the band.
    let cols = [(24, 0), (7, 4), (8, 3), (8, 2), (8, 1), (16, 5)];
    let keep = fit_columns((area.width as usize).saturating_sub(2), &cols);
    let head: Vec<String> =
        ["", "paired", "agree", "kappa", "alpha", "band"].map(String::from).into();
    lines.push(Line::from(Span::styled(row(&head, &cols, &keep), t.fg("title"))));
    for r in &v.agreement {
        let band = r.alpha.map(agreement::band);
        let style = match band {
            Some(agreement::Band::AlmostPerfect | agreement::Band::Substantial) => {
                t.fg("confidence_high")
            }
            Some(agreement::Band::Moderate) => t.fg("confidence_mid"),
            Some(_) => t.fg("confidence_low"),
            None => t.muted(),
        };
        let cells = [
            r.name.clone(),
            r.items.to_string(),
            r.percent.map_or_else(|| "–".into(), |p| format!("{:.0}%", p * 100.0)),
            fmt(r.kappa),
            fmt(r.alpha),
            band.map(|b| b.name().to_string()).unwrap_or_default(),
        ];
        let name_only: Vec<bool> = (0..cols.len()).map(|i| i == 0).collect();
        let rest: Vec<bool> = keep.iter().enumerate().map(|(i, k)| *k && i > 0).collect();
        lines.push(Line::from(vec![
            Span::styled(row(&cells, &cols, &name_only), t.base()),
            Span::styled(row_rest(&cells, &cols, &rest), style),
        ]));
    }
    let p = Paragraph::new(lines)
        .block(
            Block::default()
                .borders(Borders::ALL)
                .title(" agreement (Fleiss kappa, Krippendorff alpha) "),
        )
        .scroll((s.stats_scroll, 0));
    f.render_widget(p, area);
}

fn bar(x: f64, width: usize) -> String {
    let n = (x.clamp(0.0, 1.0) * width as f64).round() as usize;
    format!("{}{}", "█".repeat(n), "·".repeat(width - n))
}

fn draw_f1(f: &mut Frame, area: Rect, v: &StatsView, cx: &Ctx) {
    let t = cx.theme;
    let w = (area.width as usize).saturating_sub(24).max(5);
    let lines: Vec<Line> =
        v.f1.iter()
            .map(|(n, f1)| match f1 {
                Some(x) => Line::from(vec![
                    Span::styled(format!("{:<14}", crate::text::truncate_width(n, 13)), t.base()),
                    Span::styled(bar(*x, w), t.confidence(*x)),
                    Span::raw(format!(" {x:.2}")),
                ]),
                None => Line::from(Span::styled(format!("{n:<14} –"), t.muted())),
            })
            .collect();
    f.render_widget(
        Paragraph::new(lines)
            .block(Block::default().borders(Borders::ALL).title(" suggestion F1 vs gold ")),
        area,
    );
}

fn draw_reliability(f: &mut Frame, area: Rect, v: &StatsView, cx: &Ctx) {
    let t = cx.theme;
    let w = (area.width as usize).saturating_sub(18).max(5);
    let mut lines: Vec<Line> =
        vec![Line::from(Span::styled(format!("ECE {}", fmt(v.ece)), t.fg("title")))];
    for (lower, acc, count) in v.reliability.iter().filter(|(_, _, c)| *c > 0) {
        let a = acc.unwrap_or(0.0);
        lines.push(Line::from(vec![
            Span::raw(format!("{lower:.2}+ ")),
            Span::styled(bar(a, w), t.confidence(a)),
            Span::styled(format!(" n={count}"), t.muted()),
        ]));
    }
    f.render_widget(
        Paragraph::new(lines).block(Block::default().borders(Borders::ALL).title(" reliability ")),
        area,
    );
}

fn draw_distribution(f: &mut Frame, area: Rect, v: &StatsView, cx: &Ctx) {
    let t = cx.theme;
    let max = v.distribution.iter().map(|(_, c)| *c).max().unwrap_or(1).max(1);
    let w = (area.width as usize).saturating_sub(20).max(3);
    let lines: Vec<Line> = v
        .distribution
        .iter()
        .map(|(n, c)| {
            Line::from(vec![
                Span::styled(format!("{:<12}", crate::text::truncate_width(n, 11)), t.base()),
                Span::styled(bar(*c as f64 / max as f64, w), t.fg("accent")),
                Span::raw(format!(" {c}")),
            ])
        })
        .collect();
    f.render_widget(
        Paragraph::new(lines).block(Block::default().borders(Borders::ALL).title(" gold labels ")),
        area,
    );
}

/// Which columns fit in `width`: columns are (width, priority), lower priority kept first;
/// the first column always stays.
pub fn fit_columns(width: usize, cols: &[(usize, u8)]) -> Vec<bool> {
    let mut keep = vec![false; cols.len()];
    let mut order: Vec<usize> = (0..cols.len()).collect();
    order.sort_by_key(|&i| (cols[i].1, i));
    let mut used = 0;
    for i in order {
        if i == 0 || used + cols[i].0 <= width {
            used += cols[i].0;
            keep[i] = true;
        }
    }
    keep
}

/// A row of cells, each padded to its column, only the kept columns.
fn row(cells: &[String], cols: &[(usize, u8)], keep: &[bool]) -> String {
    let mut out = String::new();
    for (i, c) in cells.iter().enumerate().filter(|(i, _)| keep[*i]) {
        let w = cols[i].0;
        let c = crate::text::truncate_width(c, w.saturating_sub(1));
        if i == 0 { out.push_str(&format!("{c:<w$}")) } else { out.push_str(&format!("{c:>w$}")) }
    }
    out
}

/// The cells after the first (which `row` always writes) of the kept columns.
fn row_rest(cells: &[String], cols: &[(usize, u8)], keep: &[bool]) -> String {
    let mut out = String::new();
    for (i, c) in cells.iter().enumerate().filter(|(i, _)| *i > 0 && keep[*i]) {
        let w = cols[i].0;
        let c = crate::text::truncate_width(c, w.saturating_sub(1));
        out.push_str(&format!("{c:>w$}"));
    }
    out
}

fn draw_people(f: &mut Frame, area: Rect, v: &StatsView, cx: &Ctx) {
    let t = cx.theme;
    let pct =
        |x: Option<f64>| x.map(|v| format!("{:.0}%", v * 100.0)).unwrap_or_else(|| "–".into());
    // The narrower the screen, the fewer columns: the annotator and their records first.
    let cols = [(12, 0), (6, 1), (9, 2), (7, 3), (8, 4), (7, 5)];
    let keep = fit_columns((area.width as usize).saturating_sub(2), &cols);
    let head: Vec<String> =
        ["annotator", "recs", "assisted", "blind", "items/h", "med s"].map(String::from).into();
    let mut lines = vec![Line::from(Span::styled(
        row(&head, &cols, &keep),
        t.fg("title").add_modifier(Modifier::BOLD),
    ))];
    lines.push(Line::from(Span::styled("(share of answers equal to the suggestion)", t.muted())));
    for p in &v.people {
        let cells = [
            p.annotator.clone(),
            p.records.to_string(),
            pct(p.assisted.rate),
            pct(p.blind.rate),
            p.items_per_hour.map(|x| format!("{x:.0}")).unwrap_or_else(|| "–".into()),
            p.median_seconds.map(|x| format!("{x:.1}")).unwrap_or_else(|| "–".into()),
        ];
        lines.push(Line::from(row(&cells, &cols, &keep)));
    }
    f.render_widget(
        Paragraph::new(lines).block(Block::default().borders(Borders::ALL).title(" annotators ")),
        area,
    );
}
