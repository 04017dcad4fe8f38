//! Local label suggester: hashed n-gram TF-IDF features and calibrated linear models trained
//! offline on a workspace's gold labels, saved as one compact file.
//!
//! Text convention: the first line of an item's text is its title (weighted up), the rest is
//! the body (markdown is cleaned: code blocks and HTML comments become marker tokens, URLs are
//! folded, length is capped). Every hash is FNV-1a written out here so feature indices are the
//! same on every machine and Rust version.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// First bytes of a model file; the last byte is the binary layout version.
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
    /// Single-select dimensions get a softmax model, multi-select ones one sigmoid per label.
    pub single: bool,
    pub labels: Vec<String>,
}

/// How text becomes a feature vector.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct FeatureOptions {
    /// Size of the hashed feature space is `2^hash_bits` (10..=24).
    pub hash_bits: u32,
    /// Multiplier on the title's term weights (the title is the densest signal in an issue).
    pub title_weight: f32,
    /// 0: title shares the body's features; 1: title has its own namespace; 2: both.
    pub title_mode: u8,
    /// Character n-grams inside word boundaries, `char_min..=char_max` (0 disables).
    pub char_min: usize,
    pub char_max: usize,
    pub word_bigrams: bool,
    /// Replace fenced code blocks by a marker token (their content is mostly identifiers).
    pub strip_code: bool,
    /// Drop HTML comments (issue templates hide their instructions there).
    pub strip_comments: bool,
    /// Body characters kept after cleaning; long logs otherwise drown the prose.
    pub max_body_chars: usize,
    /// Features seen in fewer training documents are dropped (noise, and a smaller file).
    pub min_df: u32,
    /// Weight of the char n-gram block relative to the word block (each is L2-normalised).
    pub char_weight: f32,
    /// Keep at most this many features, the most frequent first.
    pub max_features: usize,
}

impl Default for FeatureOptions {
    fn default() -> Self {
        FeatureOptions {
            hash_bits: 20,
            title_weight: 2.0,
            title_mode: 0,
            char_min: 2,
            char_max: 5,
            word_bigrams: true,
            strip_code: true,
            strip_comments: true,
            max_body_chars: 3000,
            min_df: 2,
            char_weight: 1.0,
            max_features: 400_000,
        }
    }
}

/// Training hyper-parameters; the defaults were chosen by nested cross-validation on issues.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TrainOptions {
    /// Seeds the held-out split.
    pub seed: u64,
    /// Inverse L2 strength, as in liblinear: larger fits the training data more closely.
    pub c: f64,
    /// L-BFGS iteration cap.
    pub max_iter: usize,
    /// Relative objective improvement below which L-BFGS stops.
    pub tolerance: f64,
    /// Share of examples held out to fit the calibration.
    pub holdout_fraction: f64,
    /// Weight examples inversely to their class frequency.
    pub class_balanced: bool,
    pub features: FeatureOptions,
}

