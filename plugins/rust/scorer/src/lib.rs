//! A keyed process function built in two versions, for hot-swap tests and
//! demonstrations: it counts records per key in keyed state and emits
//! `<version>,<key>,<count>,<score>` where the score is the record's integer
//! value, doubled from version v2 on (a "changed formula"). The version is
//! fixed at build time by the SCORER_VERSION environment variable (default
//! v1); plugins/Makefile builds scorer-v1.wasm, scorer-v2.wasm and
//! scorer-trap.wasm, which traps on its first record.

use freshet_sdk::{num, Context, Error, Module, ProcessFunction, Record, Result, ValueState};

/// The version this build is.
pub const VERSION: &str = match option_env!("SCORER_VERSION") {
    Some(v) => v,
    None => "v1",
};

pub struct Scorer {
    count: ValueState,
}

impl Default for Scorer {
    fn default() -> Self {
        Scorer { count: ValueState::new("count") }
    }
}

impl ProcessFunction for Scorer {
    fn process(&mut self, r: &Record, ctx: &mut Context) -> Result<()> {
        if VERSION == "trap" {
            panic!("the trap version of the scorer fails on every record");
        }
        let value = num::parse_i64(r.value).ok_or_else(|| Error::new("not an integer"))?;
        let count = self.count.get_i64()?.unwrap_or(0) + 1;
        self.count.put_i64(count)?;
        let score = if VERSION == "v1" { value } else { value * 2 };
        ctx.emit_at_with(r.key, r.timestamp, |w| {
            w.extend_from_slice(VERSION.as_bytes());
            w.push(b',');
            w.extend_from_slice(r.key);
            w.push(b',');
            w.write_i64(count);
            w.push(b',');
            w.write_i64(score);
        });
        Ok(())
    }
}

pub fn register(m: &mut Module) {
    m.process("score", Scorer::default());
}

freshet_sdk::export!(register);

#[cfg(test)]
mod tests {
    use super::*;
    use freshet_sdk::testing::{Harness, Input};

    #[test]
    fn counts_per_key_and_scores() {
        let mut h = Harness::new(register);
        h.open("score", "{}").unwrap();
        let out = h.process(&[Input::data(b"a", b"5", 1), Input::data(b"a", b"7", 2), Input::data(b"b", b"1", 3)]).unwrap();
        let got: Vec<String> = out.iter().map(|o| String::from_utf8_lossy(&o.value).into_owned()).collect();
        let f = if VERSION == "v1" { 1 } else { 2 };
        assert_eq!(got, vec![format!("{},a,1,{}", VERSION, 5 * f), format!("{},a,2,{}", VERSION, 7 * f), format!("{},b,1,{}", VERSION, f)]);
    }
}
