//! `gorun::scope`: borrowing goroutines, joins, panics, and shutdown while they run.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

mod common;
use common::{in_child, run_child};

#[test]
fn scoped_goroutines_borrow_and_join() {
    gorun::run(|| {
        let data: Vec<u64> = (1..=100).collect();
        let counter = AtomicUsize::new(0);
        let mut out = Vec::new();
        let sum = gorun::scope(|s| {
            let hs: Vec<_> = data
                .chunks(10)
                .map(|chunk| {
                    let counter = &counter;
                    s.go(move || {
                        counter.fetch_add(1, Ordering::SeqCst);
                        chunk.iter().sum::<u64>()
                    })
                })
                .collect();
            s.go(|| out.push(1)); // a mutable borrow, joined at the end
            hs.into_iter().map(|h| h.join().unwrap()).sum::<u64>()
        });
        assert_eq!(sum, 5050);
        assert_eq!(counter.load(Ordering::SeqCst), 10);
        assert_eq!(out, [1]);
    });
}

#[test]
fn scope_waits_for_unjoined_goroutines() {
    gorun::run(|| {
        let done = AtomicUsize::new(0);
        gorun::scope(|s| {
            for _ in 0..50 {
                s.go(|| {
                    gorun::sleep(Duration::from_millis(1));
                    done.fetch_add(1, Ordering::SeqCst);
                });
            }
        });
        assert_eq!(done.load(Ordering::SeqCst), 50);
    });
}

#[test]
fn joined_panic_is_returned_not_raised() {
    gorun::run(|| {
        let r = gorun::scope(|s| s.go(|| panic!("joined")).join());
        assert_eq!(r.unwrap_err().downcast_ref::<&str>(), Some(&"joined"));
    });
}

#[test]
fn unjoined_panic_is_reraised_after_all_finish() {
    gorun::run(|| {
        let finished = AtomicUsize::new(0);
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            gorun::scope(|s| {
                s.go(|| panic!("unjoined"));
                s.go(|| {
                    gorun::sleep(Duration::from_millis(5));
                    finished.fetch_add(1, Ordering::SeqCst);
                });
            })
        }));
        assert_eq!(r.unwrap_err().downcast_ref::<&str>(), Some(&"unjoined"));
        assert_eq!(finished.load(Ordering::SeqCst), 1);
    });
}

#[test]
fn closure_panic_waits_for_goroutines_first() {
    gorun::run(|| {
        let finished = AtomicUsize::new(0);
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            gorun::scope(|s| {
                s.go(|| {
                    gorun::sleep(Duration::from_millis(5));
                    finished.fetch_add(1, Ordering::SeqCst);
                });
                panic!("closure");
            })
        }));
        assert_eq!(r.unwrap_err().downcast_ref::<&str>(), Some(&"closure"));
        assert_eq!(
            finished.load(Ordering::SeqCst),
            1,
            "the goroutine finished first"
        );
    });
}

#[test]
fn scoped_handle_reports_finish() {
    gorun::run(|| {
        gorun::scope(|s| {
            let h = s.go(|| 1);
            while !h.is_finished() {
                gorun::yield_now();
            }
            assert!(h.id() > 1);
            assert_eq!(h.join().unwrap(), 1);
        });
    });
}

#[test]
fn shutdown_while_scoped_goroutines_run_gives_up_the_owner() {
    struct Says(&'static str);
    impl Drop for Says {
        fn drop(&mut self) {
            println!("{}", self.0);
        }
    }
    if in_child() {
        let r = gorun::run(|| {
            let (started_tx, started) = gorun::chan::<()>(0);
            gorun::go(move || {
                let (_tx, never) = gorun::chan::<()>(0);
                let owned = Says("owner data dropped");
                gorun::scope(|s| {
                    s.go(|| {
                        let _done = Says("scoped goroutine done");
                        let (_tx, forever) = gorun::chan::<()>(0);
                        started_tx.send(()).unwrap();
                        let _ = forever.recv(); // still parked when main returns
                        owned.0.len() // borrows the owner's data
                    });
                    let _ = never.recv();
                });
            });
            started.recv().unwrap();
            7 // main returns: the scope's owner is unwound while its goroutine lives
        });
        println!("run returned {r}");
        return;
    }
    let out = run_child("shutdown_while_scoped_goroutines_run_gives_up_the_owner");
    assert!(out.status.success(), "{}", out.stderr);
    assert!(out.stdout.contains("run returned 7"), "{}", out.stdout);
    // The owner's data is dropped only after the goroutine borrowing it is gone (or never).
    if let Some(dropped) = out.stdout.find("owner data dropped") {
        let done = out.stdout.find("scoped goroutine done");
        assert!(done.is_some_and(|d| d < dropped), "{}", out.stdout);
    }
}

#[test]
fn shutdown_after_scope_finished_is_fine() {
    gorun::run(|| {
        let h = gorun::go(|| {
            let x = 5;
            gorun::scope(|s| s.go(|| x * 2).join().unwrap())
        });
        assert_eq!(h.join().unwrap(), 10);
    });
}
