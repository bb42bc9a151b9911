//! Timer accuracy and timer-heap memory under load (a measurement, not a test).
//!
//! `cargo run --release --example timers_under_load [goroutines] [timeouts]` (default
//! 100,000; with `timeouts`, only part 2):
//!
//! 1. `goroutines` goroutines contend on 16 gorun mutexes (lock, yield, unlock) while 200
//!    sleepers measure how late `sleep(1..10 ms)` wakes them: p50, p99 and max lateness.
//!    The lock-cycle check and the monitor must not delay the timers.
//! 2. A million `recv_timeout(1 h)` calls that succeed at once, then the resident memory
//!    grown and the armed timers left (cancelled timeouts must leave the heap).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use gorun::sync::{Mutex, WaitGroup};

fn rss_kb() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .expect("VmRSS")
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p) as usize]
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(100_000);
    let only_timeouts = std::env::args().nth(2).as_deref() == Some("timeouts");
    gorun::run(move || {
        if !only_timeouts {
            lateness(n);
        }
        // A partner answers each request: every receive parks with its timer armed and is
        // woken long before the hour is up.
        let (req_tx, req_rx) = gorun::chan::<u32>(0);
        let (resp_tx, resp_rx) = gorun::chan::<u32>(0);
        gorun::go(move || {
            for v in req_rx.iter() {
                gorun::yield_now(); // the requester parks first
                resp_tx.send(v).unwrap();
            }
        });
        let before = rss_kb();
        for i in 0..1_000_000 {
            req_tx.send(i).unwrap();
            resp_rx.recv_timeout(Duration::from_secs(3600)).unwrap();
        }
        println!(
            "1,000,000 recv_timeout(1 h) woken early: RSS +{} KiB, {} timers armed",
            rss_kb().saturating_sub(before),
            gorun::metrics().timers
        );
    });
}

/// Part 1: sleep lateness while `n` goroutines contend on locks.
fn lateness(n: usize) {
    {
        let stop = Arc::new(AtomicBool::new(false));
        let locks: Arc<Vec<Mutex<u64>>> = Arc::new((0..16).map(|_| Mutex::new(0)).collect());
        let contenders = WaitGroup::new();
        for i in 0..n {
            let (stop, locks) = (stop.clone(), locks.clone());
            drop(contenders.go(move || {
                while !stop.load(Ordering::Relaxed) {
                    let mut g = locks[i % 16].lock();
                    *g += 1;
                    gorun::yield_now();
                    drop(g);
                }
            }));
        }
        gorun::sleep(Duration::from_millis(200)); // let the contention build up
        let (tx, rx) = gorun::chan::<Vec<Duration>>(200);
        for s in 0..200u64 {
            let tx = tx.clone();
            gorun::go(move || {
                let mut late = Vec::new();
                for k in 0..20u64 {
                    let d = Duration::from_millis(1 + (s * 7 + k) % 10);
                    let start = Instant::now();
                    gorun::sleep(d);
                    late.push(start.elapsed().saturating_sub(d));
                }
                tx.send(late).unwrap();
            });
        }
        drop(tx);
        let mut late: Vec<Duration> = rx.iter().flatten().collect();
        stop.store(true, Ordering::Relaxed);
        contenders.wait();
        late.sort();
        println!(
            "sleep lateness with {n} goroutines contending on 16 mutexes ({} sleeps): \
             p50 {:?}, p99 {:?}, max {:?}",
            late.len(),
            percentile(&late, 0.5),
            percentile(&late, 0.99),
            late[late.len() - 1]
        );
    }
}
