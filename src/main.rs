//! `queuecast` binary: command-line front end. Library code lives in `queuecast::*`; this binary is the only
//! place where `anyhow` is used.

mod cli;

use std::process::ExitCode;

fn main() -> ExitCode {
    cli::main()
}
