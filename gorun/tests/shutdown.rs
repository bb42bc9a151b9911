//! Shutdown and unwinding: `run` returns promptly whatever other goroutines do, never
//! aborts, and can run again on the same thread; a goroutine that blocks while unwinding
//! does not leak its panic state to other goroutines. Each program runs in a child process
//! (the failure modes are hangs and aborts); the time limits are generous, not
//! measurements.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use gorun::sync::{Mutex, WaitGroup};
use gorun::Builder;

mod common;
use common::{in_child, run_child_within};

const LIMIT: Duration = Duration::from_secs(60);

/// Runs `test` in a child, which must exit with code 0 after printing "returned" (and
/// "again" after a second runtime on the same thread).
fn assert_returns(test: &str) -> String {
    let out = run_child_within(test, LIMIT);
    assert_eq!(out.status.code(), Some(0), "stderr: {}", out.stderr);
    assert!(out.stdout.contains("returned"), "stdout: {}", out.stdout);
    assert!(out.stdout.contains("again"), "stdout: {}", out.stdout);
    out.stderr
}

/// A second runtime on the same thread, after the scenario.
fn run_again() {
    let v = Builder::new()
        .workers(2)
        .run(|| gorun::go(|| 40 + 2).join().unwrap());
    assert_eq!(v, 42);
    println!("again");
}

/// Starts `f` in a goroutine that runs on another worker than main's (which is the calling
/// thread), and returns once it has started there.
fn on_other_worker(f: impl Fn() + Send + Sync + 'static) {
    let main_thread = std::thread::current().id();
    let started = Arc::new(AtomicBool::new(false));
    let f = Arc::new(f);
    while !started.load(Ordering::SeqCst) {
        let (s, f) = (started.clone(), f.clone());
        gorun::go(move || {
            if std::thread::current().id() != main_thread && !s.swap(true, Ordering::SeqCst) {
                f();
            }
        });
        gorun::go(|| {}); // pushes the first one into the stealable queue
        gorun::sleep(Duration::from_millis(5));
    }
}

#[test]
fn main_returns_while_a_goroutine_spins() {
    if in_child() {
        Builder::new().workers(2).run(|| {
            on_other_worker(|| {
                #[allow(clippy::empty_loop)]
                loop {
                    std::hint::spin_loop();
                }
            });
        });
        println!("returned");
        run_again();
        return;
    }
    assert_returns("main_returns_while_a_goroutine_spins");
}

#[test]
fn main_returns_while_a_goroutine_is_in_a_blocking_call() {
    if in_child() {
        Builder::new().workers(2).run(|| {
            on_other_worker(|| std::thread::sleep(Duration::from_secs(3600)));
        });
        println!("returned");
        run_again();
        return;
    }
    assert_returns("main_returns_while_a_goroutine_is_in_a_blocking_call");
}

/// A value whose destructor blocks, in one of the ways the forced unwind at shutdown meets.
struct BlockOnDrop(Box<dyn FnMut() + Send>);

impl Drop for BlockOnDrop {
    fn drop(&mut self) {
        (self.0)();
    }
}

/// Leaves a goroutine parked forever, holding a `BlockOnDrop` that runs `block`, and a
/// counter that tells whether the destructors after it ran.
fn abandoned_with(block: impl FnMut() + Send + 'static) {
    gorun::go(move || {
        let _after = common::DropFlag(Arc::new(AtomicUsize::new(0)));
        let _b = BlockOnDrop(Box::new(block));
        gorun::never::<()>().recv().ok(); // parks forever
    });
    gorun::yield_now();
}

fn blocking_destructor_program() {
    for workers in [1, 2] {
        Builder::new().workers(workers).run(|| {
            // Locks a mutex that is never released.
            let m = Arc::new(Mutex::new(()));
            let held = m.clone();
            let (tx, rx) = gorun::chan::<()>(0);
            gorun::go(move || {
                let _g = held.lock();
                tx.send(()).unwrap();
                gorun::never::<()>().recv().ok();
            });
            rx.recv().unwrap();
            abandoned_with(move || drop(m.lock()));
            // Joins a goroutine that never ends.
            let (_keep, never) = gorun::chan::<()>(0);
            let h = Some(gorun::go(move || never.recv().ok()));
            let mut h = h;
            abandoned_with(move || drop(h.take().map(|h| h.join())));
            // Waits on a WaitGroup nobody finishes.
            let wg = WaitGroup::new();
            wg.add(1);
            abandoned_with(move || wg.wait());
            // Sleeps.
            abandoned_with(|| gorun::sleep(Duration::from_secs(3600)));
            // Sends with no receiver.
            let (tx, _rx) = gorun::chan::<u32>(0);
            abandoned_with(move || {
                let _ = tx.send(1);
            });
            // Main returns: all of the above are abandoned.
        });
    }
}

