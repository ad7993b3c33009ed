//! A small JSON (RFC 8259) reader: validation, member lookup by path and
//! string unescaping, over borrowed bytes and without allocating in steady
//! state.
//!
//! It exists so that operators (and the SDK's configuration parsing) need no
//! external crate. It never builds a tree: [`Scanner::validate`] checks a whole
//! document in one pass with an explicit stack (deep nesting cannot overflow
//! the guest's call stack), and [`Scanner::find`] walks a path through nested
//! objects, skipping what it does not need.
//!
//! Strictness, so that every implementation of an operator agrees on what is
//! valid: whitespace is space, tab, LF and CR only; strings may not contain
//! raw control characters (< 0x20); escapes are the eight short ones and
//! `\uXXXX`, where a high surrogate must be followed by an escaped low
//! surrogate and a lone low surrogate is invalid; numbers follow the RFC
//! grammar exactly; there is no nesting limit. Bytes ≥ 0x80 inside strings are
//! passed through unchanged (they are not checked to be valid UTF-8).

use core::fmt;

/// What a [`Value`] is, from its first byte.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Object,
    Array,
    String,
    Number,
    Bool,
    Null,
}

/// A JSON value inside a validated document: its exact bytes, without
/// surrounding whitespace (strings include their quotes).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Value<'a> {
    raw: &'a [u8],
}

impl<'a> Value<'a> {
    /// The value's bytes exactly as they appear in the document.
    pub fn raw(&self) -> &'a [u8] {
        self.raw
    }

    pub fn kind(&self) -> Kind {
        match self.raw.first() {
            Some(b'{') => Kind::Object,
            Some(b'[') => Kind::Array,
            Some(b'"') => Kind::String,
            Some(b't') | Some(b'f') => Kind::Bool,
            Some(b'n') => Kind::Null,
            _ => Kind::Number,
        }
    }

    /// Appends the unescaped contents of a string value to `out` (UTF-8).
    /// Returns false, appending nothing, when the value is not a valid string.
    pub fn unescape_into(&self, out: &mut Vec<u8>) -> bool {
        match self.raw {
            [b'"', inner @ .., b'"'] => {
                let start = out.len();
                if unescape(inner, out) {
                    true
                } else {
                    out.truncate(start);
                    false
                }
            }
            _ => false,
        }
    }

    /// The value as an `i64` when it is a JSON number written as a plain
    /// integer (no fraction, no exponent) that fits.
    pub fn as_i64(&self) -> Option<i64> {
        crate::num::parse_i64(self.raw)
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self.raw {
            b"true" => Some(true),
            b"false" => Some(false),
            _ => None,
        }
    }

    pub fn is_null(&self) -> bool {
        self.raw == b"null"
    }
}

impl fmt::Debug for Value<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Value({})", String::from_utf8_lossy(self.raw))
    }
}

/// Result of [`Scanner::find`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lookup<'a> {
    Found(Value<'a>),
    /// An object on the path has no member of that name.
    Missing,
    /// A path component was applied to something that is not an object.
    NotObject,
}

/// Reusable scanning state (a nesting stack and a scratch buffer): keep one
/// per operator so that scanning allocates nothing once warm.
pub struct Scanner {
    stack: Vec<u8>,
    scratch: Vec<u8>,
    max_depth: usize,
}

impl Default for Scanner {
    fn default() -> Self {
        Scanner { stack: Vec::new(), scratch: Vec::new(), max_depth: usize::MAX }
    }
}

impl Scanner {
    /// A scanner without a nesting limit.
    pub fn new() -> Self {
        Self::default()
    }

    /// A scanner for which documents that nest more than `depth` arrays and
    /// objects are invalid (`[[1]]` has depth 2, a scalar depth 0).
    pub fn with_max_depth(depth: usize) -> Self {
        Scanner { max_depth: depth, ..Self::default() }
    }

