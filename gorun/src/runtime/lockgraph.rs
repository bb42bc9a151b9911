//! Lock cycles: deadlocks that Go cannot see while other goroutines still run.
//!
//! Every `Mutex` and `RwLock` carries a [`LockInfo`] (its kind and creation site). Each
//! goroutine keeps a short list of the locks it holds, with where it locked them
//! ([`HeldLocks`], in its control block, written only by its own thread, so the lock fast
//! path touches no shared cache line). A goroutine that must wait for a lock registers a
//! wait edge (goroutine -> lock) in its runtime's [`LockGraph`] for as long as it waits;
//! that happens on the slow path only.
//!
//! The monitor follows the edges: goroutine -> lock it waits for -> goroutine holding that
//! lock -> ... If the walk returns to its start, those goroutines wait for each other and
//! none can ever proceed. A cycle seen on two consecutive ticks is reported (as fatal, or as
//! a warning: `Builder::lock_cycles_fatal`). Locks held by plain threads, and locks beyond
//! the first `HELD` a goroutine holds at once, are not tracked and never close a cycle.
//!
//! Locks are identified by address and never dereferenced by the monitor: a lock may live
//! on a goroutine's stack, which copy-on-park moves to the heap while it is parked. An edge
//! carries copies of what a report needs (the lock's kind and creation site).

use std::collections::HashMap;
use std::fmt::Write;
use std::marker::PhantomData;
use std::panic::Location;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use super::{worker, Shared};
use crate::goroutine::G;

/// Kind and creation site of one lock.
pub(crate) struct LockInfo {
    created: &'static Location<'static>,
    kind: &'static str,
}

impl LockInfo {
    #[track_caller]
    pub(crate) const fn new(kind: &'static str) -> LockInfo {
        LockInfo {
            created: Location::caller(),
            kind,
        }
    }

    /// This lock's identity in the goroutines' held-lock records.
    fn addr(&self) -> usize {
        self as *const LockInfo as usize
    }

    /// Records that the running goroutine now holds this lock (call after acquiring).
    #[inline]
    pub(crate) fn acquired(&self, site: &'static Location<'static>) {
        worker::with_running(|g| g.extra_or_alloc().held_locks.push(self.addr(), site));
    }

    /// Records the release (call before releasing).
    #[inline]
    pub(crate) fn released(&self) {
        worker::with_running(|g| {
            if let Some(extra) = g.extra() {
                extra.held_locks.remove(self.addr());
            }
        });
    }
}

/// A goroutine's wait for a lock. The lock's address is kept for identity only, never
/// dereferenced: the lock may live on a goroutine's stack, which copy-on-park can move out.
#[derive(Clone)]
struct Edge {
    lock: *const LockInfo,
    kind: &'static str,
    created: &'static Location<'static>,
    site: &'static Location<'static>,
}

/// The wait edges of one runtime.
#[derive(Default)]
pub(crate) struct LockGraph {
    edges: Mutex<HashMap<u64, Edge>>,
    /// Bumped (under `edges`' lock) by every change of `edges`, and the number of edges:
    /// the monitor reads both without taking the lock.
    version: AtomicU64,
    len: AtomicUsize,
}

// SAFETY: the raw pointers in `edges` are compared, never dereferenced.
unsafe impl Send for LockGraph {}
// SAFETY: as above.
unsafe impl Sync for LockGraph {}

/// A registered wait edge; removed on drop.
pub(crate) struct Waiting<'a> {
    shared: Option<(Arc<Shared>, u64)>,
    _lock: PhantomData<&'a LockInfo>,
}

