//! Unit-testing operators natively, without WebAssembly.
//!
//! Off wasm32 the SDK's host imports are served by an in-process fake host
//! (this module's `fake`), and [`Harness`] plays the host's part: it calls
//! the exports, writes batches into the input buffer, collects output entries
//! and keeps keyed state, timers, side output tags, counters and logs in
//! memory. It follows docs/abi.md, but it is a test double: the real host
//! (host/) is what the conformance tests run against.
//!
//! The instance and the fake are per thread (Rust runs each test on its own
//! thread); [`Harness::new`] starts both afresh.
//!
//! ```
//! use freshet_sdk::testing::{Harness, Input};
//! use freshet_sdk::{Context, Module, Record, Result};
//!
//! fn split(r: &Record, ctx: &mut Context) -> Result<()> {
//!     for w in r.value.split(|&b| b == b' ') {
//!         ctx.emit(w, w);
//!     }
//!     Ok(())
//! }
//! fn register(m: &mut Module) {
//!     m.flat_map("split", split);
//! }
//!
//! let mut h = Harness::new(register);
//! h.open("split", "{}").unwrap();
//! let out = h.process(&[Input::data(b"", b"a b", 5)]).unwrap();
//! assert_eq!(out.len(), 2);
//! assert_eq!(out[1].value, b"b");
//! ```

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::marker::PhantomData;

use crate::abi::{
    entry_kind, operator_kind, state_kind, status, DEFAULT_INPUT_CAPACITY, DEFAULT_OUTPUT_CAPACITY, NO_ENTRY,
};
use crate::entry::{append_entry, decode_all, encode_headers};
use crate::record::TimeDomain;
use crate::runtime::{self, exports, Module};

/// One input entry for [`Harness::process`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Input {
    pub kind: u8,
    pub key: Vec<u8>,
    pub value: Vec<u8>,
    pub headers: Vec<(Vec<u8>, Vec<u8>)>,
    pub extra: u32,
    pub timestamp: i64,
}

impl Input {
    /// A record.
    pub fn data(key: &[u8], value: &[u8], timestamp: i64) -> Self {
        Input {
            kind: entry_kind::DATA,
            key: key.to_vec(),
            value: value.to_vec(),
            headers: Vec::new(),
            extra: 0,
            timestamp,
        }
    }

    /// A record with headers.
    pub fn data_with_headers(key: &[u8], value: &[u8], timestamp: i64, headers: &[(&[u8], &[u8])]) -> Self {
        let mut i = Input::data(key, value, timestamp);
        i.headers = headers.iter().map(|(k, v)| (k.to_vec(), v.to_vec())).collect();
        i
    }

    /// A fired timer of `key`.
    pub fn timer(key: &[u8], timestamp: i64, domain: TimeDomain) -> Self {
        Input {
            kind: entry_kind::TIMER,
            key: key.to_vec(),
            value: Vec::new(),
            headers: Vec::new(),
            extra: domain.to_abi(),
            timestamp,
        }
    }

    /// A fired window of `key`; the next `elements` entries are its records.
    pub fn window(key: &[u8], start: i64, end: i64, elements: u32) -> Self {
        let mut value = start.to_le_bytes().to_vec();
        value.extend_from_slice(&end.to_le_bytes());
        Input {
            kind: entry_kind::WINDOW,
            key: key.to_vec(),
            value,
            headers: Vec::new(),
            extra: elements,
            timestamp: end - 1,
        }
    }
}

/// One output entry the guest wrote, copied out.
#[derive(Clone, PartialEq, Eq)]
pub struct Output {
    pub kind: u8,
    pub key: Vec<u8>,
    pub value: Vec<u8>,
    pub headers: Vec<(Vec<u8>, Vec<u8>)>,
    pub extra: u32,
    pub timestamp: i64,
}

