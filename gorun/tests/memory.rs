//! Copy-on-park: parked stacks move to the heap and come back intact. Linux only: macOS
//! has no copy-on-park (see `gorun/src/sys/macos.rs`).
#![cfg(target_os = "linux")]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use gorun::sync::WaitGroup;

mod common;
use common::{in_child, run_child, skip_under_emulation, DropFlag};

/// A runtime that evicts every parked stack as soon as it can.
fn evict_everything() -> gorun::Builder {
    gorun::Builder::new().resident_stack_budget(Some(0))
}

/// Fills a stack buffer from `seed` and checks it later: locals must survive eviction.
fn pattern(seed: u64) -> [u64; 64] {
    std::array::from_fn(|i| seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ i as u64)
}

#[test]
fn locals_survive_eviction_and_restore() {
    const N: u64 = 20_000;
    let evictions = evict_everything().run(|| {
        let gate = WaitGroup::new();
        gate.add(1);
        let ok = Arc::new(AtomicUsize::new(0));
        let hs: Vec<_> = (0..N)
            .map(|i| {
                let (gate, ok) = (gate.clone(), ok.clone());
                gorun::go(move || {
                    let local = pattern(i);
                    let boxed = Box::new(i);
                    gate.wait();
                    if std::hint::black_box(local) == pattern(i) && *boxed == i {
                        ok.fetch_add(1, Ordering::Relaxed);
                    }
                })
            })
            .collect();
        while gorun::metrics().evictions < N / 2 {
            gorun::sleep(Duration::from_millis(1));
        }
        let evictions = gorun::metrics().evictions;
        gate.done();
        for h in hs {
            h.join().unwrap();
        }
        assert_eq!(ok.load(Ordering::Relaxed), N as usize);
        evictions
    });
    assert!(evictions >= N / 2);
}

#[test]
fn deep_stacks_survive() {
    fn recurse(depth: u32, rx: &gorun::Receiver<u32>) -> u64 {
        let frame = pattern(depth as u64);
        let below = if depth == 0 {
            rx.recv().unwrap() as u64
        } else {
            recurse(depth - 1, rx)
        };
        below + std::hint::black_box(frame)[depth as usize % 64]
            - pattern(depth as u64)[depth as usize % 64]
    }
    evict_everything().run(|| {
        let (tx, rx) = gorun::chan::<u32>(0);
        let hs: Vec<_> = (0..50)
            .map(|_| {
                let rx = rx.clone();
                gorun::go(move || recurse(12, &rx))
            })
            .collect();
        gorun::sleep(Duration::from_millis(20));
        assert!(gorun::metrics().evictions >= 1);
        for i in 0..50 {
            tx.send(i).unwrap();
        }
        let mut got: Vec<u64> = hs.into_iter().map(|h| h.join().unwrap()).collect();
        got.sort_unstable();
        assert_eq!(got, (0..50).collect::<Vec<u64>>());
    });
}

#[test]
fn eviction_under_concurrent_wakeups() {
    evict_everything().workers(2).run(|| {
        let pairs: Vec<_> = (0..64u64)
            .map(|p| {
                let (tx, rx) = gorun::chan::<u64>(0);
                let (back_tx, back_rx) = gorun::chan::<u64>(0);
                let echo = gorun::go(move || {
                    let mine = pattern(p);
                    for v in &rx {
                        assert_eq!(std::hint::black_box(mine), pattern(p));
                        back_tx.send(v + 1).unwrap();
                    }
                });
                // Wake from a plain thread too, racing with the worker's evictions.
                let driver = std::thread::spawn(move || {
                    let mut v = p;
                    for _ in 0..200 {
                        tx.send(v).unwrap();
                        v = back_rx.recv().unwrap();
                    }
                    v
                });
                (echo, driver)
            })
            .collect();
        for (p, (echo, driver)) in pairs.into_iter().enumerate() {
            let v = gorun::blocking(move || driver.join().unwrap());
            assert_eq!(v, p as u64 + 200);
            echo.join().unwrap();
        }
        assert!(gorun::metrics().evictions > 0);
    });
}