impl Default for TrainOptions {
    fn default() -> Self {
        TrainOptions {
            seed: 0x5EED,
            c: 3.0,
            max_iter: 200,
            tolerance: 1e-6,
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

/// How raw scores become probabilities.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
enum Calibration {
    /// Softmax of logits divided by this temperature.
    Temperature(f64),
    /// Per label `p = 1 / (1 + exp(a * score + b))` (Platt's parametrisation).
    Platt(Vec<(f64, f64)>),
}

/// A linear scorer over the compact vocabulary; weights are feature-major.
#[derive(Debug, Clone, PartialEq)]
struct Linear {
    outputs: usize,
    weights: Vec<f32>,
    bias: Vec<f32>,
}

#[derive(Debug, Clone, PartialEq)]
struct Head {
    linear: Linear,
    calibration: Calibration,
}

/// Everything but the big arrays; stored as the JSON header of a model file.
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
    outputs: usize,
    bias: Vec<f32>,
    calibration: Calibration,
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
        let tasks = dims
            .iter()
            .map(|d| Task::build(d, examples))
            .collect::<Result<Vec<_>, LocalError>>()?;
        let raw: Vec<RawDoc> =
            examples.iter().map(|(t, _)| raw_features(t.as_ref(), &opts.features)).collect();
        let vocab = Vocab::fit(&raw, &opts.features);
        let rows = Rows::from_raw(&raw, &vocab, &opts.features);
        let mut rng = ChaCha8Rng::seed_from_u64(opts.seed);
        let keys: Vec<String> = examples.iter().map(|(_, l)| label_key(l.as_ref())).collect();
        let holdout = stratified_holdout(&keys, opts.holdout_fraction, &mut rng);
        let heads =
            tasks.iter().map(|task| train_head(task, &rows, vocab.len(), &holdout, opts)).collect();
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

    /// Probabilities grouped by dimension.
    pub fn predict_dimensions(&self, text: &str) -> Vec<DimensionPrediction> {
        let x = self.vocab.vectorize(&raw_features(text, &self.options.features), &self.options.features);
        self.dims
            .iter()
            .zip(&self.heads)
            .map(|(dim, head)| {
                let probs = head.probabilities(&x);
                DimensionPrediction {
                    name: dim.name.clone(),
                    single: dim.single,
                    labels: dim.labels.iter().cloned().zip(probs).collect(),
                }
            })
            .collect()
    }

    /// Fingerprint of the training data (see [`data_fingerprint`]); compare it with the
    /// workspace's current one to tell whether the model is stale.
    pub fn fingerprint(&self) -> &str {
        &self.data_fingerprint
    }

    /// True when the examples or the label space changed since training.
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

    /// Writes the model atomically: a JSON header then little-endian arrays.
    pub fn save(&self, path: &Path) -> Result<(), LocalError> {
        let bytes = self.to_bytes().map_err(|e| format_error(path, e))?;
        let tmp = path.with_extension("tmp");
        let io = |source| LocalError::Io { path: path.to_path_buf(), source };
        fs::write(&tmp, &bytes).map_err(io)?;
        fs::rename(&tmp, path).map_err(io)
    }

    pub fn load(path: &Path) -> Result<Self, LocalError> {
        let bytes =
            fs::read(path).map_err(|source| LocalError::Io { path: path.to_path_buf(), source })?;
        Self::from_bytes(&bytes).map_err(|e| format_error(path, e))
    }

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
                    outputs: h.linear.outputs,
                    bias: h.linear.bias.clone(),
                    calibration: h.calibration.clone(),
                })
                .collect(),
        };
        let json = serde_json::to_vec(&header).map_err(|e| e.to_string())?;
        let weights: usize = self.heads.iter().map(|h| h.linear.weights.len()).sum();
        let mut out = Vec::with_capacity(16 + json.len() + 8 * self.vocab.len() + 4 * weights);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&(json.len() as u64).to_le_bytes());
        out.extend_from_slice(&json);
        self.vocab.ids.iter().for_each(|v| out.extend_from_slice(&v.to_le_bytes()));
        self.vocab.idf.iter().for_each(|v| out.extend_from_slice(&v.to_le_bytes()));
        for head in &self.heads {
            head.linear.weights.iter().for_each(|v| out.extend_from_slice(&v.to_le_bytes()));
        }
        Ok(out)
    }

    fn from_bytes(bytes: &[u8]) -> Result<Self, String> {
        let mut reader = ByteReader { bytes, pos: 0 };
        if reader.take(MAGIC.len())? != MAGIC {
            return Err("not a sift local model (bad magic)".into());
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
            if meta.outputs != dim.labels.len() || meta.bias.len() != meta.outputs {
                return Err(format!("head of `{}` has the wrong shape", dim.name));
            }
            let weights = reader.f32s(n * meta.outputs)?;
            let linear = Linear { outputs: meta.outputs, weights, bias: meta.bias };
            heads.push(Head { linear, calibration: meta.calibration });
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

fn format_error(path: &Path, reason: String) -> LocalError {
    LocalError::Format { path: path.to_path_buf(), reason }
}

/// Cursor over a model file's bytes.
struct ByteReader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> ByteReader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.bytes.len());
        let end = end.ok_or_else(|| "file is truncated".to_string())?;
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
        let len = n.checked_mul(4).ok_or_else(|| "array length overflows".to_string())?;
        // chunks_exact(4) yields 4-byte slices, so the conversion cannot fail.
        Ok(self.take(len)?.chunks_exact(4).map(|c| [c[0], c[1], c[2], c[3]]))
    }

    fn u32s(&mut self, n: usize) -> Result<Vec<u32>, String> {
        Ok(self.words(n)?.map(u32::from_le_bytes).collect())
    }

    fn f32s(&mut self, n: usize) -> Result<Vec<f32>, String> {
        Ok(self.words(n)?.map(f32::from_le_bytes).collect())
    }
}

