//! Batch entries (docs/abi.md §4): zero-copy decoding of the host's input and
//! encoding of output entries.
//!
//! Every entry is a 24-byte little-endian header (kind, flags, header count,
//! key length, value length, extra, timestamp) followed by the key, the value
//! and `header_count` record headers, each `u32 key length, u32 value length,
//! key, value`. Nothing is padded.
//!
//! Decoding validates every length against the buffer before handing out a
//! view, so a malformed batch is a [`DecodeError`], never a panic or an
//! out-of-bounds read. Views borrow the input buffer: nothing is copied.

use core::fmt;

use crate::abi::{entry_header as off, ENTRY_HEADER_SIZE, HEADER_PREFIX_SIZE};

/// Bytes of an entry's fixed header.
pub const HEADER_SIZE: usize = ENTRY_HEADER_SIZE as usize;
const PREFIX: usize = HEADER_PREFIX_SIZE as usize;

/// One decoded entry; every slice borrows the buffer it was decoded from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry<'a> {
    /// Entry kind (`abi::entry_kind`).
    pub kind: u8,
    /// Reserved flags, 0 in ABI v1.
    pub flags: u8,
    pub key: &'a [u8],
    pub value: &'a [u8],
    pub headers: Headers<'a>,
    /// Kind-specific: time domain, element count, tag handle or entry index.
    pub extra: u32,
    pub timestamp: i64,
}

/// The record headers of an entry, validated at decode time. Iterating yields
/// `(key, value)` pairs in order.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Headers<'a> {
    raw: &'a [u8],
    count: u16,
}

impl<'a> Headers<'a> {
    /// No headers.
    pub const EMPTY: Headers<'static> = Headers { raw: &[], count: 0 };

    /// Number of headers.
    pub fn len(&self) -> usize {
        self.count as usize
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The encoded headers, exactly as they appear in the entry.
    pub fn raw(&self) -> &'a [u8] {
        self.raw
    }

    /// The value of the first header named `key`.
    pub fn get(&self, key: &[u8]) -> Option<&'a [u8]> {
        self.into_iter().find(|(k, _)| *k == key).map(|(_, v)| v)
    }
}

impl fmt::Debug for Headers<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.into_iter()).finish()
    }
}

impl<'a> IntoIterator for Headers<'a> {
    type Item = (&'a [u8], &'a [u8]);
    type IntoIter = HeaderIter<'a>;
    fn into_iter(self) -> HeaderIter<'a> {
        HeaderIter { rest: self.raw, left: self.count }
    }
}

/// Iterator over the headers of an entry.
pub struct HeaderIter<'a> {
    rest: &'a [u8],
    left: u16,
}

impl<'a> Iterator for HeaderIter<'a> {
    type Item = (&'a [u8], &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        if self.left == 0 {
            return None;
        }
        // The headers were validated when the entry was decoded; the checked
        // accessors below can only fail on a Headers built by hand.
        let (k, v, rest) = split_header(self.rest)?;
        self.rest = rest;
        self.left -= 1;
        Some((k, v))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left as usize, Some(self.left as usize))
    }
}

fn split_header(b: &[u8]) -> Option<(&[u8], &[u8], &[u8])> {
    let klen = read_u32(b, 0)? as usize;
    let vlen = read_u32(b, 4)? as usize;
    let rest = b.get(PREFIX..)?;
    if klen > rest.len() || vlen > rest.len() - klen {
        return None;
    }
    let (k, rest) = rest.split_at(klen);
    let (v, rest) = rest.split_at(vlen);
    Some((k, v, rest))
}

fn read_u32(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
}

/// Why a batch could not be decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DecodeError {
    /// Index of the entry that failed.
    pub entry: u32,
    /// Byte offset of that entry in the buffer.
    pub offset: usize,
    pub reason: &'static str,
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "decoding batch entry {} at byte {}: {}", self.entry, self.offset, self.reason)
    }
}

impl std::error::Error for DecodeError {}

/// Decodes the `count` entries packed in `buf`.
///
/// It yields `Err` once (then stops) if an entry runs past the buffer, and
/// also when the buffer holds more or fewer entries than `count`.
#[derive(Clone)]
pub struct Entries<'a> {
    buf: &'a [u8],
    off: usize,
    index: u32,
    count: u32,
}

