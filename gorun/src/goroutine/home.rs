//! The fields of a control block that only its home worker's thread touches, and the one
//! type through which they are reached.
//!
//! Once a goroutine has started, its stack bounds, saved stack pointer, evicted copy,
//! slot state, coop budget, unwinding flags and coroutine yielder belong to its home
//! worker's thread: the worker (which resumes, evicts and restores it) and the goroutine
//! itself while it runs. They live in [`HomeOnly`], whose fields are private to this file,
//! and the methods that use them are on [`AtHome`]: a view of a `G` that is `!Send` and
//! `!Sync`, made only by [`AtHome::of`] (an `unsafe fn`: the caller vouches that it runs on
//! the goroutine's home thread). A waker on another thread holds a `&G`, and the compiler
//! keeps it from reaching any of these fields or methods; an `&AtHome` cannot be sent to
//! another thread. The worker makes the views of the goroutines it runs and evicts; the
//! running goroutine gets its own from `runtime::worker::with_current_g`.

use std::cell::{Cell, UnsafeCell};
use std::marker::PhantomData;
use std::ops::Deref;
use std::panic::Location;
use std::sync::atomic::Ordering;
use std::time::Instant;

use corosensei::Yielder;

use super::{
    traceback_all, Body, Coro, Suspend, WaitReason, ABANDONED, BUDGET, G, NOTIFIED, PARKED,
    PARKED_THREAD, RUNNING, UNWIND_HOLD,
};
use crate::runtime::{seeded, worker};
use crate::stack::evict::{self, Evicted, Eviction, Restoration, SlotMeta};
use crate::stack::pack::References;

/// The home-thread fields of a control block (see the module docs).
pub(crate) struct HomeOnly {
    /// Top of the stack (highest address), set when it starts.
    stack_top: Cell<usize>,
    /// Stack pointer recorded at the last suspension (for copy-on-park).
    saved_sp: Cell<usize>,
    /// The stack's live bytes while it is evicted (copy-on-park); possibly stale once a
    /// fault restored the stack (the slot's state says), freed by the home worker.
    evicted: UnsafeCell<Option<Evicted>>,
    /// The copy-on-park state of the stack's slot, set when it starts (the pool outlives
    /// every started goroutine).
    slot: Cell<*const SlotMeta>,
    /// Whether the home worker's cold list holds this goroutine.
    cold_queued: Cell<bool>,
    /// Non-blocking operations left before a forced yield.
    budget: Cell<u8>,
    /// Abandoned at shutdown, and whether its unwind has begun (see `suspend`).
    abandoned: Cell<bool>,
    unwinding: Cell<bool>,
    /// Suspended in the middle of unwinding from its own panic (see `park`).
    mid_unwind: Cell<bool>,
    yielder: Cell<*const Yielder<(), Suspend>>,
}

impl HomeOnly {
    pub(super) fn new() -> HomeOnly {
        HomeOnly {
            stack_top: Cell::new(0),
            saved_sp: Cell::new(0),
            evicted: UnsafeCell::new(None),
            slot: Cell::new(std::ptr::null()),
            cold_queued: Cell::new(false),
            budget: Cell::new(BUDGET),
            abandoned: Cell::new(false),
            unwinding: Cell::new(false),
            mid_unwind: Cell::new(false),
            yielder: Cell::new(std::ptr::null()),
        }
    }

    /// For a recycled control block (`G::reuse`, which has it exclusively).
    pub(super) fn reset(&mut self) {
        *self = HomeOnly::new();
    }
}

/// A goroutine seen from its home worker's thread (see the module docs).
#[repr(transparent)]
pub(crate) struct AtHome {
    g: G,
    /// `!Send` and `!Sync`: the view never leaves the thread that made it.
    _thread: PhantomData<*const ()>,
}

// The view must stay `!Send` and `!Sync` (that is its whole point), checked at compile time:
// were it `Send` (or `Sync`), the second impl would apply too and the calls below would be
// ambiguous, which does not compile.
trait AmbiguousIfSend<A> {
    fn check() {}
}
impl<T: ?Sized> AmbiguousIfSend<()> for T {}
impl<T: ?Sized + Send> AmbiguousIfSend<u8> for T {}
trait AmbiguousIfSync<A> {
    fn check() {}
}
impl<T: ?Sized> AmbiguousIfSync<()> for T {}
impl<T: ?Sized + Sync> AmbiguousIfSync<u8> for T {}
const _: fn() = || {
    <AtHome as AmbiguousIfSend<_>>::check();
    <AtHome as AmbiguousIfSync<_>>::check();
};

