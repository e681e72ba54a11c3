//! The `ralph-town` binary: parse arguments, run, map the outcome to an exit code.

use std::io::Write;

use clap::Parser;

/// A faster allocator: a large plan is mostly many small allocations (parsed metadata, labels).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let arguments = ralph_town::cli::Arguments::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            std::process::exit(1);
        }
    };
    let code = match runtime.block_on(ralph_town::cli::run(arguments)) {
        Ok(code) => code,
        Err(error) => {
            let code = error.exit_code();
            if !matches!(error, ralph_town::error::Error::Exit { .. }) {
                // miette writes a report in many small pieces: one buffered writer makes them
                // a few writes rather than one per piece.
                let mut stderr = std::io::BufWriter::new(std::io::stderr().lock());
                let _ = writeln!(stderr, "{:?}", miette::Report::new(error));
                let _ = stderr.flush();
            }
            code
        }
    };
    // Leave in-flight background work (a progress ticker, a signal listener) behind.
    runtime.shutdown_background();
    std::process::exit(code);
}
