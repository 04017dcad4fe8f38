//! Inter-annotator agreement on nominal ratings: percent agreement, Cohen, Fleiss, Krippendorff.

use std::collections::{BTreeMap, HashMap};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Binomial, Distribution};
use serde::{Deserialize, Serialize};

/// Bootstrap draws used by [`report`].
pub const BOOTSTRAP_DRAWS: usize = 1000;

/// Category of a unit in [`label_presence_table`] when the annotator did not pick the label.
pub const ABSENT: &str = "absent";

/// Category of a unit in [`label_presence_table`] when the annotator picked the label.
pub const PRESENT: &str = "present";

/// Category of an empty label set in [`set_table`].
pub const EMPTY_SET: &str = "(none)";

/// One annotation of a multi-select item: (unit key, annotator, labels picked).
pub type SetRecord = (String, String, Vec<String>);

/// Nominal ratings: one row per unit, one column per annotator.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Table {
    /// Annotator names, sorted; column `j` of every unit holds `annotators[j]`'s rating.
    pub annotators: Vec<String>,
    /// Category names; a rating is an index into this list, so its length is the category count.
    pub categories: Vec<String>,
    /// Ratings per unit; `None` = this annotator did not rate this unit.
    pub units: Vec<Vec<Option<u32>>>,
}

impl Table {
    /// Builds a table from `(unit, annotator, category)` triples.
    ///
    /// Units, annotators and categories are each sorted by name, so the table does not depend
    /// on the order of the triples. If an annotator rates a unit twice, the later triple wins.
    pub fn from_triples<U, A, C>(triples: impl IntoIterator<Item = (U, A, C)>) -> Table
    where
        U: AsRef<str>,
        A: AsRef<str>,
        C: AsRef<str>,
    {
        let (mut units, mut annotators, mut categories) =
            (Interner::default(), Interner::default(), Interner::default());
        let coded: Vec<[u32; 3]> = triples
            .into_iter()
            .map(|(u, a, c)| {
                [units.id(u.as_ref()), annotators.id(a.as_ref()), categories.id(c.as_ref())]
            })
            .collect();
        let (_, unit_rank) = units.into_sorted();
        let (annotator_names, annotator_rank) = annotators.into_sorted();
        let (category_names, category_rank) = categories.into_sorted();
        let mut rows = vec![vec![None; annotator_names.len()]; unit_rank.len()];
        for [u, a, c] in coded {
            let row = &mut rows[unit_rank[u as usize] as usize];
            row[annotator_rank[a as usize] as usize] = Some(category_rank[c as usize]);
        }
        Table { annotators: annotator_names, categories: category_names, units: rows }
    }

    /// Number of categories.
    pub fn category_count(&self) -> usize {
        self.categories.len()
    }
}

/// Gives each distinct name a dense id in first-seen order.
#[derive(Default)]
struct Interner {
    ids: HashMap<String, u32>,
    names: Vec<String>,
}

impl Interner {
    fn id(&mut self, name: &str) -> u32 {
        if let Some(&id) = self.ids.get(name) {
            return id;
        }
        let id = self.names.len() as u32;
        self.ids.insert(name.to_owned(), id);
        self.names.push(name.to_owned());
        id
    }

    /// The names in sorted order, and for each first-seen id its position in that order.
    fn into_sorted(self) -> (Vec<String>, Vec<u32>) {
        let mut names = self.names;
        let mut order: Vec<usize> = (0..names.len()).collect();
        order.sort_unstable_by(|&a, &b| names[a].cmp(&names[b]));
        let mut rank = vec![0; order.len()];
        for (position, &id) in order.iter().enumerate() {
            rank[id] = position as u32;
        }
        let sorted = order.iter().map(|&id| std::mem::take(&mut names[id])).collect();
        (sorted, rank)
    }
}

/// Per-label binary table: each annotation becomes [`PRESENT`] or [`ABSENT`] for `label`.
pub fn label_presence_table(records: &[SetRecord], label: &str) -> Table {
    Table::from_triples(records.iter().map(|(unit, annotator, labels)| {
        let state = if labels.iter().any(|l| l == label) { PRESENT } else { ABSENT };
        (unit.as_str(), annotator.as_str(), state)
    }))
}

/// Nominal table whose category is the whole label set: sorted, deduplicated, joined by "+".
///
/// With `restrict_to`, labels outside that list are ignored first (e.g. to rate one
/// single-select dimension). An empty set is the category [`EMPTY_SET`].
pub fn set_table(records: &[SetRecord], restrict_to: Option<&[String]>) -> Table {
    Table::from_triples(records.iter().map(|(unit, annotator, labels)| {
        (unit.as_str(), annotator.as_str(), set_category(labels, restrict_to))
    }))
}

fn set_category(labels: &[String], restrict_to: Option<&[String]>) -> String {
    let mut kept: Vec<&str> = labels
        .iter()
        .filter(|l| restrict_to.is_none_or(|allowed| allowed.contains(l)))
        .map(String::as_str)
        .collect();
    kept.sort_unstable();
    kept.dedup();
    if kept.is_empty() { EMPTY_SET.to_owned() } else { kept.join("+") }
}

