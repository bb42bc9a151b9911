//! Global deadlock detection: Go's `checkdead`, for one gorun runtime.
//!
//! The monitor declares a deadlock when, on two consecutive ticks with no goroutine switch
//! in between:
//!
//! - every worker is asleep and every queue is empty;
//! - every goroutine is parked, and none waits on a timer (`sleep`, a timeout), on I/O or
//!   on a `blocking` call — those will wake by themselves;
//! - no timer is armed;
//! - nothing outside gorun can still wake a goroutine: every thread of the process that
//!   gorun does not own is blocked on a futex (a lock, condition variable, std channel,
//!   `thread::park`, `JoinHandle::join`) *without a timeout*, so it can only be woken by
//!   someone else. A thread that is running, sleeping (`thread::sleep`), in a timed wait
//!   (`recv_timeout`, `Condvar::wait_timeout`, `park_timeout`: a futex wait with a timeout
//!   argument) or in any other system call (I/O) may still send on a channel, so while one
//!   exists no deadlock is reported.
//!
//! Limits: the thread check reads `/proc/self/task` (Linux; under user-mode emulation the
//! futex number it shows is the host's, measured by `sys::futex_syscall_nr`); on macOS,
//! which does not tell what a thread is blocked in, any thread gorun does not own counts as
//! one that may wake a goroutine (see `sys`); goroutines of two runtimes talking through
//! one channel are not seen as waking each other.

use std::sync::atomic::Ordering;

use crate::goroutine::{WaitReason, G};
use crate::runtime::Shared;
use crate::sys;

/// Goroutine switches of every worker so far: a goroutine's wait changes only by running,
/// so an unchanged sum means nothing ran in between.
pub(crate) fn switches(s: &Shared) -> u64 {
    s.workers()
        .iter()
        .map(|w| w.stats.switches.load(Ordering::Relaxed))
        .sum()
}

/// Whether `g` is blocked on something only another goroutine or a timer of its runtime
/// can end (Go's "durably blocked"): not running or runnable, and not waiting for I/O, a
/// `blocking` call or a future, which the outside world ends.
pub(crate) fn durably_blocked(g: &G) -> bool {
    g.is_blocked()
        && !matches!(
            g.wait_reason(),
            WaitReason::IoWait | WaitReason::Blocking | WaitReason::Future
        )
}

/// Whether some thread outside gorun might still wake a goroutine (see module docs).
pub(crate) fn outside_thread_may_wake() -> bool {
    let owned = sys::owned_threads();
    match sys::foreign_threads(&owned) {
        None => true, // cannot tell: never report falsely
        #[cfg(target_os = "linux")]
        Some(tids) => tids.into_iter().any(|tid| !blocked_on_futex(tid)),
        // No per-thread states here: any foreign thread may wake a goroutine.
        #[cfg(not(target_os = "linux"))]
        Some(tids) => !tids.is_empty(),
    }
}

/// Whether thread `tid` is asleep in a futex wait (or gone).
#[cfg(target_os = "linux")]
fn blocked_on_futex(tid: sys::Tid) -> bool {
    let Some(stat) = sys::task_file(tid, "stat") else {
        return true; // exited meanwhile
    };
    // The state follows the command name, which is in parentheses and may contain spaces.
    let state = stat
        .rsplit_once(')')
        .and_then(|(_, rest)| rest.trim_start().chars().next());
    match state {
        Some('Z') | Some('X') => return true,
        Some('S') | Some('D') => {}
        _ => return false, // running, stopped, or unknown
    }
    let Some(sys) = sys::task_file(tid, "syscall") else {
        return false;
    };
    untimed_futex_wait(&sys, sys::futex_syscall_nr())
}

