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
    // 19 digits stay below 10^19 < 2^64, so a u64 cannot overflow; the range
    // check comes once at the end. (Checked i64 multiplication would cost a
    // 128-bit library call per digit on wasm32.)
    let mut m: u64 = 0;
    for &c in digits {
        let d = c.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        m = m * 10 + d as u64;
    }
    if neg {
        if m > 1 << 63 {
            return None;
        }
        Some((m as i64).wrapping_neg())
    } else if m > i64::MAX as u64 {
        None
    } else {
        Some(m as i64)
    }
}

/// Parses the strict decimal integer at the start of `b` and returns it with
/// the number of bytes it took; what follows is the caller's business (a
/// separator, say). `None` when `b` does not start with one, or when the
/// digits run to more than 19 or out of the `i64` range.
pub fn parse_i64_prefix(b: &[u8]) -> Option<(i64, usize)> {
    let start = (b.first() == Some(&b'-')) as usize;
    let run = b[start..].iter().position(|c| !c.is_ascii_digit()).unwrap_or(b.len() - start);
    let n = start + run;
    parse_i64(&b[..n]).map(|v| (v, n))
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

const POW10: [u32; 10] = [1, 10, 100, 1_000, 10_000, 100_000, 1_000_000, 10_000_000, 100_000_000, 1_000_000_000];

/// Appends `v` in decimal to `out`.
///
/// Written for wasm32, which has no 64-bit multiply-high: a u64 division by
/// 10 is a real division instruction, while a u32 division by a constant is
/// a cheap multiply and shift. So the number is cut into 8-digit u32 chunks
/// with at most two u64 divisions, and the digits go straight into the
/// vector's spare capacity (a stack buffer would cost a memory.copy).
pub fn append_i64(out: &mut Vec<u8>, v: i64) {
    let neg = v < 0;
    let mut m = v.unsigned_abs();
    let mut chunks = [0u32; 3];
    let mut nchunks = 0;
    while m > u32::MAX as u64 {
        let q = m / 100_000_000;
        chunks[nchunks] = (m - q * 100_000_000) as u32;
        nchunks += 1;
        m = q;
    }
    let top = m as u32;
    let mut top_digits = 1;
    while top_digits < 10 && top >= POW10[top_digits] {
        top_digits += 1;
    }
    let n = neg as usize + top_digits + 8 * nchunks;
    out.reserve(n);
    let len = out.len();
    // SAFETY: reserve(n) made room for n more bytes; all n are written
    // before the length covers them.
    unsafe {
        let mut p = out.as_mut_ptr().add(len);
        if neg {
            *p = b'-';
            p = p.add(1);
        }
        write_digits(p, top, top_digits);
        p = p.add(top_digits);
        while nchunks > 0 {
            nchunks -= 1;
            write_digits(p, chunks[nchunks], 8);
            p = p.add(8);
        }
        out.set_len(len + n);
    }
}

/// Writes the low `d` decimal digits of `x`, zero-padded, at `p`.
#[inline]
unsafe fn write_digits(p: *mut u8, mut x: u32, d: usize) {
    let mut i = d;
    while i > 0 {
        i -= 1;
        let q = div10(x);
        *p.add(i) = b'0' + (x - q * 10) as u8;
        x = q;
    }
}

/// `x / 10` as a multiply and shift, exact for every u32. LLVM leaves
/// divisions by constants to the WebAssembly engine, and wazero emits a
/// real division instruction.
#[inline(always)]
fn div10(x: u32) -> u32 {
    ((x as u64 * 0xCCCC_CCCD) >> 35) as u32
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
    fn div10_is_exact() {
        let mut x: u32 = 0;
        loop {
            assert_eq!(div10(x), x / 10, "{}", x);
            match x.checked_add(9_973) {
                Some(n) => x = n,
                None => break,
            }
        }
        for x in [u32::MAX, u32::MAX - 1, 9, 10, 11, 99_999_999, 100_000_000] {
            assert_eq!(div10(x), x / 10, "{}", x);
        }
    }

    #[test]
    fn parse_prefix_table() {
        let cases: &[(&str, Option<(i64, usize)>)] = &[
            ("12,3", Some((12, 2))),
            ("-0x", Some((0, 2))),
            ("9223372036854775807,", Some((i64::MAX, 19))),
            ("-9223372036854775808", Some((i64::MIN, 20))),
            ("9223372036854775808,", None),
            ("00000000000000000001,", None), // 20 digits
            ("-", None),
            ("-,", None),
            (",1", None),
            ("", None),
        ];
        for (input, want) in cases {
            assert_eq!(parse_i64_prefix(input.as_bytes()), *want, "parse_i64_prefix({:?})", input);
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
        let mut rng = crate::testutil::Rng::new(99);
        let mut cases = vec![0, 7, -7, 10, -10, 99, 100, i64::MAX, i64::MIN, 1_700_000_000_000];
        for p in 0..19 {
            let x = 10i64.pow(p);
            cases.extend_from_slice(&[x, x - 1, -x, 1 - x, x * 4 + 3]);
        }
        cases.extend_from_slice(&[u32::MAX as i64, u32::MAX as i64 + 1, 100_000_000 * (u32::MAX as i64 + 1)]);
        for _ in 0..10_000 {
            let v = rng.next() as i64;
            cases.push(v >> (rng.below(64) as u32));
        }
        for v in cases {
            let mut out = vec![b'#'];
            append_i64(&mut out, v);
            assert_eq!(&out[1..], v.to_string().as_bytes());
        }
    }
}
