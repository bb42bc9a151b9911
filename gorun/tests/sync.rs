//! Tests for `gorun::sync`. Bounded iterations, no timing assertions.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use gorun::sync::{Barrier, Cond, Mutex, Once, OnceLock, RwLock, Semaphore, WaitGroup};

fn panic_msg(p: Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        s.to_string()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        String::new()
    }
}

// ---- The seed's programs ----

#[test]
fn seed_workers_with_waitgroup() {
    let log = gorun::run(|| {
        let log = Arc::new(Mutex::new(Vec::new()));
        let wg = WaitGroup::new();
        for id in 1..=5 {
            let log = log.clone();
            drop(wg.go(move || {
                log.lock().push(format!("Worker {id} starting"));
                gorun::sleep(Duration::from_millis(1));
                log.lock().push(format!("Worker {id} done"));
            }));
        }
        wg.wait();
        log.lock().push("All workers finished.".to_string());
        Arc::try_unwrap(log).unwrap().into_inner()
    });
    assert_eq!(log.len(), 11);
    assert_eq!(log.last().unwrap(), "All workers finished.");
    for id in 1..=5 {
        assert!(log[..10].contains(&format!("Worker {id} done")));
    }
}

static COUNTER: Mutex<i32> = Mutex::new(0);

#[test]
fn seed_counter_1000_goroutines() {
    gorun::run(|| {
        let wg = WaitGroup::new();
        for _ in 0..1000 {
            drop(wg.go(|| {
                *COUNTER.lock() += 1;
            }));
        }
        wg.wait();
        assert_eq!(*COUNTER.lock(), 1000);
    });
}

// ---- WaitGroup ----

#[test]
fn waitgroup_zero_returns_at_once() {
    WaitGroup::new().wait();
    gorun::run(|| WaitGroup::new().wait());
}

#[test]
fn waitgroup_guard_and_many_waiters() {
    gorun::run(|| {
        let wg = WaitGroup::new();
        let gate = WaitGroup::new();
        gate.add(1);
        let done = Arc::new(AtomicUsize::new(0));
        for _ in 0..50 {
            let g = wg.enter();
            let gate = gate.clone();
            let done = done.clone();
            gorun::go(move || {
                let _g = g;
                gate.wait();
                done.fetch_add(1, Ordering::SeqCst);
            });
        }
        // Several waiters on one group, goroutines and a thread.
        let waiters: Vec<_> = (0..5)
            .map(|_| {
                let wg = wg.clone();
                let done = done.clone();
                gorun::go(move || {
                    wg.wait();
                    assert_eq!(done.load(Ordering::SeqCst), 50);
                })
            })
            .collect();
        let t = {
            let wg = wg.clone();
            let done = done.clone();
            std::thread::spawn(move || {
                wg.wait();
                assert_eq!(done.load(Ordering::SeqCst), 50);
            })
        };
        gorun::yield_now();
        gate.done();
        wg.wait();
        for w in waiters {
            w.join().unwrap();
        }
        t.join().unwrap();
    });
}

#[test]
#[should_panic(expected = "sync: negative WaitGroup counter")]
fn waitgroup_negative_counter() {
    WaitGroup::new().done();
}

#[test]
fn waitgroup_go_calls_done_on_panic() {
    gorun::run(|| {
        let wg = WaitGroup::new();
        let h = wg.go(|| -> () { panic!("boom") });
        wg.wait();
        let e = h.join().unwrap_err();
        assert_eq!(panic_msg(e), "boom");
    });
}

// ---- Mutex ----

#[test]
fn mutex_basics() {
    let mut m = Mutex::new(5);
    *m.get_mut() += 1;
    {
        let g = m.lock();
        assert_eq!(*g, 6);
        assert!(m.try_lock().is_none());
        assert_eq!(format!("{m:?}"), "Mutex { data: <locked>, .. }");
    }
    assert!(m.try_lock().is_some());
    assert_eq!(format!("{:?}", m), "Mutex { data: 6, .. }");
    assert_eq!(m.into_inner(), 6);
    let d: Mutex<Vec<u8>> = Mutex::default();
    assert!(d.lock().is_empty());
}

