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

mod blocking;
mod diag;
mod goroutine;
mod park;
mod runtime;
mod stack;
pub mod sync;
mod time;

pub use blocking::blocking;
pub use diag::{dump, metrics, Deadlock, Metrics};
pub use goroutine::JoinHandle;
pub use gorun_macros::{main, test};
pub use runtime::{current_id, go, num_goroutine, run, yield_now, Builder, GoBuilder};
pub use time::sleep;
