//! The guest's control block (docs/abi.md §3): where the host finds the input
//! and output buffers and which input entry the guest is working on.
//!
//! It is five little-endian u32 words at a fixed address for the life of the
//! instance. The word offsets come from the generated `abi::control_block`.

use core::cell::Cell;

use crate::abi::{control_block as cb, CONTROL_BLOCK_SIZE, NO_ENTRY};

const WORDS: usize = CONTROL_BLOCK_SIZE as usize / 4;

// The layout is words of u32; fail the build if the ABI ever says otherwise.
const _: () = {
    assert!(CONTROL_BLOCK_SIZE % 4 == 0);
    assert!(cb::INPUT_PTR % 4 == 0 && cb::INPUT_PTR / 4 < WORDS);
    assert!(cb::INPUT_CAP % 4 == 0 && cb::INPUT_CAP / 4 < WORDS);
    assert!(cb::OUTPUT_PTR % 4 == 0 && cb::OUTPUT_PTR / 4 < WORDS);
    assert!(cb::OUTPUT_CAP % 4 == 0 && cb::OUTPUT_CAP / 4 < WORDS);
    assert!(cb::CURRENT_ENTRY % 4 == 0 && cb::CURRENT_ENTRY / 4 < WORDS);
};

#[repr(C, align(8))]
pub(crate) struct ControlBlock([Cell<u32>; WORDS]);

thread_local! {
    // On wasm32 (no threads) this is a plain static; natively each test
    // thread gets its own instance, like a host's one instance per task.
    static CTRL: ControlBlock = const { ControlBlock([
        Cell::new(0), Cell::new(0), Cell::new(0), Cell::new(0), Cell::new(NO_ENTRY),
    ]) };
}

#[inline(always)]
fn with<R>(f: impl FnOnce(&ControlBlock) -> R) -> R {
    CTRL.with(f)
}

/// Address of the control block, as the host sees it.
pub(crate) fn address() -> usize {
    with(|c| c as *const ControlBlock as usize)
}

/// Publishes the input buffer.
pub(crate) fn set_input(ptr: *const u8, cap: usize) {
    with(|c| {
        c.0[cb::INPUT_PTR / 4].set(ptr as usize as u32);
        c.0[cb::INPUT_CAP / 4].set(cap as u32);
    })
}

/// Publishes the output buffer (it may move whenever it grows).
#[inline]
pub(crate) fn set_output(ptr: *const u8, cap: usize) {
    with(|c| {
        c.0[cb::OUTPUT_PTR / 4].set(ptr as usize as u32);
        c.0[cb::OUTPUT_CAP / 4].set(cap as u32);
    })
}

/// Records the input entry user code is about to process ([`NO_ENTRY`] when
/// none). A volatile store: the host reads it after a trap, so it must not be
/// merged with the next entry's store.
#[inline(always)]
pub(crate) fn set_current_entry(i: u32) {
    with(|c| unsafe { core::ptr::write_volatile(c.0[cb::CURRENT_ENTRY / 4].as_ptr(), i) })
}

#[cfg(not(target_arch = "wasm32"))] // the fake host reads it; the real one reads memory
pub(crate) fn current_entry() -> u32 {
    with(|c| c.0[cb::CURRENT_ENTRY / 4].get())
}

#[cfg(test)]
pub(crate) fn words() -> [u32; WORDS] {
    with(|c| {
        let mut w = [0; WORDS];
        for (i, x) in c.0.iter().enumerate() {
            w[i] = x.get();
        }
        w
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_land_at_the_abi_offsets() {
        set_input(0x1000 as *const u8, 64);
        set_output(0x2000 as *const u8, 128);
        set_current_entry(7);
        let w = words();
        assert_eq!(w[cb::INPUT_PTR / 4], 0x1000);
        assert_eq!(w[cb::INPUT_CAP / 4], 64);
        assert_eq!(w[cb::OUTPUT_PTR / 4], 0x2000);
        assert_eq!(w[cb::OUTPUT_CAP / 4], 128);
        assert_eq!(w[cb::CURRENT_ENTRY / 4], 7);
        assert_eq!(core::mem::size_of::<ControlBlock>(), CONTROL_BLOCK_SIZE as usize + 4); // padded to align 8
        set_current_entry(NO_ENTRY);
        assert_eq!(current_entry(), NO_ENTRY);
    }
}
