//! Goroutine stacks: fixed-size slots carved from large `MAP_NORESERVE` chunks.
//!
//! This module and [`overflow`] hold all the memory-mapping code of the crate.
//!
//! # Layout
//!
//! A chunk is one anonymous mapping holding `SLOTS_PER_CHUNK` slots. Each slot is a guard
//! area followed by the usable stack; a stack grows down from the slot's top:
//!
//! ```text
//!  chunk base                                                     chunk end
//!  | guard | usable stack ...........| guard | usable stack ...........| ...
//!  ^slot 0 ^limit               base^ ^slot 1
//!          (lowest usable)  (top, initial SP)
//! ```
//!
//! Guards are installed with `madvise(MADV_GUARD_INSTALL)` (Linux 6.13+): the guard lives in
//! the page tables, so a chunk stays one VMA however many guards it holds, and a million
//! goroutines fit within the default `vm.max_map_count` of 65530. On older kernels the guard
//! is made with `mprotect(PROT_NONE)`, which splits the mapping: every slot then costs two
//! VMAs and the pool refuses to grow past what `vm.max_map_count` allows, with an error that
//! says how many fit and how to raise the limit. `GORUN_STACK_GUARDS=mprotect` in the
//! environment forces these `mprotect` guards on any kernel (to test that path).
//!
//! # Size classes
//!
//! A runtime has one pool per stack size class ([`classes::Stacks`]): class 0 holds the
//! runtime's default size (`Builder::stack_size`), class `k` twice the size of class
//! `k - 1`, for goroutines started with `GoBuilder::stack_size`. A class's pool is created
//! when its first goroutine starts. Every class has the same guard size (one page), so
//! copy-on-park and the fault handler treat all slots alike: each chunk records its own
//! slot size in the fault handler's registry. Chunks hold fewer slots as slots grow
//! ([`CHUNK_BYTES`]), and fewer freed slots of a big class keep their pages.
//!
//! # Ownership
//!
//! A [`StackPool`] belongs to one runtime. A [`SlotStack`] is owned by exactly one coroutine
//! while it runs; when the goroutine finishes, its home worker gives the slot back. Slots are
//! recycled LIFO (the most recently used slot is the most likely to be resident and cached).
//! The `KEEP_HOT` most recently freed slots keep their pages; older free slots are released
//! with `MADV_DONTNEED` in batches, neighbours merged into one range, the ranges in one
//! call where the kernel allows (`sys::advise_all`).
//!
//! Chunks are never unmapped while the pool lives; the pool unmaps them all when dropped,
//! which happens after every coroutine of the runtime has been dropped. Each chunk is
//! registered, with one [`evict::SlotMeta`] per slot, in the table the fault handler reads
//! (`evict::chunks`), from creation until the pool is dropped.

pub(crate) mod classes;
pub(crate) mod evict;
pub(crate) mod overflow;
pub(crate) mod pack;

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock};

use corosensei::stack::{Stack, StackPointer};

use evict::SlotMeta;

use crate::sys::MADV_GUARD_INSTALL;

/// Slots per mapping, at most (256 slots of 68 KiB = 17 MiB of address space per chunk).
const SLOTS_PER_CHUNK: usize = 256;
/// Address space per chunk, at most, once slots are big (but at least one slot): a chunk of
/// one 64 MiB slot, 15 slots of 4 MiB.
const CHUNK_BYTES: usize = 64 << 20;
/// Free slots kept without trimming their pages, at most.
const KEEP_HOT: usize = 256;
/// Usable bytes the hot free slots of one pool may span (fewer hot slots when big).
const HOT_BYTES: usize = 16 << 20;

/// The smallest and largest usable stack sizes `Builder::stack_size` accepts.
pub(crate) const MIN_STACK: usize = 16 * 1024;
pub(crate) const MAX_STACK: usize = 1 << 30;

pub(crate) fn page_size() -> usize {
    static PAGE: OnceLock<usize> = OnceLock::new();
    // SAFETY: sysconf has no preconditions.
    *PAGE.get_or_init(|| unsafe { libc::sysconf(libc::_SC_PAGESIZE) as usize })
}