    /// Reports whether `doc` is exactly one JSON value, optionally surrounded
    /// by whitespace.
    pub fn validate(&mut self, doc: &[u8]) -> bool {
        self.stack.clear();
        let b = doc;
        let mut i = ws(b, 0);
        'value: loop {
            // A value starts at i.
            let c = b.get(i);
            if let Some(b'{' | b'[') = c {
                if self.stack.len() >= self.max_depth {
                    return false;
                }
            }
            match c {
                Some(b'{') => {
                    i = ws(b, i + 1);
                    if b.get(i) == Some(&b'}') {
                        i += 1;
                    } else {
                        self.stack.push(b'{');
                        match member_name(b, i) {
                            Some(j) => i = j,
                            None => return false,
                        }
                        continue 'value;
                    }
                }
                Some(b'[') => {
                    i = ws(b, i + 1);
                    if b.get(i) == Some(&b']') {
                        i += 1;
                    } else {
                        self.stack.push(b'[');
                        continue 'value;
                    }
                }
                Some(b'"') => match string_end(b, i) {
                    Some(j) => i = j,
                    None => return false,
                },
                Some(b't') => match literal(b, i, b"true") {
                    Some(j) => i = j,
                    None => return false,
                },
                Some(b'f') => match literal(b, i, b"false") {
                    Some(j) => i = j,
                    None => return false,
                },
                Some(b'n') => match literal(b, i, b"null") {
                    Some(j) => i = j,
                    None => return false,
                },
                Some(b'-') | Some(b'0'..=b'9') => match number_end(b, i) {
                    Some(j) => i = j,
                    None => return false,
                },
                _ => return false,
            }
            // A value ended at i: close containers until another value starts.
            loop {
                i = ws(b, i);
                match self.stack.last() {
                    None => return i == b.len(),
                    Some(b'{') => match b.get(i) {
                        Some(b',') => {
                            match member_name(b, ws(b, i + 1)) {
                                Some(j) => i = j,
                                None => return false,
                            }
                            continue 'value;
                        }
                        Some(b'}') => {
                            self.stack.pop();
                            i += 1;
                        }
                        _ => return false,
                    },
                    Some(_) => match b.get(i) {
                        Some(b',') => {
                            i = ws(b, i + 1);
                            continue 'value;
                        }
                        Some(b']') => {
                            self.stack.pop();
                            i += 1;
                        }
                        _ => return false,
                    },
                }
            }
        }
    }

    /// Walks `path` (member names, compared after unescaping; the first
    /// matching member wins) through nested objects of `doc`.
    ///
    /// `doc` must be valid ([`Scanner::validate`]); on invalid input the
    /// result is unspecified but this never panics.
    pub fn find<'a, 'p, P>(&mut self, doc: &'a [u8], path: P) -> Lookup<'a>
    where
        P: IntoIterator<Item = &'p [u8]>,
    {
        let b = doc;
        let mut i = ws(b, 0);
        for name in path {
            if b.get(i) != Some(&b'{') {
                return Lookup::NotObject;
            }
            i = ws(b, i + 1);
            if b.get(i) == Some(&b'}') {
                return Lookup::Missing;
            }
            loop {
                if b.get(i) != Some(&b'"') {
                    return Lookup::NotObject;
                }
                let kend = match string_end(b, i) {
                    Some(j) => j,
                    None => return Lookup::NotObject,
                };
                let matched = self.name_equals(&b[i + 1..kend - 1], name);
                i = ws(b, kend);
                if b.get(i) != Some(&b':') {
                    return Lookup::NotObject;
                }
                i = ws(b, i + 1);
                if matched {
                    break;
                }
                i = ws(b, skip_value(b, i));
                match b.get(i) {
                    Some(b',') => i = ws(b, i + 1),
                    _ => return Lookup::Missing,
                }
            }
        }
        let end = skip_value(b, i);
        match b.get(i..end) {
            Some(raw) if !raw.is_empty() => Lookup::Found(Value { raw }),
            _ => Lookup::NotObject,
        }
    }

    fn name_equals(&mut self, raw: &[u8], name: &[u8]) -> bool {
        if !raw.contains(&b'\\') {
            return raw == name;
        }
        self.scratch.clear();
        unescape(raw, &mut self.scratch) && self.scratch == name
    }
}

/// Reports whether `doc` is one valid JSON document (allocates only for
/// nested containers; see [`Scanner`] to reuse memory).
pub fn validate(doc: &[u8]) -> bool {
    Scanner::new().validate(doc)
}

#[inline]
fn ws(b: &[u8], mut i: usize) -> usize {
    while let Some(b' ' | b'\t' | b'\n' | b'\r') = b.get(i) {
        i += 1;
    }
    i
}

