//! Seeded scheduling: `Builder::seed`, `GORUN_SEED` and the forced switches of
//! `gorun::check` (see "Deterministic schedules" in the crate docs).
//!
//! # The policy
//!
//! A seeded runtime has one worker, whose generator (`rng::Rng`) is seeded with the seed.
//! At every switch the worker (`Worker::next_seeded`) gathers every goroutine runnable
//! here — `runnext`, `ready`, the deque's unstarted ones, the injector, `yielded`, the
//! remote wake-ups — into `ready`, in that order, and runs the one [`draw`] picks. Every
//! goroutine enters `ready` in an order fixed by the program and the earlier draws; a batch
//! of wake-ups from another thread is sorted by goroutine id first ([`order_batch`]), so
//! the order inside a batch (a timer thread's ties) does not matter either. The same
//! generator draws `select!`'s pick among ready cases (`rng::random`) and the coop budget
//! after each refill ([`budget`]); under `check` ([`Seeded::explore`]) every gorun
//! operation is also a switch point ([`point`]).
//!
//! With one worker, goroutine ids, wake-ups between goroutines and the order of every draw
//! are functions of the seed and the program alone. What still comes from outside: wake-ups
//! from other threads (timers on the real clock, the netpoller, `Handle::go`, plain threads
//! sending on channels) arrive whenever they arrive. `blocking` runs its closure inline
//! under a seed, so the blocking pool's timing never enters the schedule. The monitor's
//! actions (stuck warnings, copy-on-park) change no scheduling decision.
//!
//! # Cost when off
//!
//! The worker reads its `seeded` flag once per switch. Every other hook first reads
//! `LIVE`, the number of seeded runtimes alive in the process, which is 0 unless one is.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use super::rng::Rng;
use super::worker;
use crate::goroutine::{Suspend, G};

/// The environment variable that sets (or overrides) the seed of every runtime.
pub(crate) const ENV: &str = "GORUN_SEED";

/// A runtime's seeded mode (in `Config`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Seeded {
    pub(crate) seed: u64,
    /// Every gorun operation (channel operations, locks, spawns, joins) is a switch point
    /// (`gorun::check`).
    pub(crate) explore: bool,
}

/// Seeded runtimes alive in the process.
static LIVE: AtomicUsize = AtomicUsize::new(0);

/// Counts a seeded runtime as alive while it lives.
pub(crate) struct Live;

impl Live {
    pub(crate) fn new() -> Live {
        LIVE.fetch_add(1, Ordering::SeqCst);
        Live
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        LIVE.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The seed `GORUN_SEED` sets, if it is set.
///
/// # Panics
/// If it is set to something other than an unsigned 64-bit integer (decimal, or hex with
/// `0x`): a replay that silently ran another schedule would mislead.
pub(crate) fn env_seed() -> Option<u64> {
    let v = std::env::var(ENV).ok()?;
    let v = v.trim();
    let parsed = match v.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => v.parse(),
    };
    Some(parsed.unwrap_or_else(|_| {
        panic!("{ENV} must be an unsigned 64-bit integer (as gorun printed it), got {v:?}")
    }))
}

/// The seeded mode of the runtime whose worker runs on this thread, if seeded.
fn here() -> Option<Seeded> {
    if LIVE.load(Ordering::Relaxed) == 0 {
        return None;
    }
    worker::with_worker(|w| w.and_then(|w| w.shared.config.seeded))
}

/// Whether the calling thread is the worker of a seeded runtime.
pub(crate) fn active() -> bool {
    here().is_some()
}

/// A switch point: under `gorun::check`, the running goroutine yields here, and the
/// seeded draw decides who runs next (possibly itself). Called where gorun operations
/// begin and end, never with a lock of gorun's held. Nothing (one load) otherwise.
#[inline]
pub(crate) fn point() {
    if LIVE.load(Ordering::Relaxed) != 0 {
        point_slow();
    }
}

#[cold]
fn point_slow() {
    if here().is_some_and(|s| s.explore) {
        worker::with_current_g(|g| {
            if let Some(g) = g {
                g.give_way(Suspend::Yield);
            }
        });
    }
}

/// Runs the gorun operation `op` between two switch points (see [`point`]).
#[inline]
pub(crate) fn around<R>(op: impl FnOnce() -> R) -> R {
    point();
    let r = op();
    point();
    r
}

/// The coop budget to refill with: `full`, or under a seed a draw in `1..=full`, so where
/// a polling loop is made to yield varies with the seed.
#[inline]
pub(crate) fn budget(full: u8) -> u8 {
    if LIVE.load(Ordering::Relaxed) == 0 {
        return full;
    }
    budget_slow(full)
}

#[cold]
fn budget_slow(full: u8) -> u8 {
    match here() {
        Some(_) => 1 + super::rng::random(full as usize) as u8,
        None => full,
    }
}

/// How to replay the running seeded runtime's schedule, for a fatal report; `None` when
/// the calling thread's runtime is not seeded.
pub(crate) fn replay_note() -> Option<String> {
    here().map(|s| replay_hint(s.seed))
}

/// The line that tells how to replay `seed`.
pub(crate) fn replay_hint(seed: u64) -> String {
    let test = std::thread::current()
        .name()
        .filter(|n| *n != "main")
        .map_or_else(|| "<this test>".to_string(), str::to_string);
    format!(
        "gorun: this run was scheduled with seed {seed}; replay it with \
         {ENV}={seed} cargo test {test} -- --exact\n"
    )
}

/// Puts a batch of wake-ups from other threads in a canonical order (by goroutine id), so
/// the order in which a batch arrived (a timer thread's ties, say) does not matter.
pub(crate) fn order_batch(batch: &mut [Arc<G>]) {
    batch.sort_unstable_by_key(|g| g.id);
}

/// Draws the goroutine to run next from `ready` (every goroutine runnable here), in O(1):
/// the order of `ready` is itself a function of the seed and the program, since every
/// goroutine entered it in a deterministic order (see the module docs).
pub(crate) fn draw(ready: &mut VecDeque<Arc<G>>, rng: &Rng) -> Option<Arc<G>> {
    match ready.len() {
        0 => None,
        n => ready.swap_remove_back(rng.below(n)),
    }
}
