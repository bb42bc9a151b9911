//! The goroutine control block, spawning and `JoinHandle`.
//!
//! # Ownership and invariants
//!
//! A goroutine is an `Arc<G>`. The control block is shared: wait queues, timers and run
//! queues hold `Arc<G>`s to wake it. Its fields fall in three groups:
//!
//! - identity (id, parent, spawn site, runtime; the name, out of line), immutable while the
//!   block is shared (`reuse` rewrites a finished block that nothing else references);
//! - atomics anyone may touch: the park state, the wait reason, the park site, the home
//!   worker (written once, when the goroutine starts);
//! - fields owned by one thread at a time, in `UnsafeCell`s:
//!   * `body` holds the closure of an unstarted goroutine, which belongs to whoever popped
//!     the `Arc<G>` off a run queue and is taken exactly once, when the goroutine starts;
//!     then the coroutine, set when the goroutine starts on a worker and from then on
//!     touched only by that worker's thread (its *home*). A started goroutine never moves
//!     to another thread (ARCHITECTURE.md): that is what makes `!Send` values on its stack and
//!     cached thread-local addresses sound;
//!   * everything else a started goroutine's home thread alone touches (stack bounds, saved
//!     stack pointer, evicted copy, coop budget, unwinding flags) is in `home.rs`, reachable
//!     only through the `!Send` view `AtHome`, so the compiler keeps other threads out.
//!
//! From start until its coroutine has been taken out (finished, or unwound at shutdown),
//! the runtime's registry holds an `Arc<G>`, so the last reference to a started goroutine is
//! never dropped on another thread while it still owns a stack.

mod held;
mod home;
mod join;
mod wait;

pub(crate) use home::AtHome;
pub use join::JoinHandle;
pub(crate) use join::{Runnable, Task};
pub(crate) use wait::WaitReason;

use home::HomeOnly;

use held::HeldLocks;

use std::cell::{Cell, UnsafeCell};
use std::panic::Location;
use std::sync::atomic::{
    AtomicBool, AtomicPtr, AtomicU16, AtomicU32, AtomicU64, AtomicU8, Ordering,
};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use corosensei::Coroutine;

use crate::runtime::{seeded, worker, Shared};
use crate::stack::SlotStack;

/// Why a goroutine switched back to its worker.
pub(crate) enum Suspend {
    /// `yield_now`: queue me again at the back.
    Yield,
    /// A long spawning run: queue me behind the goroutines I spawned, so they start
    /// while their queue entries and stacks are still hot.
    YieldToSpawned,
    /// Parked: whoever wakes me queues me.
    Park,
}

pub(crate) type Coro = Coroutine<(), Suspend, (), SlotStack>;

/// What an unstarted goroutine carries: its body, which also holds the result slot. (Its
/// stack is taken when it starts, so a million queued goroutines hold no stacks.)
pub(crate) type EntryPoint = Arc<dyn Runnable>;

// Park states (see `park.rs`).
const RUNNING: u8 = 0;
const PARKED: u8 = 1;
const NOTIFIED: u8 = 2;
/// Parked on its worker's OS thread without switching (it is unwinding: see `park`).
const PARKED_THREAD: u8 = 3;

/// Operations a goroutine may complete without parking before it yields (the coop budget,
/// see `coop_spend`).
const BUDGET: u8 = 128;

/// How long a goroutine that blocks while unwinding keeps its worker's thread before it
/// switches anyway because other goroutines of the worker are runnable (see `park`).
const UNWIND_HOLD: Duration = Duration::from_millis(50);

/// The panic payload that unwinds an abandoned goroutine at shutdown (what a plain thread
/// joining it gets as `Err`).
const ABANDONED: &str = "gorun: goroutine abandoned: its runtime shut down";

/// Home value of a goroutine that has not started yet.
pub(crate) const UNSTARTED: usize = usize::MAX;

pub(crate) struct G {
    pub(crate) id: u64,
    pub(crate) parent: u64,
    pub(crate) spawn_site: &'static Location<'static>,
    pub(crate) shared: Arc<Shared>,
    /// The name, park trace and held locks, for the few goroutines that have them (out of
    /// line: a million parked goroutines should not pay for them). Null, or set once (at
    /// creation or by the goroutine's own thread) to a `Box` freed with the control block.
    extra: AtomicPtr<Extra>,