/// A member name and its colon starting at i; returns where the value starts.
fn member_name(b: &[u8], i: usize) -> Option<usize> {
    if b.get(i) != Some(&b'"') {
        return None;
    }
    let j = ws(b, string_end(b, i)?);
    if b.get(j) != Some(&b':') {
        return None;
    }
    Some(ws(b, j + 1))
}

fn literal(b: &[u8], i: usize, lit: &[u8]) -> Option<usize> {
    if b.get(i..i + lit.len())? == lit {
        Some(i + lit.len())
    } else {
        None
    }
}

fn digits_end(b: &[u8], mut i: usize) -> usize {
    while let Some(b'0'..=b'9') = b.get(i) {
        i += 1;
    }
    i
}

fn number_end(b: &[u8], mut i: usize) -> Option<usize> {
    if b.get(i) == Some(&b'-') {
        i += 1;
    }
    match b.get(i) {
        Some(b'0') => i += 1,
        Some(b'1'..=b'9') => i = digits_end(b, i + 1),
        _ => return None,
    }
    if b.get(i) == Some(&b'.') {
        let j = digits_end(b, i + 1);
        if j == i + 1 {
            return None;
        }
        i = j;
    }
    if let Some(b'e' | b'E') = b.get(i) {
        i += 1;
        if let Some(b'+' | b'-') = b.get(i) {
            i += 1;
        }
        let j = digits_end(b, i);
        if j == i {
            return None;
        }
        i = j;
    }
    Some(i)
}

fn hex4(b: &[u8], i: usize) -> Option<u32> {
    let h = b.get(i..i + 4)?;
    let mut v = 0u32;
    for &c in h {
        let d = match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'f' => c - b'a' + 10,
            b'A'..=b'F' => c - b'A' + 10,
            _ => return None,
        };
        v = v << 4 | d as u32;
    }
    Some(v)
}

/// Decodes the escape starting at b[i] (the backslash). Returns the code
/// point (or byte, for the short escapes) and the index after the escape.
fn escape(b: &[u8], i: usize) -> Option<(u32, usize)> {
    let c = match *b.get(i + 1)? {
        b'"' => b'"',
        b'\\' => b'\\',
        b'/' => b'/',
        b'b' => 0x08,
        b'f' => 0x0c,
        b'n' => b'\n',
        b'r' => b'\r',
        b't' => b'\t',
        b'u' => {
            let hi = hex4(b, i + 2)?;
            return match hi {
                0xD800..=0xDBFF => {
                    if b.get(i + 6..i + 8)? != b"\\u" {
                        return None;
                    }
                    let lo = hex4(b, i + 8)?;
                    if !(0xDC00..=0xDFFF).contains(&lo) {
                        return None;
                    }
                    Some((0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00), i + 12))
                }
                0xDC00..=0xDFFF => None,
                _ => Some((hi, i + 6)),
            };
        }
        _ => return None,
    };
    Some((c as u32, i + 2))
}

/// The index after the closing quote of the string whose opening quote is at
/// b[i], or None when the string is invalid or unterminated.
fn string_end(b: &[u8], i: usize) -> Option<usize> {
    let mut j = i + 1;
    loop {
        match *b.get(j)? {
            b'"' => return Some(j + 1),
            b'\\' => j = escape(b, j)?.1,
            c if c < 0x20 => return None,
            _ => j += 1,
        }
    }
}

/// The end of the value starting at b[i] in a valid document.
fn skip_value(b: &[u8], i: usize) -> usize {
    match b.get(i) {
        Some(b'"') => string_end(b, i).unwrap_or(b.len()),
        Some(b'{') | Some(b'[') => {
            let mut depth = 0usize;
            let mut j = i;
            while let Some(&c) = b.get(j) {
                match c {
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return j + 1;
                        }
                    }
                    b'"' => {
                        j = string_end(b, j).unwrap_or(b.len());
                        continue;
                    }
                    _ => {}
                }
                j += 1;
            }
            b.len()
        }
        Some(_) => {
            let mut j = i;
            while let Some(&c) = b.get(j) {
                if matches!(c, b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r') {
                    break;
                }
                j += 1;
            }
            j
        }
        None => i,
    }
}

