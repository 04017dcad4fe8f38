//! Local label suggester: hashed n-gram TF-IDF features and calibrated linear models trained
//! offline on a workspace's gold labels, saved as one compact file.
//!
//! Text convention: the first line of an item's text is its title, the rest its body. The body
//! is cleaned (fenced code becomes a marker word, URLs fold to one word, length is capped)
//! because long logs and pasted code otherwise drown the prose that carries the label. Every
//! hash is FNV-1a written out here, so feature indices are the same on every machine and Rust
//! version, and a saved model stays valid.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fs;
use std::ops::Range;
use std::path::{Path, PathBuf};

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// First bytes of a model file.
const MAGIC: &[u8; 8] = b"SIFTLM\x00\x01";
/// Bumped whenever feature extraction or the file layout changes meaning.
const FORMAT_VERSION: u32 = 1;

/// Errors from training, saving and loading a local model.
#[derive(Debug, thiserror::Error)]
pub enum LocalError {
    #[error("not enough data for dimension `{dimension}`: {reason}")]
    NotEnoughData { dimension: String, reason: String },
    #[error("invalid label space: {0}")]
    InvalidDimensions(String),
    #[error("invalid training options: {0}")]
    InvalidOptions(String),
    #[error("cannot access model file {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("malformed model file {path}: {reason}")]
    Format { path: PathBuf, reason: String },
}

/// One dimension of the label space.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dimension {
    pub name: String,
    /// Single-select dimensions get a softmax model, multi-select ones a sigmoid per label.
    pub single: bool,
    pub labels: Vec<String>,
}

/// How text becomes a feature vector.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct FeatureOptions {
    /// The hashed feature space has `2^hash_bits` slots (12..=24), half words, half chars.
    pub hash_bits: u32,
    /// Weight of the title's terms relative to the body's (the title is counted on its own
    /// on top of the body, so 1.0 already favours it).
    pub title_weight: f32,
    /// Character n-grams of whitespace-separated chunks, `char_min..=char_max` (0 disables).
    pub char_min: usize,
    pub char_max: usize,
    /// Weight of the char n-gram block relative to the word block; each is L2-normalised
    /// first, since char n-grams outnumber words ten to one.
    pub char_weight: f32,
    pub word_bigrams: bool,
    /// Replace fenced code blocks by a marker word (their content is mostly identifiers).
    pub strip_code: bool,
    /// Drop HTML comments. Off by default: issue templates differ per issue type and hide
    /// their instructions in comments, so the comments carry label signal.
    pub strip_comments: bool,
    /// Body bytes kept after cleaning; long logs otherwise drown the prose.
    pub max_body_chars: usize,
    /// Features seen in fewer training documents are dropped (noise, and a smaller file).
    pub min_df: u32,
    /// Keep at most this many features, the most frequent first; bounds the file size.
    pub max_features: usize,
}

impl Default for FeatureOptions {
    fn default() -> Self {
        FeatureOptions {
            hash_bits: 20,
            title_weight: 1.0,
            char_min: 2,
            char_max: 4,
            char_weight: 0.7,
            word_bigrams: true,
            strip_code: true,
            strip_comments: false,
            max_body_chars: 3000,
            min_df: 2,
            max_features: 300_000,
        }
    }
}

/// Training hyper-parameters. The defaults were chosen by repeated cross-validation on
/// GitHub issues and checked with nested cross-validation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TrainOptions {
    /// Seeds the held-out split; the fit itself is order-independent.
    pub seed: u64,
    /// Inverse L2 strength as in liblinear: larger fits the training data more closely.
    pub c: f64,
    /// L-BFGS iteration cap per fit.
    pub max_iter: usize,
    /// Relative objective improvement below which L-BFGS stops.
    pub tolerance: f64,
    /// Share of examples held out to fit the calibration.
    pub holdout_fraction: f64,
    /// Weight single-select examples inversely to their class frequency.
    pub class_balanced: bool,
    pub features: FeatureOptions,
}

impl Default for TrainOptions {
    fn default() -> Self {
        TrainOptions {
            seed: 0x5EED,
            c: 5.0,
            max_iter: 100,
            tolerance: 1e-4,
            holdout_fraction: 0.2,
            class_balanced: false,
            features: FeatureOptions::default(),
        }
    }
}

/// Probabilities for one dimension, in the dimension's label order.
#[derive(Debug, Clone, PartialEq)]
pub struct DimensionPrediction {
    pub name: String,
    pub single: bool,
    pub labels: Vec<(String, f64)>,
}

/// A trained, calibrated classifier for every dimension of a label space.
#[derive(Debug, Clone, PartialEq)]
pub struct LocalModel {
    data_fingerprint: String,
    options: TrainOptions,
    dims: Vec<Dimension>,
    vocab: Vocab,
    heads: Vec<Head>,
}

impl LocalModel {
    /// Trains one model per dimension on `(text, labels)` examples.
    pub fn train<T: AsRef<str>, L: AsRef<[String]>>(
        examples: &[(T, L)],
        dims: &[Dimension],
        opts: &TrainOptions,
    ) -> Result<Self, LocalError> {
        validate(dims, opts)?;
        let tasks = dims.iter().map(|d| Task::build(d, examples)).collect::<Result<Vec<_>, _>>()?;
        let texts: Vec<&str> = examples.iter().map(|(t, _)| t.as_ref()).collect();
        let raw = parallel_map(&texts, |t| raw_features(t, &opts.features));
        let vocab = Vocab::fit(&raw, &opts.features);
        let rows = Rows::new(&raw, &vocab, &opts.features);
        let keys: Vec<String> = examples.iter().map(|(_, l)| label_key(l.as_ref())).collect();
        let mut rng = ChaCha8Rng::seed_from_u64(opts.seed);
        let holdout = stratified_holdout(&keys, opts.holdout_fraction, &mut rng);
        let heads =
            tasks.iter().map(|t| train_head(t, &rows, vocab.len(), &holdout, opts)).collect();
        Ok(LocalModel {
            data_fingerprint: data_fingerprint(examples),
            options: opts.clone(),
            dims: dims.to_vec(),
            vocab,
            heads,
        })
    }

    /// Every label of every dimension with its probability, dimensions in order.
    pub fn predict(&self, text: &str) -> Vec<(String, f64)> {
        self.predict_dimensions(text).into_iter().flat_map(|d| d.labels).collect()
    }

    /// Probabilities grouped by dimension; single-select ones sum to 1.
    pub fn predict_dimensions(&self, text: &str) -> Vec<DimensionPrediction> {
        let features = &self.options.features;
        let x = self.vocab.vectorize(&raw_features(text, features), features);
        self.dims
            .iter()
            .zip(&self.heads)
            .map(|(dim, head)| DimensionPrediction {
                name: dim.name.clone(),
                single: dim.single,
                labels: dim.labels.iter().cloned().zip(head.probabilities(&x)).collect(),
            })
            .collect()
    }

    /// Fingerprint of the training data (see [`data_fingerprint`]).
    pub fn fingerprint(&self) -> &str {
        &self.data_fingerprint
    }

    /// True when the gold examples or the label space changed since training.
    pub fn is_stale<T: AsRef<str>, L: AsRef<[String]>>(
        &self,
        examples: &[(T, L)],
        dims: &[Dimension],
    ) -> bool {
        self.dims != dims || self.data_fingerprint != data_fingerprint(examples)
    }

    pub fn dimensions(&self) -> &[Dimension] {
        &self.dims
    }

    pub fn options(&self) -> &TrainOptions {
        &self.options
    }

    /// Writes the model through a temporary file and a rename, so readers never see half.
    pub fn save(&self, path: &Path) -> Result<(), LocalError> {
        let bytes = self.to_bytes().map_err(|reason| format_error(path, reason))?;
        let io = |source| LocalError::Io { path: path.to_path_buf(), source };
        let tmp = path.with_extension("tmp");
        fs::write(&tmp, &bytes).map_err(io)?;
        fs::rename(&tmp, path).map_err(io)
    }

