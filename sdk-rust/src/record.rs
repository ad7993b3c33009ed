//! Zero-copy views of what the host hands a function: records, fired timers
//! and windows.

use crate::abi::{self, time_domain};
use crate::entry::{Entries, Entry, Headers};

/// Timestamp of a record that carries no event time.
pub const NO_TIMESTAMP: i64 = abi::NO_TIMESTAMP;

/// One input record. Its slices borrow the host's input buffer and are valid
/// only during the call that received them: copy what you keep.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Record<'a> {
    pub key: &'a [u8],
    pub value: &'a [u8],
    /// Event time in ms since the Unix epoch, or [`NO_TIMESTAMP`].
    pub timestamp: i64,
    pub headers: Headers<'a>,
}

impl<'a> Record<'a> {
    pub(crate) fn from_entry(e: &Entry<'a>) -> Self {
        Record { key: e.key, value: e.value, timestamp: e.timestamp, headers: e.headers }
    }

    /// Reports whether the record carries event time.
    pub fn has_timestamp(&self) -> bool {
        self.timestamp != NO_TIMESTAMP
    }
}

/// The clock a timer follows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TimeDomain {
    /// Fires when the watermark passes the timer's time.
    EventTime,
    /// Fires when the host's processing-time clock passes the timer's time.
    ProcessingTime,
}

impl TimeDomain {
    /// The ABI value of the domain.
    pub fn to_abi(self) -> u32 {
        match self {
            TimeDomain::EventTime => time_domain::EVENT_TIME,
            TimeDomain::ProcessingTime => time_domain::PROCESSING_TIME,
        }
    }

    pub fn from_abi(v: u32) -> Option<Self> {
        match v {
            time_domain::EVENT_TIME => Some(TimeDomain::EventTime),
            time_domain::PROCESSING_TIME => Some(TimeDomain::ProcessingTime),
            _ => None,
        }
    }
}

/// A timer that fired. While `on_timer` runs, keyed state and timer calls
/// address the timer's key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timer<'a> {
    pub key: &'a [u8],
    /// Empty for process functions.
    pub namespace: &'a [u8],
    pub timestamp: i64,
    pub domain: TimeDomain,
}

/// A time window `[start, end)` in ms.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Window {
    pub start: i64,
    pub end: i64,
}

impl Window {
    /// The largest timestamp inside the window.
    pub fn max_timestamp(&self) -> i64 {
        self.end - 1
    }

    pub(crate) fn decode(v: &[u8]) -> Option<Window> {
        if v.len() != 16 {
            return None;
        }
        let mut s = [0u8; 8];
        let mut e = [0u8; 8];
        s.copy_from_slice(&v[..8]);
        e.copy_from_slice(&v[8..]);
        Some(Window { start: i64::from_le_bytes(s), end: i64::from_le_bytes(e) })
    }
}

/// The elements of a fired window, in the order the host sent them.
pub struct Elements<'a> {
    pub(crate) entries: Entries<'a>,
    pub(crate) left: u32,
}

impl<'a> Iterator for Elements<'a> {
    type Item = Record<'a>;

    fn next(&mut self) -> Option<Record<'a>> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        // The runtime validated these entries before handing them out.
        match self.entries.next() {
            Some(Ok(e)) => Some(Record::from_entry(&e)),
            _ => None,
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (0, Some(self.left as usize))
    }
}
