//! # gorun: Go's concurrency system in Rust
//!
//! Goroutines are stackful coroutines on an M:N scheduler: you write plain blocking Rust
//! inside them, and a blocked goroutine parks (its worker thread runs others) instead of
//! blocking a thread.
//!
//! ```
//! use std::time::Duration;
//!
//! gorun::run(|| {
//!     let workers: Vec<_> = (1..=3)
//!         .map(|id| {
//!             gorun::go(move || {
//!                 println!("Worker {id} starting");
//!                 gorun::sleep(Duration::from_millis(10));
//!                 println!("Worker {id} done");
//!                 id
//!             })
//!         })
//!         .collect();
//!     for w in workers {
//!         w.join().unwrap();
//!     }
//!     println!("All workers finished.");
//! });
//! ```
//!
//! ## The rules
//!
//! - [`run`] (or `#[gorun::main]`) starts a runtime and runs its closure as goroutine 1;
//!   [`go`] starts more goroutines. When the main goroutine returns, the program is done:
//!   goroutines still running are abandoned, as in Go (see [Shutdown](#shutdown)).
//! - A goroutine never changes OS thread once started, so `!Send` values such as `Rc` may
//!   live on its stack across blocking calls, and thread-locals stay valid. But a
//!   `thread_local!` is shared by every goroutine that runs on the same worker thread:
//!   per-goroutine state (a request id, a tracing span) belongs in [`goroutine_local!`].
//! - Blocking system calls belong in [`blocking`]; a long CPU loop should call
//!   [`yield_now`] now and then: scheduling is cooperative (see [Fairness](#fairness)).
//! - A panic in a goroutine is returned by [`JoinHandle::join`]; if the handle was dropped,
//!   the program stops with Go's `panic:` report and exit code 2. A stack overflow prints
//!   `fatal error: stack overflow` with the goroutine's id and creation site.
//!
//! Network I/O goes through [`net`]: sockets with std's API whose blocking calls park
//! the goroutine until the netpoller sees the socket ready; [`io::Async`] does the same for
//! any file descriptor (pipes, terminals).
//!
//! More of what real programs need:
//!
//! - [`Handle`]: start goroutines from plain threads (`Handle::current()` in the runtime,
//!   moved to the thread); [`go`] also works inside [`blocking`].
//! - [`scope`]: goroutines that borrow from the caller, all joined before it returns.
//! - [`Context`] and [`ErrGroup`]: Go's cancellation (`done()` works in [`select!`]) and
//!   errgroup.
//! - [`Timer`], [`Ticker`] and [`at`]: timers that stop and reset with Go 1.23's rules;
//!   [`time`] has them all, with [`time::now`], the runtime's clock.
//! - [Virtual time](#virtual-time) and [`synctest::wait`]: tests of timeouts that run in
//!   milliseconds and see exact times.
//! - [`goroutine_local!`]: per-goroutine values, where `thread_local!` is per worker.
//!
//! Data races do not compile: goroutines take `Send + 'static` closures, so shared state
//! needs `Arc` plus a lock or an atomic.
//!
//! ```compile_fail
//! gorun::run(|| {
//!     let mut count = 0;
//!     let h = gorun::go(|| count += 1); // error: closure may outlive `count`
//!     h.join().unwrap();
//! });
//! ```
//!
//! ## Fairness
//!
//! Goroutines switch when they block, yield or spawn; gorun never interrupts one. Within
//! that, every runnable goroutine gets its turn: [`yield_now`] (Go's `Gosched`) puts the
//! caller behind everything else runnable on its worker, and the scheduler serves its
//! queues in turn, so a goroutine that is ready runs within a bounded number of switches
//! whatever the others do (ping-pong, wake-up storms, endless spawning).
//!
//! Polling loops are covered too: each goroutine has a budget of 128 operations that
//! complete without parking (`try_send`, `try_recv`, `try_lock` and the other `try_`
//! operations, [`select!`] with `default`, socket calls that complete at once). When it is
//! spent, the goroutine yields. So `loop { if let Ok(v) = rx.try_recv() { break v } }`
//! ends even when the sender runs on the same worker. A loop that does no gorun operation
//! at all still holds its worker: call [`yield_now`] in it.
//!
//! ## Shutdown
//!
//! When the main goroutine returns, every other goroutine is abandoned: each worker unwinds
//! the goroutines homed on it (on their own thread, so their destructors run where they
//! lived), and [`run`] returns main's value. Beyond Go, which runs nothing at exit:
//!
//! - A worker busy in a goroutine that does not switch (a CPU loop, a blocking system
//!   call) cannot be interrupted. `run` waits for a worker only while it makes progress;
//!   after 100 ms without any, the worker is detached and leaked: `run` returns, the
//!   thread goes on (and if its goroutine ever switches, it unwinds the goroutines homed on
//!   it and ends), and the runtime's memory stays allocated for it.
//! - A destructor that would block during that unwind (a contended lock, a join, a
//!   WaitGroup, a sleep, a send nobody takes) gives up: its goroutine is leaked at that
//!   point, its remaining destructors do not run, and its stack stays mapped for good (the
//!   runtime is leaked). Nothing aborts, and the exit code is main's. The same holds for a
//!   goroutine that catches its unwind (`catch_unwind`) and then parks or yields again.
//! - A detached goroutine that panics once shutdown has begun is not reported (its panic is
//!   usually a consequence of the shutdown: a peer's channel end dropped by its unwind).
//! - A fatal report (deadlock, lock cycle) under [`run`] prints and exits with code 2 at
//!   once, unwinding nothing, like Go; [`Builder::try_run`] unwinds as above and returns it.
//!
//! `run` can be called again on the same thread afterwards. One trace can remain: Rust's
//! panicking state is per OS thread, and a goroutine leaked in the middle of its unwind
//! leaves that thread reporting `std::thread::panicking() == true` afterwards.
//!
//! ### Blocking while unwinding from a panic
//!
//! `std::thread::panicking()` is per OS thread, and no stable API saves or restores it. A
//! goroutine that blocks in a destructor while it unwinds from its own panic (a guard that
//! sends on a channel when dropped) would make the other goroutines of its worker see
//! `panicking() == true` if it switched: spurious poisoning of `std::sync` locks, skipped
//! checks. So it holds its worker's thread while it waits, and nothing else runs there
//! meanwhile (goroutines of other workers, plain threads, timers and I/O wake it as usual).
//! If the wait lasts over 50 ms while other goroutines of the same worker are runnable (one
//! of them may be what it waits for), it switches after all: a hang would be worse than
//! the exposure, which lasts until it runs again.
//!
//! ## Diagnostics
//!
//! When every goroutine is blocked and nothing can wake one, [`run`] prints Go's report and
//! exits with code 2 (and [`Builder::try_run`] returns it as a [`Deadlock`]):
//!
//! ```text
//! fatal error: all goroutines are asleep - deadlock!
//!
//! goroutine 1 [chan receive]:
//!     waiting at src/main.rs:7:12
//! created by gorun::run at src/main.rs:4:5, on worker 0
//! ```
//!
//! What counts as asleep: parked on a channel, select, a `sync` type or a join. Not asleep:
//! sleeping or waiting with a timeout, waiting on a timer channel ([`after`], [`tick`])
//! whose timer is armed, waiting for I/O or a future ([`block_on`]), inside [`blocking`].
//! As in Go since 1.23, a timer channel that nobody waits on does not count: `rx.recv()`
//! beside an unread `tick(1s)` is a deadlock. Plain OS threads are outside the runtime, so gorun looks at them too: while
//! some thread that gorun does not own is running, sleeping, in a timed wait
//! (`recv_timeout`, `Condvar::wait_timeout`, `park_timeout`) or in any other system call,
//! it might still send on a channel, and no deadlock is reported; only when every such
//! thread is blocked without a timeout on a lock, condition variable or std channel (a
//! futex) is the program stuck. This reads `/proc/self/task` (Linux); macOS does not tell
//! what a thread is blocked in, so there no deadlock is reported while any thread that gorun
//! does not own exists. Two runtimes talking through one channel are not seen as waking
//! each other. Note that libtest's main thread
//! waits with a timeout (its 60 s warning) while tests run in parallel, so inside such a test
//! binary a deadlock is reported only once that wait ends: check deadlocks in a child
//! process or with `--test-threads=1`.
//!
//! Beyond Go: goroutines waiting for each other's locks (A holds `m1` and waits for `m2`,
//! B holds `m2` and waits for `m1`) are reported as a lock cycle even while the rest of the
//! program runs; [`dump`] prints every goroutine at any time (with `GORUN_TRACEBACK=all`,
//! with a backtrace captured at each park); the monitor warns about a goroutine that runs
//! over 100 ms without yielding while others wait behind it; [`Builder::leak_check`]
//! reports goroutines left running when main returns; [`metrics`] counts spawns, switches,
//! parks, steals and evictions.
//!
//! An execution trace shows what each worker ran and why: [`Builder::trace`] (or the
//! `GORUN_TRACE=path` environment variable) writes a Chrome trace-event JSON file, opened by
//! Perfetto's UI and `chrome://tracing`, with a track per worker, a slice per goroutine run,
//! parks with their wait reasons, and arrows from each waker to the run it caused. It is
//! written when the runtime shuts down, and also when a deadlock or another fatal error
//! ends the process.
//!
//! ## Virtual time
//!
//! Concurrent code with timeouts is slow and flaky to test on a real clock. A runtime built
//! with [`Builder::virtual_time`] (or a test under `#[gorun::test(virtual_time)]`) runs on
//! a virtual clock instead, as Go 1.25's `testing/synctest` does: every [`sleep`],
//! [`after`], [`tick`], [`at`], [`Timer`], [`Ticker`], every timeout (`recv_timeout`,
//! `send_timeout`, [`select!`]'s `default(timeout)`, [`sync::Cond::wait_timeout`]) and
//! every [`Context`] deadline, and [`time::now`], read a clock that starts at the real time
//! the runtime starts and moves only when every goroutine is *durably blocked*: parked on
//! a channel, a `select!`, a `sync` type, a join, a sleep or a timer. Then it jumps
//! straight to the next deadline, and the timers due then fire in the order they were set.
//! While any goroutine runs or is runnable, waits for I/O or a future, or is inside
//! [`blocking`], the clock does not move. So a test that sleeps an hour finishes in
//! milliseconds, a 1 s sleep ends at exactly 1 s, and [`synctest::wait`] returns once every
//! other goroutine is durably blocked, so a test can check what has happened "by now".
//!
//! ```
//! use std::time::Duration;
//! use gorun::time::now;
//!
//! gorun::Builder::new().virtual_time(true).run(|| {
//!     let start = now();
//!     let (tx, rx) = gorun::chan::<&str>(0);
//!     gorun::go(move || {
//!         gorun::sleep(Duration::from_secs(3600));
//!         tx.send("an hour later").unwrap();
//!     });
//!     assert!(rx.recv_timeout(Duration::from_secs(60)).is_err()); // times out at 60 s
//!     assert_eq!(now() - start, Duration::from_secs(60));
//!     assert_eq!(rx.recv().unwrap(), "an hour later");
//!     assert_eq!(now() - start, Duration::from_secs(3600)); // exactly
//! });
//! ```
//!
//! Any number of workers may run. Use [`time::now`] where you would use std's
//! `Instant::now`: std's clock (`Instant::now`, `Instant::elapsed`) keeps real time, and so
//! do plain threads and [`blocking`] calls (timers they make use real time too), and so do
//! socket timeouts (`set_read_timeout`), since the clock stands still during I/O. Plain
//! threads are outside the virtual world: one that sends on a channel races with the
//! clock. A deadlock (every goroutine durably blocked and no timer pending) is reported
//! as usual.
//!
//! Under `#[gorun::test]` (arguments: `workers = n`, `virtual_time`, `seed = n`), a
//! deadlock or a panic in a goroutine nobody joins fails that test with a panic carrying
//! the report ([`Builder::panic_on_fatal`]) instead of ending the whole test binary.
//!
//! ## Deterministic schedules
//!
//! [`Builder::seed`] runs a program on one worker with every scheduling choice drawn from a
//! generator seeded with the seed: at every switch, which goroutine runs next, drawn among
//! every runnable one (unstarted ones included); [`select!`]'s pick among ready cases; the
//! coop budget after each refill. Different seeds give different interleavings, and one
//! seed replays the same interleaving, and so the same output, run after run.
//!
//! ```
//! use std::sync::{Arc, Mutex};
//!
//! let trace = |seed| {
//!     let log = Arc::new(Mutex::new(Vec::new()));
//!     let l = log.clone();
//!     gorun::Builder::new().seed(seed).run(move || {
//!         let hs: Vec<_> = (0..3)
//!             .map(|id| {
//!                 let l = l.clone();
//!                 gorun::go(move || {
//!                     for step in 0..2 {
//!                         l.lock().unwrap().push((id, step));
//!                         gorun::yield_now();
//!                     }
//!                 })
//!             })
//!             .collect();
//!         hs.into_iter().for_each(|h| h.join().unwrap());
//!     });
//!     Arc::try_unwrap(log).unwrap().into_inner().unwrap()
//! };
//! assert_eq!(trace(1), trace(1));
//! ```
//!
//! [`check`] runs a test body under many seeds, making every gorun operation (channel
//! operations, `select!`, lock and unlock, `WaitGroup`, `Cond`, `Semaphore`, spawn, join) a
//! point where the
//! scheduler may switch, so races that need an unlucky interleaving show up in a few
//! dozen runs. A failure prints its seed:
//!
//! ```text
//! gorun::check: run 12 of 100 failed with seed 11
//! gorun: this run was scheduled with seed 11; replay it with GORUN_SEED=11 cargo test racy_test -- --exact
//! ```
//!
//! The `GORUN_SEED` environment variable sets the seed of every runtime the process
//! starts, overriding [`Builder::seed`] and seeding runtimes built without one; under
//! [`check`] it runs only that seed. So the printed command replays the failing schedule
//! exactly, without touching the code. A fatal report of a seeded runtime (a deadlock
//! under [`run`], a detached goroutine's panic) ends with the same replay line.
//!
//! What a seed makes deterministic is everything the goroutines of the runtime do to each
//! other: spawns, channels, `select!`, the `sync` types, joins, yields, goroutine ids.
//! [`blocking`] runs its closure inline on the worker under a seed, so the pool's timing
//! cannot enter the schedule (a closure that waits for a goroutine therefore never
//! returns). What stays nondeterministic is what comes from outside the runtime, at
//! whatever moment it comes: timers on the real clock (when a sleeper wakes relative to
//! running goroutines), sockets and the netpoller, plain threads sending on channels or
//! starting goroutines through a [`Handle`], and of course the program's own sources of
//! randomness (`HashMap`'s hasher, the time of day). Goroutine dumps, stuck warnings and
//! copy-on-park, which the monitor thread drives by the clock, change nothing in the
//! schedule.
//!
//! ## Memory: copy-on-park
//!
//! Each goroutine has a 256 KiB stack slot (more with [`GoBuilder::stack_size`]), but only
//! touched pages cost memory, and a parked
//! goroutine's live stack is usually under a kilobyte. When more parked stacks are
//! resident than [`Builder::resident_stack_budget`] allows, or one has been parked longer
//! than [`Builder::evict_after`], its live bytes are packed into a heap buffer and its
//! pages released; they are copied back to the same addresses before it runs again (Linux
//! only: on macOS parked stacks stay resident, see the README's platform table). Hot
//! goroutines never pay for this.
//!
//! No program can tell. Other threads may hold pointers into a parked goroutine's stack
//! (`std::thread::scope` lends a local to a thread while the goroutine waits on a channel),
//! and any access to an evicted stack, from any thread, faults into gorun's handler, which
//! restores the stack in place and lets the access go on; the copy is taken write-protected,
//! so no write is lost. One thing differs: a system call that another thread makes with a
//! buffer on an evicted stack fails with `EFAULT` (the kernel raises no fault to handle), so
//! code that lends a stack buffer to the kernel or foreign code across a park holds
//! [`pin_stack`], which keeps the stack resident. Where gorun cannot restore stacks safely
//! (no writable `/proc/self/mem`), copy-on-park is off, with a one-line notice.
//! `GORUN_STACK_GUARDS=mprotect` makes gorun guard stacks as on kernels older than 6.13
//! (without `MADV_GUARD_INSTALL`).
//!
//! ## Async code
//!
//! [`block_on`] runs a future inside a goroutine, parking the goroutine (not its thread)
//! while the future is pending; the other way, a [`JoinHandle`] is a `Future`, and
//! [`Sender::send_async`] and [`Receiver::recv_async`] are futures any executor can run,
//! mixing freely with blocking ends of the same channel. Optional features (off by
//! default): `tokio` runs `block_on`'s polls inside a Tokio runtime kept for its drivers
//! (so Tokio timers and sockets, and libraries on them, work in goroutines) and gives
//! gorun's sockets Tokio's `AsyncRead`/`AsyncWrite`, driven by gorun's netpoller (hyper
//! serves on them); `futures-io` gives them the `futures` traits and makes [`Receiver`] a
//! `Stream`.
//!
//! ```
//! gorun::run(|| {
//!     let (tx, rx) = gorun::chan::<u32>(0);
//!     let h = gorun::go(move || rx.recv().unwrap() * 2);
//!     let doubled = gorun::block_on(async move {
//!         tx.send_async(21).await.unwrap();
//!         h.await.unwrap()
//!     });
//!     assert_eq!(doubled, 42);
//! });
//! ```
//!
//! ## Locks from `std`
//!
//! A blocking gorun call may switch to another goroutine on the same thread, and so may
//! [`go`] (it lets the goroutines it started run every 32 spawns in a row). Holding a
//! `std::sync::Mutex` guard across such a call can deadlock the worker thread if the next
//! goroutine wants the same lock: use [`sync::Mutex`], which parks instead.
//!
//! ## Channels
//!
//! [`chan`] makes Go's `chan T`: `chan::<T>(0)` is unbuffered (a send completes only when a
//! receiver takes the value), `chan::<T>(n)` buffers `n` values. Both ends clone; dropping
//! the last [`Sender`] (or calling [`Sender::close`]) closes the channel, and receivers drain
//! what is buffered and then get `Err`, so `for v in &rx` is Go's `for v := range ch`.
//! [`select!`] waits on several operations at once, with crossbeam-channel's syntax
//! ([`select_biased!`] prefers earlier cases); [`after`],
//! [`tick`] and [`never()`] make timer channels and a never-ready one (Go's nil channel). They
//! work between goroutines and plain OS threads alike.
//!
//! ```
//! use std::time::Duration;
//!
//! gorun::run(|| {
//!     let (jobs_tx, jobs) = gorun::chan::<u32>(10);
//!     let (results_tx, results) = gorun::chan::<u32>(10);
//!     for _ in 0..3 {
//!         let (jobs, results_tx) = (jobs.clone(), results_tx.clone());
//!         gorun::go(move || {
//!             for j in &jobs {
//!                 results_tx.send(j * 2).unwrap();
//!             }
//!         });
//!     }
//!     drop(results_tx);
//!     for j in 1..=5 {
//!         jobs_tx.send(j).unwrap();
//!     }
//!     jobs_tx.close();
//!
//!     let timeout = gorun::after(Duration::from_secs(10));
//!     let mut sum = 0;
//!     loop {
//!         gorun::select! {
//!             recv(results) -> r => match r {
//!                 Ok(v) => sum += v,
//!                 Err(_) => break, // every worker is done
//!             },
//!             recv(timeout) -> _ => panic!("too slow"),
//!         }
//!     }
//!     assert_eq!(sum, 30);
//! });
//! ```

