//! The output buffer and the handles user code writes entries through.
//!
//! Entries are appended to one guest-owned `Vec<u8>` whose address and
//! capacity the control block publishes. When an entry does not fit in the
//! remaining capacity the buffer is handed to the host with `flush_output`
//! and reused from the start; an entry larger than the whole buffer grows it.
//! A failed flush makes the buffer drop every later entry, and the call
//! returns the host's status.

use core::fmt;

use crate::abi::{entry_kind, status};
use crate::ctrl;
use crate::entry::{encode_header, Headers, HEADER_SIZE};
use crate::record::{Record, NO_TIMESTAMP};
use crate::sys;

pub(crate) struct Output {
    buf: Vec<u8>,
    /// Number of flushes during the current call.
    flushes: u32,
    /// 0, or the negative status that makes the current call fail.
    failed: i32,
}

/// A position in the output, to take back a failed record's entries.
#[derive(Clone, Copy)]
pub(crate) struct Mark {
    len: usize,
    flushes: u32,
}

impl Output {
    pub(crate) fn new() -> Self {
        Output { buf: Vec::new(), flushes: 0, failed: 0 }
    }

    /// Grows the buffer to at least `cap` bytes; false when out of memory.
    pub(crate) fn reserve_total(&mut self, cap: usize) -> bool {
        if self.buf.capacity() < cap && self.buf.try_reserve_exact(cap - self.buf.len()).is_err() {
            return false;
        }
        self.publish();
        true
    }

    /// Starts a call: the host consumed the previous call's output.
    pub(crate) fn begin(&mut self) {
        self.buf.clear();
        self.flushes = 0;
        self.failed = 0;
    }

    /// Ends a call: publishes the buffer and returns the call's result, the
    /// length of the unflushed output or a negative status.
    pub(crate) fn finish(&mut self) -> i32 {
        self.publish();
        if self.failed != 0 {
            return self.failed;
        }
        if self.buf.len() > i32::MAX as usize {
            return status::OUT_OF_MEMORY;
        }
        self.buf.len() as i32
    }

    /// Fails the current call with `st` unless it already failed.
    pub(crate) fn fail(&mut self, st: i32) {
        if self.failed == 0 {
            self.failed = st;
        }
    }

    #[inline]
    fn publish(&self) {
        ctrl::set_output(self.buf.as_ptr(), self.buf.capacity());
    }

    /// The written bytes (native tests and the harness read them).
    #[cfg(not(target_arch = "wasm32"))]
    pub(crate) fn bytes(&self) -> &[u8] {
        &self.buf
    }

    /// The whole buffer as a scratch area for a raw result (aggregates,
    /// the descriptor).
    pub(crate) fn raw(&mut self) -> &mut Vec<u8> {
        &mut self.buf
    }

    pub(crate) fn mark(&self) -> Mark {
        Mark { len: self.buf.len(), flushes: self.flushes }
    }

    /// Drops the entries written since `m`. Entries already flushed to the
    /// host cannot be taken back; everything unflushed since then is.
    pub(crate) fn retract(&mut self, m: Mark) {
        if m.flushes == self.flushes {
            self.buf.truncate(m.len);
        } else {
            self.buf.clear();
        }
    }

    /// Makes room for `n` more bytes; false when the call already failed.
    #[inline(always)]
    fn room(&mut self, n: usize) -> bool {
        self.buf.capacity() - self.buf.len() >= n && self.failed == 0 || self.make_room(n)
    }

    #[cold]
    #[inline(never)]
    fn make_room(&mut self, n: usize) -> bool {
        if self.failed != 0 {
            return false;
        }
        if !self.buf.is_empty() && self.buf.capacity() - self.buf.len() < n {
            self.flush();
            if self.failed != 0 {
                return false;
            }
        }
        if self.buf.capacity() - self.buf.len() < n {
            let want = n.max(self.buf.capacity().saturating_mul(2));
            if self.buf.try_reserve(want - self.buf.len()).is_err() {
                self.fail(status::OUT_OF_MEMORY);
                return false;
            }
            self.publish();
        }
        true
    }

