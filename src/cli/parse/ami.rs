//! `queuecast parse ami FILE…`: every AMI message of a capture (server bytes like `ami.raw`, or client bytes
//! like `ami.sent`) as one JSON object (`file`, `line` where the message starts, then the message) on
//! stdout; a bad message is one `FILE:LINE: reason` on stderr, it is skipped and parsing goes on.
//!
//! Files are streamed in fixed-size reads through the same decoder the AMI client uses, so a capture's
//! chunking can never change the result. Login secrets (`Secret`, MD5 `Key`) are masked in the output.

use anyhow::Context;
use parsers::ami::{AmiDecoder, Field, Message, MessageKind, Parsed};
use serde::Serialize;
use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

/// Bytes asked from the file per read.
const READ_CHUNK_BYTES: usize = 256 * 1024;
/// Exit code when any message or file could not be parsed.
const EXIT_BAD_INPUT: u8 = 1;
/// Keys whose value must never be printed (plain secret, and the MD5 login key derived from it).
const SECRET_KEYS: &[&str] = &["Secret", "Key"];
const MASK: &[u8] = b"********";

/// One stdout line.
#[derive(Serialize)]
struct Output<'a> {
    file: &'a str,
    line: u64,
    #[serde(flatten)]
    message: &'a Message<'a>,
}

pub fn ami(files: &[PathBuf]) -> anyhow::Result<u8> {
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

/// Streams one file; `Ok(true)` when every message parsed.
fn parse_file(path: &Path, out: &mut impl Write, err: &mut impl Write) -> anyhow::Result<bool> {
    let mut file = File::open(path).context("cannot open")?;
    let name = path.display().to_string();
    let mut state = FileState { name: &name, decoder: AmiDecoder::new(), line: 1, clean: true };
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
        let consumed = state.drain(&buf, out, err)?;
        buf.drain(..consumed);
        if read == 0 {
            state.finish(&buf, err)?;
            return Ok(state.clean);
        }
    }
}

struct FileState<'a> {
    name: &'a str,
    decoder: AmiDecoder,
    /// Line number of the first byte not yet consumed.
    line: u64,
    clean: bool,
}

impl FileState<'_> {
    /// Prints every complete message in `buf`; returns the bytes done with.
    fn drain(&mut self, buf: &[u8], out: &mut impl Write, err: &mut impl Write) -> anyhow::Result<usize> {
        let mut start = 0;
        loop {
            let rest = buf.get(start..).unwrap_or_default();
            match self.decoder.decode(rest) {
                Ok(Parsed::Incomplete) => return Ok(start),
                Ok(Parsed::Complete { message, consumed }) => {
                    let taken = rest.get(..consumed).unwrap_or_default();
                    let line = self.line + leading_empty_lines(taken);
                    let message = masked(message);
                    let output = Output { file: self.name, line, message: &message };
                    serde_json::to_writer(&mut *out, &output).map_err(io::Error::from)?;
                    out.write_all(b"\n")?;
                    self.advance(taken);
                    start += consumed;
                }
                Err(error) => {
                    let skip = error.skip().min(rest.len()).max(1);
                    let taken = rest.get(..skip).unwrap_or_default();
                    writeln!(err, "{}:{}: {error}", self.name, self.line + leading_empty_lines(taken))?;
                    self.clean = false;
                    self.advance(taken);
                    start += skip;
                }
            }
        }
    }

    /// End of file: anything but blank lines left over is a message cut short.
    fn finish(&mut self, rest: &[u8], err: &mut impl Write) -> anyhow::Result<()> {
        if !rest.iter().all(u8::is_ascii_whitespace) {
            let line = self.line + leading_empty_lines(rest);
            writeln!(
                err,
                "{}:{line}: incomplete AMI message at end of file ({} bytes)",
                self.name,
                rest.len()
            )?;
            self.clean = false;
        }
        Ok(())
    }

    fn advance(&mut self, taken: &[u8]) {
        self.line += newlines(taken);
    }
}

fn newlines(bytes: &[u8]) -> u64 {
    bytes.iter().filter(|&&b| b == b'\n').count() as u64
}

/// Empty lines before the message's first line (they belong to `consumed` but not to the message).
fn leading_empty_lines(bytes: &[u8]) -> u64 {
    let blank = bytes.iter().take_while(|b| matches!(b, b'\r' | b'\n')).count();
    newlines(bytes.get(..blank).unwrap_or_default())
}

fn masked(mut message: Message<'_>) -> Message<'_> {
    if matches!(message.kind, MessageKind::Action { .. }) {
        for field in &mut message.fields {
            if SECRET_KEYS.iter().any(|k| field.key.eq_ignore_ascii_case(k.as_bytes())) {
                *field = Field { key: field.key, value: MASK };
            }
        }
    }
    message
}
