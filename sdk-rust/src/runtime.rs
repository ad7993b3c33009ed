//! The guest side of ABI v1: the registered functions, the buffers, and the
//! bodies of the exports that [`crate::export!`] declares.
//!
//! State lives in one per-instance `Runtime` (a thread-local, i.e. a plain
//! static on wasm32), created on the first export call by running the
//! module's registration function. Each export borrows it once; per record
//! there is no allocation, no host call unless user code makes one, and one
//! dynamic call into the user function.

use std::cell::RefCell;

use crate::abi::{entry_kind, log_level, operator_kind, status, NO_ENTRY, VERSION};
use crate::context::{flush_counters, Config, Context, OpenContext};
use crate::ctrl;
use crate::entry::{DecodeError, Entries, Entry};
use crate::function::{
    AggregateFunction, FilterFunction, FlatMapFunction, KeySelector, MapFunction, ProcessFunction,
    ProcessWindowFunction,
};
use crate::json::Scanner;
use crate::output::{KeyOutput, MapOutput, Output, Writer};
use crate::record::{Elements, Record, TimeDomain, Timer, Window};
use crate::sys;

/// The SDK's name and version, reported in the module descriptor.
pub const SDK_NAME: &str = concat!("freshet-sdk-rust ", env!("CARGO_PKG_VERSION"));

enum Function {
    Map(Box<dyn RecordFunction>),
    Filter(Box<dyn RecordFunction>),
    FlatMap(Box<dyn RecordFunction>),
    KeySelector(Box<dyn RecordFunction>),
    Process(Box<dyn ProcessFunction>),
    Aggregate(Box<dyn AggregateFunction>),
    ProcessWindow(Box<dyn ProcessWindowFunction>),
    Deserializer(Box<dyn RecordFunction>),
}

/// A function of a record-at-a-time kind with the loop over a batch
/// compiled for it: one dynamic call per batch, and the user function
/// inlined into the loop, instead of one dynamic call per record.
trait RecordFunction {
    fn open(&mut self, ctx: &mut OpenContext<'_>) -> crate::Result<()>;
    fn run(&mut self, input: &[u8], n: u32, out: &mut Output, name: &str) -> i32;
}

struct MapRun<F>(F);
struct FilterRun<F>(F);
struct FlatMapRun<F>(F);
struct KeyRun<F>(F);

impl<F: MapFunction> RecordFunction for MapRun<F> {
    fn open(&mut self, ctx: &mut OpenContext<'_>) -> crate::Result<()> {
        self.0.open(ctx)
    }
    fn run(&mut self, input: &[u8], n: u32, out: &mut Output, name: &str) -> i32 {
        run_map(&mut self.0, input, n, out, name)
    }
}

impl<F: FilterFunction> RecordFunction for FilterRun<F> {
    fn open(&mut self, ctx: &mut OpenContext<'_>) -> crate::Result<()> {
        self.0.open(ctx)
    }
    fn run(&mut self, input: &[u8], n: u32, out: &mut Output, name: &str) -> i32 {
        run_filter(&mut self.0, input, n, out, name)
    }
}

impl<F: FlatMapFunction> RecordFunction for FlatMapRun<F> {
    fn open(&mut self, ctx: &mut OpenContext<'_>) -> crate::Result<()> {
        self.0.open(ctx)
    }
    fn run(&mut self, input: &[u8], n: u32, out: &mut Output, name: &str) -> i32 {
        run_flat_map(&mut self.0, input, n, out, name)
    }
}

impl<F: KeySelector> RecordFunction for KeyRun<F> {
    fn open(&mut self, ctx: &mut OpenContext<'_>) -> crate::Result<()> {
        self.0.open(ctx)
    }
    fn run(&mut self, input: &[u8], n: u32, out: &mut Output, name: &str) -> i32 {
        run_key_selector(&mut self.0, input, n, out, name)
    }
}

impl Function {
    fn kind(&self) -> u32 {
        match self {
            Function::Map(_) => operator_kind::MAP,
            Function::Filter(_) => operator_kind::FILTER,
            Function::FlatMap(_) => operator_kind::FLAT_MAP,
            Function::KeySelector(_) => operator_kind::KEY_SELECTOR,
            Function::Process(_) => operator_kind::PROCESS,
            Function::Aggregate(_) => operator_kind::AGGREGATE,
            Function::ProcessWindow(_) => operator_kind::PROCESS_WINDOW,
            Function::Deserializer(_) => operator_kind::DESERIALIZER,
        }
    }
}

/// The functions a module offers, in the order the descriptor lists them.
/// The module's registration function fills it; see [`crate::export!`].
pub struct Module {
    functions: Vec<(String, Function)>,
    problem: Option<String>,
}

impl Module {
    fn new() -> Self {
        Module { functions: Vec::new(), problem: None }
    }

