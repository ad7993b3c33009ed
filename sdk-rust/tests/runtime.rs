//! The runtime end to end through the native harness: every operator kind,
//! output flushing and growth, error entries, state, timers, side outputs,
//! counters, aggregates and the export statuses.

use freshet_sdk::abi::{entry_kind, operator_kind, status};
use freshet_sdk::testing::{Harness, Input, Output};
use freshet_sdk::{
    AggregateFunction, Context, Counter, Elements, Emitted, Error, Headers, KeyOutput, ListState, MapOutput, MapState,
    Module, OpenContext, ProcessFunction, ProcessWindowFunction, Record, Result, SideOutput, TimeDomain, Timer,
    ValueState, Window, Writer,
};

fn upper(r: &Record, out: MapOutput) -> Result<Emitted> {
    match r.value {
        b"forward" => Ok(out.forward()),
        b"same" => Ok(out.value(r.value)), // the input's own bytes: forwarded
        b"fail" => Err(Error::new("cannot map fail")),
        b"copy" => Ok(out.value(b"copy")),
        b"own" => Ok(out.record(b"own-key", b"own-value", 42, Headers::EMPTY)),
        _ => Ok(out.value_with(|w| {
            for &b in r.value {
                w.push(b.to_ascii_uppercase())
            }
        })),
    }
}

fn even(r: &Record) -> Result<bool> {
    match freshet_sdk::num::parse_i64(r.value) {
        Some(v) => Ok(v % 2 == 0),
        None => Err(Error::new("not a number")),
    }
}

fn split(r: &Record, ctx: &mut Context) -> Result<()> {
    for w in r.value.split(|&b| b == b' ').filter(|w| !w.is_empty()) {
        if w == b"boom" {
            return Err(Error::new("boom"));
        }
        ctx.emit(w, w);
    }
    Ok(())
}

fn first_byte_key(r: &Record, out: KeyOutput) -> Result<Emitted> {
    match r.value.first() {
        Some(b'#') => Ok(out.key_with(|w| {
            w.extend_from_slice(b"hash-");
            w.write_i64(r.value.len() as i64)
        })),
        Some(_) => Ok(out.key(&r.value[..1])),
        None => Err(Error::new("empty value")),
    }
}

/// Counts records per key in value state, keeps them in list state, counts
/// words in map state, sets a timer 10 ms later, and reports on a side
/// output when a value says so. Its handles are declared lazily, on first
/// use.
struct Tracker {
    count: ValueState,
    seen: ListState,
    words: MapState,
    late: SideOutput,
    records: Counter,
}

impl Default for Tracker {
    fn default() -> Self {
        Tracker {
            count: ValueState::new("count"),
            seen: ListState::new("seen"),
            words: MapState::new("words"),
            late: SideOutput::new("late"),
            records: Counter::new("records"),
        }
    }
}

impl ProcessFunction for Tracker {
    fn open(&mut self, ctx: &mut OpenContext) -> Result<()> {
        if ctx.config().bool("refuse")? == Some(true) {
            return Err(Error::invalid_argument("refusing as configured"));
        }
        Ok(())
    }

    fn process(&mut self, r: &Record, ctx: &mut Context) -> Result<()> {
        self.records.inc();
        let n = self.count.get_i64()?.unwrap_or(0) + 1;
        self.count.put_i64(n)?;
        self.seen.add(r.value)?;
        let w = self.words.get(r.value)?.map(|v| v.len()).unwrap_or(0);
        self.words.put(r.value, &vec![b'x'; w + 1])?;
        ctx.register_event_time_timer(r.timestamp + 10)?;
        if r.value == b"late" {
            ctx.emit_side(&self.late, ctx.key(), b"late!")?;
        }
        let all: Vec<Vec<u8>> = self.seen.get()?.map(|v| v.to_vec()).collect();
        ctx.emit_with(ctx.key(), |w| {
            w.write_i64(n);
            w.push(b':');
            w.extend_from_slice(&all.join(&b'|'));
        });
        Ok(())
    }

