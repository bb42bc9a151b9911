//! What copy-on-park costs per goroutine: N goroutines park on a channel receive each and
//! are woken, once with copy-on-park evicting every parked stack and once with it off; the
//! differences per goroutine are the cost of an eviction (parking phase) and of a restore
//! (waking phase). `cargo run --release --example evict_cost [N] [ROUNDS]` (default 100,000
//! goroutines, 3 rounds of each; the best round of each is shown).

use std::time::{Duration, Instant};

use gorun::sync::WaitGroup;

/// Parks `n` goroutines (waiting until copy-on-park, if on, has evicted them all), then
/// wakes them; returns the two phases' durations.
fn round(n: u64, evict: bool) -> (Duration, Duration) {
    let builder = if evict {
        gorun::Builder::new().resident_stack_budget(Some(0))
    } else {
        gorun::Builder::new().resident_stack_budget(None)
    };
    builder.run(move || {
        let done = WaitGroup::new();
        let start = Instant::now();
        let wake: Vec<_> = (0..n)
            .map(|_| {
                let (tx, rx) = gorun::chan::<u64>(0);
                let done = done.enter();
                gorun::go(move || {
                    let mine = std::hint::black_box([7u64; 16]);
                    let v = rx.recv().unwrap();
                    assert_eq!(std::hint::black_box(mine)[(v % 16) as usize], 7);
                    drop(done);
                });
                tx
            })
            .collect();
        while gorun::metrics().parks < n || evict && gorun::metrics().evictions < n {
            gorun::sleep(Duration::from_millis(1));
        }
        let parked = start.elapsed();
        let start = Instant::now();
        for (i, tx) in wake.iter().enumerate() {
            tx.send(i as u64).unwrap();
        }
        done.wait();
        (parked, start.elapsed())
    })
}

fn main() {
    let mut args = std::env::args().skip(1);
    let n: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let rounds: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(3);
    let best = |evict| {
        (0..rounds)
            .map(|_| round(n, evict))
            .fold((Duration::MAX, Duration::MAX), |a, b| {
                (a.0.min(b.0), a.1.min(b.1))
            })
    };
    let (off_park, off_wake) = best(false);
    let (on_park, on_wake) = best(true);
    let per =
        |on: Duration, off: Duration| (on.as_nanos() as f64 - off.as_nanos() as f64) / n as f64;
    println!("{n} goroutines, best of {rounds}");
    println!(
        "park: {off_park:.2?} resident, {on_park:.2?} evicted: eviction {:.0} ns each",
        per(on_park, off_park)
    );
    println!(
        "wake: {off_wake:.2?} resident, {on_wake:.2?} evicted: restore {:.0} ns each",
        per(on_wake, off_wake)
    );
}
