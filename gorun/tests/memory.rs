//! Copy-on-park: parked stacks move to the heap and come back intact. Linux only: macOS
//! has no copy-on-park (see `gorun/src/sys/macos.rs`).
#![cfg(target_os = "linux")]

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use gorun::sync::WaitGroup;

mod common;
use common::{in_child, run_child, run_child_with, skip_under_emulation, DropFlag};

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
/// `unsafe`): whether or not the owner is pinned (a hint now), reading through it finds what
/// the owner left, evicted or not.
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
        let evicted = gorun::metrics().evictions;
        // SAFETY: the owner never returns (it waits forever), so its stack stays allocated.
        let v = unsafe { std::ptr::read_volatile(addr as *const u64) };
        println!("read {v} after {evicted} evictions");
    });
}

#[test]
fn access_to_an_evicted_stack_finds_what_was_left() {
    if skip_under_emulation(
        "evicted stacks are restored from a fault handler through /proc/self/mem, which \
         qemu-user does not emulate faithfully",
    ) {
        return;
    }
    if in_child() {
        leak_stack_pointer(false);
        return;
    }
    let out = run_child("access_to_an_evicted_stack_finds_what_was_left");
    assert!(out.status.success(), "stderr: {}", out.stderr);
    assert!(
        out.stdout.contains("read 7 after"),
        "stdout: {}",
        out.stdout
    );
    assert!(
        !out.stdout.contains("after 0 evictions"),
        "stdout: {}",
        out.stdout
    );
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

/// Runs the test `name` in a child process without guard markers (the `mprotect` path that
/// older kernels take) and checks that it passed.
fn passes_without_guard_markers(name: &str) {
    let out = run_child_with(name, &[("GORUN_STACK_GUARDS", "mprotect")]);
    assert!(
        out.status.success(),
        "stdout: {}\nstderr: {}",
        out.stdout,
        out.stderr
    );
    assert!(out.stdout.contains("1 passed"), "stdout: {}", out.stdout);
}

/// Two tests running `body`: in this process (guard markers, where the kernel has them), and
/// in a child process without guard markers.
macro_rules! on_both_guard_paths {
    ($name:ident, $without:ident, $body:expr) => {
        #[test]
        fn $name() {
            $body;
        }

        #[test]
        fn $without() {
            if in_child() {
                $body;
                return;
            }
            passes_without_guard_markers(stringify!($without));
        }
    };
}

/// Keeps `seen` up to date with the runtime's eviction count (which plain threads cannot
/// read), until `stop`. Its own stack is pinned, so it never counts itself.
fn watch_evictions(seen: Arc<AtomicU64>, stop: Arc<AtomicBool>) -> gorun::JoinHandle<()> {
    gorun::go(move || {
        let _pin = gorun::pin_stack();
        while !stop.load(Ordering::Relaxed) {
            seen.store(gorun::metrics().evictions, Ordering::Relaxed);
            gorun::sleep(Duration::from_millis(1));
        }
    })
}

/// Runs `f` on a runtime of `workers` workers that evicts every parked stack as soon as it
/// can, with a watcher keeping the count it gets up to date; returns the evictions.
fn run_watched(workers: usize, f: impl FnOnce(&Arc<AtomicU64>)) -> u64 {
    gorun::Builder::new()
        .workers(workers)
        .resident_stack_budget(Some(0))
        .evict_after(Some(Duration::from_millis(1)))
        .run(|| {
            let seen = Arc::new(AtomicU64::new(0));
            let stop = Arc::new(AtomicBool::new(false));
            let watcher = watch_evictions(seen.clone(), stop.clone());
            f(&seen);
            stop.store(true, Ordering::Relaxed);
            watcher.join().unwrap();
            gorun::metrics().evictions
        })
}

/// Waits (a bounded while; tests assert no timing) until `seen` reaches `target`.
fn wait_for(seen: &AtomicU64, target: u64) {
    for _ in 0..5000 {
        if seen.load(Ordering::Relaxed) >= target {
            return;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// The calling goroutine lends a stack buffer to a scoped thread and parks on a channel
/// while the thread reads and writes it, `rounds` times; after each round, both sides check
/// every word. Before each round, the thread waits until `seen` (evictions so far) reaches
/// `target(round)`.
fn lend_stack_to_a_thread(rounds: u64, seen: &AtomicU64, target: impl Fn(u64) -> u64 + Send) {
    let words: [AtomicU64; 512] = std::array::from_fn(|_| AtomicU64::new(0));
    let mut plain = [0u64; 300];
    let (to_g, from_thread) = gorun::chan::<u64>(0);
    let (to_thread, from_g) = gorun::chan::<()>(0);
    std::thread::scope(|s| {
        let (words, plain) = (&words, &mut plain);
        s.spawn(move || {
            for r in 1..=rounds {
                wait_for(seen, target(r));
                for w in words {
                    assert_eq!(w.load(Ordering::Relaxed), r - 1);
                    w.store(r, Ordering::Relaxed);
                }
                plain.iter_mut().for_each(|x| *x += 1);
                to_g.send(r).unwrap();
                if from_g.recv().is_err() {
                    return;
                }
            }
        });
        for r in 1..=rounds {
            // Parked here while the thread works: evicted, and restored by its accesses.
            assert_eq!(from_thread.recv().unwrap(), r);
            assert!(words.iter().all(|w| w.load(Ordering::Relaxed) == r));
            to_thread.send(()).unwrap();
        }
    });
    assert!(plain.iter().all(|&x| x == rounds));
}

/// The issue's program: the main goroutine itself lends its stack. Only it can be evicted
/// (the watcher is pinned), once per round (a fault restores it; then it stays resident
/// until it parks again).
fn one_goroutine_lends_its_stack() {
    let evictions = run_watched(1, |seen| lend_stack_to_a_thread(20, seen, |r| r));
    // Evicted in every round before the thread touched it.
    assert!(evictions >= 20, "{evictions}");
}

on_both_guard_paths!(
    a_scoped_thread_uses_a_parked_stack,
    a_scoped_thread_uses_a_parked_stack_without_guard_markers,
    one_goroutine_lends_its_stack()
);

/// The program from the issue, with default eviction settings: a plain `&mut` borrow of a
/// stack array, written by a scoped thread for 600 ms while the goroutine stays parked
/// (evicted after 100 ms). (Deadlock detection is off: the detector can take the thread's
/// exit, just after its send woke the goroutine, for a deadlock; a race of its own.)
fn the_issue_program() {
    gorun::Builder::new().deadlock_detection(false).run(|| {
        let (tx, rx) = gorun::chan::<()>(0);
        let mut buf = [1u64; 512];
        std::thread::scope(|s| {
            let b = &mut buf;
            s.spawn(move || {
                for _ in 0..60 {
                    std::thread::sleep(Duration::from_millis(10));
                    b.iter_mut().for_each(|x| *x += 1);
                }
                tx.send(()).unwrap();
            });
            rx.recv().unwrap();
        });
        assert!(buf.iter().all(|&x| x == 61));
    });
}

on_both_guard_paths!(
    a_scoped_thread_writes_past_eviction,
    a_scoped_thread_writes_past_eviction_without_guard_markers,
    the_issue_program()
);

/// `n` goroutines at once each lend their stack to a scoped thread, on `workers` workers
/// that evict every parked stack quickly.
fn many_goroutines_lend_their_stacks(n: usize, workers: usize, rounds: u64) {
    let evictions = run_watched(workers, |seen| {
        let hs: Vec<_> = (0..n)
            .map(|_| {
                let seen = seen.clone();
                gorun::go(move || {
                    let start = seen.load(Ordering::Relaxed);
                    lend_stack_to_a_thread(rounds, &seen, |r| start + r);
                })
            })
            .collect();
        for h in hs {
            h.join().unwrap();
        }
    });
    assert!(evictions >= 1);
}

on_both_guard_paths!(
    scoped_threads_use_64_parked_stacks,
    scoped_threads_use_64_parked_stacks_without_guard_markers,
    many_goroutines_lend_their_stacks(64, 1, 5)
);

#[test]
fn scoped_threads_use_parked_stacks_under_two_workers() {
    many_goroutines_lend_their_stacks(96, 2, 8);
}

/// A thread writes through a raw pointer into the main goroutine's stack, and reads each
/// word back, without pause, while the goroutine parks and wakes over and over (evicted
/// and restored meanwhile). No write may be lost.
fn raw_writer_races_with_eviction() {
    const ROUNDS: u32 = 40;
    let evictions = run_watched(1, |_| {
        let mut cells = [0u64; 64];
        let addr = cells.as_mut_ptr() as usize;
        let stop = AtomicBool::new(false);
        let (tick_tx, tick_rx) = gorun::chan::<()>(0);
        let ticker = gorun::go(move || {
            for _ in 0..ROUNDS {
                gorun::sleep(Duration::from_millis(15));
                tick_tx.send(()).unwrap();
            }
        });
        let last = std::thread::scope(|s| {
            let writer = s.spawn(|| {
                let p = addr as *mut u64;
                let mut i = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    i += 1;
                    // SAFETY: `cells` outlives this scoped thread, and only this thread
                    // touches it until the scope ends.
                    unsafe {
                        let c = p.add((i % 64) as usize);
                        c.write_volatile(i);
                        assert_eq!(c.read_volatile(), i, "a write was lost");
                    }
                }
                i
            });
            for _ in 0..ROUNDS {
                tick_rx.recv().unwrap(); // parked: evicted while the writer writes
            }
            stop.store(true, Ordering::Relaxed);
            writer.join().unwrap()
        });
        ticker.join().unwrap();
        for (c, &v) in cells.iter().enumerate() {
            // The last `i` the writer wrote to cell `c` (none yet: 0).
            let c = c as u64;
            let expected = if last >= c { last - (last - c) % 64 } else { 0 };
            assert_eq!(v, expected, "cell {c}");
        }
    });
    assert!(evictions >= 1);
}

on_both_guard_paths!(
    raw_pointer_writes_race_with_eviction,
    raw_pointer_writes_race_with_eviction_without_guard_markers,
    raw_writer_races_with_eviction()
);

/// The page the program's own SIGSEGV handler makes writable.
static PROTECTED: AtomicUsize = AtomicUsize::new(0);

extern "C" fn unprotect(_sig: libc::c_int, info: *mut libc::siginfo_t, _ctx: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid siginfo; mprotect is async-signal-safe.
    unsafe {
        let page = PROTECTED.load(Ordering::Relaxed);
        let addr = (*info).si_addr() as usize;
        if addr & !4095 == page {
            libc::mprotect(
                page as *mut libc::c_void,
                4096,
                libc::PROT_READ | libc::PROT_WRITE,
            );
        } else {
            libc::signal(libc::SIGSEGV, libc::SIG_DFL);
        }
    }
}

#[test]
fn a_sigsegv_handler_installed_before_run_keeps_working() {
    if !in_child() {
        let out = run_child("a_sigsegv_handler_installed_before_run_keeps_working");
        assert!(out.status.success(), "stderr: {}", out.stderr);
        assert!(out.stdout.contains("wrote 42"), "stdout: {}", out.stdout);
        return;
    }
    // SAFETY: a handler and a read-only page of our own; the handler only unprotects it.
    let page = unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = unprotect as *const () as usize;
        sa.sa_flags = libc::SA_SIGINFO;
        libc::sigemptyset(&mut sa.sa_mask);
        libc::sigaction(libc::SIGSEGV, &sa, std::ptr::null_mut());
        let p = libc::mmap(
            std::ptr::null_mut(),
            4096,
            libc::PROT_READ,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        );
        assert_ne!(p, libc::MAP_FAILED);
        p as usize
    };
    PROTECTED.store(page, Ordering::Relaxed);
    evict_everything().workers(2).run(move || {
        let h = gorun::go(move || {
            // SAFETY: our own page; the handler makes it writable on the first write.
            unsafe { (page as *mut u64).write_volatile(42) };
        });
        h.join().unwrap();
        // SAFETY: as above.
        println!("wrote {}", unsafe { (page as *const u64).read_volatile() });
    });
}

#[test]
fn a_stray_fault_still_kills_the_process() {
    if !in_child() {
        use std::os::unix::process::ExitStatusExt;
        let out = run_child("a_stray_fault_still_kills_the_process");
        assert_eq!(out.status.signal(), Some(libc::SIGSEGV), "{:?}", out.status);
        assert!(!out.stdout.contains("survived"), "stdout: {}", out.stdout);
        return;
    }
    gorun::run(|| {
        gorun::go(|| {
            // SAFETY: deliberately not: the first page is never mapped, so this faults.
            unsafe { std::ptr::write_volatile(std::hint::black_box(8usize) as *mut u64, 1) };
        })
        .join()
        .ok();
    });
    println!("survived");
}

#[test]
fn std_reports_a_thread_overflow_after_run() {
    if !in_child() {
        let out = run_child("std_reports_a_thread_overflow_after_run");
        assert!(
            out.stderr.contains("has overflowed its stack"),
            "stderr: {}",
            out.stderr
        );
        return;
    }
    fn recurse(n: u64) -> u64 {
        let frame = std::hint::black_box([n; 64]);
        if frame[0] == u64::MAX {
            return 0; // never: recursion overflows first
        }
        recurse(n + 1) + frame[(n % 64) as usize]
    }
    gorun::run(|| gorun::go(|| 1).join().unwrap());
    // gorun is done with this thread: std's alternate signal stack is back.
    println!("{}", recurse(0));
}

/// Without guard markers every stack costs two memory mappings. Goroutines of two stack
/// sizes (two pools) draw on one map-count budget: when it runs out, the process stops with
/// the report that names `vm.max_map_count`, not with an unexplained allocation failure.
#[test]
fn mixed_stack_sizes_share_the_map_count_budget() {
    if skip_under_emulation("qemu-user's mapping limits are the host's, not the guest's") {
        return;
    }
    if in_child() {
        gorun::Builder::new().resident_stack_budget(None).run(|| {
            let (_tx, rx) = gorun::chan::<()>(0);
            for i in 0..100_000u32 {
                let rx = rx.clone();
                let body = move || {
                    let _ = rx.recv();
                };
                if i % 2 == 0 {
                    gorun::go(body);
                } else {
                    gorun::GoBuilder::new().stack_size(1 << 20).go(body);
                }
            }
            println!("spawned them all");
        });
        return;
    }
    let out = run_child_with(
        "mixed_stack_sizes_share_the_map_count_budget",
        &[("GORUN_STACK_GUARDS", "mprotect")],
    );
    assert!(
        !out.stdout.contains("spawned them all"),
        "stdout: {}",
        out.stdout
    );
    assert!(
        out.stderr.contains("vm.max_map_count"),
        "stderr: {}",
        out.stderr
    );
}
