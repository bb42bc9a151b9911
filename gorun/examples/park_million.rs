//! A million goroutines parked on channel receives (one channel each): memory per parked
//! goroutine (resident memory, and page tables apart), the time to wake them all, and a
//! check that every goroutine's stack locals survived copy-on-park.
//! `cargo run --release --example park_million [N] [STACK_KIB]` (default 1,000,000 goroutines
//! on the default stack size).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use gorun::sync::WaitGroup;

fn vm_kb(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let line = status
        .lines()
        .find(|l| l.starts_with(field))
        .expect("field present");
    line.split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .expect("a number")
}

/// Stack contents derived from the goroutine's number, checked after it wakes.
fn pattern(i: u64) -> [u64; 16] {
    std::array::from_fn(|k| i.wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(k as u32))
}

fn main() {
    let n: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let mut builder = gorun::Builder::new();
    if let Some(kib) = std::env::args()
        .nth(2)
        .and_then(|a| a.parse::<usize>().ok())
    {
        builder = builder.stack_size(kib << 10);
    }
    builder.run(move || {
        let before = vm_kb("VmRSS:");
        let pte_before = vm_kb("VmPTE:");
        let start = Instant::now();
        let intact = Arc::new(AtomicU64::new(0));
        let done = WaitGroup::new();
        let mut wake = Vec::with_capacity(n as usize);
        for i in 0..n {
            let (tx, rx) = gorun::chan::<u64>(0);
            wake.push(tx);
            let (intact, done) = (intact.clone(), done.enter());
            gorun::go(move || {
                let mine = pattern(i);
                let got = rx.recv().unwrap();
                if got == i && std::hint::black_box(mine) == pattern(i) {
                    intact.fetch_add(1, Ordering::Relaxed);
                }
                drop(done);
            });
        }
        // Let every goroutine start and park.
        while gorun::metrics().parks < n {
            gorun::sleep(std::time::Duration::from_millis(5));
        }
        let spawned = start.elapsed();
        let peak = vm_kb("VmHWM:");
        let m = gorun::metrics();
        let per = (peak - before) * 1024 / n;
        println!("{n} goroutines parked in {spawned:.2?}");
        println!(
            "memory: {per} B per parked goroutine (peak RSS {} MiB); {} stacks evicted, \
             {} B of heap each",
            peak / 1024,
            m.evictions,
            m.evicted_bytes / m.evictions.max(1)
        );
        println!(
            "page tables: {} B per parked goroutine (VmPTE, not counted in RSS; each goroutine \
             owns a stack slot whose guard markers keep its page-table entries)",
            (vm_kb("VmPTE:") - pte_before) * 1024 / n
        );
        let woke = Instant::now();
        for (i, tx) in wake.iter().enumerate() {
            tx.send(i as u64).unwrap();
            if i % 1024 == 1023 {
                gorun::yield_now(); // let the woken goroutines run (and release memory)
            }
        }
        done.wait();
        println!("woke and finished all {n} in {:.2?}", woke.elapsed());
        assert_eq!(
            intact.load(Ordering::Relaxed),
            n,
            "every goroutine's locals survived"
        );
        println!("locals intact in all {n}");
    });
}