/// Adds `by` to the tally of `category`, growing the tallies if needed: a hand-built table may
/// hold values beyond `categories`, and this avoids a separate pass to find the largest.
fn bump(tallies: &mut Vec<u64>, category: u32, by: u64) {
    let slot = category as usize;
    if slot >= tallies.len() {
        tallies.resize(slot + 1, 0);
    }
    tallies[slot] += by;
}

/// Fills `counts` with (category, how many annotators chose it) for one unit; returns the total.
fn count_values(row: &[Option<u32>], counts: &mut Vec<(u32, u32)>) -> u32 {
    counts.clear();
    let mut total = 0;
    for &value in row.iter().flatten() {
        total += 1;
        match counts.iter_mut().find(|(category, _)| *category == value) {
            Some((_, n)) => *n += 1,
            None => counts.push((value, 1)),
        }
    }
    total
}

/// Unordered pairs among `n` things.
fn pairs(n: u32) -> u64 {
    u64::from(n) * u64::from(n.saturating_sub(1)) / 2
}

fn kappa(observed: f64, chance: f64) -> Option<f64> {
    (chance < 1.0).then(|| (observed - chance) / (1.0 - chance))
}

/// Mean, over units with at least two ratings, of the share of rater pairs that agree.
pub fn percent_agreement(table: &Table) -> Option<f64> {
    let mut counts = Vec::new();
    let (mut sum, mut units) = (0.0, 0u64);
    for row in &table.units {
        let rated = count_values(row, &mut counts);
        if rated < 2 {
            continue;
        }
        let agreeing: u64 = counts.iter().map(|&(_, n)| pairs(n)).sum();
        sum += agreeing as f64 / pairs(rated) as f64;
        units += 1;
    }
    (units > 0).then(|| sum / units as f64)
}

/// Cohen's kappa between annotator columns `a` and `b`, over the units both rated.
pub fn cohen_kappa(table: &Table, a: usize, b: usize) -> Option<f64> {
    let (observed, chance) = cohen_terms(table, a, b)?;
    kappa(observed, chance)
}

/// Observed agreement p_o and chance agreement p_e for Cohen's kappa.
fn cohen_terms(table: &Table, a: usize, b: usize) -> Option<(f64, f64)> {
    let slots = table.categories.len();
    let (mut by_a, mut by_b) = (vec![0u64; slots], vec![0u64; slots]);
    let (mut units, mut agreeing) = (0u64, 0u64);
    for row in &table.units {
        let (Some(Some(x)), Some(Some(y))) = (row.get(a), row.get(b)) else { continue };
        units += 1;
        agreeing += u64::from(x == y);
        bump(&mut by_a, *x, 1);
        bump(&mut by_b, *y, 1);
    }
    let chance: u128 = by_a.iter().zip(&by_b).map(|(&x, &y)| u128::from(x) * u128::from(y)).sum();
    let all = u128::from(units) * u128::from(units);
    // Integer check: p_e == 1 exactly when both used one and the same category throughout.
    if units == 0 || chance == all {
        return None;
    }
    Some((agreeing as f64 / units as f64, chance as f64 / all as f64))
}

/// Fleiss' kappa over the units rated by every annotator in the table.
pub fn fleiss_kappa(table: &Table) -> Option<f64> {
    let (observed, chance) = fleiss_terms(table)?;
    kappa(observed, chance)
}

/// Mean per-unit agreement P̄ and chance agreement P̄_e for Fleiss' kappa.
fn fleiss_terms(table: &Table) -> Option<(f64, f64)> {
    let raters = table.annotators.len();
    if raters < 2 {
        return None;
    }
    let rater_pairs = pairs(raters as u32) as f64;
    let mut totals = vec![0u64; table.categories.len()];
    let mut counts = Vec::new();
    let (mut units, mut agreement) = (0u64, 0.0);
    for row in &table.units {
        if row.len() != raters || row.iter().any(Option::is_none) {
            continue;
        }
        count_values(row, &mut counts);
        agreement += counts.iter().map(|&(_, n)| pairs(n)).sum::<u64>() as f64 / rater_pairs;
        for &(category, n) in &counts {
            bump(&mut totals, category, u64::from(n));
        }
        units += 1;
    }
    let ratings = u128::from(units) * raters as u128;
    let squares: u128 = totals.iter().map(|&t| u128::from(t) * u128::from(t)).sum();
    // Integer check: P̄_e == 1 exactly when every rating is the same category.
    if units == 0 || squares == ratings * ratings {
        return None;
    }
    Some((agreement / units as f64, squares as f64 / (ratings * ratings) as f64))
}

