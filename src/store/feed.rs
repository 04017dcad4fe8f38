//! The similarity index's text pass done while an import writes: items go into the FTS index
//! in the import's own transactions, and their candidate terms are counted on a thread of
//! their own, for the next `refresh_index` of the same store (which then reads no text back).

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
    pub entries: Vec<Entry>,
    pub datasets: Vec<(String, String)>,
}

impl Feeding {
    /// A counting thread spooling beside the store (`dir`).
    pub fn start(dir: Option<&Path>) -> std::io::Result<Feeding> {
        let spool = Spool::new(dir)?;
        let (sender, texts) = sync_channel(QUEUED);
        let counter = std::thread::Builder::new()
            .name("index-terms".into())
            .spawn(move || count(texts, spool))?;
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
fn count(texts: Receiver<Msg>, mut spool: Spool) -> std::io::Result<Counted> {
    let mut phrases: Vec<LabelPhrases> = Vec::new();
    let mut datasets = Vec::new();
    let mut vocab = Vocab::default();
    let mut entries = Vec::new();
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
            entries.push(Entry { id: t.id, hash: ShortHash::of(&t.hash), dataset: t.dataset });
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
