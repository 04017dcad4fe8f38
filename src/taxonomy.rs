//! labels.yml: parsing, validation with file:line errors, and lookups by name or alias.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};

use serde::de::{self, MapAccess, Visitor, value::MapAccessDeserializer};
use serde::{Deserialize, Deserializer, Serialize};

/// The built-in labels.yml (also the demo workspace's), written by `sift init`.
pub const DEFAULT_LABELS_YML: &str = include_str!("../labels.yml");

/// Default GitHub colour for labels written as bare strings.
pub const DEFAULT_COLOR: &str = "ededed";

#[derive(Debug, thiserror::Error)]
pub enum TaxonomyError {
    #[error("{path}: cannot read: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{path}:{line}: {message}")]
    Invalid { path: PathBuf, line: usize, message: String },
    #[error("{path}: no taxonomy named `{name}` (known: {known})")]
    Unknown { path: PathBuf, name: String, known: String },
}

/// Whether a dimension holds one label or several.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Select {
    One,
    Many,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LabelDef {
    pub name: String,
    pub description: String,
    pub color: String,
    pub aliases: Vec<String>,
    pub examples: Vec<String>,
    pub deprecated: bool,
    /// The confidence the labeling bot needs to apply this label (over the taxonomy's
    /// min_confidence). Left out of the hash when unset, so older hashes stay valid.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub threshold: Option<f64>,
    /// Consistency rules: what the label needs (`tools`, `code`, `multi-turn`, `system`,
    /// `lang`, `label:NAME`) and the labels it cannot go with. Unset ones stay out of the hash.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub require: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub exclude: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Dimension {
    pub name: String,
    pub description: String,
    pub select: Select,
    pub labels: Vec<LabelDef>,
    /// Rules every label of the dimension shares (see [`LabelDef::require`]).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub require: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub exclude: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Taxonomy {
    pub name: String,
    pub max_labels: usize,
    pub min_confidence: f64,
    pub dimensions: Vec<Dimension>,
    /// Dimensions grouped into ordered requests (seed 001's two calls): each call asks about
    /// its own dimensions and is told the earlier calls' validated answers. Empty: one call
    /// about everything (left out of the hash then, so older hashes stay valid).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub calls: Vec<Vec<String>>,
}

/// Every taxonomy of one labels.yml.
#[derive(Debug, Clone, PartialEq)]
pub struct LabelsFile {
    pub path: PathBuf,
    pub taxonomies: BTreeMap<String, Taxonomy>,
}

// ---- raw serde shapes -------------------------------------------------------------------------

fn default_max_labels() -> usize {
    3
}

fn default_min_confidence() -> f64 {
    0.6
}

fn default_select() -> Select {
    Select::Many
}

#[derive(Default)]
struct RawLabel {
    name: String,
    description: String,
    color: Option<String>,
    aliases: Vec<String>,
    examples: Vec<String>,
    deprecated: bool,
    threshold: Option<f64>,
    require: Vec<String>,
    exclude: Vec<String>,
}

/// A label is either a bare string (its name) or a mapping; this keeps serde's own
/// unknown-key message (an untagged enum would hide it).
struct LabelEntry(RawLabel);

impl<'de> Deserialize<'de> for LabelEntry {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = LabelEntry;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a label name or a mapping with name, description, color, ...")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<LabelEntry, E> {
                Ok(LabelEntry(RawLabel { name: v.to_string(), ..Default::default() }))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<LabelEntry, A::Error> {
                RawLabelFields::deserialize(MapAccessDeserializer::new(map))
                    .map(|f| LabelEntry(f.into()))
            }
        }
        d.deserialize_any(V)
    }
}

impl<'de> Deserialize<'de> for RawLabelList {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Vec::<LabelEntry>::deserialize(d)
            .map(|v| RawLabelList(v.into_iter().map(|e| e.0).collect()))
    }
}

struct RawLabelList(Vec<RawLabel>);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLabelFields {
    name: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    color: Option<String>,
    #[serde(default)]
    aliases: Vec<String>,
    #[serde(default)]
    examples: Vec<String>,
    #[serde(default)]
    deprecated: bool,
    #[serde(default)]
    threshold: Option<f64>,
    #[serde(default)]
    require: Vec<String>,
    #[serde(default)]
    exclude: Vec<String>,
}

