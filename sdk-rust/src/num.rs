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

/// Appends `v` in decimal to `out`.
///
/// Written for wazero's code generator, which turns every loop iteration,
/// memory access and division into more machine code than a native
/// compiler would: the digits are counted with comparisons, then written
/// straight into the vector's spare capacity (a stack buffer would cost a
/// memory.copy) without loops, two digits per 16-bit store and eight per
/// 64-bit store. Divisions by constants are multiplications and shifts
/// (wasm32 has no 64-bit multiply-high, so LLVM leaves them to the engine,
/// which emits real divisions), except the one or two u64 divisions by 10^8
/// that numbers of more than eight digits need.
#[inline(always)]
pub fn append_i64(out: &mut Vec<u8>, v: i64) {
    let neg = v < 0;
    let m = v.unsigned_abs();
    let n = neg as usize + digits(m);
    out.reserve(n);
    let len = out.len();
    // SAFETY: reserve(n) made room for n more bytes; the digits fill the
    // n - neg bytes before `end` (digits(m) of them), the sign the first,
    // and the length covers them only once all are written.
    unsafe {
        let start = out.as_mut_ptr().add(len);
        if neg {
            *start = b'-';
        }
        write_u64(start.add(n), m);
        out.set_len(len + n);
    }
}

/// Number of decimal digits of `m` (1 for 0).
#[inline(always)]
fn digits(m: u64) -> usize {
    if m < 100_000_000 {
        if m < 10_000 {
            1 + (m >= 10) as usize + (m >= 100) as usize + (m >= 1_000) as usize
        } else {
            5 + (m >= 100_000) as usize + (m >= 1_000_000) as usize + (m >= 10_000_000) as usize
        }
    } else if m < 10_000_000_000_000_000 {
        if m < 1_000_000_000_000 {
            9 + (m >= 1_000_000_000) as usize + (m >= 10_000_000_000) as usize + (m >= 100_000_000_000) as usize
        } else {
            13 + (m >= 10_000_000_000_000) as usize
                + (m >= 100_000_000_000_000) as usize
                + (m >= 1_000_000_000_000_000) as usize
        }
    } else {
        17 + (m >= 100_000_000_000_000_000) as usize
            + (m >= 1_000_000_000_000_000_000) as usize
            + (m >= 10_000_000_000_000_000_000) as usize
    }
}

/// Writes the digits of `m` so that they end just before `end`.
#[inline(always)]
unsafe fn write_u64(end: *mut u8, m: u64) {
    if m < 100_000_000 {
        write_upto8(end, m as u32);
        return;
    }
    let hi = m / 100_000_000;
    write8(end.sub(8), (m - hi * 100_000_000) as u32);
    if hi < 100_000_000 {
        write_upto8(end.sub(8), hi as u32);
        return;
    }
    let top = hi / 100_000_000; // < 1845: u64::MAX has 20 digits
    write8(end.sub(16), (hi - top * 100_000_000) as u32);
    write_upto8(end.sub(16), top as u32);
}

/// Writes the 1 to 8 digits of `x` < 10^8 (no leading zeros) ending just
/// before `end`.
#[inline(always)]
unsafe fn write_upto8(end: *mut u8, x: u32) {
    if x >= 10_000 {
        let hi = div10000(x);
        write4(end.sub(4), x - hi * 10_000);
        write_upto4(end.sub(4), hi);
    } else {
        write_upto4(end, x);
    }
}

/// Writes the 1 to 4 digits of `x` < 10^4 ending just before `end`.
#[inline(always)]
unsafe fn write_upto4(end: *mut u8, x: u32) {
    if x >= 100 {
        let hi = div100(x);
        write2(end.sub(2), x - hi * 100);
        if hi >= 10 {
            write2(end.sub(4), hi);
        } else {
            *end.sub(3) = b'0' + hi as u8;
        }
    } else if x >= 10 {
        write2(end.sub(2), x);
    } else {
        *end.sub(1) = b'0' + x as u8;
    }
}

/// The two ASCII digits of `x` < 100 as a little-endian u16.
#[inline(always)]
fn pair(x: u32) -> u16 {
    let tens = (x * 103) >> 10; // x / 10 for x < 100
    (b'0' as u16 + tens as u16) | (b'0' as u16 + (x - tens * 10) as u16) << 8
}

/// The four ASCII digits of `x` < 10^4, zero-padded, as a little-endian u32.
#[inline(always)]
fn quad(x: u32) -> u32 {
    let hi = div100(x);
    pair(hi) as u32 | (pair(x - hi * 100) as u32) << 16
}

#[inline(always)]
unsafe fn write2(p: *mut u8, x: u32) {
    core::ptr::write_unaligned(p as *mut u16, pair(x).to_le());
}

#[inline(always)]
unsafe fn write4(p: *mut u8, x: u32) {
    core::ptr::write_unaligned(p as *mut u32, quad(x).to_le());
}

/// Writes the eight digits of `x` < 10^8, zero-padded, at `p`.
#[inline(always)]
unsafe fn write8(p: *mut u8, x: u32) {
    let hi = div10000(x);
    let v = quad(hi) as u64 | (quad(x - hi * 10_000) as u64) << 32;
    core::ptr::write_unaligned(p as *mut u64, v.to_le());
}

/// `x / 100` as a multiply and shift, exact for every u32.
#[inline(always)]
fn div100(x: u32) -> u32 {
    ((x as u64 * 1_374_389_535) >> 37) as u32
}

/// `x / 10000` as a multiply and shift, exact for every u32.
#[inline(always)]
fn div10000(x: u32) -> u32 {
    ((x as u64 * 3_518_437_209) >> 45) as u32
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
    fn divisions_are_exact() {
        let mut x: u32 = 0;
        loop {
            assert_eq!(div100(x), x / 100, "{}", x);
            assert_eq!(div10000(x), x / 10_000, "{}", x);
            match x.checked_add(9_973) {
                Some(n) => x = n,
                None => break,
            }
        }
        for x in [u32::MAX, u32::MAX - 1, 99, 100, 101, 9_999, 10_000, 99_999_999, 100_000_000] {
            assert_eq!(div100(x), x / 100, "{}", x);
            assert_eq!(div10000(x), x / 10_000, "{}", x);
        }
        for x in 0..100 {
            assert_eq!(pair(x).to_le_bytes(), [b'0' + (x / 10) as u8, b'0' + (x % 10) as u8]);
        }
        for x in 0..10_000 {
            assert_eq!(&quad(x).to_le_bytes(), format!("{:04}", x).as_bytes());
        }
    }

    #[test]
    fn digits_counts() {
        assert_eq!(digits(0), 1);
        assert_eq!(digits(u64::MAX), 20);
        for p in 0..20 {
            let x = 10u64.pow(p);
            assert_eq!(digits(x), p as usize + 1, "{}", x);
            assert_eq!(digits(x - 1), (p as usize).max(1), "{}", x - 1);
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
