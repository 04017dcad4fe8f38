//! The weekly accuracy sample: ISO weeks, a seeded stratified draw, Wilson intervals and drift.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use jiff::Timestamp;
use jiff::civil::{Date, ISOWeekDate, Weekday};
use jiff::tz::TimeZone;
use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Two-sided 95% normal quantile.
pub const Z95: f64 = 1.959964;

/// Proportion that stands in for an empty bin in [`psi`] and [`chi_square`].
pub const EMPTY_BIN_PROPORTION: f64 = 0.0001;

/// Why a week could not be made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WeekError {
    /// The text is not of the form `YYYY-Www`.
    Format(String),
    /// The year has no such week (weeks run 01..52, or 01..53 in long years).
    NoSuchWeek { year: i16, week: i8, weeks_in_year: i8 },
    /// The week lies outside the dates this program can represent.
    OutOfRange,
}

impl fmt::Display for WeekError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WeekError::Format(text) => {
                write!(f, "invalid ISO week {text:?}: expected YYYY-Www, e.g. 2026-W47")
            }
            WeekError::NoSuchWeek { year, week, weeks_in_year } => write!(
                f,
                "week {week:02} does not exist in {year:04}, which has {weeks_in_year} ISO weeks"
            ),
            WeekError::OutOfRange => f.write_str("ISO week outside the supported date range"),
        }
    }
}

impl std::error::Error for WeekError {}

/// An ISO 8601 week, written `2026-W47`; weeks start on Monday 00:00 UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct IsoWeek {
    /// The week's Monday; ordering by it is chronological.
    monday: Date,
}

impl IsoWeek {
    pub fn new(year: i16, week: i8) -> Result<IsoWeek, WeekError> {
        let first =
            ISOWeekDate::new(year, 1, Weekday::Monday).map_err(|_| WeekError::OutOfRange)?;
        let weeks_in_year = first.weeks_in_year();
        if !(1..=weeks_in_year).contains(&week) {
            return Err(WeekError::NoSuchWeek { year, week, weeks_in_year });
        }
        let monday =
            ISOWeekDate::new(year, week, Weekday::Monday).map_err(|_| WeekError::OutOfRange)?;
        Ok(IsoWeek { monday: monday.date() })
    }

    /// Parses exactly `YYYY-Www` (four-digit year, capital W, two-digit week).
    pub fn parse(text: &str) -> Result<IsoWeek, WeekError> {
        let bad = || WeekError::Format(text.to_owned());
        let (year, week) = text.split_once("-W").ok_or_else(bad)?;
        let digits = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit());
        if !digits(year, 4) || !digits(week, 2) {
            return Err(bad());
        }
        let year: i16 = year.parse().map_err(|_| bad())?;
        let week: i8 = week.parse().map_err(|_| bad())?;
        IsoWeek::new(year, week)
    }

    /// The week that contains `at` (in UTC).
    pub fn containing(at: Timestamp) -> IsoWeek {
        let day = at.to_zoned(TimeZone::UTC).date().iso_week_date();
        // first_of_week fails only in the first days of year -9999, whose Monday jiff cannot
        // represent; the day itself is the closest stand-in there.
        IsoWeek { monday: day.first_of_week().map_or(day.date(), ISOWeekDate::date) }
    }

    pub fn year(self) -> i16 {
        self.monday.iso_week_date().year()
    }

    pub fn week(self) -> i8 {
        self.monday.iso_week_date().week()
    }

    /// Monday 00:00 UTC.
    pub fn start(self) -> Result<Timestamp, WeekError> {
        midnight_utc(self.monday)
    }

    /// The next Monday 00:00 UTC: the week is the half-open range [start, end).
    pub fn end(self) -> Result<Timestamp, WeekError> {
        self.next()?.start()
    }

    /// [start, end) as UTC timestamps.
    pub fn bounds(self) -> Result<(Timestamp, Timestamp), WeekError> {
        Ok((self.start()?, self.end()?))
    }

    pub fn next(self) -> Result<IsoWeek, WeekError> {
        self.shifted(7)
    }

    pub fn previous(self) -> Result<IsoWeek, WeekError> {
        self.shifted(-7)
    }

    /// The `n` weeks before this one, oldest first (this week not included).
    pub fn weeks_before(self, n: usize) -> Result<Vec<IsoWeek>, WeekError> {
        let mut weeks = Vec::with_capacity(n);
        let mut week = self;
        for _ in 0..n {
            week = week.previous()?;
            weeks.push(week);
        }
        weeks.reverse();
        Ok(weeks)
    }

    fn shifted(self, days: i64) -> Result<IsoWeek, WeekError> {
        let span = jiff::Span::new().try_days(days).map_err(|_| WeekError::OutOfRange)?;
        let monday = self.monday.checked_add(span).map_err(|_| WeekError::OutOfRange)?;
        Ok(IsoWeek { monday })
    }
}