fn validate(dims: &[Dimension], opts: &TrainOptions) -> Result<(), LocalError> {
    if dims.is_empty() {
        return Err(LocalError::InvalidDimensions("no dimensions".into()));
    }
    for dim in dims {
        let mut seen = std::collections::BTreeSet::new();
        if dim.labels.iter().any(|l| !seen.insert(l)) {
            let msg = format!("dimension `{}` lists a label twice", dim.name);
            return Err(LocalError::InvalidDimensions(msg));
        }
    }
    let f = &opts.features;
    if !(10..=24).contains(&f.hash_bits) {
        return Err(LocalError::InvalidOptions("hash_bits must be within 10..=24".into()));
    }
    if f.char_min > f.char_max || (f.char_min == 0) != (f.char_max == 0) {
        return Err(LocalError::InvalidOptions("char n-gram range is inverted".into()));
    }
    if !(0.0..0.9).contains(&opts.holdout_fraction) {
        return Err(LocalError::InvalidOptions("holdout_fraction must be in [0, 0.9)".into()));
    }
    Ok(())
}

/// SHA-256 over the sorted `(text hash, sorted labels)` pairs: order-independent, so the same
/// gold set always gives the same fingerprint.
pub fn data_fingerprint<T: AsRef<str>, L: AsRef<[String]>>(examples: &[(T, L)]) -> String {
    let mut entries: Vec<([u8; 32], String)> = examples
        .iter()
        .map(|(text, labels)| (Sha256::digest(text.as_ref().as_bytes()).into(), label_key(labels.as_ref())))
        .collect();
    entries.sort();
    let mut hasher = Sha256::new();
    for (text_hash, labels) in &entries {
        hasher.update(text_hash);
        hasher.update((labels.len() as u64).to_le_bytes());
        hasher.update(labels.as_bytes());
    }
    hex(&hasher.finalize())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Sorted, de-duplicated labels joined by a unit separator: a canonical label-set key.
fn label_key(labels: &[String]) -> String {
    let mut sorted: Vec<&str> = labels.iter().map(String::as_str).collect();
    sorted.sort_unstable();
    sorted.dedup();
    sorted.join("\u{1f}")
}

// ---------------------------------------------------------------------------------------------
// Feature extraction
// ---------------------------------------------------------------------------------------------

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// Namespaces keep word, bigram and char n-gram features of title and body apart.
const NS_WORD: u8 = 1;
const NS_BIGRAM: u8 = 2;
const NS_CHAR: u8 = 3;
const NS_TITLE: u8 = 0x10;

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

/// Sorted `(hashed feature, weighted sublinear tf)` pairs of one document.
type RawDoc = Vec<(u32, f32)>;

fn raw_features(text: &str, opts: &FeatureOptions) -> RawDoc {
    let (title, body) = match text.split_once('\n') {
        Some((t, b)) => (t, b),
        None => (text, ""),
    };
    let mut hashes = Vec::new();
    let mut parts: Vec<RawDoc> = Vec::with_capacity(3);
    if opts.title_mode != 1 {
        hash_text(title, 0, opts, &mut hashes);
        parts.push(sublinear_counts(&mut hashes, opts.title_weight));
    }
    if opts.title_mode != 0 {
        hash_text(title, NS_TITLE, opts, &mut hashes);
        parts.push(sublinear_counts(&mut hashes, opts.title_weight));
    }
    hash_text(&clean_body(body, opts), 0, opts, &mut hashes);
    parts.push(sublinear_counts(&mut hashes, 1.0));
    merge_sparse(parts)
}

/// Sorts and run-length counts hashes into `(hash, weight * (1 + ln count))`, draining `hashes`.
fn sublinear_counts(hashes: &mut Vec<u32>, weight: f32) -> RawDoc {
    hashes.sort_unstable();
    let mut out: RawDoc = Vec::new();
    let mut i = 0;
    while i < hashes.len() {
        let h = hashes[i];
        let run = hashes[i..].iter().take_while(|&&x| x == h).count();
        out.push((h, weight * (1.0 + (run as f32).ln())));
        i += run;
    }
    hashes.clear();
    out
}

/// Sums several sorted sparse vectors into one sorted vector.
fn merge_sparse(parts: Vec<RawDoc>) -> RawDoc {
    let mut all: RawDoc = parts.into_iter().flatten().collect();
    all.sort_unstable_by_key(|&(h, _)| h);
    let mut out: RawDoc = Vec::with_capacity(all.len());
    for (h, v) in all {
        match out.last_mut() {
            Some(last) if last.0 == h => last.1 += v,
            _ => out.push((h, v)),
        }
    }
    out
}

/// Strips what carries little label signal per character: code, comments, URLs, long tails.
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
            if in_fence && opts.strip_code {
                out.push_str("xxcode\n");
            }
            continue;
        }
        if in_fence && opts.strip_code {
            continue;
        }
        let line = if opts.strip_comments { drop_comments(line, &mut in_comment) } else { line.into() };
        push_folding_urls(&line, &mut out);
    }
    truncate_chars(&mut out, opts.max_body_chars);
    out
}

