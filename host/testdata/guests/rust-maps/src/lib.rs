//! Test guest for the host: maps written with the Rust SDK (benchmarks and
//! host/build's Rust path).

use freshet_sdk::{Emitted, MapOutput, Module, Record, Result};

fn upper(r: &Record<'_>, out: MapOutput<'_>) -> Result<Emitted> {
    Ok(out.value_with(|w| {
        for &b in r.value {
            w.push(b.to_ascii_uppercase());
        }
    }))
}

fn identity(_r: &Record<'_>, out: MapOutput<'_>) -> Result<Emitted> {
    Ok(out.forward())
}

fn register(m: &mut Module) {
    m.map("upper", upper);
    m.map("identity", identity);
}

freshet_sdk::export!(register);
