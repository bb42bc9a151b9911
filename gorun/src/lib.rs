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
//!   goroutines still running are abandoned and unwound, as in Go.
//! - A goroutine never changes OS thread once started, so `!Send` values such as `Rc` may
//!   live on its stack across blocking calls, and thread-locals behave.
//! - Blocking system calls belong in [`blocking`]; a long CPU loop should call
//!   [`yield_now`] now and then: scheduling is cooperative.
//! - A panic in a goroutine is returned by [`JoinHandle::join`]; if the handle was dropped,
//!   the program stops with Go's `panic:` report and exit code 2. A stack overflow prints
//!   `fatal error: stack overflow` with the goroutine's id and creation site.
//!
//! Network I/O goes through [`net`]: sockets with std's API whose blocking calls park
//! the goroutine until the netpoller sees the socket ready.
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
//! sleeping or waiting on a timer, waiting for I/O, inside [`blocking`]. Plain OS threads
//! are outside the runtime, so gorun looks at them too: while some thread that gorun does not
//! own is running, sleeping or in any system call, it might still send on a channel, and no
//! deadlock is reported; only when every such thread is itself blocked on a lock, condition
//! variable or std channel (a futex) is the program stuck. This reads `/proc/self/task`
//! (Linux); a thread blocked with a timeout (`recv_timeout`) counts as blocked, and two
//! runtimes talking through one channel are not seen as waking each other.
//!
//! Beyond Go: goroutines waiting for each other's locks (A holds `m1` and waits for `m2`,
//! B holds `m2` and waits for `m1`) are reported as a lock cycle even while the rest of the
//! program runs; [`dump`] prints every goroutine at any time (with `GORUN_TRACEBACK=all`,
//! with a backtrace captured at each park); the monitor warns about a goroutine that runs
//! over 100 ms without yielding while others wait behind it; [`Builder::leak_check`]
//! reports goroutines left running when main returns; [`metrics`] counts spawns, switches,
//! parks, steals and evictions.
//!
//! ## Memory: copy-on-park
//!
//! Each goroutine has a 64 KiB stack slot, but only touched pages cost memory, and a parked
//! goroutine's live stack is usually under a kilobyte. When more parked stacks are
//! resident than [`Builder::resident_stack_budget`] allows, or one has been parked longer
//! than [`Builder::evict_after`], its live bytes are packed into a heap buffer and its
//! pages released; they are copied back to the same addresses before it runs again. Hot
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
//! [`select!`] waits on several operations at once, with crossbeam-channel's syntax; [`after`],
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

mod blocking;
mod chan;
mod diag;
mod goroutine;
pub mod net;
mod park;
mod runtime;
mod shim;
mod stack;
pub mod sync;
mod time;

pub use blocking::blocking;
pub use chan::{
    chan, never, IntoIter, Iter, Receiver, RecvError, RecvTimeoutError, Select, SelectTimeoutError,
    SelectedOperation, SendError, SendTimeoutError, Sender, TryIter, TryRecvError, TrySelectError,
    TrySendError,
};
pub use diag::{dump, metrics, Deadlock, Metrics};
pub use goroutine::JoinHandle;
pub use gorun_macros::{main, test};
pub use runtime::{
    current_id, go, num_goroutine, pin_stack, run, yield_now, Builder, GoBuilder, StackPin,
};
pub use time::{after, sleep, tick};

#[doc(hidden)]
pub mod __private {
    pub use crate::chan::{select_cases, select_forever, Case, RecvCase, SendCase};
}
