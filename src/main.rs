//! The `ralph-town` binary: parse arguments, run, map the outcome to an exit code.

use std::io::Write;

use clap::Parser;

/// A faster allocator: a large plan is mostly many small allocations (parsed metadata, labels).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let arguments = ralph_town::cli::Arguments::parse();
    ralph_town::cli::install_hooks(arguments.verbose);
    let Ok(runtime) = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    else {
        eprintln!("error: cannot start the async runtime");
        std::process::exit(ralph_town::error::exit::FAILURE);
    };
    let outcome = runtime.block_on(ralph_town::cli::run(arguments));
    // Leave in-flight background work (a progress ticker, a signal listener) behind.
    runtime.shutdown_background();
    let code = outcome.unwrap_or_else(|error| {
        let code = error.exit_code();
        if !error.is_silent() {
            // One buffered writer: miette writes a report in many small pieces.
            let mut stderr = std::io::BufWriter::new(std::io::stderr().lock());
            let _ = writeln!(stderr, "{:?}", miette::Report::new(error));
            let _ = stderr.flush();
        }
        code
    });
    std::process::exit(code);
}
