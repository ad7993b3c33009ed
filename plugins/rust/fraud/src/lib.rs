//! The reference fraud-detection keyed process function (plugins/README.md,
//! after Flink's walkthrough): a small transaction followed within a minute
//! by a large one on the same account raises an alert.

use freshet_sdk::{num, Context, Error, Module, ProcessFunction, Record, Result, Timer, ValueState};

/// Cents below which a transaction is small.
pub const SMALL: i64 = 100;
/// Cents above which a transaction is large.
pub const LARGE: i64 = 50_000;
/// How long a small transaction keeps the account flagged, in ms.
pub const WINDOW: i64 = 60_000;

pub struct Fraud {
    /// Timestamp of the last small transaction.
    flag: ValueState,
    /// Time of the cleanup timer.
    timer: ValueState,
}

impl Default for Fraud {
    fn default() -> Self {
        Fraud { flag: ValueState::new("flag"), timer: ValueState::new("timer") }
    }
}

impl Fraud {
    fn clean_up(&mut self, ctx: &mut Context) -> Result<()> {
        if let Some(ts) = self.timer.get_i64()? {
            ctx.delete_event_time_timer(ts)?;
        }
        self.timer.clear()?;
        self.flag.clear()
    }
}

impl ProcessFunction for Fraud {
    fn process(&mut self, r: &Record, ctx: &mut Context) -> Result<()> {
        let amount = num::parse_i64(r.value).ok_or_else(|| Error::new("invalid amount"))?;
        if let Some(flagged_at) = self.flag.get_i64()? {
            if amount > LARGE && r.timestamp.wrapping_sub(flagged_at) < WINDOW {
                ctx.emit_at_with(r.key, r.timestamp, |w| {
                    w.extend_from_slice(b"ALERT ");
                    w.extend_from_slice(r.key);
                    w.push(b' ');
                    w.write_i64(amount);
                });
            }
            self.clean_up(ctx)?;
        }
        if amount < SMALL {
            let at = r.timestamp.wrapping_add(WINDOW);
            self.flag.put_i64(r.timestamp)?;
            ctx.register_event_time_timer(at)?;
            self.timer.put_i64(at)?;
        }
        Ok(())
    }

    fn on_timer(&mut self, _: &Timer, _: &mut Context) -> Result<()> {
        self.timer.clear()?;
        self.flag.clear()
    }
}

pub fn register(m: &mut Module) {
    m.process("fraud", Fraud::default());
}

freshet_sdk::export!(register);

#[cfg(test)]
mod tests {
    use super::*;
    use freshet_sdk::abi::entry_kind;
    use freshet_sdk::testing::{Harness, Input};
    use freshet_sdk::TimeDomain;

    #[test]
    fn small_then_large_within_a_minute_alerts() {
        let mut h = Harness::new(register);
        h.open("fraud", "{}").unwrap();
        let out = h
            .process(&[
                Input::data(b"acct-1", b"50", 1_000),     // small: flag
                Input::data(b"acct-2", b"60000", 2_000),  // large, not flagged
                Input::data(b"acct-1", b"60000", 30_000), // large within a minute: alert
                Input::data(b"acct-1", b"60000", 31_000), // flag cleared: nothing
                Input::data(b"acct-3", b"x", 31_000),     // invalid
                Input::data(b"acct-3", b"99", 40_000),    // small: flag
            ])
            .unwrap();
        let got: Vec<(u8, String, i64, u32)> = out
            .iter()
            .map(|o| (o.kind, String::from_utf8_lossy(&o.value).into_owned(), o.timestamp, o.extra))
            .collect();
        assert_eq!(
            got,
            vec![
                (entry_kind::OUTPUT, "ALERT acct-1 60000".to_owned(), 30_000, 0),
                (entry_kind::ERROR, "invalid amount".to_owned(), i64::MIN, 4),
            ]
        );
        assert_eq!(h.timers(), vec![(TimeDomain::EventTime, 100_000, b"acct-3".to_vec())]);
        // The timer clears the flag: a large transaction afterwards is fine.
        assert!(h.advance_watermark(100_000).unwrap().is_empty());
        assert_eq!(h.value("flag", b"acct-3"), None);
        assert!(h.process(&[Input::data(b"acct-3", b"60000", 100_001)]).unwrap().is_empty());
    }

    #[test]
    fn a_minute_or_more_later_is_no_alert() {
        let mut h = Harness::new(register);
        h.open("fraud", "{}").unwrap();
        let out = h.process(&[Input::data(b"a", b"1", 0), Input::data(b"a", b"50001", WINDOW)]).unwrap();
        assert!(out.is_empty(), "{:?}", out);
        assert!(h.timers().is_empty(), "the cleanup timer is deleted");
    }
}
