//! JSON containers: arrays, JSON lines and streams of pretty-printed objects, read one record
//! at a time, with the byte or line position of every error.

use super::*;

/// The first meaningful byte of a JSON file, and what follows it.
pub(super) struct Start {
    pub(super) first: Option<u8>,
    /// `{` alone on its line: pretty-printed objects, not JSON lines.
    pub(super) lone_brace: bool,
    /// Newlines consumed before `first`, so reported line numbers stay true.
    pub(super) lines_skipped: u64,
}

/// Skips a UTF-8 byte-order mark, which spreadsheet and Windows tools put first.
pub(super) fn skip_bom(input: &mut impl BufRead) -> io::Result<()> {
    if input.fill_buf()?.starts_with(&[0xEF, 0xBB, 0xBF]) {
        input.consume(3);
    }
    Ok(())
}

/// Consumes leading whitespace and looks at the first byte without consuming it.
pub(super) fn peek_start(input: &mut impl BufRead) -> io::Result<Start> {
    let mut lines_skipped = 0;
    loop {
        let buf = input.fill_buf()?;
        if buf.is_empty() {
            return Ok(Start { first: None, lone_brace: false, lines_skipped });
        }
        let at = buf.iter().position(|b| !b.is_ascii_whitespace()).unwrap_or(buf.len());
        lines_skipped += count_newlines(&buf[..at]);
        if let Some(&first) = buf.get(at) {
            let rest = &buf[at + 1..];
            let lone_brace = first == b'{'
                && rest.iter().find(|b| !matches!(b, b' ' | b'\t' | b'\r')) == Some(&b'\n');
            input.consume(at);
            return Ok(Start { first: Some(first), lone_brace, lines_skipped });
        }
        input.consume(at);
    }
}

pub(super) fn count_newlines(bytes: &[u8]) -> u64 {
    bytes.iter().filter(|&&b| b == b'\n').count() as u64
}

pub(super) fn starts_with(byte: u8) -> String {
    if byte.is_ascii_graphic() {
        format!("starts with {:?}", byte as char)
    } else {
        format!("starts with byte 0x{byte:02x}")
    }
}

/// The largest record (one line of JSON lines) sift reads; a longer line is reported and
/// skipped, so memory stays bounded whatever a file holds.
pub const MAX_RECORD_BYTES: usize = 32_000_000;

/// Consume the rest of a line without keeping it; the bytes passed over.
fn skip_line(input: &mut impl BufRead) -> io::Result<u64> {
    let mut skipped = 0u64;
    loop {
        let buf = input.fill_buf()?;
        if buf.is_empty() {
            return Ok(skipped);
        }
        match buf.iter().position(|&b| b == b'\n') {
            Some(at) => {
                input.consume(at + 1);
                return Ok(skipped + at as u64 + 1);
            }
            None => {
                let n = buf.len();
                input.consume(n);
                skipped += n as u64;
            }
        }
    }
}

/// JSON lines: one record per non-blank line; a bad line is that record's error only.
pub(super) fn read_lines<E: From<ImportError>>(
    mut input: impl BufRead,
    lines_skipped: u64,
    ctx: &mut Ctx<'_, E>,
) -> Result<(), E> {
    let mut line = Vec::new();
    let mut line_no = lines_skipped;
    let mut position = 0;
    loop {
        line.clear();
        let limit = MAX_RECORD_BYTES as u64 + 1;
        if (&mut input).take(limit).read_until(b'\n', &mut line).map_err(|e| ctx.io(e))? == 0 {
            return Ok(());
        }
        line_no += 1;
        if line.len() > MAX_RECORD_BYTES && line.last() != Some(&b'\n') {
            // Held whole, a record this size would take several times its size in memory.
            let size = line.len() as u64 + skip_line(&mut input).map_err(|e| ctx.io(e))?;
            line.clear();
            line.shrink_to(64 * 1024);
            position += 1;
            let reason = format!(
                "record of {:.1} MB is over the {} MB sift reads in one record; skipped",
                size as f64 / 1e6,
                MAX_RECORD_BYTES / 1_000_000
            );
            ctx.deliver(Err(reason), position, format!("{}:{line_no}", ctx.name))?;
            continue;
        }
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        position += 1;
        let value = serde_json::from_slice::<Value>(&line)
            .map_err(|e| format!("invalid JSON: {}", json_message(&e)));
        ctx.deliver(value, position, format!("{}:{line_no}", ctx.name))?;
    }
}

