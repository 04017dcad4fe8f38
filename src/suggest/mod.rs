//! Label suggestions: providers behind one trait, output validation, runs.

pub mod keywords;
