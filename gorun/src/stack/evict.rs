//! Copy-on-park: the used part of a cold goroutine's stack moves to the heap.
//!
//! A parked goroutine's live stack is the range from its saved stack pointer up to the top
//! of its slot, usually under a kilobyte, while the pages holding it cost at least 4 KiB.
//! Evicting copies that range into a heap buffer of exactly its size and releases the
//! pages. Restoring copies the bytes back to the same addresses before the goroutine runs
//! again, so every pointer into the stack stays valid.
//!
//! ```text
//!   slot: | guard | .............. unused ...... | live frames |  <- top
//!                                               ^lo (saved SP - margin)
//!   evicted:       the whole usable part released, guarded where supported
//!   heap:          Box<[u8]> = words [lo, top), packed against a similar stack
//! ```
//!
//! Where the kernel supports guard markers, the released range is guarded rather than just
//! dropped (`MADV_GUARD_INSTALL` zaps the pages and guards them in one call): a stray access
//! to an evicted stack (a pointer into it that escaped to another goroutine) faults, and the
//! fault handler names the goroutine, instead of silently reading zeros.
//!
//! Only the goroutine's home worker evicts and restores it, while it is suspended: a
//! started goroutine runs on no other thread, so nothing can resume it in between.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use super::{guards_in_page_tables, pack, MADV_GUARD_INSTALL};

/// Linux's `MADV_GUARD_REMOVE` (6.13+).
const MADV_GUARD_REMOVE: libc::c_int = 103;

/// Bytes below the recorded stack pointer that are copied too: below the point where the
/// goroutine records its stack pointer lie only the frame of `Yielder::suspend` and the
/// three words the switch pushes (RBP, RBX, the resume address).
/// Optimised builds inline `Yielder::suspend`, leaving just those 24 bytes; debug builds
/// keep its frame.
pub(crate) const SWITCH_MARGIN: usize = if cfg!(debug_assertions) { 512 } else { 128 };

/// The saved stack words of an evicted goroutine, packed against a reference (see `pack`).
pub(crate) struct Evicted {
    packed: Box<[u8]>,
    reference: Option<Arc<pack::Reference>>,
}

impl Evicted {
    /// Heap bytes this evicted stack costs (its reference is shared, not counted).
    pub(crate) fn len(&self) -> usize {
        self.packed.len()
    }
}

/// Copies the live part `[sp - SWITCH_MARGIN, top)` of a suspended stack to the heap,
/// packed against one of the worker's `refs`. The pages are released later, in a batch, by
/// [`release`].
///
/// # Safety
/// `[limit, top)` must be the usable part of the stack slot of a suspended coroutine that
/// nothing touches until [`restore`], and `sp` its stack pointer recorded at suspension.
pub(crate) unsafe fn save(
    sp: usize,
    limit: usize,
    top: usize,
    refs: &mut pack::References,
) -> Evicted {
    let lo = (sp.saturating_sub(SWITCH_MARGIN) & !7).max(limit);
    // SAFETY: `[lo, top)` lies in the slot, is mapped and 8-aligned (slot bounds are page
    // aligned); the coroutine is suspended, so nothing writes it while we read.
    let live = unsafe { std::slice::from_raw_parts(lo as *const u64, (top - lo) / 8) };
    let (packed, reference) = refs.pack(live, top);
    Evicted { packed, reference }
}

/// Releases the usable ranges `[limit, top)` of slots whose stacks were saved (and which
/// stay suspended until restored), guarding them where the kernel supports it. Adjacent
/// slots (separated only by a slot guard) are merged, so a batch of neighbours costs one
/// system call and one TLB shootdown instead of one each.
///
/// # Safety
/// Every range must be the usable part of a slot whose live bytes were saved by [`save`]
/// and which will not be touched before [`restore`]; `guard` is the slot guard size.
pub(crate) unsafe fn release(ranges: &mut [(usize, usize, u64)], guard: usize) {
    ranges.sort_unstable_by_key(|r| r.0);
    let mut i = 0;
    while i < ranges.len() {
        let (start, mut end, _) = ranges[i];
        let mut j = i + 1;
        while j < ranges.len() && ranges[j].0 == end + guard {
            end = ranges[j].1;
            j += 1;
        }
        // SAFETY: the merged range covers the saved slots' usable parts and the slot guards
        // between them (already guards); nothing in it is live.
        unsafe {
            let advice = if guards_in_page_tables() {
                MADV_GUARD_INSTALL
            } else {
                libc::MADV_DONTNEED
            };
            libc::madvise(start as *mut libc::c_void, end - start, advice);
        }
        for r in &ranges[i..j] {
            owners::set(r.0, r.2);
        }
        i = j;
    }
}

/// Writes an evicted stack back to its addresses; the slot's usable part `[limit, top)`
/// becomes ordinary memory again.
///
/// # Safety
/// `ev` must come from [`save`] on this slot, released by [`release`] (or not yet), and the
/// coroutine must not have run since.
pub(crate) unsafe fn restore(ev: Evicted, limit: usize, top: usize) {
    owners::set(limit, 0);
    // SAFETY: the range is the slot's usable part; removing the guards maps fresh zero
    // pages on touch, then the saved bytes go back where they were.
    unsafe {
        if guards_in_page_tables() {
            libc::madvise(limit as *mut libc::c_void, top - limit, MADV_GUARD_REMOVE);
        }
        let n = pack::unpacked_words(&ev.packed);
        pack::unpack(
            &ev.packed,
            std::slice::from_raw_parts_mut((top - n * 8) as *mut u64, n),
            top,
            ev.reference.as_deref(),
        );
    }
}

/// Which goroutine owns each evicted range, for the fault handler: a fixed, lock-free table
/// of (first evicted page, goroutine id) pairs, read from a signal handler.
pub(crate) mod owners {
    use super::*;

    const SLOTS: usize = 1 << 16;
    static PAGE: [AtomicUsize; SLOTS] = [const { AtomicUsize::new(0) }; SLOTS];
    static ID: [AtomicU64; SLOTS] = [const { AtomicU64::new(0) }; SLOTS];

    fn index(page: usize) -> usize {
        (page >> 12).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - 16)
    }

    /// Records (id != 0) or forgets (id == 0) the goroutine whose evicted slot starts at
    /// `page`.
    /// A table collision just loses the name in a report.
    pub(crate) fn set(page: usize, id: u64) {
        let i = index(page);
        if id == 0 {
            if PAGE[i].load(Ordering::Relaxed) == page {
                ID[i].store(0, Ordering::Relaxed);
                PAGE[i].store(0, Ordering::Relaxed);
            }
        } else {
            PAGE[i].store(page, Ordering::Relaxed);
            ID[i].store(id, Ordering::Relaxed);
        }
    }

    /// The goroutine whose evicted slot contains `addr`, looking up to `max_pages` pages
    /// down for the slot's start. Signal-safe.
    pub(crate) fn find(addr: usize, max_pages: usize) -> Option<u64> {
        let mut page = addr & !0xfff;
        for _ in 0..max_pages {
            let i = index(page);
            if PAGE[i].load(Ordering::Relaxed) == page {
                let id = ID[i].load(Ordering::Relaxed);
                if id != 0 {
                    return Some(id);
                }
            }
            page = page.checked_sub(0x1000)?;
        }
        None
    }
}
