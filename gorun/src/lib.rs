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