/// Removes `<!-- ... -->` spans, which may cross lines (`in_comment` carries the state).
fn drop_comments(line: &str, in_comment: &mut bool) -> String {
    let mut kept = String::new();
    let mut rest = line;
    loop {
        if *in_comment {
            match rest.find("-->") {
                Some(end) => {
                    rest = &rest[end + 3..];
                    *in_comment = false;
                }
                None => return kept,
            }
        } else {
            match rest.find("<!--") {
                Some(start) => {
                    kept.push_str(&rest[..start]);
                    rest = &rest[start + 4..];
                    *in_comment = true;
                }
                None => {
                    kept.push_str(rest);
                    return kept;
                }
            }
        }
    }
}

/// Appends a line with every URL replaced by one marker word (hosts and paths are noise).
fn push_folding_urls(line: &str, out: &mut String) {
    for (i, word) in line.split_whitespace().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        if word.contains("://") || word.starts_with("www.") {
            out.push_str("xxurl");
        } else {
            out.push_str(word);
        }
    }
    out.push('\n');
}

fn truncate_chars(s: &mut String, max_bytes: usize) {
    if s.len() > max_bytes {
        let mut end = max_bytes;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
}

/// Longest word kept as such; longer ones (hashes, base64, minified code) become one marker.
const MAX_WORD_CHARS: usize = 24;

/// Appends the hashed word, bigram and char n-gram features of `text` to `out`.
fn hash_text(text: &str, namespace: u8, opts: &FeatureOptions, out: &mut Vec<u32>) {
    // Words live in the lower half of the space and char n-grams in the upper half, so the
    // two blocks can be normalised separately (char n-grams outnumber words ten to one).
    let mask = (1u32 << (opts.hash_bits - 1)) - 1;
    let word_seed = fnv_seed(NS_WORD | namespace);
    let bigram_seed = fnv_seed(NS_BIGRAM | namespace);
    let char_seed = fnv_seed(NS_CHAR | namespace);
    let mut prev: Option<u64> = None;
    let mut word = String::new();
    let mut chars = text.chars().peekable();
    while chars.peek().is_some() {
        word.clear();
        for c in chars.by_ref() {
            if c.is_alphanumeric() {
                word.extend(c.to_lowercase());
            } else if !word.is_empty() {
                break;
            }
        }
        if word.is_empty() {
            break;
        }
        let token = normalize_word(&word);
        let unigram = fnv_extend(word_seed, token.as_bytes());
        out.push(fold(unigram, mask));
        if opts.word_bigrams {
            if let Some(p) = prev {
                let bigram = fnv_extend(fnv_extend(bigram_seed, &p.to_le_bytes()), token.as_bytes());
                out.push(fold(bigram, mask));
            }
            prev = Some(unigram);
        }
        if opts.char_min > 0 && token.len() == word.len() {
            char_ngrams(token, char_seed, opts, mask, out);
        }
    }
}

/// Digits collapse to one token (versions and ids are noise); overlong words to a marker.
fn normalize_word(word: &str) -> &str {
    if word.bytes().all(|b| b.is_ascii_digit()) {
        "0"
    } else if word.chars().count() > MAX_WORD_CHARS {
        "xxlong"
    } else {
        word
    }
}

/// Character n-grams of ` word ` (space-padded so prefixes and suffixes are distinct).
fn char_ngrams(word: &str, seed: u64, opts: &FeatureOptions, mask: u32, out: &mut Vec<u32>) {
    let mut bounds: Vec<usize> = Vec::with_capacity(word.len() + 3);
    let padded = format!(" {word} ");
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

/// Folds a 64-bit hash into the feature space, mixing the high bits in.
fn fold(hash: u64, mask: u32) -> u32 {
    ((hash >> 32) ^ hash) as u32 & mask
}

// ---------------------------------------------------------------------------------------------
// Vocabulary and TF-IDF vectors
// ---------------------------------------------------------------------------------------------

/// Kept hashed features, their idf, and a dense map from hashed index to compact index.
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
            let slot = lookup.get_mut(id as usize).ok_or("feature id outside hash space")?;
            *slot = u32::try_from(i + 1).map_err(|e| e.to_string())?;
        }
        Ok(Vocab { ids, idf, lookup })
    }

    /// Keeps features with `df >= min_df` (the `max_features` most frequent) with smooth idf.
    fn fit(docs: &[RawDoc], opts: &FeatureOptions) -> Self {
        let mut df = vec![0u32; 1usize << opts.hash_bits];
        for doc in docs {
            doc.iter().for_each(|&(h, _)| df[h as usize] += 1);
        }
        let mut kept: Vec<u32> =
            (0..df.len() as u32).filter(|&h| df[h as usize] >= opts.min_df.max(1)).collect();
        if kept.len() > opts.max_features {
            // Most frequent first; ties by id keep the choice deterministic.
            kept.sort_by_key(|&h| (std::cmp::Reverse(df[h as usize]), h));
            kept.truncate(opts.max_features);
            kept.sort_unstable();
        }
        let n = docs.len() as f32;
        let idf = kept.iter().map(|&h| ((1.0 + n) / (1.0 + df[h as usize] as f32)).ln() + 1.0).collect();
        let mut lookup = vec![0u32; df.len()];
        for (i, &h) in kept.iter().enumerate() {
            lookup[h as usize] = i as u32 + 1;
        }
        Vocab { ids: kept, idf, lookup }
    }

    fn len(&self) -> usize {
        self.ids.len()
    }

    /// TF-IDF over kept features, L2-normalised; unknown features are ignored.
    fn vectorize(&self, raw: &RawDoc, opts: &FeatureOptions) -> Vec<(u32, f32)> {
        let mut x: Vec<(u32, f32)> = raw
            .iter()
            .filter_map(|&(h, tf)| {
                let slot = *self.lookup.get(h as usize)?;
                let i = slot.checked_sub(1)?;
                Some((i, tf * self.idf[i as usize]))
            })
            .collect();
        let half = 1u32 << (opts.hash_bits - 1);
        let block = |id: u32| usize::from(self.ids[id as usize] >= half);
        let mut norms = [0f32; 2];
        x.iter().for_each(|&(i, v)| norms[block(i)] += v * v);
        let weights = [1.0, opts.char_weight];
        let scale = |b: usize| if norms[b] > 0.0 { weights[b] / norms[b].sqrt() } else { 0.0 };
        let scale = [scale(0), scale(1)];
        x.iter_mut().for_each(|e| e.1 *= scale[block(e.0)]);
        let total = x.iter().map(|&(_, v)| v * v).sum::<f32>().sqrt();
        if total > 0.0 {
            x.iter_mut().for_each(|e| e.1 /= total);
        }
        x
    }
}