impl<'a> Entries<'a> {
    pub fn new(buf: &'a [u8], count: u32) -> Self {
        Entries { buf, off: 0, index: 0, count }
    }

    /// Index the next entry will have.
    pub fn index(&self) -> u32 {
        self.index
    }

    fn fail(&mut self, reason: &'static str) -> Option<Result<Entry<'a>, DecodeError>> {
        let e = DecodeError { entry: self.index, offset: self.off, reason };
        // Stop iterating after the first error.
        self.index = self.count;
        self.off = self.buf.len() + 1;
        Some(Err(e))
    }
}

impl<'a> Iterator for Entries<'a> {
    type Item = Result<Entry<'a>, DecodeError>;

    // Always inlined: returned through memory, an entry costs a dozen stores
    // and loads more per record on wazero.
    #[inline(always)]
    fn next(&mut self) -> Option<Self::Item> {
        if self.index >= self.count {
            if self.off < self.buf.len() {
                return self.fail("bytes left after the last entry");
            }
            return None;
        }
        let rest = match self.buf.get(self.off..) {
            Some(r) => r,
            None => return None, // after a failure
        };
        let h: &[u8; HEADER_SIZE] = match rest.get(..HEADER_SIZE) {
            Some(h) => match h.try_into() {
                Ok(h) => h,
                Err(_) => return self.fail("entry header runs past the batch"),
            },
            None => return self.fail("entry header runs past the batch"),
        };
        let kind = h[off::KIND];
        let flags = h[off::FLAGS];
        let hcount = u16::from_le_bytes([h[off::HEADER_COUNT], h[off::HEADER_COUNT + 1]]);
        let klen = le32(h, off::KEY_LEN) as usize;
        let vlen = le32(h, off::VALUE_LEN) as usize;
        let extra = le32(h, off::EXTRA);
        let timestamp = i64::from_le_bytes([
            h[off::TIMESTAMP],
            h[off::TIMESTAMP + 1],
            h[off::TIMESTAMP + 2],
            h[off::TIMESTAMP + 3],
            h[off::TIMESTAMP + 4],
            h[off::TIMESTAMP + 5],
            h[off::TIMESTAMP + 6],
            h[off::TIMESTAMP + 7],
        ]);
        let body = &rest[HEADER_SIZE..];
        if klen > body.len() || vlen > body.len() - klen {
            return self.fail("key or value runs past the batch");
        }
        let (key, body) = body.split_at(klen);
        let (value, body) = body.split_at(vlen);
        let mut hdr_rest = body;
        for _ in 0..hcount {
            match split_header(hdr_rest) {
                Some((_, _, r)) => hdr_rest = r,
                None => return self.fail("record header runs past the batch"),
            }
        }
        let hlen = body.len() - hdr_rest.len();
        let headers = Headers { raw: &body[..hlen], count: hcount };
        self.off += HEADER_SIZE + klen + vlen + hlen;
        self.index += 1;
        Some(Ok(Entry { kind, flags, key, value, headers, extra, timestamp }))
    }
}

/// Decodes every entry of `buf`, however many there are (the host side of a
/// guest's output has no count).
pub fn decode_all(buf: &[u8]) -> Result<Vec<Entry<'_>>, DecodeError> {
    let mut out = Vec::new();
    let mut it = Entries::new(buf, u32::MAX);
    while it.off < buf.len() {
        match it.next() {
            Some(Ok(e)) => out.push(e),
            Some(Err(e)) => return Err(e),
            None => break,
        }
    }
    Ok(out)
}

#[inline(always)]
fn le32(h: &[u8; HEADER_SIZE], at: usize) -> u32 {
    u32::from_le_bytes([h[at], h[at + 1], h[at + 2], h[at + 3]])
}