    pub fn load(path: &Path) -> Result<Self, LocalError> {
        let bytes =
            fs::read(path).map_err(|source| LocalError::Io { path: path.to_path_buf(), source })?;
        Self::from_bytes(&bytes).map_err(|reason| format_error(path, reason))
    }
}

fn format_error(path: &Path, reason: String) -> LocalError {
    LocalError::Format { path: path.to_path_buf(), reason }
}

fn validate(dims: &[Dimension], opts: &TrainOptions) -> Result<(), LocalError> {
    if dims.is_empty() {
        return Err(LocalError::InvalidDimensions("no dimensions".into()));
    }
    for dim in dims {
        let mut seen = BTreeSet::new();
        if dim.labels.iter().any(|l| !seen.insert(l)) {
            let msg = format!("dimension `{}` lists a label twice", dim.name);
            return Err(LocalError::InvalidDimensions(msg));
        }
    }
    let invalid = |msg: &str| Err(LocalError::InvalidOptions(msg.into()));
    let f = &opts.features;
    if !(12..=24).contains(&f.hash_bits) {
        return invalid("hash_bits must be within 12..=24");
    }
    if f.char_min > f.char_max || (f.char_min == 0) != (f.char_max == 0) {
        return invalid("char n-gram range must be ordered, or 0..=0 to disable");
    }
    if !(0.0..0.9).contains(&opts.holdout_fraction) {
        return invalid("holdout_fraction must be within [0, 0.9)");
    }
    if !(opts.c > 0.0 && opts.c.is_finite()) {
        return invalid("c must be positive");
    }
    Ok(())
}

/// SHA-256 over the sorted `(text hash, sorted labels)` pairs: independent of example order,
/// so the same gold set always gives the same fingerprint.
pub fn data_fingerprint<T: AsRef<str>, L: AsRef<[String]>>(examples: &[(T, L)]) -> String {
    let mut entries: Vec<([u8; 32], String)> = examples
        .iter()
        .map(|(text, labels)| {
            (Sha256::digest(text.as_ref().as_bytes()).into(), label_key(labels.as_ref()))
        })
        .collect();
    entries.sort();
    let mut hasher = Sha256::new();
    for (text_hash, labels) in &entries {
        hasher.update(text_hash);
        // The length prefix keeps label sets from running into the next entry.
        hasher.update((labels.len() as u64).to_le_bytes());
        hasher.update(labels.as_bytes());
    }
    hasher.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// Sorted, de-duplicated labels joined by a unit separator: a canonical label-set key.
pub(crate) fn label_key(labels: &[String]) -> String {
    let mut sorted: Vec<&str> = labels.iter().map(String::as_str).collect();
    sorted.sort_unstable();
    sorted.dedup();
    sorted.join("\u{1f}")
}

/// Work is split into this many fixed chunks, combined in order, so results never depend on
/// the machine's core count or on scheduling.
const CHUNKS: usize = 2;
/// Below this many items a thread costs more than it saves.
const MIN_PARALLEL: usize = 512;

/// Runs `f` on contiguous ranges covering `0..len` (in parallel when worth it), in order.
fn chunked<R: Send>(len: usize, f: impl Fn(Range<usize>) -> R + Sync) -> Vec<R> {
    if len < MIN_PARALLEL {
        return vec![f(0..len)];
    }
    let size = len.div_ceil(CHUNKS);
    let f = &f;
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..len)
            .step_by(size)
            .map(|from| scope.spawn(move || f(from..(from + size).min(len))))
            .collect();
        // A panic in a worker is a bug; re-raise it on the caller's thread unchanged.
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)))
            .collect()
    })
}

fn parallel_map<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    chunked(items.len(), |range| items[range].iter().map(&f).collect::<Vec<_>>())
        .into_iter()
        .flatten()
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Model file: MAGIC, u64 header length, JSON header, then little-endian arrays: vocabulary ids
// (u32), idf (f32), and each head's feature-major weights (f32).
// ---------------------------------------------------------------------------------------------

/// Everything but the big arrays.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Header {
    format: u32,
    data_fingerprint: String,
    options: TrainOptions,
    dims: Vec<Dimension>,
    vocab_len: usize,
    heads: Vec<HeadMeta>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct HeadMeta {
    bias: Vec<f32>,
    calibration: Calibration,
}

impl LocalModel {
    fn to_bytes(&self) -> Result<Vec<u8>, String> {
        let header = Header {
            format: FORMAT_VERSION,
            data_fingerprint: self.data_fingerprint.clone(),
            options: self.options.clone(),
            dims: self.dims.clone(),
            vocab_len: self.vocab.len(),
            heads: self
                .heads
                .iter()
                .map(|h| HeadMeta {
                    bias: h.linear.bias.clone(),
                    calibration: h.calibration.clone(),
                })
                .collect(),
        };
        let json = serde_json::to_vec(&header).map_err(|e| e.to_string())?;
        let mut out = Vec::with_capacity(16 + json.len() + 8 * self.vocab.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&(json.len() as u64).to_le_bytes());
        out.extend_from_slice(&json);
        out.extend(self.vocab.ids.iter().flat_map(|v| v.to_le_bytes()));
        out.extend(self.vocab.idf.iter().flat_map(|v| v.to_le_bytes()));
        for head in &self.heads {
            out.extend(head.linear.weights.iter().flat_map(|v| v.to_le_bytes()));
        }
        Ok(out)
    }

    fn from_bytes(bytes: &[u8]) -> Result<Self, String> {
        let mut reader = ByteReader { bytes, pos: 0 };
        if reader.take(MAGIC.len())? != MAGIC {
            return Err("not a sift local model (bad magic bytes)".into());
        }
        let json_len = usize::try_from(reader.u64()?).map_err(|e| e.to_string())?;
        let header: Header =
            serde_json::from_slice(reader.take(json_len)?).map_err(|e| e.to_string())?;
        if header.format != FORMAT_VERSION {
            return Err(format!("format {} is not supported", header.format));
        }
        validate(&header.dims, &header.options).map_err(|e| e.to_string())?;
        if header.heads.len() != header.dims.len() {
            return Err("head count differs from dimension count".into());
        }
        let n = header.vocab_len;
        let ids = reader.u32s(n)?;
        let idf = reader.f32s(n)?;
        let vocab = Vocab::new(ids, idf, header.options.features.hash_bits)?;
        let mut heads = Vec::with_capacity(header.heads.len());
        for (meta, dim) in header.heads.into_iter().zip(&header.dims) {
            heads.push(read_head(&mut reader, meta, dim, n)?);
        }
        if reader.pos != bytes.len() {
            return Err("trailing bytes after the weights".into());
        }
        Ok(LocalModel {
            data_fingerprint: header.data_fingerprint,
            options: header.options,
            dims: header.dims,
            vocab,
            heads,
        })
    }
}

fn read_head(
    reader: &mut ByteReader,
    meta: HeadMeta,
    dim: &Dimension,
    n_features: usize,
) -> Result<Head, String> {
    let outputs = dim.labels.len();
    let calibrated = match &meta.calibration {
        Calibration::Temperature(t) => dim.single && *t > 0.0,
        Calibration::Platt(p) => !dim.single && p.len() == outputs,
    };
    if meta.bias.len() != outputs || !calibrated {
        return Err(format!("the model of dimension `{}` has the wrong shape", dim.name));
    }
    let count = n_features.checked_mul(outputs).ok_or("weight count overflows")?;
    let weights = reader.f32s(count)?;
    Ok(Head { linear: Linear { outputs, weights, bias: meta.bias }, calibration: meta.calibration })
}

