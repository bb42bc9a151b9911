//! Micro-benchmarks of the hot paths, std-only (no benchmark framework to compile):
//! `cargo bench -p gorun --bench hot_paths [filter]`. Each prints the median ns/op of 5 runs.

use std::time::Instant;

fn median_ns_per_op(ops: u64, mut f: impl FnMut()) -> f64 {
    let mut runs: Vec<f64> = (0..5)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_nanos() as f64 / ops as f64
        })
        .collect();
    runs.sort_by(|a, b| a.partial_cmp(b).unwrap());
    runs[2]
}

fn spawn_join(n: u64) {
    gorun::run(|| {
        let hs: Vec<_> = (0..n).map(|i| gorun::go(move || i)).collect();
        for h in hs {
            h.join().unwrap();
        }
    })
}

fn yield_pair(n: u64) {
    gorun::run(|| {
        let hs: Vec<_> = (0..2)
            .map(|_| {
                gorun::go(move || {
                    for _ in 0..n {
                        gorun::yield_now();
                    }
                })
            })
            .collect();
        for h in hs {
            h.join().unwrap();
        }
    })
}

fn main() {
    let filter = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with('-'))
        .unwrap_or_default();
    let benches: [(&str, u64, fn(u64)); 2] = [
        ("spawn_join", 1_000_000, spawn_join),
        ("yield", 1_000_000, yield_pair),
    ];
    for (name, n, f) in benches {
        if name.contains(&filter) {
            let ops = if name == "yield" { 2 * n } else { n };
            println!("{name:12} {:8.1} ns/op", median_ns_per_op(ops, || f(n)));
        }
    }
}
