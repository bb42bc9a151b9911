//! `madvise` over many ranges at once.
//!
//! Each `madvise(2)` that drops pages (`MADV_DONTNEED`, guard markers) ends with a TLB
//! shoot-down: an interrupt to every other CPU running a thread of this process, waited
//! for. With two busy workers that is 15-20 µs per call on a virtual machine, more than the
//! work itself, and copy-on-park, eviction and stack trimming advise one or two ranges per
//! goroutine. Linux 6.15+ lets a process name itself in `process_madvise(2)`
//! (`PIDFD_SELF`) with any advice, and since 6.16 the kernel flushes the TLB once per such
//! call instead of once per range: a batch of 256 ranges costs about what one `madvise`
//! does.
//!
//! Invariant: [`advise_all`] has the effect of one `madvise` per range, in order, whichever
//! path it takes. The batched path is used only after a probe showed that it really drops a
//! page (an emulator or an older kernel that refuses or ignores it gets plain `madvise`
//! calls), and only with advice that can be repeated harmlessly, because a batch that stops
//! part-way is redone range by range. Worker threads only: not async-signal-safe.

#[cfg(target_os = "linux")]
use std::mem::MaybeUninit;
#[cfg(target_os = "linux")]
use std::sync::atomic::{AtomicU8, Ordering};

/// Ranges per `process_madvise` call (the kernel's limit is `UIO_MAXIOV`, 1024); the
/// `iovec`s live on the caller's stack.
const BATCH: usize = 256;
/// Bytes per call, at most: the kernel stops a call at about 2 GiB, and a batch cut short
/// would be redone range by range.
const BATCH_BYTES: usize = 1 << 30;

/// `madvise(advice)` on every `[from, to)` of `ranges` (empty ranges are skipped). Returns
/// whether every call succeeded.
///
/// # Safety
/// As for `madvise` on each range: the caller owns the pages, nobody else relies on them
/// now, and the advice must be one that may be applied twice (`MADV_DONTNEED`,
/// `MADV_GUARD_INSTALL`, `MADV_GUARD_REMOVE`): the contents it drops must be saved or dead.
pub(crate) unsafe fn advise_all(ranges: &[(usize, usize)], advice: libc::c_int) -> bool {
    let mut ok = true;
    let mut rest = ranges;
    while !rest.is_empty() {
        // At least one range per call, however big; then up to the count and byte limits.
        let mut bytes = 0;
        let n = (rest.iter().take(BATCH))
            .take_while(|r| {
                bytes += r.1.saturating_sub(r.0);
                bytes <= BATCH_BYTES
            })
            .count()
            .max(1);
        let (now, later) = rest.split_at(n);
        rest = later;
        // SAFETY: the caller's contract, range by range.
        if unsafe { !batched(now, advice) } {
            for &(from, to) in now.iter().filter(|r| r.0 < r.1) {
                // SAFETY: as above.
                ok &= unsafe { libc::madvise(from as *mut libc::c_void, to - from, advice) } == 0;
            }
        }
    }
    ok
}

/// One `process_madvise` over `ranges` (at most `BATCH`); false if it is unavailable or did
/// not cover every byte (the caller then advises range by range).
///
/// # Safety
/// As for [`advise_all`].
#[cfg(target_os = "linux")]
unsafe fn batched(ranges: &[(usize, usize)], advice: libc::c_int) -> bool {
    if !works() {
        return false;
    }
    let mut iov = [MaybeUninit::<libc::iovec>::uninit(); BATCH];
    let (mut n, mut total) = (0, 0usize);
    for &(from, to) in ranges.iter().filter(|r| r.0 < r.1) {
        iov[n].write(libc::iovec {
            iov_base: from as *mut libc::c_void,
            iov_len: to - from,
        });
        (n, total) = (n + 1, total + (to - from));
    }
    if n == 0 {
        return true;
    }
    // SAFETY: the first `n` iovecs were written; the advice and ranges are the caller's.
    let done = unsafe {
        libc::syscall(
            libc::SYS_process_madvise,
            PIDFD_SELF,
            iov.as_ptr(),
            n,
            advice,
            0,
        )
    };
    done == total as libc::c_long
}

/// No batched advice here: the caller advises range by range.
///
/// # Safety
/// None needed (nothing is advised); the signature matches Linux's.
#[cfg(not(target_os = "linux"))]
unsafe fn batched(_ranges: &[(usize, usize)], _advice: libc::c_int) -> bool {
    false
}

/// Linux's `PIDFD_SELF_THREAD_GROUP` (6.15+): "this process", in calls taking a pidfd.
#[cfg(target_os = "linux")]
const PIDFD_SELF: libc::c_int = -10001;

/// Whether batched advice works here, probed once: a page of a scratch mapping is written,
/// dropped through `process_madvise`, and must read back as zero.
#[cfg(target_os = "linux")]
fn works() -> bool {
    const UNKNOWN: u8 = 0;
    const YES: u8 = 1;
    const NO: u8 = 2;
    static STATE: AtomicU8 = AtomicU8::new(UNKNOWN);
    match STATE.load(Ordering::Relaxed) {
        UNKNOWN => {
            let yes = probe();
            STATE.store(if yes { YES } else { NO }, Ordering::Relaxed);
            yes
        }
        s => s == YES,
    }
}

#[cfg(target_os = "linux")]
fn probe() -> bool {
    let page = crate::stack::page_size();
    // SAFETY: a fresh private anonymous mapping, only this function touches it, unmapped
    // before returning.
    unsafe {
        let p = libc::mmap(
            std::ptr::null_mut(),
            page,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        );
        if p == libc::MAP_FAILED {
            return false;
        }
        let byte = p as *mut u8;
        byte.write_volatile(1);
        let iov = libc::iovec {
            iov_base: p,
            iov_len: page,
        };
        let done = libc::syscall(
            libc::SYS_process_madvise,
            PIDFD_SELF,
            &iov,
            1,
            libc::MADV_DONTNEED,
            0,
        );
        let ok = done == page as libc::c_long && byte.read_volatile() == 0;
        libc::munmap(p, page);
        ok
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Many ranges (more than one batch), some empty: every page is dropped, the pages
    /// between the ranges keep their bytes.
    #[test]
    fn drops_exactly_the_ranges() {
        let page = crate::stack::page_size();
        let pages = 2 * BATCH + 10;
        let mut mem = vec![0u8; (pages + 1) * page];
        let base = (mem.as_mut_ptr() as usize).next_multiple_of(page);
        // SAFETY: `base..base + pages * page` lies inside `mem`.
        let at = |i: usize| unsafe { &mut *((base + i * page) as *mut u8) };
        (0..pages).for_each(|i| *at(i) = 7);
        let ranges: Vec<_> = (0..pages)
            .step_by(2)
            .map(|i| (base + i * page, base + (i + 1) * page))
            .chain([(base, base)])
            .collect();
        // SAFETY: the ranges hold only the test's bytes, which it expects to be dropped.
        assert!(unsafe { advise_all(&ranges, libc::MADV_DONTNEED) });
        for i in 0..pages {
            assert_eq!(*at(i), if i % 2 == 0 { 0 } else { 7 }, "page {i}");
        }
    }
}