/// A fresh private anonymous mapping of `len` bytes with protection `prot`, pages reserved
/// only once touched (`MAP_NORESERVE`), or `None` if the kernel refused. The caller owns it.
pub(crate) fn map_anonymous(len: usize, prot: libc::c_int) -> Option<usize> {
    let flags = libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE;
    // SAFETY: a new mapping at an address the kernel picks: nothing existing is affected.
    let p = unsafe { libc::mmap(std::ptr::null_mut(), len, prot, flags, -1, 0) };
    (p != libc::MAP_FAILED).then_some(p as usize)
}

/// Whether this kernel supports guard markers (and `GORUN_STACK_GUARDS=mprotect` does not
/// say to do without). Probed once per process.
pub(crate) fn guards_in_page_tables() -> bool {
    static PROBE: OnceLock<bool> = OnceLock::new();
    *PROBE.get_or_init(|| {
        if std::env::var_os("GORUN_STACK_GUARDS").is_some_and(|v| v == "mprotect") {
            return false;
        }
        crate::sys::guard_markers(page_size())
    })
}

/// Rounds a requested usable stack size to whole pages within the accepted range.
pub(crate) fn round_stack_size(bytes: usize) -> usize {
    let page = page_size();
    bytes.max(MIN_STACK).div_ceil(page) * page
}

/// The pool of stack slots of one runtime.
pub(crate) struct StackPool {
    /// Usable bytes per slot (page multiple).
    usable: usize,
    /// Slots per chunk, and free slots kept with their pages.
    slots_per_chunk: usize,
    keep_hot: usize,
    /// Guard bytes at the bottom of each slot.
    guard: usize,
    page_guards: bool,
    inner: Mutex<PoolInner>,
    /// Set once an allocation failed, so the error is explained once.
    exhausted: AtomicBool,
}

struct PoolInner {
    /// (base, length, slots, registry entry) of each chunk.
    chunks: Vec<(usize, usize, usize, usize)>,
    /// Free slots; the last `hot` entries have not been trimmed.
    free: Vec<FreeSlot>,
    /// How many free slots at the end of `free` still hold resident pages.
    hot: usize,
}

impl StackPool {
    pub(crate) fn new(usable: usize) -> StackPool {
        let page_guards = guards_in_page_tables();
        let guard = page_size();
        StackPool {
            usable,
            slots_per_chunk: (CHUNK_BYTES / (usable + guard)).clamp(1, SLOTS_PER_CHUNK),
            keep_hot: (HOT_BYTES / usable).clamp(1, KEEP_HOT),
            guard,
            page_guards,
            inner: Mutex::new(PoolInner {
                chunks: Vec::new(),
                free: Vec::new(),
                hot: 0,
            }),
            exhausted: AtomicBool::new(false),
        }
    }

    fn slot_size(&self) -> usize {
        self.usable + self.guard
    }

    /// Takes up to `n` free slots (at least one), mapping a new chunk when none is free.
    /// Slots come out in ascending address order when popped from `out`, so slots taken
    /// together are usually neighbours whose pages can later be released with one call.
    pub(crate) fn alloc_batch(&self, n: usize, out: &mut Vec<SlotStack>) -> io::Result<()> {
        let mut inner = self.inner.lock().unwrap();
        if inner.free.is_empty() {
            self.grow(&mut inner)?;
        }
        let take = n.clamp(1, inner.free.len());
        let start = inner.free.len() - take;
        for f in inner.free[start..].iter() {
            out.push(SlotStack {
                bottom: f.bottom,
                top: f.bottom + self.slot_size(),
                meta: f.meta,
            });
        }
        inner.free.truncate(start);
        inner.hot = inner.hot.min(inner.free.len());
        Ok(())
    }

