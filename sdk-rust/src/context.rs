//! What functions see besides their input: the open-time context (config,
//! state, side output and counter declarations) and the per-record context
//! (emitting, side outputs, timers, time).

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use crate::abi::{entry_kind, log_level, time_domain};
use crate::entry::Headers;
use crate::error::{check, Error, Result};
use crate::json::{Lookup, Scanner, Value};
use crate::output::{Output, Writer};
use crate::state::{ListState, MapState, ValueState};
use crate::sys;

/// The operator's configuration: the JSON object the job gives it (`{}` when
/// none).
#[derive(Clone, Copy, Debug)]
pub struct Config<'a> {
    raw: &'a str,
}

impl<'a> Config<'a> {
    pub(crate) fn new(raw: &'a str) -> Self {
        Config { raw }
    }

    /// The configuration exactly as the host passed it.
    pub fn raw(&self) -> &'a str {
        self.raw
    }

    /// The top-level member `name`, if present.
    pub fn get(&self, name: &str) -> Option<Value<'a>> {
        match Scanner::new().find(self.raw.as_bytes(), [name.as_bytes()]) {
            Lookup::Found(v) => Some(v),
            _ => None,
        }
    }

    /// The string member `name` (unescaped). Present but not a string is an
    /// `invalid_argument` error.
    pub fn string(&self, name: &str) -> Result<Option<String>> {
        let v = match self.get(name) {
            Some(v) => v,
            None => return Ok(None),
        };
        let mut out = Vec::new();
        if !v.unescape_into(&mut out) {
            return Err(Error::invalid_argument(format!("config field {:?} must be a string", name)));
        }
        String::from_utf8(out)
            .map(Some)
            .map_err(|_| Error::invalid_argument(format!("config field {:?} is not valid UTF-8", name)))
    }

    /// The integer member `name`: a JSON number written as a plain integer
    /// that fits in an i64. Anything else present is `invalid_argument`.
    pub fn i64(&self, name: &str) -> Result<Option<i64>> {
        match self.get(name) {
            None => Ok(None),
            Some(v) => v
                .as_i64()
                .map(Some)
                .ok_or_else(|| Error::invalid_argument(format!("config field {:?} must be an integer", name))),
        }
    }

    /// The boolean member `name`; anything else present is `invalid_argument`.
    pub fn bool(&self, name: &str) -> Result<Option<bool>> {
        match self.get(name) {
            None => Ok(None),
            Some(v) => v
                .as_bool()
                .map(Some)
                .ok_or_else(|| Error::invalid_argument(format!("config field {:?} must be true or false", name))),
        }
    }
}

/// A side output, named by its tag. The handle is declared with the host on
/// first use (or at once with [`OpenContext::side_output`]).
#[derive(Debug)]
pub struct SideOutput {
    tag: String,
    handle: Cell<i32>,
}

impl SideOutput {
    pub fn new(tag: &str) -> Self {
        SideOutput { tag: tag.to_owned(), handle: Cell::new(-1) }
    }

    pub fn tag(&self) -> &str {
        &self.tag
    }

    fn handle(&self) -> Result<u32> {
        let h = self.handle.get();
        if h >= 0 {
            return Ok(h as u32);
        }
        let h = unsafe { sys::side_output_tag(self.tag.as_ptr(), self.tag.len() as i32) };
        if h < 0 {
            return Err(Error::host_named("side output", &self.tag, "declare", h));
        }
        self.handle.set(h);
        Ok(h as u32)
    }
}

struct CounterCell {
    name: String,
    handle: Cell<i32>,
    pending: Cell<i64>,
}

thread_local! {
    static COUNTERS: RefCell<Vec<Rc<CounterCell>>> = RefCell::new(Vec::new());
}

/// A metric counter of the operator. Adds are summed in the guest and sent
/// to the host once per call, not once per add; the counter is declared with
/// the host the first time it has something to send.
#[derive(Clone)]
pub struct Counter {
    cell: Rc<CounterCell>,
}

impl Counter {
    pub fn new(name: &str) -> Self {
        let cell = Rc::new(CounterCell { name: name.to_owned(), handle: Cell::new(-1), pending: Cell::new(0) });
        COUNTERS.with(|c| c.borrow_mut().push(cell.clone()));
        Counter { cell }
    }

