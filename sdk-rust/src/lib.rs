//! Freshet SDK for stream operators written in Rust and compiled to
//! WebAssembly (`wasm32-unknown-unknown`), implementing ABI v1
//! (docs/abi.md).
//!
//! A module registers its functions — map, filter, flat-map, key selector,
//! keyed process function, window aggregate, process window function, source
//! deserializer — in a registration function and declares the ABI exports
//! with [`export!`]:
//!
//! ```
//! use freshet_sdk::{Context, Module, Record, Result};
//!
//! fn upper(r: &Record, ctx: &mut Context) -> Result<()> {
//!     ctx.emit_with(r.key, |w| {
//!         for &b in r.value {
//!             w.push(b.to_ascii_uppercase());
//!         }
//!     });
//!     Ok(())
//! }
//!
//! fn register(m: &mut Module) {
//!     m.flat_map("upper", upper);
//! }
//!
//! freshet_sdk::export!(register);
//! ```
//!
//! How it works: the host writes a batch of entries into a guest-owned input
//! buffer and makes one `freshet_process` call per batch. The SDK decodes the
//! entries in place — a [`Record`] borrows the input buffer, nothing is
//! copied — runs the function on each and appends output entries to a
//! guest-owned output buffer, handing it to the host whenever it fills up.
//! Keyed state ([`ValueState`], [`ListState`], [`MapState`]), timers, side
//! outputs, counters and logs are host calls; state calls address the key of
//! the record being processed, which the host learns from the control block
//! without a call per record.
//!
//! Natively (off WebAssembly) the same code runs against an in-process fake
//! host, so operators can be unit-tested with `cargo test`: see
//! [`testing::Harness`].
//!
//! The crate has no dependencies and builds with Rust 1.63.

/// ABI v1 constants and host imports, generated from host/abi/abi.json.
#[rustfmt::skip]
pub mod abi;
pub mod entry;
pub mod json;
pub mod num;

mod context;
mod ctrl;
mod error;
mod function;
mod output;
mod record;
mod runtime;
mod state;
mod sys;

#[cfg(not(target_arch = "wasm32"))]
pub mod testing;

#[cfg(test)]
mod testutil;

pub use context::{log, processing_time, watermark, Config, Context, Counter, Level, OpenContext, SideOutput};
pub use entry::Headers;
pub use error::{status_name, Error, Result};
pub use function::{
    AggregateFunction, FilterFunction, FlatMapFunction, KeySelector, MapFunction, ProcessFunction,
    ProcessWindowFunction,
};
pub use output::{Emitted, KeyOutput, MapOutput, Writer};
pub use record::{Elements, Record, TimeDomain, Timer, Window, NO_TIMESTAMP};
pub use runtime::{Module, SDK_NAME};
pub use state::{ListIter, ListState, MapIter, MapState, ValueState};

#[doc(hidden)]
pub use runtime::exports as __rt;

/// Declares the ABI exports of a module (`freshet_abi_version`,
/// `freshet_init`, `freshet_describe`, `freshet_open`, `freshet_process` and
/// the four `freshet_agg_*`). The argument is the registration function,
/// `fn(&mut Module)`, that the SDK calls once per instance before the first
/// export runs.
///
/// Use it once, in the crate root of a `cdylib`. The build fails if an
/// export name here ever drifts from the generated `abi::export_name`.
#[macro_export]
macro_rules! export {
    ($register:path) => {
        #[no_mangle]
        pub extern "C" fn freshet_abi_version() -> i32 {
            $crate::__rt::abi_version()
        }
        const _: () =
            $crate::__rt::assert_export(stringify!(freshet_abi_version), $crate::abi::export_name::ABI_VERSION);

        #[no_mangle]
        pub extern "C" fn freshet_init(input_cap: i32, output_cap: i32) -> i32 {
            $crate::__rt::init($register, input_cap, output_cap)
        }
        const _: () = $crate::__rt::assert_export(stringify!(freshet_init), $crate::abi::export_name::INIT);

        #[no_mangle]
        pub extern "C" fn freshet_describe() -> i32 {
            $crate::__rt::describe($register)
        }
        const _: () = $crate::__rt::assert_export(stringify!(freshet_describe), $crate::abi::export_name::DESCRIBE);

        #[no_mangle]
        pub extern "C" fn freshet_open(function: i32, config_len: i32) -> i32 {
            $crate::__rt::open($register, function, config_len)
        }
        const _: () = $crate::__rt::assert_export(stringify!(freshet_open), $crate::abi::export_name::OPEN);

        #[no_mangle]
        pub extern "C" fn freshet_process(function: i32, input_len: i32, entries: i32) -> i32 {
            $crate::__rt::process($register, function, input_len, entries)
        }
        const _: () = $crate::__rt::assert_export(stringify!(freshet_process), $crate::abi::export_name::PROCESS);

        #[no_mangle]
        pub extern "C" fn freshet_agg_create(function: i32) -> i32 {
            $crate::__rt::agg_create($register, function)
        }
        const _: () = $crate::__rt::assert_export(stringify!(freshet_agg_create), $crate::abi::export_name::AGG_CREATE);

        #[no_mangle]
        pub extern "C" fn freshet_agg_add(function: i32, acc_len: i32, in_len: i32) -> i32 {
            $crate::__rt::agg_add($register, function, acc_len, in_len)
        }
        const _: () = $crate::__rt::assert_export(stringify!(freshet_agg_add), $crate::abi::export_name::AGG_ADD);

        #[no_mangle]
        pub extern "C" fn freshet_agg_merge(function: i32, a_len: i32, b_len: i32) -> i32 {
            $crate::__rt::agg_merge($register, function, a_len, b_len)
        }
        const _: () = $crate::__rt::assert_export(stringify!(freshet_agg_merge), $crate::abi::export_name::AGG_MERGE);

        #[no_mangle]
        pub extern "C" fn freshet_agg_result(function: i32, acc_len: i32) -> i32 {
            $crate::__rt::agg_result($register, function, acc_len)
        }
        const _: () = $crate::__rt::assert_export(stringify!(freshet_agg_result), $crate::abi::export_name::AGG_RESULT);
    };
}