impl std::fmt::Debug for Output {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        let mut d = f.debug_struct("Output");
        d.field("kind", &self.kind).field("key", &s(&self.key)).field("value", &s(&self.value));
        if !self.headers.is_empty() {
            let h: Vec<(String, String)> = self.headers.iter().map(|(k, v)| (s(k), s(v))).collect();
            d.field("headers", &h);
        }
        d.field("extra", &self.extra).field("timestamp", &self.timestamp).finish()
    }
}

impl Output {
    /// The message of an `error` entry.
    pub fn error_message(&self) -> Option<&str> {
        if self.kind == entry_kind::ERROR {
            std::str::from_utf8(&self.value).ok()
        } else {
            None
        }
    }
}

/// Plays the host for one instance of a module on this thread.
pub struct Harness {
    register: fn(&mut Module),
    function: Option<i32>,
    input_cap: usize,
    _not_send: PhantomData<*const ()>,
}

impl Harness {
    /// A fresh instance of the module `register` describes, initialised with
    /// the ABI's default buffer sizes.
    pub fn new(register: fn(&mut Module)) -> Self {
        Self::with_buffers(register, DEFAULT_INPUT_CAPACITY as usize, DEFAULT_OUTPUT_CAPACITY as usize)
    }

    /// Like [`Harness::new`] with the given buffer sizes (small buffers
    /// exercise flushing and growth).
    pub fn with_buffers(register: fn(&mut Module), input_cap: usize, output_cap: usize) -> Self {
        runtime::reset();
        FAKE.with(|f| *f.borrow_mut() = Fake::new());
        assert_eq!(exports::abi_version(), crate::abi::VERSION);
        // Natively the returned control block address is truncated to 32
        // bits and means nothing; check the buffers instead.
        exports::init(register, input_cap as i32, output_cap as i32);
        let got = runtime::inspect(|rt| rt.input_mut().len()).unwrap_or(0);
        assert!(got >= input_cap, "freshet_init did not allocate the input buffer");
        Harness { register, function: None, input_cap, _not_send: PhantomData }
    }

    /// The module's functions, `(operator kind, name)`, from its descriptor.
    pub fn functions(&mut self) -> Result<Vec<(u32, String)>, i32> {
        let n = exports::describe(self.register);
        if n < 0 {
            return Err(n);
        }
        let d = runtime::inspect(|rt| rt.out.bytes()[..n as usize].to_vec()).unwrap_or_default();
        let mut r = Reader(&d);
        let _sdk = r.bytes();
        let count = r.u32();
        Ok((0..count).map(|_| (r.u32(), String::from_utf8_lossy(r.bytes()).into_owned())).collect())
    }

    /// The SDK identification the descriptor carries.
    pub fn sdk_name(&mut self) -> String {
        let n = exports::describe(self.register);
        let d = runtime::inspect(|rt| rt.out.bytes()[..n.max(0) as usize].to_vec()).unwrap_or_default();
        String::from_utf8_lossy(Reader(&d).bytes()).into_owned()
    }

    /// Opens function `name` with configuration `config` (a JSON object).
    pub fn open(&mut self, name: &str, config: &str) -> Result<(), i32> {
        let fns = self.functions()?;
        let idx = match fns.iter().position(|(_, n)| n == name) {
            Some(i) => i,
            None => return Err(status::UNKNOWN_FUNCTION),
        };
        let kind = fns[idx].0;
        FAKE.with(|f| f.borrow_mut().keyed = kind == operator_kind::PROCESS || kind == operator_kind::PROCESS_WINDOW);
        self.write_input(config.as_bytes());
        let r = exports::open(self.register, idx as i32, config.len() as i32);
        if r < 0 {
            return Err(r);
        }
        self.function = Some(idx as i32);
        Ok(())
    }

    fn write_input(&mut self, b: &[u8]) {
        if b.len() > self.input_cap {
            // What the host does for a batch larger than the buffer.
            self.input_cap = b.len().next_power_of_two();
            let r = exports::init(self.register, self.input_cap as i32, 0);
            assert!(r != status::OUT_OF_MEMORY, "freshet_init could not grow the input buffer");
        }
        runtime::inspect(|rt| rt.input_mut()[..b.len()].copy_from_slice(b));
    }

