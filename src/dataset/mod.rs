//! Gold labels on disk: the annotations log (append, incremental replay), gold, export.

pub mod log;
