//! The core runtime: spawning, joining, panics, sleeping, blocking, pinning.

use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

mod common;
use common::{in_child, run_child, DropFlag};

#[test]
fn spawn_and_join_100k() {
    let sum = gorun::run(|| {
        let handles: Vec<_> = (0..100_000u64).map(|i| gorun::go(move || i)).collect();
        handles.into_iter().map(|h| h.join().unwrap()).sum::<u64>()
    });
    assert_eq!(sum, 100_000 * 99_999 / 2);
}

#[test]
fn nested_spawns_use_every_worker() {
    let threads = gorun::Builder::new().workers(2).run(|| {
        fn tree(depth: u32, seen: Arc<Mutex<Vec<std::thread::ThreadId>>>) -> u64 {
            seen.lock().unwrap().push(std::thread::current().id());
            if depth == 0 {
                // Give the other worker a chance to steal siblings.
                for _ in 0..10 {
                    gorun::yield_now();
                }
                return 1;
            }
            let kids: Vec<_> = (0..4)
                .map(|_| {
                    let seen = seen.clone();
                    gorun::go(move || tree(depth - 1, seen))
                })
                .collect();
            kids.into_iter().map(|k| k.join().unwrap()).sum()
        }
        let seen = Arc::new(Mutex::new(Vec::new()));
        let leaves = tree(6, seen.clone());
        assert_eq!(leaves, 4u64.pow(6));
        let mut ids = seen.lock().unwrap().clone();
        ids.sort_by_key(|t| format!("{t:?}"));
        ids.dedup();
        ids.len()
    });
    assert_eq!(threads, 2, "goroutines ran on both workers");
}

#[test]
fn join_returns_results_and_panics() {
    gorun::run(|| {
        assert_eq!(gorun::go(|| "hello".to_string()).join().unwrap(), "hello");
        let n = std::hint::black_box(7);
        let err = gorun::go(move || -> i32 { panic!("kaboom {n}") })
            .join()
            .unwrap_err();
        assert_eq!(
            err.downcast_ref::<String>().map(String::as_str),
            Some("kaboom 7")
        );
    });
}

#[test]
fn main_goroutine_is_one_and_ids_increase() {
    gorun::run(|| {
        assert_eq!(gorun::current_id(), 1);
        let a = gorun::go(gorun::current_id);
        let b = gorun::go(gorun::current_id);
        let (ia, ib) = (a.id(), b.id());
        assert_eq!(a.join().unwrap(), ia);
        assert_eq!(b.join().unwrap(), ib);
        assert!(ia > 1 && ib > ia);
    });
    assert_eq!(gorun::current_id(), 0, "a plain thread has no goroutine id");
}

#[test]
fn main_panic_propagates_out_of_run() {
    let r = std::panic::catch_unwind(|| gorun::run(|| panic!("main failed")));
    let p = r.unwrap_err();
    assert_eq!(p.downcast_ref::<&str>(), Some(&"main failed"));
}

#[test]
fn run_borrows_from_the_caller() {
    let data = [1, 2, 3];
    let total = gorun::run(|| data.iter().sum::<i32>());
    assert_eq!(total, 6);
}

#[test]
fn run_from_eight_threads_at_once() {
    let threads: Vec<_> = (0..8u64)
        .map(|t| {
            std::thread::spawn(move || {
                gorun::Builder::new().workers(2).run(move || {
                    let hs: Vec<_> = (0..1000u64).map(|i| gorun::go(move || i * t)).collect();
                    hs.into_iter().map(|h| h.join().unwrap()).sum::<u64>()
                })
            })
        })
        .collect();
    for (t, th) in threads.into_iter().enumerate() {
        assert_eq!(th.join().unwrap(), t as u64 * 999 * 1000 / 2);
    }
}

#[test]
#[should_panic(expected = "gorun::run called from inside a goroutine")]
fn run_inside_a_goroutine_panics() {
    gorun::run(|| {
        if let Err(p) = gorun::go(|| gorun::run(|| ())).join() {
            std::panic::resume_unwind(p);
        }
    });
}

#[test]
#[should_panic(expected = "wrap the program in gorun::run")]
fn go_outside_a_runtime_panics() {
    gorun::go(|| ());
}

#[test]
#[should_panic(expected = "must be positive")]
fn zero_stack_size_is_rejected() {
    let _ = gorun::Builder::new().stack_size(0);
}

#[test]
#[should_panic(expected = "absurd")]
fn huge_stack_size_is_rejected() {
    let _ = gorun::Builder::new().stack_size(1 << 40);
}