/// Cursor over a model file's bytes.
struct ByteReader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> ByteReader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self.pos.checked_add(n).filter(|&end| end <= self.bytes.len());
        let end = end.ok_or("file is truncated")?;
        let slice = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(slice)
    }

    fn u64(&mut self) -> Result<u64, String> {
        let mut buf = [0u8; 8];
        buf.copy_from_slice(self.take(8)?);
        Ok(u64::from_le_bytes(buf))
    }

    fn words(&mut self, n: usize) -> Result<impl Iterator<Item = [u8; 4]> + 'a, String> {
        let len = n.checked_mul(4).ok_or("array length overflows")?;
        Ok(self.take(len)?.chunks_exact(4).map(|c| [c[0], c[1], c[2], c[3]]))
    }

    fn u32s(&mut self, n: usize) -> Result<Vec<u32>, String> {
        Ok(self.words(n)?.map(u32::from_le_bytes).collect())
    }

    fn f32s(&mut self, n: usize) -> Result<Vec<f32>, String> {
        Ok(self.words(n)?.map(f32::from_le_bytes).collect())
    }
}

// ---------------------------------------------------------------------------------------------
// Feature extraction
// ---------------------------------------------------------------------------------------------

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// Namespaces keep word, bigram and char n-gram hashes apart.
const NS_WORD: u8 = 1;
const NS_BIGRAM: u8 = 2;
const NS_CHAR: u8 = 3;

fn fnv_extend(mut hash: u64, bytes: &[u8]) -> u64 {
    for &b in bytes {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(FNV_PRIME);
    }
    hash
}

fn fnv_seed(namespace: u8) -> u64 {
    fnv_extend(FNV_OFFSET, &[namespace])
}

/// Folds a 64-bit hash into `mask`, mixing the high bits in.
fn fold(hash: u64, mask: u32) -> u32 {
    ((hash >> 32) ^ hash) as u32 & mask
}

/// Sorted `(hashed feature, weighted sublinear tf)` pairs of one document.
type RawDoc = Vec<(u32, f32)>;

fn raw_features(text: &str, opts: &FeatureOptions) -> RawDoc {
    let (title, body) = text.split_once('\n').unwrap_or((text, ""));
    let mut hashes = Vec::new();
    hash_text(title, opts, &mut hashes);
    let title_counts = sublinear_counts(&mut hashes, opts.title_weight);
    hash_text(&clean_body(body, opts), opts, &mut hashes);
    let body_counts = sublinear_counts(&mut hashes, 1.0);
    merge_sparse(title_counts, body_counts)
}

/// Sorts and run-length counts hashes into `(hash, weight * (1 + ln count))`, draining them.
fn sublinear_counts(hashes: &mut Vec<u32>, weight: f32) -> RawDoc {
    hashes.sort_unstable();
    let mut out: RawDoc = Vec::new();
    for chunk in hashes.chunk_by(|a, b| a == b) {
        out.push((chunk[0], weight * (1.0 + (chunk.len() as f32).ln())));
    }
    hashes.clear();
    out
}

/// Sum of two sorted sparse vectors, by a linear merge.
fn merge_sparse(a: RawDoc, b: RawDoc) -> RawDoc {
    let mut out: RawDoc = Vec::with_capacity(a.len() + b.len());
    let (mut a, mut b) = (a.into_iter().peekable(), b.into_iter().peekable());
    loop {
        let next = match (a.peek(), b.peek()) {
            (Some(x), Some(y)) if x.0 == y.0 => {
                a.next().zip(b.next()).map(|(x, y)| (x.0, x.1 + y.1))
            }
            (Some(x), Some(y)) if x.0 < y.0 => a.next(),
            (Some(_), Some(_)) | (None, Some(_)) => b.next(),
            (Some(_), None) => a.next(),
            (None, None) => return out,
        };
        out.extend(next);
    }
}

/// Strips what carries little label signal per byte: code, URLs, long tails.
fn clean_body(body: &str, opts: &FeatureOptions) -> String {
    let mut out = String::with_capacity(body.len().min(opts.max_body_chars) + 16);
    let mut in_fence = false;
    let mut in_comment = false;
    for line in body.lines() {
        if out.len() >= opts.max_body_chars {
            break;
        }
        let trimmed = line.trim_start();
        if trimmed.starts_with("```") || trimmed.starts_with("~~~") {
            in_fence = !in_fence;
            // One marker per block: "has code" is a signal, its content mostly is not.
            if in_fence && opts.strip_code {
                out.push_str("xxcode\n");
            }
            continue;
        }
        if in_fence && opts.strip_code {
            continue;
        }
        if opts.strip_comments {
            push_folding_urls(&drop_comments(line, &mut in_comment), &mut out);
        } else {
            push_folding_urls(line, &mut out);
        }
    }
    truncate_at_char(&mut out, opts.max_body_chars);
    out
}

/// Removes `<!-- ... -->` spans, which may cross lines (`in_comment` carries the state).
fn drop_comments(line: &str, in_comment: &mut bool) -> String {
    let mut kept = String::new();
    let mut rest = line;
    loop {
        let marker = if *in_comment { "-->" } else { "<!--" };
        let Some(at) = rest.find(marker) else {
            if !*in_comment {
                kept.push_str(rest);
            }
            return kept;
        };
        if !*in_comment {
            kept.push_str(&rest[..at]);
        }
        rest = &rest[at + marker.len()..];
        *in_comment = !*in_comment;
    }
}

/// Appends a line with every URL replaced by one marker word (hosts and paths are noise).
fn push_folding_urls(line: &str, out: &mut String) {
    for (i, word) in line.split_whitespace().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        let url = word.contains("://") || word.starts_with("www.");
        out.push_str(if url { "xxurl" } else { word });
    }
    out.push('\n');
}

fn truncate_at_char(s: &mut String, max_bytes: usize) {
    if s.len() > max_bytes {
        let mut end = max_bytes;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
}

/// Longest chunk given char n-grams; longer ones (hashes, paths, minified code) are noise.
const MAX_CHUNK_CHARS: usize = 24;

/// Appends the hashed word, bigram and char n-gram features of `text` to `out`. Words use the
/// lower half of the hash space and char n-grams the upper half, so the two blocks can be
/// normalised separately.
fn hash_text(text: &str, opts: &FeatureOptions, out: &mut Vec<u32>) {
    let mask = (1u32 << (opts.hash_bits - 1)) - 1;
    let lower = text.to_lowercase();
    let word_seed = fnv_seed(NS_WORD);
    let bigram_seed = fnv_seed(NS_BIGRAM);
    let mut prev: Option<u64> = None;
    for token in tokenize(&lower) {
        let unigram = fnv_extend(word_seed, normalize_word(token).as_bytes());
        out.push(fold(unigram, mask));
        if let (true, Some(p)) = (opts.word_bigrams, prev) {
            let bigram = fnv_extend(bigram_seed, &p.to_le_bytes());
            out.push(fold(fnv_extend(bigram, &unigram.to_le_bytes()), mask));
        }
        prev = Some(unigram);
    }
    if opts.char_min > 0 {
        let char_seed = fnv_seed(NS_CHAR);
        let chunks = lower.split_whitespace().filter(|c| c.chars().count() <= MAX_CHUNK_CHARS);
        // One buffer pair for every chunk: allocating per chunk was a third of inference time.
        let mut scratch = (String::new(), Vec::new());
        chunks.for_each(|chunk| char_ngrams(chunk, char_seed, opts, mask, &mut scratch, out));
    }
}

/// Alphanumeric runs, plus `?` as a token of its own: one of the few marks of a question.
fn tokenize(lower: &str) -> Vec<&str> {
    let mut tokens = Vec::new();
    let mut start: Option<usize> = None;
    for (i, c) in lower.char_indices() {
        match (c.is_alphanumeric(), start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                tokens.push(&lower[s..i]);
                start = None;
            }
            _ => {}
        }
        if c == '?' {
            tokens.push("?");
        }
    }
    if let Some(s) = start {
        tokens.push(&lower[s..]);
    }
    tokens
}