#[test]
fn destructors_that_block_during_shutdown_do_not_abort() {
    if in_child() {
        blocking_destructor_program();
        println!("returned");
        run_again();
        return;
    }
    assert_returns("destructors_that_block_during_shutdown_do_not_abort");
}

#[test]
fn deadlock_report_survives_blocking_destructors() {
    if in_child() {
        gorun::run(|| {
            let wg = WaitGroup::new();
            wg.add(1);
            let w = wg.clone();
            abandoned_with(move || w.wait());
            let (_tx, rx) = gorun::chan::<()>(0);
            rx.recv().ok();
        });
        return;
    }
    let out = run_child_within("deadlock_report_survives_blocking_destructors", LIMIT);
    assert_eq!(out.status.code(), Some(2), "stderr: {}", out.stderr);
    assert!(
        out.stderr
            .starts_with("fatal error: all goroutines are asleep - deadlock!"),
        "stderr: {}",
        out.stderr
    );
}

#[test]
fn try_run_deadlock_with_blocking_destructors_returns() {
    if in_child() {
        let err = Builder::new()
            .try_run(|| {
                let wg = WaitGroup::new();
                wg.add(1);
                let w = wg.clone();
                abandoned_with(move || w.wait());
                wg.wait();
            })
            .unwrap_err();
        assert!(err.to_string().contains("all goroutines are asleep"));
        println!("returned");
        run_again();
        return;
    }
    assert_returns("try_run_deadlock_with_blocking_destructors_returns");
}

/// Records the thread it is dropped on.
struct DropThread(Arc<std::sync::Mutex<Option<std::thread::ThreadId>>>);

impl Drop for DropThread {
    fn drop(&mut self) {
        *self.0.lock().unwrap() = Some(std::thread::current().id());
    }
}

#[test]
fn detached_goroutine_panicking_during_shutdown_is_harmless() {
    if in_child() {
        let dropped_on = Arc::new(std::sync::Mutex::new(None));
        let home = Arc::new(std::sync::Mutex::new(None));
        let (d, h) = (dropped_on.clone(), home.clone());
        Builder::new().workers(2).run(move || {
            let stop = Arc::new(AtomicBool::new(false));
            let s = stop.clone();
            on_other_worker(move || {
                // A goroutine homed on this worker, parked forever: it must be unwound
                // here, not dropped on another thread when this worker's goroutine panics.
                *h.lock().unwrap() = Some(std::thread::current().id());
                let d = d.clone();
                gorun::go(move || {
                    let _t = DropThread(d);
                    gorun::never::<()>().recv().ok();
                });
                gorun::yield_now(); // it starts here and parks
                while !s.load(Ordering::SeqCst) {
                    std::hint::spin_loop();
                }
                // Main has returned by now: the runtime is shutting down.
                std::thread::sleep(Duration::from_millis(50));
                panic!("late panic");
            });
            stop.store(true, Ordering::SeqCst);
        });
        println!("returned");
        let home = home.lock().unwrap().expect("the goroutine ran");
        assert_eq!(
            *dropped_on.lock().unwrap(),
            Some(home),
            "unwound off its thread"
        );
        run_again();
        return;
    }
    assert_returns("detached_goroutine_panicking_during_shutdown_is_harmless");
}

#[test]
fn a_panic_of_main_leaves_the_thread_usable() {
    if in_child() {
        let r = std::panic::catch_unwind(|| {
            Builder::new().workers(2).run(|| {
                gorun::go(|| gorun::never::<()>().recv().ok());
                panic!("main panics");
            })
        });
        assert!(r.is_err());
        println!("returned");
        run_again();
        return;
    }
    assert_returns("a_panic_of_main_leaves_the_thread_usable");
}

/// Sends on `tx` when dropped (a destructor that parks), first telling `notify` (if any)
/// that it is about to.
struct SendOnDrop(
    Option<gorun::Sender<u32>>,
    Option<std::sync::mpsc::Sender<()>>,
);

impl Drop for SendOnDrop {
    fn drop(&mut self) {
        if let Some(n) = self.1.take() {
            let _ = n.send(());
        }
        if let Some(tx) = self.0.take() {
            let _ = tx.send(1);
        }
    }
}