#[test]
fn sleep_wakes_in_deadline_order() {
    let order = gorun::run(|| {
        let order = Arc::new(Mutex::new(Vec::new()));
        let hs: Vec<_> = [50u64, 10, 30, 0, 20, 40]
            .into_iter()
            .map(|ms| {
                let order = order.clone();
                gorun::go(move || {
                    gorun::sleep(Duration::from_millis(ms * 3));
                    order.lock().unwrap().push(ms);
                })
            })
            .collect();
        for h in hs {
            h.join().unwrap();
        }
        let v = order.lock().unwrap().clone();
        v
    });
    assert_eq!(order, vec![0, 10, 20, 30, 40, 50]);
}

#[test]
fn blocking_does_not_stall_the_worker() {
    gorun::Builder::new().workers(1).run(|| {
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        // The blocking call waits until another goroutine on the only worker runs.
        let waiter = gorun::go(move || gorun::blocking(move || rx.recv().unwrap()));
        let sender = gorun::go(move || {
            gorun::yield_now();
            tx.send(()).unwrap();
        });
        sender.join().unwrap();
        waiter.join().unwrap();
    });
}

#[test]
fn blocking_resumes_panics() {
    gorun::run(|| {
        let r = gorun::go(|| gorun::blocking(|| -> u8 { panic!("in the pool") })).join();
        assert!(r.is_err());
        assert_eq!(gorun::blocking(|| 5), 5);
    });
}

