//! Copy-on-park: the used part of a cold goroutine's stack moves to the heap, invisibly.
//!
//! A parked goroutine's live stack is the range from its saved stack pointer up to the top
//! of its slot, usually under a kilobyte, while the pages holding it cost at least 4 KiB.
//! Evicting copies that range into a heap buffer of about its size and releases the pages.
//! Restoring copies the bytes back to the same addresses, so every pointer into the stack
//! stays valid.
//!
//! ```text
//!   slot: | guard | .............. unused ...... | live frames |  <- top
//!                                               ^lo (saved SP - margin)
//!   evicted:       the whole usable part released, [lo, top) made to fault
//!   heap:          Box<[u8]> = words [lo, top), packed against a similar stack
//! ```
//!
//! # Invisible to other threads
//!
//! Safe Rust lets other threads point into a parked goroutine's stack (`std::thread::scope`
//! borrowing a local while the goroutine waits on a channel), so any access from any thread,
//! at any moment, must find exactly the memory the goroutine left. Every slot has a
//! [`SlotMeta`] whose state moves
//!
//! ```text
//!   RESIDENT --evict (home worker)--> EVICTING --> EVICTED --restore (anyone)--> RESTORING --> RESIDENT
//! ```
//!
//! - EVICTING: the home worker write-protects the usable range (`PROT_READ`), copies it,
//!   makes it `PROT_NONE` and releases it (`MADV_DONTNEED`): with guard markers, it then
//!   installs markers (`MADV_GUARD_INSTALL`) on the pages of the saved words and makes the
//!   range read-write again, so the chunk stays one mapping; below the saved words lie only
//!   dead frames, which nobody may access: they are left as plain zero-fill memory. Without
//!   markers the range stays `PROT_NONE`. Readers
//!   see the old bytes until the release; a write faults and waits. No write can slip
//!   between the copy and the release, and no read can see a page between its zapping and
//!   its guard (`MADV_GUARD_INSTALL` zaps, then installs markers, and retries).
//! - EVICTED: every access to the saved words faults (a guard marker, or `PROT_NONE`). The SIGSEGV handler
//!   (`overflow`) finds the slot in the registry of chunks ([`chunks`]), and restores the
//!   stack in place, then returns so that the access runs again.
//! - RESTORING: whoever won the `EVICTED -> RESTORING` exchange (the home worker before it
//!   resumes the goroutine, or any faulting thread) makes the range inaccessible to everyone
//!   (`PROT_NONE`, guard markers removed), writes the saved words through `/proc/self/mem`
//!   (which may write pages the process cannot touch), and only then makes the range
//!   read-write. Nobody ever sees the fresh zero pages in between. Others wait: faulting
//!   threads spin in the handler, the home worker spins before resuming.
//!
//! The restore path allocates nothing and takes no lock (a signal handler runs it): the
//! packed words are decoded in a small buffer on the restoring thread's stack.
//!
//! # Ownership
//!
//! The saved words ([`Evicted`]) belong to the goroutine's control block and are written and
//! freed only by its home worker, while the slot is RESIDENT or EVICTING (claimed by it). A
//! restorer reads them through `SlotMeta::record` while it holds RESTORING. A stack restored
//! by a faulting thread stays resident; its stale record is freed by the home worker when it
//! next looks at the goroutine.
//!
//! Where this cannot be made safe (no `/proc/self/mem` that writes protected pages, or a
//! coroutine switch deeper than [`SWITCH_MARGIN`]), copy-on-park is off, with a notice.
//!
//! Known limit: a system call that another thread makes on an evicted stack's memory (`read`
//! into a borrowed buffer) fails with `EFAULT` instead of faulting, so no handler can
//! restore it first. `pin_stack` keeps a stack resident for such uses.

use std::cell::Cell;
use std::mem::MaybeUninit;
use std::sync::atomic::{AtomicI32, AtomicPtr, AtomicU8, Ordering};
use std::sync::{Arc, OnceLock};

use corosensei::{Coroutine, CoroutineResult, Yielder};

use super::{guards_in_page_tables, pack, SlotStack};
use crate::sys::{advise_all, MADV_GUARD_INSTALL, MADV_GUARD_REMOVE};

