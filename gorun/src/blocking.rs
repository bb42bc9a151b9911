//! The blocking pool: threads that run blocking closures for goroutines.
//!
//! A goroutine must not block its worker thread (it would stall every goroutine homed
//! there, and started goroutines cannot move away). `blocking(f)` hands `f` to a pool
//! thread and parks the goroutine until `f` returns. The pool is process-wide: threads are
//! started on demand when none is idle (up to `MAX_THREADS`, beyond which jobs queue) and
//! exit after `IDLE_TIMEOUT` without work.

use std::collections::VecDeque;
use std::panic::{self, AssertUnwindSafe, Location};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::Duration;

use crate::park::{self, WaitReason};
use crate::runtime::{seeded, worker};
use crate::runtime::{start, Shared};

const MAX_THREADS: usize = 512;
const IDLE_TIMEOUT: Duration = Duration::from_secs(10);

type Job = Box<dyn FnOnce() + Send>;

struct Pool {
    state: Mutex<PoolState>,
    cv: Condvar,
}

struct PoolState {
    jobs: VecDeque<Job>,
    threads: usize,
    idle: usize,
}

fn pool() -> &'static Pool {
    static POOL: OnceLock<Pool> = OnceLock::new();
    POOL.get_or_init(|| Pool {
        state: Mutex::new(PoolState {
            jobs: VecDeque::new(),
            threads: 0,
            idle: 0,
        }),
        cv: Condvar::new(),
    })
}

impl Pool {
    fn submit(&'static self, job: Job) {
        let mut st = self.state.lock().unwrap();
        st.jobs.push_back(job);
        if st.idle > 0 {
            drop(st);
            self.cv.notify_one();
        } else if st.threads < MAX_THREADS {
            st.threads += 1;
            drop(st);
            let spawned = std::thread::Builder::new()
                .name("gorun-blocking".into())
                .spawn(move || self.thread_loop());
            if spawned.is_err() {
                self.state.lock().unwrap().threads -= 1;
            }
        }
    }

    fn thread_loop(&self) {
        let _owned = crate::sys::OwnedThread::register();
        let mut st = self.state.lock().unwrap();
        loop {
            if let Some(job) = st.jobs.pop_front() {
                drop(st);
                job();
                st = self.state.lock().unwrap();
                continue;
            }
            st.idle += 1;
            let (guard, timeout) = self.cv.wait_timeout(st, IDLE_TIMEOUT).unwrap();
            st = guard;
            st.idle -= 1;
            if timeout.timed_out() && st.jobs.is_empty() {
                st.threads -= 1;
                return;
            }
        }
    }
}

struct ResultCell<T> {
    result: Option<std::thread::Result<T>>,
}

/// Runs a blocking closure (file I/O, a blocking library call, CPU-heavy work) on the
/// blocking pool and parks the calling goroutine until it returns, so the worker keeps
/// running other goroutines. On a plain thread, `f` simply runs there. A panic in `f` is
/// resumed in the caller. Inside `f`, [`go`](crate::go) and [`Handle::current`](crate::Handle::current) reach the
/// caller's runtime.
///
/// ```
/// gorun::run(|| {
///     let len = gorun::blocking(|| std::fs::read_to_string("Cargo.toml").map(|s| s.len()));
///     assert!(len.unwrap() > 0);
/// });
/// ```
#[track_caller]
pub fn blocking<F, T>(f: F) -> T
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let site = Location::caller();
    // Under a seed the pool's timing must not enter the schedule: `f` runs here.
    if worker::with_current_g(|g| g.is_none()) || seeded::active() {
        return f();
    }
    let slot = Arc::new(Mutex::new(ResultCell { result: None }));
    let done = slot.clone();
    let me = park::current();
    let runtime = start::current();
    let id = worker::current_id();
    pool().submit(Box::new(move || {
        let trace = runtime.as_deref().and_then(Shared::trace);
        trace.inspect(|t| t.blocking(id, true));
        // `go` and `Handle::current` in `f` reach the caller's runtime.
        let r = match &runtime {
            Some(s) => start::enter(s, || panic::catch_unwind(AssertUnwindSafe(f))),
            None => panic::catch_unwind(AssertUnwindSafe(f)),
        };
        trace.inspect(|t| t.blocking(id, false));
        done.lock().unwrap().result = Some(r);
        me.unpark();
    }));
    loop {
        if let Some(r) = slot.lock().unwrap().result.take() {
            return r.unwrap_or_else(|p| panic::resume_unwind(p));
        }
        park::park(WaitReason::Blocking, site);
    }
}