    fn flush(&mut self) {
        self.publish();
        let st = sys::flush(&self.buf);
        self.buf.clear();
        self.flushes += 1;
        if st < 0 {
            self.fail(st);
        }
    }

    /// Appends one complete entry.
    #[inline]
    pub(crate) fn entry(&mut self, kind: u8, key: &[u8], value: &[u8], headers: Headers<'_>, extra: u32, ts: i64) {
        let raw = headers.raw();
        let n = HEADER_SIZE + key.len() + value.len() + raw.len();
        if !self.room(n) {
            return;
        }
        let h = encode_header(kind, headers.len() as u16, key.len() as u32, value.len() as u32, extra, ts);
        // SAFETY: room(n) guaranteed n bytes of spare capacity; each part is
        // copied once (empty parts not at all: a copy is a memory.copy
        // instruction, which costs more than its length suggests) and the
        // length is set after all of them are initialised.
        unsafe {
            let len = self.buf.len();
            let mut p = self.buf.as_mut_ptr().add(len);
            core::ptr::copy_nonoverlapping(h.as_ptr(), p, HEADER_SIZE);
            p = p.add(HEADER_SIZE);
            for part in [key, value, raw] {
                if !part.is_empty() {
                    core::ptr::copy_nonoverlapping(part.as_ptr(), p, part.len());
                    p = p.add(part.len());
                }
            }
            self.buf.set_len(len + n);
        }
    }

    /// Appends an entry whose value `f` writes in place, followed by
    /// `headers`.
    #[inline]
    pub(crate) fn entry_with<F: FnOnce(&mut Writer<'_>)>(
        &mut self,
        kind: u8,
        key: &[u8],
        headers: Headers<'_>,
        extra: u32,
        ts: i64,
        f: F,
    ) {
        if !self.room(HEADER_SIZE + key.len() + headers.raw().len()) {
            return;
        }
        let start = self.buf.len();
        self.buf.extend_from_slice(&[0u8; HEADER_SIZE]);
        // Empty parts are not copied at all: a copy is a memory.copy
        // instruction, which costs more than its length suggests.
        if !key.is_empty() {
            self.buf.extend_from_slice(key);
        }
        let vstart = self.buf.len();
        f(&mut Writer { buf: &mut self.buf, start: vstart });
        let vlen = self.buf.len() - vstart;
        if !headers.is_empty() {
            self.buf.extend_from_slice(headers.raw());
        }
        let h = encode_header(kind, headers.len() as u16, key.len() as u32, vlen as u32, extra, ts);
        self.buf[start..start + HEADER_SIZE].copy_from_slice(&h);
    }

    /// An entry that names input entry `index` and carries no bytes.
    #[inline]
    pub(crate) fn reference(&mut self, kind: u8, index: u32) {
        self.entry(kind, &[], &[], Headers::EMPTY, index, 0)
    }

    pub(crate) fn error(&mut self, index: u32, message: &str) {
        self.entry(entry_kind::ERROR, &[], message.as_bytes(), Headers::EMPTY, index, NO_TIMESTAMP)
    }
}

/// Appends bytes to a value being built in place in the output buffer. It can
/// only append: what was written before it is out of reach.
pub struct Writer<'a> {
    pub(crate) buf: &'a mut Vec<u8>,
    pub(crate) start: usize,
}

impl<'a> Writer<'a> {
    #[inline]
    pub fn push(&mut self, b: u8) {
        self.buf.push(b)
    }

    #[inline]
    pub fn extend_from_slice(&mut self, s: &[u8]) {
        self.buf.extend_from_slice(s)
    }

    /// Appends `v` in decimal.
    #[inline(always)]
    pub fn write_i64(&mut self, v: i64) {
        crate::num::append_i64(self.buf, v)
    }

    /// Reserves room for `n` more bytes.
    pub fn reserve(&mut self, n: usize) {
        self.buf.reserve(n)
    }

