//! The host functions, with one seam for native builds.
//!
//! On wasm32 these are the generated imports of module `freshet_v1`
//! (`abi::host`). Natively (`cargo test`, operator unit tests) the same
//! signatures are served by the in-process fake host of
//! [`crate::testing`], so the whole runtime runs unchanged off WebAssembly.

#[cfg(target_arch = "wasm32")]
pub(crate) use crate::abi::host::*;

#[cfg(not(target_arch = "wasm32"))]
pub(crate) use crate::testing::fake::*;

/// Hands the first `out.len()` bytes of the output buffer to the host.
#[cfg(target_arch = "wasm32")]
#[inline]
pub(crate) fn flush(out: &[u8]) -> i32 {
    unsafe { flush_output(out.len() as i32) }
}

#[cfg(not(target_arch = "wasm32"))]
pub(crate) fn flush(out: &[u8]) -> i32 {
    crate::testing::fake::flush(out)
}

/// Reads a host result into `buf` with the ABI's "copy if it fits, else
/// report the length" convention: one call when `buf` is large enough, a
/// second one after growing it otherwise. Returns the length or a negative
/// status; on success `buf` holds exactly the result.
pub(crate) fn read_into(buf: &mut Vec<u8>, mut call: impl FnMut(*mut u8, i32) -> i32) -> i32 {
    buf.clear();
    let cap = buf.capacity().min(i32::MAX as usize);
    let n = call(buf.as_mut_ptr(), cap as i32);
    if n < 0 {
        return n;
    }
    let mut n = n as usize;
    if n > cap {
        if buf.try_reserve_exact(n).is_err() {
            return crate::abi::status::OUT_OF_MEMORY;
        }
        let cap = buf.capacity().min(i32::MAX as usize);
        let m = call(buf.as_mut_ptr(), cap as i32);
        if m < 0 {
            return m;
        }
        n = m as usize;
        if n > cap {
            // The value grew between the two calls; the host contract rules
            // this out within one call of user code.
            return crate::abi::status::INTERNAL;
        }
    }
    // SAFETY: the host copied exactly n <= capacity bytes into buf.
    unsafe { buf.set_len(n) };
    n as i32
}

/// Logs through the host (rate-limited there).
pub(crate) fn log_message(level: i32, msg: &str) {
    unsafe { log(level, msg.as_ptr(), msg.len() as i32) }
}
