//! Why a queue_log line was rejected. Every error carries how many bytes (and lines) to skip, so one bad
//! line never stops the lines after it.

/// A line that can never become a valid record, however many bytes follow.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind}")]
pub struct LineError {
    pub kind: ErrorKind,
    /// Bytes to drop from the front of the buffer to get past the bad line (its `\n` and any blank lines
    /// before it included).
    pub consumed: usize,
    /// Lines inside `consumed`: the bad line plus the blank lines skipped before it. Lets callers report
    /// `FILE:LINE`.
    pub lines: usize,
}

/// What is wrong with a line. Values quoted in messages are cut to `SNIPPET_MAX_BYTES` so that a 1 MB
/// garbage line does not become a 1 MB log line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ErrorKind {
    #[error("too few fields: found {found} of the 5 fixed ones (epoch|callid|queue|agent|EVENT)")]
    TooFewFields { found: usize },
    #[error("bad epoch {value:?}: expected whole seconds since 1970")]
    BadEpoch { value: String },
    #[error("empty event name")]
    EmptyEvent,
    #[error("{event}: expected {expected} data fields, found {found}")]
    FieldCount { event: String, expected: &'static str, found: usize },
    #[error("{event}: data field {field} ({name}) is not a number: {value:?}")]
    BadNumber { event: String, field: usize, name: &'static str, value: String },
    #[error("{event}: data field {field} ({name}) must be {expected}, found {value:?}")]
    BadValue { event: String, field: usize, name: &'static str, expected: &'static str, value: String },
}

/// Longest piece of an offending value quoted in an error message.
const SNIPPET_MAX_BYTES: usize = 48;

/// The offending bytes for an error message: lossy text, cut at `SNIPPET_MAX_BYTES`. Cold: kept out of the
/// parsing code so that the path of good lines stays small.
#[cold]
#[inline(never)]
pub(crate) fn snippet(bytes: &[u8]) -> String {
    let cut = bytes.get(..SNIPPET_MAX_BYTES).unwrap_or(bytes);
    let mut text = crate::text::decode(cut).into_owned();
    if cut.len() < bytes.len() {
        text.push('…');
    }
    text
}