/// Numbers collapse to one token (versions and ids are noise); overlong words to a marker.
fn normalize_word(word: &str) -> &str {
    if word.bytes().all(|b| b.is_ascii_digit()) {
        "0"
    } else if word.chars().count() > MAX_CHUNK_CHARS {
        "xxlong"
    } else {
        word
    }
}

/// Character n-grams of ` chunk ` (space-padded so prefixes and suffixes are distinct), in
/// the upper half of the hash space. Each start position extends one hash for every length.
fn char_ngrams(
    chunk: &str,
    seed: u64,
    opts: &FeatureOptions,
    mask: u32,
    (padded, bounds): &mut (String, Vec<usize>),
    out: &mut Vec<u32>,
) {
    padded.clear();
    padded.extend([" ", chunk, " "]);
    bounds.clear();
    bounds.extend(padded.char_indices().map(|(i, _)| i));
    bounds.push(padded.len());
    let n_chars = bounds.len() - 1;
    let bytes = padded.as_bytes();
    for start in 0..n_chars {
        let mut hash = seed;
        for n in 1..=opts.char_max.min(n_chars - start) {
            hash = fnv_extend(hash, &bytes[bounds[start + n - 1]..bounds[start + n]]);
            if n >= opts.char_min {
                out.push(fold(hash, mask) | (mask + 1));
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Vocabulary and TF-IDF vectors
// ---------------------------------------------------------------------------------------------

/// Kept hashed features, their idf, and a dense map from hashed slot to compact index.
#[derive(Debug, Clone, PartialEq)]
struct Vocab {
    ids: Vec<u32>,
    idf: Vec<f32>,
    /// `lookup[hash] = compact index + 1`, 0 when the feature is not kept.
    lookup: Vec<u32>,
}

impl Vocab {
    fn new(ids: Vec<u32>, idf: Vec<f32>, hash_bits: u32) -> Result<Self, String> {
        let mut lookup = vec![0u32; 1usize << hash_bits];
        for (i, &id) in ids.iter().enumerate() {
            let slot = lookup.get_mut(id as usize).ok_or("feature id outside the hash space")?;
            *slot = u32::try_from(i + 1).map_err(|e| e.to_string())?;
        }
        Ok(Vocab { ids, idf, lookup })
    }

    /// Keeps features with `df >= min_df` (at most `max_features`, most frequent first) with
    /// smoothed idf `ln((1 + n) / (1 + df)) + 1`.
    fn fit(docs: &[RawDoc], opts: &FeatureOptions) -> Self {
        let mut df = vec![0u32; 1usize << opts.hash_bits];
        for doc in docs {
            doc.iter().for_each(|&(h, _)| df[h as usize] += 1);
        }
        let min_df = opts.min_df.max(1);
        let mut kept: Vec<u32> =
            (0u32..).zip(&df).filter(|&(_, &d)| d >= min_df).map(|(h, _)| h).collect();
        if kept.len() > opts.max_features {
            // Ties broken by id so the choice is deterministic.
            kept.sort_by_key(|&h| (std::cmp::Reverse(df[h as usize]), h));
            kept.truncate(opts.max_features);
            kept.sort_unstable();
        }
        let n = docs.len() as f32;
        let idf = kept.iter().map(|&h| ((1.0 + n) / (1.0 + df[h as usize] as f32)).ln() + 1.0);
        let idf = idf.collect();
        let mut lookup = vec![0u32; df.len()];
        // At most 2^24 features, so the compact index fits in u32.
        (1u32..).zip(&kept).for_each(|(i, &h)| lookup[h as usize] = i);
        Vocab { ids: kept, idf, lookup }
    }

    fn len(&self) -> usize {
        self.ids.len()
    }

    /// TF-IDF over kept features; the word and char blocks are L2-normalised separately,
    /// weighted, then the whole vector is normalised. Unknown features are ignored.
    fn vectorize(&self, raw: &RawDoc, opts: &FeatureOptions) -> Vec<(u32, f32)> {
        let mut x: Vec<(u32, f32)> = raw
            .iter()
            .filter_map(|&(h, tf)| {
                let i = self.lookup.get(h as usize)?.checked_sub(1)?;
                Some((i, tf * self.idf[i as usize]))
            })
            .collect();
        let char_start = 1u32 << (opts.hash_bits - 1);
        let block = |i: u32| usize::from(self.ids[i as usize] >= char_start);
        let mut norms = [0f32; 2];
        x.iter().for_each(|&(i, v)| norms[block(i)] += v * v);
        let weight = [1.0, opts.char_weight];
        let scale = |b: usize| if norms[b] > 0.0 { weight[b] / norms[b].sqrt() } else { 0.0 };
        let scale = [scale(0), scale(1)];
        x.iter_mut().for_each(|e| e.1 *= scale[block(e.0)]);
        let total = x.iter().map(|&(_, v)| v * v).sum::<f32>().sqrt();
        if total > 0.0 {
            x.iter_mut().for_each(|e| e.1 /= total);
        }
        x
    }
}

/// Sparse training rows in compressed form.
struct Rows {
    start: Vec<usize>,
    entries: Vec<(u32, f32)>,
}

impl Rows {
    fn new(raw: &[RawDoc], vocab: &Vocab, opts: &FeatureOptions) -> Self {
        let mut start = vec![0];
        let mut entries = Vec::new();
        for row in parallel_map(raw, |doc| vocab.vectorize(doc, opts)) {
            entries.extend(row);
            start.push(entries.len());
        }
        Rows { start, entries }
    }

    fn row(&self, i: usize) -> &[(u32, f32)] {
        &self.entries[self.start[i]..self.start[i + 1]]
    }
}

// ---------------------------------------------------------------------------------------------
// Tasks: which examples train which dimension, with what target
// ---------------------------------------------------------------------------------------------

/// What one example should score.
enum Target {
    /// Index of the one label (single-select).
    Class(usize),
    /// Presence of each label (multi-select).
    Flags(Vec<bool>),
}

/// The training samples of one dimension: `(example index, target)`.
struct Task {
    outputs: usize,
    single: bool,
    samples: Vec<(usize, Target)>,
}

impl Task {
    fn build<T, L: AsRef<[String]>>(
        dim: &Dimension,
        examples: &[(T, L)],
    ) -> Result<Self, LocalError> {
        let samples =
            if dim.single { single_samples(dim, examples) } else { multi_samples(dim, examples) };
        let task = Task { outputs: dim.labels.len(), single: dim.single, samples };
        let reason = if task.single && task.class_counts().iter().filter(|&&c| c > 0).count() < 2 {
            "fewer than 2 labels have examples"
        } else if !task.single && !task.has_informative_label() {
            "no label has both positive and negative examples"
        } else {
            return Ok(task);
        };
        Err(LocalError::NotEnoughData { dimension: dim.name.clone(), reason: reason.into() })
    }

    fn class_of(&self, sample: usize) -> usize {
        match self.samples[sample].1 {
            Target::Class(c) => c,
            Target::Flags(_) => 0,
        }
    }

    fn flag(&self, sample: usize, label: usize) -> bool {
        matches!(&self.samples[sample].1, Target::Flags(f) if f[label])
    }

    fn class_counts(&self) -> Vec<usize> {
        let mut counts = vec![0; self.outputs];
        (0..self.samples.len()).for_each(|s| counts[self.class_of(s)] += 1);
        counts
    }

    fn has_informative_label(&self) -> bool {
        let seen = |j: usize, want: bool| (0..self.samples.len()).any(|s| self.flag(s, j) == want);
        (0..self.outputs).any(|j| seen(j, true) && seen(j, false))
    }
}

/// Examples carrying exactly one label of the dimension; others are ambiguous and skipped.
fn single_samples<T, L: AsRef<[String]>>(
    dim: &Dimension,
    examples: &[(T, L)],
) -> Vec<(usize, Target)> {
    let index: BTreeMap<&str, usize> =
        dim.labels.iter().enumerate().map(|(i, l)| (l.as_str(), i)).collect();
    let only_label = |labels: &[String]| {
        let mut hits: BTreeSet<usize> = BTreeSet::new();
        hits.extend(labels.iter().filter_map(|l| index.get(l.as_str()).copied()));
        if hits.len() == 1 { hits.pop_first() } else { None }
    };
    let classes = examples.iter().map(|(_, labels)| only_label(labels.as_ref()));
    classes.enumerate().filter_map(|(i, c)| Some((i, Target::Class(c?)))).collect()
}

/// Every example with any label of the label space counts, absent labels as negatives; an
/// example with no label at all is unlabelled rather than negative for everything.
fn multi_samples<T, L: AsRef<[String]>>(
    dim: &Dimension,
    examples: &[(T, L)],
) -> Vec<(usize, Target)> {
    examples
        .iter()
        .enumerate()
        .filter(|(_, (_, labels))| !labels.as_ref().is_empty())
        .map(|(i, (_, labels))| {
            let labels = labels.as_ref();
            (i, Target::Flags(dim.labels.iter().map(|l| labels.contains(l)).collect()))
        })
        .collect()
}

/// Marks held-out examples, stratified by label set so rare sets are represented.
fn stratified_holdout(keys: &[String], fraction: f64, rng: &mut ChaCha8Rng) -> Vec<bool> {
    let mut groups: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, k) in keys.iter().enumerate() {
        groups.entry(k.as_str()).or_default().push(i);
    }
    let mut held = vec![false; keys.len()];
    // The fractional remainder carries over so many small groups still add up to `fraction`.
    let mut carry = 0.0;
    for members in groups.values_mut() {
        members.shuffle(rng);
        let want = members.len() as f64 * fraction + carry;
        let take = want.floor() as usize;
        carry = want - take as f64;
        members.iter().take(take).for_each(|&i| held[i] = true);
    }
    held
}

// ---------------------------------------------------------------------------------------------
// Models and calibration
// ---------------------------------------------------------------------------------------------

/// How raw scores become probabilities.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
enum Calibration {
    /// Softmax of the scores divided by this temperature.
    Temperature(f64),
    /// Per label `(a, b)` with `p = 1 / (1 + exp(a * score + b))` (Platt's parametrisation).
    Platt(Vec<(f64, f64)>),
}

/// A linear scorer over the compact vocabulary; weights are feature-major.
#[derive(Debug, Clone, PartialEq)]
struct Linear {
    outputs: usize,
    weights: Vec<f32>,
    bias: Vec<f32>,
}

impl Linear {
    fn scores(&self, x: &[(u32, f32)]) -> Vec<f32> {
        let mut out = self.bias.clone();
        for &(j, v) in x {
            let w = &self.weights[j as usize * self.outputs..(j as usize + 1) * self.outputs];
            out.iter_mut().zip(w).for_each(|(o, w)| *o += v * w);
        }
        out
    }
}

#[derive(Debug, Clone, PartialEq)]
struct Head {
    linear: Linear,
    calibration: Calibration,
}

impl Head {
    fn probabilities(&self, x: &[(u32, f32)]) -> Vec<f64> {
        let scores = self.linear.scores(x);
        match &self.calibration {
            Calibration::Temperature(t) => {
                softmax(&scores.iter().map(|&s| f64::from(s) / t).collect::<Vec<_>>())
            }
            Calibration::Platt(params) => scores
                .iter()
                .zip(params)
                .map(|(&s, &(a, b))| sigmoid(-(a * f64::from(s) + b)))
                .collect(),
        }
    }
}

fn softmax(z: &[f64]) -> Vec<f64> {
    let max = z.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let exp: Vec<f64> = z.iter().map(|&v| (v - max).exp()).collect();
    let sum: f64 = exp.iter().sum();
    exp.into_iter().map(|e| e / sum).collect()
}

fn sigmoid(z: f64) -> f64 {
    if z >= 0.0 { 1.0 / (1.0 + (-z).exp()) } else { z.exp() / (1.0 + z.exp()) }
}

/// `ln(1 + e^z)` without overflow.
fn softplus(z: f64) -> f64 {
    if z > 0.0 { z + (-z).exp().ln_1p() } else { z.exp().ln_1p() }
}

/// Fewest held-out samples worth fitting a calibration on; below that scores stay raw.
const MIN_CALIBRATION: usize = 20;

/// Fits the calibration on a model trained without the held-out samples, then refits on all
/// samples (warm-started from the first fit) and keeps that calibration.
fn train_head(
    task: &Task,
    rows: &Rows,
    n_features: usize,
    holdout: &[bool],
    opts: &TrainOptions,
) -> Head {
    let all: Vec<usize> = (0..task.samples.len()).collect();
    let (held, fit): (Vec<usize>, Vec<usize>) =
        all.iter().partition(|&&s| holdout[task.samples[s].0]);
    let (calibration, warm) = if held.len() >= MIN_CALIBRATION && !fit.is_empty() {
        let probe = train_linear(task, rows, &fit, n_features, opts, None);
        (calibrate(task, rows, &probe, &held), Some(probe))
    } else {
        (identity_calibration(task), None)
    };
    let linear = train_linear(task, rows, &all, n_features, opts, warm.as_ref());
    Head { linear, calibration }
}

fn identity_calibration(task: &Task) -> Calibration {
    if task.single {
        Calibration::Temperature(1.0)
    } else {
        Calibration::Platt(vec![(-1.0, 0.0); task.outputs])
    }
}

fn calibrate(task: &Task, rows: &Rows, probe: &Linear, held: &[usize]) -> Calibration {
    let scores: Vec<Vec<f32>> =
        held.iter().map(|&s| probe.scores(rows.row(task.samples[s].0))).collect();
    if task.single {
        let classes: Vec<usize> = held.iter().map(|&s| task.class_of(s)).collect();
        return Calibration::Temperature(fit_temperature(&scores, &classes));
    }
    let params = (0..task.outputs)
        .map(|j| {
            let s: Vec<f64> = scores.iter().map(|v| f64::from(v[j])).collect();
            let y: Vec<bool> = held.iter().map(|&s| task.flag(s, j)).collect();
            fit_platt(&s, &y)
        })
        .collect();
    Calibration::Platt(params)
}

/// Temperature minimising the held-out negative log-likelihood. The NLL is convex in `1/T`,
/// so a golden-section search over `ln(1/T)` finds the optimum without derivatives.
fn fit_temperature(scores: &[Vec<f32>], classes: &[usize]) -> f64 {
    let nll = |log_beta: f64| {
        let beta = log_beta.exp();
        let sample = |(s, &c): (&Vec<f32>, &usize)| {
            let z: Vec<f64> = s.iter().map(|&v| f64::from(v) * beta).collect();
            let max = z.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            max + z.iter().map(|&v| (v - max).exp()).sum::<f64>().ln() - z[c]
        };
        scores.iter().zip(classes).map(sample).sum::<f64>()
    };
    1.0 / golden_min(nll, 0.01f64.ln(), 100f64.ln(), 80).exp()
}

/// Minimum of a unimodal function on `[lo, hi]`.
fn golden_min(f: impl Fn(f64) -> f64, mut lo: f64, mut hi: f64, iterations: usize) -> f64 {
    let ratio = (5f64.sqrt() - 1.0) / 2.0;
    let mut a = hi - ratio * (hi - lo);
    let mut b = lo + ratio * (hi - lo);
    let (mut fa, mut fb) = (f(a), f(b));
    for _ in 0..iterations {
        if fa <= fb {
            (hi, b, fb) = (b, a, fa);
            a = hi - ratio * (hi - lo);
            fa = f(a);
        } else {
            (lo, a, fa) = (a, b, fb);
            b = lo + ratio * (hi - lo);
            fb = f(b);
        }
    }
    (lo + hi) / 2.0
}

/// Platt scaling `p = 1 / (1 + exp(a * s + b))` fitted by Newton's method with backtracking,
/// on smoothed targets (Lin, Lin & Weng 2007) so tiny or separable sets stay finite.
fn fit_platt(scores: &[f64], positive: &[bool]) -> (f64, f64) {
    let n_pos = positive.iter().filter(|&&p| p).count() as f64;
    let n_neg = positive.len() as f64 - n_pos;
    let (hi, lo) = ((n_pos + 1.0) / (n_pos + 2.0), 1.0 / (n_neg + 2.0));
    let targets: Vec<f64> = positive.iter().map(|&p| if p { hi } else { lo }).collect();
    let platt = Platt { scores, targets: &targets };
    let mut ab = (0.0, ((n_neg + 1.0) / (n_pos + 1.0)).ln());
    let mut value = platt.objective(ab);
    for _ in 0..100 {
        let Some((next, next_value)) = platt.newton_step(ab, value) else { break };
        (ab, value) = (next, next_value);
    }
    ab
}

struct Platt<'a> {
    scores: &'a [f64],
    targets: &'a [f64],
}

impl Platt<'_> {
    /// Cross-entropy of `p = 1 / (1 + exp(f))` against the targets, `f = a * s + b`.
    fn objective(&self, (a, b): (f64, f64)) -> f64 {
        let term = |(&s, &t): (&f64, &f64)| {
            let f = a * s + b;
            t * f + softplus(-f)
        };
        self.scores.iter().zip(self.targets).map(term).sum()
    }

    /// One damped Newton step; `None` once converged or no step improves the objective.
    fn newton_step(&self, (a, b): (f64, f64), value: f64) -> Option<((f64, f64), f64)> {
        // A tiny ridge keeps the Hessian invertible when all scores are equal.
        let (mut h11, mut h22, mut h21, mut g1, mut g2) = (1e-12, 1e-12, 0.0, 0.0, 0.0);
        for (&s, &t) in self.scores.iter().zip(self.targets) {
            let p = sigmoid(-(a * s + b));
            let d2 = p * (1.0 - p);
            (h11, h22, h21) = (h11 + s * s * d2, h22 + d2, h21 + s * d2);
            (g1, g2) = (g1 + s * (t - p), g2 + (t - p));
        }
        if g1.abs() < 1e-5 && g2.abs() < 1e-5 {
            return None;
        }
        let det = h11 * h22 - h21 * h21;
        let (da, db) = (-(h22 * g1 - h21 * g2) / det, -(-h21 * g1 + h11 * g2) / det);
        let slope = g1 * da + g2 * db;
        let mut step = 1.0;
        while step >= 1e-10 {
            let next = (a + step * da, b + step * db);
            let next_value = self.objective(next);
            if next_value < value + 1e-4 * step * slope {
                return Some((next, next_value));
            }
            step /= 2.0;
        }
        None
    }
}

// ---------------------------------------------------------------------------------------------
// L2-regularised logistic regression by L-BFGS
// ---------------------------------------------------------------------------------------------

/// Per-sample weights aligned with `subset`: with balancing every class carries the same
/// total weight (multi-select labels are already one-vs-rest, so they stay at 1).
fn sample_weights(task: &Task, subset: &[usize], balanced: bool) -> Vec<f32> {
    if !(balanced && task.single) {
        return vec![1.0; subset.len()];
    }
    let mut counts = vec![0usize; task.outputs];
    subset.iter().for_each(|&s| counts[task.class_of(s)] += 1);
    let present = counts.iter().filter(|&&c| c > 0).count() as f32;
    let weight = |s: usize| subset.len() as f32 / (present * counts[task.class_of(s)] as f32);
    subset.iter().map(|&s| weight(s)).collect()
}

/// Fits the regularised objective exactly, by full-batch L-BFGS: unlike SGD the optimum does
/// not depend on example order, so the same data always gives the same model.
fn train_linear(
    task: &Task,
    rows: &Rows,
    subset: &[usize],
    n_features: usize,
    opts: &TrainOptions,
    warm: Option<&Linear>,
) -> Linear {
    let k = task.outputs;
    let weights = sample_weights(task, subset, opts.class_balanced);
    let objective = Objective { task, rows, subset, weights, n_features, c: opts.c };
    let start = match warm {
        Some(w) => w.weights.iter().chain(&w.bias).copied().collect(),
        None => vec![0f32; (n_features + 1) * k],
    };
    let theta = lbfgs(&objective, start, opts.max_iter, opts.tolerance);
    let (weights, bias) = theta.split_at(n_features * k);
    Linear { outputs: k, weights: weights.to_vec(), bias: bias.to_vec() }
}

/// `C * sum(weight * log-loss) + |W|^2 / 2` over a subset of a task's samples. Parameters are
/// the feature-major weights followed by the (unpenalised) biases.
struct Objective<'a> {
    task: &'a Task,
    rows: &'a Rows,
    subset: &'a [usize],
    weights: Vec<f32>,
    n_features: usize,
    c: f64,
}