    fn function(&self) -> i32 {
        self.function.expect("Harness: call open first")
    }

    /// Sends one batch through `freshet_process` and returns every output
    /// entry (flushed ones included), or the negative status of the call.
    pub fn process(&mut self, entries: &[Input]) -> Result<Vec<Output>, i32> {
        let mut buf = Vec::new();
        let mut hb = Vec::new();
        let mut keys = Vec::with_capacity(entries.len());
        for e in entries {
            let pairs: Vec<(&[u8], &[u8])> = e.headers.iter().map(|(k, v)| (&k[..], &v[..])).collect();
            let h = encode_headers(&mut hb, &pairs);
            append_entry(&mut buf, e.kind, &e.key, &e.value, h, e.extra, e.timestamp);
            keys.push(e.key.clone());
        }
        self.write_input(&buf);
        FAKE.with(|f| {
            let mut f = f.borrow_mut();
            f.keys = keys;
            f.flushed.clear();
        });
        let r = exports::process(self.register, self.function(), buf.len() as i32, entries.len() as i32);
        if r < 0 {
            return Err(r);
        }
        let mut all = FAKE.with(|f| std::mem::take(&mut f.borrow_mut().flushed));
        runtime::inspect(|rt| all.extend_from_slice(&rt.out.bytes()[..r as usize]));
        let decoded = decode_all(&all).map_err(|_| status::INTERNAL)?;
        Ok(decoded
            .into_iter()
            .map(|e| Output {
                kind: e.kind,
                key: e.key.to_vec(),
                value: e.value.to_vec(),
                headers: e.headers.into_iter().map(|(k, v)| (k.to_vec(), v.to_vec())).collect(),
                extra: e.extra,
                timestamp: e.timestamp,
            })
            .collect())
    }

    /// Runs the last batch again and returns the raw result of
    /// `freshet_process` (allocation and speed tests; the input buffer is
    /// left as the last `process` wrote it).
    #[doc(hidden)]
    pub fn replay(&mut self, input_len: usize, entries: usize) -> i32 {
        exports::process(self.register, self.function(), input_len as i32, entries as i32)
    }

    /// Advances the watermark to `wm` and fires, in one batch, every
    /// event-time timer at or before it (ordered by time, then key).
    pub fn advance_watermark(&mut self, wm: i64) -> Result<Vec<Output>, i32> {
        FAKE.with(|f| f.borrow_mut().watermark = wm);
        self.fire(TimeDomain::EventTime, wm)
    }

    /// Advances processing time to `t` and fires the processing-time timers
    /// the clock has passed: those before `t` (as the engine does, a timer
    /// for `ts` fires once the clock reads `ts + 1` or later).
    pub fn advance_processing_time(&mut self, t: i64) -> Result<Vec<Output>, i32> {
        FAKE.with(|f| f.borrow_mut().processing_time = t);
        self.fire(TimeDomain::ProcessingTime, t.saturating_sub(1))
    }

    /// Ends the input as a bounded job's end does: the watermark goes to
    /// `i64::MAX`, firing every event-time timer, then every pending
    /// processing-time timer fires once, in time order, with processing
    /// time moved just past it. A timer registered meanwhile fires too if
    /// it is due by the latest time pending when the end began (or the
    /// clock, if later); later ones are dropped. Returns all outputs.
    pub fn end_of_input(&mut self) -> Result<Vec<Output>, i32> {
        let mut out = self.advance_watermark(i64::MAX)?;
        let proc = TimeDomain::ProcessingTime.to_abi();
        let limit = FAKE.with(|f| {
            let f = f.borrow();
            let latest = f.timers.iter().filter(|t| t.0 == proc).map(|t| t.1).max();
            latest.unwrap_or(i64::MIN).max(f.processing_time - 1)
        });
        let mut fired: BTreeSet<(i64, Vec<u8>)> = BTreeSet::new();
        loop {
            let next = FAKE.with(|f| {
                let mut f = f.borrow_mut();
                let t = f
                    .timers
                    .iter()
                    .find(|t| t.0 == proc && t.1 <= limit && !fired.contains(&(t.1, t.2.clone())))
                    .cloned();
                if let Some(t) = &t {
                    f.timers.remove(t);
                    f.processing_time = f.processing_time.max(t.1.saturating_add(1));
                }
                t
            });
            let (_, ts, key) = match next {
                Some(t) => t,
                None => break,
            };
            fired.insert((ts, key.clone()));
            out.extend(self.process(&[Input::timer(&key, ts, TimeDomain::ProcessingTime)])?);
        }
        FAKE.with(|f| f.borrow_mut().timers.retain(|t| t.0 != proc));
        Ok(out)
    }

