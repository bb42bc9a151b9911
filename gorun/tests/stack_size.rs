//! `GoBuilder::stack_size`: goroutines with big stacks recurse deep, park mid-recursion,
//! are evicted (copy-on-park) and restored intact, and report their own overflow.
//! Copy-on-park is Linux only, as are the tests that force it.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use gorun::sync::WaitGroup;
use gorun::GoBuilder;

mod common;
use common::{in_child, run_child, skip_under_emulation};

/// Words of locals per recursion level (1 KiB).
const FRAME_WORDS: usize = 128;

fn frame(level: usize, seed: u64) -> [u64; FRAME_WORDS] {
    std::array::from_fn(|i| (seed ^ level as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ i as u64)
}

/// Recurses until at least `bytes` of stack are in use below the first frame, each level
/// holding a 1 KiB frame, runs `bottom` at the bottom, and returns (levels, frames intact
/// on the way back up).
fn recurse(bytes: usize, seed: u64, bottom: &mut dyn FnMut(&[u64; FRAME_WORDS])) -> (usize, usize) {
    fn level(
        n: usize,
        start: usize,
        bytes: usize,
        seed: u64,
        bottom: &mut dyn FnMut(&[u64; FRAME_WORDS]),
    ) -> (usize, usize) {
        let f = frame(n, seed);
        let here = std::hint::black_box(&f) as *const _ as usize;
        let (levels, intact) = if start.saturating_sub(here) >= bytes {
            bottom(std::hint::black_box(&f));
            (0, 0)
        } else {
            level(n + 1, start, bytes, seed, bottom)
        };
        (
            levels + 1,
            intact + (std::hint::black_box(f) == frame(n, seed)) as usize,
        )
    }
    let start = 0u8;
    let start = std::hint::black_box(&start) as *const u8 as usize;
    level(0, start, bytes, seed, bottom)
}

/// A runtime that evicts every parked stack as soon as its worker idles.
fn evict_everything() -> gorun::Builder {
    gorun::Builder::new()
        .resident_stack_budget(Some(0))
        .evict_after(Some(Duration::from_millis(1)))
}

/// Waits (bounded) until `done` holds, sleeping in between.
fn wait_until(what: &str, done: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !done() {
        assert!(Instant::now() < deadline, "gave up waiting until {what}");
        gorun::sleep(Duration::from_millis(2));
    }
}

#[test]
fn deep_recursion_parks_is_evicted_and_restored() {
    if cfg!(not(target_os = "linux")) {
        return; // copy-on-park is Linux only
    }
    let (bytes, (levels, intact), read) = evict_everything().workers(2).run(|| {
        let (tx, rx) = gorun::chan::<u64>(0);
        let (addr_tx, addr_rx) = gorun::chan::<usize>(1);
        let h = GoBuilder::new().stack_size(16 << 20).go(move || {
            recurse(8 << 20, 7, &mut |bottom| {
                // Tell main where a word of the deepest frame lives, then park twice.
                addr_tx.send(bottom.as_ptr() as usize).unwrap();
                assert_eq!(rx.recv().unwrap(), 1);
                assert_eq!(rx.recv().unwrap(), 2);
            })
        });
        let addr = addr_rx.recv().unwrap();
        // Copy-on-park takes the whole 8 MiB of live frames to the heap...
        wait_until("the deep stack is evicted", || {
            gorun::metrics().evicted_bytes >= 1 << 20
        });
        let bytes = gorun::metrics().evicted_bytes;
        let before = gorun::metrics().evictions;
        // ...its worker restores it when it is woken...
        tx.send(1).unwrap();
        // ...it parks again, and is evicted again...
        wait_until("the deep stack is evicted again", || {
            gorun::metrics().evictions > before
        });
        // ...and reading it from here faults and restores it in place.
        // SAFETY: the goroutine is parked at the bottom of its recursion, so the frame
        // `addr` points into is live and nobody writes it.
        let read = unsafe { (addr as *const u64).read_volatile() };
        tx.send(2).unwrap();
        (bytes, h.join().unwrap(), read)
    });
    assert!(bytes >= 1 << 20, "{bytes}");
    assert_eq!(read, frame(levels - 1, 7)[0]);
    assert_eq!(intact, levels, "every frame survived");
}

#[test]
fn sixty_four_mib_goroutine() {
    // 48 MiB of frames: more than a 32 MiB stack holds.
    let (levels, intact) = gorun::run(|| {
        GoBuilder::new()
            .stack_size(64 << 20)
            .go(|| recurse(48 << 20, 3, &mut |_| gorun::yield_now()))
            .join()
            .unwrap()
    });
    assert_eq!(intact, levels);
}

#[test]
fn mixed_classes_park_evict_and_reuse_slots() {
    if cfg!(not(target_os = "linux")) {
        return; // copy-on-park is Linux only
    }
    // (stack size, KiB of frames): each needs more than the class below it.
    const SIZES: [(Option<usize>, usize); 4] = [
        (None, 40 << 10),
        (Some(256 << 10), 200 << 10),
        (Some(1 << 20), 800 << 10),
        (Some(2 << 20), 1800 << 10),
    ];
    evict_everything().workers(2).run(|| {
        for round in 0..2u64 {
            let before = gorun::metrics().evictions;
            let gate = WaitGroup::new();
            gate.add(1);
            let parked = WaitGroup::new();
            let ok = Arc::new(AtomicUsize::new(0));
            let hs: Vec<_> = (0..48u64)
                .map(|i| {
                    let (size, bytes) = SIZES[i as usize % SIZES.len()];
                    let (gate, parked, ok) = (gate.clone(), parked.clone(), ok.clone());
                    parked.add(1);
                    let b = match size {
                        Some(s) => GoBuilder::new().stack_size(s),
                        None => GoBuilder::new(),
                    };
                    b.go(move || {
                        let seed = round * 1000 + i;
                        let (levels, intact) = recurse(bytes, seed, &mut |_| {
                            parked.done();
                            gate.wait();
                        });
                        if intact == levels {
                            ok.fetch_add(1, Ordering::Relaxed);
                        }
                    })
                })
                .collect();
            parked.wait();
            wait_until("most parked stacks are evicted", || {
                gorun::metrics().evictions >= before + 24
            });
            gate.done();
            for h in hs {
                h.join().unwrap();
            }
            assert_eq!(ok.load(Ordering::Relaxed), 48, "round {round}");
        }
    });
}

#[test]
fn stack_size_below_the_default_gets_the_default() {
    gorun::Builder::new().stack_size(128 << 10).run(|| {
        // 100 KiB of frames fit in the runtime's 128 KiB default even when asking for less.
        let h = GoBuilder::new()
            .stack_size(16 << 10)
            .go(|| recurse(100 << 10, 1, &mut |_| {}));
        let (levels, intact) = h.join().unwrap();
        assert_eq!(intact, levels);
    });
}

#[test]
#[should_panic(expected = "gorun::GoBuilder::stack_size: the stack size must be positive")]
fn zero_stack_size_is_rejected() {
    let _ = GoBuilder::new().stack_size(0);
}

#[test]
#[should_panic(expected = "is absurd")]
fn huge_stack_size_is_rejected() {
    let _ = GoBuilder::new().stack_size((1 << 30) + 1);
}

#[test]
fn big_class_overflow_is_reported() {
    if skip_under_emulation("the emulator does not deliver guard-page faults") {
        return;
    }
    if in_child() {
        #[allow(unconditional_recursion)]
        fn bottomless(n: u64) -> u64 {
            let f = [n; FRAME_WORDS];
            bottomless(std::hint::black_box(f)[1] + 1) + 1
        }
        gorun::run(|| {
            GoBuilder::new()
                .stack_size(1 << 20)
                .go(|| bottomless(0))
                .join()
                .unwrap();
        });
        return;
    }
    let out = run_child("big_class_overflow_is_reported");
    assert_eq!(out.status.code(), Some(2), "stderr:\n{}", out.stderr);
    let e = &out.stderr;
    assert!(
        e.contains("runtime: goroutine stack exceeds 1048576-byte limit"),
        "{e}"
    );
    assert!(e.contains("fatal error: stack overflow"), "{e}");
    assert!(e.contains("goroutine 2 [running]:"), "{e}");
    assert!(e.contains("created at "), "{e}");
    assert!(
        e.contains("gorun::GoBuilder::new().stack_size(4194304)"),
        "the hint suggests a bigger stack: {e}"
    );
}
