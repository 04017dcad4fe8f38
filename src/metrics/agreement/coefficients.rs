//! The coefficients: percent agreement, Cohen's and Fleiss' kappa, Krippendorff's alpha for
//! nominal data, each summed over units in one pass.

use super::*;

/// Mean, over units with at least two ratings, of the share of rater pairs that agree.
pub fn percent_agreement(table: &Table) -> Option<f64> {
    let mut sums = PercentSums::default();
    for_each_unit(table, |_, counts, rated| sums.add(counts, rated));
    sums.value()
}

#[derive(Default)]
pub(super) struct PercentSums {
    pub(super) shares: f64,
    pub(super) units: u64,
}

impl PercentSums {
    pub(super) fn add(&mut self, counts: &[(u32, u32)], rated: u32) {
        if rated < 2 {
            return;
        }
        let agreeing: u64 = counts.iter().map(|&(_, n)| pairs(n)).sum();
        self.shares += agreeing as f64 / pairs(rated) as f64;
        self.units += 1;
    }

    pub(super) fn value(&self) -> Option<f64> {
        (self.units > 0).then(|| self.shares / self.units as f64)
    }
}

/// Cohen's kappa between annotator columns `a` and `b`, over the units both rated.
pub fn cohen_kappa(table: &Table, a: usize, b: usize) -> Option<f64> {
    let mut sums = CohenSums::new(a, b, table.categories.len());
    table.units().for_each(|row| sums.add(row));
    sums.kappa()
}

pub(super) struct CohenSums {
    pub(super) a: usize,
    pub(super) b: usize,
    pub(super) units: u64,
    pub(super) agreeing: u64,
    pub(super) by_a: Vec<u64>,
    pub(super) by_b: Vec<u64>,
}

impl CohenSums {
    pub(super) fn new(a: usize, b: usize, slots: usize) -> CohenSums {
        CohenSums { a, b, units: 0, agreeing: 0, by_a: vec![0; slots], by_b: vec![0; slots] }
    }

    pub(super) fn add(&mut self, row: &[Option<u32>]) {
        let (Some(Some(x)), Some(Some(y))) = (row.get(self.a), row.get(self.b)) else { return };
        self.units += 1;
        self.agreeing += u64::from(x == y);
        bump(&mut self.by_a, *x, 1);
        bump(&mut self.by_b, *y, 1);
    }

    /// Observed agreement p_o and chance agreement p_e.
    pub(super) fn terms(&self) -> Option<(f64, f64)> {
        let chance: u128 =
            self.by_a.iter().zip(&self.by_b).map(|(&x, &y)| u128::from(x) * u128::from(y)).sum();
        let all = u128::from(self.units) * u128::from(self.units);
        // Integer check: p_e == 1 exactly when both used one and the same category throughout.
        if self.units == 0 || chance == all {
            return None;
        }
        Some((self.agreeing as f64 / self.units as f64, chance as f64 / all as f64))
    }

    pub(super) fn kappa(&self) -> Option<f64> {
        let (observed, chance) = self.terms()?;
        kappa(observed, chance)
    }
}

/// Fleiss' kappa over the units rated by every annotator in the table.
pub fn fleiss_kappa(table: &Table) -> Option<f64> {
    let mut sums = FleissSums::new(table);
    for_each_unit(table, |row, counts, _| sums.add(row, counts));
    sums.kappa()
}

pub(super) struct FleissSums {
    pub(super) raters: usize,
    pub(super) units: u64,
    pub(super) agreement: f64,
    pub(super) totals: Vec<u64>,
}

impl FleissSums {
    pub(super) fn new(table: &Table) -> FleissSums {
        let raters = table.annotators.len();
        FleissSums { raters, units: 0, agreement: 0.0, totals: vec![0; table.categories.len()] }
    }