fn midnight_utc(date: Date) -> Result<Timestamp, WeekError> {
    date.to_zoned(TimeZone::UTC).map(|z| z.timestamp()).map_err(|_| WeekError::OutOfRange)
}

/// The most recent week that has fully ended at `now`.
pub fn last_complete_week(now: Timestamp) -> Result<IsoWeek, WeekError> {
    IsoWeek::containing(now).previous()
}

impl fmt::Display for IsoWeek {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-W{:02}", self.year(), self.week())
    }
}

impl FromStr for IsoWeek {
    type Err = WeekError;

    fn from_str(text: &str) -> Result<IsoWeek, WeekError> {
        IsoWeek::parse(text)
    }
}

impl TryFrom<String> for IsoWeek {
    type Error = WeekError;

    fn try_from(text: String) -> Result<IsoWeek, WeekError> {
        IsoWeek::parse(&text)
    }
}

impl From<IsoWeek> for String {
    fn from(week: IsoWeek) -> String {
        week.to_string()
    }
}

/// A seeded random number generator that gives the same stream on every machine:
/// the seed is the first 8 bytes of SHA-256(seed_text), read little-endian.
fn seeded_rng(seed_text: &str) -> ChaCha8Rng {
    let digest = Sha256::digest(seed_text.as_bytes());
    let mut seed = [0u8; 8];
    seed.copy_from_slice(&digest[..8]);
    ChaCha8Rng::seed_from_u64(u64::from_le_bytes(seed))
}

/// Uniform integer in 0..n (n > 0) by Lemire's multiply-and-reject method.
///
/// Written out rather than taken from `rand` so the draw depends only on the ChaCha8 stream,
/// not on how a `rand` release maps random bits to ranges.
fn below(rng: &mut ChaCha8Rng, n: u64) -> u64 {
    if n == 0 {
        return 0;
    }
    // Rejecting low products under 2^64 mod n leaves every result equally likely.
    let threshold = n.wrapping_neg() % n;
    loop {
        let product = u128::from(rng.next_u64()) * u128::from(n);
        if product as u64 >= threshold {
            return (product >> 64) as u64;
        }
    }
}

/// Draws `size` keys for the weekly accuracy sample, the same on any machine for the same input.
///
/// The population is sorted by key first (a repeated key counts once), so its order does not
/// matter. Strata are the labels (`None` is a stratum of its own) and get proportional
/// allocation by largest remainder, then at least one item each where `size` allows; when there
/// are more strata than `size`, the strata that get an item are drawn with weights equal to
/// their sizes. Within a stratum items are drawn uniformly without replacement. A population no
/// larger than `size` is returned whole. The result is sorted.
pub fn draw_sample(
    population: &[(String, Option<String>)],
    size: usize,
    seed_text: &str,
) -> Vec<String> {
    let mut members: Vec<(&str, Option<&str>)> =
        population.iter().map(|(key, label)| (key.as_str(), label.as_deref())).collect();
    members.sort_unstable();
    members.dedup_by(|a, b| a.0 == b.0);
    if members.len() <= size {
        return members.into_iter().map(|(key, _)| key.to_owned()).collect();
    }
    let mut strata: BTreeMap<Option<&str>, Vec<&str>> = BTreeMap::new();
    for (key, label) in members {
        strata.entry(label).or_default().push(key);
    }
    let mut rng = seeded_rng(seed_text);
    let sizes: Vec<usize> = strata.values().map(Vec::len).collect();
    let quotas = allocate(&sizes, size, &mut rng);
    let mut chosen: Vec<String> = Vec::with_capacity(size);
    for (keys, quota) in strata.values().zip(quotas) {
        chosen.extend(pick(&mut rng, keys, quota).into_iter().map(str::to_owned));
    }
    chosen.sort_unstable();
    chosen
}

