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
//! Limits: the thread check reads `/proc/self/task` (Linux); goroutines of two runtimes
//! talking through one channel are not seen as waking each other.

use std::collections::HashSet;
use std::fmt;
use std::sync::{Mutex, OnceLock};

/// Returned by `Builder::try_run` when every goroutine is asleep (or some wait for each
/// other's locks); its `Display` is exactly what `run` prints before exiting with code 2.
#[derive(Clone)]
pub struct Deadlock {
    pub(crate) report: String,
}

impl Deadlock {
    /// The global deadlock report: Go's message, then the dump.
    pub(crate) fn new(dump: &str) -> Deadlock {
        Deadlock::with_header("fatal error: all goroutines are asleep - deadlock!", dump)
    }

    /// Another fatal wait (a lock cycle): its first line, then the details.
    pub(crate) fn with_header(header: &str, body: &str) -> Deadlock {
        Deadlock {
            report: format!("{header}\n\n{body}"),
        }
    }
}

impl fmt::Display for Deadlock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.report)
    }
}

impl fmt::Debug for Deadlock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.report)
    }
}

impl std::error::Error for Deadlock {}

fn owned_tids() -> &'static Mutex<HashSet<i32>> {
    static OWNED: OnceLock<Mutex<HashSet<i32>>> = OnceLock::new();
    OWNED.get_or_init(|| Mutex::new(HashSet::new()))
}

/// Marks the current thread as gorun's own (a worker, timer or blocking-pool thread) while
/// the guard lives.
pub(crate) struct OwnedThread {
    tid: i32,
}

impl OwnedThread {
    pub(crate) fn register() -> OwnedThread {
        // SAFETY: gettid has no preconditions.
        let tid = unsafe { libc::gettid() };
        owned_tids().lock().unwrap().insert(tid);
        OwnedThread { tid }
    }
}

impl Drop for OwnedThread {
    fn drop(&mut self) {
        owned_tids().lock().unwrap().remove(&self.tid);
    }
}

/// Whether some thread outside gorun might still wake a goroutine (see module docs).
pub(crate) fn outside_thread_may_wake() -> bool {
    let Ok(dir) = std::fs::read_dir("/proc/self/task") else {
        return true; // cannot tell: never report falsely
    };
    let owned = owned_tids().lock().unwrap().clone();
    for entry in dir.flatten() {
        let Some(tid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<i32>().ok())
        else {
            continue;
        };
        if owned.contains(&tid) {
            continue;
        }
        if !blocked_on_futex(tid) {
            return true;
        }
    }
    false
}

/// Whether thread `tid` is asleep in a futex wait (or gone).
fn blocked_on_futex(tid: i32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/self/task/{tid}/stat")) else {
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
    let Ok(sys) = std::fs::read_to_string(format!("/proc/self/task/{tid}/syscall")) else {
        return false;
    };
    untimed_futex_wait(&sys)
}

/// Whether a `/proc/<pid>/task/<tid>/syscall` line shows a futex wait without a timeout
/// (the number, then the arguments in hex): `futex(uaddr, op, val, timeout, ..)` or
/// `futex_waitv(waiters, n, flags, timeout, clock)`. A timed wait ends by itself.
fn untimed_futex_wait(sys: &str) -> bool {
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
    if nr != libc::SYS_futex {
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
const FUTEX_CMD_MASK: u64 = 0x7f;
const FUTEX_WAIT: u64 = 0;
const FUTEX_LOCK_PI: u64 = 6;
const FUTEX_WAIT_BITSET: u64 = 9;
const FUTEX_WAIT_REQUEUE_PI: u64 = 11;
const FUTEX_LOCK_PI2: u64 = 13;

/// `futex_waitv` (Linux 5.16+; the same number on every architecture), not in every libc
/// release.
const FUTEX_WAITV: i64 = 449;

#[cfg(test)]
mod tests {
    use super::untimed_futex_wait;

    #[test]
    fn futex_lines() {
        // futex(addr, FUTEX_WAIT_BITSET|PRIVATE, val, NULL, ..): an untimed wait.
        assert!(untimed_futex_wait(
            "202 0x7f00 0x89 0x2 0x0 0x0 0xffffffff 0x7ffd 0x7f01"
        ));
        // The same with a timeout pointer: it ends by itself.
        assert!(!untimed_futex_wait(
            "202 0x7f00 0x89 0x2 0x7ffd1000 0x0 0xffffffff 0x7ffd 0x7f01"
        ));
        // FUTEX_WAIT|PRIVATE without a timeout (std's `thread::park`).
        assert!(untimed_futex_wait(
            "202 0x7f00 0x80 0x0 0x0 0x0 0x0 0x7ffd 0x7f01"
        ));
        // FUTEX_WAKE is not a wait.
        assert!(!untimed_futex_wait(
            "202 0x7f00 0x81 0x1 0x0 0x0 0x0 0x7ffd 0x7f01"
        ));
        // futex_waitv with and without a timeout.
        assert!(untimed_futex_wait(
            "449 0x7f00 0x2 0x0 0x0 0x1 0x0 0x7ffd 0x7f01"
        ));
        assert!(!untimed_futex_wait(
            "449 0x7f00 0x2 0x0 0x7ffd 0x1 0x0 0x7ffd 0x7f01"
        ));
        // Another system call, or a running thread.
        assert!(!untimed_futex_wait(
            "7 0x7f00 0x2 0x0 0x0 0x0 0x0 0x7ffd 0x7f01"
        ));
        assert!(!untimed_futex_wait("running"));
    }
}
