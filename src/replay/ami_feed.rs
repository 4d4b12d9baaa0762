//! AMI captures as a stream of engine events: each capture is read in chunks and decoded message by message,
//! so a capture of any size costs one read buffer, never its events collected.

use super::ReplayError;
use crate::engine::{Event, TsMs};
use crate::normalize::ami::AmiNormalizer;
use parsers::ami::{AmiDecoder, Message, NextMessage};
use std::collections::VecDeque;
use std::io::Read;
use std::path::{Path, PathBuf};

/// Bytes read from a capture at a time.
const READ_CHUNK_BYTES: usize = 256 * 1024;

/// One AMI connection's received bytes, decoded lazily.
pub struct Capture<R> {
    src: R,
    buf: Vec<u8>,
    /// Bytes of `buf` already decoded.
    at: usize,
    /// Offset in the capture of `buf[0]`.
    base: usize,
    eof: bool,
    decoder: AmiDecoder,
    normalizer: AmiNormalizer,
    /// (end offset of a received chunk, receive time), from `<stem>.chunks.tsv`.
    times: Vec<(usize, TsMs)>,
    last_ts: TsMs,
    pending: VecDeque<Event>,
    /// Undecodable byte runs and malformed known events skipped.
    pub bad: usize,
    pub error: Option<std::io::Error>,
}

impl<R: Read> Capture<R> {
    /// `sent`: what the client sent on that connection (QueueStatus scopes); `chunks_tsv`: receive times.
    pub fn new(src: R, sent: Option<&[u8]>, chunks_tsv: Option<&str>) -> Self {
        let mut normalizer = AmiNormalizer::new();
        if let Some(sent) = sent {
            super::decode_all(sent, AmiDecoder::new().without_banner(), |msg, _| {
                normalizer.observe_sent(msg)
            });
        }
        Self {
            src,
            buf: Vec::new(),
            at: 0,
            base: 0,
            eof: false,
            decoder: AmiDecoder::new(),
            normalizer,
            times: chunks_tsv.map(super::receive_times).unwrap_or_default(),
            last_ts: 0,
            pending: VecDeque::new(),
            bad: 0,
            error: None,
        }
    }

    /// The next event, or None at the end of the capture (or at a read error, kept in `error`).
    pub fn next_event(&mut self) -> Option<Event> {
        loop {
            if let Some(event) = self.pending.pop_front() {
                return Some(event);
            }
            if !self.decode_one() {
                return None;
            }
        }
    }

    /// Decodes the next message (reading more when needed); false at the end.
    fn decode_one(&mut self) -> bool {
        let Self { buf, at, base, decoder, normalizer, times, last_ts, pending, bad, .. } = self;
        let rest = buf.get(*at..).unwrap_or_default();
        let outcome = if rest.is_empty() { Ok(NextMessage::Incomplete) } else { decoder.decode(rest) };
        match outcome {
            Ok(NextMessage::Complete { message, consumed }) => {
                *at += consumed.max(1);
                let ts = super::time_at(times, *base + *at).unwrap_or(*last_ts);
                stamp(normalizer, &message, ts, last_ts, pending, bad);
                true
            }
            Ok(NextMessage::Incomplete) => self.refill(),
            Err(err) => {
                *bad += 1;
                *at += err.skip().max(1);
                true
            }
        }
    }

    /// Drops the decoded bytes and reads the next chunk; false at the end of the capture.
    fn refill(&mut self) -> bool {
        if self.eof {
            return false;
        }
        self.buf.drain(..self.at.min(self.buf.len()));
        self.base += self.at;
        self.at = 0;
        let len = self.buf.len();
        self.buf.resize(len + READ_CHUNK_BYTES, 0);
        let got = loop {
            match self.src.read(self.buf.get_mut(len..).unwrap_or_default()) {
                Ok(n) => break n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.error = Some(e);
                    break 0;
                }
            }
        };
        self.buf.truncate(len + got);
        self.eof = got == 0;
        // At the end a last incomplete message is what decode_all left too: trailing bytes, not an event.
        !self.eof
    }
}

fn stamp(
    normalizer: &mut AmiNormalizer,
    message: &Message<'_>,
    ts: TsMs,
    last_ts: &mut TsMs,
    pending: &mut VecDeque<Event>,
    bad: &mut usize,
) {
    match normalizer.push_checked(message, ts) {
        Ok(events) => {
            *last_ts = events.last().map_or(ts, |e| e.ts_ms);
            pending.extend(events);
        }
        Err(_) => *bad += 1,
    }
}

/// Several captures (one per AMI connection) one after the other, each with its own decoder and
/// normalizer, as the daemon has after each reconnect.
pub struct Feed {
    paths: VecDeque<PathBuf>,
    current: Option<(PathBuf, Capture<std::fs::File>)>,
    /// Bad messages of the captures already finished.
    done_bad: usize,
    peeked: Option<Event>,
}

impl Feed {
    pub fn open(paths: &[PathBuf]) -> Self {
        Self { paths: paths.iter().cloned().collect(), current: None, done_bad: 0, peeked: None }
    }

    pub fn bad(&self) -> usize {
        self.done_bad + self.current.as_ref().map_or(0, |(_, c)| c.bad)
    }

    pub fn peek(&mut self) -> Result<Option<&Event>, ReplayError> {
        if self.peeked.is_none() {
            self.peeked = self.pull()?;
        }
        Ok(self.peeked.as_ref())
    }

    pub fn next_event(&mut self) -> Result<Option<Event>, ReplayError> {
        match self.peeked.take() {
            Some(event) => Ok(Some(event)),
            None => self.pull(),
        }
    }

    fn pull(&mut self) -> Result<Option<Event>, ReplayError> {
        loop {
            if let Some((_, capture)) = self.current.as_mut() {
                if let Some(event) = capture.next_event() {
                    return Ok(Some(event));
                }
                if let Some((path, Capture { bad, error, .. })) = self.current.take() {
                    self.done_bad += bad;
                    if let Some(source) = error {
                        return Err(ReplayError::Read { path, source });
                    }
                }
            }
            let Some(path) = self.paths.pop_front() else { return Ok(None) };
            let capture = open_capture(&path)?;
            self.current = Some((path, capture));
        }
    }
}

fn open_capture(path: &Path) -> Result<Capture<std::fs::File>, ReplayError> {
    let file =
        std::fs::File::open(path).map_err(|source| ReplayError::Read { path: path.to_owned(), source })?;
    let sent = super::sibling(path, "sent").map(|p| super::read(&p)).transpose()?;
    let chunks = super::sibling(path, "chunks.tsv").map(|p| super::read(&p)).transpose()?;
    let chunks = chunks.map(|c| String::from_utf8_lossy(&c).into_owned());
    Ok(Capture::new(file, sent.as_deref(), chunks.as_deref()))
}
