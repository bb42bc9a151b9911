//! Benchmark: spawn 1,000,000 goroutines with `WaitGroup::go` and wait for them all.
//! Prints nanoseconds per goroutine.
//!
//! `cargo run --release -p gorun --example waitgroup_spawn`

use std::time::Instant;

use gorun::sync::WaitGroup;

const N: usize = 1_000_000;

fn main() {
    let runs: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(3);
    gorun::run(|| {
        for _ in 0..runs {
            let start = Instant::now();
            let wg = WaitGroup::new();
            for _ in 0..N {
                wg.go(|| {});
            }
            wg.wait();
            let el = start.elapsed();
            println!(
                "spawn+wg: {:.1} ms total, {:.1} ns per goroutine",
                el.as_secs_f64() * 1e3,
                el.as_nanos() as f64 / N as f64
            );
            // Baseline without the WaitGroup: spawn and join every handle.
            let start = Instant::now();
            let hs: Vec<_> = (0..N).map(|_| gorun::go(|| {})).collect();
            for h in hs {
                h.join().unwrap();
            }
            let el = start.elapsed();
            println!(
                "spawn+join (no WaitGroup): {:.1} ns per goroutine",
                el.as_nanos() as f64 / N as f64
            );
        }
    });
}
