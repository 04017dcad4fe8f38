//! The similarity index's text pass done while an import writes: items go into the FTS index
//! in the import's own transactions, and their candidate terms are counted on a thread of
//! their own, for the next `refresh_index` of the same store (which then reads no text back).

use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Read, Seek, Write};
use std::path::Path;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;

use super::spool::{Interned, Spool, Vocab};
use crate::text::keywords::{self, LabelPhrases};

/// Batches of texts waiting to be counted: the writer waits when the counting falls this far
/// behind.
const QUEUED: usize = 2;

/// What the writer sends to the counting thread.
enum Msg {
    /// The next dataset and its taxonomy's phrases; its texts follow with its number.
    Dataset(String, LabelPhrases),
    Texts(Vec<Text>),
}

/// An item's text as written, to be counted: the title, and the rest as the index holds it.
pub(super) struct Text {
    pub id: i64,
    /// The item's content hash.
    pub hash: String,
    /// The dataset's number ([`Feeding::dataset`]).
    pub dataset: u32,
    pub title: String,
    pub rest: String,
}

/// One counted item: which item, and of which text and dataset.
#[derive(Debug, Clone, Copy)]
pub(super) struct Entry {
    pub id: i64,
    /// The content hash the terms were counted from.
    pub hash: ShortHash,
    pub dataset: u32,
}

/// Datasets whose items are indexed as they are written, and the thread counting their terms.
pub(super) struct Feeding {
    datasets: Vec<String>,
    sender: Option<SyncSender<Msg>>,
    counter: JoinHandle<std::io::Result<Counted>>,
}

/// Everything counted, handed to the refresh: the interned vocabulary, each item's terms
/// spooled in `entries` order, and the datasets' names and taxonomy hashes by number.
pub(super) struct Counted {
    pub vocab: Vocab,
    pub spool: Spool,
    pub entries: Entries,
    pub datasets: Vec<(String, String)>,
}

/// The counted items' entries, on disk in the order counted (a million of them would hold
/// 32 MB through the import and its refresh).
pub(super) struct Entries {
    out: BufWriter<File>,
    len: usize,
    /// The last id written, and whether every id so far went up (as for new items).
    last: Option<i64>,
    ascending: bool,
}

/// Bytes of one entry on disk: id, hash length, hash bytes, dataset.
const ENTRY_BYTES: usize = 8 + 1 + 16 + 4;

impl Entries {
    /// An empty file beside the store (`dir`), else in the system's temporary folder.
    pub fn new(dir: Option<&Path>) -> io::Result<Entries> {
        let file = super::spool::temp_file(dir)?;
        let out = BufWriter::with_capacity(1 << 16, file);
        Ok(Entries { out, len: 0, last: None, ascending: true })
    }

    pub fn push(&mut self, e: &Entry) -> io::Result<()> {
        let mut record = [0u8; ENTRY_BYTES];
        record[..8].copy_from_slice(&e.id.to_le_bytes());
        record[8] = e.hash.len;
        record[9..25].copy_from_slice(&e.hash.bytes);
        record[25..].copy_from_slice(&e.dataset.to_le_bytes());
        self.len += 1;
        self.ascending &= self.last.is_none_or(|last| e.id > last);
        self.last = Some(e.id);
        self.out.write_all(&record)
    }

    /// Entries written.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the ids went up from each entry to the next.
    pub fn ascending(&self) -> bool {
        self.ascending
    }

    /// The entries, in order, from the start (as often as wanted: the file stays).
    pub fn read(&mut self) -> io::Result<EntryReader> {
        self.out.flush()?;
        let mut file = self.out.get_ref().try_clone()?;
        file.rewind()?;
        Ok(EntryReader { input: BufReader::with_capacity(1 << 16, file), left: self.len })
    }
}

/// Reads [`Entries`] back. The file is shared with the writer: read one at a time.
pub(super) struct EntryReader {
    input: BufReader<File>,
    left: usize,
}

impl EntryReader {
    /// The next entry, or None after the last one written.
    pub fn next_entry(&mut self) -> io::Result<Option<Entry>> {
        if self.left == 0 || self.input.fill_buf()?.is_empty() {
            return Ok(None);
        }
        let mut record = [0u8; ENTRY_BYTES];
        self.input.read_exact(&mut record)?;
        self.left -= 1;
        let (mut id, mut bytes, mut dataset) = ([0u8; 8], [0u8; 16], [0u8; 4]);
        id.copy_from_slice(&record[..8]);
        bytes.copy_from_slice(&record[9..25]);
        dataset.copy_from_slice(&record[25..]);
        let (id, dataset) = (i64::from_le_bytes(id), u32::from_le_bytes(dataset));
        let len = record[8].min(16);
        Ok(Some(Entry { id, hash: ShortHash { len, bytes }, dataset }))
    }
}