impl Objective<'_> {
    fn value_and_gradient(&self, theta: &[f32], grad: &mut [f32]) -> f64 {
        let parts = chunked(self.subset.len(), |range| self.partial(theta, range));
        grad.iter_mut().for_each(|g| *g = 0.0);
        let mut loss = 0.0;
        for (part_loss, part_grad) in parts {
            loss += part_loss;
            grad.iter_mut().zip(&part_grad).for_each(|(g, p)| *g += p);
        }
        let c = self.c as f32;
        let n_weights = self.n_features * self.task.outputs;
        let mut penalty = 0.0;
        for (i, (g, &t)) in grad.iter_mut().zip(theta).enumerate() {
            *g *= c;
            if i < n_weights {
                *g += t;
                penalty += f64::from(t) * f64::from(t);
            }
        }
        self.c * loss + 0.5 * penalty
    }

    /// Unscaled loss and gradient of the samples `subset[range]`.
    fn partial(&self, theta: &[f32], range: Range<usize>) -> (f64, Vec<f32>) {
        let k = self.task.outputs;
        let (w, bias) = theta.split_at(self.n_features * k);
        let mut grad = vec![0f32; theta.len()];
        let mut loss = 0.0;
        let mut diff = vec![0f32; k];
        for pos in range {
            let (row, target) = &self.task.samples[self.subset[pos]];
            let x = self.rows.row(*row);
            let mut z = bias.to_vec();
            for &(j, v) in x {
                let wj = &w[j as usize * k..(j as usize + 1) * k];
                z.iter_mut().zip(wj).for_each(|(z, w)| *z += v * w);
            }
            let weight = self.weights[pos];
            loss += f64::from(weight) * sample_loss(&z, target, &mut diff);
            diff.iter_mut().for_each(|d| *d *= weight);
            for &(j, v) in x {
                let gj = &mut grad[j as usize * k..(j as usize + 1) * k];
                gj.iter_mut().zip(&diff).for_each(|(g, d)| *g += v * d);
            }
            let gb = &mut grad[self.n_features * k..];
            gb.iter_mut().zip(&diff).for_each(|(g, d)| *g += d);
        }
        (loss, grad)
    }
}

