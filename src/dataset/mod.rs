//! Gold labels on disk and derived from it: the annotations log (append, incremental replay),
//! gold and adjudication, agreement and accuracy, export, and the weekly sample.

pub mod commands;
pub mod export;
pub mod formats;
pub mod sample;
pub mod stats;
pub mod thresholds;
