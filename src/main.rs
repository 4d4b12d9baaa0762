//! `queuecast` binary: command-line front end. Library code lives in `queuecast::*`; this binary is the only
//! place where `anyhow` is used.

mod cli;

use std::process::ExitCode;

/// jemalloc rather than glibc malloc: docs/DESIGN.md, "Start-up pipeline and its bounds", bullet "Memory
/// given back".
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> ExitCode {
    cli::main()
}