/// Appends the unescaped form of `inner` (a string's contents between the
/// quotes) to `out`; false when an escape is invalid.
pub fn unescape(inner: &[u8], out: &mut Vec<u8>) -> bool {
    let mut i = 0;
    while i < inner.len() {
        // Copy the run up to the next backslash in one go.
        let run = inner[i..].iter().position(|&c| c == b'\\').unwrap_or(inner.len() - i);
        out.extend_from_slice(&inner[i..i + run]);
        i += run;
        if i == inner.len() {
            break;
        }
        match escape(inner, i) {
            Some((cp, next)) => {
                push_utf8(out, cp);
                i = next;
            }
            None => return false,
        }
    }
    true
}

fn push_utf8(out: &mut Vec<u8>, cp: u32) {
    match char::from_u32(cp) {
        Some(c) => {
            let mut buf = [0u8; 4];
            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
        }
        None => out.extend_from_slice("\u{FFFD}".as_bytes()), // unreachable: surrogates rejected
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::Rng;

    #[test]
    fn validate_table() {
        let valid: &[&str] = &[
            "0",
            "-0",
            "1.5",
            "-1.5e10",
            "1E+2",
            "1e-2",
            "true",
            "false",
            "null",
            r#""""#,
            r#""a\"b\\c\/d\b\f\n\r\t""#,
            r#""\u00e9\uD83D\uDE00""#,
            "\"é\"",
            "{}",
            "[]",
            " { } ",
            "\t[\r\n]\n",
            r#"{"a":1}"#,
            r#"{"a":[1,{"b":null}],"c":"d"}"#,
            r#"[1, 2 , 3]"#,
            r#"{"a" : {"b" : {"c" : []}}}"#,
            "[[[[[[[[[[]]]]]]]]]]",
            r#"{"a":1,"a":2}"#,
        ];
        let invalid: &[&str] = &[
            "",
            " ",
            "01",
            "-",
            "1.",
            ".1",
            "1e",
            "1e+",
            "+1",
            "NaN",
            "tru",
            "nul",
            "True",
            "\"abc",
            "\"\\x\"",
            "\"\\u12\"",
            "\"\\uD800\"",
            "\"\\uDC00\"",
            "\"\\uD800\\u0041\"",
            "\"a\u{1}b\"",
            "\"tab\there\"",
            "{",
            "}",
            "[",
            "]",
            "{]",
            "[}",
            "[1,]",
            "[,1]",
            "{\"a\"}",
            "{\"a\":}",
            "{\"a\":1,}",
            "{,}",
            "{1:2}",
            "{\"a\" 1}",
            "[1 2]",
            "1 2",
            "{} {}",
            "[]]",
            "{\"a\":1}}",
            "\u{a0}1",
            "'a'",
            "[1]x",
            "nulll",
        ];
        let mut s = Scanner::new();
        for doc in valid {
            assert!(s.validate(doc.as_bytes()), "should be valid: {:?}", doc);
        }
        for doc in invalid {
            assert!(!s.validate(doc.as_bytes()), "should be invalid: {:?}", doc);
        }
    }

    #[test]
    fn max_depth() {
        let mut s = Scanner::with_max_depth(3);
        for (doc, ok) in [
            ("1", true),
            ("[]", true),
            ("[[[]]]", true),
            ("[[[[]]]]", false),
            (r#"{"a":{"b":[1]}}"#, true),
            (r#"{"a":{"b":[{}]}}"#, false),
            (r#"[[[1]],[[2]],{"a":[3]}]"#, true),
            (r#"[[[1]],[[[2]]]]"#, false),
        ] {
            assert_eq!(s.validate(doc.as_bytes()), ok, "{}", doc);
        }
        assert!(!Scanner::with_max_depth(0).validate(b"[]"));
        assert!(Scanner::with_max_depth(0).validate(b"\"s\""));
    }

    #[test]
    fn deep_nesting_does_not_overflow() {
        let n = 200_000;
        let mut doc = "[".repeat(n);
        doc.push_str(&"]".repeat(n));
        assert!(validate(doc.as_bytes()));
        doc.pop();
        assert!(!validate(doc.as_bytes()));
    }

    #[test]
    fn find_table() {
        let doc = br#" {"user": {"id": "a\u00e9", "n\u0061me": "x", "tags": ["}", "]"]}, "n": 1 , "u\\": {"d": 2},
            "user": {"id": "second"}, "s": "str", "o": {} } "#;
        let mut s = Scanner::new();
        assert!(s.validate(doc));
        let cases: &[(&str, Result<&str, Lookup>)] = &[
            ("user.id", Ok(r#""a\u00e9""#)),
            ("user.name", Ok(r#""x""#)),
            ("user.tags", Ok(r#"["}", "]"]"#)),
            ("n", Ok("1")),
            ("u\\.d", Ok("2")),
            ("o", Ok("{}")),
            ("user", Ok(r#"{"id": "a\u00e9", "n\u0061me": "x", "tags": ["}", "]"]}"#)),
            ("missing", Err(Lookup::Missing)),
            ("user.missing", Err(Lookup::Missing)),
            ("o.x", Err(Lookup::Missing)),
            ("n.x", Err(Lookup::NotObject)),
            ("s.x", Err(Lookup::NotObject)),
            ("user.tags.x", Err(Lookup::NotObject)),
        ];
        for (path, want) in cases {
            let got = s.find(doc, path.split('.').map(str::as_bytes));
            match (got, want) {
                (Lookup::Found(v), Ok(raw)) => assert_eq!(v.raw(), raw.as_bytes(), "{}", path),
                (got, Err(w)) => assert_eq!(got, *w, "{}", path),
                (got, Ok(_)) => panic!("{}: got {:?}", path, got),
            }
        }
        // A path on a non-object document.
        assert_eq!(s.find(b"[1]", [&b"a"[..]]), Lookup::NotObject);
        // The empty path is the document itself.
        assert_eq!(s.find(b" 7 ", core::iter::empty()), Lookup::Found(Value { raw: b"7" }));
    }

    #[test]
    fn unescape_table() {
        let cases: &[(&str, &str)] = &[
            (r#""""#, ""),
            (r#""plain""#, "plain"),
            (r#""a\u00e9""#, "aé"),
            (r#""\uD83D\uDE00!""#, "😀!"),
            (r#""\"\\\/\b\f\n\r\t""#, "\"\\/\u{8}\u{c}\n\r\t"),
            (r#""\u0000""#, "\u{0}"),
            ("\"wörld\"", "wörld"),
        ];
        for (raw, want) in cases {
            let mut out = b"prefix".to_vec();
            assert!(Value { raw: raw.as_bytes() }.unescape_into(&mut out), "{}", raw);
            assert_eq!(&out[6..], want.as_bytes(), "{}", raw);
        }
        let mut out = Vec::new();
        assert!(!Value { raw: b"1" }.unescape_into(&mut out));
        assert!(!Value { raw: b"\"" }.unescape_into(&mut out));
        assert!(!Value { raw: br#""\uD800""# }.unescape_into(&mut out));
        assert!(out.is_empty());
    }

    /// Fuzz-style: mutated documents never panic, and find on anything that
    /// validates returns a value whose bytes lie inside the document.
    #[test]
    fn random_documents_never_panic() {
        let seeds: &[&[u8]] =
            &[br#"{"a": {"b": [1, 2.5e3, "x\u00e9y", true, null]}, "c": "\"}"}"#, br#"[{"a":1},{"a":{"a":{}}}]"#];
        let alphabet = b"{}[]\",:\\u0123456789abcdefDEtrnl.-+eE \t\n";
        let mut rng = Rng::new(7);
        let mut s = Scanner::new();
        for round in 0..50_000 {
            let mut doc = seeds[round % seeds.len()].to_vec();
            for _ in 0..1 + rng.below(3) {
                let i = rng.below(doc.len() as u64 + 1) as usize;
                let c = alphabet[rng.below(alphabet.len() as u64) as usize];
                match rng.below(3) {
                    0 if i < doc.len() => doc[i] = c,
                    1 if i < doc.len() => {
                        doc.remove(i);
                    }
                    _ => doc.insert(i, c),
                }
            }
            let ok = s.validate(&doc);
            for path in [&["a"][..], &["a", "b"], &["c"], &["a", "a", "a"]] {
                if let Lookup::Found(v) = s.find(&doc, path.iter().map(|p| p.as_bytes())) {
                    let range = doc.as_ptr() as usize..=doc.as_ptr() as usize + doc.len();
                    assert!(range.contains(&(v.raw().as_ptr() as usize + v.raw().len())));
                    if ok {
                        assert!(validate(v.raw()), "found value of a valid doc must be valid: {:?}", v);
                        let mut out = Vec::new();
                        assert_eq!(v.unescape_into(&mut out), v.kind() == Kind::String);
                    }
                }
            }
        }
    }
}