    fn add(&mut self, name: &str, f: Function) -> &mut Self {
        if self.problem.is_none() {
            if name.is_empty() || name.len() > u32::MAX as usize {
                self.problem = Some("a function has an empty name".into());
            } else if self.functions.iter().any(|(n, _)| n == name) {
                self.problem = Some(format!("function {:?} is registered twice", name));
            }
        }
        self.functions.push((name.to_owned(), f));
        self
    }

    pub fn map(&mut self, name: &str, f: impl MapFunction + 'static) -> &mut Self {
        self.add(name, Function::Map(Box::new(MapRun(f))))
    }

    pub fn filter(&mut self, name: &str, f: impl FilterFunction + 'static) -> &mut Self {
        self.add(name, Function::Filter(Box::new(FilterRun(f))))
    }

    pub fn flat_map(&mut self, name: &str, f: impl FlatMapFunction + 'static) -> &mut Self {
        self.add(name, Function::FlatMap(Box::new(FlatMapRun(f))))
    }

    pub fn key_selector(&mut self, name: &str, f: impl KeySelector + 'static) -> &mut Self {
        self.add(name, Function::KeySelector(Box::new(KeyRun(f))))
    }

    pub fn process(&mut self, name: &str, f: impl ProcessFunction + 'static) -> &mut Self {
        self.add(name, Function::Process(Box::new(f)))
    }

    pub fn aggregate(&mut self, name: &str, f: impl AggregateFunction + 'static) -> &mut Self {
        self.add(name, Function::Aggregate(Box::new(f)))
    }

    pub fn process_window(&mut self, name: &str, f: impl ProcessWindowFunction + 'static) -> &mut Self {
        self.add(name, Function::ProcessWindow(Box::new(f)))
    }

    /// A source deserializer: a flat-map over the raw key/value bytes a
    /// source read.
    pub fn deserializer(&mut self, name: &str, f: impl FlatMapFunction + 'static) -> &mut Self {
        self.add(name, Function::Deserializer(Box::new(FlatMapRun(f))))
    }
}

pub(crate) struct Runtime {
    input: Vec<u8>,
    pub(crate) out: Output,
    module: Module,
    opened: Option<usize>,
}

thread_local! {
    static RT: RefCell<Option<Runtime>> = RefCell::new(None);
}

fn with_rt(register: fn(&mut Module), f: impl FnOnce(&mut Runtime) -> i32) -> i32 {
    RT.with(|cell| match cell.try_borrow_mut() {
        Ok(mut g) => f(g.get_or_insert_with(|| Runtime::new(register))),
        Err(_) => status::INTERNAL, // an export re-entered from user code
    })
}

/// Forgets this thread's instance (native tests start a fresh one).
#[cfg(not(target_arch = "wasm32"))]
pub(crate) fn reset() {
    RT.with(|cell| *cell.borrow_mut() = None);
    ctrl::set_current_entry(NO_ENTRY);
}

/// Runs `f` on this thread's instance, if there is one (native harness).
#[cfg(not(target_arch = "wasm32"))]
pub(crate) fn inspect<R>(f: impl FnOnce(&mut Runtime) -> R) -> Option<R> {
    RT.with(|cell| cell.try_borrow_mut().ok().and_then(|mut g| g.as_mut().map(f)))
}

#[cfg(not(target_arch = "wasm32"))]
impl Runtime {
    pub(crate) fn input_mut(&mut self) -> &mut [u8] {
        &mut self.input
    }
}

fn log_error(msg: &str) {
    sys::log_message(log_level::ERROR, msg)
}

fn bad_input(e: DecodeError) -> i32 {
    log_error(&e.to_string());
    status::BAD_INPUT
}

fn unexpected(kind: u8, index: u32, function: &str) -> i32 {
    log_error(&format!(
        "{}: input entry {} has kind {}, which this operator kind does not take",
        function, index, kind
    ));
    status::BAD_INPUT
}

impl Runtime {
    fn new(register: fn(&mut Module)) -> Self {
        #[cfg(target_arch = "wasm32")]
        std::panic::set_hook(Box::new(|info| log_error(&format!("panic: {}", info))));
        let mut module = Module::new();
        register(&mut module);
        Runtime { input: Vec::new(), out: Output::new(), module, opened: None }
    }