#[test]
fn mutex_mixed_goroutines_and_threads() {
    let m = Arc::new(Mutex::new(0u64));
    let threads: Vec<_> = (0..2)
        .map(|_| {
            let m = m.clone();
            std::thread::spawn(move || {
                for _ in 0..2000 {
                    *m.lock() += 1;
                }
            })
        })
        .collect();
    let m2 = m.clone();
    gorun::run(move || {
        let wg = WaitGroup::new();
        for _ in 0..20 {
            let m = m2.clone();
            drop(wg.go(move || {
                for i in 0..200 {
                    *m.lock() += 1;
                    if i % 16 == 0 {
                        gorun::yield_now();
                    }
                }
            }));
        }
        wg.wait();
    });
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(*m.lock(), 2 * 2000 + 20 * 200);
}

#[test]
fn mutex_fairness_waiter_not_starved() {
    // A hammering goroutine locks and unlocks in a loop (yielding while holding the lock so
    // the waiter's chance to barge is poor); the waiter must get the lock within a bounded
    // number of hammer iterations thanks to hand-off mode.
    gorun::Builder::new().workers(2).run(|| {
        let m = Arc::new(Mutex::new(()));
        let got = Arc::new(AtomicBool::new(false));
        let iters = Arc::new(AtomicUsize::new(0));
        // The waiter is a plain thread started first: the hammer never yields, so nothing
        // else would run on its worker.
        let waiter = {
            let (m, got, iters) = (m.clone(), got.clone(), iters.clone());
            std::thread::spawn(move || {
                while iters.load(Ordering::SeqCst) < 3 {
                    std::thread::yield_now();
                }
                let _g = m.lock();
                got.store(true, Ordering::SeqCst);
            })
        };
        let hammer = {
            let (m, got, iters) = (m.clone(), got.clone(), iters.clone());
            gorun::go(move || {
                while !got.load(Ordering::SeqCst) {
                    let g = m.lock();
                    iters.fetch_add(1, Ordering::SeqCst);
                    std::thread::sleep(Duration::from_micros(100));
                    drop(g);
                    assert!(iters.load(Ordering::SeqCst) < 100_000, "waiter starved");
                }
            })
        };
        // Park (not block) the main goroutine so the hammer can run on its worker.
        hammer.join().unwrap();
        waiter.join().unwrap();
        // 1 ms of starvation at 100 µs per iteration: hand-off after roughly ten; allow a
        // lot of slack for a loaded machine.
        assert!(iters.load(Ordering::SeqCst) < 100_000);
    });
}

// ---- RwLock ----

#[test]
fn rwlock_basics() {
    let l = RwLock::new(1);
    {
        let a = l.read();
        let b = l.try_read().unwrap();
        assert_eq!(*a + *b, 2);
        assert!(l.try_write().is_none());
    }
    *l.write() += 1;
    assert!(l.try_read().is_some());
    {
        let _w = l.try_write().unwrap();
        assert!(l.try_read().is_none());
    }
    assert_eq!(l.into_inner(), 2);
}

#[test]
fn rwlock_writer_preference() {
    gorun::run(|| {
        let l = Arc::new(RwLock::new(Vec::<&str>::new()));
        let r1 = l.read();
        // A writer queues behind the reader.
        let w = {
            let l = l.clone();
            std::thread::spawn(move || l.write().push("writer"))
        };
        // Wait until the writer is queued: then try_read must fail.
        while l.try_read().is_some() {
            std::thread::yield_now();
        }
        // A later reader waits behind the writer.
        let r2 = {
            let l = l.clone();
            gorun::go(move || {
                let g = l.read();
                g.clone()
            })
        };
        gorun::yield_now();
        drop(r1);
        w.join().unwrap();
        assert_eq!(r2.join().unwrap(), vec!["writer"]);
    });
}

#[test]
fn rwlock_mixed_stress() {
    gorun::run(|| {
        let l = Arc::new(RwLock::new((0u64, 0u64)));
        let wg = WaitGroup::new();
        for i in 0..20 {
            let l = l.clone();
            drop(wg.go(move || {
                for j in 0..200 {
                    if (i + j) % 4 == 0 {
                        let mut g = l.write();
                        g.0 += 1;
                        gorun::yield_now();
                        g.1 += 1;
                    } else {
                        let g = l.read();
                        assert_eq!(g.0, g.1);
                        gorun::yield_now();
                    }
                }
            }));
        }
        let t = {
            let l = l.clone();
            std::thread::spawn(move || {
                for _ in 0..500 {
                    let mut g = l.write();
                    g.0 += 1;
                    g.1 += 1;
                    drop(g);
                    let g = l.read();
                    assert_eq!(g.0, g.1);
                }
            })
        };
        wg.wait();
        t.join().unwrap();
        let g = l.read();
        assert_eq!(g.0, 20 * 200 / 4 + 500);
    });
}