impl From<RawLabelFields> for RawLabel {
    fn from(f: RawLabelFields) -> Self {
        RawLabel {
            name: f.name,
            description: f.description,
            color: f.color,
            aliases: f.aliases,
            examples: f.examples,
            deprecated: f.deprecated,
            threshold: f.threshold,
            require: f.require,
            exclude: f.exclude,
        }
    }
}

// ---- parsing ----------------------------------------------------------------------------------

impl LabelsFile {
    /// Read and validate a labels.yml file.
    pub fn load(path: &Path) -> Result<Self, TaxonomyError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| TaxonomyError::Read { path: path.to_path_buf(), source })?;
        Self::parse(&text, path)
    }

    /// Parse and validate labels.yml text; `path` is used in messages.
    pub fn parse(text: &str, path: &Path) -> Result<Self, TaxonomyError> {
        let raw: RawFileWithEntries = serde_saphyr::from_str(text).map_err(|e| {
            let line = e.location().map(|l| l.line() as usize).unwrap_or(0);
            TaxonomyError::Invalid { path: path.to_path_buf(), line, message: first_line(&e) }
        })?;
        let mut taxonomies = BTreeMap::new();
        for (name, rt) in raw.taxonomies {
            let t = build_taxonomy(&name, rt, text, path)?;
            taxonomies.insert(name, t);
        }
        if taxonomies.is_empty() {
            return Err(invalid(path, 1, "no taxonomies defined".into()));
        }
        Ok(LabelsFile { path: path.to_path_buf(), taxonomies })
    }

    /// The named taxonomy, or an error listing the known ones.
    pub fn get(&self, name: &str) -> Result<&Taxonomy, TaxonomyError> {
        self.taxonomies.get(name).ok_or_else(|| TaxonomyError::Unknown {
            path: self.path.clone(),
            name: name.to_string(),
            known: self.taxonomies.keys().cloned().collect::<Vec<_>>().join(", "),
        })
    }
}