/// Sparse rows in compressed form.
struct Rows {
    start: Vec<usize>,
    entries: Vec<(u32, f32)>,
}

impl Rows {
    fn from_raw(raw: &[RawDoc], vocab: &Vocab, opts: &FeatureOptions) -> Self {
        let mut start = vec![0];
        let mut entries = Vec::new();
        for doc in raw {
            entries.extend(vocab.vectorize(doc, opts));
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

/// What one example should score, per output.
enum Target {
    /// Index of the one label (single-select).
    Class(usize),
    /// Presence of each label (multi-select).
    Flags(Vec<bool>),
}

/// The examples of one dimension: `(example index, target)`.
struct Task {
    outputs: usize,
    single: bool,
    samples: Vec<(usize, Target)>,
}

impl Task {
    fn build<T, L: AsRef<[String]>>(dim: &Dimension, examples: &[(T, L)]) -> Result<Self, LocalError> {
        let not_enough = |reason: &str| LocalError::NotEnoughData {
            dimension: dim.name.clone(),
            reason: reason.to_string(),
        };
        let samples = if dim.single { single_samples(dim, examples) } else { multi_samples(dim, examples) };
        let task = Task { outputs: dim.labels.len(), single: dim.single, samples };
        if task.single && task.class_counts().iter().filter(|&&c| c > 0).count() < 2 {
            return Err(not_enough("fewer than 2 labels have examples"));
        }
        if !task.single && !task.has_informative_label() {
            return Err(not_enough("no label has both positive and negative examples"));
        }
        Ok(task)
    }

    fn class_counts(&self) -> Vec<usize> {
        let mut counts = vec![0; self.outputs];
        for (_, target) in &self.samples {
            if let Target::Class(c) = target {
                counts[*c] += 1;
            }
        }
        counts
    }

    fn has_informative_label(&self) -> bool {
        let flags = |j: usize, want: bool| {
            self.samples.iter().any(|(_, t)| matches!(t, Target::Flags(f) if f[j] == want))
        };
        (0..self.outputs).any(|j| flags(j, true) && flags(j, false))
    }
}

/// Examples carrying exactly one label of the dimension; others are ambiguous and skipped.
fn single_samples<T, L: AsRef<[String]>>(dim: &Dimension, examples: &[(T, L)]) -> Vec<(usize, Target)> {
    let index: BTreeMap<&str, usize> =
        dim.labels.iter().enumerate().map(|(i, l)| (l.as_str(), i)).collect();
    examples
        .iter()
        .enumerate()
        .filter_map(|(i, (_, labels))| {
            let mut hits = labels.as_ref().iter().filter_map(|l| index.get(l.as_str()));
            match (hits.next(), hits.next()) {
                (Some(&c), None) => Some((i, Target::Class(c))),
                _ => None,
            }
        })
        .collect()
}

/// Every labelled example; an example with no label at all is unlabelled, not negative.
fn multi_samples<T, L: AsRef<[String]>>(dim: &Dimension, examples: &[(T, L)]) -> Vec<(usize, Target)> {
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
// Training and calibration
// ---------------------------------------------------------------------------------------------

/// Fewest held-out examples worth fitting a calibration on; below that probabilities stay raw.
const MIN_CALIBRATION: usize = 20;

/// Fits the calibration on a model trained without the held-out part, then refits on all
/// samples (warm-started from the first fit) and keeps that calibration.
fn train_head(task: &Task, rows: &Rows, n_features: usize, holdout: &[bool], opts: &TrainOptions) -> Head {
    let all: Vec<usize> = (0..task.samples.len()).collect();
    let (held, fit): (Vec<usize>, Vec<usize>) = all.iter().partition(|&&s| holdout[task.samples[s].0]);
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
    let scores: Vec<Vec<f32>> = held.iter().map(|&s| probe.scores(rows.row(task.samples[s].0))).collect();
    let targets: Vec<&Target> = held.iter().map(|&s| &task.samples[s].1).collect();
    if task.single {
        let classes: Vec<usize> =
            targets.iter().map(|t| if let Target::Class(c) = t { *c } else { 0 }).collect();
        return Calibration::Temperature(fit_temperature(&scores, &classes));
    }
    let params = (0..task.outputs)
        .map(|j| {
            let s: Vec<f64> = scores.iter().map(|v| f64::from(v[j])).collect();
            let y: Vec<bool> = targets.iter().map(|t| matches!(t, Target::Flags(f) if f[j])).collect();
            fit_platt(&s, &y)
        })
        .collect();
    Calibration::Platt(params)
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

/// Per-sample weights aligned with `subset`: with balancing every class carries the same
/// total weight (multi-select labels are already one-vs-rest, so they stay at 1).
fn sample_weights(task: &Task, subset: &[usize], balanced: bool) -> Vec<f32> {
    if !(balanced && task.single) {
        return vec![1.0; subset.len()];
    }
    let class_of = |s: usize| if let Target::Class(c) = task.samples[s].1 { c } else { 0 };
    let mut counts = vec![0usize; task.outputs];
    subset.iter().for_each(|&s| counts[class_of(s)] += 1);
    let present = counts.iter().filter(|&&c| c > 0).count() as f32;
    subset.iter().map(|&s| subset.len() as f32 / (present * counts[class_of(s)] as f32)).collect()
}

/// Fits L2-regularised logistic regression (softmax or one sigmoid per label) exactly, by
/// full-batch L-BFGS: the optimum does not depend on example order, only on the data.
fn train_linear(
    task: &Task,
    rows: &Rows,
    subset: &[usize],
    n_features: usize,
    opts: &TrainOptions,
    warm: Option<&Linear>,
) -> Linear {
    let k = task.outputs;
    let objective = Objective {
        task,
        rows,
        subset,
        weights: sample_weights(task, subset, opts.class_balanced),
        n_features,
        c: opts.c,
    };
    let start = match warm {
        Some(w) => w.weights.iter().chain(&w.bias).copied().collect(),
        None => vec![0f32; (n_features + 1) * k],
    };
    let theta = lbfgs(&objective, start, opts.max_iter, opts.tolerance);
    let (weights, bias) = theta.split_at(n_features * k);
    Linear { outputs: k, weights: weights.to_vec(), bias: bias.to_vec() }
}

/// `C * sum(weight * loss) + |W|^2 / 2` over a subset of a task's samples; parameters are the
/// feature-major weights followed by the (unpenalised) biases.
struct Objective<'a> {
    task: &'a Task,
    rows: &'a Rows,
    subset: &'a [usize],
    weights: Vec<f32>,
    n_features: usize,
    c: f64,
}

/// Data passes are split into this many fixed chunks summed in order, so results do not depend
/// on the machine's core count.
const CHUNKS: usize = 2;
/// Below this many samples a pass is too cheap to be worth a thread.
const MIN_PARALLEL: usize = 512;

impl Objective<'_> {
    fn value_and_gradient(&self, theta: &[f32], grad: &mut [f32]) -> f64 {
        let chunk = self.subset.len().div_ceil(if self.subset.len() < MIN_PARALLEL { 1 } else { CHUNKS });
        let parts: Vec<(f64, Vec<f32>)> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..self.subset.len())
                .step_by(chunk.max(1))
                .map(|from| {
                    let to = (from + chunk).min(self.subset.len());
                    scope.spawn(move || self.partial(theta, from..to))
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e))).collect()
        });
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
    fn partial(&self, theta: &[f32], range: std::ops::Range<usize>) -> (f64, Vec<f32>) {
        let k = self.task.outputs;
        let (w, bias) = theta.split_at(self.n_features * k);
        let mut grad = vec![0f32; theta.len()];
        let mut loss = 0.0;
        let mut diff = vec![0f32; k];
        for pos in range {
            let (row, target) = &self.task.samples[self.subset[pos]];
            let x = self.rows.row(*row);
            let mut z: Vec<f32> = bias.to_vec();
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
            let z64: Vec<f64> = z.iter().map(|&v| f64::from(v)).collect();
            let p = softmax(&z64);
            diff.iter_mut().zip(&p).enumerate().for_each(|(j, (d, &p))| {
                *d = (p - if j == *c { 1.0 } else { 0.0 }) as f32;
            });
            -p[*c].max(1e-300).ln()
        }
        Target::Flags(flags) => {
            let mut loss = 0.0;
            for (j, (&zj, &yj)) in z.iter().zip(flags).enumerate() {
                let zj = f64::from(zj);
                let y = if yj { 1.0 } else { 0.0 };
                diff[j] = (sigmoid(zj) - y) as f32;
                loss += softplus(zj) - y * zj;
            }
            loss
        }
    }
}