// ---- Once / OnceLock ----

#[test]
fn once_runs_once_concurrently() {
    static ONCE: Once = Once::new();
    static RUNS: AtomicUsize = AtomicUsize::new(0);
    gorun::run(|| {
        let wg = WaitGroup::new();
        for _ in 0..50 {
            drop(wg.go(|| {
                ONCE.call_once(|| {
                    gorun::sleep(Duration::from_millis(2));
                    RUNS.fetch_add(1, Ordering::SeqCst);
                });
                // Everyone returns only after the run finished.
                assert_eq!(RUNS.load(Ordering::SeqCst), 1);
            }));
        }
        wg.wait();
    });
    assert!(ONCE.is_completed());
}

#[test]
fn once_done_even_if_panicked() {
    let once = Once::new();
    let r = catch_unwind(AssertUnwindSafe(|| {
        once.call_once(|| panic!("init failed"))
    }));
    assert!(r.is_err());
    assert!(once.is_completed());
    let mut ran = false;
    once.call_once(|| ran = true);
    assert!(!ran);
}

#[test]
fn oncelock_get_or_init() {
    let cell: OnceLock<String> = OnceLock::new();
    assert!(cell.get().is_none());
    let r = catch_unwind(AssertUnwindSafe(|| cell.get_or_init(|| panic!("no"))));
    assert!(r.is_err());
    assert!(cell.get().is_none());
    assert_eq!(cell.get_or_init(|| "a".into()), "a");
    assert_eq!(cell.set("b".into()), Err("b".into()));
    assert_eq!(cell.into_inner().as_deref(), Some("a"));
}

// ---- Cond ----

#[test]
fn cond_signal_fifo_order() {
    gorun::Builder::new().workers(2).run(|| {
        let state = Arc::new((Mutex::new((0usize, Vec::new())), Cond::new()));
        let mut hs = Vec::new();
        for id in 0..5usize {
            let s = state.clone();
            hs.push(gorun::go(move || {
                let (m, c) = &*s;
                let mut g = m.lock();
                g.0 += 1; // registered as waiting (under the mutex, before waiting)
                g = c.wait(g);
                g.1.push(id);
            }));
            // Wait until this one is queued before starting the next, to fix the order.
            loop {
                let g = state.0.lock();
                if g.0 == id + 1 {
                    break;
                }
                drop(g);
                gorun::yield_now();
            }
        }
        for _ in 0..5 {
            state.1.signal();
            // Let the woken one record itself before the next signal.
            let n = state.0.lock().1.len();
            loop {
                if state.0.lock().1.len() > n {
                    break;
                }
                gorun::yield_now();
            }
        }
        for h in hs {
            h.join().unwrap();
        }
        assert_eq!(state.0.lock().1, vec![0, 1, 2, 3, 4]);
    });
}

#[test]
fn cond_no_lost_wakeups_broadcast_and_threads() {
    gorun::run(|| {
        // Ping-pong a turn counter between goroutines and a thread through one Cond.
        let state = Arc::new((Mutex::new(0usize), Cond::new()));
        const ROUNDS: usize = 300;
        let mut hs = Vec::new();
        for me in 0..3usize {
            let s = state.clone();
            hs.push(gorun::go(move || {
                let (m, c) = &*s;
                for _ in 0..ROUNDS {
                    let mut g = m.lock();
                    while *g % 4 != me {
                        g = c.wait(g);
                    }
                    *g += 1;
                    c.broadcast();
                }
            }));
        }
        let t = {
            let s = state.clone();
            std::thread::spawn(move || {
                let (m, c) = &*s;
                for _ in 0..ROUNDS {
                    let mut g = m.lock();
                    while *g % 4 != 3 {
                        g = c.wait(g);
                    }
                    *g += 1;
                    c.broadcast();
                }
            })
        };
        for h in hs {
            h.join().unwrap();
        }
        t.join().unwrap();
        assert_eq!(*state.0.lock(), 4 * ROUNDS);
    });
}