/// Bytes below the recorded stack pointer that are copied too: below the point where the
/// goroutine records its stack pointer ([`record_and_suspend`]) lie only the rest of that
/// function's frame, `Yielder::suspend`'s and the three words the switch pushes (RBP, RBX,
/// the resume address). Checked once per process ([`available`]), not assumed.
pub(crate) const SWITCH_MARGIN: usize = if cfg!(debug_assertions) { 512 } else { 128 };

// Slot states (see the module docs).
const RESIDENT: u8 = 0;
const EVICTING: u8 = 1;
const EVICTED: u8 = 2;
const RESTORING: u8 = 3;

/// The copy-on-park state of one stack slot, kept beside the chunk (never in the slot's own
/// pages) so that the fault handler can read it while the stack is evicted.
pub(crate) struct SlotMeta {
    state: AtomicU8,
    /// The saved words while EVICTED or RESTORING (owned by the goroutine, see the module
    /// docs); meaningless otherwise.
    record: AtomicPtr<Evicted>,
}

impl SlotMeta {
    pub(crate) const fn new() -> SlotMeta {
        SlotMeta {
            state: AtomicU8::new(RESIDENT),
            record: AtomicPtr::new(std::ptr::null_mut()),
        }
    }

    /// Claims a resident slot for eviction (home worker only; the goroutine is suspended).
    pub(crate) fn begin_evict(&self) -> bool {
        self.state
            .compare_exchange(RESIDENT, EVICTING, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
    }

    /// Whether the stack is in its pages (no eviction or restore under way).
    pub(crate) fn is_resident(&self) -> bool {
        self.state.load(Ordering::Acquire) == RESIDENT
    }

    /// Publishes the record of a slot claimed by `begin_evict`, for restorers to read.
    pub(crate) fn set_record(&self, ev: &Evicted) {
        debug_assert_eq!(self.state.load(Ordering::Relaxed), EVICTING);
        self.record
            .store(ev as *const Evicted as *mut Evicted, Ordering::Relaxed);
    }
}

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

/// Records the stack pointer in `sp`, then suspends the coroutine. Every goroutine parks
/// through here, and [`available`] measures how deep below `sp` this function and the switch
/// write, so eviction copies everything the switch left. `Y` is what the coroutine yields
/// (the scheduler's reason for switching: one byte).
#[inline(never)]
pub(crate) fn record_and_suspend<Y>(y: &Yielder<(), Y>, why: Y, sp: &Cell<usize>) {
    sp.set(stack_pointer());
    y.suspend(why);
}

/// The current stack pointer (an address just above it, on targets without inline asm).
#[inline(always)]
fn stack_pointer() -> usize {
    #[cfg(target_arch = "x86_64")]
    {
        let sp: usize;
        // SAFETY: reads RSP into a register; no memory access, no side effects.
        unsafe {
            std::arch::asm!("mov {}, rsp", out(reg) sp, options(nomem, nostack, preserves_flags))
        };
        sp
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let here = 0u8;
        std::hint::black_box(&here) as *const u8 as usize
    }
}

/// One slot of an eviction batch: its usable range and state.
pub(crate) struct Eviction<'a> {
    pub(crate) limit: usize,
    pub(crate) top: usize,
    pub(crate) meta: &'a SlotMeta,
    /// Still going ahead (a failed system call puts the slot back, resident).
    pub(crate) ok: bool,
    /// The caller's tag (which goroutine this is).
    pub(crate) owner: usize,
}

/// The address ranges of the usable parts of `batch`'s slots still going (sorted by
/// address), neighbours separated only by a slot guard of `guard` bytes merged if `merge`.
fn spans(batch: &[Eviction], guard: usize, merge: bool) -> Vec<(usize, usize)> {
    let ranges = batch.iter().filter(|e| e.ok).map(|e| (e.limit, e.top));
    merge_spans(ranges, guard, merge)
}

/// Usable ranges `(limit, top)` (sorted by address) as spans, neighbours separated only by
/// a slot guard of `guard` bytes merged if `merge`.
pub(super) fn merge_spans(
    ranges: impl Iterator<Item = (usize, usize)>,
    guard: usize,
    merge: bool,
) -> Vec<(usize, usize)> {
    let mut out: Vec<(usize, usize)> = Vec::new();
    for (limit, top) in ranges {
        match out.last_mut() {
            Some(last) if merge && last.1 + guard == limit => last.1 = top,
            _ => out.push((limit, top)),
        }
    }
    out
}