impl Deref for AtHome {
    type Target = G;

    #[inline]
    fn deref(&self) -> &G {
        &self.g
    }
}

impl AtHome {
    /// The home-thread view of `g`.
    ///
    /// # Safety
    /// The caller runs on the thread of `g`'s home worker (so `g` has started), and keeps the
    /// view on that thread (its type sees to that).
    #[inline]
    pub(crate) unsafe fn of(g: &G) -> &AtHome {
        // SAFETY: `AtHome` is a `repr(transparent)` wrapper of `G` (the marker is a ZST).
        unsafe { &*(g as *const G).cast::<AtHome>() }
    }

    /// Whether the home worker's cold list holds this goroutine; sets it to `on`.
    pub(crate) fn replace_cold_queued(&self, on: bool) -> bool {
        self.home_only.cold_queued.replace(on)
    }

    /// Claims the suspended goroutine's stack for eviction (copy-on-park): returns its
    /// slot, tagged `owner`, or `None` if it stays resident (pinned, not parked, already
    /// evicted). Frees a record left stale by a fault that restored the stack.
    ///
    /// # Safety
    /// The goroutine is suspended (not running).
    pub(crate) unsafe fn begin_evict(&self, owner: usize) -> Option<Eviction<'_>> {
        if self.pins.load(Ordering::Acquire) != 0 || !self.is_parked() {
            return None;
        }
        let meta = self.slot_meta();
        // SAFETY: home thread, goroutine suspended: nobody else writes `evicted`, and a
        // restorer reads it only while the slot is not RESIDENT.
        let record = unsafe { &mut *self.home_only.evicted.get() };
        if !meta.is_resident() {
            return None;
        }
        *record = None;
        if !meta.begin_evict() {
            return None;
        }
        let (limit, top) = (self.stack_limit(), self.home_only.stack_top.get());
        Some(Eviction {
            limit,
            top,
            meta,
            ok: true,
            owner,
        })
    }

    /// Copies the stack claimed by `begin_evict` and write-protected (`evict::protect`) to
    /// the heap, and publishes the copy for restorers. Returns its size in bytes.
    ///
    /// # Safety
    /// Home worker only, while the goroutine is suspended; `e` is its claimed slot, still
    /// `ok` after `evict::protect`.
    pub(crate) unsafe fn save(
        &self,
        e: &Eviction,
        refs: &mut References,
        scratch: &mut Vec<u64>,
    ) -> usize {
        // SAFETY: `e` is this goroutine's write-protected slot; `saved_sp` was recorded on
        // its stack at suspension.
        let ev =
            unsafe { evict::save(self.home_only.saved_sp.get(), e.limit, e.top, refs, scratch) };
        // SAFETY: home thread; the slot is EVICTING, so no restorer reads the record yet.
        let ev = unsafe { &mut *self.home_only.evicted.get() }.insert(ev);
        e.meta.set_record(ev);
        ev.len()
    }

    /// Brings an evicted stack back before the goroutine runs (no-op if resident).
    ///
    /// # Safety
    /// Home worker only, before resuming the goroutine.
    #[inline]
    pub(crate) unsafe fn restore(&self) {
        // SAFETY: home thread, goroutine suspended.
        let record = unsafe { &mut *self.home_only.evicted.get() };
        if let Some(ev) = record {
            let began = self.shared.trace().map(|_| crate::sys::ticks());
            // SAFETY: `ev` is the record last published for this goroutine's slot, which
            // has not run since.
            unsafe {
                evict::restore(
                    self.slot_meta(),
                    ev,
                    self.stack_limit(),
                    self.home_only.stack_top.get(),
                )
            };
            *record = None;
            if let (Some(t), Some(began)) = (self.shared.trace(), began) {
                t.restored(self.id, began);
            }
        }
    }

    /// The copy-on-park state of the stack's slot (after start).
    fn slot_meta(&self) -> &SlotMeta {
        // SAFETY: set at start from the goroutine's own slot, whose pool outlives it.
        unsafe { &*self.home_only.slot.get() }
    }

    /// The lowest usable address of the stack (after start).
    fn stack_limit(&self) -> usize {
        self.home_only.stack_top.get() - self.stack_size()
    }

    /// The evicted stack, for a restore batch (`evict::restore_batch`), or `None` if the
    /// stack is resident (or was never evicted).
    ///
    /// # Safety
    /// Home worker only, while the goroutine is suspended, and the record must stay put
    /// while the result lives: no `restore` or `save` of this goroutine meanwhile.
    pub(crate) unsafe fn restoration(&self) -> Option<Restoration<'_>> {
        // SAFETY: home thread, goroutine suspended: nobody writes the record now.
        let ev = unsafe { &*self.home_only.evicted.get() }.as_ref()?;
        let meta = self.slot_meta();
        (!meta.is_resident()).then(|| Restoration {
            limit: self.stack_limit(),
            top: self.home_only.stack_top.get(),
            meta,
            ev,
        })
    }

    /// The guard range below the stack (home worker only, after start).
    pub(crate) fn guard(&self) -> (usize, usize) {
        let limit = self.stack_limit();
        (limit - self.shared.stacks().guard_size(), limit)
    }

    /// Called by the goroutine's body when it first runs.
    pub(crate) fn set_yielder(&self, y: &Yielder<(), Suspend>) {
        self.home_only.yielder.set(y as *const _);
    }

    /// Spends one unit of the coop budget (an operation that completed, or failed, without
    /// parking); when the budget is spent, yields, so a goroutine polling with non-blocking
    /// operations cannot hold its worker forever. Home thread only (the running goroutine).
    #[inline]
    pub(crate) fn coop_spend(&self) {
        let b = self.home_only.budget.get();
        if b > 0 {
            self.home_only.budget.set(b - 1);
        } else {
            self.home_only.budget.set(seeded::budget(BUDGET));
            self.give_way(Suspend::Yield);
        }
    }

    /// Whether it is suspended in the middle of unwinding from its own panic (home thread).
    pub(crate) fn is_mid_unwind(&self) -> bool {
        self.home_only.mid_unwind.get()
    }

    /// Marks the goroutine abandoned (its runtime shut down): when its worker next resumes
    /// it, it unwinds. Home worker only, while it is suspended.
    pub(crate) fn abandon(&self) {
        self.home_only.abandoned.set(true);
    }

    /// Yields (`Yield` or `YieldToSpawned`): switches out unless the goroutine is unwinding.
    /// A yield is only a hint, and switching while unwinding would let the other goroutines
    /// of the worker see the thread's panicking state (see `park`).
    pub(crate) fn give_way(&self, why: Suspend) {
        if !worker::unwinding_here() {
            self.suspend(why);
        }
    }

    /// Switches from the running goroutine (which must be `self`) back to its worker.
    pub(crate) fn suspend(&self, why: Suspend) {
        // A Tokio context entered by `block_on` belongs to this goroutine, not the thread
        // (`tokio_rt`, a leaf module: it names nothing else of the crate).
        #[cfg(feature = "tokio")]
        let ctx = crate::tokio_rt::leave();
        self.home_only.budget.set(seeded::budget(BUDGET));
        let y = self.home_only.yielder.get();
        debug_assert!(!y.is_null());
        // SAFETY: `yielder` points into this goroutine's own stack, set by its body before
        // any user code ran; we are running on that stack, so it is live.
        evict::record_and_suspend(unsafe { &*y }, why, &self.home_only.saved_sp);
        #[cfg(feature = "tokio")]
        crate::tokio_rt::reenter(ctx);
        if self.home_only.abandoned.get() && !self.home_only.unwinding.replace(true) {
            // Resumed by its worker at shutdown: unwind (caught at the goroutine's root; if
            // user code catches it, the goroutine is given up at its next park or yield).
            std::panic::resume_unwind(Box::new(ABANDONED));
        }
    }

    /// Parks the running goroutine `self` (see `park.rs` for the protocol).
    ///
    /// # While unwinding
    ///
    /// `std::thread::panicking()` is per OS thread and cannot be saved or restored, so a
    /// goroutine that blocks in a destructor while it unwinds from a panic would make every
    /// other goroutine of its worker see `panicking() == true` (spurious `std::sync` mutex
    /// poisoning, skipped checks) if it switched. Such a park holds the worker's thread
    /// instead (state `PARKED_THREAD`; a wake unparks the thread), so nothing else runs on
    /// it meanwhile. If the wait outlasts `UNWIND_HOLD` while other goroutines of the
    /// worker are runnable (one of them may be what it waits for), it switches after all:
    /// a hang would be worse than the exposure, which lasts until it is resumed.
    ///
    /// An abandoned goroutine (being unwound at shutdown) that blocks in a destructor is
    /// leaked at that point instead (see `Worker::unwind_all`).
    pub(crate) fn park(&self, reason: WaitReason, site: &'static Location<'static>) {
        // A token left by a wake while we ran: consume it instead of parking. (Loaded first:
        // most parks find none, and a load is cheaper than a failing compare-and-swap; a
        // token that arrives after the load makes the CAS to PARKED below fail instead.)
        if self.state.load(Ordering::Relaxed) == NOTIFIED
            && self
                .state
                .compare_exchange(NOTIFIED, RUNNING, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
        {
            return;
        }
        if self.home_only.abandoned.get() {
            self.park_abandoned();
        }
        self.wait_reason.store(reason as u8, Ordering::Relaxed);
        self.park_site
            .store(site as *const _ as *mut _, Ordering::Relaxed);
        self.parked_at
            .store(self.shared.coarse_clock(), Ordering::Relaxed);
        if traceback_all() {
            *self.extra_or_alloc().trace.lock().unwrap() = Some(
                std::backtrace::Backtrace::force_capture()
                    .to_string()
                    .into(),
            );
        }
        if worker::unwinding_here() {
            self.park_unwinding();
        } else {
            match self
                .state
                .compare_exchange(RUNNING, PARKED, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => self.suspend(Suspend::Park),
                Err(_) => self.state.store(RUNNING, Ordering::Relaxed), // NOTIFIED meanwhile
            }
        }
        self.wait_reason
            .store(WaitReason::None as u8, Ordering::Relaxed);
    }

    /// A park while unwinding from the goroutine's own panic (see `park`).
    #[cold]
    fn park_unwinding(&self) {
        if self
            .state
            .compare_exchange(RUNNING, PARKED_THREAD, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            self.state.store(RUNNING, Ordering::Relaxed); // NOTIFIED meanwhile
            return;
        }
        let start = Instant::now();
        loop {
            worker::hold_thread(true);
            std::thread::park_timeout(UNWIND_HOLD);
            worker::hold_thread(false);
            if self.state.load(Ordering::Acquire) != PARKED_THREAD {
                return; // woken (the waker set RUNNING)
            }
            // Switch after all when others of this worker may be what it waits for, or
            // when the runtime shuts down (its worker must get the thread back).
            let give_way = (start.elapsed() >= UNWIND_HOLD && worker::has_local_work())
                || self.shared.is_shutdown();
            if give_way
                && self
                    .state
                    .compare_exchange(PARKED_THREAD, PARKED, Ordering::AcqRel, Ordering::Acquire)
                    .is_ok()
            {
                self.home_only.mid_unwind.set(true);
                worker::exposed(1);
                self.suspend(Suspend::Park);
                worker::exposed(-1);
                self.home_only.mid_unwind.set(false);
                return;
            }
        }
    }

    /// A park of an abandoned goroutine after its unwind began: in a destructor of that
    /// unwind, or after user code caught it (`catch_unwind` in a loop would otherwise raise
    /// and catch forever). Either way it is given up: its worker leaks it where it stands
    /// and its remaining destructors do not run (see `Worker::unwind_all`).
    #[cold]
    fn park_abandoned(&self) -> ! {
        loop {
            self.suspend(Suspend::Park); // never resumed
        }
    }
}

impl G {
    /// Binds a freshly created coroutine, on the stack slot with top `top` and state `slot`,
    /// to this goroutine and pins it to worker `home`.
    ///
    /// # Safety
    /// Called once, on the thread of worker `home`, by the thread that took the entry;
    /// `slot` belongs to the coroutine's stack.
    pub(crate) unsafe fn start(&self, home: usize, coro: Coro, top: usize, slot: &SlotMeta) {
        self.home_only.stack_top.set(top);
        self.home_only.slot.set(slot);
        self.home.store(home as u16, Ordering::Relaxed);
        // SAFETY: only the home thread touches the started body, and it is not borrowed now.
        unsafe { *self.body.get() = Body::Started(coro) };
    }
}
