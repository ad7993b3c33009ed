//! Keyed state handles. A handle names a state and reads and writes the
//! entry of the current key: the key of the record (or timer, or window) the
//! function is handling. The host finds that key through the control block's
//! `current_entry`, so each operation is a single host call.
//!
//! Handles are declared with the host on first use, so they can be built
//! anywhere (a struct's `Default`, registration); [`crate::OpenContext`]
//! declares them at once instead, to fail `open` early.
//!
//! Reads copy the host's bytes into a buffer the handle owns and reuses, so
//! steady-state access allocates nothing; the returned slices are valid until
//! the next operation on the same handle.

use std::cell::Cell;

use crate::abi::{state_kind, status};
use crate::error::{Error, Result};
use crate::sys;

struct Handle {
    name: String,
    kind: u32,
    ttl_ms: i64,
    h: Cell<i32>,
}

impl Handle {
    fn new(name: &str, kind: u32, ttl_ms: i64) -> Self {
        Handle { name: name.to_owned(), kind, ttl_ms, h: Cell::new(-1) }
    }

    fn kind_name(&self) -> &'static str {
        match self.kind {
            state_kind::VALUE => "value state",
            state_kind::LIST => "list state",
            _ => "map state",
        }
    }

    fn fail(&self, op: &str, st: i32) -> Error {
        Error::host_named(self.kind_name(), &self.name, op, st)
    }

    #[inline]
    fn get(&self) -> Result<i32> {
        let h = self.h.get();
        if h >= 0 {
            return Ok(h);
        }
        self.declare()
    }

    #[cold]
    fn declare(&self) -> Result<i32> {
        let h =
            unsafe { sys::state_declare(self.kind as i32, self.name.as_ptr(), self.name.len() as i32, self.ttl_ms) };
        if h < 0 {
            return Err(self.fail("declare", h));
        }
        self.h.set(h);
        Ok(h)
    }

    /// Turns a status into a Result; `not_found` is Ok(false).
    fn found(&self, op: &str, r: i32) -> Result<bool> {
        match r {
            status::NOT_FOUND => Ok(false),
            r if r < 0 => Err(self.fail(op, r)),
            _ => Ok(true),
        }
    }

    fn status(&self, op: &str, r: i32) -> Result<()> {
        if r < 0 {
            Err(self.fail(op, r))
        } else {
            Ok(())
        }
    }

    fn clear(&self) -> Result<()> {
        let h = self.get()?;
        self.status("clear", unsafe { sys::state_clear(h) })
    }
}

/// One value per key.
pub struct ValueState {
    s: Handle,
    buf: Vec<u8>,
}

impl ValueState {
    pub fn new(name: &str) -> Self {
        Self::with_ttl(name, 0)
    }

    /// A value state whose entries expire `ttl_ms` after their last write.
    pub fn with_ttl(name: &str, ttl_ms: i64) -> Self {
        ValueState { s: Handle::new(name, state_kind::VALUE, ttl_ms), buf: Vec::new() }
    }

    pub(crate) fn declare(&self) -> Result<i32> {
        self.s.get()
    }

    /// The current key's value, if any.
    pub fn get(&mut self) -> Result<Option<&[u8]>> {
        let h = self.s.get()?;
        let r = sys::read_into(&mut self.buf, |p, cap| unsafe { sys::value_get(h, p, cap) });
        if self.s.found("get", r)? {
            Ok(Some(&self.buf))
        } else {
            Ok(None)
        }
    }

    /// The current key's value read as an 8-byte little-endian i64 (as
    /// written by [`ValueState::put_i64`]). A value of another length is an
    /// error.
    pub fn get_i64(&self) -> Result<Option<i64>> {
        let h = self.s.get()?;
        let mut b = [0u8; 8];
        let r = unsafe { sys::value_get(h, b.as_mut_ptr(), 8) };
        if !self.s.found("get", r)? {
            return Ok(None);
        }
        if r != 8 {
            return Err(Error::new(format!("value state {:?}: {} bytes is not an int64", self.s.name, r)));
        }
        Ok(Some(i64::from_le_bytes(b)))
    }

    pub fn put(&self, v: &[u8]) -> Result<()> {
        let h = self.s.get()?;
        self.s.status("put", unsafe { sys::value_put(h, v.as_ptr(), v.len() as i32) })
    }

    /// Stores `v` as 8 little-endian bytes.
    pub fn put_i64(&self, v: i64) -> Result<()> {
        self.put(&v.to_le_bytes())
    }

    /// Removes the current key's value.
    pub fn clear(&self) -> Result<()> {
        self.s.clear()
    }
}

/// A list of values per key.
pub struct ListState {
    s: Handle,
    buf: Vec<u8>,
}

impl ListState {
    pub fn new(name: &str) -> Self {
        Self::with_ttl(name, 0)
    }

    pub fn with_ttl(name: &str, ttl_ms: i64) -> Self {
        ListState { s: Handle::new(name, state_kind::LIST, ttl_ms), buf: Vec::new() }
    }

    pub(crate) fn declare(&self) -> Result<i32> {
        self.s.get()
    }