/// Log-loss of one sample; writes `d loss / d score` into `diff`.
fn sample_loss(z: &[f32], target: &Target, diff: &mut [f32]) -> f64 {
    match target {
        Target::Class(c) => {
            let p = softmax(&z.iter().map(|&v| f64::from(v)).collect::<Vec<_>>());
            for (j, (d, &p)) in diff.iter_mut().zip(&p).enumerate() {
                *d = (p - if j == *c { 1.0 } else { 0.0 }) as f32;
            }
            -p[*c].max(1e-300).ln()
        }
        Target::Flags(flags) => {
            let mut loss = 0.0;
            for ((d, &zj), &yj) in diff.iter_mut().zip(z).zip(flags) {
                let (zj, y) = (f64::from(zj), if yj { 1.0 } else { 0.0 });
                *d = (sigmoid(zj) - y) as f32;
                loss += softplus(zj) - y * zj;
            }
            loss
        }
    }
}

/// Curvature pairs L-BFGS remembers; memory is `2 * LBFGS_MEMORY + 4` parameter vectors.
const LBFGS_MEMORY: usize = 7;

type Curvature = VecDeque<(Vec<f32>, Vec<f32>, f64)>;

/// Minimises `objective` from `x`; stops after `max_iter` iterations or once an iteration
/// improves the value by less than `tolerance` (relative).
fn lbfgs(objective: &Objective, mut x: Vec<f32>, max_iter: usize, tolerance: f64) -> Vec<f32> {
    let mut grad = vec![0f32; x.len()];
    let mut value = objective.value_and_gradient(&x, &mut grad);
    let mut history = Curvature::new();
    for _ in 0..max_iter {
        let mut direction = lbfgs_direction(&grad, &history);
        if dot(&grad, &direction) >= 0.0 {
            // Stale curvature gave no descent direction: restart from steepest descent.
            history.clear();
            direction = grad.iter().map(|g| -g).collect();
        }
        // Without curvature information the first step is scaled to unit length; such a step
        // says little about convergence, so the stopping test waits for a curvature step.
        let steepest = history.is_empty();
        let first = if steepest { 1.0 / dot(&grad, &grad).sqrt().max(1.0) } else { 1.0 };
        let Some((x_new, grad_new, new_value)) =
            line_search(objective, &x, &direction, &grad, value, first)
        else {
            break;
        };
        remember(&mut history, &x_new, &x, &grad_new, &grad);
        let improvement = (value - new_value) / new_value.abs().max(1.0);
        (x, grad, value) = (x_new, grad_new, new_value);
        if improvement < tolerance && !steepest {
            break;
        }
    }
    x
}