#[test]
fn hot_goroutines_are_not_evicted_under_budget() {
    gorun::run(|| {
        let (tx, rx) = gorun::chan::<u32>(0);
        let (back_tx, back_rx) = gorun::chan::<u32>(0);
        let h = gorun::go(move || {
            for v in &rx {
                back_tx.send(v).unwrap();
            }
        });
        for i in 0..10_000 {
            tx.send(i).unwrap();
            back_rx.recv().unwrap();
        }
        drop(tx);
        h.join().unwrap();
        assert_eq!(gorun::metrics().evictions, 0);
    });
}

#[test]
fn off_switch_disables_eviction() {
    gorun::Builder::new().resident_stack_budget(None).run(|| {
        let wg = WaitGroup::new();
        wg.add(1);
        let hs: Vec<_> = (0..1000)
            .map(|_| {
                let wg = wg.clone();
                gorun::go(move || wg.wait())
            })
            .collect();
        gorun::sleep(Duration::from_millis(150));
        wg.done();
        for h in hs {
            h.join().unwrap();
        }
        assert_eq!(gorun::metrics().evictions, 0);
    });
}

#[test]
fn age_based_eviction() {
    gorun::Builder::new()
        .evict_after(Some(Duration::from_millis(20)))
        .run(|| {
            let wg = WaitGroup::new();
            wg.add(1);
            let w = wg.clone();
            let h = gorun::go(move || w.wait());
            gorun::sleep(Duration::from_millis(200));
            // The waiter, and main itself while it slept.
            assert!(gorun::metrics().evictions >= 1);
            assert!(gorun::dump().contains("goroutine 2 [sync.WaitGroup.Wait]:"));
            wg.done();
            h.join().unwrap();
        });
}

#[test]
fn evicted_goroutines_unwind_at_exit() {
    let dropped = Arc::new(AtomicUsize::new(0));
    let d = dropped.clone();
    evict_everything().run(move || {
        for _ in 0..100 {
            let flag = DropFlag(d.clone());
            gorun::go(move || {
                let _flag = flag;
                let (_tx, rx) = gorun::chan::<()>(0);
                rx.recv().ok();
            });
        }
        while gorun::metrics().evictions < 100 {
            gorun::sleep(Duration::from_millis(1));
        }
    });
    assert_eq!(dropped.load(Ordering::SeqCst), 100);
}

/// A pointer into a goroutine's stack handed to another goroutine (only possible with
/// `unsafe`): while the owner is pinned it works; once evicted, using it is reported.
fn leak_stack_pointer(pin: bool) {
    evict_everything().run(move || {
        let (addr_tx, addr_rx) = gorun::chan::<usize>(0);
        let (_never_tx, never_rx) = gorun::chan::<()>(0);
        gorun::go(move || {
            let _pin = pin.then(gorun::pin_stack);
            let secret = [7u64; 8];
            addr_tx.send(secret.as_ptr() as usize).unwrap();
            never_rx.recv().ok(); // park, long enough to be evicted
            std::hint::black_box(&secret);
        });
        let addr = addr_rx.recv().unwrap();
        gorun::sleep(Duration::from_millis(50)); // the owner is parked and evicted by now
                                                 // SAFETY: deliberately not: this reads another goroutine's stack.
        let v = unsafe { std::ptr::read_volatile(addr as *const u64) };
        println!("read {v}");
    });
}

#[test]
fn access_to_an_evicted_stack_is_reported() {
    if skip_under_emulation(
        "evicted stacks are guarded only with guard markers, and qemu-user accepts \
         MADV_GUARD_INSTALL without applying it (gorun detects this and does not guard)",
    ) {
        return;
    }
    if in_child() {
        leak_stack_pointer(false);
        return;
    }
    let out = run_child("access_to_an_evicted_stack_is_reported");
    assert_eq!(out.status.code(), Some(2), "stderr: {}", out.stderr);
    assert!(
        out.stderr
            .contains("fatal error: unexpected access to the evicted stack of goroutine 2"),
        "stderr: {}",
        out.stderr
    );
    assert!(!out.stdout.contains("read"));
}

#[test]
fn pinned_stacks_stay_resident() {
    if in_child() {
        leak_stack_pointer(true);
        return;
    }
    let out = run_child("pinned_stacks_stay_resident");
    assert!(out.status.success(), "stderr: {}", out.stderr);
    assert!(out.stdout.contains("read 7"), "stdout: {}", out.stdout);
}
