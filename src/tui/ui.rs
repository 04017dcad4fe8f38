//! Drawing: the frame layout, the minimum-size guard, and overlays. Each region has its own
//! small render function in a view file.

use ratatui::Frame;
use ratatui::layout::{Alignment, Constraint, Layout, Rect};
use ratatui::text::Line;
use ratatui::widgets::{Block, Clear, Paragraph, Wrap};

use super::keymap::Keymap;
use super::state::{Overlay, State, View};
use super::theme::Theme;
use super::{adjudicate, help, push, review, runs, sample, stats};

/// Below this the layout cannot be read; a message is shown instead.
pub const MIN_WIDTH: u16 = 80;
pub const MIN_HEIGHT: u16 = 20;

/// Everything the views read besides the state.
pub struct Ctx<'a> {
    pub theme: &'a Theme,
    pub keymap: &'a Keymap,
    pub stats: Option<&'a stats::StatsView>,
    pub sample: Option<&'a [crate::dataset::sample::WeekReport]>,
}

pub fn draw(f: &mut Frame, s: &State, cx: &Ctx) {
    let area = f.area();
    f.render_widget(Block::default().style(cx.theme.base()), area);
    if area.width < MIN_WIDTH || area.height < MIN_HEIGHT {
        too_small(f, area, cx.theme);
        return;
    }
    match s.view {
        View::Review => review::draw(f, area, s, cx),
        View::Stats => stats::draw(f, area, s, cx),
        View::Adjudicate => adjudicate::draw(f, area, s, cx),
        View::Sample => sample::draw(f, area, cx),
        View::Push => push::draw(f, area, s, cx),
        View::Runs => runs::draw(f, area, s, cx),
    }
    match &s.overlay {
        Overlay::Help => help::draw(f, centered(area, 80, 85), s, cx),
        Overlay::Note => review::draw_note(f, centered(area, 70, 40), s, cx),
        Overlay::Search(line) => review::draw_search(f, area, line, cx),
        Overlay::Picker(p) => review::draw_picker(f, centered(area, 60, 70), s, p, cx),
        Overlay::None => {}
    }
}

fn too_small(f: &mut Frame, area: Rect, theme: &Theme) {
    let msg = vec![
        Line::from("The terminal is too small for sift."),
        Line::from(format!(
            "Need at least {MIN_WIDTH}x{MIN_HEIGHT}, have {}x{}.",
            area.width, area.height
        )),
        Line::from("Enlarge the window, or press q to quit."),
    ];
    let p = Paragraph::new(msg)
        .style(theme.fg("warning"))
        .alignment(Alignment::Center)
        .wrap(Wrap { trim: true });
    let [_, mid, _] =
        Layout::vertical([Constraint::Fill(1), Constraint::Length(3), Constraint::Fill(1)])
            .areas(area);
    f.render_widget(p, mid);
}

/// A rectangle of `pw`% x `ph`% centred in `area`, cleared.
pub fn centered(area: Rect, pw: u16, ph: u16) -> Rect {
    let [_, v, _] = Layout::vertical([
        Constraint::Percentage((100 - ph) / 2),
        Constraint::Percentage(ph),
        Constraint::Percentage((100 - ph) / 2),
    ])
    .areas(area);
    let [_, h, _] = Layout::horizontal([
        Constraint::Percentage((100 - pw) / 2),
        Constraint::Percentage(pw),
        Constraint::Percentage((100 - pw) / 2),
    ])
    .areas(v);
    h
}

/// Clear an area before drawing an overlay on it.
pub fn clear(f: &mut Frame, area: Rect) {
    f.render_widget(Clear, area);
}
