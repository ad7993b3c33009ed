//! Steady-state batches allocate nothing in the guest: decoding, emitting
//! (in place or copied), forwarding and error entries all reuse the buffers.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use freshet_sdk::testing::{Harness, Input};
use freshet_sdk::{Context, Emitted, Error, MapOutput, Module, Record, Result};

struct Counting;

static ALLOCS: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        System.alloc(l)
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        System.dealloc(p, l)
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        System.realloc(p, l, n)
    }
}

#[global_allocator]
static A: Counting = Counting;

fn map(r: &Record, out: MapOutput) -> Result<Emitted> {
    match r.value.first() {
        Some(b'f') => Ok(out.forward()),
        Some(b'!') => Err(Error::new("static message")),
        _ => Ok(out.value_with(|w| {
            w.extend_from_slice(r.value);
            w.write_i64(r.timestamp)
        })),
    }
}

fn words(r: &Record, ctx: &mut Context) -> Result<()> {
    for w in r.value.split(|&b| b == b' ') {
        ctx.emit(w, w);
    }
    Ok(())
}

fn register(m: &mut Module) {
    m.map("map", map).flat_map("words", words);
}

#[test]
fn steady_state_batches_do_not_allocate() {
    for name in ["map", "words"] {
        let mut h = Harness::new(register);
        h.open(name, "{}").unwrap();
        let batch: Vec<Input> = (0..256)
            .map(|i| {
                let v: &[u8] = match i % 4 {
                    0 => b"forward me",
                    1 => b"!fail",
                    _ => b"the quick brown fox jumps over the lazy dog",
                };
                Input::data(b"key", v, i)
            })
            .collect();
        let n = h.process(&batch).unwrap().len();
        assert!(n >= 256, "{}: {} outputs", name, n);
        let len: usize = batch.iter().map(|e| 24 + e.key.len() + e.value.len()).sum();
        h.replay(len, batch.len()); // warm
        let before = ALLOCS.load(Ordering::Relaxed);
        for _ in 0..100 {
            assert!(h.replay(len, batch.len()) > 0);
        }
        let allocs = ALLOCS.load(Ordering::Relaxed) - before;
        assert_eq!(allocs, 0, "{}: {} allocations in 100 batches", name, allocs);
    }
}
