//! The reference Nexmark q1 (currency conversion) and q2 (selected auctions)
//! functions (plugins/README.md). A bid is ASCII CSV
//! `auction,bidder,price,dateTime`, or with configuration
//! `{"format": "binary"}` the same four fields as 32 bytes of little-endian
//! i64 (nexmark-view's binary rows).

use freshet_sdk::{num, Emitted, Error, FilterFunction, MapFunction, MapOutput, Module, OpenContext, Record, Result};

/// One bid: auction, bidder, price, dateTime.
pub type Bid = [i64; 4];

/// How a function reads its bids: configuration `format`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Format {
    /// `auction,bidder,price,dateTime` in decimal (the default).
    #[default]
    Csv,
    /// The four fields as little-endian i64, 32 bytes.
    Binary,
}

impl Format {
    /// Reads `format` ("csv" or "binary"; absent or null: csv).
    fn from_config(ctx: &OpenContext) -> Result<Format> {
        match ctx.config().get("format") {
            None => return Ok(Format::Csv),
            Some(v) if v.is_null() => return Ok(Format::Csv),
            Some(_) => {}
        }
        match ctx.config().string("format").ok().flatten().as_deref() {
            Some("csv") => Ok(Format::Csv),
            Some("binary") => Ok(Format::Binary),
            _ => Err(Error::invalid_argument("format must be \"csv\" or \"binary\"")),
        }
    }

    /// Reads one bid in this format.
    #[inline(always)]
    pub fn bid(self, v: &[u8]) -> Option<Bid> {
        match self {
            Format::Csv => parse_bid(v),
            Format::Binary => decode_bid(v),
        }
    }
}

/// Reads exactly four decimal integers separated by single commas.
pub fn parse_bid(v: &[u8]) -> Option<Bid> {
    let mut f = [0i64; 4];
    let mut fields = v.splitn(4, |&b| b == b',');
    for x in f.iter_mut() {
        *x = num::parse_i64(fields.next()?)?;
    }
    Some(f)
}

/// Bytes of a binary bid.
pub const BINARY_BID_LEN: usize = 32;

/// Reads a binary bid: exactly 32 bytes, four little-endian i64.
#[inline(always)]
pub fn decode_bid(v: &[u8]) -> Option<Bid> {
    let b: &[u8; BINARY_BID_LEN] = v.try_into().ok()?;
    let field = |i: usize| {
        i64::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3], b[i + 4], b[i + 5], b[i + 6], b[i + 7]])
    };
    Some([field(0), field(8), field(16), field(24)])
}

fn invalid_bid() -> Error {
    Error::new("invalid bid")
}

/// q1: the bid with its price converted at 0.908, exactly, truncated,
/// written as CSV whatever the input format.
#[derive(Default)]
pub struct Q1 {
    format: Format,
}

impl MapFunction for Q1 {
    fn open(&mut self, ctx: &mut OpenContext) -> Result<()> {
        self.format = Format::from_config(ctx)?;
        Ok(())
    }

    fn map(&mut self, r: &Record, out: MapOutput) -> Result<Emitted> {
        let [auction, bidder, price, date_time] = self.format.bid(r.value).ok_or_else(invalid_bid)?;
        let converted = convert_price(price);
        Ok(out.value_with(|w| {
            w.write_i64(auction);
            w.push(b',');
            w.write_i64(bidder);
            w.push(b',');
            w.write_i64(converted);
            w.push(b',');
            w.write_i64(date_time);
        }))
    }
}

/// `price * 908 / 1000` truncated toward zero, exactly:
/// `price / 1000 * 908 + (price % 1000) * 908 / 1000`, which cannot
/// overflow. wazero turns a division by a constant into a division
/// instruction (wasm32 has no multiply-high for LLVM to use instead), so
/// prices in u32 range, all of Nexmark's, divide by 1000 with a multiply
/// and a shift, exact for every u32.
#[inline(always)]
pub fn convert_price(price: i64) -> i64 {
    if (0..=u32::MAX as i64).contains(&price) {
        let div1000 = |x: u64| (x * 0x1062_4DD3) >> 38; // x / 1000 for x < 2^32
        let p = price as u64;
        let q = div1000(p);
        return (q * 908 + div1000((p - q * 1000) * 908)) as i64;
    }
    price / 1000 * 908 + (price % 1000) * 908 / 1000
}

/// q2: keeps the bids of auctions divisible by the configured modulus.
pub struct Q2 {
    modulus: i64,
    format: Format,
}

impl Default for Q2 {
    fn default() -> Self {
        Q2 { modulus: 123, format: Format::Csv }
    }
}

impl FilterFunction for Q2 {
    fn open(&mut self, ctx: &mut OpenContext) -> Result<()> {
        self.format = Format::from_config(ctx)?;
        let v = match ctx.config().get("modulus") {
            None => return Ok(()),
            Some(v) if v.is_null() => return Ok(()),
            Some(v) => v,
        };
        match v.as_i64() {
            Some(n) if n > 0 => {
                self.modulus = n;
                Ok(())
            }
            _ => Err(Error::invalid_argument("modulus must be a positive integer")),
        }
    }

    fn filter(&mut self, r: &Record) -> Result<bool> {
        let bid = self.format.bid(r.value).ok_or_else(invalid_bid)?;
        Ok(bid[0] % self.modulus == 0)
    }
}

pub fn register(m: &mut Module) {
    m.map("q1", Q1::default()).filter("q2", Q2::default());
}

freshet_sdk::export!(register);

#[cfg(test)]
mod tests {
    use super::*;
    use freshet_sdk::abi::{entry_kind, status};
    use freshet_sdk::testing::{Harness, Input};