/// A top-level JSON array, deserialized element by element so memory stays flat.
pub(super) fn read_array<E: From<ImportError>>(
    input: impl Read,
    lines_skipped: u64,
    ctx: &mut Ctx<'_, E>,
) -> Result<(), E> {
    let mut de = serde_json::Deserializer::from_reader(input);
    let mut count = 0u64;
    let mut stopped = None;
    let result = {
        let mut on_element = |value: Value| {
            count += 1;
            let location = format!("{}: record {count}", ctx.name);
            match ctx.deliver(Ok(value), count, location) {
                Ok(()) => true,
                Err(e) => {
                    stopped = Some(e);
                    false
                }
            }
        };
        de.deserialize_seq(Elements { on_element: &mut on_element })
    };
    if let Some(e) = stopped {
        return Err(e);
    }
    if let Err(e) = result {
        let location = format!("{}: record {}", ctx.name, count + 1);
        return Err(stream_error(ctx, location, e, lines_skipped));
    }
    de.end().map_err(|e| {
        let reason =
            format!("unexpected data after the array: {}", json_position(&e, lines_skipped));
        ctx.broken(ctx.name.to_string(), reason)
    })
}

/// A fatal error in a JSON array or object stream: IO, truncation, or bad syntax.
pub(super) fn stream_error<E: From<ImportError>>(
    ctx: &Ctx<'_, E>,
    location: String,
    e: serde_json::Error,
    lines_skipped: u64,
) -> E {
    let at = json_position(&e, lines_skipped);
    if e.is_io() {
        ctx.io(io::Error::from(e)).into()
    } else if e.is_eof() {
        ctx.broken(location, format!("the file ends early (truncated?) at {at}"))
    } else {
        ctx.broken(location, format!("invalid JSON: {} at {at}", json_message(&e)))
    }
}

/// Hands each element of a JSON array to a callback; the callback returns false to stop.
pub(super) struct Elements<'a> {
    pub(super) on_element: &'a mut dyn FnMut(Value) -> bool,
}

impl<'de> Visitor<'de> for Elements<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of records")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(value) = seq.next_element::<Value>()? {
            if !(self.on_element)(value) {
                // The caller's own error is kept aside; this one only unwinds serde.
                return Err(de::Error::custom("stopped by the caller"));
            }
        }
        Ok(())
    }
}

/// Pretty-printed objects one after another. Unlike JSON lines there is no line to skip
/// to after a syntax error, so one is fatal.
pub(super) fn read_object_stream<E: From<ImportError>>(
    input: impl Read,
    lines_skipped: u64,
    ctx: &mut Ctx<'_, E>,
) -> Result<(), E> {
    let stream = serde_json::Deserializer::from_reader(input).into_iter::<Value>();
    for (index, value) in stream.enumerate() {
        let position = index as u64 + 1;
        let location = format!("{}: record {position}", ctx.name);
        match value {
            Ok(value) => ctx.deliver(Ok(value), position, location)?,
            Err(e) => return Err(stream_error(ctx, location, e, lines_skipped)),
        }
    }
    Ok(())
}

/// serde_json's message without its " at line L column C" tail (we report our own position).
pub(super) fn json_message(e: &serde_json::Error) -> String {
    let text = e.to_string();
    let tail = format!(" at line {} column {}", e.line(), e.column());
    text.strip_suffix(&tail).unwrap_or(&text).to_string()
}

pub(super) fn json_position(e: &serde_json::Error, lines_skipped: u64) -> String {
    format!("line {} column {}", e.line() as u64 + lines_skipped, e.column())
}
