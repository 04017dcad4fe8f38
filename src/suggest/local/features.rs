//! Features: FNV-1a hashed words, bigrams and character n-grams of cleaned text, the
//! vocabulary kept after pruning, and the sparse rows the models train on.

use super::*;

pub(super) const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
pub(super) const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// Namespaces keep word, bigram and char n-gram hashes apart.
pub(super) const NS_WORD: u8 = 1;
pub(super) const NS_BIGRAM: u8 = 2;
pub(super) const NS_CHAR: u8 = 3;

pub(super) fn fnv_extend(mut hash: u64, bytes: &[u8]) -> u64 {
    for &b in bytes {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(FNV_PRIME);
    }
    hash
}

pub(super) fn fnv_seed(namespace: u8) -> u64 {
    fnv_extend(FNV_OFFSET, &[namespace])
}

/// Folds a 64-bit hash into `mask`, mixing the high bits in.
pub(super) fn fold(hash: u64, mask: u32) -> u32 {
    ((hash >> 32) ^ hash) as u32 & mask
}

/// Sorted `(hashed feature, weighted sublinear tf)` pairs of one document.
pub(super) type RawDoc = Vec<(u32, f32)>;

pub(super) fn raw_features(text: &str, opts: &FeatureOptions) -> RawDoc {
    let (title, body) = text.split_once('\n').unwrap_or((text, ""));
    let mut hashes = Vec::new();
    hash_text(title, opts, &mut hashes);
    let title_counts = sublinear_counts(&mut hashes, opts.title_weight);
    hash_text(&clean_body(body, opts), opts, &mut hashes);
    let body_counts = sublinear_counts(&mut hashes, 1.0);
    merge_sparse(title_counts, body_counts)
}

/// Sorts and run-length counts hashes into `(hash, weight * (1 + ln count))`, draining them.
pub(super) fn sublinear_counts(hashes: &mut Vec<u32>, weight: f32) -> RawDoc {
    hashes.sort_unstable();
    let mut out: RawDoc = Vec::new();
    for chunk in hashes.chunk_by(|a, b| a == b) {
        out.push((chunk[0], weight * (1.0 + (chunk.len() as f32).ln())));
    }
    hashes.clear();
    out
}

/// Sum of two sorted sparse vectors, by a linear merge.
pub(super) fn merge_sparse(a: RawDoc, b: RawDoc) -> RawDoc {
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
pub(super) fn clean_body(body: &str, opts: &FeatureOptions) -> String {
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
pub(super) fn drop_comments(line: &str, in_comment: &mut bool) -> String {
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
pub(super) fn push_folding_urls(line: &str, out: &mut String) {
    for (i, word) in line.split_whitespace().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        let url = word.contains("://") || word.starts_with("www.");
        out.push_str(if url { "xxurl" } else { word });
    }
    out.push('\n');
}

pub(super) fn truncate_at_char(s: &mut String, max_bytes: usize) {
    if s.len() > max_bytes {
        let mut end = max_bytes;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
}

/// Longest chunk given char n-grams; longer ones (hashes, paths, minified code) are noise.
pub(super) const MAX_CHUNK_CHARS: usize = 24;

/// Appends the hashed word, bigram and char n-gram features of `text` to `out`. Words use the
/// lower half of the hash space and char n-grams the upper half, so the two blocks can be
/// normalised separately.
pub(super) fn hash_text(text: &str, opts: &FeatureOptions, out: &mut Vec<u32>) {
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
pub(super) fn tokenize(lower: &str) -> Vec<&str> {
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
pub(super) fn normalize_word(word: &str) -> &str {
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
pub(super) fn char_ngrams(
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
pub(super) struct Vocab {
    pub(super) ids: Vec<u32>,
    pub(super) idf: Vec<f32>,
    /// `lookup[hash] = compact index + 1`, 0 when the feature is not kept.
    pub(super) lookup: Vec<u32>,
}

impl Vocab {
    pub(super) fn new(ids: Vec<u32>, idf: Vec<f32>, hash_bits: u32) -> Result<Self, String> {
        let mut lookup = vec![0u32; 1usize << hash_bits];
        for (i, &id) in ids.iter().enumerate() {
            let slot = lookup.get_mut(id as usize).ok_or("feature id outside the hash space")?;
            *slot = u32::try_from(i + 1).map_err(|e| e.to_string())?;
        }
        Ok(Vocab { ids, idf, lookup })
    }

    /// Keeps features with `df >= min_df` (at most `max_features`, most frequent first) with
    /// smoothed idf `ln((1 + n) / (1 + df)) + 1`.
    pub(super) fn fit(docs: &[RawDoc], opts: &FeatureOptions) -> Self {
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

    pub(super) fn len(&self) -> usize {
        self.ids.len()
    }

    /// TF-IDF over kept features; the word and char blocks are L2-normalised separately,
    /// weighted, then the whole vector is normalised. Unknown features are ignored.
    pub(super) fn vectorize(&self, raw: &RawDoc, opts: &FeatureOptions) -> Vec<(u32, f32)> {
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
pub(super) struct Rows {
    pub(super) start: Vec<usize>,
    pub(super) entries: Vec<(u32, f32)>,
}

impl Rows {
    pub(super) fn new(raw: &[RawDoc], vocab: &Vocab, opts: &FeatureOptions) -> Self {
        let mut start = vec![0];
        let mut entries = Vec::new();
        for row in parallel_map(raw, |doc| vocab.vectorize(doc, opts)) {
            entries.extend(row);
            start.push(entries.len());
        }
        Rows { start, entries }
    }

    pub(super) fn row(&self, i: usize) -> &[(u32, f32)] {
        &self.entries[self.start[i]..self.start[i + 1]]
    }
}

// ---------------------------------------------------------------------------------------------
// Tasks: which examples train which dimension, with what target
// ---------------------------------------------------------------------------------------------