    pub(super) fn add(&mut self, row: &[Option<u32>], counts: &[(u32, u32)]) {
        if self.raters < 2 || row.len() != self.raters || row.iter().any(Option::is_none) {
            return;
        }
        let agreeing: u64 = counts.iter().map(|&(_, n)| pairs(n)).sum();
        self.agreement += agreeing as f64 / pairs(self.raters as u32) as f64;
        for &(category, n) in counts {
            bump(&mut self.totals, category, u64::from(n));
        }
        self.units += 1;
    }

    /// Mean per-unit agreement P̄ and chance agreement P̄_e.
    pub(super) fn terms(&self) -> Option<(f64, f64)> {
        let ratings = u128::from(self.units) * self.raters as u128;
        let squares: u128 = self.totals.iter().map(|&t| u128::from(t) * u128::from(t)).sum();
        // Integer check: P̄_e == 1 exactly when every rating is the same category.
        if self.units == 0 || squares == ratings * ratings {
            return None;
        }
        let chance = squares as f64 / (ratings * ratings) as f64;
        Some((self.agreement / self.units as f64, chance))
    }

    pub(super) fn kappa(&self) -> Option<f64> {
        let (observed, chance) = self.terms()?;
        kappa(observed, chance)
    }
}

/// Krippendorff's alpha for nominal data; missing ratings allowed, units with < 2 ratings drop out.
pub fn krippendorff_alpha_nominal(table: &Table) -> Option<f64> {
    let mut sums = AlphaSums::new(table.categories.len());
    for_each_unit(table, |_, counts, _| sums.add(counts, 1));
    sums.alpha()
}

/// Sufficient statistics of nominal alpha (Krippendorff 2011, coincidence-matrix method).
///
/// With n_c = Σ_k o_ck the pairable values of category c and n = Σ_c n_c,
/// alpha = 1 − (n − 1) · Σ_{c≠k} o_ck / Σ_{c≠k} n_c·n_k, where Σ_{c≠k} o_ck = n − Σ_c o_cc and
/// Σ_{c≠k} n_c·n_k = n² − Σ_c n_c². So alpha needs only n, each n_c and Σ_c o_cc, and every one
/// of them is a sum of per-unit contributions.
pub(super) struct AlphaSums {
    pub(super) values: u64,
    pub(super) by_category: Vec<u64>,
    pub(super) matching: f64,
}

impl AlphaSums {
    pub(super) fn new(slots: usize) -> AlphaSums {
        AlphaSums { values: 0, by_category: vec![0; slots], matching: 0.0 }
    }

    pub(super) fn clear(&mut self) {
        self.values = 0;
        self.by_category.fill(0);
        self.matching = 0.0;
    }

    /// Adds `weight` copies of a unit whose ratings have these (category, count) pairs.
    pub(super) fn add(&mut self, counts: &[(u32, u32)], weight: u64) {
        let (rated, matching) = unit_terms(counts);
        self.add_terms(rated, matching, counts, weight);
    }

    /// As [`AlphaSums::add`], with the unit's [`unit_terms`] already worked out.
    pub(super) fn add_terms(
        &mut self,
        rated: u32,
        matching: f64,
        counts: &[(u32, u32)],
        weight: u64,
    ) {
        if rated < 2 || weight == 0 {
            return;
        }
        self.values += weight * u64::from(rated);
        for &(category, n) in counts {
            bump(&mut self.by_category, category, weight * u64::from(n));
        }
        self.matching += weight as f64 * matching;
    }

    pub(super) fn alpha(&self) -> Option<f64> {
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

/// A unit's pairable values m_u and its share of the coincidence diagonal,
/// Σ_c n_uc (n_uc − 1) / (m_u − 1); the share is 0 for a unit that is not pairable.
pub(super) fn unit_terms(counts: &[(u32, u32)]) -> (u32, f64) {
    let rated: u32 = counts.iter().map(|&(_, n)| n).sum();
    if rated < 2 {
        return (rated, 0.0);
    }
    let diagonal: u64 = counts.iter().map(|&(_, n)| u64::from(n) * u64::from(n - 1)).sum();
    (rated, diagonal as f64 / f64::from(rated - 1))
}