/// Backtracking line search with the Armijo condition; `None` when no step decreases the value.
fn line_search(
    objective: &Objective,
    x: &[f32],
    direction: &[f32],
    grad: &[f32],
    value: f64,
    mut step: f64,
) -> Option<(Vec<f32>, Vec<f32>, f64)> {
    let slope = dot(grad, direction);
    if slope.abs() < 1e-20 {
        return None;
    }
    let mut grad_new = vec![0f32; x.len()];
    while step >= 1e-10 {
        let x_new: Vec<f32> =
            x.iter().zip(direction).map(|(&x, &d)| x + (step * f64::from(d)) as f32).collect();
        let new_value = objective.value_and_gradient(&x_new, &mut grad_new);
        if new_value <= value + 1e-4 * step * slope {
            return Some((x_new, grad_new, new_value));
        }
        step *= 0.5;
    }
    None
}

fn remember(history: &mut Curvature, x_new: &[f32], x: &[f32], g_new: &[f32], g: &[f32]) {
    let s: Vec<f32> = x_new.iter().zip(x).map(|(a, b)| a - b).collect();
    let y: Vec<f32> = g_new.iter().zip(g).map(|(a, b)| a - b).collect();
    let sy = dot(&s, &y);
    // Only pairs with positive curvature keep the inverse-Hessian estimate positive definite.
    if sy > 1e-12 {
        if history.len() == LBFGS_MEMORY {
            history.pop_front();
        }
        history.push_back((s, y, 1.0 / sy));
    }
}

/// Two-loop recursion: `-H * grad` from the remembered curvature pairs.
fn lbfgs_direction(grad: &[f32], history: &Curvature) -> Vec<f32> {
    let mut q: Vec<f64> = grad.iter().map(|&g| f64::from(g)).collect();
    let mut alphas = Vec::with_capacity(history.len());
    for (s, y, rho) in history.iter().rev() {
        let alpha = rho * dot_mixed(s, &q);
        q.iter_mut().zip(y).for_each(|(q, &y)| *q -= alpha * f64::from(y));
        alphas.push(alpha);
    }
    if let Some((s, y, _)) = history.back() {
        let gamma = dot(s, y) / dot(y, y).max(1e-300);
        q.iter_mut().for_each(|q| *q *= gamma);
    }
    for ((s, y, rho), alpha) in history.iter().zip(alphas.into_iter().rev()) {
        let beta = rho * dot_mixed(y, &q);
        q.iter_mut().zip(s).for_each(|(q, &s)| *q += (alpha - beta) * f64::from(s));
    }
    q.into_iter().map(|v| -v as f32).collect()
}

fn dot(a: &[f32], b: &[f32]) -> f64 {
    a.iter().zip(b).map(|(&a, &b)| f64::from(a) * f64::from(b)).sum()
}