/// How many items each stratum gets; the quotas sum to `size` (< the population).
fn allocate(sizes: &[usize], size: usize, rng: &mut ChaCha8Rng) -> Vec<usize> {
    if size < sizes.len() {
        let mut quotas = vec![0; sizes.len()];
        for stratum in weighted_distinct(rng, sizes, size) {
            quotas[stratum] = 1;
        }
        return quotas;
    }
    let mut quotas = largest_remainder(sizes, size);
    ensure_one_each(sizes, size, &mut quotas);
    quotas
}

/// Hamilton's method: floor of each exact share, leftovers to the largest remainders
/// (ties to the larger stratum, then the earlier one). Integer arithmetic keeps it exact.
fn largest_remainder(sizes: &[usize], size: usize) -> Vec<usize> {
    let total = sizes.iter().sum::<usize>() as u128;
    let share = |s: usize| (size as u128 * s as u128) / total;
    let remainder = |s: usize| (size as u128 * s as u128) % total;
    let mut quotas: Vec<usize> = sizes.iter().map(|&s| share(s) as usize).collect();
    let leftover = size - quotas.iter().sum::<usize>();
    let mut order: Vec<usize> = (0..sizes.len()).collect();
    order.sort_by(|&a, &b| {
        remainder(sizes[b]).cmp(&remainder(sizes[a])).then(sizes[b].cmp(&sizes[a])).then(a.cmp(&b))
    });
    for &stratum in order.iter().take(leftover) {
        quotas[stratum] += 1;
    }
    quotas
}

/// Gives every empty stratum one item, taken each time from the stratum most above its exact
/// proportional share. Needs `size >= sizes.len()`, which guarantees such a donor has two or more.
fn ensure_one_each(sizes: &[usize], size: usize, quotas: &mut [usize]) {
    let total = sizes.iter().sum::<usize>() as i128;
    // Surplus over the exact share, scaled by the population total to stay in integers.
    let surplus = |q: usize, s: usize| q as i128 * total - size as i128 * s as i128;
    while let Some(empty) = quotas.iter().position(|&q| q == 0) {
        let donor = (0..quotas.len()).filter(|&i| quotas[i] > 1).max_by(|&a, &b| {
            surplus(quotas[a], sizes[a])
                .cmp(&surplus(quotas[b], sizes[b]))
                .then(quotas[a].cmp(&quotas[b]))
                .then(b.cmp(&a))
        });
        let Some(donor) = donor else { return };
        quotas[donor] -= 1;
        quotas[empty] = 1;
    }
}

/// `count` distinct indices, each draw proportional to the remaining weights.
fn weighted_distinct(rng: &mut ChaCha8Rng, weights: &[usize], count: usize) -> Vec<usize> {
    let mut remaining: Vec<(usize, u64)> =
        weights.iter().enumerate().map(|(i, &w)| (i, w as u64)).collect();
    let mut chosen = Vec::with_capacity(count);
    for _ in 0..count {
        let total: u64 = remaining.iter().map(|&(_, w)| w).sum();
        if total == 0 {
            break;
        }
        let mut target = below(rng, total);
        let Some(position) = remaining.iter().position(|&(_, w)| {
            let inside = target < w;
            target = target.saturating_sub(w);
            inside
        }) else {
            break;
        };
        chosen.push(remaining.remove(position).0);
    }
    chosen
}

/// `count` keys drawn uniformly without replacement (a partial Fisher–Yates shuffle).
fn pick<'a>(rng: &mut ChaCha8Rng, keys: &[&'a str], count: usize) -> Vec<&'a str> {
    let mut keys = keys.to_vec();
    let count = count.min(keys.len());
    for i in 0..count {
        let j = i + below(rng, (keys.len() - i) as u64) as usize;
        keys.swap(i, j);
    }
    keys.truncate(count);
    keys
}

