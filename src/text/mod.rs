//! Untrusted-text hygiene: strips terminal control and escape sequences before display.
//! Keyword extraction lives in [`keywords`].

pub mod keywords;
pub mod signals;

/// The first `n` characters of `s`, never cutting a character in two (for hashes and ids read
/// from files anyone can edit).
pub fn prefix(s: &str, n: usize) -> &str {
    s.char_indices().nth(n).map_or(s, |(i, _)| &s[..i])
}

/// Order item keys as people read them: runs of digits compare as numbers, so `d:2` comes
/// before `d:10` (text order puts `d:10` first).
pub fn natural_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    let (mut x, mut y) = (a, b);
    loop {
        let (Some(cx), Some(cy)) = (x.chars().next(), y.chars().next()) else {
            return x.len().cmp(&y.len()).then_with(|| a.cmp(b));
        };
        if cx.is_ascii_digit() && cy.is_ascii_digit() {
            let nx = x.find(|c: char| !c.is_ascii_digit()).unwrap_or(x.len());
            let ny = y.find(|c: char| !c.is_ascii_digit()).unwrap_or(y.len());
            let (dx, dy) = (x[..nx].trim_start_matches('0'), y[..ny].trim_start_matches('0'));
            let by_value = dx.len().cmp(&dy.len()).then_with(|| dx.cmp(dy));
            if by_value.is_ne() {
                return by_value;
            }
            (x, y) = (&x[nx..], &y[ny..]);
        } else {
            if cx != cy {
                return cx.cmp(&cy);
            }
            (x, y) = (&x[cx.len_utf8()..], &y[cy.len_utf8()..]);
        }
    }
}

/// Remove everything that could drive a terminal: C0 controls (except newline and tab),
/// DEL, C1 controls, and whole ESC/CSI/OSC/DCS/APC/PM/SOS sequences including their
/// payloads, so an issue title cannot retitle the window, recolour or clear the screen.
/// Carriage returns become nothing (a bare CR would let text overwrite itself); tabs become
/// four spaces (their width depends on the terminal). Bidi overrides are removed so text
/// cannot visually reorder what surrounds it.
pub fn sanitize(input: &str) -> String {
    if input.chars().all(is_plain) {
        return input.to_string();
    }
    let mut out = String::with_capacity(input.len());
    let mut chars = input.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\u{1b}' => skip_escape(&mut chars),
            // C1 introducers that start a string or control sequence on 8-bit terminals.
            '\u{9b}' => skip_csi(&mut chars),
            '\u{90}' | '\u{9d}' | '\u{9e}' | '\u{9f}' | '\u{98}' => skip_string(&mut chars),
            '\t' => out.push_str("    "),
            '\n' => out.push('\n'),
            c if is_plain(c) => out.push(c),
            _ => {}
        }
    }
    out
}

/// `1 item`, `2 items`: a count with the word in the number it needs.
pub fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// Sanitize and flatten to one line (titles, table cells).
pub fn one_line(input: &str) -> String {
    // Most titles are already clean: one check instead of three allocations.
    if input.chars().all(|c| !c.is_control() && !is_bidi_control(c))
        && !input.starts_with(' ')
        && !input.ends_with(' ')
    {
        return input.to_string();
    }
    sanitize(input)
        .split('\n')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

fn is_plain(c: char) -> bool {
    !(c.is_control() || is_bidi_control(c)) || c == '\n'
}

/// True when `s` holds anything that could drive a terminal or reorder text: controls
/// (newlines and tabs included) and bidi overrides. For identifiers and label names, which
/// have no business holding any.
pub fn has_control(s: &str) -> bool {
    s.chars().any(|c| c.is_control() || is_bidi_control(c))
}

fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200e}' | '\u{200f}' | '\u{061c}')
}

type Chars<'a> = std::iter::Peekable<std::str::Chars<'a>>;

fn skip_escape(chars: &mut Chars) {
    match chars.next() {
        Some('[') => skip_csi(chars),
        Some(']' | 'P' | '_' | '^' | 'X') => skip_string(chars),
        // nF sequences: intermediates 0x20-0x2F then one final byte.
        Some(c) if ('\u{20}'..='\u{2f}').contains(&c) => {
            while let Some(&n) = chars.peek() {
                chars.next();
                if !('\u{20}'..='\u{2f}').contains(&n) {
                    break;
                }
            }
        }
        // Two-character sequences (ESC c, ESC 7, ...): the one character is consumed.
        _ => {}
    }
}

/// CSI: parameters and intermediates, ended by a final byte in 0x40-0x7E.
fn skip_csi(chars: &mut Chars) {
    for c in chars.by_ref() {
        if ('\u{40}'..='\u{7e}').contains(&c) {
            return;
        }
        if !('\u{20}'..='\u{3f}').contains(&c) {
            // Malformed: stop at the first byte that cannot belong to a CSI.
            return;
        }
    }
}

