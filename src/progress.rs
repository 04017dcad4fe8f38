//! Progress bars for long commands, on stderr and only when it is a terminal (scripts and
//! pipes see nothing); never used while the review screen owns the terminal.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A bar of `len` steps saying what it counts (`items`, `folds`, `tables`, ...).
pub fn bar(len: u64, what: &str) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr());
    let template = format!("{{spinner}} {{msg}} [{{bar:30}}] {{pos}}/{{len}} {what}  ETA {{eta}}");
    if let Ok(style) = ProgressStyle::with_template(&template) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}