/// Wilson score interval at 95% for `successes` out of `n`; `None` if n is 0 or too small.
pub fn wilson(successes: u64, n: u64) -> Option<(f64, f64)> {
    if n == 0 || successes > n {
        return None;
    }
    let (k, total) = (successes as f64, n as f64);
    let p = k / total;
    let z2 = Z95 * Z95;
    let scale = 1.0 + z2 / total;
    let centre = (p + z2 / (2.0 * total)) / scale;
    let half = Z95 / scale * (p * (1.0 - p) / total + z2 / (4.0 * total * total)).sqrt();
    // At p = 0 the lower bound is exactly 0 and at p = 1 the upper is exactly 1; rounding
    // would leave them a hair off, so set them outright.
    let low = if successes == 0 { 0.0 } else { (centre - half).max(0.0) };
    let high = if successes == n { 1.0 } else { (centre + half).min(1.0) };
    Some((low, high))
}

/// Proportions of `counts`, with empty bins raised to [`EMPTY_BIN_PROPORTION`]; the others are
/// left as they are, so the result can sum to slightly more than 1.
fn floored_proportions(counts: &[u64]) -> Option<Vec<f64>> {
    let total: u64 = counts.iter().sum();
    (total > 0).then(|| {
        counts
            .iter()
            .map(|&c| if c == 0 { EMPTY_BIN_PROPORTION } else { c as f64 / total as f64 })
            .collect()
    })
}

/// Population stability index Σ (q − p) · ln(q / p) of `current` (q) against `baseline` (p).
///
/// An empty bin would make ln(q/p) infinite, so it counts as proportion 0.0001 instead: a label
/// that vanishes or appears then adds a large but finite term. `None` when the two have
/// different lengths or either has no counts.
pub fn psi(baseline: &[u64], current: &[u64]) -> Option<f64> {
    if baseline.len() != current.len() {
        return None;
    }
    let p = floored_proportions(baseline)?;
    let q = floored_proportions(current)?;
    Some(p.iter().zip(&q).map(|(&p, &q)| (q - p) * (q / p).ln()).sum())
}

/// Result of a chi-square test.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ChiSquare {
    pub statistic: f64,
    pub df: u32,
    pub p_value: f64,
}

/// Goodness of fit of this week's `current` counts to the `baseline` proportions:
/// expected_i = baseline_share_i · n_current, statistic Σ (observed − expected)² / expected,
/// df = categories − 1.
///
/// Categories empty in both are left out (they carry no information and must not add a degree
/// of freedom). A category empty in the baseline only gets the [`EMPTY_BIN_PROPORTION`] floor,
/// so a brand-new label gives a large finite statistic instead of infinity. `None` when the
/// lengths differ, either side is empty, or fewer than two categories remain.
pub fn chi_square(baseline: &[u64], current: &[u64]) -> Option<ChiSquare> {
    if baseline.len() != current.len() {
        return None;
    }
    let pairs: Vec<(u64, u64)> =
        baseline.iter().copied().zip(current.iter().copied()).filter(|&(b, c)| b + c > 0).collect();
    let (base, observed): (Vec<u64>, Vec<u64>) = pairs.into_iter().unzip();
    let shares = floored_proportions(&base)?;
    let n: u64 = observed.iter().sum();
    if n == 0 || observed.len() < 2 {
        return None;
    }
    let statistic = shares
        .iter()
        .zip(&observed)
        .map(|(&share, &o)| {
            let expected = share * n as f64;
            (o as f64 - expected).powi(2) / expected
        })
        .sum();
    let df = (observed.len() - 1) as u32;
    let p_value = chi_square_p_value(statistic, df)?;
    Some(ChiSquare { statistic, df, p_value })
}

/// Upper-tail probability of the chi-square distribution: Q(df/2, statistic/2).
pub fn chi_square_p_value(statistic: f64, df: u32) -> Option<f64> {
    regularized_gamma_q(f64::from(df) / 2.0, statistic / 2.0)
}

/// Regularized upper incomplete gamma function Q(a, x) = Γ(a, x) / Γ(a), for a > 0, x ≥ 0.
///
/// Numerical Recipes' split: the series for P converges fast when x < a + 1, the continued
/// fraction for Q when x ≥ a + 1.
pub fn regularized_gamma_q(a: f64, x: f64) -> Option<f64> {
    if !(a > 0.0 && x >= 0.0 && a.is_finite() && x.is_finite()) {
        return None;
    }
    let q = if x < a + 1.0 { 1.0 - gamma_p_series(a, x) } else { gamma_q_fraction(a, x) };
    Some(q.clamp(0.0, 1.0))
}

