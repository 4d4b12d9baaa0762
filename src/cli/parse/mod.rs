//! `queuecast parse queue-log|ami FILE…`: one JSON object per parsed item on stdout; bad input → one line on
//! stderr with file:line and the reason, keep going, exit 1 if anything was bad.
//!
//! Files are streamed in fixed-size reads so that a 1 GB queue_log never sits in memory at once; only the
//! unfinished tail of a read is carried over to the next one. The formats differ only in their
//! [`Printer`]; reading, exit codes and a closed stdout (`| head`) are handled here once.

mod ami;
mod queue_log;

pub use ami::ami;
pub use queue_log::queue_log;

use anyhow::Context;
use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

/// Bytes asked from the file per read: large enough that syscalls do not matter, small enough to keep the
/// resident size flat.
const READ_CHUNK_BYTES: usize = 256 * 1024;

/// Exit code when any item or file could not be parsed.
const EXIT_BAD_INPUT: u8 = 1;

/// One format's streaming printer for one file.
trait Printer {
    /// Prints every complete item of `buf` (and, `at_eof`, whatever is left); returns the bytes done with.
    fn drain(&mut self, buf: &[u8], at_eof: bool, to: &mut Report<'_>) -> anyhow::Result<usize>;
}

/// Where one file's items go: each parsed one as a JSON line on `out`, each bad one as a line on `err`
/// (which marks the file as not clean).
struct Report<'a> {
    out: &'a mut dyn Write,
    err: &'a mut dyn Write,
    clean: bool,
}

impl Report<'_> {
    fn item(&mut self, item: &impl serde::Serialize) -> io::Result<()> {
        serde_json::to_writer(&mut *self.out, item).map_err(io::Error::from)?;
        self.out.write_all(b"\n")
    }

    fn bad(&mut self, line: std::fmt::Arguments<'_>) -> io::Result<()> {
        self.clean = false;
        writeln!(self.err, "{line}")
    }
}

/// Runs `printer_for(file name)` over every file.
fn run<P: Printer>(files: &[PathBuf], printer_for: impl Fn(String) -> P) -> anyhow::Result<u8> {
    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let stderr = io::stderr();
    let mut err = stderr.lock();
    let mut bad = false;
    for path in files {
        let mut printer = printer_for(path.display().to_string());
        match parse_file(path, &mut printer, &mut out, &mut err) {
            Ok(clean) => bad |= !clean,
            // `| head` closed stdout: nobody reads any more, stop quietly.
            Err(error) if is_broken_pipe(&error) => return Ok(exit_code(bad)),
            Err(error) => {
                writeln!(err, "{}: {error:#}", path.display())?;
                bad = true;
            }
        }
    }
    match out.flush() {
        Err(error) if error.kind() != io::ErrorKind::BrokenPipe => Err(error.into()),
        _ => Ok(exit_code(bad)),
    }
}

fn exit_code(bad: bool) -> u8 {
    if bad { EXIT_BAD_INPUT } else { crate::cli::EX_OK }
}

fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.downcast_ref::<io::Error>().is_some_and(|error| error.kind() == io::ErrorKind::BrokenPipe)
}

/// Streams one file through `printer`; `Ok(true)` when every item parsed.
fn parse_file(
    path: &Path,
    printer: &mut impl Printer,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> anyhow::Result<bool> {
    let mut file = File::open(path).context("cannot open")?;
    let mut to = Report { out, err, clean: true };
    let mut buf: Vec<u8> = Vec::with_capacity(READ_CHUNK_BYTES * 2);
    loop {
        let filled = buf.len();
        buf.resize(filled + READ_CHUNK_BYTES, 0);
        let read = loop {
            match file.read(&mut buf[filled..]) {
                Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
                result => break result.context("cannot read")?,
            }
        };
        buf.truncate(filled + read);
        let at_eof = read == 0;
        let consumed = printer.drain(&buf, at_eof, &mut to)?;
        if at_eof {
            return Ok(to.clean);
        }
        // Keep only the unfinished item for the next read.
        buf.drain(..consumed);
    }
}
