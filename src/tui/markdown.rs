//! The markdown of issue bodies and chat turns as terminal lines: headings, list bullets,
//! fenced code as blocks, tables with aligned columns, and HTML comments (issue-template
//! hints) hidden. Pure: text in, classified lines out; review.rs styles them.

use unicode_width::UnicodeWidthStr;

/// One rendered line and what kind of text it is.
#[derive(Debug, Clone, PartialEq)]
pub enum Md {
    Text(String),
    Heading(String),
    /// A list item: its indent, bullet and text.
    Item(String),
    /// A line inside a fenced block (the fence's info string is shown on its first line).
    Code(String),
    /// A fence opening a block, with its info string (the language, or empty).
    Fence(String),
    /// The fence closing a block.
    FenceEnd,
    Table(String),
    Rule,
}

/// Render `text` line by line.
pub fn render(text: &str) -> Vec<Md> {
    let mut out = Vec::new();
    let mut in_code = false;
    let mut in_comment = false;
    let mut table: Vec<Vec<String>> = Vec::new();
    for raw in text.lines() {
        if in_code {
            if raw.trim_start().starts_with("```") {
                in_code = false;
                out.push(Md::FenceEnd);
            } else {
                out.push(Md::Code(raw.to_string()));
            }
            continue;
        }
        let line = strip_comments(raw, &mut in_comment);
        let Some(line) = line else { continue };
        let trimmed = line.trim_start();
        if is_table_row(trimmed) {
            table.push(cells(trimmed));
            continue;
        }
        flush_table(&mut table, &mut out);
        if let Some(info) = trimmed.strip_prefix("```") {
            in_code = true;
            out.push(Md::Fence(info.trim().to_string()));
        } else if let Some(h) = heading(trimmed) {
            out.push(Md::Heading(h));
        } else if is_rule(trimmed) {
            out.push(Md::Rule);
        } else if let Some(item) = list_item(&line) {
            out.push(Md::Item(item));
        } else {
            out.push(Md::Text(line));
        }
    }
    flush_table(&mut table, &mut out);
    out
}

/// The line without its HTML comments (which may span lines); None when nothing is left of
/// a line that held only comment.
fn strip_comments(raw: &str, in_comment: &mut bool) -> Option<String> {
    let mut rest = raw;
    let mut kept = String::new();
    let mut had_comment = *in_comment;
    loop {
        if *in_comment {
            match rest.find("-->") {
                Some(i) => {
                    rest = &rest[i + 3..];
                    *in_comment = false;
                }
                None => break,
            }
        } else {
            match rest.find("<!--") {
                Some(i) => {
                    kept.push_str(&rest[..i]);
                    rest = &rest[i + 4..];
                    *in_comment = true;
                    had_comment = true;
                }
                None => {
                    kept.push_str(rest);
                    break;
                }
            }
        }
    }
    if had_comment && kept.trim().is_empty() { None } else { Some(kept) }
}

fn heading(line: &str) -> Option<String> {
    let hashes = line.chars().take_while(|c| *c == '#').count();
    if !(1..=6).contains(&hashes) {
        return None;
    }
    let rest = &line[hashes..];
    (rest.is_empty() || rest.starts_with(' ')).then(|| rest.trim().to_string())
}

fn is_rule(line: &str) -> bool {
    let t = line.trim();
    t.len() >= 3 && ["-", "*", "_"].iter().any(|c| t.chars().all(|x| x.to_string() == *c))
}

/// `- item`, `* item`, `+ item` and `1. item` (with task boxes) as a bullet line.
fn list_item(line: &str) -> Option<String> {
    let indent = line.len() - line.trim_start().len();
    let t = line.trim_start();
    let pad = " ".repeat(indent.min(12));
    for b in ["- ", "* ", "+ "] {
        if let Some(rest) = t.strip_prefix(b) {
            let rest = rest
                .strip_prefix("[ ] ")
                .map(|r| format!("☐ {r}"))
                .or_else(|| rest.strip_prefix("[x] ").map(|r| format!("☑ {r}")))
                .unwrap_or_else(|| rest.to_string());
            return Some(format!("{pad}• {rest}"));
        }
    }
    let digits = t.chars().take_while(char::is_ascii_digit).count();
    if digits > 0 && t[digits..].starts_with(". ") {
        return Some(format!("{pad}{}", t));
    }
    None
}