// ---- Semaphore / Barrier ----

#[test]
fn semaphore_limits_concurrency() {
    gorun::run(|| {
        let sem = Arc::new(Semaphore::new(3));
        let inside = Arc::new(AtomicUsize::new(0));
        let wg = WaitGroup::new();
        for _ in 0..30 {
            let (sem, inside) = (sem.clone(), inside.clone());
            drop(wg.go(move || {
                let _p = sem.acquire();
                let n = inside.fetch_add(1, Ordering::SeqCst) + 1;
                assert!(n <= 3);
                gorun::yield_now();
                inside.fetch_sub(1, Ordering::SeqCst);
            }));
        }
        wg.wait();
        assert_eq!(sem.available_permits(), 3);
        let p = sem.try_acquire().unwrap();
        p.forget();
        assert_eq!(sem.available_permits(), 2);
        sem.release();
        assert_eq!(sem.available_permits(), 3);
    });
}

#[test]
fn barrier_rounds() {
    gorun::run(|| {
        let b = Arc::new(Barrier::new(4));
        let phase = Arc::new(AtomicUsize::new(0));
        let leaders = Arc::new(AtomicUsize::new(0));
        let wg = WaitGroup::new();
        for i in 0..4 {
            let (b, phase, leaders) = (b.clone(), phase.clone(), leaders.clone());
            let body = move || {
                for round in 0..10 {
                    assert!(phase.load(Ordering::SeqCst) >= round * 4);
                    phase.fetch_add(1, Ordering::SeqCst);
                    if b.wait().is_leader() {
                        leaders.fetch_add(1, Ordering::SeqCst);
                    }
                    assert!(phase.load(Ordering::SeqCst) >= (round + 1) * 4);
                    b.wait();
                }
            };
            if i == 0 {
                let g = wg.enter();
                std::thread::spawn(move || {
                    let _g = g;
                    body()
                });
            } else {
                drop(wg.go(body));
            }
        }
        wg.wait();
        assert_eq!(leaders.load(Ordering::SeqCst), 10);
    });
}

// ---- Statics outliving a runtime that abandoned its waiters ----

static SHARED: Mutex<u32> = Mutex::new(0);
static SHARED_RW: RwLock<u32> = RwLock::new(0);

#[test]
fn static_locks_survive_abandoned_waiters() {
    // Runtime 1 ends while goroutines are parked on the locks (one of them just woken):
    // they are unwound, and the locks must stay usable.
    gorun::Builder::new().workers(1).run(|| {
        let g = SHARED.lock();
        let w = SHARED_RW.write();
        for _ in 0..3 {
            gorun::go(|| *SHARED.lock() += 1);
            gorun::go(|| *SHARED_RW.read() + 1);
            gorun::go(|| *SHARED_RW.write() += 1);
        }
        for _ in 0..10 {
            gorun::yield_now();
        }
        drop(w);
        drop(g); // wakes a waiter that never gets to run
    });
    // Runtime 2 (and threads) contend on the same statics.
    gorun::run(|| {
        let wg = WaitGroup::new();
        for _ in 0..20 {
            drop(wg.go(|| {
                for i in 0..100 {
                    *SHARED.lock() += 1;
                    *SHARED_RW.write() += 1;
                    let _r = SHARED_RW.read();
                    if i % 8 == 0 {
                        gorun::yield_now();
                    }
                }
            }));
        }
        wg.wait();
    });
    let base = *SHARED.lock();
    assert!(base >= 2000);
    assert!(SHARED.try_lock().is_some());
    assert!(SHARED_RW.try_write().is_some());
}

#[test]
fn waitgroup_reuse_detected_deterministically() {
    // One worker: done() grants the waiter but it cannot run before add(1) on this
    // goroutine, so its check sees the group reused.
    gorun::Builder::new().workers(1).run(|| {
        let wg = WaitGroup::new();
        wg.add(1);
        let w2 = wg.clone();
        let h = gorun::go(move || w2.wait());
        gorun::yield_now(); // the waiter parks
        wg.done();
        wg.add(1);
        let e = h.join().unwrap_err();
        assert_eq!(
            panic_msg(e),
            "sync: WaitGroup is reused before previous Wait has returned"
        );
        wg.done();
    });
}