    fn init(&mut self, input_cap: i32, output_cap: i32) -> i32 {
        if input_cap < 0 || output_cap < 0 {
            return status::INVALID_ARGUMENT;
        }
        let want = input_cap as usize;
        if self.input.len() < want {
            if self.input.try_reserve_exact(want - self.input.len()).is_err() {
                return status::OUT_OF_MEMORY;
            }
            self.input.resize(want, 0);
        }
        ctrl::set_input(self.input.as_ptr(), self.input.len());
        if !self.out.reserve_total(output_cap as usize) {
            return status::OUT_OF_MEMORY;
        }
        ctrl::address() as i32
    }

    fn describe(&mut self) -> i32 {
        if let Some(p) = &self.module.problem {
            log_error(&format!("module registration: {}", p));
            return status::INTERNAL;
        }
        self.out.begin();
        let b = self.out.raw();
        b.extend_from_slice(&(SDK_NAME.len() as u32).to_le_bytes());
        b.extend_from_slice(SDK_NAME.as_bytes());
        b.extend_from_slice(&(self.module.functions.len() as u32).to_le_bytes());
        for (name, f) in &self.module.functions {
            b.extend_from_slice(&f.kind().to_le_bytes());
            b.extend_from_slice(&(name.len() as u32).to_le_bytes());
            b.extend_from_slice(name.as_bytes());
        }
        self.out.finish()
    }

    fn open(&mut self, function: i32, config_len: i32) -> i32 {
        let idx = function as usize;
        if function < 0 || idx >= self.module.functions.len() {
            return status::UNKNOWN_FUNCTION;
        }
        if let Some(o) = self.opened {
            if o != idx {
                log_error("freshet_open: this instance already serves another function");
                return status::INVALID_ARGUMENT;
            }
        }
        let raw = match self.input.get(..config_len.max(0) as usize) {
            Some(r) if config_len >= 0 => r,
            _ => return status::BAD_INPUT,
        };
        let (name, f) = &mut self.module.functions[idx];
        let config = match std::str::from_utf8(raw) {
            Ok("") => "{}",
            Ok(s) if Scanner::new().validate(s.as_bytes()) && s.trim_start().starts_with('{') => s,
            _ => {
                log_error(&format!("open {}: the configuration is not a JSON object", name));
                return status::INVALID_ARGUMENT;
            }
        };
        let mut ctx = OpenContext { config: Config::new(config), name };
        let r = match f {
            Function::Map(f)
            | Function::Filter(f)
            | Function::FlatMap(f)
            | Function::Deserializer(f)
            | Function::KeySelector(f) => f.open(&mut ctx),
            Function::Process(f) => f.open(&mut ctx),
            Function::Aggregate(f) => f.open(&mut ctx),
            Function::ProcessWindow(f) => f.open(&mut ctx),
        };
        flush_counters();
        match r {
            Ok(()) => {
                self.opened = Some(idx);
                status::OK
            }
            Err(e) => {
                log_error(&format!("open {}: {}", name, e));
                // A failed open is a configuration problem unless a host
                // call said otherwise.
                if e.status() == status::USER_ERROR {
                    status::INVALID_ARGUMENT
                } else {
                    e.status()
                }
            }
        }
    }

    /// The opened function, when it is `function`.
    fn opened(&self, function: i32) -> Option<usize> {
        match self.opened {
            Some(i) if function >= 0 && i == function as usize => Some(i),
            _ => None,
        }
    }

    fn process(&mut self, function: i32, input_len: i32, entries: i32) -> i32 {
        let idx = match self.opened(function) {
            Some(i) => i,
            None => return status::UNKNOWN_FUNCTION,
        };
        let input = match self.input.get(..input_len.max(0) as usize) {
            Some(i) if input_len >= 0 && entries >= 0 => i,
            _ => return status::BAD_INPUT,
        };
        let n = entries as u32;
        let out = &mut self.out;
        out.begin();
        let (name, f) = &mut self.module.functions[idx];
        let st = match f {
            Function::Map(f)
            | Function::Filter(f)
            | Function::FlatMap(f)
            | Function::Deserializer(f)
            | Function::KeySelector(f) => f.run(input, n, out, name),
            Function::Process(f) => run_process(&mut **f, input, n, out, name),
            Function::ProcessWindow(f) => run_process_window(&mut **f, input, n, out, name),
            Function::Aggregate(_) => status::UNKNOWN_FUNCTION,
        };
        ctrl::set_current_entry(NO_ENTRY);
        flush_counters();
        if st < 0 {
            self.out.fail(st);
        }
        self.out.finish()
    }