/// Curvature pairs L-BFGS remembers.
const LBFGS_MEMORY: usize = 7;

/// Minimises `objective` from `x`; stops after `max_iter` iterations or once an iteration
/// improves the value by less than `tolerance` (relative).
fn lbfgs(objective: &Objective, mut x: Vec<f32>, max_iter: usize, tolerance: f64) -> Vec<f32> {
    let n = x.len();
    let mut grad = vec![0f32; n];
    let mut value = objective.value_and_gradient(&x, &mut grad);
    let mut history: std::collections::VecDeque<(Vec<f32>, Vec<f32>, f64)> = Default::default();
    let mut x_new = vec![0f32; n];
    let mut grad_new = vec![0f32; n];
    for _ in 0..max_iter {
        let mut direction = lbfgs_direction(&grad, &history);
        let mut slope = dot(&grad, &direction);
        if slope >= 0.0 {
            // Not a descent direction (stale curvature): restart from steepest descent.
            history.clear();
            direction = grad.iter().map(|g| -g).collect();
            slope = dot(&grad, &direction);
        }
        if slope.abs() < 1e-20 {
            break;
        }
        // Without curvature information the first step is scaled to unit length.
        let mut step = if history.is_empty() { 1.0 / dot(&grad, &grad).sqrt().max(1.0) } else { 1.0 };
        let new_value = loop {
            x_new.iter_mut().zip(&x).zip(&direction).for_each(|((n, &x), &d)| *n = x + (step * f64::from(d)) as f32);
            let v = objective.value_and_gradient(&x_new, &mut grad_new);
            if v <= value + 1e-4 * step * slope || step < 1e-10 {
                break v;
            }
            step *= 0.5;
        };
        if new_value > value {
            break;
        }
        let s: Vec<f32> = x_new.iter().zip(&x).map(|(a, b)| a - b).collect();
        let y: Vec<f32> = grad_new.iter().zip(&grad).map(|(a, b)| a - b).collect();
        let sy = dot(&s, &y);
        if sy > 1e-12 {
            if history.len() == LBFGS_MEMORY {
                history.pop_front();
            }
            history.push_back((s, y, 1.0 / sy));
        }
        std::mem::swap(&mut x, &mut x_new);
        std::mem::swap(&mut grad, &mut grad_new);
        let improvement = (value - new_value) / new_value.abs().max(1.0);
        value = new_value;
        if improvement < tolerance {
            break;
        }
    }
    x
}

