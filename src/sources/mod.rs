//! Where items come from: files (ShareGPT variants, OpenAI messages, Alpaca, CSV/JSONL issues).

pub mod cmd;
pub mod files;
pub mod import;
mod seen;
