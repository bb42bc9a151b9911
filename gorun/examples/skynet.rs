//! Skynet: a million goroutines in a 10-ary tree, sums sent up through channels.
//! `cargo run --release --example skynet [leaves]`; prints the answer (499999500000 for 1M)
//! and ns per leaf.

use std::time::Instant;

fn node(tx: gorun::Sender<u64>, num: u64, size: u64) {
    if size == 1 {
        tx.send(num).ok();
        return;
    }
    let (rtx, rrx) = gorun::chan::<u64>(0);
    let sub = size / 10;
    for i in 0..10 {
        let rtx = rtx.clone();
        gorun::go(move || node(rtx, num + i * sub, sub));
    }
    drop(rtx);
    let sum: u64 = (0..10).map(|_| rrx.recv().unwrap()).sum();
    tx.send(sum).ok();
}

fn main() {
    let n: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    gorun::run(move || {
        let start = Instant::now();
        let (tx, rx) = gorun::chan::<u64>(0);
        gorun::go(move || node(tx, 0, n));
        let sum = rx.recv().unwrap();
        let el = start.elapsed();
        println!(
            "skynet {n}: {sum} in {el:.2?} ({:.0} ns per leaf)",
            el.as_nanos() as f64 / n as f64
        );
        assert_eq!(sum, n * (n - 1) / 2);
    });
}