    fn on_timer(&mut self, t: &Timer, ctx: &mut Context) -> Result<()> {
        let entries: Vec<String> =
            self.words.entries()?.map(|(k, v)| format!("{}={}", String::from_utf8_lossy(k), v.len())).collect();
        assert_eq!(ctx.timestamp(), t.timestamp);
        ctx.forward(); // no-op for timers
        ctx.emit(t.key, format!("timer {:?} {} {}", t.domain, t.timestamp, entries.join(",")).as_bytes());
        self.seen.update([&b"reset"[..]])?;
        self.count.clear()
    }
}

/// Declares its handles in open, so a bad declaration fails open.
struct Eager;

impl ProcessFunction for Eager {
    fn open(&mut self, ctx: &mut OpenContext) -> Result<()> {
        ctx.value_state("v")?;
        ctx.list_state("l")?;
        ctx.map_state("m")?;
        ctx.side_output("s")?;
        ctx.counter("c")?;
        ctx.list_state("v").map(drop) // same name, other kind
    }
    fn process(&mut self, _: &Record, ctx: &mut Context) -> Result<()> {
        ctx.forward();
        Ok(())
    }
}

struct Concat;

impl ProcessWindowFunction for Concat {
    fn process(&mut self, key: &[u8], w: Window, elements: Elements, ctx: &mut Context) -> Result<()> {
        let vals: Vec<&[u8]> = elements.map(|r| r.value).collect();
        if vals.is_empty() {
            return Err(Error::new("empty window"));
        }
        assert_eq!(ctx.timestamp(), w.max_timestamp());
        ctx.emit(key, format!("{}..{}:{}", w.start, w.end, String::from_utf8_lossy(&vals.join(&b','))).as_bytes());
        Ok(())
    }
}

/// Sum of decimal integers, accumulator = 8 bytes LE.
struct Sum;

impl AggregateFunction for Sum {
    fn create_accumulator(&mut self, out: &mut Writer) -> Result<()> {
        out.extend_from_slice(&0i64.to_le_bytes());
        Ok(())
    }
    fn add(&mut self, acc: &[u8], v: &[u8], out: &mut Writer) -> Result<()> {
        let v = freshet_sdk::num::parse_i64(v).ok_or("bad value")?;
        out.extend_from_slice(&(acc8(acc)? + v).to_le_bytes());
        Ok(())
    }
    fn merge(&mut self, a: &[u8], b: &[u8], out: &mut Writer) -> Result<()> {
        out.extend_from_slice(&(acc8(a)? + acc8(b)?).to_le_bytes());
        Ok(())
    }
    fn result(&mut self, acc: &[u8], out: &mut Writer) -> Result<()> {
        out.write_i64(acc8(acc)?);
        Ok(())
    }
}

fn acc8(b: &[u8]) -> Result<i64> {
    let a: [u8; 8] = b.try_into().map_err(|_| Error::new("accumulator is not 8 bytes"))?;
    Ok(i64::from_le_bytes(a))
}

fn register(m: &mut Module) {
    m.map("upper", upper)
        .filter("even", even)
        .flat_map("split", split)
        .key_selector("first", first_byte_key)
        .process("tracker", Tracker::default())
        .process_window("concat", Concat)
        .aggregate("sum", Sum)
        .deserializer("lines", split)
        .process("eager", Eager);
}

fn out(kind: u8, key: &[u8], value: &[u8], extra: u32, ts: i64) -> Output {
    Output { kind, key: key.to_vec(), value: value.to_vec(), headers: vec![], extra, timestamp: ts }
}

fn opened(name: &str) -> Harness {
    let mut h = Harness::new(register);
    h.open(name, "{}").unwrap_or_else(|s| panic!("open {}: {}", name, s));
    h
}

