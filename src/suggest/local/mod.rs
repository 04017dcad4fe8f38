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

mod calibration;
mod features;
mod file;
mod optimize;
mod training;

use calibration::*;
use features::*;
use optimize::*;
use training::*;

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