#![warn(missing_debug_implementations)]

mod blocking;
mod bridge;
mod chan;
mod check;
mod context;
mod diag;
mod errgroup;
mod goroutine;
pub mod io;
mod local;
pub mod net;
mod park;
mod runtime;
mod scope;
mod shim;
mod stack;
pub mod sync;
pub mod synctest;
mod sys;
pub mod time;
#[cfg(feature = "tokio")]
mod tokio_rt;
mod trace;
mod waker;

pub use blocking::blocking;
pub use bridge::block_on;
pub use chan::{
    chan, never, IntoIter, Iter, Receiver, RecvError, RecvFuture, RecvTimeoutError, Select,
    SelectTimeoutError, SelectedOperation, SendError, SendFuture, SendTimeoutError, Sender,
    TryIter, TryRecvError, TrySelectError, TrySendError,
};
pub use check::check;
pub use context::{Cancel, Context, ContextError};
pub use diag::{dump, metrics, Metrics};
pub use errgroup::{BoxError, ErrGroup};
pub use goroutine::JoinHandle;
pub use gorun_macros::{main, test};
pub use local::LocalKey;
pub use runtime::builder::{run, Builder};
pub use runtime::handle::Handle;
pub use runtime::spawn::{
    current_id, go, num_goroutine, pin_stack, yield_now, GoBuilder, StackPin,
};
pub use runtime::Deadlock;
pub use scope::{scope, Scope, ScopedJoinHandle};
pub use time::{after, at, sleep, tick, Ticker, Timer};
#[cfg(feature = "tokio")]
pub use tokio_rt::handle as tokio_handle;

#[doc(hidden)]
pub mod __private {
    pub use crate::chan::{select_cases, select_forever, Case, RecvCase, SendCase};
}
