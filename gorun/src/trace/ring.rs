//! A fixed-capacity ring of trace events with one writer (its thread) and a reader that
//! may copy it at any time (the trace writer, at shutdown or from a fatal report while the
//! writer still runs).
//!
//! # Invariants
//!
//! - Only the owning thread writes: it stores an event's words into slot `head % capacity`
//!   (relaxed), then publishes it by storing `head + 1` (release). `head` counts every
//!   event ever written, so `head - capacity` (when positive) were overwritten: dropped.
//! - Every word is an atomic, so a reader racing the writer reads stale or torn events but
//!   never has a data race; [`Ring::snapshot`] re-reads `head` after copying and discards
//!   the slots the writer may have reused meanwhile.

use std::sync::atomic::{AtomicU64, Ordering};

/// One event: raw ticks, then `kind | a << 8 | b << 16`, then a goroutine id and an
/// argument (their meaning depends on the kind, see `super::Kind`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Event {
    pub(crate) ticks: u64,
    pub(crate) code: u64,
    pub(crate) g: u64,
    pub(crate) arg: u64,
}

const WORDS: usize = 4;

pub(crate) struct Ring {
    words: Box<[AtomicU64]>,
    mask: u64,
    head: AtomicU64,
    /// The track's thread id in the trace file, and its name.
    pub(crate) tid: u64,
    pub(crate) name: String,
}

impl Ring {
    /// A ring of `capacity` events (a power of two).
    pub(crate) fn new(capacity: usize, tid: u64, name: String) -> Ring {
        debug_assert!(capacity.is_power_of_two());
        Ring {
            words: (0..capacity * WORDS).map(|_| AtomicU64::new(0)).collect(),
            mask: capacity as u64 - 1,
            head: AtomicU64::new(0),
            tid,
            name,
        }
    }

    /// Appends an event, overwriting the oldest when full. Owning thread only.
    #[inline]
    pub(crate) fn push(&self, e: Event) {
        let h = self.head.load(Ordering::Relaxed);
        let i = ((h & self.mask) as usize) * WORDS;
        let w = &self.words[i..i + WORDS];
        w[0].store(e.ticks, Ordering::Relaxed);
        w[1].store(e.code, Ordering::Relaxed);
        w[2].store(e.g, Ordering::Relaxed);
        w[3].store(e.arg, Ordering::Relaxed);
        self.head.store(h + 1, Ordering::Release);
    }

    /// How many events were ever written (the owning thread's view).
    #[inline]
    pub(crate) fn written(&self) -> u64 {
        self.head.load(Ordering::Relaxed)
    }

    /// The events still held, oldest first, and how many were dropped: overwritten before
    /// this copy or while it was taken, counting the slot the writer writes next (a reader
    /// cannot tell whether it is being written).
    pub(crate) fn snapshot(&self) -> (Vec<Event>, u64) {
        let cap = self.mask + 1;
        let head = self.head.load(Ordering::Acquire);
        let first = head.saturating_sub(cap);
        let mut out: Vec<Event> = (first..head)
            .map(|n| {
                let i = ((n & self.mask) as usize) * WORDS;
                let w = &self.words[i..i + WORDS];
                Event {
                    ticks: w[0].load(Ordering::Relaxed),
                    code: w[1].load(Ordering::Relaxed),
                    g: w[2].load(Ordering::Relaxed),
                    arg: w[3].load(Ordering::Relaxed),
                }
            })
            .collect();
        // The writer reuses slot `n` while writing event `n + cap`, i.e. once head has
        // reached `n + cap`: events up to `now - cap` may be torn.
        let now = self.head.load(Ordering::Acquire);
        let valid_from = (now + 1).saturating_sub(cap).max(first);
        out.drain(..(valid_from - first) as usize);
        (out, valid_from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(n: u64) -> Event {
        Event {
            ticks: n,
            code: 1,
            g: n,
            arg: 0,
        }
    }

    #[test]
    fn keeps_the_newest_and_counts_the_dropped() {
        let r = Ring::new(4, 1, "t".into());
        for n in 0..3 {
            r.push(ev(n));
        }
        assert_eq!(r.snapshot(), ((0..3).map(ev).collect(), 0));
        for n in 3..10 {
            r.push(ev(n));
        }
        // 10 written into 4 slots: the oldest one still there is the slot the writer
        // would write next, so it counts as dropped too (a reader cannot tell whether the
        // writer is on it).
        let (evs, dropped) = r.snapshot();
        assert_eq!(dropped, 7);
        assert_eq!(evs, (7..10).map(ev).collect::<Vec<_>>());
    }
}