    #[inline]
    pub fn add(&self, delta: i64) {
        let p = &self.cell.pending;
        p.set(p.get().wrapping_add(delta));
    }

    #[inline]
    pub fn inc(&self) {
        self.add(1)
    }

    pub fn name(&self) -> &str {
        &self.cell.name
    }

    fn declare(&self) -> Result<()> {
        let c = &self.cell;
        if c.handle.get() < 0 {
            let h = unsafe { sys::counter_declare(c.name.as_ptr(), c.name.len() as i32) };
            if h < 0 {
                return Err(Error::host_named("counter", &c.name, "declare", h));
            }
            c.handle.set(h);
        }
        Ok(())
    }
}

impl std::fmt::Debug for Counter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Counter({:?})", self.cell.name)
    }
}

/// Sends the counters' pending adds to the host (after every export call)
/// and forgets counters nobody holds any more.
pub(crate) fn flush_counters() {
    COUNTERS.with(|cs| {
        let mut cs = cs.borrow_mut();
        cs.retain(|c| Rc::strong_count(c) > 1 || c.pending.get() != 0);
        for c in cs.iter() {
            let d = c.pending.get();
            if d == 0 {
                continue;
            }
            if let Err(e) = (Counter { cell: c.clone() }).declare() {
                c.pending.set(0);
                log(Level::Error, e.message());
                continue;
            }
            c.pending.set(0);
            unsafe { sys::counter_add(c.handle.get(), d) }
        }
    })
}

/// What `open` may use: the configuration, and declarations that fail at
/// once rather than on first use.
pub struct OpenContext<'a> {
    pub(crate) config: Config<'a>,
    pub(crate) name: &'a str,
}

impl<'a> OpenContext<'a> {
    pub fn config(&self) -> Config<'a> {
        self.config
    }

    /// The name the function was registered under.
    pub fn function_name(&self) -> &str {
        self.name
    }

    /// Declares keyed value state `name` now.
    pub fn value_state(&mut self, name: &str) -> Result<ValueState> {
        let s = ValueState::new(name);
        s.declare()?;
        Ok(s)
    }

    /// Declares keyed list state `name` now.
    pub fn list_state(&mut self, name: &str) -> Result<ListState> {
        let s = ListState::new(name);
        s.declare()?;
        Ok(s)
    }

    /// Declares keyed map state `name` now.
    pub fn map_state(&mut self, name: &str) -> Result<MapState> {
        let s = MapState::new(name);
        s.declare()?;
        Ok(s)
    }

    /// Declares the side output `tag` now.
    pub fn side_output(&mut self, tag: &str) -> Result<SideOutput> {
        let s = SideOutput::new(tag);
        s.handle()?;
        Ok(s)
    }

    /// Declares the metric counter `name` now.
    pub fn counter(&mut self, name: &str) -> Result<Counter> {
        let c = Counter::new(name);
        c.declare()?;
        Ok(c)
    }
}

/// The per-input context of flat-map, process, process-window and
/// deserializer functions: emitting, the current key and time, timers.
pub struct Context<'a> {
    pub(crate) out: &'a mut Output,
    pub(crate) key: &'a [u8],
    pub(crate) ts: i64,
    pub(crate) entry: u32,
    /// The input is a record (not a timer or window) and can be forwarded.
    pub(crate) data: bool,
}

impl<'a> Context<'a> {
    /// Emits a record with the input's timestamp and no headers.
    #[inline]
    pub fn emit(&mut self, key: &[u8], value: &[u8]) {
        self.out.entry(entry_kind::OUTPUT, key, value, Headers::EMPTY, 0, self.ts)
    }

    /// Emits a record with timestamp `timestamp`.
    #[inline]
    pub fn emit_at(&mut self, key: &[u8], value: &[u8], timestamp: i64) {
        self.out.entry(entry_kind::OUTPUT, key, value, Headers::EMPTY, 0, timestamp)
    }

    /// Emits a record with headers.
    pub fn emit_with_headers(&mut self, key: &[u8], value: &[u8], timestamp: i64, headers: Headers<'_>) {
        self.out.entry(entry_kind::OUTPUT, key, value, headers, 0, timestamp)
    }