    fn fire(&mut self, domain: TimeDomain, upto: i64) -> Result<Vec<Output>, i32> {
        let due: Vec<Input> = FAKE.with(|f| {
            let mut f = f.borrow_mut();
            let due: Vec<(u32, i64, Vec<u8>)> =
                f.timers.iter().filter(|t| t.0 == domain.to_abi() && t.1 <= upto).cloned().collect();
            for t in &due {
                f.timers.remove(t);
            }
            due.into_iter().map(|(_, ts, key)| Input::timer(&key, ts, domain)).collect()
        });
        if due.is_empty() {
            return Ok(Vec::new());
        }
        self.process(&due)
    }

    /// Registered timers, `(domain, time, key)`, in firing order.
    pub fn timers(&self) -> Vec<(TimeDomain, i64, Vec<u8>)> {
        FAKE.with(|f| {
            f.borrow()
                .timers
                .iter()
                .map(|(d, ts, k)| (TimeDomain::from_abi(*d).unwrap_or(TimeDomain::EventTime), *ts, k.clone()))
                .collect()
        })
    }

    /// The value of value state `state` for `key`.
    pub fn value(&self, state: &str, key: &[u8]) -> Option<Vec<u8>> {
        FAKE.with(|f| {
            let f = f.borrow();
            let h = f.states.iter().position(|(n, _)| n == state)? as i32;
            f.values.get(&(h, key.to_vec())).cloned()
        })
    }

    /// The current value of counter `name`.
    pub fn counter(&self, name: &str) -> i64 {
        FAKE.with(|f| f.borrow().counters.iter().find(|(n, _)| n == name).map(|c| c.1).unwrap_or(0))
    }

    /// The tag of side output handle `handle`.
    pub fn side_output_tag(&self, handle: u32) -> Option<String> {
        FAKE.with(|f| f.borrow().tags.get(handle as usize).cloned())
    }

    /// Messages the guest logged, `(level, message)`.
    pub fn logs(&self) -> Vec<(i32, String)> {
        FAKE.with(|f| f.borrow().logs.clone())
    }

    pub fn set_watermark(&mut self, wm: i64) {
        FAKE.with(|f| f.borrow_mut().watermark = wm)
    }

    pub fn set_processing_time(&mut self, t: i64) {
        FAKE.with(|f| f.borrow_mut().processing_time = t)
    }

    fn agg(&mut self, r: i32) -> Result<Vec<u8>, i32> {
        if r < 0 {
            return Err(r);
        }
        Ok(runtime::inspect(|rt| rt.out.bytes()[..r as usize].to_vec()).unwrap_or_default())
    }

    pub fn agg_create(&mut self) -> Result<Vec<u8>, i32> {
        let r = exports::agg_create(self.register, self.function());
        self.agg(r)
    }

    pub fn agg_add(&mut self, acc: &[u8], value: &[u8]) -> Result<Vec<u8>, i32> {
        self.write_input(&[acc, value].concat());
        let r = exports::agg_add(self.register, self.function(), acc.len() as i32, value.len() as i32);
        self.agg(r)
    }

    pub fn agg_merge(&mut self, a: &[u8], b: &[u8]) -> Result<Vec<u8>, i32> {
        self.write_input(&[a, b].concat());
        let r = exports::agg_merge(self.register, self.function(), a.len() as i32, b.len() as i32);
        self.agg(r)
    }

