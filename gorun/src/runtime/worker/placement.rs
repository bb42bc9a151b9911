//! Where a new goroutine starts (issue 16).
//!
//! A started goroutine never moves to another worker (its stack holds pointers into itself
//! and thread-locals may be borrowed across a park), so the worker it starts on carries it
//! for its whole life. Stealing balances short-lived work, but a goroutine that lives long
//! and is woken often (one per connection, spawned by an acceptor) usually starts on its
//! spawner's worker before any thief looks: with a hundred connections, most of their
//! wake-ups then land on one worker while the other spins.
//!
//! So a spawn looks at the load: the goroutines started on a worker and not yet finished,
//! plus those queued there unstarted. When the spawner's worker is loaded
//! (`PLACE_MIN_LOAD`) and one other worker picked at random sleeps (it has nothing to run)
//! and carries clearly fewer (by more than an eighth of its load plus `PLACE_SLACK`), the
//! new goroutine is queued, unstarted, on that worker's remote queue, which wakes it; it
//! starts there. Otherwise it
//! goes to the spawner's `runnext`, as before: small groups of goroutines that talk to
//! each other (ping-pong, a select's producers) stay together, and spawn bursts of
//! short-lived goroutines keep the cheap local path.
//!
//! The figures are estimates read without locks (owner-written counters and a length
//! stored under the remote queue's lock); a stale reading only misplaces one goroutine.
//! The owner of each figure: `stats.started` and `stats.finished` are written by their
//! worker, `remote_hint` under the remote queue's lock.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::{bump, Worker, WorkerShared};
use crate::goroutine::G;

/// A worker with a smaller load keeps every goroutine its goroutines spawn.
const PLACE_MIN_LOAD: u64 = 64;
/// How much heavier than another worker (beyond an eighth of that one's load) the
/// spawner's worker must be before a spawn goes there.
const PLACE_SLACK: u64 = 8;

/// Goroutines started on `w` and not finished: running, runnable or parked there.
fn live(w: &WorkerShared) -> u64 {
    let started = w.stats.started.load(Ordering::Relaxed);
    started.saturating_sub(w.stats.finished.load(Ordering::Relaxed))
}

impl Worker {
    /// Queues a goroutine just spawned by the running goroutine: on this worker's
    /// `runnext`, or on a lighter worker (see the module docs).
    pub(crate) fn place_spawned(&self, g: Arc<G>) {
        match self.lighter_worker() {
            Some(other) => {
                bump(&self.me().stats.placed_away);
                self.shared.workers[other].push_remote_many(std::iter::once(g));
            }
            None => self.push_runnext(g),
        }
    }

    /// Another worker clearly less loaded than this one, if this one is loaded.
    fn lighter_worker(&self) -> Option<usize> {
        let n = self.shared.workers.len();
        if n < 2 {
            return None;
        }
        let mine = live(self.me()) + self.deque.len() as u64;
        if mine < PLACE_MIN_LOAD {
            return None;
        }
        let other = (self.index + 1 + self.rng.below(n - 1)) % n;
        let w = &self.shared.workers[other];
        // Only to a worker with nothing to do: when both are busy (a tree of goroutines
        // spawning children and joining them), moving a child away turns its join into a
        // cross-thread wake-up and costs more than the balance gains.
        if !w.is_sleeping() || w.exited.load(Ordering::Relaxed) || self.shared.is_shutdown() {
            return None;
        }
        let theirs =
            live(w) + w.stealable_len() as u64 + w.remote_hint.load(Ordering::Relaxed) as u64;
        (mine > theirs + theirs / 8 + PLACE_SLACK).then_some(other)
    }

    /// The running goroutine yielded (`yield_now`: it has more to compute, and this worker
    /// carries it to the end) while an unstarted goroutine waits in this worker's deque and
    /// another worker runs nothing: that worker starts it, so goroutines that compute and
    /// yield run side by side instead of taking turns here (Go puts a yielding goroutine on
    /// the global queue, where any idle P takes it). Without this, an idle worker leaves
    /// young work to its owner for `STEAL_DELAY`, by which time the owner has started it.
    /// One goroutine at most per yield.
    pub(crate) fn offer_unstarted(&self) {
        let n = self.shared.workers.len();
        if n < 2 || self.deque.is_empty() || self.shared.is_shutdown() {
            return;
        }
        let first = self.rng.below(n);
        let idle = (0..n).map(|i| (first + i) % n).find(|&i| {
            let w = &self.shared.workers[i];
            i != self.index
                && w.stats.running.load(Ordering::Relaxed) == 0
                && !w.has_stealable()
                && !w.has_remote()
                && !w.exited.load(Ordering::Relaxed)
        });
        if let (Some(other), Some(g)) = (idle, idle.and_then(|_| self.deque.pop())) {
            bump(&self.me().stats.placed_away);
            self.shared.workers[other].push_remote_many(std::iter::once(g));
        }
    }
}
