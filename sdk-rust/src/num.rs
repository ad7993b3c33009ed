//! Strict decimal integers, parsed and printed without allocating.
//!
//! The reference plugins exchange numbers as ASCII decimal text. "Decimal
//! integer" means exactly: an optional `-` followed by 1 to 19 ASCII digits
//! whose value fits in an `i64`, and nothing else (no `+`, no spaces, no
//! underscores). [`parse_i64`] accepts exactly that language, so a Go and a
//! Rust operator agree on which inputs are malformed.

/// The most bytes [`format_i64`] writes (`-9223372036854775808`).
pub const MAX_I64_LEN: usize = 20;

/// Parses a strict decimal integer (see the module documentation).
///
/// Returns `None` for anything else, including values outside the `i64`
/// range and more than 19 digits (even with leading zeros).
pub fn parse_i64(b: &[u8]) -> Option<i64> {
    let (neg, digits) = match b.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, b),
    };
    if digits.is_empty() || digits.len() > 19 {
        return None;
    }
    // Accumulate negatively so that i64::MIN is representable.
    let mut v: i64 = 0;
    for &c in digits {
        let d = c.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        v = v.checked_mul(10)?.checked_sub(d as i64)?;
    }
    if neg {
        Some(v)
    } else {
        v.checked_neg()
    }
}

/// Writes `v` in decimal into `buf` and returns the written bytes (a suffix
/// of `buf`).
pub fn format_i64(v: i64, buf: &mut [u8; MAX_I64_LEN]) -> &[u8] {
    let mut i = MAX_I64_LEN;
    // Work on the magnitude as u64 so that i64::MIN needs no special case.
    let mut m = v.unsigned_abs();
    loop {
        i -= 1;
        buf[i] = b'0' + (m % 10) as u8;
        m /= 10;
        if m == 0 {
            break;
        }
    }
    if v < 0 {
        i -= 1;
        buf[i] = b'-';
    }
    &buf[i..]
}

/// Appends `v` in decimal to `out`.
pub fn append_i64(out: &mut Vec<u8>, v: i64) {
    let mut buf = [0u8; MAX_I64_LEN];
    out.extend_from_slice(format_i64(v, &mut buf));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_table() {
        let cases: &[(&str, Option<i64>)] = &[
            ("0", Some(0)),
            ("-0", Some(0)),
            ("007", Some(7)),
            ("42", Some(42)),
            ("-42", Some(-42)),
            ("9223372036854775807", Some(i64::MAX)),
            ("-9223372036854775808", Some(i64::MIN)),
            ("9223372036854775808", None),
            ("-9223372036854775809", None),
            ("0000000000000000001", Some(1)), // 19 digits
            ("00000000000000000001", None),   // 20 digits
            ("", None),
            ("-", None),
            ("+1", None),
            (" 1", None),
            ("1 ", None),
            ("1_000", None),
            ("1.0", None),
            ("--1", None),
            ("1-", None),
            ("١", None), // Arabic-Indic digit one: not ASCII
        ];
        for (input, want) in cases {
            assert_eq!(parse_i64(input.as_bytes()), *want, "parse_i64({:?})", input);
        }
    }

    #[test]
    fn format_round_trips() {
        for v in [0, 1, -1, 9, 10, -10, 123456789, i64::MAX, i64::MIN, i64::MIN + 1] {
            let mut buf = [0u8; MAX_I64_LEN];
            let s = format_i64(v, &mut buf);
            assert_eq!(std::str::from_utf8(s).unwrap(), v.to_string());
            assert_eq!(parse_i64(s), Some(v));
        }
        let mut out = b"x=".to_vec();
        append_i64(&mut out, -305);
        assert_eq!(out, b"x=-305");
    }
}