    state: AtomicU8,
    /// Waiting on a timer channel (for the deadlock detector; written by its own thread).
    timer_wait: AtomicBool,
    wait_reason: AtomicU8,
    park_site: AtomicPtr<Location<'static>>,
    /// Runtime clock (ns since the runtime started) when the goroutine last parked.
    parked_at: AtomicU64,
    body: UnsafeCell<Body>,
    /// The stack's size class (`stack::classes`): set by the spawner before the goroutine
    /// is queued, read by its home worker.
    stack_class: AtomicU8,
    /// Fields only the home worker's thread touches once started (`home.rs`).
    home_only: HomeOnly,
    /// Reasons the stack must stay resident (something may point into it).
    pins: AtomicU32,
    home: AtomicU16,
    /// Index in the home worker's registry shard; only read and changed under its lock.
    pub(crate) registry_index: Cell<u32>,
}

/// What a goroutine runs: its closure until it starts, then its coroutine.
enum Body {
    Unstarted(EntryPoint),
    Started(Coro),
    Gone,
}

/// The rarely present parts of a control block: allocated at creation for a named
/// goroutine or with `GORUN_TRACEBACK=all`, else when the goroutine first takes a lock.
pub(crate) struct Extra {
    name: Option<Box<str>>,
    /// Backtrace of the last park, with `GORUN_TRACEBACK=all` only.
    trace: Mutex<Option<Box<str>>>,
    /// Locks held now (lock-cycle detection).
    pub(crate) held_locks: HeldLocks,
}

impl Extra {
    fn boxed(name: Option<Box<str>>) -> *mut Extra {
        Box::into_raw(Box::new(Extra {
            name,
            trace: Mutex::new(None),
            held_locks: HeldLocks::new(),
        }))
    }
}

impl Drop for G {
    fn drop(&mut self) {
        if let Body::Started(coro) = std::mem::replace(self.body.get_mut(), Body::Gone) {
            // Only reachable if a started goroutine's last reference went away without its
            // worker finishing or unwinding it (a bug, or a worker that never came back).
            // This may be another thread: unwinding here would run its destructors off
            // its home thread, so it is leaked instead.
            debug_assert!(false, "gorun: a started goroutine was dropped");
            std::mem::forget(coro);
        }
        let p = *self.extra.get_mut();
        if !p.is_null() {
            // SAFETY: set once from `Extra::boxed` (`Box::into_raw`) and freed only here.
            drop(unsafe { Box::from_raw(p) });
        }
    }
}

// SAFETY: the `Cell`/`UnsafeCell` fields follow the ownership rules in the module docs:
// `body` is accessed only by the thread that dequeued the unstarted goroutine, then (once
// started) by its home worker; `home_only` only through `AtHome`, whose every maker vouches
// for being on the home thread (`home.rs`; a fault handler reads the record in `evicted`
// through the slot's state, see `stack::evict`); `registry_index` only under its registry
// shard's mutex. Everything else is atomic or immutable.
unsafe impl Sync for G {}
// SAFETY: as above; moving an `Arc<G>` between threads never moves the coroutine, which
// stays on its home thread.
unsafe impl Send for G {}

impl G {
    pub(crate) fn new(
        id: u64,
        parent: u64,
        spawn_site: &'static Location<'static>,
        name: Option<Box<str>>,
        shared: Arc<Shared>,
        entry: EntryPoint,
    ) -> G {
        G {
            id,
            parent,
            spawn_site,
            shared,
            extra: AtomicPtr::new(if name.is_some() || traceback_all() {
                Extra::boxed(name)
            } else {
                std::ptr::null_mut()
            }),
            state: AtomicU8::new(RUNNING),
            timer_wait: AtomicBool::new(false),
            wait_reason: AtomicU8::new(WaitReason::None as u8),
            park_site: AtomicPtr::new(std::ptr::null_mut()),
            parked_at: AtomicU64::new(0),
            body: UnsafeCell::new(Body::Unstarted(entry)),
            stack_class: AtomicU8::new(0),
            home_only: HomeOnly::new(),
            pins: AtomicU32::new(0),
            home: AtomicU16::new(u16::MAX),
            registry_index: Cell::new(u32::MAX),
        }
    }