impl Feeding {
    /// A counting thread spooling beside the store (`dir`).
    pub fn start(dir: Option<&Path>) -> std::io::Result<Feeding> {
        let spool = Spool::new(dir)?;
        let entries = Entries::new(dir)?;
        let (sender, texts) = sync_channel(QUEUED);
        let counter = std::thread::Builder::new().name("index-terms".into()).spawn(move || {
            crate::background::lower_priority();
            count(texts, spool, entries)
        })?;
        Ok(Feeding { datasets: Vec::new(), sender: Some(sender), counter })
    }

    /// Index `dataset`'s items as they are written, with its taxonomy's phrases.
    pub fn add_dataset(&mut self, dataset: &str, phrases: LabelPhrases) {
        if self.datasets.iter().any(|d| d == dataset) {
            return;
        }
        self.datasets.push(dataset.to_string());
        self.send(Msg::Dataset(dataset.to_string(), phrases));
    }

    /// The number of `dataset` when its items are indexed as written.
    pub fn dataset(&self, dataset: &str) -> Option<u32> {
        self.datasets.iter().position(|d| d == dataset).map(|i| i as u32)
    }

    /// Have these texts counted (sent a batch at a time: one wake-up of the thread each).
    pub fn count(&mut self, texts: Vec<Text>) {
        self.send(Msg::Texts(texts));
    }

    /// A counting thread that stopped (its spool failed) takes nothing more; the refresh then
    /// counts what it missed itself.
    fn send(&mut self, msg: Msg) {
        if let Some(s) = &self.sender
            && s.send(msg).is_err()
        {
            self.sender = None;
        }
    }

    /// Wait for the counting to finish. None when it failed: the refresh's own text pass
    /// covers every item then (their FTS rows are written; only their terms are missing).
    pub fn finish(mut self) -> Option<Counted> {
        self.sender = None;
        // A panic while counting is a bug: it goes on as the same panic here.
        match self.counter.join().unwrap_or_else(|e| std::panic::resume_unwind(e)) {
            Ok(counted) => Some(counted),
            Err(e) => {
                tracing::warn!(error = %e, "counting index terms during the import failed");
                None
            }
        }
    }
}

/// The counting thread: each text's candidate terms, interned and spooled.
fn count(texts: Receiver<Msg>, mut spool: Spool, mut entries: Entries) -> io::Result<Counted> {
    let mut phrases: Vec<LabelPhrases> = Vec::new();
    let mut datasets = Vec::new();
    let mut vocab = Vocab::default();
    for msg in texts {
        let batch = match msg {
            Msg::Dataset(name, p) => {
                datasets.push((name, p.hash().to_string()));
                phrases.push(p);
                continue;
            }
            Msg::Texts(batch) => batch,
        };
        for t in batch {
            let c = keywords::candidates(&t.title, &t.rest, phrases.get(t.dataset as usize));
            spool.push(&Interned { terms: vocab.intern(c.terms), labels: c.labels })?;
            entries.push(&Entry { id: t.id, hash: ShortHash::of(&t.hash), dataset: t.dataset })?;
        }
    }
    Ok(Counted { vocab, spool, entries, datasets })
}

/// The first 16 bytes of a content hash (a SHA-256 in hex: 64 bits of it), enough to tell
/// the text counted from a later one; what the index's work lists keep of a hash (a refresh
/// can list a million items). SQL compares `substr(CAST(content_hash AS BLOB), 1, 16)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct ShortHash {
    len: u8,
    bytes: [u8; 16],
}

impl ShortHash {
    pub fn of(hash: &str) -> Self {
        let len = hash.len().min(16);
        let mut bytes = [0; 16];
        bytes[..len].copy_from_slice(&hash.as_bytes()[..len]);
        Self { len: len as u8, bytes }
    }

    /// The bytes kept, as SQL's `substr` of the blob gives them.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// Entries come back as they went in, in order, each time they are read.
        #[test]
        fn entries_come_back_as_they_went_in(
            items in proptest::collection::vec(
                (proptest::num::i64::ANY, "[0-9a-f]{0,64}", proptest::num::u32::ANY),
                0..60,
            )
        ) {
            let entries: Vec<Entry> = items
                .iter()
                .map(|(id, hash, dataset)| Entry { id: *id, hash: ShortHash::of(hash), dataset: *dataset })
                .collect();
            let mut file = Entries::new(None).unwrap();
            for e in &entries {
                file.push(e).unwrap();
            }
            let up = entries.windows(2).all(|w| w[1].id > w[0].id);
            proptest::prop_assert_eq!(file.ascending(), up);
            for _ in 0..2 {
                let mut r = file.read().unwrap();
                let mut back = Vec::new();
                while let Some(e) = r.next_entry().unwrap() {
                    back.push(e);
                }
                proptest::prop_assert_eq!(back.len(), entries.len());
                for (b, e) in back.iter().zip(&entries) {
                    proptest::prop_assert_eq!((b.id, b.hash, b.dataset), (e.id, e.hash, e.dataset));
                }
            }
        }
    }
}