/// Krippendorff's alpha for nominal data; missing ratings allowed, units with < 2 ratings drop out.
pub fn krippendorff_alpha_nominal(table: &Table) -> Option<f64> {
    let mut sums = AlphaSums::new(table.categories.len());
    let mut counts = Vec::new();
    for row in &table.units {
        count_values(row, &mut counts);
        sums.add(&counts, 1);
    }
    sums.alpha()
}

/// Sufficient statistics of nominal alpha (Krippendorff 2011, coincidence-matrix method).
///
/// With n_c = Σ_k o_ck the pairable values of category c and n = Σ_c n_c,
/// alpha = 1 − (n − 1) · Σ_{c≠k} o_ck / Σ_{c≠k} n_c·n_k, where Σ_{c≠k} o_ck = n − Σ_c o_cc and
/// Σ_{c≠k} n_c·n_k = n² − Σ_c n_c². So alpha needs only n, each n_c and Σ_c o_cc, and every one
/// of them is a sum of per-unit contributions.
struct AlphaSums {
    values: u64,
    by_category: Vec<u64>,
    matching: f64,
}

impl AlphaSums {
    fn new(slots: usize) -> AlphaSums {
        AlphaSums { values: 0, by_category: vec![0; slots], matching: 0.0 }
    }

    fn clear(&mut self) {
        self.values = 0;
        self.by_category.fill(0);
        self.matching = 0.0;
    }

    /// Adds `weight` copies of a unit whose ratings have these (category, count) pairs.
    fn add(&mut self, counts: &[(u32, u32)], weight: u64) {
        let rated: u32 = counts.iter().map(|&(_, n)| n).sum();
        if rated < 2 || weight == 0 {
            return;
        }
        self.values += weight * u64::from(rated);
        for &(category, n) in counts {
            bump(&mut self.by_category, category, weight * u64::from(n));
        }
        // The unit's share of the diagonal: Σ_c n_uc (n_uc − 1) / (m_u − 1).
        let diagonal: u64 = counts.iter().map(|&(_, n)| u64::from(n) * u64::from(n - 1)).sum();
        self.matching += weight as f64 * diagonal as f64 / f64::from(rated - 1);
    }

    fn alpha(&self) -> Option<f64> {
        let n = u128::from(self.values);
        let squares: u128 = self.by_category.iter().map(|&x| u128::from(x) * u128::from(x)).sum();
        let expected = n * n - squares;
        // Zero expected disagreement (one category only, or nothing pairable): alpha undefined.
        if expected == 0 {
            return None;
        }
        let observed = self.values as f64 - self.matching;
        Some(1.0 - (self.values as f64 - 1.0) * observed / expected as f64)
    }
}

/// Pairable units grouped by their rating pattern (the sorted (category, count) pairs).
struct Patterns {
    /// Distinct patterns, sorted so that the bootstrap does not depend on hash order.
    shapes: Vec<Vec<(u32, u32)>>,
    /// How many units have each pattern.
    units: Vec<u64>,
    slots: usize,
}

impl Patterns {
    fn of(table: &Table) -> Patterns {
        let mut seen: HashMap<Vec<(u32, u32)>, u64> = HashMap::new();
        let mut counts = Vec::new();
        for row in &table.units {
            if count_values(row, &mut counts) < 2 {
                continue;
            }
            counts.sort_unstable();
            match seen.get_mut(counts.as_slice()) {
                Some(n) => *n += 1,
                None => {
                    seen.insert(counts.clone(), 1);
                }
            }
        }
        let mut grouped: Vec<(Vec<(u32, u32)>, u64)> = seen.into_iter().collect();
        grouped.sort_unstable();
        let (shapes, units) = grouped.into_iter().unzip();
        Patterns { shapes, units, slots: table.categories.len() }
    }

    fn total(&self) -> u64 {
        self.units.iter().sum()
    }

    fn alpha(&self, weights: &[u64], sums: &mut AlphaSums) -> Option<f64> {
        sums.clear();
        for (shape, &weight) in self.shapes.iter().zip(weights) {
            sums.add(shape, weight);
        }
        sums.alpha()
    }
}

/// How one bootstrap replicate is drawn; both give the same distribution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Resampling {
    /// Multinomial counts per pattern via sequential binomials: O(patterns) per replicate.
    Multinomial,
    /// Draw n unit indices one by one: O(units) per replicate.
    Indices,
}

impl Resampling {
    /// A binomial draw costs roughly as much as a dozen index draws, so binomials win unless
    /// nearly every unit has its own pattern (e.g. set categories with many labels).
    fn for_patterns(patterns: &Patterns) -> Resampling {
        let distinct = patterns.units.len() as u64;
        if distinct.saturating_mul(16) <= patterns.total() {
            Resampling::Multinomial
        } else {
            Resampling::Indices
        }
    }
}