    /// Makes a finished goroutine's control block (referenced nowhere else) that of a new,
    /// unstarted one of the same runtime, field by field: cheaper than building a fresh
    /// block and moving it in, and the runtime handle is kept rather than cloned again.
    pub(crate) fn reuse(
        &mut self,
        id: u64,
        parent: u64,
        spawn_site: &'static Location<'static>,
        name: Option<Box<str>>,
        entry: EntryPoint,
    ) {
        // Every field is named here, so a field added to `G` cannot be forgotten: the
        // runtime handle is the one kept as it is.
        let G {
            id: g_id,
            parent: g_parent,
            spawn_site: g_site,
            shared: _,
            extra,
            state,
            timer_wait,
            wait_reason,
            park_site,
            parked_at,
            body,
            stack_class,
            home_only,
            pins,
            home,
            registry_index,
        } = self;
        let fresh = if name.is_some() || traceback_all() {
            Extra::boxed(name)
        } else {
            std::ptr::null_mut()
        };
        let old = std::mem::replace(extra.get_mut(), fresh);
        if !old.is_null() {
            // SAFETY: from `Extra::boxed`, owned by this block, no longer reachable from it.
            drop(unsafe { Box::from_raw(old) });
        }
        (*g_id, *g_parent, *g_site) = (id, parent, spawn_site);
        *state.get_mut() = RUNNING;
        *timer_wait.get_mut() = false;
        *wait_reason.get_mut() = WaitReason::None as u8;
        *park_site.get_mut() = std::ptr::null_mut();
        *parked_at.get_mut() = 0;
        *body.get_mut() = Body::Unstarted(entry);
        *stack_class.get_mut() = 0;
        home_only.reset();
        *pins.get_mut() = 0;
        *home.get_mut() = u16::MAX;
        registry_index.set(u32::MAX);
    }

    /// Sets the stack's size class, before the goroutine is queued.
    pub(crate) fn set_stack_class(&self, class: u8) {
        self.stack_class.store(class, Ordering::Relaxed);
    }

    /// The stack's size class.
    pub(crate) fn stack_class(&self) -> u8 {
        self.stack_class.load(Ordering::Relaxed)
    }

    /// Usable bytes of the goroutine's stack.
    pub(crate) fn stack_size(&self) -> usize {
        self.shared.stacks().usable(self.stack_class())
    }

    /// The worker this goroutine is pinned to, or `UNSTARTED`.
    pub(crate) fn home(&self) -> usize {
        match self.home.load(Ordering::Relaxed) {
            u16::MAX => UNSTARTED,
            h => h as usize,
        }
    }

    /// The goroutine's name, if it was given one.
    pub(crate) fn name(&self) -> Option<&str> {
        self.extra()?.name.as_deref()
    }

    /// The out-of-line parts, if allocated (any thread).
    pub(crate) fn extra(&self) -> Option<&Extra> {
        // SAFETY: null, or a pointer from `Extra::boxed` that lives until `drop`.
        unsafe { self.extra.load(Ordering::Acquire).as_ref() }
    }

    /// The out-of-line parts, allocated on first use. Only the goroutine's own thread
    /// calls this (so there is no race to set them).
    pub(crate) fn extra_or_alloc(&self) -> &Extra {
        if let Some(e) = self.extra() {
            return e;
        }
        let fresh = Extra::boxed(None);
        self.extra.store(fresh, Ordering::Release);
        // SAFETY: just allocated; freed only in `drop`.
        unsafe { &*fresh }
    }

    pub(crate) fn wait_reason(&self) -> WaitReason {
        WaitReason::from_u8(self.wait_reason.load(Ordering::Relaxed))
    }

    pub(crate) fn park_site(&self) -> Option<&'static Location<'static>> {
        let p = self.park_site.load(Ordering::Relaxed);
        // SAFETY: the pointer is null or came from a `&'static Location`.
        unsafe { p.as_ref() }
    }

    pub(crate) fn parked_at(&self) -> u64 {
        self.parked_at.load(Ordering::Relaxed)
    }

    /// The backtrace captured at the last park (`GORUN_TRACEBACK=all`).
    pub(crate) fn park_trace(&self) -> Option<String> {
        self.extra()?
            .trace
            .lock()
            .unwrap()
            .as_deref()
            .map(str::to_string)
    }

    pub(crate) fn is_parked(&self) -> bool {
        self.state.load(Ordering::Acquire) == PARKED
    }

    /// Takes the closure of an unstarted goroutine.
    ///
    /// # Safety
    /// The caller must own the goroutine as popped from a run queue (no other thread may
    /// start it) and it must not have started yet.
    pub(crate) unsafe fn take_entry(&self) -> Option<EntryPoint> {
        // SAFETY: exclusive by the caller's contract.
        let body = unsafe { &mut *self.body.get() };
        match std::mem::replace(body, Body::Gone) {
            Body::Unstarted(entry) => Some(entry),
            other => {
                *body = other;
                None
            }
        }
    }

