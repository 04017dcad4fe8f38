//! Per-item candidate terms kept on disk between the similarity index's two passes, so a
//! refresh over a million items holds a vocabulary, not a million term lists.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Read, Seek, Write};
use std::path::Path;

/// One item's candidate terms (interned ids with weighted counts) and matched labels.
#[derive(Debug, Clone, Default, PartialEq)]
pub(super) struct Interned {
    pub terms: Vec<(u32, u32)>,
    pub labels: Vec<String>,
}

/// Terms interned as numbers: the vocabulary stays in memory, the items' term lists go to a
/// [`Spool`].
#[derive(Debug, Default)]
pub(super) struct Vocab {
    ids: HashMap<String, u32>,
    /// Each term, by its number.
    pub words: Vec<String>,
}

impl Vocab {
    /// The terms with their counts, as numbers (new terms get the next ones).
    pub fn intern(&mut self, terms: Vec<(String, u32)>) -> Vec<(u32, u32)> {
        let words = &mut self.words;
        terms
            .into_iter()
            .map(|(t, n)| {
                let next = words.len() as u32;
                let id = *self.ids.entry(t).or_insert_with_key(|t| {
                    words.push(t.clone());
                    next
                });
                (id, n)
            })
            .collect()
    }

    /// The number of `term`, if it was interned.
    pub fn get(&self, term: &str) -> Option<u32> {
        self.ids.get(term).copied()
    }
}

/// An anonymous temporary file (gone when closed) in `dir`, else in the system's temporary
/// folder.
pub(super) fn temp_file(dir: Option<&Path>) -> io::Result<File> {
    match dir {
        Some(d) => tempfile::tempfile_in(d).or_else(|_| tempfile::tempfile()),
        None => tempfile::tempfile(),
    }
}

/// Items written in order to an anonymous temporary file (gone when dropped), then read back
/// in the same order.
pub(super) struct Spool {
    out: BufWriter<File>,
}

impl Spool {
    /// A spool beside the store (`dir`), else in the system's temporary folder.
    pub fn new(dir: Option<&Path>) -> io::Result<Spool> {
        Ok(Spool { out: BufWriter::with_capacity(1 << 16, temp_file(dir)?) })
    }

    pub fn push(&mut self, item: &Interned) -> io::Result<()> {
        let w = &mut self.out;
        varint(w, item.terms.len() as u64)?;
        for &(id, n) in &item.terms {
            varint(w, u64::from(id))?;
            varint(w, u64::from(n))?;
        }
        varint(w, item.labels.len() as u64)?;
        for l in &item.labels {
            varint(w, l.len() as u64)?;
            w.write_all(l.as_bytes())?;
        }
        Ok(())
    }

    /// The items pushed, in order.
    pub fn read(self) -> io::Result<SpoolReader> {
        let mut file = self.out.into_inner().map_err(|e| e.into_error())?;
        file.rewind()?;
        Ok(SpoolReader { input: BufReader::with_capacity(1 << 16, file) })
    }
}

pub(super) struct SpoolReader {
    input: BufReader<File>,
}

impl SpoolReader {
    /// The next item, or None at the end.
    pub fn next_item(&mut self) -> io::Result<Option<Interned>> {
        if self.input.fill_buf()?.is_empty() {
            return Ok(None);
        }
        let r = &mut self.input;
        let n = read_len(r)?;
        let mut terms = Vec::with_capacity(n);
        for _ in 0..n {
            terms.push((read_u32(r)?, read_u32(r)?));
        }
        let n = read_len(r)?;
        let mut labels = Vec::with_capacity(n);
        for _ in 0..n {
            let mut bytes = vec![0; read_len(r)?];
            r.read_exact(&mut bytes)?;
            labels.push(String::from_utf8(bytes).map_err(|e| bad(&e.to_string()))?);
        }
        Ok(Some(Interned { terms, labels }))
    }
}

fn bad(why: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("spooled index terms: {why}"))
}

/// LEB128: seven bits a byte, low first.
fn varint(w: &mut impl Write, mut v: u64) -> io::Result<()> {
    loop {
        let byte = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            return w.write_all(&[byte]);
        }
        w.write_all(&[byte | 0x80])?;
    }
}

fn read_varint(r: &mut impl Read) -> io::Result<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let mut b = [0u8];
        r.read_exact(&mut b)?;
        v |= u64::from(b[0] & 0x7f) << shift;
        if b[0] & 0x80 == 0 {
            return Ok(v);
        }
    }
    Err(bad("a number longer than 64 bits"))
}

fn read_u32(r: &mut impl Read) -> io::Result<u32> {
    u32::try_from(read_varint(r)?).map_err(|_| bad("a term id over 32 bits"))
}

/// A length, bounded so a damaged file cannot ask for a huge allocation.
fn read_len(r: &mut impl Read) -> io::Result<usize> {
    const MAX: u64 = 1 << 20;
    match read_varint(r)? {
        n if n <= MAX => Ok(n as usize),
        n => Err(bad(&format!("a length of {n}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// What goes in comes out, in order, whatever the ids, counts and label text.
        #[test]
        fn items_come_back_as_they_went_in(
            items in proptest::collection::vec(
                (proptest::collection::vec((proptest::num::u32::ANY, proptest::num::u32::ANY), 0..50),
                 proptest::collection::vec(".{0,20}", 0..4)),
                0..40,
            )
        ) {
            let items: Vec<Interned> =
                items.into_iter().map(|(terms, labels)| Interned { terms, labels }).collect();
            let mut spool = Spool::new(None).unwrap();
            for i in &items {
                spool.push(i).unwrap();
            }
            let mut back = Vec::new();
            let mut r = spool.read().unwrap();
            while let Some(i) = r.next_item().unwrap() {
                back.push(i);
            }
            proptest::prop_assert_eq!(back, items);
        }
    }

    #[test]
    fn a_damaged_spool_is_an_error_not_a_panic() {
        let mut spool = Spool::new(None).unwrap();
        spool.out.write_all(&[0xff; 12]).unwrap();
        let mut r = spool.read().unwrap();
        assert!(r.next_item().is_err());
    }
}
