//! Where items come from: files (ShareGPT variants, OpenAI messages, Alpaca, CSV/JSONL issues).

pub mod files;
pub mod import;