#[test]
fn unwinding_goroutine_does_not_leak_its_panic_state() {
    Builder::new().workers(1).run(|| {
        // A plain thread takes the value the unwinding goroutine sends from a destructor,
        // once that destructor has started (so the send parks).
        let (tx, rx) = gorun::chan::<u32>(0);
        let (ntx, nrx) = std::sync::mpsc::channel();
        let taker = std::thread::spawn(move || {
            nrx.recv().unwrap();
            rx.recv().unwrap()
        });
        // Another goroutine of the same (only) worker holds a std mutex across a yield:
        // if it saw the thread panicking when it unlocks, the mutex would be poisoned.
        let std_m = Arc::new(std::sync::Mutex::new(0));
        let m2 = std_m.clone();
        let observer = gorun::go(move || {
            let mut saw_panicking = false;
            let g = m2.lock().unwrap();
            for _ in 0..50 {
                gorun::yield_now();
                saw_panicking |= std::thread::panicking();
            }
            drop(g);
            saw_panicking
        });
        let failing = gorun::go(move || {
            let _s = SendOnDrop(Some(tx), Some(ntx));
            panic!("boom");
        });
        assert!(failing.join().is_err());
        assert!(
            !observer.join().unwrap(),
            "another goroutine saw panicking()"
        );
        assert!(!std_m.is_poisoned(), "a std mutex was poisoned spuriously");
        assert_eq!(taker.join().unwrap(), 1);
        assert!(!std::thread::panicking());
    });
}

#[test]
fn unwinding_goroutine_waiting_on_its_own_worker_does_not_hang() {
    if in_child() {
        Builder::new().workers(1).run(|| {
            // The receiver is a goroutine of the same worker that is not waiting yet: the
            // unwinding sender cannot hold the thread until it is, or nothing would run.
            let (tx, rx) = gorun::chan::<u32>(0);
            let failing = gorun::go(move || {
                let _s = SendOnDrop(Some(tx), None);
                panic!("boom");
            });
            let receiver = gorun::go(move || {
                for _ in 0..10 {
                    gorun::yield_now();
                }
                rx.recv().unwrap()
            });
            assert!(failing.join().is_err());
            assert_eq!(receiver.join().unwrap(), 1);
        });
        println!("returned");
        run_again();
        return;
    }
    assert_returns("unwinding_goroutine_waiting_on_its_own_worker_does_not_hang");
}

#[test]
fn deadlock_while_a_goroutine_holds_its_thread_unwinding() {
    if in_child() {
        let err = Builder::new()
            .workers(1)
            .try_run(|| {
                // The goroutine blocks forever in a destructor while it unwinds: it holds
                // the only worker's thread, and everything is asleep.
                let wg = WaitGroup::new();
                wg.add(1);
                let failing = gorun::go(move || {
                    let _b = BlockOnDrop(Box::new(move || wg.wait()));
                    panic!("boom");
                });
                let _ = failing.join();
            })
            .unwrap_err();
        let report = err.to_string();
        assert!(report.contains("all goroutines are asleep"), "{report}");
        assert!(report.contains("[sync.WaitGroup.Wait]"), "{report}");
        println!("returned");
        run_again();
        return;
    }
    assert_returns("deadlock_while_a_goroutine_holds_its_thread_unwinding");
}

#[test]
fn a_goroutine_that_catches_its_abandonment_is_given_up() {
    if in_child() {
        for workers in [1, 2] {
            Builder::new().workers(workers).run(|| {
                // Catches every unwind and waits again; another one yields in its loop.
                gorun::go(|| loop {
                    let _ = std::panic::catch_unwind(|| gorun::never::<()>().recv());
                });
                gorun::go(|| loop {
                    let _ = std::panic::catch_unwind(gorun::yield_now);
                    gorun::sleep(Duration::from_millis(1));
                });
                gorun::sleep(Duration::from_millis(20));
            });
        }
        println!("returned");
        run_again();
        return;
    }
    assert_returns("a_goroutine_that_catches_its_abandonment_is_given_up");
}

#[test]
fn a_destructor_sleeping_while_unwinding_holds_its_thread() {
    Builder::new().workers(1).run(|| {
        // The sleep's timer wakes the goroutine that holds the thread (no switch): the
        // goroutine queued behind it never sees the thread panicking.
        let failing = gorun::go(|| {
            let _b = BlockOnDrop(Box::new(|| gorun::sleep(Duration::from_millis(10))));
            panic!("boom");
        });
        let observer = gorun::go(std::thread::panicking);
        assert!(failing.join().is_err());
        assert!(!observer.join().unwrap(), "the observer saw panicking()");
    });
}
