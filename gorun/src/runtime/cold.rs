//! The copy-on-park policy of one worker: which parked goroutines' stacks to evict, and
//! when. The mechanism (claiming a slot, write-protecting it, copying it out, releasing its
//! pages) is `stack::evict`; this file only decides.
//!
//! Ownership: a `ColdList` is a field of its `Worker`, reached only through it, so only the
//! worker's own thread touches it (its `RefCell`s make it `!Sync`: the compiler keeps it
//! there). Every goroutine it holds is homed on that worker (it parked there).
//!
//! Policy: every goroutine that parks becomes a candidate (oldest first). Stacks are
//! evicted when a worker holds more resident parked stacks than its share of
//! `Builder::resident_stack_budget` (in batches, sparing those parked since the last tick
//! and sleepers, which wake by themselves), and when a candidate has stayed parked longer
//! than `Builder::evict_after` (checked every fairness tick and when the worker sleeps).

use std::cell::RefCell;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use super::worker::WorkerStats;
use super::Shared;
use crate::goroutine::{AtHome, WaitReason, G};
use crate::stack::evict;
use crate::stack::pack::References;

/// Over the resident budget, a busy worker still leaves goroutines parked for less than
/// this alone (on the runtime's coarse clock, which ticks every 10 ms: in effect, those
/// parked since the last tick): most wake again soon (a parent waiting for its children),
/// and evicting them costs more than their pages. An idle worker evicts down to the
/// budget whatever the age.
const BUDGET_MIN_AGE: u64 = 1_000_000;
/// Stacks evicted together once a worker is over its resident budget.
const EVICT_BATCH: usize = 64;
/// The copy-on-park candidates of one worker, and the buffers eviction reuses.
#[derive(Default)]
pub(super) struct ColdList {
    /// Parked goroutines whose stacks are still resident, oldest first.
    cold: RefCell<VecDeque<Arc<G>>>,
    /// Recently evicted stacks that later ones are packed against.
    references: RefCell<References>,
    /// The words of the stack being evicted, copied out before packing.
    scratch: RefCell<Vec<u64>>,
}

impl ColdList {
    /// A goroutine just parked: remember it as a candidate for copy-on-park, and evict the
    /// oldest candidates (in a batch) while more stacks are resident than the budget allows.
    pub(super) fn note_parked(&self, shared: &Shared, stats: &WorkerStats, g: Arc<G>) {
        let Some(budget) = shared.evict_budget else {
            return;
        };
        // SAFETY: a goroutine parks on its home worker, whose thread runs this.
        if !unsafe { AtHome::of(&g) }.replace_cold_queued(true) {
            self.cold.borrow_mut().push_back(g);
        }
        let over = self.cold.borrow().len().saturating_sub(budget);
        if over > 0 {
            self.evict_batch(shared, stats, over.max(EVICT_BATCH), BUDGET_MIN_AGE, false);
        }
    }

    /// Evicts candidates that have stayed parked past the threshold (at most `max`), and,
    /// when nothing is queued here, those over the budget however young. Returns whether
    /// candidates remain.
    pub(super) fn evict_old(
        &self,
        shared: &Shared,
        stats: &WorkerStats,
        max: usize,
        idle: bool,
    ) -> bool {
        let (Some(after), Some(budget)) = (shared.config.evict_after, shared.evict_budget) else {
            return false; // age-based eviction off, or copy-on-park off altogether
        };
        let over = self.cold.borrow().len().saturating_sub(budget);
        if over > 0 && idle {
            self.evict_batch(shared, stats, over, 0, false);
        }
        self.evict_batch(shared, stats, max, after.as_nanos() as u64, true);
        !self.cold.borrow().is_empty()
    }

    /// Evicts up to `max` of the oldest candidates parked for at least `min_age` ns on the
    /// runtime clock (sleepers only if `sleepers`): claims their slots, write-protects them,
    /// copies them out and releases their pages, neighbours together (`stack::evict`).
    fn evict_batch(
        &self,
        shared: &Shared,
        stats: &WorkerStats,
        max: usize,
        min_age: u64,
        sleepers: bool,
    ) {
        let now = shared.coarse_clock();
        let mut gs = Vec::new();
        for _ in 0..max {
            let head = self.cold.borrow().front().cloned();
            let Some(g) = head else { break };
            if g.is_parked() && now.saturating_sub(g.parked_at()) < min_age {
                break; // the oldest candidate is still warm
            }
            self.cold.borrow_mut().pop_front();
            // SAFETY: the list holds goroutines homed on this worker, on its thread.
            unsafe { AtHome::of(&g) }.replace_cold_queued(false);
            if !sleepers && g.wait_reason() == WaitReason::Sleep {
                // Over budget, but a sleeper has a timer: it wakes by itself, usually soon,
                // and moving it out and back would cost more than it saves. Only age evicts
                // it.
                continue;
            }
            gs.push(g);
        }
        // SAFETY (claims): home thread; none of `gs` is running (this thread is in the
        // scheduler), and none runs before the batch is done.
        let mut batch: Vec<_> = (gs.iter().enumerate())
            .filter_map(|(i, g)| unsafe { AtHome::of(g).begin_evict(i) })
            .collect();
        if batch.is_empty() {
            return;
        }
        batch.sort_unstable_by_key(|e| e.limit);
        let guard = shared.stacks.guard_size();
        // SAFETY: every slot of `batch` was claimed above by its suspended goroutine's home.
        unsafe { evict::protect(&mut batch, guard) };
        let mut bytes = 0u64;
        let (mut refs, mut scratch) = (self.references.borrow_mut(), self.scratch.borrow_mut());
        for e in batch.iter().filter(|e| e.ok) {
            // SAFETY: `e` is the claimed, write-protected slot of `gs[e.owner]`.
            bytes += unsafe { AtHome::of(&gs[e.owner]).save(e, &mut refs, &mut scratch) } as u64;
        }
        // SAFETY: as for `protect`; each `ok` slot's record was just published by `save`.
        unsafe { evict::release(&mut batch, guard) };
        let evicted = batch.iter().filter(|e| e.ok).count() as u64;
        let add = |c: &AtomicU64, n: u64| c.store(c.load(Ordering::Relaxed) + n, Ordering::Relaxed);
        add(&stats.evictions, evicted);
        add(&stats.evicted_bytes, bytes);
    }

    /// Forgets every candidate (shutdown).
    pub(super) fn clear(&self) {
        self.cold.borrow_mut().clear();
    }
}
