//! Inter-annotator agreement on nominal ratings: percent agreement, Cohen, Fleiss, Krippendorff.

use std::collections::{BTreeMap, HashMap};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Binomial, Distribution};
use serde::{Deserialize, Serialize};

mod bootstrap;
mod coefficients;

pub use bootstrap::*;
pub use coefficients::*;

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
    /// Ratings, unit by unit: unit `u`'s rating by annotator `j` is
    /// `cells[u * annotators.len() + j]`; `None` = this annotator did not rate this unit. One
    /// flat list: a table of 100,000 units is one allocation, not 100,000.
    pub cells: Vec<Option<u32>>,
}

impl Table {
    /// A table from rows of ratings, one per unit; each row is cut or padded (with `None`)
    /// to the number of annotators.
    pub fn from_rows(
        annotators: Vec<String>,
        categories: Vec<String>,
        rows: impl IntoIterator<Item = Vec<Option<u32>>>,
    ) -> Table {
        let width = annotators.len();
        let mut cells = Vec::new();
        for mut row in rows {
            row.resize(width, None);
            cells.extend(row);
        }
        Table { annotators, categories, cells }
    }

    /// The units' rows of ratings, one per annotator each.
    pub fn units(&self) -> std::slice::ChunksExact<'_, Option<u32>> {
        // With no annotators there are no cells, and so no units.
        self.cells.chunks_exact(self.annotators.len().max(1))
    }

    /// The rows as vectors (for tests and display).
    pub fn rows(&self) -> Vec<Vec<Option<u32>>> {
        self.units().map(<[_]>::to_vec).collect()
    }

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
        let mut layout = Layout::default();
        let mut categories = Interner::default();
        let mut ratings = Vec::new();
        for (unit, annotator, category) in triples {
            layout.add(unit.as_ref(), annotator.as_ref());
            ratings.push(categories.id(category.as_ref()));
        }
        let (category_names, category_rank) = categories.into_sorted();
        let placed = layout.into_placed();
        let cells = placed.cells(ratings.iter().map(|&c| category_rank[c as usize]));
        Table { annotators: placed.annotators, categories: category_names, cells }
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

/// The (unit, annotator) of each rating in input order, interned.
#[derive(Default)]
struct Layout {
    units: Interner,
    annotators: Interner,
    cells: Vec<(u32, u32)>,
}

impl Layout {
    fn add(&mut self, unit: &str, annotator: &str) {
        self.cells.push((self.units.id(unit), self.annotators.id(annotator)));
    }

    fn into_placed(self) -> Placed {
        let (_, unit_rank) = self.units.into_sorted();
        let (annotators, annotator_rank) = self.annotators.into_sorted();
        let cells = self
            .cells
            .iter()
            .map(|&(u, a)| (unit_rank[u as usize], annotator_rank[a as usize]))
            .collect();
        Placed { annotators, unit_count: unit_rank.len(), cells }
    }
}

/// Where each rating goes once units and annotators are sorted by name.
struct Placed {
    annotators: Vec<String>,
    unit_count: usize,
    /// (row, column) of each rating, in input order.
    cells: Vec<(u32, u32)>,
}

impl Placed {
    /// Table cells holding `values` (one per rating, input order); a later rating of a cell
    /// wins.
    fn cells(&self, values: impl Iterator<Item = u32>) -> Vec<Option<u32>> {
        let width = self.annotators.len();
        let mut cells = vec![None; width * self.unit_count];
        for (&(unit, annotator), value) in self.cells.iter().zip(values) {
            cells[unit as usize * width + annotator as usize] = Some(value);
        }
        cells
    }
}

/// Per-label binary table: each annotation becomes [`PRESENT`] or [`ABSENT`] for `label`.
pub fn label_presence_table(records: &[SetRecord], label: &str) -> Table {
    label_presence_tables(records, &[label]).pop().unwrap_or_default()
}

