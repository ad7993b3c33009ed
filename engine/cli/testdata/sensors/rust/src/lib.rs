//! Three operator functions over sensor readings (decimal integers):
//! to-celsius (map), threshold (keyed process function) and mean (aggregate).

use freshet_sdk::{
    num, AggregateFunction, Context, Counter, Emitted, Error, MapOutput, Module, OpenContext, ProcessFunction, Record,
    Result, Timer, ValueState, Writer,
};

/// A reading in °F to °C, rounded toward zero; key, timestamp and headers are kept.
fn to_celsius(r: &Record, out: MapOutput) -> Result<Emitted> {
    let f = num::parse_i64(r.value).ok_or_else(|| Error::new("not a reading"))?;
    Ok(out.value_with(|w| w.write_i64((f - 32) * 5 / 9)))
}

/// Alerts when a sensor reads above the threshold, at most once a minute per
/// sensor (event time). The stream is keyed by sensor.
pub struct Threshold {
    threshold: i64,
    last_alert: ValueState, // time of the sensor's last alert
    alerts: Counter,
}

impl ProcessFunction for Threshold {
    fn open(&mut self, ctx: &mut OpenContext) -> Result<()> {
        if let Some(t) = ctx.config().i64("threshold")? {
            self.threshold = t;
        }
        Ok(())
    }

    fn process(&mut self, r: &Record, ctx: &mut Context) -> Result<()> {
        let v = num::parse_i64(r.value).ok_or_else(|| Error::new("not a reading"))?;
        if v <= self.threshold {
            return Ok(());
        }
        if let Some(last) = self.last_alert.get_i64()? {
            if r.timestamp - last < 60_000 {
                return Ok(()); // quiet for a minute after an alert
            }
        }
        self.last_alert.put_i64(r.timestamp)?;
        ctx.register_event_time_timer(r.timestamp + 60_000)?;
        self.alerts.add(1);
        ctx.emit_with(r.key, |w| {
            w.extend_from_slice(b"HIGH ");
            w.extend_from_slice(r.key);
            w.push(b' ');
            w.write_i64(v);
        });
        Ok(())
    }

    /// Forgets an alert once its minute is over, so idle sensors keep no state.
    fn on_timer(&mut self, t: &Timer, _: &mut Context) -> Result<()> {
        match self.last_alert.get_i64()? {
            Some(last) if t.timestamp >= last + 60_000 => self.last_alert.clear(),
            _ => Ok(()), // a newer alert has a later timer of its own
        }
    }
}

/// The integer mean of readings. The accumulator, which the host keeps in
/// state, is two little-endian i64: count and sum.
pub struct Mean;

fn encode(w: &mut Writer, count: i64, sum: i64) {
    w.extend_from_slice(&count.to_le_bytes());
    w.extend_from_slice(&sum.to_le_bytes());
}

fn decode(acc: &[u8]) -> Result<(i64, i64)> {
    if acc.len() != 16 {
        return Err(Error::new("accumulator is not 16 bytes"));
    }
    let (mut count, mut sum) = ([0u8; 8], [0u8; 8]);
    count.copy_from_slice(&acc[..8]);
    sum.copy_from_slice(&acc[8..]);
    Ok((i64::from_le_bytes(count), i64::from_le_bytes(sum)))
}

impl AggregateFunction for Mean {
    fn create_accumulator(&mut self, out: &mut Writer) -> Result<()> {
        encode(out, 0, 0);
        Ok(())
    }

    fn add(&mut self, acc: &[u8], value: &[u8], out: &mut Writer) -> Result<()> {
        let (count, sum) = decode(acc)?;
        let v = num::parse_i64(value).ok_or_else(|| Error::new("not a reading"))?;
        encode(out, count + 1, sum + v);
        Ok(())
    }

    fn merge(&mut self, a: &[u8], b: &[u8], out: &mut Writer) -> Result<()> {
        let ((c1, s1), (c2, s2)) = (decode(a)?, decode(b)?);
        encode(out, c1 + c2, s1 + s2);
        Ok(())
    }

    fn result(&mut self, acc: &[u8], out: &mut Writer) -> Result<()> {
        let (count, sum) = decode(acc)?;
        if count > 0 {
            out.write_i64(sum / count);
        }
        Ok(())
    }
}

fn register(m: &mut Module) {
    m.map("to-celsius", to_celsius);
    m.process(
        "threshold",
        Threshold { threshold: 100, last_alert: ValueState::new("last-alert"), alerts: Counter::new("alerts") },
    );
    m.aggregate("mean", Mean);
}

freshet_sdk::export!(register);