    /// Emits a record (input timestamp, no headers) whose value `f` writes
    /// straight into the output buffer.
    #[inline]
    pub fn emit_with<F: FnOnce(&mut Writer<'_>)>(&mut self, key: &[u8], f: F) {
        self.out.entry_with(entry_kind::OUTPUT, key, Headers::EMPTY, 0, self.ts, f)
    }

    /// Like [`Context::emit_with`] with timestamp `timestamp`.
    pub fn emit_at_with<F: FnOnce(&mut Writer<'_>)>(&mut self, key: &[u8], timestamp: i64, f: F) {
        self.out.entry_with(entry_kind::OUTPUT, key, Headers::EMPTY, 0, timestamp, f)
    }

    /// Emits the input record unchanged, without copying it. Does nothing
    /// for timers and windows.
    pub fn forward(&mut self) {
        if self.data {
            self.out.reference(entry_kind::FORWARD, self.entry)
        }
    }

    /// Emits a record with the input's timestamp to side output `tag`.
    pub fn emit_side(&mut self, tag: &SideOutput, key: &[u8], value: &[u8]) -> Result<()> {
        self.emit_side_at(tag, key, value, self.ts)
    }

    /// Emits a record with timestamp `timestamp` to side output `tag`.
    pub fn emit_side_at(&mut self, tag: &SideOutput, key: &[u8], value: &[u8], timestamp: i64) -> Result<()> {
        let h = tag.handle()?;
        self.out.entry(entry_kind::SIDE_OUTPUT, key, value, Headers::EMPTY, h, timestamp);
        Ok(())
    }

    /// The key of the record, timer or window being handled.
    pub fn key(&self) -> &'a [u8] {
        self.key
    }

    /// The event time of the input: the record's timestamp, the timer's
    /// time, or the window's max timestamp.
    pub fn timestamp(&self) -> i64 {
        self.ts
    }

    /// Index of the input entry being processed.
    pub fn entry_index(&self) -> u32 {
        self.entry
    }

    /// The operator's current watermark.
    pub fn watermark(&self) -> i64 {
        watermark()
    }

    /// The host's processing time in ms.
    pub fn processing_time(&self) -> i64 {
        processing_time()
    }

    /// Sets an event-time timer at `timestamp` for the current key (keyed
    /// functions only). It fires once the watermark passes it.
    pub fn register_event_time_timer(&mut self, timestamp: i64) -> Result<()> {
        timer(true, time_domain::EVENT_TIME, timestamp)
    }

    pub fn register_processing_time_timer(&mut self, timestamp: i64) -> Result<()> {
        timer(true, time_domain::PROCESSING_TIME, timestamp)
    }

    pub fn delete_event_time_timer(&mut self, timestamp: i64) -> Result<()> {
        timer(false, time_domain::EVENT_TIME, timestamp)
    }

    pub fn delete_processing_time_timer(&mut self, timestamp: i64) -> Result<()> {
        timer(false, time_domain::PROCESSING_TIME, timestamp)
    }
}

fn timer(register: bool, domain: u32, ts: i64) -> Result<()> {
    if register {
        check("timer_register", unsafe { sys::timer_register(domain as i32, ts) }).map(drop)
    } else {
        check("timer_delete", unsafe { sys::timer_delete(domain as i32, ts) }).map(drop)
    }
}

/// The operator's current watermark (i64 min before the first).
pub fn watermark() -> i64 {
    unsafe { sys::watermark() }
}

/// The host's processing time in ms since the epoch. Guests have no clock of
/// their own; the host controls this one (tests set it).
pub fn processing_time() -> i64 {
    unsafe { sys::processing_time() }
}

/// Log levels of [`log`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    Debug,
    Info,
    Warn,
    Error,
}

/// Logs `msg` through the task's logger (the host rate-limits it).
pub fn log(level: Level, msg: &str) {
    let l = match level {
        Level::Debug => log_level::DEBUG,
        Level::Info => log_level::INFO,
        Level::Warn => log_level::WARN,
        Level::Error => log_level::ERROR,
    };
    sys::log_message(l, msg)
}