impl<'a> Waiting<'a> {
    /// Registers that the running goroutine waits for `lock` (no-op on a plain thread).
    pub(crate) fn begin(lock: &'a LockInfo, site: &'static Location<'static>) -> Waiting<'a> {
        let shared = worker::with_running(|g| (g.shared.clone(), g.id));
        if let Some((s, id)) = &shared {
            let edge = Edge {
                lock,
                kind: lock.kind,
                created: lock.created,
                site,
            };
            s.lock_graph.change(|edges| {
                edges.insert(*id, edge);
            });
        }
        Waiting {
            shared,
            _lock: PhantomData,
        }
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        if let Some((s, id)) = &self.shared {
            s.lock_graph.change(|edges| {
                edges.remove(id);
            });
        }
    }
}

impl LockGraph {
    fn change(&self, f: impl FnOnce(&mut HashMap<u64, Edge>)) {
        let mut edges = self.edges.lock().unwrap();
        f(&mut edges);
        self.len.store(edges.len(), Ordering::Relaxed);
        self.version.fetch_add(1, Ordering::Relaxed);
    }

    /// A number that changes whenever a goroutine starts or stops waiting for a lock, or
    /// `None` when none waits: the monitor compares it between ticks without taking the
    /// lock that contended `lock()` calls take.
    pub(crate) fn version(&self) -> Option<u64> {
        (self.len.load(Ordering::Relaxed) > 0).then(|| self.version.load(Ordering::Relaxed))
    }

    /// Finds a cycle among the goroutines `gs`: their ids (sorted) and a report. The edges
    /// are copied first: goroutines that start or stop waiting for a lock never wait for
    /// this search.
    pub(crate) fn find_cycle(&self, gs: &[Arc<G>]) -> Option<(Vec<u64>, String)> {
        let edges: HashMap<u64, Edge> = self
            .edges
            .lock()
            .unwrap()
            .iter()
            .map(|(&id, e)| (id, e.clone()))
            .collect();
        if edges.is_empty() {
            return None;
        }
        // Who holds each lock that someone waits for, and where they locked it: one pass
        // over the goroutines.
        let mut held: HashMap<usize, (u64, &'static Location<'static>)> = HashMap::new();
        for e in edges.values() {
            held.entry(e.lock as usize).or_insert((0, e.site));
        }
        let mut found = 0;
        for h in gs {
            let Some(extra) = h.extra() else { continue };
            for (lock, slot) in held.iter_mut() {
                if slot.0 == 0 {
                    if let Some(site) = extra.held_locks.holds(*lock) {
                        *slot = (h.id, site);
                        found += 1;
                    }
                }
            }
            if found == held.len() {
                break;
            }
        }
        let holder = |g: u64| -> Option<(u64, &'static Location<'static>)> {
            let (id, site) = *held.get(&(edges.get(&g)?.lock as usize))?;
            (id != 0).then_some((id, site))
        };
        let mut starts: Vec<u64> = edges.keys().copied().collect();
        starts.sort_unstable();
        for start in starts {
            let mut path = vec![start];
            let mut held_at = Vec::new();
            let mut at = start;
            while let Some((next, site)) = holder(at) {
                held_at.push(site);
                if next == start {
                    let mut ids = path.clone();
                    ids.sort_unstable();
                    return Some((ids, describe(&edges, &path, &held_at)));
                }
                if path.contains(&next) {
                    break; // a cycle not through `start`: found from one of its members
                }
                path.push(next);
                at = next;
            }
        }
        None
    }
}

/// `path[i]` waits for a lock held by `path[i+1]` (locked at `held_at[i]`).
fn describe(edges: &HashMap<u64, Edge>, path: &[u64], held_at: &[&Location<'static>]) -> String {
    let n = path.len();
    let mut report = String::new();
    for i in 0..n {
        let prev = (i + n - 1) % n;
        let holds = &edges[&path[prev]];
        let waits = &edges[&path[i]];
        let _ = writeln!(
            report,
            "goroutine {} holds {} created at {}, locked at {}\n\tand waits (at {}) for {} \
             created at {}, held by goroutine {}",
            path[i],
            holds.kind,
            holds.created,
            held_at[prev],
            waits.site,
            waits.kind,
            waits.created,
            path[(i + 1) % n],
        );
    }
    report
}