    /// Returns a slot whose coroutine has been dropped.
    pub(crate) fn free(&self, stack: SlotStack) {
        debug_assert!(stack.meta().is_resident());
        let mut inner = self.inner.lock().unwrap();
        inner.free.push(FreeSlot {
            bottom: stack.bottom,
            meta: stack.meta,
        });
        inner.hot += 1;
        let keep = self.keep_hot;
        if inner.hot <= 2 * keep {
            return;
        }
        // Release the coldest hot slots (just below the hot window) in one batch, merging
        // neighbours into one call. The lock stays held: once released, another worker could
        // take one of these slots and start a goroutine on it before we discard its pages.
        let len = inner.free.len();
        let mut cold: Vec<usize> = (inner.free[len - inner.hot..len - keep].iter())
            .map(|f| f.bottom)
            .collect();
        inner.hot = keep;
        cold.sort_unstable();
        let usable = cold.iter().map(|&b| (b + self.guard, b + self.slot_size()));
        let spans = evict::merge_spans(usable, self.guard, true);
        // SAFETY: the spans cover free slots of a live chunk (no coroutine owns them, and
        // none can take them while we hold the pool's lock) and the slot guards between
        // them, which survive MADV_DONTNEED; dropping a free slot's pages may be repeated.
        unsafe { crate::sys::advise_all(&spans, libc::MADV_DONTNEED) };
    }

    fn grow(&self, inner: &mut PoolInner) -> io::Result<()> {
        let slots = if self.page_guards {
            self.slots_per_chunk
        } else {
            mprotect_slots::take(self.slots_per_chunk)
        };
        if slots == 0 {
            return Err(self.map_count_error(inner));
        }
        let mapped = self.map_chunk(inner, slots);
        if mapped.is_err() && !self.page_guards {
            mprotect_slots::give_back(slots);
        }
        mapped
    }

    /// Maps a chunk of `slots` slots, guards them and adds them to the free list.
    fn map_chunk(&self, inner: &mut PoolInner, slots: usize) -> io::Result<()> {
        let len = slots * self.slot_size();
        // Owned by this pool until drop.
        let base = map_anonymous(len, libc::PROT_READ | libc::PROT_WRITE)
            .ok_or_else(io::Error::last_os_error)?;
        crate::sys::no_huge_pages(base as *mut libc::c_void, len);
        if let Err(e) = self.install_guards(base, slots) {
            // SAFETY: the mapping just created, not handed out.
            unsafe { libc::munmap(base as *mut libc::c_void, len) };
            return Err(e);
        }
        let metas: Box<[SlotMeta]> = (0..slots).map(|_| SlotMeta::new()).collect();
        let first = metas.as_ptr() as usize;
        let entry = match evict::chunks::add(base, len, self.slot_size(), self.guard, metas) {
            Ok(entry) => entry,
            Err(e) => {
                // SAFETY: as above.
                unsafe { libc::munmap(base as *mut libc::c_void, len) };
                return Err(e);
            }
        };
        for i in (0..slots).rev() {
            inner.free.push(FreeSlot {
                bottom: base + i * self.slot_size(),
                meta: first + i * std::mem::size_of::<SlotMeta>(),
            });
        }
        inner.chunks.push((base, len, slots, entry));
        Ok(())
    }

    /// Guards the first page of each of the `slots` slots of the fresh mapping at `base`.
    fn install_guards(&self, base: usize, slots: usize) -> io::Result<()> {
        let mut guards = (0..slots).map(|i| base + i * self.slot_size());
        let ok = if self.page_guards {
            let ranges: Vec<_> = guards.map(|g| (g, g + self.guard)).collect();
            // SAFETY: the ranges are the guard areas of slots in a mapping we own, which no
            // stack uses yet.
            unsafe { crate::sys::advise_all(&ranges, MADV_GUARD_INSTALL) }
        } else {
            // SAFETY: as above.
            guards.all(|g| unsafe { libc::mprotect(g as *mut libc::c_void, self.guard, libc::PROT_NONE) } == 0)
        };
        if ok {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }

    fn map_count_error(&self, inner: &PoolInner) -> io::Error {
        let live: usize = inner.chunks.iter().map(|c| c.2).sum();
        let msg = format!(
            "gorun: cannot create more goroutine stacks: this kernel lacks MADV_GUARD_INSTALL \
             (Linux 6.13+), so each stack costs two memory mappings, and vm.max_map_count \
             allows about {live} goroutines; raise it with `sysctl -w vm.max_map_count=<n>` \
             (2 per goroutine, plus margin) or upgrade the kernel"
        );
        if !self.exhausted.swap(true, Ordering::Relaxed) {
            eprintln!("{msg}");
        }
        io::Error::other(msg)
    }
}

/// With `mprotect` guards (two mappings per slot), the slots the map-count limit still
/// allows: one budget for every pool of every runtime in the process (each size class has
/// its own pool), measured when the first such pool grows; a dropped pool gives its slots
/// back. Unlimited where the system has no per-process mapping limit (macOS).
mod mprotect_slots {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::OnceLock;