    /// Bytes written through this writer so far.
    pub fn as_slice(&self) -> &[u8] {
        &self.buf[self.start..]
    }

    pub fn len(&self) -> usize {
        self.buf.len() - self.start
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Shortens what this writer wrote to `len` bytes.
    pub fn truncate(&mut self, len: usize) {
        self.buf.truncate(self.start + len)
    }
}

impl fmt::Write for Writer<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.buf.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

/// Proof that a map or key selector produced its one output. Only the
/// methods of [`MapOutput`] and [`KeyOutput`] make one, so a function that
/// returns `Ok` has necessarily emitted exactly one entry.
#[must_use]
pub struct Emitted {
    _private: (),
}

/// The single output of a map function for one record: call exactly one
/// method (each consumes the handle). The output keeps the input record's
/// key, timestamp and headers unless [`MapOutput::record`] says otherwise.
pub struct MapOutput<'a> {
    pub(crate) out: &'a mut Output,
    pub(crate) rec: Record<'a>,
    pub(crate) entry: u32,
}

impl<'a> MapOutput<'a> {
    /// Emits the input record with its value replaced by `value`. Passing the
    /// input's own value (`record.value`) forwards the record instead, without
    /// copying it.
    #[inline]
    pub fn value(self, value: &[u8]) -> Emitted {
        if value.as_ptr() == self.rec.value.as_ptr() && value.len() == self.rec.value.len() {
            return self.forward();
        }
        let r = self.rec;
        self.out.entry(entry_kind::OUTPUT, r.key, value, r.headers, 0, r.timestamp);
        Emitted { _private: () }
    }

    /// Emits the input record with a value that `f` writes straight into the
    /// output buffer.
    #[inline]
    pub fn value_with<F: FnOnce(&mut Writer<'_>)>(self, f: F) -> Emitted {
        let r = self.rec;
        self.out.entry_with(entry_kind::OUTPUT, r.key, r.headers, 0, r.timestamp, f);
        Emitted { _private: () }
    }

    /// Emits the input record unchanged; the host forwards it without copying
    /// it through guest memory.
    #[inline]
    pub fn forward(self) -> Emitted {
        self.out.reference(entry_kind::FORWARD, self.entry);
        Emitted { _private: () }
    }

    /// Emits a record of its own: key, value, timestamp and headers as given.
    pub fn record(self, key: &[u8], value: &[u8], timestamp: i64, headers: Headers<'_>) -> Emitted {
        self.out.entry(entry_kind::OUTPUT, key, value, headers, 0, timestamp);
        Emitted { _private: () }
    }
}

/// The key a key selector gives one record: call exactly one method.
pub struct KeyOutput<'a> {
    pub(crate) out: &'a mut Output,
    pub(crate) entry: u32,
    /// The record's timestamp, carried along (the host ignores it).
    pub(crate) ts: i64,
}

impl<'a> KeyOutput<'a> {
    pub fn key(self, key: &[u8]) -> Emitted {
        self.out.entry(entry_kind::KEY, key, &[], Headers::EMPTY, self.entry, self.ts);
        Emitted { _private: () }
    }

    /// A key that `f` writes straight into the output buffer.
    pub fn key_with<F: FnOnce(&mut Writer<'_>)>(self, f: F) -> Emitted {
        // Write the key as the value of a scratch entry, then turn it into
        // the key: the header is patched in place, nothing is copied.
        let out = &mut *self.out;
        if out.room(HEADER_SIZE) {
            let start = out.buf.len();
            out.buf.extend_from_slice(&[0u8; HEADER_SIZE]);
            let kstart = out.buf.len();
            f(&mut Writer { buf: &mut out.buf, start: kstart });
            let klen = out.buf.len() - kstart;
            let h = encode_header(entry_kind::KEY, 0, klen as u32, 0, self.entry, self.ts);
            out.buf[start..start + HEADER_SIZE].copy_from_slice(&h);
        }
        Emitted { _private: () }
    }
}
