//! Test guest for the host: maps written with the Rust SDK (benchmarks and
//! host/build's Rust path).

use freshet_sdk::{Emitted, MapFunction, MapOutput, Module, Record, Result};

/// Upper-cases ASCII into a reused buffer (a loop LLVM vectorises).
#[derive(Default)]
struct Upper {
    buf: Vec<u8>,
}

impl MapFunction for Upper {
    fn map(&mut self, r: &Record<'_>, out: MapOutput<'_>) -> Result<Emitted> {
        self.buf.clear();
        self.buf.extend(r.value.iter().map(|b| b.to_ascii_uppercase()));
        Ok(out.value(&self.buf))
    }
}

fn identity(_r: &Record<'_>, out: MapOutput<'_>) -> Result<Emitted> {
    Ok(out.forward())
}

fn register(m: &mut Module) {
    m.map("upper", Upper::default());
    m.map("identity", identity);
}

freshet_sdk::export!(register);