fn dot_mixed(a: &[f32], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(&a, &b)| f64::from(a) * b).sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::Rng;

    const BUG: [&str; 6] = ["crash", "panic", "error", "broken", "fails", "segfault"];
    const FEATURE: [&str; 6] = ["add", "support", "option", "allow", "proposal", "enhance"];
    const QUESTION: [&str; 6] = ["how", "why", "what", "possible", "understand", "help"];
    const FILLER: [&str; 8] = ["the", "editor", "file", "when", "i", "open", "window", "app"];

    fn type_dim() -> Dimension {
        Dimension {
            name: "type".into(),
            single: true,
            labels: vec!["bug".into(), "feature".into(), "question".into()],
        }
    }

    /// A title line and a body mixing two class words into filler, code and a URL.
    fn synthetic(class: usize, rng: &mut ChaCha8Rng) -> String {
        let words = [BUG, FEATURE, QUESTION][class];
        let mut pick = |from: &[&'static str]| from[rng.random_range(0..from.len())];
        let title = format!("{} {} {}", pick(&FILLER), pick(&words), pick(&FILLER));
        let body: Vec<&str> =
            (0..30).map(|i| if i % 7 == 0 { pick(&words) } else { pick(&FILLER) }).collect();
        format!(
            "{title}\n{}\n```\nlet x = 1;\n```\nsee https://example.com/{class}",
            body.join(" ")
        )
    }

    fn synthetic_set(n: usize, seed: u64) -> Vec<(String, Vec<String>)> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let labels = type_dim().labels;
        (0..n).map(|i| (synthetic(i % 3, &mut rng), vec![labels[i % 3].clone()])).collect()
    }

    fn argmax(probs: &[(String, f64)]) -> &str {
        let best = probs.iter().max_by(|a, b| a.1.total_cmp(&b.1));
        best.map(|(l, _)| l.as_str()).unwrap_or("")
    }

    proptest::proptest! {
        #[test]
        fn merge_sparse_sums_like_a_map(
            a in proptest::collection::btree_map(0u32..64, 0u8..9, 0..20),
            b in proptest::collection::btree_map(0u32..64, 0u8..9, 0..20),
        ) {
            let doc = |m: &BTreeMap<u32, u8>| m.iter().map(|(&h, &v)| (h, f32::from(v))).collect();
            let mut want: BTreeMap<u32, f32> = BTreeMap::new();
            for (&h, &v) in a.iter().chain(&b) {
                *want.entry(h).or_default() += f32::from(v);
            }
            let want: RawDoc = want.into_iter().collect();
            proptest::prop_assert_eq!(merge_sparse(doc(&a), doc(&b)), want);
        }
    }

    #[test]
    fn learns_a_separable_toy_problem() {
        let model =
            LocalModel::train(&synthetic_set(150, 1), &[type_dim()], &TrainOptions::default())
                .unwrap();
        let test = synthetic_set(60, 2);
        let correct = test.iter().filter(|(t, l)| argmax(&model.predict(t)) == l[0]).count();
        assert!(correct >= 57, "only {correct}/60 correct");
    }

    #[test]
    fn training_is_deterministic() {
        let data = synthetic_set(90, 3);
        let opts = TrainOptions::default();
        let a = LocalModel::train(&data, &[type_dim()], &opts).unwrap();
        let b = LocalModel::train(&data, &[type_dim()], &opts).unwrap();
        assert_eq!(a.to_bytes().unwrap(), b.to_bytes().unwrap());
    }

    #[test]
    fn save_load_round_trip_keeps_predictions() {
        let data = synthetic_set(90, 4);
        let model = LocalModel::train(&data, &[type_dim()], &TrainOptions::default()).unwrap();
        let dir = std::env::temp_dir().join(format!("sift-local-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("model.bin");
        model.save(&path).unwrap();
        let loaded = LocalModel::load(&path).unwrap();
        fs::remove_dir_all(&dir).unwrap();
        assert_eq!(loaded, model);
        assert_eq!(loaded.fingerprint(), data_fingerprint(&data));
        for (text, _) in synthetic_set(20, 5) {
            assert_eq!(loaded.predict(&text), model.predict(&text));
        }
    }

    #[test]
    fn softmax_probabilities_sum_to_one() {
        let model =
            LocalModel::train(&synthetic_set(90, 6), &[type_dim()], &TrainOptions::default())
                .unwrap();
        for text in ["", "how do i", "crash crash crash\nbody", "ünïcödé 日本語 ?"] {
            let probs = model.predict(text);
            assert_eq!(probs.len(), 3);
            assert!(probs.iter().all(|(_, p)| (0.0..=1.0).contains(p)));
            let sum: f64 = probs.iter().map(|(_, p)| p).sum();
            assert!((sum - 1.0).abs() < 1e-9, "sum {sum}");
        }
    }

    #[test]
    fn multi_select_dimension_gives_independent_probabilities() {
        let area = Dimension {
            name: "area".into(),
            single: false,
            labels: vec!["ui".into(), "docs".into()],
        };
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let data: Vec<(String, Vec<String>)> = (0..120)
            .map(|i| {
                let mut labels = vec![["bug", "feature", "question"][i % 3].to_string()];
                let mut text = synthetic(i % 3, &mut rng);
                if i % 4 == 0 {
                    labels.push("ui".into());
                    text.push_str(" button layout");
                }
                if i % 5 == 0 {
                    labels.push("docs".into());
                    text.push_str(" readme typo");
                }
                (text, labels)
            })
            .collect();
        let model =
            LocalModel::train(&data, &[type_dim(), area], &TrainOptions::default()).unwrap();
        let dims = model.predict_dimensions("window\nthe button layout is off");
        assert_eq!(dims.len(), 2);
        let area = &dims[1].labels;
        assert!(area[0].1 > 0.5 && area[1].1 < 0.5, "{area:?}");
    }

    #[test]
    fn one_class_is_not_enough_data() {
        let data = vec![("a\nb", vec!["bug".to_string()]), ("c\nd", vec!["bug".to_string()])];
        let err = LocalModel::train(&data, &[type_dim()], &TrainOptions::default()).unwrap_err();
        assert!(matches!(err, LocalError::NotEnoughData { .. }), "{err}");
        assert!(err.to_string().contains("not enough data"));
    }

    #[test]
    fn examples_with_two_labels_of_a_single_select_dimension_are_skipped() {
        let data = vec![("x", vec!["bug".to_string(), "feature".to_string()])];
        let task = Task::build(&type_dim(), &data);
        assert!(matches!(task, Err(LocalError::NotEnoughData { .. })));
    }

    #[test]
    fn load_errors_name_the_path() {
        let path = std::env::temp_dir().join(format!("sift-local-bad-{}.bin", std::process::id()));
        fs::write(&path, b"not a model").unwrap();
        let err = LocalModel::load(&path).unwrap_err();
        fs::remove_file(&path).unwrap();
        assert!(err.to_string().contains(&path.display().to_string()), "{err}");
        let missing = LocalModel::load(Path::new("/nonexistent/model.bin")).unwrap_err();
        assert!(missing.to_string().contains("/nonexistent/model.bin"));
    }

    #[test]
    fn truncated_file_is_a_format_error() {
        let model =
            LocalModel::train(&synthetic_set(60, 8), &[type_dim()], &TrainOptions::default())
                .unwrap();
        let bytes = model.to_bytes().unwrap();
        assert!(LocalModel::from_bytes(&bytes[..bytes.len() - 3]).is_err());
        assert!(LocalModel::from_bytes(&[bytes.as_slice(), &[0]].concat()).is_err());
    }

    #[test]
    fn fingerprint_ignores_order_but_not_labels() {
        let a = vec![("one", vec!["bug".to_string()]), ("two", vec!["feature".to_string()])];
        let b = vec![a[1].clone(), a[0].clone()];
        assert_eq!(data_fingerprint(&a), data_fingerprint(&b));
        let c = vec![a[0].clone(), ("two", vec!["question".to_string()])];
        assert_ne!(data_fingerprint(&a), data_fingerprint(&c));
        assert_eq!(data_fingerprint(&a).len(), 64);
    }

    #[test]
    fn stale_when_data_or_dimensions_change() {
        let data = synthetic_set(60, 9);
        let model = LocalModel::train(&data, &[type_dim()], &TrainOptions::default()).unwrap();
        assert!(!model.is_stale(&data, &[type_dim()]));
        assert!(model.is_stale(&data[1..], &[type_dim()]));
        let mut dim = type_dim();
        dim.labels.push("docs".into());
        assert!(model.is_stale(&data, &[dim]));
    }

    #[test]
    fn temperature_recovers_the_scale_of_overconfident_scores() {
        let mut rng = ChaCha8Rng::seed_from_u64(10);
        let (mut scores, mut classes) = (Vec::new(), Vec::new());
        for _ in 0..4000 {
            let z: Vec<f64> = (0..3).map(|_| rng.random_range(-2.0..2.0)).collect();
            let p = softmax(&z);
            let u: f64 = rng.random();
            let class = if u < p[0] {
                0
            } else if u < p[0] + p[1] {
                1
            } else {
                2
            };
            // Scores three times too sharp: the fitted temperature should undo that.
            scores.push(z.iter().map(|&v| (3.0 * v) as f32).collect());
            classes.push(class);
        }
        let t = fit_temperature(&scores, &classes);
        assert!((t - 3.0).abs() < 0.3, "temperature {t}");
    }

    #[test]
    fn platt_recovers_a_logistic_link() {
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        let scores: Vec<f64> = (0..4000).map(|_| rng.random_range(-3.0..3.0)).collect();
        let positive: Vec<bool> =
            scores.iter().map(|&s| rng.random::<f64>() < sigmoid(2.0 * s - 1.0)).collect();
        let (a, b) = fit_platt(&scores, &positive);
        assert!((a + 2.0).abs() < 0.25 && (b - 1.0).abs() < 0.2, "a {a} b {b}");
    }

    #[test]
    fn body_cleaning_folds_code_and_urls() {
        let opts = FeatureOptions { strip_comments: true, ..FeatureOptions::default() };
        let body = "see https://x.io/a\n```rust\nfn main() {}\n```\nok <!-- hidden\nstill -->shown";
        assert_eq!(clean_body(body, &opts), "see xxurl\nxxcode\nok\nshown\n");
    }

    #[test]
    fn hashing_is_stable() {
        // Published FNV-1a 64 test vector: a change here would invalidate saved models.
        assert_eq!(fnv_extend(FNV_OFFSET, b"a"), 0xaf63_dc4c_8601_ec8c);
        let opts = FeatureOptions::default();
        let first = raw_features("Crash on start?\nIt fails", &opts);
        assert_eq!(first, raw_features("Crash on start?\nIt fails", &opts));
        assert!(first.windows(2).all(|w| w[0].0 < w[1].0));
    }

    #[test]
    fn holdout_is_stratified() {
        let keys: Vec<String> = (0..100).map(|i| if i < 80 { "a" } else { "b" }.into()).collect();
        let held = stratified_holdout(&keys, 0.2, &mut ChaCha8Rng::seed_from_u64(12));
        assert_eq!(held[..80].iter().filter(|&&h| h).count(), 16);
        assert_eq!(held[80..].iter().filter(|&&h| h).count(), 4);
    }
}