/// The fixed header of an entry, encoded.
#[inline]
pub fn encode_header(
    kind: u8,
    header_count: u16,
    key_len: u32,
    value_len: u32,
    extra: u32,
    timestamp: i64,
) -> [u8; HEADER_SIZE] {
    let mut h = [0u8; HEADER_SIZE];
    h[off::KIND] = kind;
    h[off::HEADER_COUNT..off::HEADER_COUNT + 2].copy_from_slice(&header_count.to_le_bytes());
    h[off::KEY_LEN..off::KEY_LEN + 4].copy_from_slice(&key_len.to_le_bytes());
    h[off::VALUE_LEN..off::VALUE_LEN + 4].copy_from_slice(&value_len.to_le_bytes());
    h[off::EXTRA..off::EXTRA + 4].copy_from_slice(&extra.to_le_bytes());
    h[off::TIMESTAMP..off::TIMESTAMP + 8].copy_from_slice(&timestamp.to_le_bytes());
    h
}

/// Bytes an entry with these parts takes (`headers` as encoded, e.g.
/// [`Headers::raw`]).
#[inline]
pub fn encoded_len(key: &[u8], value: &[u8], headers: &[u8]) -> usize {
    HEADER_SIZE + key.len() + value.len() + headers.len()
}

/// Appends one entry to `buf`. `headers` must be `header_count` headers
/// already encoded (use [`Headers::raw`], or [`encode_headers`]).
///
/// Lengths beyond `u32::MAX` cannot be represented; the caller keeps entries
/// smaller than the 4 GiB a 32-bit guest can address anyway.
pub fn append_entry(
    buf: &mut Vec<u8>,
    kind: u8,
    key: &[u8],
    value: &[u8],
    headers: Headers<'_>,
    extra: u32,
    timestamp: i64,
) {
    buf.reserve(encoded_len(key, value, headers.raw));
    buf.extend_from_slice(&encode_header(kind, headers.count, key.len() as u32, value.len() as u32, extra, timestamp));
    buf.extend_from_slice(key);
    buf.extend_from_slice(value);
    buf.extend_from_slice(headers.raw);
}