/// Two-loop recursion: `-H * grad` with the remembered curvature pairs.
fn lbfgs_direction(grad: &[f32], history: &std::collections::VecDeque<(Vec<f32>, Vec<f32>, f64)>) -> Vec<f32> {
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

/// Temperature minimising held-out negative log-likelihood. The NLL is convex in `1/T`, so a
/// golden-section search over `ln(1/T)` finds the optimum without derivatives.
fn fit_temperature(scores: &[Vec<f32>], classes: &[usize]) -> f64 {
    let nll = |log_beta: f64| {
        let beta = log_beta.exp();
        scores
            .iter()
            .zip(classes)
            .map(|(s, &c)| {
                let z: Vec<f64> = s.iter().map(|&v| f64::from(v) * beta).collect();
                let max = z.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                let lse = max + z.iter().map(|&v| (v - max).exp()).sum::<f64>().ln();
                lse - z[c]
            })
            .sum::<f64>()
    };
    let log_beta = golden_min(nll, (0.01f64).ln(), (100.0f64).ln(), 80);
    1.0 / log_beta.exp()
}

fn golden_min(f: impl Fn(f64) -> f64, mut lo: f64, mut hi: f64, iterations: usize) -> f64 {
    let ratio = (5f64.sqrt() - 1.0) / 2.0;
    let mut a = hi - ratio * (hi - lo);
    let mut b = lo + ratio * (hi - lo);
    let (mut fa, mut fb) = (f(a), f(b));
    for _ in 0..iterations {
        if fa <= fb {
            hi = b;
            b = a;
            fb = fa;
            a = hi - ratio * (hi - lo);
            fa = f(a);
        } else {
            lo = a;
            a = b;
            fa = fb;
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
    let hi = (n_pos + 1.0) / (n_pos + 2.0);
    let lo = 1.0 / (n_neg + 2.0);
    let t: Vec<f64> = positive.iter().map(|&p| if p { hi } else { lo }).collect();
    let objective = |a: f64, b: f64| {
        scores
            .iter()
            .zip(&t)
            .map(|(&s, &t)| {
                let f = a * s + b;
                // log(1 + exp(f)) - (1 - t) * f, written to avoid overflow either way.
                if f >= 0.0 { t * f + (-f).exp().ln_1p() } else { (t - 1.0) * f + f.exp().ln_1p() }
            })
            .sum::<f64>()
    };
    let (mut a, mut b) = (0.0, ((n_neg + 1.0) / (n_pos + 1.0)).ln());
    let mut value = objective(a, b);
    for _ in 0..100 {
        let (mut h11, mut h22, mut h21, mut g1, mut g2) = (1e-12, 1e-12, 0.0, 0.0, 0.0);
        for (&s, &t) in scores.iter().zip(&t) {
            let f = a * s + b;
            let (p, q) = if f >= 0.0 {
                let e = (-f).exp();
                (e / (1.0 + e), 1.0 / (1.0 + e))
            } else {
                let e = f.exp();
                (1.0 / (1.0 + e), e / (1.0 + e))
            };
            let d2 = p * q;
            h11 += s * s * d2;
            h22 += d2;
            h21 += s * d2;
            let d1 = t - p;
            g1 += s * d1;
            g2 += d1;
        }
        if g1.abs() < 1e-5 && g2.abs() < 1e-5 {
            break;
        }
        let det = h11 * h22 - h21 * h21;
        let da = -(h22 * g1 - h21 * g2) / det;
        let db = -(-h21 * g1 + h11 * g2) / det;
        let gd = g1 * da + g2 * db;
        let mut step = 1.0;
        while step >= 1e-10 {
            let (na, nb) = (a + step * da, b + step * db);
            let candidate = objective(na, nb);
            if candidate < value + 1e-4 * step * gd {
                a = na;
                b = nb;
                value = candidate;
                break;
            }
            step /= 2.0;
        }
        if step < 1e-10 {
            break;
        }
    }
    (a, b)
}
