//! Entry point: parse the command line, log to a file, run, map errors to exit codes.

use std::process::ExitCode;

use clap::Parser;

/// mimalloc rather than the system's allocator: sift's bulk commands allocate on one thread and
/// free on another (a reader hands items to a worker), where glibc's arenas contend for their
/// locks (a tenth of an export's time went to that), and small allocations are cheaper.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
