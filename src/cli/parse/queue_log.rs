//! `queuecast parse queue-log FILE…`: every line as one JSON object (`file`, `line`, then the record's
//! fields) on stdout; a bad line is one `FILE:LINE: reason` on stderr and parsing goes on.
//!
//! Files are streamed in fixed-size reads so that a 1 GB queue_log never sits in memory at once; only the
//! unfinished tail of a read is carried over to the next one.

use anyhow::Context;
use parsers::queue_log::{LineError, Parsed, Record, parse_final, parse_line};
use serde::Serialize;
use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

/// Bytes asked from the file per read: large enough that syscalls do not matter, small enough to keep the
/// resident size flat.
const READ_CHUNK_BYTES: usize = 256 * 1024;

/// Exit code when any line or file could not be parsed.
const EXIT_BAD_INPUT: u8 = 1;

/// One stdout line.
#[derive(Serialize)]
struct Output<'a> {
    file: &'a str,
    line: u64,
    #[serde(flatten)]
    record: &'a Record<'a>,
}

pub fn queue_log(files: &[PathBuf]) -> anyhow::Result<u8> {
    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let stderr = io::stderr();
    let mut err = stderr.lock();
    let mut bad = false;
    for path in files {
        match parse_file(path, &mut out, &mut err) {
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

/// Streams one file; `Ok(true)` when every line parsed.
fn parse_file(path: &Path, out: &mut impl Write, err: &mut impl Write) -> anyhow::Result<bool> {
    let mut file = File::open(path).context("cannot open")?;
    let name = path.display().to_string();
    let mut file_state = FileState { name: &name, line: 0, clean: true };
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
        let consumed = file_state.drain(&buf, at_eof, out, err)?;
        if at_eof {
            return Ok(file_state.clean);
        }
        // Keep only the unfinished line for the next read.
        buf.drain(..consumed);
    }
}

struct FileState<'a> {
    name: &'a str,
    /// Lines of the file consumed so far.
    line: u64,
    clean: bool,
}

impl FileState<'_> {
    /// Prints every complete line of `buf`; returns the bytes done with.
    fn drain(
        &mut self,
        buf: &[u8],
        at_eof: bool,
        out: &mut impl Write,
        err: &mut impl Write,
    ) -> anyhow::Result<usize> {
        let mut start = 0;
        loop {
            let rest = buf.get(start..).unwrap_or_default();
            let parsed = if at_eof { parse_final(rest) } else { parse_line(rest) };
            match parsed {
                Ok(Parsed::Incomplete) => return Ok(start),
                Ok(Parsed::Complete { record, consumed, lines }) => {
                    self.line += lines as u64;
                    let output = Output { file: self.name, line: self.line, record: &record };
                    serde_json::to_writer(&mut *out, &output).map_err(io::Error::from)?;
                    out.write_all(b"\n")?;
                    start += consumed;
                }
                Err(LineError { kind, consumed, lines }) => {
                    self.line += lines as u64;
                    writeln!(err, "{}:{}: {kind}", self.name, self.line)?;
                    self.clean = false;
                    start += consumed;
                }
            }
        }
    }
}