/// `mprotect(2)` on `[from, to)`; true if it worked. Async-signal-safe.
///
/// # Safety
/// The range must cover only stack slots of this runtime whose state the caller holds
/// (claimed for eviction, or RESTORING), and, when protections change, slot guards.
unsafe fn mprotect(from: usize, to: usize, prot: libc::c_int) -> bool {
    // SAFETY: by the caller's contract, nobody else relies on these pages' protection now.
    unsafe { libc::mprotect(from as *mut libc::c_void, to - from, prot) == 0 }
}

/// `madvise(2)` on `[from, to)`; true if it worked. Async-signal-safe.
///
/// # Safety
/// As for [`mprotect`]; the advice may drop the pages' contents, which must be saved.
unsafe fn madvise(from: usize, to: usize, advice: libc::c_int) -> bool {
    // SAFETY: by the caller's contract, the pages hold nothing that is not saved elsewhere.
    unsafe { libc::madvise(from as *mut libc::c_void, to - from, advice) == 0 }
}

/// Write-protects the usable ranges of a batch (sorted by address) whose slots the caller
/// claimed with [`SlotMeta::begin_evict`]: from here on, a write faults and waits.
///
/// # Safety
/// Every slot must belong to a suspended goroutine of the caller (its home worker), claimed.
pub(crate) unsafe fn protect(batch: &mut [Eviction], guard: usize) {
    // With guard markers, neighbours are merged (their slot guards are markers, whatever
    // the protection); with `mprotect` guards, a guard must stay PROT_NONE.
    for (a, b) in spans(batch, guard, guards_in_page_tables()) {
        // SAFETY: the span covers claimed slots of the caller (and guard markers between).
        if unsafe { !mprotect(a, b, libc::PROT_READ) } {
            // SAFETY: as above; back to how the goroutines left them.
            unsafe { mprotect(a, b, libc::PROT_READ | libc::PROT_WRITE) };
            for e in batch.iter_mut().filter(|e| a <= e.limit && e.limit < b) {
                e.ok = false;
                e.meta.state.store(RESIDENT, Ordering::Release);
            }
        }
    }
}

/// Copies the live part `[sp - SWITCH_MARGIN, top)` of a suspended, write-protected stack to
/// the heap, packed against one of the worker's `refs`; `scratch` is the worker's buffer.
///
/// # Safety
/// `[limit, top)` must be the usable part of a slot passed to [`protect`] (still `ok`), and
/// `sp` its goroutine's stack pointer recorded by [`record_and_suspend`].
pub(crate) unsafe fn save(
    sp: usize,
    limit: usize,
    top: usize,
    refs: &mut pack::References,
    scratch: &mut Vec<u64>,
) -> Evicted {
    let lo = (sp.saturating_sub(SWITCH_MARGIN) & !7).max(limit);
    let n = (top - lo) / 8;
    scratch.clear();
    scratch.reserve(n);
    let dst: &mut [MaybeUninit<u64>] = &mut scratch.spare_capacity_mut()[..n];
    for (i, d) in dst.iter_mut().enumerate() {
        // SAFETY: `[lo, top)` lies in the slot, is mapped, readable and 8-aligned (slot
        // bounds are page aligned). Other threads may read it, nobody can write it
        // (write-protected). Volatile reads of raw words: no reference to the goroutine's
        // memory is formed, and each read yields the bits the memory holds.
        d.write(unsafe { ((lo + i * 8) as *const u64).read_volatile() });
    }
    // SAFETY: the first `n` elements were just written.
    unsafe { scratch.set_len(n) };
    let (packed, reference) = refs.pack(scratch, top);
    Evicted { packed, reference }
}