fn first_line(e: &impl fmt::Display) -> String {
    e.to_string().lines().next().unwrap_or_default().to_string()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFileWithEntries {
    taxonomies: BTreeMap<String, RawTaxonomyWithEntries>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTaxonomyWithEntries {
    #[serde(default = "default_max_labels")]
    max_labels: usize,
    #[serde(default = "default_min_confidence")]
    min_confidence: f64,
    dimensions: Vec<RawDimensionWithEntries>,
    #[serde(default)]
    calls: Vec<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDimensionWithEntries {
    name: String,
    #[serde(default)]
    description: String,
    #[serde(default = "default_select")]
    select: Select,
    #[serde(default)]
    labels: Option<RawLabelList>,
    #[serde(default)]
    require: Vec<String>,
    #[serde(default)]
    exclude: Vec<String>,
}

fn invalid(path: &Path, line: usize, message: String) -> TaxonomyError {
    TaxonomyError::Invalid { path: path.to_path_buf(), line, message }
}

/// Line (1-based) of the `nth` occurrence (0-based) of `needle` as a YAML value, starting the
/// search at the line where `after` first appears. Used to point messages at offending values,
/// which serde has already consumed by the time semantic checks run.
fn line_of(text: &str, after: &str, needle: &str, nth: usize) -> usize {
    let start = text.find(after).unwrap_or(0);
    let hay = &text[start..];
    let mut seen = 0;
    let mut offset = 0;
    while let Some(pos) = hay[offset..].find(needle) {
        let abs = offset + pos;
        let before = hay[..abs].chars().last();
        let after_ch = hay[abs + needle.len()..].chars().next();
        let bounded = !before.is_some_and(|c| c.is_alphanumeric() || c == '-' || c == '_')
            && !after_ch.is_some_and(|c| c.is_alphanumeric() || c == '-' || c == '_');
        if bounded {
            if seen == nth {
                return text[..start + abs].matches('\n').count() + 1;
            }
            seen += 1;
        }
        offset = abs + needle.len().max(1);
    }
    text[..start].matches('\n').count() + 1
}

fn taxonomy_anchor(name: &str) -> String {
    format!("\n  {name}:")
}

fn build_taxonomy(
    name: &str,
    rt: RawTaxonomyWithEntries,
    text: &str,
    path: &Path,
) -> Result<Taxonomy, TaxonomyError> {
    let anchor = taxonomy_anchor(name);
    let at = |needle: &str, nth: usize| line_of(text, &anchor, needle, nth);
    if rt.max_labels == 0 {
        return Err(invalid(
            path,
            at("max_labels", 0),
            format!("{name}: max_labels must be at least 1"),
        ));
    }
    if !(0.0..=1.0).contains(&rt.min_confidence) {
        return Err(invalid(
            path,
            at("min_confidence", 0),
            format!("{name}: min_confidence {} is outside [0, 1]", rt.min_confidence),
        ));
    }
    if rt.dimensions.is_empty() {
        return Err(invalid(path, at(name, 0), format!("taxonomy `{name}` has no dimensions")));
    }
    let mut dimensions = Vec::new();
    let mut dim_names: HashMap<String, ()> = HashMap::new();
    let mut seen: HashMap<String, String> = HashMap::new(); // lower-case token -> what it is
    let mut counts: HashMap<String, usize> = HashMap::new(); // occurrences for line lookup
    for rd in rt.dimensions {
        if dim_names.insert(rd.name.clone(), ()).is_some() {
            return Err(invalid(
                path,
                at(&rd.name, 1),
                format!("{name}: duplicate dimension name `{}`", rd.name),
            ));
        }
        let labels = rd.labels.map(|l| l.0).unwrap_or_default();
        if labels.is_empty() {
            return Err(invalid(
                path,
                at(&rd.name, 0),
                format!("{name}: dimension `{}` is empty (it needs at least one label)", rd.name),
            ));
        }
        let mut defs = Vec::new();
        for rl in labels {
            let def = check_label(name, rl, &mut seen, &mut counts, &at, path)?;
            defs.push(def);
        }
        dimensions.push(Dimension {
            name: rd.name,
            description: rd.description,
            select: rd.select,
            labels: defs,
            require: rd.require,
            exclude: rd.exclude,
        });
    }
    let tax = Taxonomy {
        name: name.to_string(),
        max_labels: rt.max_labels,
        min_confidence: rt.min_confidence,
        dimensions,
        calls: rt.calls,
    };
    check_rules(&tax, &at, path)?;
    check_calls(&tax, &at, path)?;
    let mut tax = tax;
    // One call is no split: left out, so the hash stays what it is without `calls`.
    if tax.calls.len() < 2 {
        tax.calls.clear();
    }
    Ok(tax)
}

/// `calls` names every dimension exactly once, and no call is empty.
fn check_calls(
    tax: &Taxonomy,
    at: &dyn Fn(&str, usize) -> usize,
    path: &Path,
) -> Result<(), TaxonomyError> {
    if tax.calls.is_empty() {
        return Ok(());
    }
    let line = at("calls:", 0);
    let fail =
        |message: String| Err(invalid(path, line, format!("{}: calls: {message}", tax.name)));
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for (i, call) in tax.calls.iter().enumerate() {
        if call.is_empty() {
            return fail(format!("call {} names no dimension", i + 1));
        }
        for d in call {
            if !tax.dimensions.iter().any(|x| &x.name == d) {
                let known: Vec<&str> = tax.dimensions.iter().map(|x| x.name.as_str()).collect();
                return fail(format!(
                    "`{d}` is not a dimension of the taxonomy (it has: {})",
                    known.join(", ")
                ));
            }
            if let Some(prev) = seen.insert(d, i + 1) {
                return fail(format!("dimension `{d}` is in call {prev} and call {}", i + 1));
            }
        }
    }
    if let Some(d) = tax.dimensions.iter().find(|d| !seen.contains_key(d.name.as_str())) {
        return fail(format!(
            "dimension `{}` is in no call (every dimension goes in exactly one)",
            d.name
        ));
    }
    Ok(())
}

/// What a `require` may name besides `label:NAME`.
pub const RULE_SIGNALS: &[&str] = &["tools", "code", "multi-turn", "system", "lang"];

/// Every rule names something that exists.
fn check_rules(
    tax: &Taxonomy,
    at: &dyn Fn(&str, usize) -> usize,
    path: &Path,
) -> Result<(), TaxonomyError> {
    let owners = tax
        .dimensions
        .iter()
        .map(|d| (format!("dimension `{}`", d.name), &d.require, &d.exclude))
        .chain(tax.labels().map(|(_, l)| (format!("label `{}`", l.name), &l.require, &l.exclude)));
    for (who, require, exclude) in owners {
        for r in require {
            let ok = match r.strip_prefix("label:") {
                Some(l) => tax.resolve(l).is_some(),
                None => RULE_SIGNALS.contains(&r.as_str()),
            };
            if !ok {
                return Err(invalid(
                    path,
                    at(r, 0),
                    format!(
                        "{}: {who} requires {r:?}: say one of {} or label:NAME with a label of the taxonomy",
                        tax.name,
                        RULE_SIGNALS.join(", ")
                    ),
                ));
            }
        }
        if let Some(e) = exclude.iter().find(|e| tax.resolve(e).is_none()) {
            return Err(invalid(
                path,
                at(e, 0),
                format!("{}: {who} excludes {e:?}, which is not a label of the taxonomy", tax.name),
            ));
        }
    }
    Ok(())
}

fn check_label(
    tax: &str,
    rl: RawLabel,
    seen: &mut HashMap<String, String>,
    counts: &mut HashMap<String, usize>,
    at: &dyn Fn(&str, usize) -> usize,
    path: &Path,
) -> Result<LabelDef, TaxonomyError> {
    let name = rl.name.trim().to_string();
    if name.is_empty() || name.contains(',') || name.chars().any(char::is_control) {
        return Err(invalid(
            path,
            at(&rl.name, 0),
            format!(
                "{tax}: label name {:?} must be non-empty, without commas or control characters",
                rl.name
            ),
        ));
    }
    let color = match rl.color {
        Some(c) => {
            let c = c.trim_start_matches('#').to_string();
            if c.len() != 6 || !c.chars().all(|ch| ch.is_ascii_hexdigit()) {
                return Err(invalid(
                    path,
                    at(&c, 0),
                    format!("{tax}: label `{name}`: color {c:?} is not 6 hex digits"),
                ));
            }
            c.to_ascii_lowercase()
        }
        None => DEFAULT_COLOR.to_string(),
    };
    if let Some(t) = rl.threshold.filter(|t| !(0.0..=1.0).contains(t)) {
        return Err(invalid(
            path,
            at(&name, 0),
            format!("{tax}: label `{name}`: threshold {t} is outside [0, 1]"),
        ));
    }
    let mut tokens = vec![(name.clone(), format!("label `{name}`"))];
    for a in &rl.aliases {
        tokens.push((a.trim().to_string(), format!("alias `{a}` of `{name}`")));
    }
    for (token, what) in tokens {
        let key = token.to_lowercase();
        let n = counts.entry(key.clone()).or_insert(0);
        *n += 1;
        if let Some(prev) = seen.get(&key) {
            return Err(invalid(
                path,
                at(&token, *n - 1),
                format!("{tax}: duplicate name or alias `{token}`: {what} clashes with {prev}"),
            ));
        }
        seen.insert(key, what);
    }
    Ok(LabelDef {
        name,
        description: rl.description,
        color,
        aliases: rl.aliases,
        examples: rl.examples,
        deprecated: rl.deprecated,
        threshold: rl.threshold,
        require: rl.require,
        exclude: rl.exclude,
    })
}

// ---- lookups ----------------------------------------------------------------------------------

impl Taxonomy {
    /// All labels with their dimension, in file order.
    pub fn labels(&self) -> impl Iterator<Item = (&Dimension, &LabelDef)> {
        self.dimensions.iter().flat_map(|d| d.labels.iter().map(move |l| (d, l)))
    }

    /// Label names in file order.
    pub fn label_names(&self) -> Vec<String> {
        self.labels().map(|(_, l)| l.name.clone()).collect()
    }

    /// The label and its dimension, by exact name.
    pub fn label(&self, name: &str) -> Option<(&Dimension, &LabelDef)> {
        self.labels().find(|(_, l)| l.name == name)
    }

    /// Map a name or alias (case-insensitive) to the canonical label name.
    pub fn resolve(&self, name_or_alias: &str) -> Option<&str> {
        let want = name_or_alias.trim();
        self.labels()
            .find(|(_, l)| {
                l.name.eq_ignore_ascii_case(want)
                    || l.aliases.iter().any(|a| a.eq_ignore_ascii_case(want))
            })
            .map(|(_, l)| l.name.as_str())
    }

    /// The dimension holding a label.
    pub fn dimension_of(&self, label: &str) -> Option<&Dimension> {
        self.label(label).map(|(d, _)| d)
    }

    /// The confidence a label needs before the bot applies it: its own `threshold`, else the
    /// taxonomy's min_confidence.
    pub fn threshold_for(&self, label: &str) -> f64 {
        self.label(label).and_then(|(_, d)| d.threshold).unwrap_or(self.min_confidence)
    }

    /// The same taxonomy with only the named labels (canonical names), and without the
    /// dimensions left empty: what a caller that allows only some labels is asked about.
    pub fn restricted(&self, allowed: &std::collections::BTreeSet<String>) -> Taxonomy {
        let mut t = self.clone();
        for d in &mut t.dimensions {
            d.labels.retain(|l| allowed.contains(&l.name));
        }
        t.dimensions.retain(|d| !d.labels.is_empty());
        let kept: Vec<String> = t.dimensions.iter().map(|d| d.name.clone()).collect();
        for c in &mut t.calls {
            c.retain(|d| kept.contains(d));
        }
        t.calls.retain(|c| !c.is_empty());
        t
    }

    /// One taxonomy per call, in call order, each with its call's dimensions; empty when
    /// the taxonomy is asked about in one call.
    pub fn call_parts(&self) -> Vec<Taxonomy> {
        if self.calls.len() < 2 {
            return Vec::new();
        }
        self.calls
            .iter()
            .map(|call| Taxonomy {
                dimensions: call
                    .iter()
                    .filter_map(|n| self.dimensions.iter().find(|d| &d.name == n).cloned())
                    .collect(),
                calls: Vec::new(),
                ..self.clone()
            })
            .collect()
    }

    /// Whether the taxonomy is a flat label set (one multi-select dimension).
    pub fn is_flat(&self) -> bool {
        self.dimensions.len() == 1 && self.dimensions[0].select == Select::Many
    }

    /// Resolve labels (names or aliases) into canonical names, in taxonomy order, deduplicated.
    /// Returns the canonical names and the inputs that matched nothing.
    pub fn canonicalize<'a>(
        &self,
        labels: impl IntoIterator<Item = &'a str>,
    ) -> (Vec<String>, Vec<String>) {
        let mut found = Vec::new();
        let mut unknown = Vec::new();
        for l in labels {
            match self.resolve(l) {
                Some(n) => found.push(n.to_string()),
                None if l.trim().is_empty() => {}
                None => unknown.push(l.to_string()),
            }
        }
        let order = self.label_names();
        found.sort_by_key(|n| order.iter().position(|o| o == n));
        found.dedup();
        (found, unknown)
    }

    /// Check a final label set: known names, one per single-select dimension.
    pub fn check_answer(&self, labels: &[String]) -> Result<(), String> {
        for l in labels {
            if self.label(l).is_none() {
                return Err(format!("unknown label `{l}` in taxonomy `{}`", self.name));
            }
        }
        for d in self.dimensions.iter().filter(|d| d.select == Select::One) {
            let n = labels.iter().filter(|l| d.labels.iter().any(|x| &x.name == *l)).count();
            if n > 1 {
                return Err(format!("dimension `{}` takes one label, got {n}", d.name));
            }
        }
        Ok(())
    }

    /// An answer's labels (names or aliases) as canonical names, or what is wrong with them:
    /// the one rule for `sift annotate`, annotation imports and the replay of every log.
    pub fn answer_labels(&self, raw: &[String]) -> Result<Vec<String>, String> {
        let (found, unknown) = self.canonicalize(raw.iter().map(String::as_str));
        if !unknown.is_empty() {
            // Plain text only: labels come from files anyone can edit.
            let shown: Vec<String> = unknown
                .iter()
                .map(|u| format!("`{}`", u.chars().filter(|c| !c.is_control()).collect::<String>()))
                .collect();
            return Err(format!(
                "unknown label{} {} (taxonomy `{}` has: {})",
                if unknown.len() == 1 { "" } else { "s" },
                shown.join(", "),
                self.name,
                self.label_names().join(", ")
            ));
        }
        self.check_answer(&found)?;
        Ok(found)
    }

    /// SHA-256 of the taxonomy's canonical JSON form: changes whenever anything in it does.
    pub fn hash(&self) -> String {
        let json = serde_json::to_string(self).unwrap_or_default();
        crate::model::sha256_hex(&json)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<LabelsFile, TaxonomyError> {
        LabelsFile::parse(text, Path::new("labels.yml"))
    }

    #[test]
    fn default_file_parses_with_both_taxonomies() {
        let f = parse(DEFAULT_LABELS_YML).unwrap();
        let issues = f.get("issues").unwrap();
        assert_eq!(issues.max_labels, 3);
        assert!((issues.min_confidence - 0.6).abs() < 1e-9);
        let names = issues.label_names();
        for want in [
            "bug",
            "enhancement",
            "documentation",
            "question",
            "ux",
            "performance",
            "test",
            "security",
            "refactor",
            "ci",
        ] {
            assert!(names.iter().any(|n| n == want), "missing {want}");
        }
        for (_, l) in issues.labels() {
            assert!(!l.description.is_empty(), "{} has no description", l.name);
            assert!(!l.aliases.is_empty() && !l.examples.is_empty(), "{}", l.name);
        }
        let sft = f.get("sft").unwrap();
        let dims: Vec<_> = sft.dimensions.iter().map(|d| d.name.as_str()).collect();
        assert_eq!(
            dims,
            [
                "intent",
                "language",
                "domain",
                "task",
                "difficulty",
                "concept",
                "agentic",
                "constraint",
                "context"
            ]
        );
    }

    #[test]
    fn resolves_aliases_case_insensitively() {
        let f = parse(DEFAULT_LABELS_YML).unwrap();
        let t = f.get("issues").unwrap();
        assert_eq!(t.resolve("Crash"), Some("bug"));
        assert_eq!(t.resolve("bug"), Some("bug"));
        assert_eq!(t.resolve("nonsense"), None);
        let (found, unknown) = t.canonicalize(["crash", "docs", "bug", "zzz"]);
        assert_eq!(found, ["bug", "documentation"]);
        assert_eq!(unknown, ["zzz"]);
    }

    #[test]
    fn unknown_key_names_line_and_key() {
        let text = "taxonomies:\n  t:\n    dimensions:\n      - name: d\n        colour: red\n        labels: [a]\n";
        let e = parse(text).unwrap_err().to_string();
        assert!(e.starts_with("labels.yml:5:"), "{e}");
        assert!(e.contains("colour"), "{e}");
    }

    #[test]
    fn unknown_key_in_label_mapping() {
        let text = "taxonomies:\n  t:\n    dimensions:\n      - name: d\n        labels:\n          - name: a\n            colr: ff0000\n";
        let e = parse(text).unwrap_err().to_string();
        assert!(e.contains("labels.yml:7"), "{e}");
        assert!(e.contains("colr"), "{e}");
    }

    #[test]
    fn duplicate_label_names_the_second_line() {
        let text = "taxonomies:\n  t:\n    dimensions:\n      - name: d\n        labels:\n          - bug\n          - feature\n          - bug\n";
        let e = parse(text).unwrap_err().to_string();
        assert!(e.starts_with("labels.yml:8:"), "{e}");
        assert!(e.contains("duplicate") && e.contains("bug"), "{e}");
    }

    #[test]
    fn duplicate_alias_across_labels() {
        let text = "taxonomies:\n  t:\n    dimensions:\n      - name: d\n        labels:\n          - name: bug\n            aliases: [crash]\n          - name: perf\n            aliases: [crash]\n";
        let e = parse(text).unwrap_err().to_string();
        assert!(e.starts_with("labels.yml:9:"), "{e}");
        assert!(e.contains("crash"), "{e}");
    }

    #[test]
    fn bad_color_is_named() {
        let text = "taxonomies:\n  t:\n    dimensions:\n      - name: d\n        labels:\n          - name: bug\n            color: red\n";
        let e = parse(text).unwrap_err().to_string();
        assert!(e.starts_with("labels.yml:7:"), "{e}");
        assert!(e.contains("\"red\"") && e.contains("6 hex"), "{e}");
    }

    #[test]
    fn empty_dimension_is_refused() {
        let text = "taxonomies:\n  t:\n    dimensions:\n      - name: d\n        labels: []\n      - name: e\n        labels: [x]\n";
        let e = parse(text).unwrap_err().to_string();
        assert!(e.contains("labels.yml:4:") && e.contains("`d` is empty"), "{e}");
    }

    #[test]
    fn check_answer_enforces_single_select() {
        let f = parse(DEFAULT_LABELS_YML).unwrap();
        let sft = f.get("sft").unwrap();
        let d = sft.dimensions.iter().find(|d| d.select == Select::One).unwrap();
        let two = vec![d.labels[0].name.clone(), d.labels[1].name.clone()];
        assert!(sft.check_answer(&two).is_err());
        assert!(sft.check_answer(&two[..1]).is_ok());
        assert!(sft.check_answer(&["nope".to_string()]).is_err());
    }

    #[test]
    fn hash_is_stable_and_sensitive() {
        let f = parse(DEFAULT_LABELS_YML).unwrap();
        let mut t = f.get("issues").unwrap().clone();
        let h = t.hash();
        assert_eq!(h, f.get("issues").unwrap().hash());
        t.max_labels = 2;
        assert_ne!(h, t.hash());
    }

    const CALLS: &str = "taxonomies:\n  t:\n    dimensions:\n      - name: a\n        labels: [xx]\n      - name: b\n        labels: [yy]\n      - name: c\n        labels: [zz]\n";

    #[test]
    fn calls_split_the_dimensions_in_order() {
        let f = parse(&format!("{CALLS}    calls: [[c, a], [b]]\n")).unwrap();
        let t = f.get("t").unwrap();
        let parts = t.call_parts();
        let names = |t: &Taxonomy| t.dimensions.iter().map(|d| d.name.clone()).collect::<Vec<_>>();
        assert_eq!(parts.iter().map(names).collect::<Vec<_>>(), [vec!["c", "a"], vec!["b"]]);
        assert!(parts.iter().all(|p| p.calls.is_empty()));
        // Without calls the hash is what it was before calls existed.
        let plain = parse(CALLS).unwrap().get("t").unwrap().clone();
        assert!(plain.call_parts().is_empty());
        assert!(!serde_json::to_string(&plain).unwrap().contains("calls"));
        assert_ne!(plain.hash(), t.hash());
        // Restricting drops the calls left empty.
        let only_b = t.restricted(&["yy".to_string()].into_iter().collect());
        assert_eq!(only_b.calls, [vec!["b".to_string()]]);
        assert!(only_b.call_parts().is_empty(), "one call left is one call");
    }

    #[test]
    fn bad_calls_name_the_line_and_the_fault() {
        for (calls, want) in [
            ("[[a, b], [q]]", "`q` is not a dimension"),
            ("[[a, b], [b, c]]", "dimension `b` is in call 1 and call 2"),
            ("[[a], [b]]", "dimension `c` is in no call"),
            ("[[a, b, c], []]", "call 2 names no dimension"),
        ] {
            let text = format!("{CALLS}    calls: {calls}\n");
            let e = parse(&text).unwrap_err().to_string();
            assert!(e.contains(want), "{calls}: {e}");
            assert!(e.starts_with("labels.yml:10:"), "{calls}: {e}");
        }
    }
}