#[test]
fn describe_lists_functions_in_order() {
    let mut h = Harness::new(register);
    let got = h.functions().unwrap();
    let want = vec![
        (operator_kind::MAP, "upper"),
        (operator_kind::FILTER, "even"),
        (operator_kind::FLAT_MAP, "split"),
        (operator_kind::KEY_SELECTOR, "first"),
        (operator_kind::PROCESS, "tracker"),
        (operator_kind::PROCESS_WINDOW, "concat"),
        (operator_kind::AGGREGATE, "sum"),
        (operator_kind::DESERIALIZER, "lines"),
        (operator_kind::PROCESS, "eager"),
    ];
    let got: Vec<(u32, &str)> = got.iter().map(|(k, n)| (*k, n.as_str())).collect();
    assert_eq!(got, want);
    assert_eq!(h.sdk_name(), freshet_sdk::SDK_NAME);
    assert!(h.sdk_name().starts_with("freshet-sdk-rust "));
}

#[test]
fn duplicate_names_fail_describe() {
    fn dup(m: &mut Module) {
        m.flat_map("a", split).map("a", upper);
    }
    let mut h = Harness::new(dup);
    assert_eq!(h.functions(), Err(status::INTERNAL));
    assert!(h.logs().iter().any(|(_, m)| m.contains("registered twice")), "{:?}", h.logs());
}