/// Releases the pages of a batch saved by [`save`] and makes them fault: each span of
/// neighbouring slots is made `PROT_NONE` and its pages dropped (`MADV_DONTNEED`, all spans
/// in one `sys::advise_all`); with guard markers, markers then go on the pages of each
/// slot's saved words and the spans become read-write again (the chunk stays one mapping);
/// without, the spans stay `PROT_NONE`. Every slot still going is EVICTED afterwards, even
/// if a call failed: its pages then still hold the saved bytes and stay write-protected
/// (or inaccessible), so an access either reads the same bytes or faults and restores.
///
/// # Safety
/// As for [`protect`]; every `ok` slot's record was published with [`SlotMeta::set_record`].
pub(crate) unsafe fn release(batch: &mut [Eviction], guard: usize) {
    let markers = guards_in_page_tables();
    // Neighbours merged: the slot guards between them fault whatever happens. Inaccessible
    // first: `MADV_GUARD_INSTALL` zaps present pages and then installs markers, and a read
    // in between would map a zero page.
    let (spans, failed): (Vec<_>, Vec<_>) = (spans(batch, guard, true).into_iter())
        // SAFETY: the span covers claimed, saved slots of the caller and the guards between.
        .partition(|&(a, b)| unsafe { mprotect(a, b, libc::PROT_NONE) });
    // SAFETY: as above: every page of the spans is saved or dead; each advice may repeat.
    unsafe {
        let released = advise_all(&spans, libc::MADV_DONTNEED);
        if markers {
            // Every page released (slot guards keep their markers), then markers on the
            // pages of each slot's saved words only: below them lie dead frames nobody may
            // access, left read-write and zero-filled on demand, so a restore removes
            // markers from a page or two instead of the whole slot.
            let live: Vec<_> = (batch.iter())
                .filter(|e| e.ok && !failed.iter().any(|&(a, b)| a <= e.limit && e.top <= b))
                .map(|e| {
                    // SAFETY: published by `set_record` before this call (the contract).
                    let ev = &*e.meta.record.load(Ordering::Relaxed);
                    (live_start(ev, e.limit, e.top), e.top)
                })
                .collect();
            if released && advise_all(&live, MADV_GUARD_INSTALL) {
                // Guarded pages fault whatever the protection; read-write lets the
                // mapping merge again. (After a failure the spans stay `PROT_NONE`: an
                // access faults and restores.)
                for &(a, b) in &spans {
                    mprotect(a, b, libc::PROT_READ | libc::PROT_WRITE);
                }
            }
        }
    }
    for e in batch.iter().filter(|e| e.ok) {
        e.meta.state.store(EVICTED, Ordering::Release);
    }
}

/// Brings an evicted stack back before its goroutine runs, or waits for whoever is doing
/// so; no-op if it is resident. `ev` is the goroutine's record (possibly stale).
///
/// # Safety
/// Home worker only, while the goroutine is suspended; `meta` is its slot's, `[limit, top)`
/// the slot's usable part, `ev` the record last published for it.
pub(crate) unsafe fn restore(meta: &SlotMeta, ev: &Evicted, limit: usize, top: usize) {
    let mut buf = [MaybeUninit::<u64>::uninit(); 512];
    // SAFETY: by the caller's contract.
    unsafe { restore_or_wait(meta, limit, top, Some(ev), &mut buf) };
}

/// The start of the page holding the lowest saved word of `ev`, from a slot whose usable
/// part is `[limit, top)`: where eviction's guard markers begin (see [`release`]).
fn live_start(ev: &Evicted, limit: usize, top: usize) -> usize {
    let lo = top - pack::unpacked_words(&ev.packed) * 8;
    (lo & !(super::page_size() - 1)).max(limit)
}

/// One evicted stack of a restore batch ([`restore_batch`]).
pub(crate) struct Restoration<'a> {
    pub(crate) limit: usize,
    pub(crate) top: usize,
    pub(crate) meta: &'a SlotMeta,
    /// The record last published for the slot.
    pub(crate) ev: &'a Evicted,
}

