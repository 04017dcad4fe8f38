//! Gold labels on disk and derived from it: the annotations log (append, incremental replay),
//! gold and adjudication, agreement and accuracy, export, and the weekly sample.

pub mod commands;
pub mod export;
pub mod formats;
pub mod sample;
pub mod stats;
pub mod thresholds;

/// The one dataset of a scope, for store reads that filter by a single dataset (None: read
/// every dataset and filter by the list).
pub fn only_dataset(datasets: &[String]) -> Option<&str> {
    match datasets {
        [one] => Some(one.as_str()),
        _ => None,
    }
}
