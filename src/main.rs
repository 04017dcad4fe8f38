//! Entry point: parse the command line, log to a file, run, map errors to exit codes.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = sift::cli::Cli::parse();
    let _guard = sift::logging::init(cli.workspace.as_deref());
    match sift::cli::run(cli) {
        Ok(code) => code,
        Err(e) if sift::is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            // Errors are built to be read: the chain says what, where, and what to do.
            let text = format!("{e:#}");
            eprintln!("error: {}", sift::text::sanitize(&sift::secrets::scrub(&text)));
            ExitCode::FAILURE
        }
    }
}
