//! Every started goroutine of a runtime, for dumps, deadlock detection and shutdown.
//!
//! Sharded by home worker: a goroutine is inserted when it starts and removed when it
//! finishes, both on its home thread, so the shard's lock is only contended by a reader
//! (a dump, the monitor). Registered from start until its coroutine has been taken out
//! (finished, or unwound at shutdown), which is what keeps the last `Arc<G>` of a started
//! goroutine on its home thread (see `goroutine` docs). Unstarted goroutines live only in
//! run queues; `Shared::num_goroutine` counts them.

use std::sync::{Arc, Mutex};

use crate::goroutine::G;

pub(crate) struct Registry {
    shards: Box<[Mutex<Vec<Arc<G>>>]>,
}

impl Registry {
    pub(crate) fn new(shards: usize) -> Registry {
        Registry {
            shards: (0..shards).map(|_| Mutex::new(Vec::new())).collect(),
        }
    }

    /// Registers a goroutine starting on worker `g.home()`.
    pub(crate) fn insert(&self, g: &Arc<G>) {
        let mut shard = self.shards[g.home()].lock().unwrap();
        g.registry_index.set(shard.len() as u32);
        shard.push(g.clone());
    }

    pub(crate) fn remove(&self, g: &G) {
        let mut shard = self.shards[g.home()].lock().unwrap();
        let i = g.registry_index.get() as usize;
        debug_assert!(std::ptr::eq(&*shard[i], g));
        shard.swap_remove(i);
        if let Some(moved) = shard.get(i) {
            moved.registry_index.set(i as u32);
        }
    }

    /// A copy of the list, in spawn order (ids ascending).
    pub(crate) fn snapshot(&self) -> Vec<Arc<G>> {
        let mut all: Vec<Arc<G>> = Vec::new();
        for shard in self.shards.iter() {
            all.extend(shard.lock().unwrap().iter().cloned());
        }
        all.sort_by_key(|g| g.id);
        all
    }

    /// Empties the registry (at the very end of a runtime) and returns what it held.
    pub(crate) fn clear(&self) -> Vec<Arc<G>> {
        let mut all = Vec::new();
        for shard in self.shards.iter() {
            all.append(&mut shard.lock().unwrap());
        }
        all
    }
}