/// Brings back the evicted stacks of several suspended goroutines of the caller at once:
/// the same protocol as a single restore (see the module docs), with one `mprotect` each
/// way per run of neighbouring slots instead of two per slot (each of which splits and
/// merges the chunk's mapping, and the second of which shoots down other cores' TLBs).
/// Slots that are not EVICTED (resident, or being restored by a faulting thread) are left
/// to the goroutine's own `restore`.
///
/// # Safety
/// Home worker only; every goroutine of `batch` is suspended, `meta` is its slot's,
/// `[limit, top)` the slot's usable part, `ev` the record last published for it.
pub(crate) unsafe fn restore_batch(batch: &mut Vec<Restoration>, guard: usize) {
    batch.retain(|r| {
        (r.meta.state)
            .compare_exchange(EVICTED, RESTORING, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
    });
    batch.sort_unstable_by_key(|r| r.limit);
    let markers = guards_in_page_tables();
    // With `mprotect` guards, evicted ranges are PROT_NONE already and slot guards must
    // stay so: nothing is merged. With markers, the guards between slots are markers
    // whatever the protection.
    let spans = merge_spans(batch.iter().map(|r| (r.limit, r.top)), guard, markers);
    let mut buf = [MaybeUninit::<u64>::uninit(); 512];
    let mut ok = true;
    // SAFETY: we hold RESTORING on every slot of `batch`, whose contents are saved in
    // their records; the spans cover those slots and the slot guards between them.
    unsafe {
        if markers {
            // Inaccessible first, then the markers go (slot by slot: the slot guards
            // between them stay): accesses meanwhile fault and wait.
            for &(a, b) in &spans {
                ok &= mprotect(a, b, libc::PROT_NONE);
            }
            let live: Vec<_> = (batch.iter())
                .map(|r| (live_start(r.ev, r.limit, r.top), r.top))
                .collect();
            ok &= advise_all(&live, MADV_GUARD_REMOVE);
        }
        for r in batch.iter() {
            ok &= write_words(r.ev, r.top, &mut buf);
        }
        for &(a, b) in &spans {
            ok &= mprotect(a, b, libc::PROT_READ | libc::PROT_WRITE);
        }
    }
    if !ok {
        super::overflow::fatal(
            b"fatal error: gorun could not restore an evicted goroutine stack\n",
        );
    }
    for r in batch.iter() {
        r.meta.state.store(RESIDENT, Ordering::Release);
    }
}

/// The restore protocol shared by the home worker and the fault handler (see the module
/// docs). Async-signal-safe.
///
/// # Safety
/// `meta` must describe the slot `[limit, top)` of a live chunk; `ev`, if given, is the
/// record last published for it (the handler reads it from `meta` instead).
unsafe fn restore_or_wait(
    meta: &SlotMeta,
    limit: usize,
    top: usize,
    ev: Option<&Evicted>,
    buf: &mut [MaybeUninit<u64>],
) {
    let mut spins = 0u32;
    loop {
        match meta.state.load(Ordering::Acquire) {
            RESIDENT => return,
            EVICTED
                if meta
                    .state
                    .compare_exchange(EVICTED, RESTORING, Ordering::Acquire, Ordering::Relaxed)
                    .is_ok() =>
            {
                // SAFETY: EVICTED means the record was published (Release) and is not freed
                // before the slot is RESIDENT again; we hold RESTORING.
                let ev = ev.unwrap_or_else(|| unsafe { &*meta.record.load(Ordering::Relaxed) });
                // SAFETY: we hold RESTORING on the slot `[limit, top)`; `ev` is its record.
                if !unsafe { write_back(ev, limit, top, buf) } {
                    super::overflow::fatal(
                        b"fatal error: gorun could not restore an evicted goroutine stack\n",
                    );
                }
                meta.state.store(RESIDENT, Ordering::Release);
                return;
            }
            _ => {
                // Someone else is evicting or restoring this slot: it will not be long.
                spins += 1;
                if spins.is_multiple_of(64) {
                    // SAFETY: sched_yield has no preconditions.
                    unsafe { libc::sched_yield() };
                } else {
                    std::hint::spin_loop();
                }
            }
        }
    }
}

/// Writes the saved words back into the slot while nobody else can touch its pages, then
/// makes them read-write. Async-signal-safe. Returns false if a system call failed.
///
/// # Safety
/// The caller holds RESTORING on the slot whose usable part is `[limit, top)`, and `ev` is
/// the record saved from it.
unsafe fn write_back(ev: &Evicted, limit: usize, top: usize, buf: &mut [MaybeUninit<u64>]) -> bool {
    let markers = guards_in_page_tables();
    // Inaccessible first, then the guards go: accesses meanwhile fault and wait.
    // SAFETY: we hold the slot (RESTORING); its contents are saved in `ev`.
    if markers
        && unsafe {
            !(mprotect(limit, top, libc::PROT_NONE)
                && madvise(live_start(ev, limit, top), top, MADV_GUARD_REMOVE))
        }
    {
        return false;
    }
    // SAFETY: as above; then the stack is whole and may be used.
    unsafe { write_words(ev, top, buf) && mprotect(limit, top, libc::PROT_READ | libc::PROT_WRITE) }
}

/// Writes the saved words of `ev` back below `top` through `/proc/self/mem`, `buf` at a
/// time. Async-signal-safe. Returns false if a write failed.
///
/// # Safety
/// The caller holds RESTORING on the slot with top `top`, and `ev` is the record saved
/// from it.
unsafe fn write_words(ev: &Evicted, top: usize, buf: &mut [MaybeUninit<u64>]) -> bool {
    let n = pack::unpacked_words(&ev.packed);
    let mut at = top - n * 8;
    let mut filled = 0;
    let mut ok = true;
    pack::unpack_each(&ev.packed, top, ev.reference.as_deref(), |w| {
        buf[filled].write(w);
        filled += 1;
        if filled == buf.len() {
            // SAFETY: `[at, at + 8 * filled)` lies in the slot we hold; `buf[..filled]` was
            // just written.
            ok &= unsafe { mem_write(at, &buf[..filled]) };
            at += filled * 8;
            filled = 0;
        }
    });
    // SAFETY: as above, for the last words.
    ok && (filled == 0 || unsafe { mem_write(at, &buf[..filled]) })
}

/// The process's `/proc/self/mem`, open for writing (see [`available`]); -1 until probed.
static MEM: AtomicI32 = AtomicI32::new(-1);
/// The process that opened `MEM`: a child forked since must not write through it (it
/// names the parent's memory).
static MEM_PID: AtomicI32 = AtomicI32::new(0);

/// Opens `/proc/self/mem` for writing. Async-signal-safe.
fn open_mem() -> libc::c_int {
    // SAFETY: a plain open(2) of a NUL-terminated path.
    unsafe { libc::open(c"/proc/self/mem".as_ptr(), libc::O_RDWR | libc::O_CLOEXEC) }
}

/// Writes `words` at address `at` through `/proc/self/mem`, which writes pages whatever
/// their protection. Async-signal-safe.
///
/// # Safety
/// `[at, at + 8 * words.len())` must be memory nobody else may use now (a slot held
/// RESTORING, or the probe's page), and every element of `words` initialised.
unsafe fn mem_write(at: usize, words: &[MaybeUninit<u64>]) -> bool {
    // SAFETY: getpid has no preconditions.
    if MEM_PID.load(Ordering::Relaxed) == unsafe { libc::getpid() } {
        // SAFETY: by the caller's contract.
        return unsafe { mem_write_to(MEM.load(Ordering::Relaxed), at, words) };
    }
    // A forked child (the parent's descriptor writes the parent's memory): its own, once.
    let fd = open_mem();
    // SAFETY: by the caller's contract.
    let ok = fd >= 0 && unsafe { mem_write_to(fd, at, words) };
    // SAFETY: closes the descriptor opened just above, if it was.
    unsafe { libc::close(fd) };
    ok
}

/// [`mem_write`] through the descriptor `fd`.
///
/// # Safety
/// As for [`mem_write`]; `fd` is this process's `/proc/self/mem`, open for writing.
unsafe fn mem_write_to(fd: libc::c_int, mut at: usize, words: &[MaybeUninit<u64>]) -> bool {
    let mut p = words.as_ptr() as *const u8;
    let mut left = std::mem::size_of_val(words);
    while left > 0 {
        // SAFETY: `p..p+left` lies in `words`, whose elements the caller initialised.
        let r = unsafe { libc::pwrite(fd, p as *const libc::c_void, left, at as libc::off_t) };
        if r <= 0 {
            return false;
        }
        let r = r as usize;
        // SAFETY: r <= left, so `p + r` stays within `words` (or one past its end).
        p = unsafe { p.add(r) };
        at += r;
        left -= r;
    }
    true
}

/// Handles a SIGSEGV at `addr` if it hit the usable part of a slot: restores the stack if
/// it is evicted, or waits for whoever evicts or restores it, so that the access can run
/// again. Returns false for faults that are not gorun's. Async-signal-safe.
pub(crate) fn on_fault(addr: usize) -> bool {
    let reader = chunks::Reader::enter();
    let Some(slot) = reader.find(addr) else {
        return false;
    };
    let mut buf = [MaybeUninit::<u64>::uninit(); 128];
    // SAFETY: the slot belongs to a chunk kept registered (and its metadata alive) while
    // `reader` lives; the handler reads the record from `meta` under RESTORING.
    unsafe { restore_or_wait(slot.meta, slot.limit, slot.top, None, &mut buf) };
    true
}

/// Whether copy-on-park can be made invisible here; checked once per process, with a
/// one-line notice when it cannot (then copy-on-park is off).
pub(crate) fn available() -> bool {
    static OK: OnceLock<bool> = OnceLock::new();
    *OK.get_or_init(|| match probe() {
        Ok(()) => true,
        Err(why) => {
            eprintln!("gorun: copy-on-park is off: {why}");
            false
        }
    })
}

fn probe() -> Result<(), String> {
    let depth = switch_depth();
    if depth > SWITCH_MARGIN {
        return Err(format!(
            "the coroutine switch writes {depth} bytes below the recorded stack pointer, \
             more than the {SWITCH_MARGIN} bytes an eviction copies"
        ));
    }
    let fd = open_mem();
    if fd < 0 {
        return Err(format!(
            "cannot open /proc/self/mem: {}",
            std::io::Error::last_os_error()
        ));
    }
    MEM.store(fd, Ordering::Relaxed);
    // SAFETY: getpid has no preconditions.
    MEM_PID.store(unsafe { libc::getpid() }, Ordering::Relaxed);
    // A write through it must reach a page that the process itself cannot access.
    let page = super::page_size();
    let p = super::map_anonymous(page, libc::PROT_NONE).ok_or("cannot map a probe page")?;
    let p = p as *mut libc::c_void;
    // SAFETY: the fresh page above, only used here and unmapped at the end.
    unsafe {
        let word = [MaybeUninit::new(0x5eed_u64)];
        let wrote = mem_write(p as usize, &word);
        let read = wrote && libc::mprotect(p, page, libc::PROT_READ) == 0;
        let ok = read && (p as *const u64).read_volatile() == 0x5eed;
        libc::munmap(p, page);
        if !ok {
            libc::close(fd);
            MEM.store(-1, Ordering::Relaxed);
            return Err("/proc/self/mem cannot write protected pages here".into());
        }
    }
    Ok(())
}

/// How many bytes below the stack pointer recorded by [`record_and_suspend`] a suspension
/// writes: measured on a scratch coroutine whose stack is filled with a pattern.
fn switch_depth() -> usize {
    const FILL: u64 = 0xdead_5ee5_dead_5ee5;
    const LEN: usize = 64 * 1024;
    // The probe's stack, unmapped after the coroutine is done with it.
    let Some(lo) = super::map_anonymous(LEN, libc::PROT_READ | libc::PROT_WRITE) else {
        return usize::MAX;
    };
    let hi = lo + LEN;
    for a in (lo..hi).step_by(8) {
        // SAFETY: `[lo, hi)` is the mapping above, read-write and page aligned; no coroutine
        // uses it yet.
        unsafe { (a as *mut u64).write_volatile(FILL) };
    }
    let sp = std::rc::Rc::new(Cell::new(0));
    let sp2 = sp.clone();
    let stack = SlotStack {
        bottom: lo,
        top: hi,
        meta: 0,
    };
    /// Stands in for the scheduler's one-byte reason to switch, so the probe measures the
    /// same instantiation shape as a real park.
    #[allow(dead_code)]
    enum Why {
        Yield,
        Park,
    }
    let mut coro = Coroutine::with_stack(stack, move |y: &Yielder<(), Why>, ()| {
        record_and_suspend(y, Why::Park, &sp2);
    });
    let _ = coro.resume(());
    let lowest = (lo..hi)
        .step_by(8)
        // SAFETY: as above; the coroutine is suspended, so nothing writes its stack now.
        .find(|&a| unsafe { (a as *const u64).read_volatile() } != FILL)
        .unwrap_or(hi);
    let finished = matches!(coro.resume(()), CoroutineResult::Return(()));
    debug_assert!(finished);
    drop(coro);
    // SAFETY: the coroutine that used the mapping has finished and been dropped.
    unsafe { libc::munmap(lo as *mut libc::c_void, LEN) };
    sp.get().saturating_sub(lowest)
}

/// The registry of stack chunks, for the fault handler: which slot an address falls in, and
/// its [`SlotMeta`]. A fixed table read without locks; entries are added and removed by the
/// pools (under a lock of their own), and an entry's metadata is freed only once no handler
/// is reading the table.
pub(crate) mod chunks {
    use std::io;
    use std::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};
    use std::sync::Mutex;

    use super::SlotMeta;

    /// Chunks of 256 slots: 16.7 million goroutines.
    const MAX: usize = 1 << 16;

    struct ChunkEntry {
        /// Chunk start; 0 when the entry is free.
        base: AtomicUsize,
        end: AtomicUsize,
        slot: AtomicUsize,
        guard: AtomicUsize,
        metas: AtomicPtr<SlotMeta>,
    }

    #[allow(clippy::declare_interior_mutable_const)]
    const EMPTY: ChunkEntry = ChunkEntry {
        base: AtomicUsize::new(0),
        end: AtomicUsize::new(0),
        slot: AtomicUsize::new(0),
        guard: AtomicUsize::new(0),
        metas: AtomicPtr::new(std::ptr::null_mut()),
    };

    static TABLE: [ChunkEntry; MAX] = [EMPTY; MAX];
    /// Entries ever used: readers scan `0..USED`.
    static USED: AtomicUsize = AtomicUsize::new(0);
    /// Free entries below `USED` (taken by `add` only, never by a handler).
    static FREE: Mutex<Vec<usize>> = Mutex::new(Vec::new());
    /// Handlers reading the table now.
    static READERS: AtomicUsize = AtomicUsize::new(0);

    /// Registers the chunk `[base, base + len)` of slots of `slot` bytes (the first `guard`
    /// of each a guard) with their metadata. Returns the entry, for [`remove`].
    pub(crate) fn add(
        base: usize,
        len: usize,
        slot: usize,
        guard: usize,
        metas: Box<[SlotMeta]>,
    ) -> io::Result<usize> {
        let mut free = FREE.lock().unwrap();
        let i = match free.pop() {
            Some(i) => i,
            None => {
                let i = USED.load(Ordering::Relaxed);
                if i == MAX {
                    return Err(io::Error::other(
                        "gorun: too many goroutine stacks for the fault handler's table",
                    ));
                }
                i
            }
        };
        let e = &TABLE[i];
        e.end.store(base + len, Ordering::Relaxed);
        e.slot.store(slot, Ordering::Relaxed);
        e.guard.store(guard, Ordering::Relaxed);
        e.metas
            .store(Box::into_raw(metas) as *mut SlotMeta, Ordering::Relaxed);
        // Published last: a reader that sees `base` sees the rest.
        e.base.store(base, Ordering::Release);
        if i == USED.load(Ordering::Relaxed) {
            USED.store(i + 1, Ordering::Release);
        }
        Ok(i)
    }

    /// Unregisters entry `i` (of `slots` slots) and frees its metadata once no handler can
    /// be reading it. The chunk must not be used by any goroutine any more.
    pub(crate) fn remove(i: usize, slots: usize) {
        let e = &TABLE[i];
        e.base.store(0, Ordering::SeqCst);
        while READERS.load(Ordering::SeqCst) != 0 {
            std::thread::yield_now();
        }
        let metas = e.metas.swap(std::ptr::null_mut(), Ordering::Relaxed);
        // SAFETY: from `Box::into_raw` in `add`, with `slots` elements; no reader can hold
        // it: the entry was unpublished before the readers drained.
        drop(unsafe { Box::from_raw(std::ptr::slice_from_raw_parts_mut(metas, slots)) });
        FREE.lock().unwrap().push(i);
    }

    /// A slot found by address.
    pub(crate) struct Found<'r> {
        pub(crate) limit: usize,
        pub(crate) top: usize,
        pub(crate) meta: &'r SlotMeta,
    }

    /// Marks a handler reading the table (its entries' metadata stay allocated meanwhile).
    pub(crate) struct Reader(());

    impl Reader {
        pub(crate) fn enter() -> Reader {
            READERS.fetch_add(1, Ordering::SeqCst);
            Reader(())
        }

        /// The slot whose usable part holds `addr` (a slot guard is nobody's).
        pub(crate) fn find(&self, addr: usize) -> Option<Found<'_>> {
            for e in &TABLE[..USED.load(Ordering::Acquire)] {
                let base = e.base.load(Ordering::SeqCst);
                if base == 0 || addr < base || addr >= e.end.load(Ordering::Relaxed) {
                    continue;
                }
                let slot = e.slot.load(Ordering::Relaxed);
                let k = (addr - base) / slot;
                let bottom = base + k * slot;
                let limit = bottom + e.guard.load(Ordering::Relaxed);
                if addr < limit {
                    return None;
                }
                // SAFETY: `k` indexes a slot of this chunk, whose metadata array has one
                // element per slot and stays allocated while this reader lives (`remove`).
                let meta = unsafe { &*e.metas.load(Ordering::Relaxed).add(k) };
                return Some(Found {
                    limit,
                    top: bottom + slot,
                    meta,
                });
            }
            None
        }
    }

    impl Drop for Reader {
        fn drop(&mut self) {
            READERS.fetch_sub(1, Ordering::SeqCst);
        }
    }
}