    fn aggregate(
        &mut self,
        function: i32,
        lens: [i32; 2],
        call: impl FnOnce(&mut dyn AggregateFunction, &[u8], &[u8], &mut Writer<'_>) -> crate::Result<()>,
    ) -> i32 {
        let idx = match self.opened(function) {
            Some(i) => i,
            None => return status::UNKNOWN_FUNCTION,
        };
        let (name, f) = &mut self.module.functions[idx];
        let f = match f {
            Function::Aggregate(f) => &mut **f,
            _ => return status::UNKNOWN_FUNCTION,
        };
        if lens[0] < 0 || lens[1] < 0 {
            return status::BAD_INPUT;
        }
        let (a, b) = (lens[0] as usize, lens[1] as usize);
        let (x, y) = match self.input.get(..a + b) {
            Some(i) => i.split_at(a),
            None => return status::BAD_INPUT,
        };
        self.out.begin();
        let r = call(f, x, y, &mut Writer { buf: self.out.raw(), start: 0 });
        flush_counters();
        if let Err(e) = r {
            log_error(&format!("aggregate {}: {}", name, e));
            self.out.fail(e.status());
        }
        self.out.finish()
    }
}

/// Decodes the next entry and checks its kind; Err carries the status.
#[inline(always)]
fn next_entry<'a>(
    it: &mut Entries<'a>,
    allowed: impl Fn(u8) -> bool,
    name: &str,
) -> Option<Result<(u32, Entry<'a>), i32>> {
    let i = it.index();
    match it.next()? {
        Ok(e) if allowed(e.kind) => {
            ctrl::set_current_entry(i);
            Some(Ok((i, e)))
        }
        Ok(e) => Some(Err(unexpected(e.kind, i, name))),
        Err(err) => Some(Err(bad_input(err))),
    }
}

fn data(k: u8) -> bool {
    k == entry_kind::DATA
}

fn run_map<F: MapFunction + ?Sized>(f: &mut F, input: &[u8], n: u32, out: &mut Output, name: &str) -> i32 {
    let mut it = Entries::new(input, n);
    while let Some(r) = next_entry(&mut it, data, name) {
        let (i, e) = match r {
            Ok(x) => x,
            Err(st) => return st,
        };
        let mark = out.mark();
        let rec = Record::from_entry(&e);
        if let Err(err) = f.map(&rec, MapOutput { out: &mut *out, rec, entry: i }) {
            out.retract(mark);
            out.error(i, err.message());
        }
    }
    status::OK
}

fn run_filter<F: FilterFunction + ?Sized>(f: &mut F, input: &[u8], n: u32, out: &mut Output, name: &str) -> i32 {
    let mut it = Entries::new(input, n);
    while let Some(r) = next_entry(&mut it, data, name) {
        let (i, e) = match r {
            Ok(x) => x,
            Err(st) => return st,
        };
        match f.filter(&Record::from_entry(&e)) {
            Ok(true) => out.reference(entry_kind::FORWARD, i),
            Ok(false) => {}
            Err(err) => out.error(i, err.message()),
        }
    }
    status::OK
}

fn run_flat_map<F: FlatMapFunction + ?Sized>(f: &mut F, input: &[u8], n: u32, out: &mut Output, name: &str) -> i32 {
    let mut it = Entries::new(input, n);
    while let Some(r) = next_entry(&mut it, data, name) {
        let (i, e) = match r {
            Ok(x) => x,
            Err(st) => return st,
        };
        let mark = out.mark();
        let mut ctx = Context { out: &mut *out, key: e.key, ts: e.timestamp, entry: i, data: true };
        if let Err(err) = f.flat_map(&Record::from_entry(&e), &mut ctx) {
            out.retract(mark);
            out.error(i, err.message());
        }
    }
    status::OK
}

fn run_key_selector<F: KeySelector + ?Sized>(f: &mut F, input: &[u8], n: u32, out: &mut Output, name: &str) -> i32 {
    let mut it = Entries::new(input, n);
    while let Some(r) = next_entry(&mut it, data, name) {
        let (i, e) = match r {
            Ok(x) => x,
            Err(st) => return st,
        };
        let mark = out.mark();
        if let Err(err) = f.select_key(&Record::from_entry(&e), KeyOutput { out: &mut *out, entry: i, ts: e.timestamp })
        {
            out.retract(mark);
            out.error(i, err.message());
        }
    }
    status::OK
}

fn run_process(f: &mut dyn ProcessFunction, input: &[u8], n: u32, out: &mut Output, name: &str) -> i32 {
    let mut it = Entries::new(input, n);
    let allowed = |k| k == entry_kind::DATA || k == entry_kind::TIMER;
    while let Some(r) = next_entry(&mut it, allowed, name) {
        let (i, e) = match r {
            Ok(x) => x,
            Err(st) => return st,
        };
        let mark = out.mark();
        let data = e.kind == entry_kind::DATA;
        let mut ctx = Context { out: &mut *out, key: e.key, ts: e.timestamp, entry: i, data };
        let r = if data {
            f.process(&Record::from_entry(&e), &mut ctx)
        } else {
            let domain = match TimeDomain::from_abi(e.extra) {
                Some(d) => d,
                None => return unexpected(e.kind, i, name),
            };
            let t = Timer { key: e.key, namespace: e.value, timestamp: e.timestamp, domain };
            f.on_timer(&t, &mut ctx)
        };
        if let Err(err) = r {
            out.retract(mark);
            out.error(i, err.message());
        }
    }
    status::OK
}

fn run_process_window(f: &mut dyn ProcessWindowFunction, input: &[u8], n: u32, out: &mut Output, name: &str) -> i32 {
    let mut it = Entries::new(input, n);
    while let Some(r) = next_entry(&mut it, |k| k == entry_kind::WINDOW, name) {
        let (i, e) = match r {
            Ok(x) => x,
            Err(st) => return st,
        };
        let window = match Window::decode(e.value) {
            Some(w) => w,
            None => {
                log_error(&format!("{}: window entry {} has a value of {} bytes, not 16", name, i, e.value.len()));
                return status::BAD_INPUT;
            }
        };
        // Validate the elements before user code sees them, then rewind.
        let elements = Elements { entries: it.clone(), left: e.extra };
        for _ in 0..e.extra {
            match it.next() {
                Some(Ok(el)) if el.kind == entry_kind::DATA => {}
                Some(Ok(el)) => return unexpected(el.kind, it.index() - 1, name),
                Some(Err(err)) => return bad_input(err),
                None => {
                    return bad_input(DecodeError { entry: it.index(), offset: 0, reason: "window elements missing" })
                }
            }
        }
        ctrl::set_current_entry(i);
        let mark = out.mark();
        let mut ctx = Context { out: &mut *out, key: e.key, ts: window.max_timestamp(), entry: i, data: false };
        if let Err(err) = f.process(e.key, window, elements, &mut ctx) {
            out.retract(mark);
            out.error(i, err.message());
        }
    }
    status::OK
}

/// Bodies of the exports; only [`crate::export!`] calls these.
#[doc(hidden)]
pub mod exports {
    use super::*;