    pub fn agg_result(&mut self, acc: &[u8]) -> Result<Vec<u8>, i32> {
        self.write_input(acc);
        let r = exports::agg_result(self.register, self.function(), acc.len() as i32);
        self.agg(r)
    }
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn u32(&mut self) -> u32 {
        let (h, t) = self.0.split_at(4.min(self.0.len()));
        self.0 = t;
        let mut b = [0u8; 4];
        b[..h.len()].copy_from_slice(h);
        u32::from_le_bytes(b)
    }

    fn bytes(&mut self) -> &'a [u8] {
        let n = (self.u32() as usize).min(self.0.len());
        let (h, t) = self.0.split_at(n);
        self.0 = t;
        h
    }
}

#[derive(Default)]
struct Fake {
    keyed: bool,
    keys: Vec<Vec<u8>>,
    states: Vec<(String, u32)>,
    values: BTreeMap<(i32, Vec<u8>), Vec<u8>>,
    lists: BTreeMap<(i32, Vec<u8>), Vec<Vec<u8>>>,
    maps: BTreeMap<(i32, Vec<u8>), BTreeMap<Vec<u8>, Vec<u8>>>,
    timers: BTreeSet<(u32, i64, Vec<u8>)>,
    tags: Vec<String>,
    counters: Vec<(String, i64)>,
    logs: Vec<(i32, String)>,
    watermark: i64,
    processing_time: i64,
    flushed: Vec<u8>,
}

thread_local! {
    static FAKE: RefCell<Fake> = RefCell::new(Fake::new());
}

impl Fake {
    fn new() -> Self {
        Fake { watermark: i64::MIN, ..Fake::default() }
    }
}

/// The fake host functions, with the signatures of `abi::host`.
#[allow(clippy::missing_safety_doc)]
pub(crate) mod fake {
    use super::*;

    unsafe fn slice<'a>(p: *const u8, n: i32) -> &'a [u8] {
        if n <= 0 {
            &[]
        } else {
            std::slice::from_raw_parts(p, n as usize)
        }
    }

    /// Copies `v` to `buf` if it fits; returns its length.
    unsafe fn give(v: &[u8], buf: *mut u8, cap: i32) -> i32 {
        if v.len() <= cap.max(0) as usize {
            std::ptr::copy_nonoverlapping(v.as_ptr(), buf, v.len());
        }
        v.len() as i32
    }

    /// The key of the current entry, or the status that explains its absence.
    fn key(f: &Fake) -> Result<Vec<u8>, i32> {
        if !f.keyed {
            return Err(status::UNSUPPORTED);
        }
        let i = crate::ctrl::current_entry();
        if i == NO_ENTRY {
            return Err(status::NO_CURRENT_KEY);
        }
        f.keys.get(i as usize).cloned().ok_or(status::NO_CURRENT_KEY)
    }

    fn state(f: &Fake, handle: i32, kind: u32) -> Result<Vec<u8>, i32> {
        match f.states.get(handle as usize) {
            None => Err(status::UNKNOWN_HANDLE),
            Some((_, k)) if *k != kind => Err(status::KIND_MISMATCH),
            Some(_) => key(f),
        }
    }

    fn with<R>(g: impl FnOnce(&mut Fake) -> R) -> R {
        FAKE.with(|f| g(&mut f.borrow_mut()))
    }

    pub(crate) fn flush(out: &[u8]) -> i32 {
        with(|f| f.flushed.extend_from_slice(out));
        status::OK
    }