fn is_table_row(line: &str) -> bool {
    let t = line.trim_end();
    t.starts_with('|') && t.len() > 1
}

fn cells(line: &str) -> Vec<String> {
    let t = line.trim().trim_start_matches('|').trim_end_matches('|');
    t.split('|').map(|c| c.trim().to_string()).collect()
}

fn is_separator(row: &[String]) -> bool {
    row.iter().all(|c| !c.is_empty() && c.chars().all(|x| matches!(x, '-' | ':' | ' ')))
}

/// A table's rows with every column padded to its widest cell (display width, so CJK and
/// emoji line up); the `---` row becomes a rule.
fn flush_table(rows: &mut Vec<Vec<String>>, out: &mut Vec<Md>) {
    if rows.is_empty() {
        return;
    }
    let ncols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let mut widths = vec![0usize; ncols];
    for row in rows.iter().filter(|r| !is_separator(r)) {
        for (i, c) in row.iter().enumerate() {
            widths[i] = widths[i].max(c.width());
        }
    }
    for row in rows.drain(..) {
        if is_separator(&row) {
            let parts: Vec<String> = widths.iter().map(|w| "─".repeat(*w)).collect();
            out.push(Md::Table(format!("─{}─", parts.join("─┼─"))));
            continue;
        }
        let parts: Vec<String> = (0..ncols)
            .map(|i| {
                let c = row.get(i).map(String::as_str).unwrap_or("");
                format!("{c}{}", " ".repeat(widths[i].saturating_sub(c.width())))
            })
            .collect();
        out.push(Md::Table(format!(" {} ", parts.join(" │ ")).trim_end().to_string()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headings_lists_code_and_comments() {
        let md = "<!-- Please describe the bug -->\n## Steps\n- open it\n  * nested\n- [x] done\n1. first\n```rust\nfn main() {}\n```\ntext <!-- hidden --> kept\n<!--\nmulti\n-->\n---";
        assert_eq!(
            render(md),
            [
                Md::Heading("Steps".into()),
                Md::Item("• open it".into()),
                Md::Item("  • nested".into()),
                Md::Item("• ☑ done".into()),
                Md::Item("1. first".into()),
                Md::Fence("rust".into()),
                Md::Code("fn main() {}".into()),
                Md::FenceEnd,
                Md::Text("text  kept".into()),
                Md::Rule,
            ]
        );
    }

    #[test]
    fn tables_align_by_display_width() {
        let md = "| name | 値 |\n|---|---|\n| 漢字 | 1 |\n| a | 🙂🙂 |";
        let rows: Vec<String> = render(md)
            .into_iter()
            .map(|m| match m {
                Md::Table(t) => t,
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(rows.len(), 4);
        // Every row's column bar sits at the same display column.
        let bar = |r: &str| r.split('│').next().map(UnicodeWidthStr::width);
        assert_eq!(bar(&rows[0]), bar(&rows[2]));
        assert_eq!(bar(&rows[0]), bar(&rows[3]));
        assert!(rows[1].contains('┼'));
    }

    #[test]
    fn code_is_never_read_as_markdown() {
        let md = "```\n# not a heading\n| not | table |\n<!-- not a comment -->\n```";
        let r = render(md);
        assert_eq!(r[1], Md::Code("# not a heading".into()));
        assert_eq!(r[3], Md::Code("<!-- not a comment -->".into()));
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]

        /// Any mix of markdown's own marks with other text renders without a panic, and
        /// never to more lines than it has.
        #[test]
        fn any_markdown_renders(parts in proptest::collection::vec(proptest::prop_oneof![
            proptest::strategy::Just("|".to_string()),
            proptest::strategy::Just("```".to_string()),
            proptest::strategy::Just("<!--".to_string()),
            proptest::strategy::Just("-->".to_string()),
            proptest::strategy::Just("# ".to_string()),
            proptest::strategy::Just("- [x] ".to_string()),
            proptest::strategy::Just("\n".to_string()),
            proptest::strategy::Just("---".to_string()),
            proptest::strategy::Just("漢字🇯🇵".to_string()),
            "\\PC{0,6}",
            proptest::prelude::any::<String>(),
        ], 0..60)) {
            let text = parts.concat();
            let out = render(&text);
            proptest::prop_assert!(out.len() <= text.lines().count());
        }
    }
}