/// 95% percentile bootstrap interval of nominal alpha, resampling units with replacement.
///
/// Only pairable units (two or more ratings) are resampled: the others never enter alpha.
/// Replicates whose alpha is undefined are left out of the percentiles. Returns `None` when
/// alpha itself is undefined or no replicate is defined. The same seed gives the same interval.
pub fn alpha_bootstrap_ci95(table: &Table, draws: usize, seed: u64) -> Option<[f64; 2]> {
    krippendorff_alpha_nominal(table)?;
    let patterns = Patterns::of(table);
    let method = Resampling::for_patterns(&patterns);
    let mut alphas = bootstrap_alphas(&patterns, draws, seed, method);
    percentile_interval(&mut alphas)
}

fn bootstrap_alphas(patterns: &Patterns, draws: usize, seed: u64, method: Resampling) -> Vec<f64> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut sums = AlphaSums::new(patterns.slots);
    let mut weights = vec![0u64; patterns.units.len()];
    let unit_patterns = match method {
        Resampling::Indices => pattern_per_unit(patterns),
        Resampling::Multinomial => Vec::new(),
    };
    let mut alphas = Vec::with_capacity(draws);
    for _ in 0..draws {
        match method {
            Resampling::Multinomial => multinomial(&mut rng, &patterns.units, &mut weights),
            Resampling::Indices => tally_indices(&mut rng, &unit_patterns, &mut weights),
        }
        alphas.extend(patterns.alpha(&weights, &mut sums));
    }
    alphas
}

/// Resampling n units uniformly with replacement and grouping the draws by pattern gives counts
/// (x_1..x_K) ~ Multinomial(n; c_1/n, ..., c_K/n), where c_i units have pattern i; and since
/// alpha depends only on sums of per-unit contributions, those counts determine the replicate's
/// alpha. A multinomial is drawn exactly by sequential conditional binomials:
/// x_i ~ Binomial(n − x_1 − ... − x_{i−1}, c_i / (c_i + ... + c_K)).
fn multinomial(rng: &mut ChaCha8Rng, units: &[u64], out: &mut [u64]) {
    let mut draws_left: u64 = units.iter().sum();
    let mut units_left = draws_left;
    for (slot, &count) in out.iter_mut().zip(units) {
        let share = count as f64 / units_left as f64;
        // share is in (0, 1] by construction; new() fails only if it were outside [0, 1].
        *slot = if draws_left == 0 || share >= 1.0 {
            draws_left
        } else {
            Binomial::new(draws_left, share).map_or(draws_left, |b| b.sample(rng))
        };
        draws_left -= *slot;
        units_left -= count;
    }
}

/// Pattern index of every pairable unit, in pattern order (independent of the table's row order).
fn pattern_per_unit(patterns: &Patterns) -> Vec<u32> {
    let mut ids = Vec::with_capacity(patterns.total() as usize);
    for (id, &count) in patterns.units.iter().enumerate() {
        ids.extend(std::iter::repeat_n(id as u32, count as usize));
    }
    ids
}

fn tally_indices(rng: &mut ChaCha8Rng, unit_patterns: &[u32], out: &mut [u64]) {
    out.fill(0);
    for _ in 0..unit_patterns.len() {
        let unit = rng.random_range(0..unit_patterns.len());
        out[unit_patterns[unit] as usize] += 1;
    }
}

/// The 2.5th and 97.5th percentiles, interpolating linearly between order statistics.
fn percentile_interval(values: &mut [f64]) -> Option<[f64; 2]> {
    if values.is_empty() {
        return None;
    }
    values.sort_unstable_by(f64::total_cmp);
    Some([quantile(values, 0.025), quantile(values, 0.975)])
}

fn quantile(sorted: &[f64], q: f64) -> f64 {
    let position = (sorted.len() - 1) as f64 * q;
    let below = position.floor() as usize;
    let above = (below + 1).min(sorted.len() - 1);
    sorted[below] + (position - below as f64) * (sorted[above] - sorted[below])
}

/// Landis & Koch (1977) strength-of-agreement bands for kappa-like statistics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Band {
    #[serde(rename = "poor")]
    Poor,
    #[serde(rename = "slight")]
    Slight,
    #[serde(rename = "fair")]
    Fair,
    #[serde(rename = "moderate")]
    Moderate,
    #[serde(rename = "substantial")]
    Substantial,
    #[serde(rename = "almost perfect")]
    AlmostPerfect,
}

impl Band {
    pub fn name(self) -> &'static str {
        match self {
            Band::Poor => "poor",
            Band::Slight => "slight",
            Band::Fair => "fair",
            Band::Moderate => "moderate",
            Band::Substantial => "substantial",
            Band::AlmostPerfect => "almost perfect",
        }
    }
}