    pub(crate) unsafe fn state_declare(kind: i32, name: *const u8, name_len: i32, _ttl_ms: i64) -> i32 {
        let name = String::from_utf8_lossy(slice(name, name_len)).into_owned();
        with(|f| {
            if !f.keyed {
                return status::UNSUPPORTED;
            }
            if name.is_empty() || !(state_kind::VALUE..=state_kind::MAP).contains(&(kind as u32)) {
                return status::INVALID_ARGUMENT;
            }
            match f.states.iter().position(|(n, _)| *n == name) {
                Some(i) if f.states[i].1 == kind as u32 => i as i32,
                Some(_) => status::KIND_MISMATCH,
                None => {
                    f.states.push((name, kind as u32));
                    f.states.len() as i32 - 1
                }
            }
        })
    }

    pub(crate) unsafe fn value_get(handle: i32, buf: *mut u8, cap: i32) -> i32 {
        with(|f| match state(f, handle, state_kind::VALUE) {
            Err(s) => s,
            Ok(k) => match f.values.get(&(handle, k)) {
                Some(v) => give(v, buf, cap),
                None => status::NOT_FOUND,
            },
        })
    }

    pub(crate) unsafe fn value_put(handle: i32, v: *const u8, n: i32) -> i32 {
        let v = slice(v, n).to_vec();
        with(|f| match state(f, handle, state_kind::VALUE) {
            Err(s) => s,
            Ok(k) => {
                f.values.insert((handle, k), v);
                status::OK
            }
        })
    }

    pub(crate) unsafe fn state_clear(handle: i32) -> i32 {
        with(|f| {
            let kind = match f.states.get(handle as usize) {
                Some((_, k)) => *k,
                None => return status::UNKNOWN_HANDLE,
            };
            match state(f, handle, kind) {
                Err(s) => s,
                Ok(k) => {
                    f.values.remove(&(handle, k.clone()));
                    f.lists.remove(&(handle, k.clone()));
                    f.maps.remove(&(handle, k));
                    status::OK
                }
            }
        })
    }

    pub(crate) unsafe fn list_add(handle: i32, v: *const u8, n: i32) -> i32 {
        let v = slice(v, n).to_vec();
        with(|f| match state(f, handle, state_kind::LIST) {
            Err(s) => s,
            Ok(k) => {
                f.lists.entry((handle, k)).or_default().push(v);
                status::OK
            }
        })
    }

    pub(crate) unsafe fn list_get(handle: i32, buf: *mut u8, cap: i32) -> i32 {
        with(|f| match state(f, handle, state_kind::LIST) {
            Err(s) => s,
            Ok(k) => {
                let mut enc = Vec::new();
                for v in f.lists.get(&(handle, k)).map(|l| &l[..]).unwrap_or(&[]) {
                    enc.extend_from_slice(&(v.len() as u32).to_le_bytes());
                    enc.extend_from_slice(v);
                }
                give(&enc, buf, cap)
            }
        })
    }

    pub(crate) unsafe fn list_update(handle: i32, list: *const u8, n: i32) -> i32 {
        let mut rest = slice(list, n);
        let mut items = Vec::new();
        while !rest.is_empty() {
            if rest.len() < 4 {
                return status::INVALID_ARGUMENT;
            }
            let len = u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
            if rest.len() - 4 < len {
                return status::INVALID_ARGUMENT;
            }
            items.push(rest[4..4 + len].to_vec());
            rest = &rest[4 + len..];
        }
        with(|f| match state(f, handle, state_kind::LIST) {
            Err(s) => s,
            Ok(k) => {
                f.lists.insert((handle, k), items);
                status::OK
            }
        })
    }

    pub(crate) unsafe fn map_get(handle: i32, uk: *const u8, ukn: i32, buf: *mut u8, cap: i32) -> i32 {
        let uk = slice(uk, ukn);
        with(|f| match state(f, handle, state_kind::MAP) {
            Err(s) => s,
            Ok(k) => match f.maps.get(&(handle, k)).and_then(|m| m.get(uk)) {
                Some(v) => give(v, buf, cap),
                None => status::NOT_FOUND,
            },
        })
    }

