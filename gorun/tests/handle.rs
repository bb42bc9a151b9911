//! `gorun::Handle`: starting goroutines from plain threads and from `blocking`, dumps and
//! metrics through a handle.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

#[test]
fn plain_thread_starts_goroutines() {
    let sum = gorun::Builder::new().workers(2).run(|| {
        let handle = gorun::Handle::current();
        let t = std::thread::spawn(move || {
            let hs: Vec<_> = (0..1000u64).map(|i| handle.go(move || i)).collect();
            hs.into_iter().map(|h| h.join().unwrap()).sum::<u64>()
        });
        gorun::blocking(move || t.join().unwrap())
    });
    assert_eq!(sum, 1000 * 999 / 2);
}

#[test]
fn goroutine_from_plain_thread_wakes_a_sleeping_runtime() {
    // Every worker sleeps (main parks on the channel); the spawned goroutine must still run.
    gorun::Builder::new().workers(1).run(|| {
        let handle = gorun::Handle::current();
        let (tx, rx) = gorun::chan::<u32>(0);
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            handle.go(move || tx.send(7).unwrap());
        });
        assert_eq!(rx.recv_timeout(Duration::from_secs(30)), Ok(7));
        t.join().unwrap();
    });
}

#[test]
fn go_inside_blocking() {
    gorun::run(|| {
        let h = gorun::blocking(|| {
            assert!(gorun::Handle::try_current().is_some());
            gorun::go(gorun::current_id)
        });
        assert!(h.join().unwrap() > 1);
    });
}

#[test]
fn handle_go_from_a_goroutine_is_go() {
    gorun::run(|| {
        let handle = gorun::Handle::current();
        assert_eq!(handle.go(|| 5).join().unwrap(), 5);
    });
}

#[test]
fn no_current_handle_on_a_plain_thread() {
    assert!(gorun::Handle::try_current().is_none());
    let r = std::panic::catch_unwind(gorun::Handle::current);
    assert!(r.is_err());
    let r = std::panic::catch_unwind(|| gorun::go(|| ()));
    assert!(r.is_err());
}

#[test]
fn dump_and_metrics_from_a_plain_thread() {
    gorun::run(|| {
        let handle = gorun::Handle::current();
        let (tx, rx) = gorun::chan::<()>(0);
        let h = gorun::GoBuilder::new()
            .name("waiter")
            .go(move || rx.recv().ok());
        while gorun::num_goroutine() < 2 {
            gorun::yield_now();
        }
        let (dump, metrics) = gorun::blocking(move || {
            std::thread::spawn(move || (handle.dump(), handle.metrics()))
                .join()
                .unwrap()
        });
        assert!(dump.contains("goroutine 1 ["), "{dump}");
        assert!(
            dump.contains("name: waiter") || dump.contains("not started"),
            "{dump}"
        );
        assert_eq!(metrics.goroutines, 2);
        assert!(metrics.spawned >= 2);
        drop(tx);
        h.join().unwrap();
    });
}

#[test]
fn outside_spawns_are_counted() {
    gorun::Builder::new().workers(2).run(|| {
        let handle = gorun::Handle::current();
        let ran = Arc::new(AtomicUsize::new(0));
        let r = ran.clone();
        let hs = gorun::blocking(move || {
            std::thread::spawn(move || {
                (0..10)
                    .map(|_| {
                        let r = r.clone();
                        handle.go(move || {
                            r.fetch_add(1, Ordering::SeqCst);
                        })
                    })
                    .collect::<Vec<_>>()
            })
            .join()
            .unwrap()
        });
        for h in hs {
            h.join().unwrap();
        }
        assert_eq!(ran.load(Ordering::SeqCst), 10);
        // A joined goroutine on another worker is counted finished once that worker has
        // taken it back, a moment after `join` returns: wait for it (bounded).
        for _ in 0..1000 {
            if gorun::num_goroutine() == 1 {
                break;
            }
            gorun::sleep(std::time::Duration::from_millis(1));
        }
        assert_eq!(gorun::num_goroutine(), 1);
        assert_eq!(gorun::metrics().spawned, 11);
    });
}

#[test]
fn handle_go_after_shutdown_panics() {
    let handle = gorun::run(gorun::Handle::current);
    let r = std::panic::catch_unwind(move || handle.go(|| ()));
    assert!(r.is_err());
}

#[test]
fn handle_is_send_sync_clone_debug() {
    fn check<T: Send + Sync + Clone + std::fmt::Debug>() {}
    check::<gorun::Handle>();
}