/// Encodes `(key, value)` pairs as record headers into `buf` and returns a
/// [`Headers`] view of them. At most 65535 headers are encoded.
pub fn encode_headers<'b>(buf: &'b mut Vec<u8>, pairs: &[(&[u8], &[u8])]) -> Headers<'b> {
    buf.clear();
    let n = pairs.len().min(u16::MAX as usize);
    for (k, v) in &pairs[..n] {
        buf.extend_from_slice(&(k.len() as u32).to_le_bytes());
        buf.extend_from_slice(&(v.len() as u32).to_le_bytes());
        buf.extend_from_slice(k);
        buf.extend_from_slice(v);
    }
    Headers { raw: buf, count: n as u16 }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::abi::entry_kind;
    use crate::testutil::Rng;

    fn batch(entries: &[(u8, &[u8], &[u8], &[(&[u8], &[u8])], u32, i64)]) -> Vec<u8> {
        let mut buf = Vec::new();
        let mut hb = Vec::new();
        for (kind, k, v, hs, extra, ts) in entries {
            let h = encode_headers(&mut hb, hs);
            append_entry(&mut buf, *kind, k, v, h, *extra, *ts);
        }
        buf
    }

    #[test]
    fn layout_matches_the_abi_document() {
        // docs/abi.md §4, byte by byte.
        let buf = batch(&[(entry_kind::DATA, b"k", b"vv", &[(b"h", b"x")], 7, -2)]);
        let want: Vec<u8> = [
            &[1u8, 0, 1, 0][..],    // kind, flags, header_count
            &[1, 0, 0, 0],          // key_len
            &[2, 0, 0, 0],          // value_len
            &[7, 0, 0, 0],          // extra
            &(-2i64).to_le_bytes(), // timestamp
            b"k",
            b"vv",
            &[1, 0, 0, 0, 1, 0, 0, 0], // header prefix
            b"h",
            b"x",
        ]
        .concat();
        assert_eq!(buf, want);
    }

    #[test]
    fn round_trip() {
        let input: &[(u8, &[u8], &[u8], &[(&[u8], &[u8])], u32, i64)] = &[
            (entry_kind::DATA, b"", b"", &[], 0, i64::MIN),
            (entry_kind::DATA, b"key", b"value", &[], 0, 1_700_000_000_000),
            (entry_kind::TIMER, b"acct", b"", &[], 1, 60_000),
            (entry_kind::DATA, b"k", b"v", &[(b"a", b"1"), (b"", b""), (b"b", b"22")], 0, 5),
        ];
        let buf = batch(input);
        let got: Vec<Entry> = Entries::new(&buf, input.len() as u32).map(|e| e.unwrap()).collect();
        assert_eq!(got.len(), input.len());
        for (e, (kind, k, v, hs, extra, ts)) in got.iter().zip(input) {
            assert_eq!((e.kind, e.key, e.value, e.extra, e.timestamp), (*kind, *k, *v, *extra, *ts));
            let h: Vec<(&[u8], &[u8])> = e.headers.into_iter().collect();
            assert_eq!(&h[..], *hs);
        }
        assert_eq!(got[3].headers.get(b"b"), Some(&b"22"[..]));
        assert_eq!(got[3].headers.get(b"c"), None);
    }

    #[test]
    fn malformed_batches_are_errors() {
        let good = batch(&[
            (entry_kind::DATA, b"key", b"value", &[(b"h", b"v")], 0, 1),
            (entry_kind::DATA, b"k2", b"v2", &[], 0, 2),
        ]);
        let first_len = HEADER_SIZE + 3 + 5 + 8 + 2;
        let cases: Vec<(&str, Vec<u8>, u32, u32, &str)> = vec![
            ("count too high", good.clone(), 3, 2, "entry header runs past the batch"),
            ("count too low", good.clone(), 1, 1, "bytes left after the last entry"),
            ("truncated header", good[..first_len + 10].to_vec(), 2, 1, "entry header runs past the batch"),
            ("truncated value", good[..good.len() - 1].to_vec(), 2, 1, "key or value runs past the batch"),
            ("truncated record header", good[..first_len - 1].to_vec(), 1, 0, "record header runs past the batch"),
            (
                "huge key length",
                {
                    let mut b = good.clone();
                    b[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
                    b
                },
                2,
                0,
                "key or value runs past the batch",
            ),
            (
                "huge header key length",
                {
                    let mut b = good.clone();
                    b[HEADER_SIZE + 8..HEADER_SIZE + 12].copy_from_slice(&u32::MAX.to_le_bytes());
                    b
                },
                2,
                0,
                "record header runs past the batch",
            ),
        ];
        for (name, buf, count, ok_entries, reason) in cases {
            let mut it = Entries::new(&buf, count);
            for i in 0..ok_entries {
                assert!(matches!(it.next(), Some(Ok(_))), "{}: entry {} should decode", name, i);
            }
            match it.next() {
                Some(Err(e)) => {
                    assert_eq!(e.reason, reason, "{}", name);
                    assert_eq!(e.entry, ok_entries, "{}", name);
                }
                other => panic!("{}: want an error, got {:?}", name, other),
            }
            assert!(it.next().is_none(), "{}: iteration must stop after an error", name);
        }
    }

    /// Fuzz-style: random and mutated batches never panic, and every view
    /// handed out lies inside the buffer.
    #[test]
    fn random_bytes_never_panic() {
        let seed = batch(&[
            (entry_kind::DATA, b"key", b"value", &[(b"h", b"v"), (b"i", b"w")], 0, 1),
            (entry_kind::TIMER, b"k2", b"", &[], 1, 2),
        ]);
        let mut rng = Rng::new(0x5eed);
        for round in 0..20_000 {
            let mut buf =
                if round % 2 == 0 { seed.clone() } else { (0..rng.below(120)).map(|_| rng.next() as u8).collect() };
            for _ in 0..rng.below(4) {
                if !buf.is_empty() {
                    let i = rng.below(buf.len() as u64) as usize;
                    buf[i] = match rng.below(3) {
                        0 => 0xff,
                        1 => 0,
                        _ => rng.next() as u8,
                    };
                }
            }
            let count = rng.below(4) as u32;
            let range = buf.as_ptr() as usize..buf.as_ptr() as usize + buf.len() + 1;
            for e in Entries::new(&buf, count) {
                let e = match e {
                    Ok(e) => e,
                    Err(_) => break,
                };
                for s in [e.key, e.value, e.headers.raw()] {
                    assert!(range.contains(&(s.as_ptr() as usize)) || s.is_empty());
                    assert!(range.contains(&(s.as_ptr() as usize + s.len())) || s.is_empty());
                }
                assert_eq!(e.headers.into_iter().count(), e.headers.len());
            }
        }
    }
}
