//! Lock cycles: deadlocks that Go cannot see while other goroutines still run.
//!
//! Every `Mutex` and `RwLock` carries a [`LockInfo`]: where it was created and which
//! goroutine holds it (write side), written on each lock and unlock (two relaxed stores).
//! A goroutine that must wait for such a lock registers a wait edge (goroutine -> lock) in
//! its runtime's [`LockGraph`] for as long as it waits; this happens on the slow path only.
//!
//! The monitor follows the edges: goroutine -> lock it waits for -> goroutine holding that
//! lock -> ... If the walk returns to its start, those goroutines wait for each other and
//! none can ever proceed. A cycle seen on two consecutive ticks is reported (as fatal, or as
//! a warning: `Builder::lock_cycles_fatal`). Locks held by plain threads have no owner id
//! and never close a cycle.
//!
//! An edge points at a `LockInfo` inside a lock that the waiting goroutine borrows for the
//! whole wait; the edge is removed (under the graph's mutex) before that borrow ends, so
//! the monitor may read the `LockInfo` while it holds the graph's mutex.

use std::collections::HashMap;
use std::fmt::Write;
use std::marker::PhantomData;
use std::panic::Location;
use std::sync::atomic::{AtomicPtr, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::runtime::{current_id, worker, Shared};

/// Owner and creation site of one lock.
pub(crate) struct LockInfo {
    owner: AtomicU64,
    locked_at: AtomicPtr<Location<'static>>,
    created: &'static Location<'static>,
    kind: &'static str,
}

impl LockInfo {
    #[track_caller]
    pub(crate) const fn new(kind: &'static str) -> LockInfo {
        LockInfo {
            owner: AtomicU64::new(0),
            locked_at: AtomicPtr::new(std::ptr::null_mut()),
            created: Location::caller(),
            kind,
        }
    }

    /// Records the caller as the owner (call right after acquiring).
    #[inline]
    pub(crate) fn acquired(&self, site: &'static Location<'static>) {
        self.owner.store(current_id(), Ordering::Relaxed);
        self.locked_at
            .store(site as *const _ as *mut _, Ordering::Relaxed);
    }

    /// Clears the owner (call right before releasing).
    #[inline]
    pub(crate) fn released(&self) {
        self.owner.store(0, Ordering::Relaxed);
    }

    fn describe(&self) -> String {
        let mut s = format!("{} created at {}", self.kind, self.created);
        // SAFETY: null or a `&'static Location` stored by `acquired`.
        if let Some(at) = unsafe { self.locked_at.load(Ordering::Relaxed).as_ref() } {
            let _ = write!(s, ", locked at {at}");
        }
        s
    }
}

struct Edge {
    lock: *const LockInfo,
    site: &'static Location<'static>,
}

/// The wait edges of one runtime.
#[derive(Default)]
pub(crate) struct LockGraph {
    edges: Mutex<HashMap<u64, Edge>>,
}

// SAFETY: the raw pointers in `edges` are only dereferenced under the mutex, while the
// waiting goroutine that registered them still borrows the lock (see module docs).
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
        let shared = worker::with_current_g(|g| g.map(|g| (g.shared.clone(), g.id)));
        if let Some((s, id)) = &shared {
            s.lock_graph
                .edges
                .lock()
                .unwrap()
                .insert(*id, Edge { lock, site });
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
            s.lock_graph.edges.lock().unwrap().remove(id);
        }
    }
}

impl LockGraph {
    /// Finds a cycle: the goroutine ids in wait order, and the report describing it.
    pub(crate) fn find_cycle(&self) -> Option<(Vec<u64>, String)> {
        let edges = self.edges.lock().unwrap();
        // SAFETY (for each deref below): edges are valid while `edges` is locked.
        let holder = |g: u64| -> Option<u64> {
            let e = edges.get(&g)?;
            let owner = unsafe { &*e.lock }.owner.load(Ordering::Relaxed);
            (owner != 0).then_some(owner)
        };
        for &start in edges.keys() {
            let mut path = vec![start];
            let mut at = start;
            while let Some(next) = holder(at) {
                if next == start {
                    let mut ids = path.clone();
                    ids.sort_unstable();
                    let mut report = String::new();
                    for (i, &g) in path.iter().enumerate() {
                        let waits = &edges[&g];
                        let prev = path[(i + path.len() - 1) % path.len()];
                        let holds = unsafe { &*edges[&prev].lock };
                        let waits_for = unsafe { &*waits.lock };
                        let _ = writeln!(
                            report,
                            "goroutine {g} holds {}\n\tand waits (at {}) for {}, held by goroutine {}",
                            holds.describe(),
                            waits.site,
                            waits_for.describe(),
                            path[(i + 1) % path.len()],
                        );
                    }
                    return Some((ids, report));
                }
                if path.contains(&next) || path.len() > edges.len() {
                    break; // a cycle not through `start`: found from one of its members
                }
                path.push(next);
                at = next;
            }
        }
        None
    }
}