/// OSC/DCS/APC/PM/SOS: everything up to BEL, ST (ESC \) or the 8-bit ST.
fn skip_string(chars: &mut Chars) {
    while let Some(c) = chars.next() {
        match c {
            '\u{7}' | '\u{9c}' => return,
            '\u{1b}' => {
                if chars.peek() == Some(&'\\') {
                    chars.next();
                }
                return;
            }
            _ => {}
        }
    }
}

/// Truncate to at most `max` display columns, appending '…' when cut; wide characters count 2.
pub fn truncate_width(s: &str, max: usize) -> String {
    use unicode_width::UnicodeWidthChar;
    let total: usize = s.chars().map(|c| c.width().unwrap_or(0)).sum();
    if total <= max {
        return s.to_string();
    }
    let mut out = String::new();
    let mut w = 0;
    for c in s.chars() {
        let cw = c.width().unwrap_or(0);
        if w + cw + 1 > max {
            break;
        }
        out.push(c);
        w += cw;
    }
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn counts_say_one_or_many() {
        assert_eq!(super::count(1, "item", "items"), "1 item");
        assert_eq!(super::count(0, "item", "items"), "0 items");
        assert_eq!(super::count(2, "batch", "batches"), "2 batches");
    }

    use super::*;
    use proptest::prelude::*;

    #[test]
    fn strips_osc_title_change() {
        assert_eq!(sanitize("a\u{1b}]0;pwned\u{7}b"), "ab");
        assert_eq!(sanitize("a\u{1b}]2;pwned\u{1b}\\b"), "ab");
    }

    #[test]
    fn strips_csi_colour_and_clear() {
        assert_eq!(sanitize("\u{1b}[31mred\u{1b}[0m \u{1b}[2J\u{1b}[H"), "red ");
        assert_eq!(sanitize("x\u{9b}31my"), "xy");
    }

    #[test]
    fn strips_controls_keeps_text() {
        assert_eq!(sanitize("a\rb\u{7}c\u{0}d\u{7f}e"), "abcde");
        assert_eq!(sanitize("tab\there"), "tab    here");
        assert_eq!(sanitize("line1\nline2"), "line1\nline2");
        assert_eq!(sanitize("ünïcödé 漢字 🎉"), "ünïcödé 漢字 🎉");
        assert_eq!(sanitize("evil\u{202e}txt.exe"), "eviltxt.exe");
    }

    #[test]
    fn dcs_and_unterminated_sequences_are_consumed() {
        assert_eq!(sanitize("a\u{1b}Pq#0;1;2\u{1b}\\b"), "ab");
        assert_eq!(sanitize("a\u{1b}]0;never ends"), "a");
        assert_eq!(sanitize("a\u{1b}(Bb"), "ab");
    }

    #[test]
    fn one_line_flattens() {
        assert_eq!(one_line("  a \n\n b\r\n"), "a b");
    }

    #[test]
    fn truncates_by_width() {
        assert_eq!(truncate_width("漢字漢字", 5), "漢字…");
        assert_eq!(truncate_width("abc", 3), "abc");
    }

    #[test]
    fn keys_sort_as_people_read_them() {
        let mut keys =
            vec!["d:10", "d:2", "d:1", "e:1", "d:02x", "d:2a", "github:o/r#100", "github:o/r#9"];
        keys.sort_by(|a, b| natural_cmp(a, b));
        assert_eq!(
            keys,
            ["d:1", "d:2", "d:2a", "d:02x", "d:10", "e:1", "github:o/r#9", "github:o/r#100"]
        );
    }

    proptest! {
        #[test]
        fn output_never_contains_controls(s in ".*") {
            let out = sanitize(&s);
            prop_assert!(!out.chars().any(|c| c.is_control() && c != '\n'));
        }

        #[test]
        fn natural_order_is_a_total_order(a in "\\PC{0,12}", b in "[a-z:0-9#]{0,12}") {
            prop_assert_eq!(natural_cmp(&a, &b), natural_cmp(&b, &a).reverse());
            prop_assert_eq!(natural_cmp(&a, &b) == std::cmp::Ordering::Equal, a == b);
            prop_assert_eq!(natural_cmp(&a, &a), std::cmp::Ordering::Equal);
        }

        #[test]
        fn a_prefix_never_cuts_a_character(s in ".*", n in 0usize..20) {
            let p = prefix(&s, n);
            prop_assert!(s.starts_with(p));
            prop_assert_eq!(p.chars().count(), s.chars().count().min(n));
        }
    }
}
