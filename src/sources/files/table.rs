//! CSV and TSV files with a header row: each row becomes a JSON object of its columns.

use std::collections::HashSet;

use super::*;

/// `Some(delimiter)` when the file is to be read as CSV/TSV.
pub(super) fn csv_delimiter(name: &str, format: Format) -> Option<u8> {
    let lower = name.to_ascii_lowercase();
    let tsv = lower.ends_with(".tsv");
    match format {
        Format::Csv => Some(if tsv { b'\t' } else { b',' }),
        // The user said JSON rows; trust that over the name.
        Format::Jsonl => None,
        _ if tsv => Some(b'\t'),
        _ if lower.ends_with(".csv") => Some(b','),
        _ => None,
    }
}

/// CSV with a header row. Each row becomes an object of strings keyed by the lower-cased
/// header, then goes through the same record parser as JSON.
pub(super) fn read_csv<E: From<ImportError>>(
    input: impl Read,
    delimiter: u8,
    ctx: &mut Ctx<'_, E>,
) -> Result<(), E> {
    let mut reader = csv::ReaderBuilder::new().delimiter(delimiter).from_reader(input);
    let headers: Vec<String> = match reader.headers() {
        Ok(row) => row.iter().map(|h| h.trim().to_ascii_lowercase()).collect(),
        Err(e) => return Err(csv_fatal(ctx, e)),
    };
    check_label_column(&headers, ctx)?;
    let mut row = csv::StringRecord::new();
    let mut position = 0;
    let mut firsts: HashSet<String> = HashSet::new();
    loop {
        let read = reader.read_record(&mut row);
        if matches!(read, Ok(false)) {
            return Ok(());
        }
        position += 1;
        let (value, line) = match read {
            Ok(_) => {
                let line = row.position().map_or(0, |p| p.line());
                if firsts.len() < MAX_FIRSTS
                    && let Some(first) = row.get(0).map(str::trim).filter(|f| !f.is_empty())
                {
                    firsts.insert(first.to_string());
                }
                match swallowed_rows(&row, delimiter, headers.len(), &firsts) {
                    Some(n) => (Err(unterminated(n)), line),
                    None => (Ok(row_object(&headers, &row)), line),
                }
            }
            Err(e) if e.is_io_error() => return Err(csv_fatal(ctx, e)),
            Err(e) => (Err(csv_reason(&e)), e.position().map_or(0, |p| p.line())),
        };
        ctx.deliver(value, position, format!("{}:{line}", ctx.name))?;
    }
}

/// Lines inside one field that look like rows of their own: what an unterminated quote does,
/// reading the rows after it into one field. A line looks like a row when it has as many
/// delimiters as a row has between its fields and starts as rows do: with a number where
/// rows start with a number (an id), else with a first-column value some row had (a
/// repository, a state). Prose, lists and code inside a text field do not.
fn swallowed_rows(
    row: &csv::StringRecord,
    delimiter: u8,
    columns: usize,
    firsts: &HashSet<String>,
) -> Option<usize> {
    let needed = columns.saturating_sub(1).max(1);
    let numeric = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let ids = row.get(0).is_some_and(|f| numeric(f.trim()));
    let row_like = |line: &&str| {
        let delimiters = line.bytes().filter(|&b| b == delimiter).count();
        let first = line.split(char::from(delimiter)).next().unwrap_or("").trim();
        delimiters >= needed && if ids { numeric(first) } else { firsts.contains(first) }
    };
    let n = row.iter().map(|f| f.lines().skip(1).filter(row_like).count()).max().unwrap_or(0);
    (n > 0).then_some(n)
}

/// First-column values remembered for [`swallowed_rows`]; enough to know a column's values.
const MAX_FIRSTS: usize = 10_000;

fn unterminated(n: usize) -> String {
    let rows = if n == 1 {
        "1 line that looks like a row of its own".to_string()
    } else {
        format!("{n} lines that look like rows of their own")
    };
    format!(
        "a quoted field here runs on over {rows}: is a quote unterminated? This row and \
         those lines were skipped; fix the quote and import again"
    )
}

pub(super) fn csv_fatal<E: From<ImportError>>(ctx: &Ctx<'_, E>, e: csv::Error) -> E {
    let reason = csv_reason(&e);
    match e.into_kind() {
        csv::ErrorKind::Io(source) => ctx.io(source).into(),
        _ => ctx.broken(ctx.name.to_string(), reason),
    }
}

pub(super) fn csv_reason(e: &csv::Error) -> String {
    match e.kind() {
        csv::ErrorKind::UnequalLengths { expected_len, len, .. } => {
            format!("expected {expected_len} fields like the header, found {len}")
        }
        csv::ErrorKind::Utf8 { err, .. } => format!("field {} is not UTF-8", err.field() + 1),
        _ => e.to_string(),
    }
}

/// A label column the user named but the header lacks would fail every row; say it once.
pub(super) fn check_label_column<E: From<ImportError>>(
    headers: &[String],
    ctx: &Ctx<'_, E>,
) -> Result<(), E> {
    let Some(column) = ctx.opts.label_column.as_deref() else { return Ok(()) };
    if headers.iter().any(|h| h.eq_ignore_ascii_case(column.trim())) {
        return Ok(());
    }
    let reason = format!("no column {column:?} for labels (columns: {})", headers.join(", "));
    Err(ctx.broken(ctx.name.to_string(), reason))
}

pub(super) fn row_object(headers: &[String], row: &csv::StringRecord) -> Value {
    let obj: Map<String, Value> = headers
        .iter()
        .zip(row.iter())
        .map(|(h, v)| (h.clone(), Value::String(v.to_string())))
        .collect();
    Value::Object(obj)
}
