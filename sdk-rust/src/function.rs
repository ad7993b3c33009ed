//! The operator kinds a module can implement, one trait each.
//!
//! Every trait has an `open` with a default that does nothing; implement it
//! to read configuration and declare state. An error from `open` makes
//! `freshet_open` fail with `invalid_argument` (or with the status of the
//! host call that failed, such as `kind_mismatch`), and its message is logged. Plain functions and closures with
//! the right signature implement the stateless kinds directly.

use crate::context::{Context, OpenContext};
use crate::error::Result;
use crate::output::{Emitted, KeyOutput, MapOutput, Writer};
use crate::record::{Elements, Record, Timer, Window};

/// One output per record: a new record, the input forwarded, or an error.
pub trait MapFunction {
    fn open(&mut self, ctx: &mut OpenContext<'_>) -> Result<()> {
        let _ = ctx;
        Ok(())
    }
    fn map(&mut self, record: &Record<'_>, out: MapOutput<'_>) -> Result<Emitted>;
}

impl<F> MapFunction for F
where
    F: FnMut(&Record<'_>, MapOutput<'_>) -> Result<Emitted>,
{
    fn map(&mut self, record: &Record<'_>, out: MapOutput<'_>) -> Result<Emitted> {
        self(record, out)
    }
}

/// Keeps the records for which `filter` returns true (they are forwarded
/// unchanged, without copying through guest memory).
pub trait FilterFunction {
    fn open(&mut self, ctx: &mut OpenContext<'_>) -> Result<()> {
        let _ = ctx;
        Ok(())
    }
    fn filter(&mut self, record: &Record<'_>) -> Result<bool>;
}

impl<F> FilterFunction for F
where
    F: FnMut(&Record<'_>) -> Result<bool>,
{
    fn filter(&mut self, record: &Record<'_>) -> Result<bool> {
        self(record)
    }
}

/// Zero or more outputs per record. Also the shape of a source
/// deserializer, which gets raw key/value bytes as read.
pub trait FlatMapFunction {
    fn open(&mut self, ctx: &mut OpenContext<'_>) -> Result<()> {
        let _ = ctx;
        Ok(())
    }
    fn flat_map(&mut self, record: &Record<'_>, ctx: &mut Context<'_>) -> Result<()>;
}

impl<F> FlatMapFunction for F
where
    F: FnMut(&Record<'_>, &mut Context<'_>) -> Result<()>,
{
    fn flat_map(&mut self, record: &Record<'_>, ctx: &mut Context<'_>) -> Result<()> {
        self(record, ctx)
    }
}

/// Gives every record its key (for `key_by`).
pub trait KeySelector {
    fn open(&mut self, ctx: &mut OpenContext<'_>) -> Result<()> {
        let _ = ctx;
        Ok(())
    }
    fn select_key(&mut self, record: &Record<'_>, out: KeyOutput<'_>) -> Result<Emitted>;
}

impl<F> KeySelector for F
where
    F: FnMut(&Record<'_>, KeyOutput<'_>) -> Result<Emitted>,
{
    fn select_key(&mut self, record: &Record<'_>, out: KeyOutput<'_>) -> Result<Emitted> {
        self(record, out)
    }
}

/// A keyed process function: records and fired timers of a keyed stream,
/// with keyed state, timers and side outputs.
pub trait ProcessFunction {
    fn open(&mut self, ctx: &mut OpenContext<'_>) -> Result<()> {
        let _ = ctx;
        Ok(())
    }
    fn process(&mut self, record: &Record<'_>, ctx: &mut Context<'_>) -> Result<()>;
    fn on_timer(&mut self, timer: &Timer<'_>, ctx: &mut Context<'_>) -> Result<()> {
        let _ = (timer, ctx);
        Ok(())
    }
}

/// An incremental window aggregation over byte-encoded accumulators (the
/// host keeps them in state). Each method writes its result through `out`.
/// An error fails the call with its status (`user_error` by default).
pub trait AggregateFunction {
    fn open(&mut self, ctx: &mut OpenContext<'_>) -> Result<()> {
        let _ = ctx;
        Ok(())
    }
    fn create_accumulator(&mut self, out: &mut Writer<'_>) -> Result<()>;
    fn add(&mut self, acc: &[u8], value: &[u8], out: &mut Writer<'_>) -> Result<()>;
    fn merge(&mut self, a: &[u8], b: &[u8], out: &mut Writer<'_>) -> Result<()>;
    fn result(&mut self, acc: &[u8], out: &mut Writer<'_>) -> Result<()>;
}

/// Sees every element of a fired window at once.
pub trait ProcessWindowFunction {
    fn open(&mut self, ctx: &mut OpenContext<'_>) -> Result<()> {
        let _ = ctx;
        Ok(())
    }
    fn process(&mut self, key: &[u8], window: Window, elements: Elements<'_>, ctx: &mut Context<'_>) -> Result<()>;
}
