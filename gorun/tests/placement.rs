//! Placement at spawn: a worker that carries many goroutines starts new ones on a worker
//! with nothing to do, and they run there like any other (issue 16). Behaviour only: the
//! spawner keeps spawning until placement happens (bounded), and every goroutine, placed
//! or not, runs to completion.

use std::time::Duration;

use gorun::sync::WaitGroup;
use gorun::Builder;

#[test]
fn a_loaded_worker_starts_new_goroutines_on_a_sleeping_one() {
    Builder::new().workers(2).run(|| {
        let (tx, rx) = gorun::chan::<()>(0);
        let started = WaitGroup::new();
        let mut handles = Vec::new();
        // Long-lived goroutines, like one per connection: each waits for the channel to close.
        let spawn_waiter = |handles: &mut Vec<_>| {
            let (rx, started) = (rx.clone(), started.clone());
            started.add(1);
            handles.push(gorun::go(move || {
                started.done();
                while rx.recv().is_ok() {}
                1u64
            }));
        };
        for _ in 0..100 {
            spawn_waiter(&mut handles);
        }
        started.wait();
        // Whatever stealing did with the first ones, this worker's load keeps growing
        // while the other one sleeps (the spawner sleeps between spawns, so both idle).
        for _ in 0..1_000 {
            if gorun::metrics().placed_away > 0 {
                break;
            }
            gorun::sleep(Duration::from_millis(2));
            spawn_waiter(&mut handles);
        }
        let m = gorun::metrics();
        assert!(m.placed_away > 0, "no goroutine was placed away: {m:?}");
        // Every goroutine has started (the placed one, on the other worker) only once the
        // group is done: read the switches after that, not while the placed one may still
        // wait for its worker to wake.
        started.wait();
        // A switch is counted when the goroutine switches back (it parks): wait for that,
        // bounded (slow under emulation).
        for _ in 0..1_000 {
            if gorun::metrics().worker_switches.iter().all(|&s| s > 0) {
                break;
            }
            gorun::sleep(Duration::from_millis(2));
        }
        let m = gorun::metrics();
        assert_eq!(m.worker_switches.len(), 2);
        assert!(m.worker_switches.iter().all(|&s| s > 0), "{m:?}");
        drop(tx);
        let n = handles.len() as u64;
        let done: u64 = handles.into_iter().map(|h| h.join().unwrap()).sum();
        assert_eq!(done, n);
    });
}

#[test]
fn one_worker_keeps_every_spawn() {
    Builder::new().workers(1).run(|| {
        let hs: Vec<_> = (0..500u64).map(|i| gorun::go(move || i)).collect();
        let sum: u64 = hs.into_iter().map(|h| h.join().unwrap()).sum();
        assert_eq!(sum, 500 * 499 / 2);
        assert_eq!(gorun::metrics().placed_away, 0);
    });
}

/// Two goroutines that compute and yield: the second is started by the idle worker when the
/// first yields (Go's yielding goroutine goes where an idle P takes it), so they run side by
/// side on different threads instead of taking turns on one.
#[test]
fn yielding_goroutines_spread_to_an_idle_worker() {
    Builder::new().workers(2).run(|| {
        let spin = || {
            gorun::go(|| {
                let mut threads = std::collections::HashSet::new();
                for _ in 0..1_000 {
                    threads.insert(std::thread::current().id());
                    gorun::yield_now();
                }
                assert_eq!(threads.len(), 1, "a started goroutine never moves");
                threads.into_iter().next().unwrap()
            })
        };
        let (a, b) = (spin(), spin());
        let (a, b) = (a.join().unwrap(), b.join().unwrap());
        assert_ne!(a, b, "both yielders stayed on one worker");
    });
}