    /// Appends `v` to the current key's list.
    pub fn add(&self, v: &[u8]) -> Result<()> {
        let h = self.s.get()?;
        self.s.status("add", unsafe { sys::list_add(h, v.as_ptr(), v.len() as i32) })
    }

    /// The current key's list, in insertion order (empty when absent).
    pub fn get(&mut self) -> Result<ListIter<'_>> {
        let h = self.s.get()?;
        let r = sys::read_into(&mut self.buf, |p, cap| unsafe { sys::list_get(h, p, cap) });
        if !self.s.found("get", r)? {
            self.buf.clear();
        }
        Ok(ListIter { rest: &self.buf })
    }

    /// Replaces the current key's list.
    pub fn update<'v, I: IntoIterator<Item = &'v [u8]>>(&mut self, values: I) -> Result<()> {
        let h = self.s.get()?;
        self.buf.clear();
        for v in values {
            self.buf.extend_from_slice(&(v.len() as u32).to_le_bytes());
            self.buf.extend_from_slice(v);
        }
        self.s.status("update", unsafe { sys::list_update(h, self.buf.as_ptr(), self.buf.len() as i32) })
    }

    pub fn clear(&self) -> Result<()> {
        self.s.clear()
    }
}

/// Iterator over a list read from the host.
pub struct ListIter<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for ListIter<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        let (v, rest) = split_lv(self.rest)?;
        self.rest = rest;
        Some(v)
    }
}

/// Splits one `u32 length, bytes` item off `b`.
fn split_lv(b: &[u8]) -> Option<(&[u8], &[u8])> {
    let len = b.get(..4)?;
    let n = u32::from_le_bytes([len[0], len[1], len[2], len[3]]) as usize;
    let rest = &b[4..];
    if n > rest.len() {
        return None;
    }
    Some(rest.split_at(n))
}

/// A map from user key to value per key.
pub struct MapState {
    s: Handle,
    buf: Vec<u8>,
}

impl MapState {
    pub fn new(name: &str) -> Self {
        Self::with_ttl(name, 0)
    }

    pub fn with_ttl(name: &str, ttl_ms: i64) -> Self {
        MapState { s: Handle::new(name, state_kind::MAP, ttl_ms), buf: Vec::new() }
    }

    pub(crate) fn declare(&self) -> Result<i32> {
        self.s.get()
    }

    /// The value of `user_key` in the current key's map.
    pub fn get(&mut self, user_key: &[u8]) -> Result<Option<&[u8]>> {
        let h = self.s.get()?;
        let r = sys::read_into(&mut self.buf, |p, cap| unsafe {
            sys::map_get(h, user_key.as_ptr(), user_key.len() as i32, p, cap)
        });
        if self.s.found("get", r)? {
            Ok(Some(&self.buf))
        } else {
            Ok(None)
        }
    }

    pub fn contains(&mut self, user_key: &[u8]) -> Result<bool> {
        Ok(self.get(user_key)?.is_some())
    }

    pub fn put(&self, user_key: &[u8], v: &[u8]) -> Result<()> {
        let h = self.s.get()?;
        self.s.status("put", unsafe {
            sys::map_put(h, user_key.as_ptr(), user_key.len() as i32, v.as_ptr(), v.len() as i32)
        })
    }

    pub fn delete(&self, user_key: &[u8]) -> Result<()> {
        let h = self.s.get()?;
        self.s.status("delete", unsafe { sys::map_delete(h, user_key.as_ptr(), user_key.len() as i32) })
    }

    /// Every entry of the current key's map, sorted by user key.
    pub fn entries(&mut self) -> Result<MapIter<'_>> {
        let h = self.s.get()?;
        let r = sys::read_into(&mut self.buf, |p, cap| unsafe { sys::map_scan(h, p, cap) });
        if !self.s.found("scan", r)? {
            self.buf.clear();
        }
        Ok(MapIter { rest: &self.buf })
    }

    pub fn is_empty(&mut self) -> Result<bool> {
        Ok(self.entries()?.next().is_none())
    }

    pub fn clear(&self) -> Result<()> {
        self.s.clear()
    }
}

/// Iterator over `(user key, value)` pairs read from the host.
pub struct MapIter<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for MapIter<'a> {
    type Item = (&'a [u8], &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        let (k, rest) = split_lv(self.rest)?;
        let (v, rest) = split_lv(rest)?;
        self.rest = rest;
        Some((k, v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_and_map_encodings_decode() {
        let mut b = Vec::new();
        for v in [&b"a"[..], b"", b"ccc"] {
            b.extend_from_slice(&(v.len() as u32).to_le_bytes());
            b.extend_from_slice(v);
        }
        let got: Vec<&[u8]> = ListIter { rest: &b }.collect();
        assert_eq!(got, vec![&b"a"[..], b"", b"ccc"]);
        let got: Vec<(&[u8], &[u8])> = MapIter { rest: &b }.collect();
        assert_eq!(got, vec![(&b"a"[..], &b""[..])]); // the odd item is ignored
                                                      // Truncated input stops iteration instead of panicking.
        assert_eq!(ListIter { rest: &b[..b.len() - 1] }.count(), 2);
        assert_eq!(ListIter { rest: &[1, 0] }.count(), 0);
    }
}