impl std::fmt::Display for Band {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Band of a kappa: poor < 0 ≤ slight ≤ 0.20 < fair ≤ 0.40 < moderate ≤ 0.60 < substantial
/// ≤ 0.80 < almost perfect. The published bands (0.21–0.40 ...) are for two-decimal values;
/// upper bounds are inclusive here so that nothing falls between them. NaN counts as poor.
pub fn band(kappa: f64) -> Band {
    if kappa.is_nan() || kappa < 0.0 {
        Band::Poor
    } else if kappa <= 0.20 {
        Band::Slight
    } else if kappa <= 0.40 {
        Band::Fair
    } else if kappa <= 0.60 {
        Band::Moderate
    } else if kappa <= 0.80 {
        Band::Substantial
    } else {
        Band::AlmostPerfect
    }
}

/// Every agreement statistic for one table; `None` (JSON null) where undefined.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgreementReport {
    /// Units with at least one rating.
    pub items: usize,
    pub percent_agreement: Option<f64>,
    /// Cohen's kappa for every pair of annotators, keyed "a|b" with the names sorted.
    pub cohen_kappa: BTreeMap<String, Option<f64>>,
    pub fleiss_kappa: Option<f64>,
    pub krippendorff_alpha: Option<f64>,
    pub alpha_ci95: Option<[f64; 2]>,
}

/// All statistics for `table`; the bootstrap interval only when `with_ci` (it is the slow part).
pub fn report(table: &Table, with_ci: bool, seed: u64) -> AgreementReport {
    AgreementReport {
        items: table.units.iter().filter(|row| row.iter().any(Option::is_some)).count(),
        percent_agreement: percent_agreement(table),
        cohen_kappa: pairwise_kappa(table),
        fleiss_kappa: fleiss_kappa(table),
        krippendorff_alpha: krippendorff_alpha_nominal(table),
        alpha_ci95: if with_ci { alpha_bootstrap_ci95(table, BOOTSTRAP_DRAWS, seed) } else { None },
    }
}

