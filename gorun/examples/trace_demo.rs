//! Writes an execution trace of a small pipeline: a generator feeds three hashers through
//! a channel, they hash the jobs (one job in four goes through a blocking call), and a
//! collector gathers the results in a `select!` with a ticker. Open the file in
//! <https://ui.perfetto.dev> (Open trace file) or `chrome://tracing` (Load); the README's
//! Execution trace section says what the tracks, slices and arrows are.
//!
//! Run it with `cargo run --release --example trace_demo [path]` (default:
//! `trace_demo.json`); `benchmarks/trace_view.py` draws the picture in the README from it.

use std::time::Duration;

use gorun::GoBuilder;

/// Some CPU work, so runs have a visible length.
fn hash(mut x: u64) -> u64 {
    for _ in 0..150_000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
    }
    x
}

fn main() {
    let path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "trace_demo.json".into());
    let (sum, ticks) = gorun::Builder::new().workers(2).trace(&path).run(|| {
        let (jobs_tx, jobs_rx) = gorun::chan::<u64>(2);
        let (results_tx, results_rx) = gorun::chan::<u64>(0);
        GoBuilder::new().name("generator").go(move || {
            for job in 0..16 {
                jobs_tx.send(job).unwrap();
                if job % 8 == 3 {
                    gorun::sleep(Duration::from_millis(1)); // a timer wakes it
                }
            }
        });
        for w in 0..3 {
            let (jobs, results) = (jobs_rx.clone(), results_tx.clone());
            GoBuilder::new().name(format!("hasher-{w}")).go(move || {
                for job in &jobs {
                    let h = if job % 4 == 0 {
                        // A blocking call: runs on the blocking pool while the worker
                        // thread runs other goroutines.
                        gorun::blocking(move || {
                            std::thread::sleep(Duration::from_micros(200));
                            hash(job)
                        })
                    } else {
                        hash(job)
                    };
                    results.send(h).unwrap();
                }
            });
        }
        drop((jobs_rx, results_tx));
        let collector = GoBuilder::new().name("collector").go(move || {
            let ticker = gorun::tick(Duration::from_millis(1));
            let (mut sum, mut ticks) = (0u64, 0u32);
            loop {
                gorun::select! {
                    recv(results_rx) -> r => match r {
                        Ok(h) => sum = sum.wrapping_add(h),
                        Err(_) => break,
                    },
                    recv(ticker) -> _ => ticks += 1,
                }
            }
            (sum, ticks)
        });
        collector.join().unwrap()
    });
    println!("sum {sum:#x}, {ticks} ticks; trace written to {path}");
}