    #[test]
    fn parse_bid_table() {
        let cases: &[(&str, Option<Bid>)] = &[
            ("1007,2001,1000,1700000000000", Some([1007, 2001, 1000, 1_700_000_000_000])),
            ("-0,007,-5,0", Some([0, 7, -5, 0])),
            ("1,2,3", None),
            ("1,2,3,4,5", None),
            ("1,2,3,4,", None),
            ("1,,3,4", None),
            ("1, 2,3,4", None),
            ("1,2,3,+4", None),
            ("1,2,3,99999999999999999999", None),
            ("", None),
        ];
        for (v, want) in cases {
            assert_eq!(parse_bid(v.as_bytes()), *want, "{}", v);
        }
    }

    #[test]
    fn convert_price_is_exact() {
        let slow = |p: i64| p / 1000 * 908 + (p % 1000) * 908 / 1000;
        let mut cases = vec![0, 1, 999, 1000, 1001, 1999, u32::MAX as i64, u32::MAX as i64 + 1, -1, -1000, i64::MAX, i64::MIN];
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for i in 0..200_000i64 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            cases.push(i);
            cases.push((x >> 32) as i64);
            cases.push(x as i64 >> (x % 64));
        }
        for p in cases {
            assert_eq!(convert_price(p), slow(p), "{}", p);
        }
    }

    #[test]
    fn q1_converts_prices_exactly() {
        let mut h = Harness::new(register);
        h.open("q1", "{}").unwrap();
        let cases: &[(&str, &str)] = &[
            ("1007,2001,1000,1700000000000", "1007,2001,908,1700000000000"),
            ("-0,007,1999,5", "0,7,1815,5"),
            ("1,2,-1999,5", "1,2,-1815,5"),
            ("1,2,9223372036854775807,5", "1,2,8374821809464136432,5"),
            ("1,2,-9223372036854775808,5", "1,2,-8374821809464136433,5"),
        ];
        for (input, want) in cases {
            let out = h.process(&[Input::data(b"k", input.as_bytes(), 9)]).unwrap();
            assert_eq!(
                (out[0].kind, &out[0].value[..], out[0].timestamp),
                (entry_kind::OUTPUT, want.as_bytes(), 9),
                "{}",
                input
            );
        }
        let out = h.process(&[Input::data(b"k", b"1,2,3", 9)]).unwrap();
        assert_eq!(out[0].error_message(), Some("invalid bid"));
    }

    fn binary(bid: Bid) -> Vec<u8> {
        bid.iter().flat_map(|f| f.to_le_bytes()).collect()
    }

    #[test]
    fn binary_bids() {
        let mut h = Harness::new(register);
        h.open("q1", r#"{"format": "binary"}"#).unwrap();
        let cases: &[(Bid, &str)] = &[
            ([1007, 2001, 1000, 1_700_000_000_000], "1007,2001,908,1700000000000"),
            ([-5, 0, -1999, i64::MIN], "-5,0,-1815,-9223372036854775808"),
            ([1, 2, i64::MAX, i64::MAX], "1,2,8374821809464136432,9223372036854775807"),
        ];
        for (bid, want) in cases {
            let out = h.process(&[Input::data(b"k", &binary(*bid), 9)]).unwrap();
            assert_eq!(&out[0].value[..], want.as_bytes(), "{:?}", bid);
        }
        for bad in [&binary([1, 2, 3, 4])[..31], &[0u8; 33][..], b""] {
            let out = h.process(&[Input::data(b"k", bad, 9)]).unwrap();
            assert_eq!(out[0].error_message(), Some("invalid bid"), "{} bytes", bad.len());
        }

        let mut h = Harness::new(register);
        h.open("q2", r#"{"format": "binary", "modulus": 7}"#).unwrap();
        for (auction, keep) in [(14, true), (15, false), (-7, true)] {
            let out = h.process(&[Input::data(b"", &binary([auction, 1, 1, 1]), 0)]).unwrap();
            assert_eq!(!out.is_empty(), keep, "{}", auction);
        }
        for config in [r#"{"format": "xml"}"#, r#"{"format": 1}"#, r#"{"format": "CSV"}"#] {
            for f in ["q1", "q2"] {
                let mut h = Harness::new(register);
                assert_eq!(h.open(f, config), Err(status::INVALID_ARGUMENT), "{} {}", f, config);
            }
        }
        let mut h = Harness::new(register);
        h.open("q1", r#"{"format": null}"#).unwrap();
        let out = h.process(&[Input::data(b"", b"1,2,1000,4", 0)]).unwrap();
        assert_eq!(&out[0].value[..], b"1,2,908,4");
    }

    #[test]
    fn q2_keeps_selected_auctions() {
        let cases: &[(&str, &[(&str, bool)])] = &[
            ("{}", &[("1007,1,1,1", false), ("1107,1,1,1", true), ("-123,1,1,1", true), ("0,1,1,1", true)]),
            (r#"{"modulus": 2}"#, &[("3,1,1,1", false), ("4,1,1,1", true)]),
            (r#"{"modulus": null}"#, &[("246,1,1,1", true)]),
        ];
        for (config, bids) in cases {
            let mut h = Harness::new(register);
            h.open("q2", config).unwrap();
            for (bid, keep) in *bids {
                let out = h.process(&[Input::data(b"", bid.as_bytes(), 0)]).unwrap();
                assert_eq!(!out.is_empty(), *keep, "{} {}", config, bid);
            }
        }
        for config in [r#"{"modulus": 0}"#, r#"{"modulus": -5}"#, r#"{"modulus": 1.5}"#, r#"{"modulus": "x"}"#] {
            let mut h = Harness::new(register);
            assert_eq!(h.open("q2", config), Err(status::INVALID_ARGUMENT), "{}", config);
        }
    }
}