    /// Fails the build of a module whose export name drifted from the ABI.
    pub const fn assert_export(declared: &str, abi_name: &str) {
        let (a, b) = (declared.as_bytes(), abi_name.as_bytes());
        let mut same = a.len() == b.len();
        let mut i = 0;
        while same && i < a.len() {
            same = a[i] == b[i];
            i += 1;
        }
        if !same {
            panic!("freshet_sdk::export!: an export name differs from abi::export_name");
        }
    }

    pub fn abi_version() -> i32 {
        VERSION
    }

    pub fn init(register: fn(&mut Module), input_cap: i32, output_cap: i32) -> i32 {
        with_rt(register, |rt| rt.init(input_cap, output_cap))
    }

    pub fn describe(register: fn(&mut Module)) -> i32 {
        with_rt(register, |rt| rt.describe())
    }

    pub fn open(register: fn(&mut Module), function: i32, config_len: i32) -> i32 {
        with_rt(register, |rt| rt.open(function, config_len))
    }

    pub fn process(register: fn(&mut Module), function: i32, input_len: i32, entries: i32) -> i32 {
        with_rt(register, |rt| rt.process(function, input_len, entries))
    }

    pub fn agg_create(register: fn(&mut Module), function: i32) -> i32 {
        with_rt(register, |rt| rt.aggregate(function, [0, 0], |f, _, _, w| f.create_accumulator(w)))
    }

    pub fn agg_add(register: fn(&mut Module), function: i32, acc_len: i32, in_len: i32) -> i32 {
        with_rt(register, |rt| rt.aggregate(function, [acc_len, in_len], |f, acc, v, w| f.add(acc, v, w)))
    }

    pub fn agg_merge(register: fn(&mut Module), function: i32, a_len: i32, b_len: i32) -> i32 {
        with_rt(register, |rt| rt.aggregate(function, [a_len, b_len], |f, a, b, w| f.merge(a, b, w)))
    }

    pub fn agg_result(register: fn(&mut Module), function: i32, acc_len: i32) -> i32 {
        with_rt(register, |rt| rt.aggregate(function, [acc_len, 0], |f, acc, _, w| f.result(acc, w)))
    }
}