    fn budget() -> &'static AtomicUsize {
        static BUDGET: OnceLock<AtomicUsize> = OnceLock::new();
        BUDGET.get_or_init(|| {
            let Some((max, used)) = crate::sys::map_count() else {
                return AtomicUsize::new(usize::MAX);
            };
            // Keep a margin for the allocator, thread stacks and the program's own mappings.
            AtomicUsize::new(max.saturating_sub(used + 1024) / 2)
        })
    }

    /// Takes up to `want` slots; returns how many it got.
    pub(super) fn take(want: usize) -> usize {
        let mut got = 0;
        let _ = budget().fetch_update(Ordering::Relaxed, Ordering::Relaxed, |left| {
            got = left.min(want);
            Some(left - got)
        });
        got
    }

    pub(super) fn give_back(slots: usize) {
        let _ = budget().fetch_update(Ordering::Relaxed, Ordering::Relaxed, |left| {
            Some(left.saturating_add(slots))
        });
    }
}

impl Drop for StackPool {
    fn drop(&mut self) {
        let inner = self.inner.get_mut().unwrap();
        if !self.page_guards {
            mprotect_slots::give_back(inner.chunks.iter().map(|c| c.2).sum());
        }
        for &(base, len, slots, entry) in &inner.chunks {
            // No goroutine uses the chunk any more: the fault handler forgets it first.
            evict::chunks::remove(entry, slots);
            // SAFETY: each (base, len) is a mapping this pool created; the pool is dropped
            // only after every coroutine using its slots has been dropped.
            unsafe { libc::munmap(base as *mut libc::c_void, len) };
        }
    }
}

/// A free slot: its bottom and the address of its [`SlotMeta`].
struct FreeSlot {
    bottom: usize,
    meta: usize,
}

/// One slot: the stack of one coroutine.
pub(crate) struct SlotStack {
    bottom: usize,
    top: usize,
    /// Address of the slot's `SlotMeta`, in its chunk's registry entry.
    meta: usize,
}

impl SlotStack {
    /// The highest address (where the stack starts).
    pub(crate) fn top(&self) -> usize {
        self.top
    }

    /// The slot's copy-on-park state (it lives as long as the pool).
    pub(crate) fn meta(&self) -> &SlotMeta {
        // SAFETY: `meta` points into the metadata of a registered chunk of the live pool
        // this slot came from, freed only when the pool is dropped, after every coroutine.
        unsafe { &*(self.meta as *const SlotMeta) }
    }
}

// SAFETY: `base` and `limit` describe a slot of a live mapping owned by the pool, page
// aligned (so STACK_ALIGNMENT aligned); the slot is used by one coroutine at a time and
// the mapping outlives it (the pool is dropped after all coroutines).
unsafe impl Stack for SlotStack {
    fn base(&self) -> StackPointer {
        StackPointer::new(self.top).expect("stack top is not null")
    }

    fn limit(&self) -> StackPointer {
        StackPointer::new(self.bottom).expect("stack bottom is not null")
    }
}

/// Panics unless `bytes` is a stack size `who`'s `stack_size` accepts.
pub(crate) fn check_size(who: &str, bytes: usize) {
    assert!(
        bytes > 0,
        "gorun::{who}::stack_size: the stack size must be positive, got 0"
    );
    assert!(
        bytes <= MAX_STACK,
        "gorun::{who}::stack_size: {bytes} bytes is absurd (the limit is {} bytes)",
        MAX_STACK
    );
}
