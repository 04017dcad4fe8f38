//! Agreement, evaluation and sampling statistics: pure functions, no IO.

pub mod agreement;
pub mod evaluation;
pub mod sampling;