fn pairwise_kappa(table: &Table) -> BTreeMap<String, Option<f64>> {
    let names = &table.annotators;
    let mut kappas = BTreeMap::new();
    for a in 0..names.len() {
        for b in a + 1..names.len() {
            let (first, second) = if names[a] <= names[b] { (a, b) } else { (b, a) };
            let key = format!("{}|{}", names[first], names[second]);
            kappas.insert(key, cohen_kappa(table, a, b));
        }
    }
    kappas
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(actual: Option<f64>, expected: f64) -> bool {
        actual.is_some_and(|a| (a - expected).abs() < 0.0005)
    }

    fn names(prefix: &str, n: usize) -> Vec<String> {
        (1..=n).map(|i| format!("{prefix}{i:02}")).collect()
    }

    /// Two annotators; `cells[x][y]` units where A said x and B said y.
    fn contingency(cells: &[&[usize]]) -> Table {
        let mut units = Vec::new();
        for (x, row) in cells.iter().enumerate() {
            for (y, &n) in row.iter().enumerate() {
                units.extend((0..n).map(|_| vec![Some(x as u32), Some(y as u32)]));
            }
        }
        Table { annotators: names("r", 2), categories: names("c", cells.len()), units }
    }

    /// Every unit rated by every rater; `rows[i][j]` raters put unit i in category j.
    fn from_counts(rows: &[[usize; 5]], raters: usize) -> Table {
        let units = rows
            .iter()
            .map(|row| {
                let mut ratings = Vec::new();
                for (category, &n) in row.iter().enumerate() {
                    ratings.extend((0..n).map(|_| Some(category as u32)));
                }
                assert_eq!(ratings.len(), raters);
                ratings
            })
            .collect();
        Table { annotators: names("r", raters), categories: names("c", 5), units }
    }

    /// One column per annotator, as in Krippendorff's papers; 0 = missing.
    fn from_columns(columns: &[&[u32]]) -> Table {
        let unit_count = columns[0].len();
        let units = (0..unit_count)
            .map(|u| columns.iter().map(|col| (col[u] > 0).then(|| col[u] - 1)).collect())
            .collect();
        Table { annotators: names("o", columns.len()), categories: names("v", 5), units }
    }

    /// A plausible labeling job: three annotators, 4 categories, ~80% agreement, some missing.
    fn realistic(units: usize, seed: u64) -> Table {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut triples = Vec::new();
        for unit in 0..units {
            let truth = ["bug", "bug", "feature", "question", "docs"][rng.random_range(0..5)];
            for annotator in ["ann", "bob", "cat"] {
                if rng.random_bool(0.1) {
                    continue;
                }
                let choice = if rng.random_bool(0.8) {
                    truth
                } else {
                    ["bug", "feature", "question", "docs"][rng.random_range(0..4)]
                };
                triples.push((format!("u{unit}"), annotator, choice));
            }
        }
        Table::from_triples(triples)
    }

    #[test]
    fn cohen_wikipedia_example() {
        // Readers A (rows) and B (columns), Yes/No, 50 proposals.
        let table = contingency(&[&[20, 5], &[10, 15]]);
        let (observed, chance) = cohen_terms(&table, 0, 1).unwrap();
        assert!(close(Some(observed), 0.7));
        assert!(close(Some(chance), 0.5));
        assert!(close(cohen_kappa(&table, 0, 1), 0.400));
        assert!(close(cohen_kappa(&table, 1, 0), 0.400));
    }

    #[test]
    fn fleiss_wikipedia_example() {
        let rows = [
            [0, 0, 0, 0, 14],
            [0, 2, 6, 4, 2],
            [0, 0, 3, 5, 6],
            [0, 3, 9, 2, 0],
            [2, 2, 8, 1, 1],
            [7, 7, 0, 0, 0],
            [3, 2, 6, 3, 0],
            [2, 5, 3, 2, 2],
            [6, 5, 2, 1, 0],
            [0, 2, 2, 3, 7],
        ];
        let table = from_counts(&rows, 14);
        let (p_bar, p_e) = fleiss_terms(&table).unwrap();
        assert!(close(Some(p_bar), 0.378), "P_bar {p_bar}");
        assert!(close(Some(p_e), 0.213), "P_e {p_e}");
        assert!(close(fleiss_kappa(&table), 0.210));
    }

    #[test]
    fn krippendorff_2011_nominal_example() {
        let table = from_columns(&[
            &[1, 2, 3, 3, 2, 1, 4, 1, 2, 0, 0, 0],
            &[1, 2, 3, 3, 2, 2, 4, 1, 2, 5, 0, 3],
            &[0, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, 0],
            &[1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, 0],
        ]);
        assert!(close(krippendorff_alpha_nominal(&table), 0.743));
        // Unit 12 has a single value and drops out: removing it changes nothing.
        let mut trimmed = table.clone();
        trimmed.units.pop();
        assert_eq!(krippendorff_alpha_nominal(&trimmed), krippendorff_alpha_nominal(&table));
    }

    #[test]
    fn fleiss_skips_units_missing_a_rater() {
        let mut table = contingency(&[&[3, 1], &[1, 3]]);
        let before = fleiss_kappa(&table);
        table.units.push(vec![Some(0), None]);
        assert_eq!(fleiss_kappa(&table), before);
        assert!(before.is_some());
    }

    #[test]
    fn percent_agreement_by_hand() {
        // Unit 1: all three agree (3/3 pairs); unit 2: two of three (1/3 pairs);
        // unit 3: two raters disagree (0/1); unit 4: one rating, skipped.
        let table = Table {
            annotators: names("r", 3),
            categories: names("c", 2),
            units: vec![
                vec![Some(0), Some(0), Some(0)],
                vec![Some(0), Some(1), Some(0)],
                vec![Some(0), None, Some(1)],
                vec![None, Some(1), None],
            ],
        };
        let expected = (1.0 + 1.0 / 3.0 + 0.0) / 3.0;
        assert!((percent_agreement(&table).unwrap() - expected).abs() < 1e-12);
    }

    #[test]
    fn perfect_agreement_is_one() {
        let table = from_counts(&[[3, 0, 0, 0, 0], [0, 3, 0, 0, 0], [0, 0, 0, 3, 0]], 3);
        assert_eq!(percent_agreement(&table), Some(1.0));
        assert_eq!(cohen_kappa(&table, 0, 2), Some(1.0));
        assert_eq!(fleiss_kappa(&table), Some(1.0));
        assert_eq!(krippendorff_alpha_nominal(&table), Some(1.0));
    }

    #[test]
    fn one_category_everywhere_is_undefined_not_nan() {
        let table = from_counts(&[[3, 0, 0, 0, 0], [3, 0, 0, 0, 0]], 3);
        assert_eq!(percent_agreement(&table), Some(1.0));
        assert_eq!(cohen_kappa(&table, 0, 1), None);
        assert_eq!(fleiss_kappa(&table), None);
        assert_eq!(krippendorff_alpha_nominal(&table), None);
        assert_eq!(alpha_bootstrap_ci95(&table, 50, 1), None);
    }

    #[test]
    fn nothing_pairable_is_undefined() {
        let table = Table {
            annotators: names("r", 2),
            categories: names("c", 2),
            units: vec![vec![Some(0), None], vec![None, Some(1)]],
        };
        assert_eq!(percent_agreement(&table), None);
        assert_eq!(cohen_kappa(&table, 0, 1), None);
        assert_eq!(fleiss_kappa(&table), None);
        assert_eq!(krippendorff_alpha_nominal(&table), None);
        assert_eq!(report(&table, false, 0).items, 2);
    }

    #[test]
    fn from_triples_sorts_and_interns() {
        let table = Table::from_triples([
            ("u2", "zed", "no"),
            ("u1", "amy", "yes"),
            ("u1", "zed", "no"),
            ("u2", "amy", "no"),
            ("u1", "amy", "no"), // later triple wins
        ]);
        assert_eq!(table.annotators, ["amy", "zed"]);
        assert_eq!(table.categories, ["no", "yes"]);
        assert_eq!(table.units, vec![vec![Some(0), Some(0)], vec![Some(0), Some(0)]]);
        assert_eq!(table.category_count(), 2);
    }

    #[test]
    fn presence_and_set_tables() {
        let record = |u: &str, a: &str, labels: &[&str]| -> SetRecord {
            (u.into(), a.into(), labels.iter().map(|l| l.to_string()).collect())
        };
        let records = vec![
            record("u1", "amy", &["bug", "ui"]),
            record("u1", "bob", &["ui", "bug", "bug"]),
            record("u2", "amy", &[]),
            record("u2", "bob", &["docs"]),
        ];
        let presence = label_presence_table(&records, "bug");
        assert_eq!(presence.categories, [ABSENT, PRESENT]);
        assert_eq!(presence.units, vec![vec![Some(1), Some(1)], vec![Some(0), Some(0)]]);

        let sets = set_table(&records, None);
        assert_eq!(sets.categories, [EMPTY_SET, "bug+ui", "docs"]);
        assert_eq!(sets.units, vec![vec![Some(1), Some(1)], vec![Some(0), Some(2)]]);

        let only_ui = set_table(&records, Some(&["ui".to_string()]));
        assert_eq!(only_ui.categories, [EMPTY_SET, "ui"]);
        assert_eq!(only_ui.units, vec![vec![Some(1), Some(1)], vec![Some(0), Some(0)]]);
    }

    #[test]
    fn bands_follow_landis_koch() {
        let cases = [
            (-0.1, Band::Poor),
            (0.0, Band::Slight),
            (0.2, Band::Slight),
            (0.21, Band::Fair),
            (0.4, Band::Fair),
            (0.55, Band::Moderate),
            (0.61, Band::Substantial),
            (0.8, Band::Substantial),
            (0.81, Band::AlmostPerfect),
            (1.0, Band::AlmostPerfect),
            (f64::NAN, Band::Poor),
        ];
        for (kappa, expected) in cases {
            assert_eq!(band(kappa), expected, "kappa {kappa}");
        }
        assert_eq!(band(0.9).name(), "almost perfect");
        assert_eq!(serde_json::to_string(&Band::AlmostPerfect).unwrap(), "\"almost perfect\"");
    }

    #[test]
    fn bootstrap_is_deterministic_and_seeded() {
        let table = realistic(2000, 7);
        let first = alpha_bootstrap_ci95(&table, 200, 42).unwrap();
        assert_eq!(alpha_bootstrap_ci95(&table, 200, 42), Some(first));
        assert_ne!(alpha_bootstrap_ci95(&table, 200, 43), Some(first));
    }

    #[test]
    fn bootstrap_interval_contains_estimate() {
        let table = realistic(3000, 11);
        let alpha = krippendorff_alpha_nominal(&table).unwrap();
        let [low, high] = alpha_bootstrap_ci95(&table, BOOTSTRAP_DRAWS, 5).unwrap();
        assert!(low < alpha && alpha < high, "{low} < {alpha} < {high}");
        // About ±1.96 standard errors; with 3000 units that is a few hundredths.
        assert!(high - low > 0.005 && high - low < 0.1, "width {}", high - low);
    }

    #[test]
    fn bootstrap_does_not_depend_on_row_order() {
        let table = realistic(500, 3);
        let mut reversed = table.clone();
        reversed.units.reverse();
        assert_eq!(alpha_bootstrap_ci95(&table, 100, 9), alpha_bootstrap_ci95(&reversed, 100, 9));
    }

    #[test]
    fn multinomial_matches_index_resampling() {
        // Same distribution by two routes: intervals agree to Monte Carlo error.
        let table = realistic(3000, 13);
        let patterns = Patterns::of(&table);
        let mut by_binomials = bootstrap_alphas(&patterns, 2000, 1, Resampling::Multinomial);
        let mut by_indices = bootstrap_alphas(&patterns, 2000, 2, Resampling::Indices);
        let a = percentile_interval(&mut by_binomials).unwrap();
        let b = percentile_interval(&mut by_indices).unwrap();
        assert!((a[0] - b[0]).abs() < 0.006 && (a[1] - b[1]).abs() < 0.006, "{a:?} vs {b:?}");
        let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
        assert!((mean(&by_binomials) - mean(&by_indices)).abs() < 0.002);
    }

    #[test]
    fn multinomial_draws_sum_to_n() {
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        let units = [5, 1, 300, 42, 1];
        let mut out = [0; 5];
        for _ in 0..100 {
            multinomial(&mut rng, &units, &mut out);
            assert_eq!(out.iter().sum::<u64>(), 349);
        }
    }

    #[test]
    fn many_patterns_fall_back_to_indices() {
        let few = Patterns::of(&realistic(1000, 1));
        assert_eq!(Resampling::for_patterns(&few), Resampling::Multinomial);
        // Every unit its own pattern: 40 categories, three distinct ratings per unit.
        let units = (0..40u32).map(|u| vec![Some(u), Some((u + 1) % 40), Some((u + 2) % 40)]);
        let table =
            Table { annotators: names("r", 3), categories: names("c", 40), units: units.collect() };
        assert_eq!(Resampling::for_patterns(&Patterns::of(&table)), Resampling::Indices);
        assert!(alpha_bootstrap_ci95(&table, 50, 1).is_some());
    }

    #[test]
    fn percentiles_interpolate() {
        let mut values: Vec<f64> = (0..=100).rev().map(f64::from).collect();
        assert_eq!(percentile_interval(&mut values), Some([2.5, 97.5]));
        assert_eq!(percentile_interval(&mut []), None);
    }

    #[test]
    fn report_json_shape() {
        let table = Table::from_triples([
            ("u1", "bob", "x"),
            ("u1", "amy", "x"),
            ("u2", "bob", "y"),
            ("u2", "amy", "y"),
            ("u3", "amy", "x"),
        ]);
        let json = serde_json::to_string(&report(&table, false, 0)).unwrap();
        assert_eq!(
            json,
            r#"{"items":3,"percent_agreement":1.0,"cohen_kappa":{"amy|bob":1.0},"fleiss_kappa":1.0,"krippendorff_alpha":1.0,"alpha_ci95":null}"#
        );
        let with_ci = report(&realistic(300, 2), true, 1);
        let value = serde_json::to_value(&with_ci).unwrap();
        let ci = value["alpha_ci95"].as_array().unwrap();
        assert_eq!(ci.len(), 2);
        assert!(ci[0].as_f64().unwrap() <= ci[1].as_f64().unwrap());
        let keys: Vec<&String> = value["cohen_kappa"].as_object().unwrap().keys().collect();
        assert_eq!(keys, ["ann|bob", "ann|cat", "bob|cat"]);
    }

    #[test]
    fn undefined_values_serialise_as_null() {
        let table = Table::from_triples([("u1", "amy", "x"), ("u1", "bob", "x")]);
        let json = serde_json::to_string(&report(&table, true, 0)).unwrap();
        assert_eq!(
            json,
            r#"{"items":1,"percent_agreement":1.0,"cohen_kappa":{"amy|bob":null},"fleiss_kappa":null,"krippendorff_alpha":null,"alpha_ci95":null}"#
        );
    }

    /// Run by hand: `cargo test --release -- --ignored --nocapture timing`.
    #[test]
    #[ignore = "timing check for the 100k x 3 x 11 target; run in release"]
    fn timing_100k_items_3_annotators_11_tables() {
        use std::time::Instant;
        let mut rng = ChaCha8Rng::seed_from_u64(2026);
        let labels: Vec<String> = (0..10).map(|i| format!("label{i}")).collect();
        let dimension = ["low", "medium", "high", "critical"];
        let (mut records, mut triples) = (Vec::new(), Vec::new());
        for item in 0..100_000 {
            let unit = format!("item{item:06}");
            let truth: Vec<bool> =
                (0..10).map(|i| rng.random_bool(0.05 + 0.04 * i as f64)).collect();
            let level = rng.random_range(0..4);
            for annotator in ["ann", "bob", "cat"] {
                if rng.random_bool(0.05) {
                    continue;
                }
                let picked = labels
                    .iter()
                    .zip(&truth)
                    .filter(|&(_, &t)| t != rng.random_bool(0.08))
                    .map(|(l, _)| l.clone())
                    .collect();
                records.push((unit.clone(), annotator.to_string(), picked));
                let rated = if rng.random_bool(0.85) { level } else { rng.random_range(0..4) };
                triples.push((unit.clone(), annotator, dimension[rated]));
            }
        }
        let start = Instant::now();
        let mut tables: Vec<Table> =
            labels.iter().map(|l| label_presence_table(&records, l)).collect();
        tables.push(Table::from_triples(triples));
        let build = start.elapsed();

        let time = |name: &str, f: &dyn Fn(&Table)| {
            let start = Instant::now();
            tables.iter().for_each(f);
            println!("  {name}: {:?}", start.elapsed());
        };
        time("percent_agreement", &|t| { std::hint::black_box(percent_agreement(t)); });
        time("cohen_kappa x3", &|t| { std::hint::black_box(pairwise_kappa(t)); });
        time("fleiss_kappa", &|t| { std::hint::black_box(fleiss_kappa(t)); });
        time("krippendorff_alpha", &|t| { std::hint::black_box(krippendorff_alpha_nominal(t)); });
        time("patterns", &|t| { std::hint::black_box(Patterns::of(t).total()); });
        let start = Instant::now();
        let plain: Vec<AgreementReport> = tables.iter().map(|t| report(t, false, 1)).collect();
        let stats = start.elapsed();

        let start = Instant::now();
        let full: Vec<AgreementReport> = tables.iter().map(|t| report(t, true, 1)).collect();
        let with_ci = start.elapsed();

        println!("build {build:?}, stats {stats:?}, stats+bootstrap {with_ci:?}");
        println!("{}", serde_json::to_string(&full[10]).unwrap());
        assert!(plain.iter().all(|r| r.krippendorff_alpha.is_some()));
        assert!(full.iter().all(|r| r.alpha_ci95.is_some()));
        if !cfg!(debug_assertions) {
            assert!(stats.as_millis() <= 300 && with_ci.as_secs_f64() <= 5.0);
        }
    }
}