    pub(crate) unsafe fn map_put(handle: i32, uk: *const u8, ukn: i32, v: *const u8, n: i32) -> i32 {
        let (uk, v) = (slice(uk, ukn).to_vec(), slice(v, n).to_vec());
        with(|f| match state(f, handle, state_kind::MAP) {
            Err(s) => s,
            Ok(k) => {
                f.maps.entry((handle, k)).or_default().insert(uk, v);
                status::OK
            }
        })
    }

    pub(crate) unsafe fn map_delete(handle: i32, uk: *const u8, ukn: i32) -> i32 {
        let uk = slice(uk, ukn);
        with(|f| match state(f, handle, state_kind::MAP) {
            Err(s) => s,
            Ok(k) => {
                if let Some(m) = f.maps.get_mut(&(handle, k)) {
                    m.remove(uk);
                }
                status::OK
            }
        })
    }

    pub(crate) unsafe fn map_scan(handle: i32, buf: *mut u8, cap: i32) -> i32 {
        with(|f| match state(f, handle, state_kind::MAP) {
            Err(s) => s,
            Ok(k) => {
                let mut enc = Vec::new();
                if let Some(m) = f.maps.get(&(handle, k)) {
                    for (uk, v) in m {
                        enc.extend_from_slice(&(uk.len() as u32).to_le_bytes());
                        enc.extend_from_slice(uk);
                        enc.extend_from_slice(&(v.len() as u32).to_le_bytes());
                        enc.extend_from_slice(v);
                    }
                }
                give(&enc, buf, cap)
            }
        })
    }

    fn timer(domain: i32, ts: i64, register: bool) -> i32 {
        if TimeDomain::from_abi(domain as u32).is_none() {
            return status::INVALID_ARGUMENT;
        }
        with(|f| match key(f) {
            Err(s) => s,
            Ok(k) => {
                if register {
                    f.timers.insert((domain as u32, ts, k));
                } else {
                    f.timers.remove(&(domain as u32, ts, k));
                }
                status::OK
            }
        })
    }

    pub(crate) unsafe fn timer_register(domain: i32, ts: i64) -> i32 {
        timer(domain, ts, true)
    }

    pub(crate) unsafe fn timer_delete(domain: i32, ts: i64) -> i32 {
        timer(domain, ts, false)
    }

    pub(crate) unsafe fn side_output_tag(tag: *const u8, n: i32) -> i32 {
        let tag = String::from_utf8_lossy(slice(tag, n)).into_owned();
        if tag.is_empty() {
            return status::INVALID_ARGUMENT;
        }
        with(|f| match f.tags.iter().position(|t| *t == tag) {
            Some(i) => i as i32,
            None => {
                f.tags.push(tag);
                f.tags.len() as i32 - 1
            }
        })
    }

    #[allow(dead_code)] // the SDK reads keys from entries; kept so the fake serves the whole ABI
    pub(crate) unsafe fn current_key(buf: *mut u8, cap: i32) -> i32 {
        with(|f| match key(f) {
            Err(s) => s,
            Ok(k) => give(&k, buf, cap),
        })
    }

    pub(crate) unsafe fn watermark() -> i64 {
        with(|f| f.watermark)
    }

    pub(crate) unsafe fn processing_time() -> i64 {
        with(|f| f.processing_time)
    }

    pub(crate) unsafe fn log(level: i32, msg: *const u8, n: i32) {
        let msg = String::from_utf8_lossy(slice(msg, n)).into_owned();
        with(|f| f.logs.push((level, msg)))
    }

    pub(crate) unsafe fn counter_declare(name: *const u8, n: i32) -> i32 {
        let name = String::from_utf8_lossy(slice(name, n)).into_owned();
        if name.is_empty() {
            return status::INVALID_ARGUMENT;
        }
        with(|f| match f.counters.iter().position(|c| c.0 == name) {
            Some(i) => i as i32,
            None => {
                f.counters.push((name, 0));
                f.counters.len() as i32 - 1
            }
        })
    }

    pub(crate) unsafe fn counter_add(handle: i32, delta: i64) {
        with(|f| {
            if let Some(c) = f.counters.get_mut(handle as usize) {
                c.1 += delta
            }
        })
    }
}
