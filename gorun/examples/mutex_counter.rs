//! Benchmark: 1,000 goroutines × 1,000 increments of one counter under `gorun::sync::Mutex`
//! (the seed's counter program, scaled up). Prints nanoseconds per lock/unlock.
//!
//! `cargo run --release -p gorun --example mutex_counter`

use std::time::Instant;

use gorun::sync::{Mutex, WaitGroup};

static COUNTER: Mutex<u64> = Mutex::new(0);

const GOROUTINES: u64 = 1000;
const INCREMENTS: u64 = 1000;

fn main() {
    let runs: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(5);
    gorun::run(|| {
        for _ in 0..runs {
            *COUNTER.lock() = 0;
            let start = Instant::now();
            let wg = WaitGroup::new();
            for _ in 0..GOROUTINES {
                wg.go(|| {
                    for _ in 0..INCREMENTS {
                        *COUNTER.lock() += 1;
                    }
                });
            }
            wg.wait();
            let el = start.elapsed();
            assert_eq!(*COUNTER.lock(), GOROUTINES * INCREMENTS);
            println!(
                "mutex: {:.1} ms total, {:.1} ns per lock/unlock",
                el.as_secs_f64() * 1e3,
                el.as_nanos() as f64 / (GOROUTINES * INCREMENTS) as f64
            );
        }
    });
}
