//! Linux: thread ids from `gettid`, thread states from `/proc/self/task`, guard markers
//! where the kernel has them (and really applies them), the `vm.max_map_count` limit.
//!
//! Under user-mode emulation (qemu-user running an aarch64 build on an x86_64 host) the
//! guest's threads are host threads, so `/proc/self/task/*/syscall` shows the *host's*
//! system call numbers, and qemu accepts `madvise` advice it does not implement (it returns
//! success for `MADV_GUARD_INSTALL` and installs nothing). Both are measured here rather
//! than assumed: [`futex_syscall_nr`] notices foreign numbering and then reads the number
//! off a thread known to be in a futex wait, and [`guard_markers`] checks that a guarded
//! page really faults.

use std::collections::HashSet;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

/// A kernel thread id.
pub(crate) type Tid = i32;

/// Copy-on-park releases evicted stacks with `MADV_DONTNEED` (or guards them in the same
/// call where guard markers exist), so it is available on Linux.
pub(crate) const COPY_ON_PARK: bool = true;

/// The extra readiness a TCP stream is registered for so that the netpoller hears of
/// urgent data (`EPOLLPRI`): see `net::poller::Io::read_stream`.
pub(crate) fn urgent_interest() -> Option<mio::Interest> {
    Some(mio::Interest::PRIORITY)
}

/// The calling thread's kernel id.
pub(crate) fn thread_id() -> Tid {
    // SAFETY: gettid has no preconditions.
    unsafe { libc::gettid() }
}

/// Whether `madvise(MADV_GUARD_INSTALL)` works here (Linux 6.13+) and really guards: the
/// guard is installed on a scratch page, then the kernel is asked to read that page
/// (`write` from it to a pipe), which must fail with `EFAULT`. An emulator that accepts
/// the advice without applying it is caught by the second step.
pub(crate) fn guard_markers(page: usize) -> bool {
    // SAFETY: a fresh private anonymous mapping and a fresh pipe, both released before
    // returning; the kernel only reads the guarded page (and must refuse to).
    unsafe {
        let p = libc::mmap(
            std::ptr::null_mut(),
            2 * page,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
            -1,
            0,
        );
        if p == libc::MAP_FAILED {
            return false;
        }
        let mut ok = libc::madvise(p, page, super::MADV_GUARD_INSTALL) == 0;
        let mut fds = [0; 2];
        if ok && libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) == 0 {
            let n = libc::write(fds[1], p, 1);
            ok = n < 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::EFAULT);
            libc::close(fds[0]);
            libc::close(fds[1]);
        } else {
            ok = false;
        }
        libc::munmap(p, 2 * page);
        ok
    }
}

/// Keeps transparent huge pages out of `[base, base + len)`: a stack slot touches a few
/// pages at its top, and a huge page would make each cost 2 MiB.
pub(crate) fn no_huge_pages(base: *mut libc::c_void, len: usize) {
    // SAFETY: advisory only: MADV_NOHUGEPAGE changes neither the contents nor the protection
    // of the range, and fails harmlessly on a range that is not mapped.
    unsafe { libc::madvise(base, len, libc::MADV_NOHUGEPAGE) };
}

/// `vm.max_map_count` and how many mappings the process has now, or `None` where there is
/// no such limit. Unreadable values fall back to the kernel's default limit and zero.
pub(crate) fn map_count() -> Option<(usize, usize)> {
    let max = std::fs::read_to_string("/proc/sys/vm/max_map_count")
        .ok()
        .and_then(|s| s.trim().parse::<usize>().ok())
        .unwrap_or(65530);
    let used = std::fs::read_to_string("/proc/self/maps")
        .map(|s| s.lines().count())
        .unwrap_or(0);
    Some((max, used))
}

/// The threads of this process that are not in `owned` (nor the futex probe), or `None`
/// if they cannot be listed.
pub(crate) fn foreign_threads(owned: &HashSet<Tid>) -> Option<Vec<Tid>> {
    let probe = PROBE_TID.load(Ordering::Relaxed);
    let dir = std::fs::read_dir("/proc/self/task").ok()?;
    Some(
        dir.flatten()
            .filter_map(|e| e.file_name().to_str().and_then(|s| s.parse::<Tid>().ok()))
            .filter(|tid| !owned.contains(tid) && *tid != probe)
            .collect(),
    )
}

