//! Agreement, evaluation, gold and sampling statistics: pure functions (gold also reads the
//! current answers from the store).

pub mod agreement;
pub mod evaluation;
pub mod gold;
pub mod paired;
pub mod sampling;