    /// The coroutine, for the home worker to resume.
    ///
    /// # Safety
    /// Only the home worker's thread may call this, and it must not hold another reference
    /// obtained from this function or from `take_coro` (the goroutine's own code never
    /// calls either).
    #[allow(clippy::mut_from_ref)]
    pub(crate) unsafe fn coro_mut(&self) -> Option<&mut Coro> {
        // SAFETY: by the caller's contract the access is exclusive.
        match unsafe { &mut *self.body.get() } {
            Body::Started(coro) => Some(coro),
            _ => None,
        }
    }

    /// Takes the coroutine out (finished, or to unwind it at shutdown).
    ///
    /// # Safety
    /// As for `coro_mut`.
    pub(crate) unsafe fn take_coro(&self) -> Option<Coro> {
        // SAFETY: by the caller's contract the access is exclusive.
        let body = unsafe { &mut *self.body.get() };
        match std::mem::replace(body, Body::Gone) {
            Body::Started(coro) => Some(coro),
            other => {
                *body = other;
                None
            }
        }
    }

    pub(crate) fn pin_stack(&self) {
        self.pins.fetch_add(1, Ordering::AcqRel);
    }

    pub(crate) fn unpin_stack(&self) {
        self.pins.fetch_sub(1, Ordering::AcqRel);
    }

    /// Whether the goroutine is waiting to be woken: parked, or holding its worker's thread
    /// while it unwinds (for diagnostics; `is_parked` is the suspended state only).
    pub(crate) fn is_blocked(&self) -> bool {
        matches!(self.state.load(Ordering::Acquire), PARKED | PARKED_THREAD)
    }

    pub(crate) fn set_timer_wait(&self, on: bool) {
        self.timer_wait.store(on, Ordering::Relaxed);
    }

    /// Whether it waits on a timer channel now.
    pub(crate) fn timer_wait(&self) -> bool {
        self.timer_wait.load(Ordering::Relaxed)
    }

    /// Wakes this goroutine if parked, else leaves a token for its next park.
    pub(crate) fn unpark(self: &Arc<Self>) {
        if self.wake() {
            worker::schedule(self.clone());
        }
    }

    /// The state half of `unpark`: true if the goroutine was parked and the caller must now
    /// queue it (callers waking many at once batch the queueing). A goroutine holding its
    /// worker's thread (`PARKED_THREAD`) is woken here, by unparking that thread.
    pub(crate) fn wake(&self) -> bool {
        let mut s = self.state.load(Ordering::Acquire);
        loop {
            let next = match s {
                PARKED | PARKED_THREAD => RUNNING,
                RUNNING => NOTIFIED,
                _ => return false,
            };
            match self
                .state
                .compare_exchange(s, next, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) if s == PARKED_THREAD => {
                    self.shared.workers()[self.home()].unpark_thread();
                    return false;
                }
                Ok(_) => return s == PARKED,
                Err(actual) => s = actual,
            }
        }
    }
}

/// Whether `GORUN_TRACEBACK=all` asks for a backtrace at every park (slow; off by default).
pub(crate) fn traceback_all() -> bool {
    static ALL: OnceLock<bool> = OnceLock::new();
    *ALL.get_or_init(|| std::env::var("GORUN_TRACEBACK").is_ok_and(|v| v == "all"))
}

/// Reports a panic that nobody will `join` (Go's `panic:` report): prints it and exits with
/// code 2, or, under `Builder::panic_on_fatal`, stops the runtime with it (`run` then
/// panics with the report) and returns.
pub(crate) fn fatal_panic(payload: &(dyn std::any::Any + Send)) {
    let header = format!("panic: {}", panic_message(payload));
    let g = worker::current_g();
    let mut body = g.as_ref().map_or(String::new(), |g| {
        format!(
            "goroutine {} [running]:\ncreated by goroutine {} at {}\n",
            g.id, g.parent, g.spawn_site
        )
    });
    body += &seeded::replay_note().unwrap_or_default();
    match g {
        Some(g) if g.shared.config().panic_on_fatal => g
            .shared
            .fail(crate::runtime::Deadlock::with_header(&header, &body)),
        _ => {
            eprint!("{header}\n\n{body}");
            crate::trace::write_current();
            std::process::exit(2);
        }
    }
}

/// The text of a panic payload (`&str` and `String` payloads; others are described).
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "(non-string panic payload)".to_string()
    }
}
