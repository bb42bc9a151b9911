//! How a goroutine enters the scheduler: `spawn` from a worker (into its own queues, or
//! placed on a less loaded worker), `inject` from any other thread (onto the runtime's
//! shared injector), and the runtime a plain thread works for (`enter`, set by the blocking
//! pool, so that `go` and `Handle::current` inside `blocking` reach the caller's runtime).
//! The public entry points (`go`, `GoBuilder`, `Handle::go`) sit above, in `spawn.rs` and
//! `handle.rs`.
//!
//! Injector invariants: a goroutine pushed on the injector of a runtime that has shut down
//! is dropped by its spawner (who sees the shutdown flag after the push, SeqCst) or by
//! `run`'s final cleanup; nothing is left queued on a finished runtime.

use std::cell::RefCell;
use std::panic::Location;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::{seeded, worker, Shared};
use crate::goroutine::{self, EntryPoint, JoinHandle, Task, G};

thread_local! {
    /// The runtime a plain thread is working for (set by the blocking pool), if any.
    static ENTERED: RefCell<Option<Arc<Shared>>> = const { RefCell::new(None) };
}

/// The runtime entered by this plain thread (see [`enter`]), if any.
pub(crate) fn entered() -> Option<Arc<Shared>> {
    ENTERED.with(|e| e.borrow().clone())
}

/// The runtime of the running goroutine, or the one this plain thread entered.
pub(crate) fn current() -> Option<Arc<Shared>> {
    worker::with_current_g(|g| g.map(|g| g.shared.clone())).or_else(entered)
}

/// Makes `shared` the current runtime of this plain thread while `f` runs (for the
/// blocking pool).
pub(crate) fn enter<R>(shared: &Arc<Shared>, f: impl FnOnce() -> R) -> R {
    struct Restore(Option<Arc<Shared>>);
    impl Drop for Restore {
        fn drop(&mut self) {
            let prev = self.0.take();
            ENTERED.with(|e| *e.borrow_mut() = prev);
        }
    }
    let prev = ENTERED.with(|e| e.borrow_mut().replace(shared.clone()));
    let _restore = Restore(prev);
    f()
}

/// Queues an unstarted goroutine running `entry` on `shared`'s injector, from a thread that
/// is not one of its workers; returns its id.
pub(crate) fn inject(
    shared: &Arc<Shared>,
    entry: EntryPoint,
    name: Option<Box<str>>,
    class: u8,
    site: &'static Location<'static>,
) -> u64 {
    assert!(
        !shared.is_shutdown(),
        "gorun::Handle::go: the runtime has shut down (its main goroutine returned)"
    );
    let id = shared.reserve_goroutine_ids(1);
    let g = G::new(id, worker::current_id(), site, name, shared.clone(), entry);
    g.set_stack_class(class);
    if let Some(t) = &shared.trace {
        t.spawn(id, g.parent, g.name());
    }
    shared.outside_spawned.fetch_add(1, Ordering::Relaxed);
    shared.injector.push(Arc::new(g));
    std::sync::atomic::fence(Ordering::SeqCst);
    if shared.is_shutdown() {
        // Too late: `run` may have cleaned up already. Drop what is queued (see the module
        // docs); the goroutine never runs, as every goroutine abandoned at shutdown.
        while let crossbeam_deque::Steal::Success(_) | crossbeam_deque::Steal::Retry =
            shared.injector.steal()
        {}
    } else {
        shared.notify_stealable();
    }
    id
}

pub(crate) fn spawn<F, T>(
    f: F,
    name: Option<Box<str>>,
    site: &'static Location<'static>,
) -> JoinHandle<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    spawn_with(f, name, None, site)
}

/// [`spawn`] on a stack of at least `stack` usable bytes (`None`: the runtime's default).
pub(crate) fn spawn_with<F, T>(
    f: F,
    name: Option<Box<str>>,
    stack: Option<usize>,
    site: &'static Location<'static>,
) -> JoinHandle<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let task = Arc::new(Task::new(f));
    if worker::with_worker(|w| w.is_none()) {
        // A plain thread: the blocking pool knows its caller's runtime.
        let shared = entered().unwrap_or_else(|| {
            panic!(
                "gorun::go called outside a gorun runtime: wrap the program in \
                 gorun::run(|| ...) or use #[gorun::main], or start goroutines from a \
                 plain thread with gorun::Handle::go"
            )
        });
        let class = stack.map_or(0, |b| shared.stacks().class_for(b));
        let id = inject(&shared, task.clone(), name, class, site);
        return JoinHandle::new(task, id);
    }
    let handle = worker::with_worker(|w| {
        let w = w.expect("checked above");
        let parent = worker::current_id();
        let class = stack.map_or(0, |b| w.shared.stacks().class_for(b));
        let g = w.new_goroutine(parent, site, name, class, task.clone());
        if let Some(t) = &w.shared.trace {
            t.spawn(g.id, parent, g.name());
        }
        let id = g.id;
        w.place_spawned(g);
        if w.spawned_one() {
            worker::with_current_g(|g| g.map(|g| g.give_way(goroutine::Suspend::YieldToSpawned)));
        }
        JoinHandle::new(task, id)
    });
    seeded::point();
    handle
}