/// Whether a `/proc/<pid>/task/<tid>/syscall` line shows a futex wait without a timeout
/// (the number, then the arguments in hex): `futex(uaddr, op, val, timeout, ..)` or
/// `futex_waitv(waiters, n, flags, timeout, clock)`. A timed wait ends by itself.
#[cfg(target_os = "linux")]
fn untimed_futex_wait(sys: &str, futex_nr: i64) -> bool {
    let mut fields = sys.split_whitespace();
    let Some(nr) = fields.next().and_then(|n| n.parse::<i64>().ok()) else {
        return false;
    };
    let args: Vec<u64> = fields
        .take(6)
        .filter_map(|a| u64::from_str_radix(a.trim_start_matches("0x"), 16).ok())
        .collect();
    if args.len() < 4 {
        return false;
    }
    if nr == FUTEX_WAITV {
        return args[3] == 0;
    }
    if nr != futex_nr {
        return false;
    }
    // The waits whose fourth argument is a timeout; any other operation (a wake, a
    // requeue) is not a wait at all.
    match args[1] & FUTEX_CMD_MASK {
        FUTEX_WAIT | FUTEX_LOCK_PI | FUTEX_WAIT_BITSET | FUTEX_WAIT_REQUEUE_PI | FUTEX_LOCK_PI2 => {
            args[3] == 0
        }
        _ => false,
    }
}

// futex(2) operations (the command bits of `op`, without FUTEX_PRIVATE_FLAG and
// FUTEX_CLOCK_REALTIME).
#[cfg(target_os = "linux")]
const FUTEX_CMD_MASK: u64 = 0x7f;
#[cfg(target_os = "linux")]
const FUTEX_WAIT: u64 = 0;
#[cfg(target_os = "linux")]
const FUTEX_LOCK_PI: u64 = 6;
#[cfg(target_os = "linux")]
const FUTEX_WAIT_BITSET: u64 = 9;
#[cfg(target_os = "linux")]
const FUTEX_WAIT_REQUEUE_PI: u64 = 11;
#[cfg(target_os = "linux")]
const FUTEX_LOCK_PI2: u64 = 13;

/// `futex_waitv` (Linux 5.16+; the same number on every architecture), not in every libc
/// release.
#[cfg(target_os = "linux")]
const FUTEX_WAITV: i64 = 449;

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::untimed_futex_wait as wait;

    /// A `syscall` line for this target's futex number: `args` are the six arguments.
    fn untimed_futex_wait(args: &str) -> bool {
        wait(
            &format!("{} {args} 0x7ffd 0x7f01", libc::SYS_futex),
            libc::SYS_futex,
        )
    }

    #[test]
    fn futex_lines() {
        // futex(addr, FUTEX_WAIT_BITSET|PRIVATE, val, NULL, ..): an untimed wait.
        assert!(untimed_futex_wait("0x7f00 0x89 0x2 0x0 0x0 0xffffffff"));
        // The same with a timeout pointer: it ends by itself.
        assert!(!untimed_futex_wait(
            "0x7f00 0x89 0x2 0x7ffd1000 0x0 0xffffffff"
        ));
        // FUTEX_WAIT|PRIVATE without a timeout (std's `thread::park`).
        assert!(untimed_futex_wait("0x7f00 0x80 0x0 0x0 0x0 0x0"));
        // FUTEX_WAKE is not a wait.
        assert!(!untimed_futex_wait("0x7f00 0x81 0x1 0x0 0x0 0x0"));
        // futex_waitv with and without a timeout.
        let futex = libc::SYS_futex;
        assert!(wait("449 0x7f00 0x2 0x0 0x0 0x1 0x0 0x7ffd 0x7f01", futex));
        assert!(!wait(
            "449 0x7f00 0x2 0x0 0x7ffd 0x1 0x0 0x7ffd 0x7f01",
            futex
        ));
        // Another system call, or a running thread.
        assert!(!wait("7 0x7f00 0x2 0x0 0x0 0x0 0x0 0x7ffd 0x7f01", futex));
        assert!(!wait("running", futex));
    }
}
