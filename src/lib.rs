//! sift: a keyboard-driven terminal workstation for labeling GitHub issues and SFT chat samples.
//!
//! The binary is thin; everything lives here so tests and benchmarks reach it.

pub mod cli;
pub mod dataset;
pub mod demo;
pub mod github;
pub mod logging;
pub mod metrics;
pub mod model;
pub mod net;
pub mod secrets;
pub mod similar;
pub mod sources;
pub mod store;
pub mod suggest;
pub mod synth;
pub mod taxonomy;
pub mod text;
pub mod tui;
pub mod workspace;
