//! The platform layer: every operating-system call whose availability or meaning differs
//! between Linux and macOS, behind one interface, so the rest of the crate names no
//! `target_os`. Linux is the reference; macOS gets an equivalent or switches the feature
//! off, and says why here:
//!
//! | need                         | Linux                               | macOS                    |
//! |------------------------------|-------------------------------------|--------------------------|
//! | a thread's id                | `gettid`                            | `pthread_threadid_np`    |
//! | stack guards                 | `MADV_GUARD_INSTALL` (6.13+, probed), else `mprotect` | `mprotect` |
//! | no huge pages in stack slots | `MADV_NOHUGEPAGE`                   | nothing to do            |
//! | per-process mapping limit    | `vm.max_map_count`                  | none                     |
//! | copy-on-park                 | on                                  | off (see [`COPY_ON_PARK`]) |
//! | advice over many ranges      | `process_madvise(PIDFD_SELF)` (6.15+, probed), else `madvise` each | `madvise` each |
//! | threads gorun does not own   | `/proc/self/task`, state per thread | only how many there are  |
//!
//! Invariants: [`thread_id`] is unique among the live threads of the process and stable for
//! a thread's life; [`foreign_threads`] never leaves out a live thread that is not in the
//! given set (when it cannot list them it says so), so the deadlock detector built on it
//! can only err towards not reporting. Nothing here is called from a signal handler.

/// Linux's `MADV_GUARD_INSTALL` (6.13+); not yet in every libc release. Used only where
/// [`guard_markers`] said it works.
pub(crate) const MADV_GUARD_INSTALL: libc::c_int = 102;
/// Linux's `MADV_GUARD_REMOVE` (6.13+).
pub(crate) const MADV_GUARD_REMOVE: libc::c_int = 103;

use std::collections::HashSet;
use std::sync::{Mutex, OnceLock};

mod advise;
mod ticks;
pub(crate) use advise::advise_all;
pub(crate) use ticks::ticks;

#[cfg(target_os = "linux")]
mod linux;
#[cfg(target_os = "linux")]
pub(crate) use linux::*;

#[cfg(target_os = "macos")]
mod macos;
#[cfg(target_os = "macos")]
pub(crate) use macos::*;

#[cfg(not(any(target_os = "linux", target_os = "macos")))]
compile_error!(
    "gorun runs on Linux and macOS only; Windows and other systems are not supported yet"
);

/// The threads gorun owns (workers, the timer thread, blocking-pool threads, the netpoller),
/// for [`foreign_threads`]' callers.
fn owned_tids() -> &'static Mutex<HashSet<Tid>> {
    static OWNED: OnceLock<Mutex<HashSet<Tid>>> = OnceLock::new();
    OWNED.get_or_init(|| Mutex::new(HashSet::new()))
}

/// A snapshot of the threads gorun owns.
pub(crate) fn owned_threads() -> HashSet<Tid> {
    owned_tids().lock().unwrap().clone()
}

/// Marks the current thread as gorun's own (a worker, timer or blocking-pool thread) while
/// the guard lives.
pub(crate) struct OwnedThread {
    tid: Tid,
}

impl OwnedThread {
    pub(crate) fn register() -> OwnedThread {
        let tid = thread_id();
        owned_tids().lock().unwrap().insert(tid);
        OwnedThread { tid }
    }
}

impl Drop for OwnedThread {
    fn drop(&mut self) {
        owned_tids().lock().unwrap().remove(&self.tid);
    }
}