#[test]
fn goroutines_never_change_thread() {
    let moved = gorun::Builder::new().workers(2).run(|| {
        let moved = Arc::new(AtomicUsize::new(0));
        let hs: Vec<_> = (0..200)
            .map(|i| {
                let moved = moved.clone();
                gorun::go(move || {
                    let me = std::thread::current().id();
                    for j in 0..20 {
                        match (i + j) % 4 {
                            0 => gorun::yield_now(),
                            1 => gorun::sleep(Duration::from_micros(50)),
                            2 => gorun::go(|| ()).join().unwrap(),
                            _ => gorun::blocking(|| ()),
                        }
                        if std::thread::current().id() != me {
                            moved.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                })
            })
            .collect();
        for h in hs {
            h.join().unwrap();
        }
        moved.load(Ordering::Relaxed)
    });
    assert_eq!(moved, 0);
}

#[test]
fn rc_lives_across_yields() {
    gorun::run(|| {
        let h = gorun::go(|| {
            let shared = Rc::new(5);
            let other = shared.clone();
            gorun::yield_now();
            gorun::sleep(Duration::from_millis(1));
            *shared + *other
        });
        assert_eq!(h.join().unwrap(), 10);
    });
}

#[test]
fn num_goroutine_counts_live_goroutines() {
    gorun::run(|| {
        assert_eq!(gorun::num_goroutine(), 1);
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let h = gorun::go(move || gorun::blocking(move || rx.recv().unwrap()));
        gorun::yield_now();
        assert_eq!(gorun::num_goroutine(), 2);
        tx.send(()).unwrap();
        h.join().unwrap();
        assert_eq!(gorun::num_goroutine(), 1);
    });
}

#[test]
fn abandoned_goroutines_are_unwound_at_exit() {
    let dropped = Arc::new(AtomicUsize::new(0));
    let d = dropped.clone();
    gorun::run(move || {
        for _ in 0..10 {
            let flag = DropFlag(d.clone());
            gorun::go(move || {
                let _flag = flag;
                gorun::sleep(Duration::from_secs(3600));
            });
        }
        gorun::sleep(Duration::from_millis(5));
    });
    assert_eq!(dropped.load(Ordering::SeqCst), 10);
}

/// Unstarted goroutines run newest first (depth first, like a call tree), but the oldest
/// is not starved: one spawned before a flood of newer spawns runs long before the flood
/// ends.
#[test]
fn oldest_unstarted_goroutine_is_not_starved() {
    fn tree(depth: u32, done: Arc<AtomicUsize>) {
        done.fetch_add(1, Ordering::SeqCst);
        if depth > 0 {
            for _ in 0..2 {
                let done = done.clone();
                gorun::go(move || tree(depth - 1, done));
            }
        }
    }
    gorun::Builder::new().workers(1).run(|| {
        let done = Arc::new(AtomicUsize::new(0));
        let seen = Arc::new(AtomicUsize::new(usize::MAX));
        let (d, s) = (done.clone(), seen.clone());
        let old = gorun::go(move || s.store(d.load(Ordering::SeqCst), Ordering::SeqCst));
        let d = done.clone();
        gorun::go(move || tree(16, d)); // 131,071 goroutines
        old.join().unwrap();
        let at = seen.load(Ordering::SeqCst);
        assert!(
            at < 10_000,
            "the old goroutine ran only after {at} newer ones"
        );
    });
}

/// A goroutine that only ever yields, alone on its worker, still lets the runtime shut
/// down when main returns (and is unwound like any other).
#[test]
fn runtime_exits_while_a_goroutine_yields_forever() {
    let dropped = Arc::new(AtomicUsize::new(0));
    let d = dropped.clone();
    gorun::Builder::new().workers(2).run(move || {
        let flag = DropFlag(d);
        gorun::go(move || {
            let _flag = flag;
            loop {
                gorun::yield_now();
            }
        });
        gorun::sleep(Duration::from_millis(20));
    });
    assert_eq!(dropped.load(Ordering::SeqCst), 1);
}

#[test]
fn detached_panic_exits_with_code_2() {
    if in_child() {
        gorun::run(|| {
            gorun::go(|| panic!("detached boom"));
            gorun::sleep(Duration::from_secs(10));
        });
        return;
    }
    let out = run_child("detached_panic_exits_with_code_2");
    assert_eq!(out.status.code(), Some(2), "stderr: {}", out.stderr);
    assert!(
        out.stderr.contains("panic: detached boom"),
        "stderr: {}",
        out.stderr
    );
    assert!(
        out.stderr.contains("goroutine 2 [running]:"),
        "stderr: {}",
        out.stderr
    );
    assert!(
        out.stderr.contains("tests/runtime.rs"),
        "creation site: {}",
        out.stderr
    );
}

#[test]
fn stack_overflow_is_reported() {
    if in_child() {
        #[allow(unconditional_recursion)]
        fn recurse(n: u64) -> u64 {
            let buf = std::hint::black_box([n; 64]);
            recurse(buf[3] + 1) + buf[5]
        }
        gorun::run(|| {
            gorun::go(|| recurse(0)).join().ok();
        });
        return;
    }
    let out = run_child("stack_overflow_is_reported");
    assert_eq!(out.status.code(), Some(2), "stderr: {}", out.stderr);
    assert!(
        out.stderr.contains("fatal error: stack overflow"),
        "stderr: {}",
        out.stderr
    );
    assert!(
        out.stderr.contains("goroutine 2 [running]"),
        "stderr: {}",
        out.stderr
    );
    // The default stack is 256 KiB; the hint suggests four times that.
    assert!(
        out.stderr.contains("262144-byte limit"),
        "stderr: {}",
        out.stderr
    );
    assert!(
        out.stderr
            .contains("gorun::GoBuilder::new().stack_size(1048576)"),
        "stderr: {}",
        out.stderr
    );
}

#[test]
fn other_segfaults_still_crash() {
    if in_child() {
        gorun::run(|| {
            // SAFETY: deliberately invalid, to check the fault reaches the default handler.
            unsafe { std::ptr::write_volatile(16 as *mut u64, 1) };
        });
        return;
    }
    let out = run_child("other_segfaults_still_crash");
    assert!(!out.status.success());
    assert!(
        !out.stderr.contains("stack overflow"),
        "stderr: {}",
        out.stderr
    );
}

/// Skynet on two workers: a tree of goroutines whose stacks are freed and reused on both
/// workers at once (a regression test for a stack slot released while being reused).
#[test]
fn skynet_tree_on_two_workers() {
    fn node(tx: gorun::Sender<u64>, num: u64, size: u64) {
        if size == 1 {
            tx.send(num).ok();
            return;
        }
        let (rtx, rrx) = gorun::chan::<u64>(0);
        let sub = size / 10;
        for i in 0..10 {
            let rtx = rtx.clone();
            gorun::go(move || node(rtx, num + i * sub, sub));
        }
        drop(rtx);
        let sum: u64 = (0..10).map(|_| rrx.recv().unwrap()).sum();
        tx.send(sum).ok();
    }
    for _ in 0..3 {
        let sum = gorun::Builder::new().workers(2).run(|| {
            let (tx, rx) = gorun::chan::<u64>(0);
            gorun::go(move || node(tx, 0, 1_000_000));
            rx.recv().unwrap()
        });
        assert_eq!(sum, 1_000_000 * 999_999 / 2);
    }
}

#[gorun::test]
fn the_test_attribute_runs_the_body_as_main() {
    assert_eq!(gorun::current_id(), 1);
    assert_eq!(gorun::go(|| 2 + 2).join().unwrap(), 4);
}

#[test]
fn plain_threads_join_goroutines_and_use_the_api_outside_a_runtime() {
    assert_eq!(gorun::num_goroutine(), 0);
    gorun::sleep(Duration::from_millis(1)); // a thread sleep
    assert_eq!(gorun::blocking(|| 3), 3); // runs inline
    gorun::yield_now();
    let (tx, rx) = std::sync::mpsc::channel();
    let t = std::thread::spawn(move || {
        gorun::run(|| {
            let h = gorun::go(|| 40);
            tx.send(h).unwrap();
            gorun::sleep(Duration::from_millis(20));
        })
    });
    // A plain thread joins a goroutine of another thread's runtime.
    let h = rx.recv().unwrap();
    assert_eq!(h.join().unwrap(), 40);
    t.join().unwrap();
}
