//! The reference `stats` window aggregate (plugins/README.md): count, sum
//! and max of decimal integers. The accumulator is three little-endian i64
//! (count, sum, max); the result is ASCII `count,sum,max`.

use freshet_sdk::{num, AggregateFunction, Error, Module, Result, Writer};

fn decode(acc: &[u8]) -> Result<[i64; 3]> {
    if acc.len() != 24 {
        return Err(Error::new("accumulator is not 24 bytes"));
    }
    let mut a = [0i64; 3];
    for (i, x) in a.iter_mut().enumerate() {
        let mut b = [0u8; 8];
        b.copy_from_slice(&acc[i * 8..i * 8 + 8]);
        *x = i64::from_le_bytes(b);
    }
    Ok(a)
}

fn encode(w: &mut Writer, [count, sum, max]: [i64; 3]) {
    w.extend_from_slice(&count.to_le_bytes());
    w.extend_from_slice(&sum.to_le_bytes());
    w.extend_from_slice(&max.to_le_bytes());
}

pub struct Stats;

impl AggregateFunction for Stats {
    fn create_accumulator(&mut self, out: &mut Writer) -> Result<()> {
        encode(out, [0, 0, i64::MIN]);
        Ok(())
    }

    fn add(&mut self, acc: &[u8], value: &[u8], out: &mut Writer) -> Result<()> {
        let [c, s, m] = decode(acc)?;
        let v = num::parse_i64(value).ok_or_else(|| Error::new("value is not a decimal integer"))?;
        encode(out, [c.wrapping_add(1), s.wrapping_add(v), m.max(v)]);
        Ok(())
    }

    fn merge(&mut self, a: &[u8], b: &[u8], out: &mut Writer) -> Result<()> {
        let [c1, s1, m1] = decode(a)?;
        let [c2, s2, m2] = decode(b)?;
        encode(out, [c1.wrapping_add(c2), s1.wrapping_add(s2), m1.max(m2)]);
        Ok(())
    }

    fn result(&mut self, acc: &[u8], out: &mut Writer) -> Result<()> {
        let [c, s, m] = decode(acc)?;
        out.write_i64(c);
        out.push(b',');
        out.write_i64(s);
        out.push(b',');
        if c > 0 {
            out.write_i64(m);
        }
        Ok(())
    }
}

pub fn register(m: &mut Module) {
    m.aggregate("stats", Stats);
}

freshet_sdk::export!(register);

#[cfg(test)]
mod tests {
    use super::*;
    use freshet_sdk::abi::status;
    use freshet_sdk::testing::Harness;

    #[test]
    fn aggregates() {
        let mut h = Harness::new(register);
        h.open("stats", "{}").unwrap();
        let empty = h.agg_create().unwrap();
        assert_eq!(h.agg_result(&empty).unwrap(), b"0,0,");
        let mut acc = empty.clone();
        for v in ["10", "30", "20"] {
            acc = h.agg_add(&acc, v.as_bytes()).unwrap();
        }
        assert_eq!(h.agg_result(&acc).unwrap(), b"3,60,30");
        let neg = h.agg_add(&empty, b"-5").unwrap();
        let merged = h.agg_merge(&acc, &neg).unwrap();
        assert_eq!(h.agg_result(&merged).unwrap(), b"4,55,30");
        let only_neg = h.agg_merge(&empty, &neg).unwrap();
        assert_eq!(h.agg_result(&only_neg).unwrap(), b"1,-5,-5");
        // Sums wrap like int64 arithmetic.
        let big = h.agg_add(&empty, b"9223372036854775807").unwrap();
        let wrapped = h.agg_add(&big, b"1").unwrap();
        assert_eq!(h.agg_result(&wrapped).unwrap(), b"2,-9223372036854775808,9223372036854775807");
        // Errors fail the call.
        assert_eq!(h.agg_add(&acc, b"1.5"), Err(status::USER_ERROR));
        assert_eq!(h.agg_add(b"short", b"1"), Err(status::USER_ERROR));
        assert_eq!(h.agg_merge(&acc, b""), Err(status::USER_ERROR));
        assert_eq!(h.agg_result(&acc[..23]), Err(status::USER_ERROR));
    }
}