/// The contents of `/proc/self/task/<tid>/<name>` (`stat`, `syscall`), or `None` if the
/// thread is gone or the file unreadable.
pub(crate) fn task_file(tid: Tid, name: &str) -> Option<String> {
    std::fs::read_to_string(format!("/proc/self/task/{tid}/{name}")).ok()
}

/// The helper thread parked for good by [`futex_syscall_nr`] under emulation (0: none).
static PROBE_TID: AtomicI32 = AtomicI32::new(0);

/// The number that `/proc/self/task/<tid>/syscall` shows for a thread asleep in a futex
/// wait: `SYS_futex` on a native kernel; under user-mode emulation the host's, measured on
/// a helper thread (`gorun-futex-probe`) that parks and never wakes. Until that measurement
/// succeeds the answer is `SYS_futex`, which under emulation matches no waiting thread, so
/// the detector stays silent rather than wrong.
pub(crate) fn futex_syscall_nr() -> i64 {
    static NR: OnceLock<i64> = OnceLock::new();
    if let Some(&nr) = NR.get() {
        return nr;
    }
    let nr = if native_syscall_numbers() {
        Some(libc::SYS_futex)
    } else {
        measure_futex_nr()
    };
    nr.map_or(libc::SYS_futex, |nr| *NR.get_or_init(|| nr))
}

/// Whether the kernel reports this program's own system call numbers: reading one's own
/// `syscall` file shows the `read` in progress, under the number the kernel knows it by.
fn native_syscall_numbers() -> bool {
    let Some(s) = task_file(thread_id(), "syscall") else {
        return true; // no such file: nothing will be compared with the numbers anyway
    };
    s.split_whitespace()
        .next()
        .and_then(|n| n.parse::<i64>().ok())
        == Some(libc::SYS_read)
}

/// Starts the probe thread (once) and reads its system call number: two equal readings in
/// a row within about 50 ms (the file reads `running` until the thread is inside its
/// wait, and two readings rule out catching it in a passing call), else `None`.
fn measure_futex_nr() -> Option<i64> {
    static SPAWN: std::sync::Once = std::sync::Once::new();
    SPAWN.call_once(|| {
        let spawned = std::thread::Builder::new()
            .name("gorun-futex-probe".into())
            .spawn(|| {
                PROBE_TID.store(thread_id(), Ordering::Relaxed);
                // `thread::park` is one futex wait on Linux; nothing unparks this thread.
                loop {
                    std::thread::park();
                }
            });
        drop(spawned);
    });
    let mut last = None;
    for _ in 0..50 {
        let tid = PROBE_TID.load(Ordering::Relaxed);
        let now = (tid != 0)
            .then(|| task_file(tid, "syscall"))
            .flatten()
            .and_then(|s| s.split_whitespace().next()?.parse::<i64>().ok());
        if now.is_some() && now == last {
            return now;
        }
        last = now;
        std::thread::sleep(Duration::from_millis(1));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_thread_is_listed_until_owned() {
        let me = thread_id();
        assert!(foreign_threads(&HashSet::new()).unwrap().contains(&me));
        assert!(!foreign_threads(&HashSet::from([me])).unwrap().contains(&me));
    }

    /// Natively and under emulation alike, the measured number is what a thread parked in
    /// a futex wait shows.
    #[test]
    fn futex_number_matches_a_parked_thread() {
        let (tx, rx) = std::sync::mpsc::channel();
        let t = std::thread::spawn(move || {
            tx.send(thread_id()).unwrap();
            std::thread::park();
        });
        let tid = rx.recv().unwrap();
        let shown = || {
            let s = task_file(tid, "syscall")?;
            s.split_whitespace().next()?.parse::<i64>().ok()
        };
        let mut seen = None;
        for _ in 0..2000 {
            seen = shown();
            if seen == Some(futex_syscall_nr()) {
                break;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(seen, Some(futex_syscall_nr()));
        t.thread().unpark();
        t.join().unwrap();
    }
}