#[test]
fn open_statuses() {
    let cases: &[(&str, &str, Result<(), i32>)] = &[
        ("upper", "{}", Ok(())),
        ("upper", "", Ok(())),
        ("upper", " {\"x\": [1]} ", Ok(())),
        ("upper", "[]", Err(status::INVALID_ARGUMENT)),
        ("upper", "{", Err(status::INVALID_ARGUMENT)),
        ("upper", "\"str\"", Err(status::INVALID_ARGUMENT)),
        ("tracker", r#"{"refuse": true}"#, Err(status::INVALID_ARGUMENT)),
        ("tracker", r#"{"refuse": "yes"}"#, Err(status::INVALID_ARGUMENT)),
        ("tracker", r#"{"refuse": false}"#, Ok(())),
        ("nope", "{}", Err(status::UNKNOWN_FUNCTION)),
        ("eager", "{}", Err(status::KIND_MISMATCH)),
    ];
    for (name, config, want) in cases {
        let mut h = Harness::new(register);
        assert_eq!(h.open(name, config), *want, "open {} with {:?}", name, config);
    }
}

#[test]
fn calls_before_open_or_to_another_function_fail() {
    let mut h = Harness::new(register);
    assert_eq!(freshet_sdk::__rt::process(register, 0, 0, 0), status::UNKNOWN_FUNCTION);
    h.open("upper", "{}").unwrap();
    assert_eq!(freshet_sdk::__rt::process(register, 1, 0, 0), status::UNKNOWN_FUNCTION);
    assert_eq!(freshet_sdk::__rt::process(register, 0, -1, 0), status::BAD_INPUT);
    assert_eq!(freshet_sdk::__rt::process(register, 0, i32::MAX, 0), status::BAD_INPUT);
    assert_eq!(freshet_sdk::__rt::agg_create(register, 0), status::UNKNOWN_FUNCTION);
    assert_eq!(h.open("split", "{}"), Err(status::INVALID_ARGUMENT));
    assert_eq!(h.process(&[]).unwrap(), vec![]);
}

#[test]
fn map_outputs_keep_key_timestamp_and_headers() {
    let mut h = opened("upper");
    let hs: &[(&[u8], &[u8])] = &[(b"h1", b"v1"), (b"h2", b"")];
    let got = h
        .process(&[
            Input::data_with_headers(b"k1", b"abc", 1, hs),
            Input::data(b"k2", b"forward", 2),
            Input::data(b"k3", b"fail", 3),
            Input::data_with_headers(b"k4", b"same", 4, hs),
            Input::data_with_headers(b"k5", b"copy", 5, hs),
            Input::data_with_headers(b"k6", b"own", 6, hs),
            Input::data(b"", b"", i64::MIN),
        ])
        .unwrap();
    let headers = vec![(b"h1".to_vec(), b"v1".to_vec()), (b"h2".to_vec(), vec![])];
    let with = |mut o: Output| {
        o.headers = headers.clone();
        o
    };
    assert_eq!(
        got,
        vec![
            with(out(entry_kind::OUTPUT, b"k1", b"ABC", 0, 1)),
            out(entry_kind::FORWARD, b"", b"", 1, 0),
            out(entry_kind::ERROR, b"", b"cannot map fail", 2, i64::MIN),
            out(entry_kind::FORWARD, b"", b"", 3, 0),
            with(out(entry_kind::OUTPUT, b"k5", b"copy", 0, 5)),
            out(entry_kind::OUTPUT, b"own-key", b"own-value", 0, 42),
            out(entry_kind::OUTPUT, b"", b"", 0, i64::MIN),
        ]
    );
}

#[test]
fn filter_forwards_kept_records() {
    let mut h = opened("even");
    let got = h
        .process(&[
            Input::data(b"", b"2", 0),
            Input::data(b"", b"3", 0),
            Input::data(b"", b"x", 0),
            Input::data(b"", b"-4", 0),
        ])
        .unwrap();
    assert_eq!(
        got,
        vec![
            out(entry_kind::FORWARD, b"", b"", 0, 0),
            out(entry_kind::ERROR, b"", b"not a number", 2, i64::MIN),
            out(entry_kind::FORWARD, b"", b"", 3, 0),
        ]
    );
}

#[test]
fn flat_map_retracts_a_failed_records_outputs() {
    let mut h = opened("split");
    let got =
        h.process(&[Input::data(b"", b"a b", 7), Input::data(b"", b"c boom d", 8), Input::data(b"", b"e", 9)]).unwrap();
    assert_eq!(
        got,
        vec![
            out(entry_kind::OUTPUT, b"a", b"a", 0, 7),
            out(entry_kind::OUTPUT, b"b", b"b", 0, 7),
            out(entry_kind::ERROR, b"", b"boom", 1, i64::MIN),
            out(entry_kind::OUTPUT, b"e", b"e", 0, 9),
        ]
    );
}

/// The same batch through output buffers of many sizes — flushing every few
/// entries, growing for entries larger than the buffer — gives the same
/// entries in the same order.
#[test]
fn output_is_the_same_for_any_buffer_size() {
    let long = "x".repeat(300);
    let text = format!("alpha beta {} gamma delta epsilon zeta", long);
    let batch: Vec<Input> = (0..40).map(|i| Input::data(b"", text.as_bytes(), i)).collect();
    let mut reference = opened("split");
    let want = reference.process(&batch).unwrap();
    assert_eq!(want.len(), 40 * 7);
    for cap in [0usize, 1, 24, 50, 100, 333, 1000, 4096] {
        let mut h = Harness::with_buffers(register, 64, cap);
        h.open("split", "{}").unwrap();
        // Twice: the second call reuses the (possibly grown) buffer.
        for round in 0..2 {
            assert_eq!(h.process(&batch).unwrap(), want, "output capacity {} round {}", cap, round);
        }
    }
}

#[test]
fn deserializer_is_a_flat_map() {
    let mut h = opened("lines");
    let got = h.process(&[Input::data(b"raw-key", b"x y", 5)]).unwrap();
    assert_eq!(got, vec![out(entry_kind::OUTPUT, b"x", b"x", 0, 5), out(entry_kind::OUTPUT, b"y", b"y", 0, 5)]);
}

#[test]
fn key_selector_sets_keys() {
    let mut h = opened("first");
    let got =
        h.process(&[Input::data(b"old", b"apple", 1), Input::data(b"", b"", 2), Input::data(b"", b"#tag", 3)]).unwrap();
    assert_eq!(
        got,
        vec![
            out(entry_kind::KEY, b"a", b"", 0, 1),
            out(entry_kind::ERROR, b"", b"empty value", 1, i64::MIN),
            out(entry_kind::KEY, b"hash-4", b"", 2, 3),
        ]
    );
}

#[test]
fn process_function_uses_keyed_state_timers_and_side_outputs() {
    let mut h = opened("tracker");
    let got = h
        .process(&[Input::data(b"a", b"one", 100), Input::data(b"b", b"two", 101), Input::data(b"a", b"late", 102)])
        .unwrap();
    assert_eq!(
        got,
        vec![
            out(entry_kind::OUTPUT, b"a", b"1:one", 0, 100),
            out(entry_kind::OUTPUT, b"b", b"1:two", 0, 101),
            out(entry_kind::SIDE_OUTPUT, b"a", b"late!", 0, 102),
            out(entry_kind::OUTPUT, b"a", b"2:one|late", 0, 102),
        ]
    );
    assert_eq!(h.side_output_tag(0).as_deref(), Some("late"));
    assert_eq!(h.value("count", b"a"), Some(2i64.to_le_bytes().to_vec()));
    assert_eq!(h.counter("records"), 3);
    assert_eq!(
        h.timers(),
        vec![
            (TimeDomain::EventTime, 110, b"a".to_vec()),
            (TimeDomain::EventTime, 111, b"b".to_vec()),
            (TimeDomain::EventTime, 112, b"a".to_vec()),
        ]
    );
    // Timers fire for their own key: state calls address the timer's key.
    let fired = h.advance_watermark(111).unwrap();
    assert_eq!(
        fired,
        vec![
            out(entry_kind::OUTPUT, b"a", b"timer EventTime 110 late=1,one=1", 0, 110),
            out(entry_kind::OUTPUT, b"b", b"timer EventTime 111 two=1", 0, 111),
        ]
    );
    assert_eq!(h.value("count", b"a"), None);
    let got = h.process(&[Input::data(b"a", b"one", 200)]).unwrap();
    assert_eq!(got, vec![out(entry_kind::OUTPUT, b"a", b"1:reset|one", 0, 200)]);
}

#[test]
fn process_window_sees_its_elements() {
    let mut h = opened("concat");
    let got = h
        .process(&[
            Input::window(b"k", 0, 10, 2),
            Input::data(b"k", b"a", 1),
            Input::data(b"k", b"b", 2),
            Input::window(b"j", 10, 20, 0),
            Input::window(b"i", 20, 30, 1),
            Input::data(b"i", b"c", 25),
        ])
        .unwrap();
    assert_eq!(
        got,
        vec![
            out(entry_kind::OUTPUT, b"k", b"0..10:a,b", 0, 9),
            out(entry_kind::ERROR, b"", b"empty window", 3, i64::MIN),
            out(entry_kind::OUTPUT, b"i", b"20..30:c", 0, 29),
        ]
    );
    // Elements missing from the batch, or a data entry outside a window.
    assert_eq!(h.process(&[Input::window(b"k", 0, 10, 2), Input::data(b"k", b"a", 1)]), Err(status::BAD_INPUT));
    assert_eq!(h.process(&[Input::data(b"k", b"a", 1)]), Err(status::BAD_INPUT));
}

#[test]
fn entry_kinds_an_operator_does_not_take_are_bad_input() {
    let mut h = opened("upper");
    assert_eq!(
        h.process(&[Input::data(b"", b"a", 0), Input::timer(b"k", 1, TimeDomain::EventTime)]),
        Err(status::BAD_INPUT)
    );
    assert!(h.logs().iter().any(|(_, m)| m.contains("input entry 1 has kind 2")), "{:?}", h.logs());
    let mut h = opened("tracker");
    let mut bad = Input::timer(b"k", 1, TimeDomain::EventTime);
    bad.extra = 9; // no such time domain
    assert_eq!(h.process(&[bad]), Err(status::BAD_INPUT));
}

#[test]
fn keyed_state_outside_keyed_operators_is_unsupported() {
    struct Sneaky;
    impl freshet_sdk::FlatMapFunction for Sneaky {
        fn open(&mut self, ctx: &mut OpenContext) -> Result<()> {
            ctx.value_state("x").map(drop)
        }
        fn flat_map(&mut self, _: &Record, _: &mut Context) -> Result<()> {
            Ok(())
        }
    }
    fn reg(m: &mut Module) {
        m.flat_map("sneaky", Sneaky);
    }
    let mut h = Harness::new(reg);
    assert_eq!(h.open("sneaky", "{}"), Err(status::UNSUPPORTED));
    assert!(
        h.logs().iter().any(|(_, m)| m == "open sneaky: value state \"x\": declare: unsupported"),
        "{:?}",
        h.logs()
    );
}

#[test]
fn aggregate_exports() {
    let mut h = opened("sum");
    let acc = h.agg_create().unwrap();
    assert_eq!(acc, 0i64.to_le_bytes());
    let acc = h.agg_add(&acc, b"40").unwrap();
    let acc = h.agg_add(&acc, b"2").unwrap();
    let zero = h.agg_create().unwrap();
    let other = h.agg_add(&zero, b"-10").unwrap();
    let merged = h.agg_merge(&acc, &other).unwrap();
    assert_eq!(h.agg_result(&merged).unwrap(), b"32");
    assert_eq!(h.agg_add(&acc, b"4x"), Err(status::USER_ERROR));
    assert_eq!(h.agg_result(b"short"), Err(status::USER_ERROR));
    assert!(h.logs().iter().any(|(_, m)| m == "aggregate sum: accumulator is not 8 bytes"), "{:?}", h.logs());
    assert_eq!(freshet_sdk::__rt::process(register, 6, 0, 0), status::UNKNOWN_FUNCTION);
    assert_eq!(freshet_sdk::__rt::agg_add(register, 6, -1, 0), status::BAD_INPUT);
    assert_eq!(freshet_sdk::__rt::agg_add(register, 6, i32::MAX, 0), status::BAD_INPUT);
}

#[test]
fn batches_larger_than_the_input_buffer_grow_it() {
    let mut h = Harness::with_buffers(register, 16, 16);
    h.open("upper", "{}").unwrap();
    let big = vec![b'a'; 10_000];
    let got = h.process(&[Input::data(b"k", &big, 1), Input::data(b"k", b"b", 2)]).unwrap();
    assert_eq!(got[0].value, vec![b'A'; 10_000]);
    assert_eq!(got[1].value, b"B");
}

/// Registers a processing-time timer at the current processing time (or,
/// for a record "later", an hour after it) and reports each firing with the
/// processing time it sees.
struct Clock;

impl ProcessFunction for Clock {
    fn process(&mut self, r: &Record, ctx: &mut Context) -> Result<()> {
        let now = ctx.processing_time();
        let at = if r.value == b"later" { now + 3_600_000 } else { now };
        ctx.register_processing_time_timer(at)
    }
    fn on_timer(&mut self, t: &Timer, ctx: &mut Context) -> Result<()> {
        let now = ctx.processing_time();
        ctx.emit(t.key, format!("{} at {}", t.timestamp, now).as_bytes());
        Ok(())
    }
}

fn register_clock(m: &mut Module) {
    m.process("clock", Clock);
}

#[test]
fn processing_timers_fire_once_the_clock_has_passed_them_and_at_end_of_input() {
    let mut h = Harness::new(register_clock);
    h.open("clock", "{}").unwrap();
    h.set_processing_time(1000);
    h.process(&[Input::data(b"a", b"now", 0), Input::data(b"b", b"later", 0)]).unwrap();
    // Due at 1000, but the clock has not passed it yet.
    assert!(h.advance_processing_time(1000).unwrap().is_empty());
    assert_eq!(h.advance_processing_time(1001).unwrap(), vec![out(entry_kind::OUTPUT, b"a", b"1000 at 1001", 0, 1000)]);
    // The end of input fires the timer an hour ahead, the clock just past it.
    assert_eq!(h.end_of_input().unwrap(), vec![out(entry_kind::OUTPUT, b"b", b"3601000 at 3601001", 0, 3_601_000)]);
    assert!(h.timers().is_empty());
}