const GAMMA_ITERATIONS: usize = 10_000;
const GAMMA_EPSILON: f64 = 1e-15;

/// P(a, x) by its series: e^−x x^a / Γ(a) · Σ x^n / (a (a+1) ... (a+n)).
fn gamma_p_series(a: f64, x: f64) -> f64 {
    if x == 0.0 {
        return 0.0;
    }
    let (mut denominator, mut term) = (a, 1.0 / a);
    let mut sum = term;
    for _ in 0..GAMMA_ITERATIONS {
        denominator += 1.0;
        term *= x / denominator;
        sum += term;
        if term.abs() < sum.abs() * GAMMA_EPSILON {
            break;
        }
    }
    sum * (a * x.ln() - x - ln_gamma(a)).exp()
}

/// Q(a, x) by its continued fraction, evaluated with the modified Lentz method.
fn gamma_q_fraction(a: f64, x: f64) -> f64 {
    // Stands in for zero so that no step divides by it.
    const TINY: f64 = 1e-300;
    let mut b = x + 1.0 - a;
    let mut c = 1.0 / TINY;
    let mut d = 1.0 / b;
    let mut h = d;
    for i in 1..=GAMMA_ITERATIONS {
        let an = -(i as f64) * (i as f64 - a);
        b += 2.0;
        d = an * d + b;
        if d.abs() < TINY {
            d = TINY;
        }
        c = b + an / c;
        if c.abs() < TINY {
            c = TINY;
        }
        d = 1.0 / d;
        let step = d * c;
        h *= step;
        if (step - 1.0).abs() < GAMMA_EPSILON {
            break;
        }
    }
    (a * x.ln() - x - ln_gamma(a)).exp() * h
}