/// [`label_presence_table`] for each of `labels`, in that order, naming units and annotators
/// once for all of them (the costly part with many records). Categories are always
/// `[ABSENT, PRESENT]`.
pub fn label_presence_tables<L: AsRef<str>>(records: &[SetRecord], labels: &[L]) -> Vec<Table> {
    let mut layout = Layout::default();
    for (unit, annotator, _) in records {
        layout.add(unit, annotator);
    }
    let placed = layout.into_placed();
    let categories = vec![ABSENT.to_owned(), PRESENT.to_owned()];
    labels
        .iter()
        .map(|label| {
            let present = records.iter().map(|(_, _, picked)| {
                u32::from(picked.iter().any(|l| l.as_str() == label.as_ref()))
            });
            let cells = placed.cells(present);
            Table { annotators: placed.annotators.clone(), categories: categories.clone(), cells }
        })
        .collect()
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

/// Calls `visit(row, counts, rated)` for every unit, reusing one buffer for the counts.
fn for_each_unit(table: &Table, mut visit: impl FnMut(&[Option<u32>], &[(u32, u32)], u32)) {
    let mut counts = Vec::new();
    for row in table.units() {
        let rated = count_values(row, &mut counts);
        visit(row, &counts, rated);
    }
}

/// Unordered pairs among `n` things.
fn pairs(n: u32) -> u64 {
    u64::from(n) * u64::from(n.saturating_sub(1)) / 2
}

fn kappa(observed: f64, chance: f64) -> Option<f64> {
    (chance < 1.0).then(|| (observed - chance) / (1.0 - chance))
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
    /// Units with two or more ratings: what percent agreement and alpha are computed over.
    pub pairable_items: usize,
    /// Units rated by every annotator: what Fleiss' kappa is computed over (it needs the same
    /// number of ratings per unit).
    pub fleiss_items: usize,
    pub percent_agreement: Option<f64>,
    /// Cohen's kappa for every pair of annotators, keyed "a|b" with the names sorted.
    pub cohen_kappa: BTreeMap<String, Option<f64>>,
    pub fleiss_kappa: Option<f64>,
    pub krippendorff_alpha: Option<f64>,
    pub alpha_ci95: Option<[f64; 2]>,
}

/// All statistics for `table` in one pass over its units; the bootstrap interval (the slow part)
/// only when `with_ci`.
pub fn report(table: &Table, with_ci: bool, seed: u64) -> AgreementReport {
    let slots = table.categories.len();
    let mut items = 0;
    let mut percent = PercentSums::default();
    let mut fleiss = FleissSums::new(table);
    let mut alpha = AlphaSums::new(slots);
    let pairs = annotator_pairs(&table.annotators);
    let mut cohen: Vec<CohenSums> =
        pairs.iter().map(|&(a, b)| CohenSums::new(a, b, slots)).collect();
    for_each_unit(table, |row, counts, rated| {
        items += usize::from(rated > 0);
        percent.add(counts, rated);
        fleiss.add(row, counts);
        alpha.add(counts, 1);
        cohen.iter_mut().for_each(|sums| sums.add(row));
    });
    let krippendorff_alpha = alpha.alpha();
    let alpha_ci95 = match krippendorff_alpha {
        Some(_) if with_ci => alpha_bootstrap_ci95(table, BOOTSTRAP_DRAWS, seed),
        _ => None,
    };
    AgreementReport {
        items,
        pairable_items: percent.units as usize,
        fleiss_items: fleiss.units as usize,
        percent_agreement: percent.value(),
        cohen_kappa: pair_keys(&table.annotators, &pairs)
            .zip(cohen.iter().map(CohenSums::kappa))
            .collect(),
        fleiss_kappa: fleiss.kappa(),
        krippendorff_alpha,
        alpha_ci95,
    }
}

/// Every pair of annotator columns (a < b).
fn annotator_pairs(annotators: &[String]) -> Vec<(usize, usize)> {
    let n = annotators.len();
    (0..n).flat_map(|a| (a + 1..n).map(move |b| (a, b))).collect()
}

/// "a|b" with the two names in sorted order, whatever the column order.
fn pair_keys<'a>(
    annotators: &'a [String],
    pairs: &'a [(usize, usize)],
) -> impl Iterator<Item = String> + 'a {
    pairs.iter().map(|&(a, b)| {
        let (first, second) = (&annotators[a], &annotators[b]);
        if first <= second { format!("{first}|{second}") } else { format!("{second}|{first}") }
    })
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
        Table::from_rows(names("r", 2), names("c", cells.len()), units)
    }

    /// Every unit rated by every rater; `rows[i][j]` raters put unit i in category j.
    fn from_counts(rows: &[[usize; 5]], raters: usize) -> Table {
        let units: Vec<Vec<Option<u32>>> = rows
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
        Table::from_rows(names("r", raters), names("c", 5), units)
    }

    /// One column per annotator, as in Krippendorff's papers; 0 = missing.
    fn from_columns(columns: &[&[u32]]) -> Table {
        let unit_count = columns[0].len();
        let units = (0..unit_count)
            .map(|u| columns.iter().map(|col| (col[u] > 0).then(|| col[u] - 1)).collect());
        Table::from_rows(names("o", columns.len()), names("v", 5), units)
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
        let mut sums = CohenSums::new(0, 1, 2);
        table.units().for_each(|row| sums.add(row));
        let (observed, chance) = sums.terms().unwrap();
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
        let mut sums = FleissSums::new(&table);
        for_each_unit(&table, |row, counts, _| sums.add(row, counts));
        let (p_bar, p_e) = sums.terms().unwrap();
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
        trimmed.cells.truncate(trimmed.cells.len() - trimmed.annotators.len());
        assert_eq!(krippendorff_alpha_nominal(&trimmed), krippendorff_alpha_nominal(&table));
    }

    #[test]
    fn fleiss_skips_units_missing_a_rater() {
        let mut table = contingency(&[&[3, 1], &[1, 3]]);
        let before = fleiss_kappa(&table);
        table.cells.extend([Some(0), None]);
        assert_eq!(fleiss_kappa(&table), before);
        assert!(before.is_some());
    }

    #[test]
    fn percent_agreement_by_hand() {
        // Unit 1: all three agree (3/3 pairs); unit 2: two of three (1/3 pairs);
        // unit 3: two raters disagree (0/1); unit 4: one rating, skipped.
        let table = Table::from_rows(
            names("r", 3),
            names("c", 2),
            vec![
                vec![Some(0), Some(0), Some(0)],
                vec![Some(0), Some(1), Some(0)],
                vec![Some(0), None, Some(1)],
                vec![None, Some(1), None],
            ],
        );
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
        let table = Table::from_rows(
            names("r", 2),
            names("c", 2),
            vec![vec![Some(0), None], vec![None, Some(1)]],
        );
        assert_eq!(percent_agreement(&table), None);
        assert_eq!(cohen_kappa(&table, 0, 1), None);
        assert_eq!(fleiss_kappa(&table), None);
        assert_eq!(krippendorff_alpha_nominal(&table), None);
        assert_eq!(report(&table, false, 0).items, 2);
    }

    #[test]
    fn values_beyond_the_category_list_do_not_panic() {
        // A hand-built table that forgot its category names: values still count.
        let table = Table::from_rows(
            names("r", 2),
            Vec::new(),
            vec![vec![Some(0), Some(0)], vec![Some(3), Some(3)], vec![Some(3), Some(0)]],
        );
        let named = Table { categories: names("c", 4), ..table.clone() };
        assert_eq!(report(&table, true, 1), report(&named, true, 1));
        assert!(cohen_kappa(&table, 0, 1).is_some());
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
        assert_eq!(table.rows(), vec![vec![Some(0), Some(0)], vec![Some(0), Some(0)]]);
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
        assert_eq!(presence.rows(), vec![vec![Some(1), Some(1)], vec![Some(0), Some(0)]]);

        let sets = set_table(&records, None);
        assert_eq!(sets.categories, [EMPTY_SET, "bug+ui", "docs"]);
        assert_eq!(sets.rows(), vec![vec![Some(1), Some(1)], vec![Some(0), Some(2)]]);

        let nobody = label_presence_table(&records, "wontfix");
        assert_eq!(nobody.categories, [ABSENT, PRESENT]);
        assert_eq!(nobody.rows(), vec![vec![Some(0), Some(0)], vec![Some(0), Some(0)]]);
        let both = label_presence_tables(&records, &["bug", "wontfix"]);
        assert_eq!(both, vec![presence, nobody]);

        let only_ui = set_table(&records, Some(&["ui".to_string()]));
        assert_eq!(only_ui.categories, [EMPTY_SET, "ui"]);
        assert_eq!(only_ui.rows(), vec![vec![Some(1), Some(1)], vec![Some(0), Some(0)]]);
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
        let rows = table.rows().into_iter().rev();
        let reversed = Table::from_rows(table.annotators.clone(), table.categories.clone(), rows);
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
        let table = Table::from_rows(names("r", 3), names("c", 40), units);
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
            r#"{"items":3,"pairable_items":2,"fleiss_items":2,"percent_agreement":1.0,"cohen_kappa":{"amy|bob":1.0},"fleiss_kappa":1.0,"krippendorff_alpha":1.0,"alpha_ci95":null}"#
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
    fn pair_keys_are_sorted_even_if_columns_are_not() {
        let table = Table::from_rows(
            vec!["zed".into(), "amy".into(), "kim".into()],
            names("c", 2),
            vec![vec![Some(0), Some(0), Some(1)], vec![Some(1), Some(1), Some(1)]],
        );
        let keys: Vec<String> = report(&table, false, 0).cohen_kappa.into_keys().collect();
        assert_eq!(keys, ["amy|kim", "amy|zed", "kim|zed"]);
    }

    #[test]
    fn undefined_values_serialise_as_null() {
        let table = Table::from_triples([("u1", "amy", "x"), ("u1", "bob", "x")]);
        let json = serde_json::to_string(&report(&table, true, 0)).unwrap();
        assert_eq!(
            json,
            r#"{"items":1,"pairable_items":1,"fleiss_items":1,"percent_agreement":1.0,"cohen_kappa":{"amy|bob":null},"fleiss_kappa":null,"krippendorff_alpha":null,"alpha_ci95":null}"#
        );
    }
}
