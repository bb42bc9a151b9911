//! macOS: thread ids from `pthread_threadid_np`, `mprotect` guards, no mapping limit, no
//! copy-on-park, and a thread count instead of per-thread states.
//!
//! macOS has no guard markers, so every stack guard is an `mprotect(PROT_NONE)` page (an
//! access raises SIGBUS there, which the overflow handler catches along with SIGSEGV). The
//! kernel does not expose what a thread is blocked in (a lock or a `read`) without
//! debugging rights, so the deadlock detector's rule for plain threads is conservative
//! here: no report while any thread that gorun does not own exists.

use std::collections::HashSet;

/// A system-wide thread id.
pub(crate) type Tid = u64;

/// Copy-on-park is off on macOS: without guard markers an evicted stack cannot be guarded
/// without an `mprotect` per eviction (splitting the mapping each time), so a pointer into a
/// parked goroutine's stack that escaped would read stale memory silently instead of
/// faulting, and `MADV_DONTNEED` there does not reliably release the pages either. Parked
/// stacks stay resident (a page or more each).
pub(crate) const COPY_ON_PARK: bool = false;

/// kqueue gives no notice of urgent data, so short TCP reads are never trusted to have
/// drained the socket (`net::poller::Io::read_stream`).
pub(crate) fn urgent_interest() -> Option<mio::Interest> {
    None
}

/// The calling thread's system-wide id.
pub(crate) fn thread_id() -> Tid {
    let mut id = 0u64;
    // SAFETY: `pthread_self()` is the calling thread, and `id` is valid for the write.
    unsafe { libc::pthread_threadid_np(libc::pthread_self(), &mut id) };
    id
}

/// macOS has no guard markers: guards are `mprotect` pages.
pub(crate) fn guard_markers(_page: usize) -> bool {
    false
}

/// macOS has no transparent huge pages for anonymous memory: nothing to turn off.
pub(crate) fn no_huge_pages(_base: *mut libc::c_void, _len: usize) {}

/// No per-process mapping limit comparable to Linux's `vm.max_map_count`.
pub(crate) fn map_count() -> Option<(usize, usize)> {
    None
}

/// Threads of this process not in `owned`: an empty list when every thread is gorun's,
/// `None` otherwise (macOS does not tell what another thread is blocked in, so a foreign
/// thread is assumed able to wake a goroutine).
pub(crate) fn foreign_threads(owned: &HashSet<Tid>) -> Option<Vec<Tid>> {
    // SAFETY: `info` is a plain C struct of integers, valid when zeroed, and its size is
    // passed so the kernel writes within it.
    let (n, info) = unsafe {
        let mut info: libc::proc_taskinfo = std::mem::zeroed();
        let size = std::mem::size_of::<libc::proc_taskinfo>() as libc::c_int;
        let n = libc::proc_pidinfo(
            libc::getpid(),
            libc::PROC_PIDTASKINFO,
            0,
            (&raw mut info).cast(),
            size,
        );
        (n == size, info)
    };
    // Every owned thread is alive (it leaves the set before it exits), so the count equals
    // the set's size exactly when no other thread exists.
    (n && usize::try_from(info.pti_threadnum).ok()? <= owned.len()).then(Vec::new)
}