/// ln Γ(x) for x > 0 (Lanczos approximation, g = 7, 9 terms; about 15 significant digits).
fn ln_gamma(x: f64) -> f64 {
    const G: f64 = 7.0;
    const COEFFICIENTS: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        // Reflection: Γ(x) Γ(1 − x) = π / sin(πx).
        let pi = std::f64::consts::PI;
        return (pi / (pi * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let mut sum = COEFFICIENTS[0];
    for (i, &c) in COEFFICIENTS.iter().enumerate().skip(1) {
        sum += c / (x + i as f64);
    }
    let t = x + G + 0.5;
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + sum.ln()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn week(text: &str) -> IsoWeek {
        IsoWeek::parse(text).unwrap()
    }

    fn ts(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    fn round3(x: f64) -> f64 {
        (x * 1000.0).round() / 1000.0
    }

    #[test]
    fn parse_and_format_weeks() {
        let w = week("2026-W47");
        assert_eq!((w.year(), w.week()), (2026, 47));
        assert_eq!(w.to_string(), "2026-W47");
        assert_eq!("2026-W01".parse::<IsoWeek>().unwrap().to_string(), "2026-W01");
        // 2026 has 53 ISO weeks (it starts on a Thursday); 2025 has 52.
        assert_eq!(week("2026-W53").week(), 53);
        assert_eq!(
            IsoWeek::parse("2025-W53"),
            Err(WeekError::NoSuchWeek { year: 2025, week: 53, weeks_in_year: 52 })
        );
        for bad in
            ["2026-47", "2026-w47", "26-W47", "2026-W7", "2026-W470", "+026-W47", "", "2026-W00"]
        {
            assert!(IsoWeek::parse(bad).is_err(), "{bad}");
        }
        let message = IsoWeek::parse("2026-47").unwrap_err().to_string();
        assert!(message.contains("YYYY-Www"), "{message}");
        let message = IsoWeek::parse("2025-W53").unwrap_err().to_string();
        assert_eq!(message, "week 53 does not exist in 2025, which has 52 ISO weeks");
    }

    #[test]
    fn week_bounds_are_monday_midnight_utc() {
        let (start, end) = week("2026-W47").bounds().unwrap();
        assert_eq!(start, ts("2026-11-16T00:00:00Z"));
        assert_eq!(end, ts("2026-11-23T00:00:00Z"));
        // Week 1 of 2026 starts in 2025 (the week with the year's first Thursday).
        assert_eq!(week("2026-W01").start().unwrap(), ts("2025-12-29T00:00:00Z"));
    }

    #[test]
    fn containing_and_last_complete_week() {
        assert_eq!(IsoWeek::containing(ts("2026-11-22T23:59:59Z")), week("2026-W47"));
        assert_eq!(IsoWeek::containing(ts("2026-11-23T00:00:00Z")), week("2026-W48"));
        // Saturday 2026-01-03 belongs to 2026-W01, not to a week of 2025.
        assert_eq!(IsoWeek::containing(ts("2026-01-03T12:00:00Z")), week("2026-W01"));
        assert_eq!(last_complete_week(ts("2026-11-25T10:00:00Z")).unwrap(), week("2026-W47"));
        // At Monday 00:00 exactly, the week that just ended is complete.
        assert_eq!(last_complete_week(ts("2026-11-23T00:00:00Z")).unwrap(), week("2026-W47"));
    }

    #[test]
    fn previous_weeks_cross_year_boundaries() {
        let weeks = week("2026-W02").weeks_before(3).unwrap();
        let names: Vec<String> = weeks.iter().map(ToString::to_string).collect();
        assert_eq!(names, ["2025-W51", "2025-W52", "2026-W01"]);
        assert_eq!(week("2026-W53").next().unwrap(), week("2027-W01"));
        assert_eq!(week("2027-W01").previous().unwrap(), week("2026-W53"));
        assert!(week("2026-W02").weeks_before(0).unwrap().is_empty());
    }

    #[test]
    fn week_serialises_as_text() {
        let w = week("2026-W47");
        assert_eq!(serde_json::to_string(&w).unwrap(), "\"2026-W47\"");
        assert_eq!(serde_json::from_str::<IsoWeek>("\"2026-W47\"").unwrap(), w);
        assert!(serde_json::from_str::<IsoWeek>("\"2026-W99\"").is_err());
    }

    fn population(n: usize) -> Vec<(String, Option<String>)> {
        // Strata of very different sizes: 70% bug, 20% feature, 9% docs, ~1% unlabelled.
        (0..n)
            .map(|i| {
                let label = match i % 100 {
                    0..70 => Some("bug"),
                    70..90 => Some("feature"),
                    90..99 => Some("docs"),
                    _ => None,
                };
                (format!("issue-{i:05}"), label.map(String::from))
            })
            .collect()
    }

    fn count_label(
        population: &[(String, Option<String>)],
        sample: &[String],
        label: Option<&str>,
    ) -> usize {
        sample
            .iter()
            .filter(|k| population.iter().any(|(key, l)| key == *k && l.as_deref() == label))
            .count()
    }

    #[test]
    fn sample_is_deterministic_and_order_free() {
        let pop = population(2000);
        let first = draw_sample(&pop, 50, "2026-W47");
        assert_eq!(first.len(), 50);
        let mut shuffled = pop.clone();
        shuffled.reverse();
        shuffled.rotate_left(777);
        assert_eq!(draw_sample(&shuffled, 50, "2026-W47"), first);
        let mut sorted = first.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted, first, "sorted and distinct");
        assert!(first.iter().all(|k| pop.iter().any(|(key, _)| key == k)));
    }

    #[test]
    fn another_week_draws_another_sample() {
        let pop = population(2000);
        let this_week = draw_sample(&pop, 50, "2026-W47");
        let next_week = draw_sample(&pop, 50, "2026-W48");
        let shared = this_week.iter().filter(|k| next_week.contains(k)).count();
        // Two independent draws of 50 from 2000 share about 1.25 keys.
        assert!(shared < 10, "{shared} keys shared");
    }

    #[test]
    fn sample_is_proportional_with_one_per_stratum() {
        let pop = population(2000);
        let sample = draw_sample(&pop, 50, "2026-W47");
        // Exact shares: bug 35, feature 10, docs 4.5, unlabelled 0.5 → 35, 10, 4 or 5, ≥1.
        assert_eq!(count_label(&pop, &sample, Some("bug")), 35);
        assert_eq!(count_label(&pop, &sample, Some("feature")), 10);
        let docs = count_label(&pop, &sample, Some("docs"));
        let unlabelled = count_label(&pop, &sample, None);
        assert_eq!((docs, unlabelled), (4, 1));
    }

    #[test]
    fn allocation_guarantees() {
        // Exact shares 9.8, 0.1, 0.1: largest remainder gives 10, 0, 0; then one each.
        assert_eq!(largest_remainder(&[98, 1, 1], 10), vec![10, 0, 0]);
        let mut rng = seeded_rng("x");
        assert_eq!(allocate(&[98, 1, 1], 10, &mut rng), vec![8, 1, 1]);
        assert_eq!(allocate(&[50, 30, 20], 10, &mut rng), vec![5, 3, 2]);
        // Remainders .5 each: the larger stratum wins the spare item.
        assert_eq!(largest_remainder(&[3, 1], 2), vec![2, 0]);
        assert_eq!(allocate(&[3, 1], 2, &mut rng), vec![1, 1]);
    }

    #[test]
    fn more_strata_than_slots() {
        let mut pop: Vec<(String, Option<String>)> =
            (0..100).map(|i| (format!("big{i:03}"), Some("big".to_string()))).collect();
        for label in ["a", "b", "c", "d"] {
            pop.push((format!("small-{label}"), Some(label.to_string())));
        }
        let sample = draw_sample(&pop, 3, "seed");
        assert_eq!(sample.len(), 3);
        for label in ["big", "a", "b", "c", "d"] {
            assert!(count_label(&pop, &sample, Some(label)) <= 1, "{label}");
        }
        assert_eq!(draw_sample(&pop, 3, "seed"), sample);
        // Weighted by size: the 100-item stratum is picked almost every time.
        let big = (0..50)
            .filter(|w| {
                let s = draw_sample(&pop, 3, &format!("2026-W{w:02}"));
                count_label(&pop, &s, Some("big")) == 1
            })
            .count();
        assert!(big >= 45, "big stratum chosen {big} of 50 times");
    }

    #[test]
    fn small_populations_return_everything() {
        let pop = vec![
            ("b".to_string(), None),
            ("a".to_string(), Some("x".to_string())),
            ("a".to_string(), Some("x".to_string())),
        ];
        assert_eq!(draw_sample(&pop, 5, "w"), ["a", "b"]);
        assert_eq!(draw_sample(&pop, 2, "w"), ["a", "b"]);
        assert_eq!(draw_sample(&pop, 1, "w").len(), 1);
        assert!(draw_sample(&pop, 0, "w").is_empty());
        assert!(draw_sample(&[], 3, "w").is_empty());
    }

    #[test]
    fn seed_is_first_eight_digest_bytes_little_endian() {
        // FIPS 180-2 test vector: SHA-256("abc") = ba7816bf 8f01cfea 414140de ...
        let expected = u64::from_le_bytes([0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea]);
        let mut ours = seeded_rng("abc");
        let mut reference = ChaCha8Rng::seed_from_u64(expected);
        assert_eq!(
            [ours.next_u64(), ours.next_u64()],
            [reference.next_u64(), reference.next_u64()]
        );
    }

    #[test]
    fn below_is_uniform_enough() {
        let mut rng = seeded_rng("uniform");
        let mut counts = [0u32; 6];
        for _ in 0..60_000 {
            counts[below(&mut rng, 6) as usize] += 1;
        }
        assert!(counts.iter().all(|&c| (9_500..10_500).contains(&c)), "{counts:?}");
    }

    #[test]
    fn wilson_intervals() {
        let (low, high) = wilson(17, 20).unwrap();
        assert_eq!((round3(low), round3(high)), (0.640, 0.948));
        assert_eq!(wilson(0, 0), None);
        assert_eq!(wilson(3, 2), None);
        // With p = 0 the interval is [0, z²/(n + z²)], and mirrored for p = 1.
        let z2 = Z95 * Z95;
        let (low, high) = wilson(0, 10).unwrap();
        assert_eq!(low, 0.0);
        assert!((high - z2 / (10.0 + z2)).abs() < 1e-12);
        let (low, high) = wilson(10, 10).unwrap();
        assert!((low - 10.0 / (10.0 + z2)).abs() < 1e-12);
        assert_eq!(high, 1.0);
    }

    #[test]
    fn psi_by_hand() {
        // p = (.5, .5), q = (.6, .4): .1·ln(1.2) + (−.1)·ln(.8)
        let expected = 0.1 * 1.2f64.ln() - 0.1 * 0.8f64.ln();
        assert!((psi(&[50, 50], &[60, 40]).unwrap() - expected).abs() < 1e-12);
        assert_eq!(psi(&[10, 30], &[1, 3]), Some(0.0));
        // An empty bin counts as 0.0001: p = (1, 0.0001), q = (.5, .5).
        let expected = -0.5 * 0.5f64.ln() + (0.5 - 0.0001) * (0.5f64 / 0.0001).ln();
        assert!((psi(&[10, 0], &[5, 5]).unwrap() - expected).abs() < 1e-12);
        assert_eq!(psi(&[1, 2], &[1]), None);
        assert_eq!(psi(&[0, 0], &[1, 1]), None);
    }

    #[test]
    fn chi_square_p_values_match_tables() {
        // Upper 5% points of the chi-square distribution.
        assert_eq!(round3(chi_square_p_value(3.841, 1).unwrap()), 0.050);
        assert_eq!(round3(chi_square_p_value(11.070, 5).unwrap()), 0.050);
        assert_eq!(round3(chi_square_p_value(18.307, 10).unwrap()), 0.050);
        // Lower 5% point for 10 df (uses the series branch).
        assert_eq!(round3(chi_square_p_value(3.940, 10).unwrap()), 0.950);
        // 1% point for 2 df.
        assert_eq!(round3(chi_square_p_value(9.210, 2).unwrap()), 0.010);
        assert_eq!(chi_square_p_value(0.0, 4), Some(1.0));
        assert_eq!(chi_square_p_value(1.0, 0), None);
    }

    #[test]
    fn gamma_q_matches_closed_forms() {
        // Q(1, x) = e^−x on both sides of the branch point x = a + 1.
        for x in [0.1f64, 1.0, 1.9, 2.0, 5.0, 30.0] {
            assert!((regularized_gamma_q(1.0, x).unwrap() - (-x).exp()).abs() < 1e-12, "{x}");
        }
        // Q(3, x) = e^−x (1 + x + x²/2).
        for x in [0.5f64, 3.9, 4.0, 12.0] {
            let exact = (-x).exp() * (1.0 + x + x * x / 2.0);
            assert!((regularized_gamma_q(3.0, x).unwrap() - exact).abs() < 1e-12, "{x}");
        }
        assert!((ln_gamma(0.5) - std::f64::consts::PI.sqrt().ln()).abs() < 1e-12);
        assert!((ln_gamma(10.0) - 362_880f64.ln()).abs() < 1e-10);
        assert_eq!(regularized_gamma_q(-1.0, 1.0), None);
    }

    #[test]
    fn chi_square_against_baseline() {
        // Baseline 50/30/20%, this week 60/20/20 of 100: expected 50, 30, 20.
        let result = chi_square(&[500, 300, 200], &[60, 20, 20]).unwrap();
        let expected = 100.0 / 50.0 + 100.0 / 30.0;
        assert!((result.statistic - expected).abs() < 1e-12);
        assert_eq!(result.df, 2);
        // df = 2: p = e^−x/2 exactly.
        assert!((result.p_value - (-expected / 2.0).exp()).abs() < 1e-12);
        // Categories empty on both sides do not add degrees of freedom.
        let padded = chi_square(&[500, 0, 300, 200], &[60, 0, 20, 20]).unwrap();
        assert_eq!(padded, result);
        // A brand-new category gives a finite, very significant statistic.
        let new_label = chi_square(&[100, 100, 0], &[40, 40, 20]).unwrap();
        assert!(new_label.statistic.is_finite() && new_label.p_value < 1e-6);
        assert_eq!(chi_square(&[1, 1], &[0, 0]), None);
        assert_eq!(chi_square(&[5, 0], &[5, 0]), None);
        assert_eq!(chi_square(&[1, 2], &[1]), None);
    }
}
