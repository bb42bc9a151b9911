//! Micro-benchmarks of the hot paths, std-only (no benchmark framework to compile):
//! `cargo bench -p gorun --bench hot_paths [filter]`. Each prints the median ns/op of 5
//! runs. The side-by-side comparison with Go, may and Tokio lives in `benchmarks/`.

use std::sync::Mutex as StdMutex;
use std::time::{Duration, Instant};

use gorun::sync::{Mutex, WaitGroup};

struct Bench {
    name: &'static str,
    ops: u64,
    run: fn(),
}

const N: u64 = 1_000_000;

/// A time a benchmark measured itself, inside the runtime (replaces the whole call's).
static INNER: StdMutex<Option<Duration>> = StdMutex::new(None);

fn median_ns_per_op(b: &Bench) -> f64 {
    let mut runs: Vec<f64> = (0..5)
        .map(|_| {
            let t = Instant::now();
            (b.run)();
            let whole = t.elapsed();
            let took = INNER.lock().unwrap().take().unwrap_or(whole);
            took.as_nanos() as f64 / b.ops as f64
        })
        .collect();
    runs.sort_by(|a, b| a.partial_cmp(b).unwrap());
    runs[2]
}

fn spawn_wg() {
    gorun::run(|| {
        let wg = WaitGroup::new();
        for _ in 0..N {
            drop(wg.go(|| {}));
        }
        wg.wait();
    })
}

fn spawn_join() {
    gorun::run(|| {
        let hs: Vec<_> = (0..N).map(|i| gorun::go(move || i)).collect();
        for h in hs {
            h.join().unwrap();
        }
    })
}

fn yield_pair() {
    gorun::run(|| {
        let hs: Vec<_> = (0..2)
            .map(|_| {
                gorun::go(|| {
                    for _ in 0..N {
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

fn pingpong() {
    pingpong_on(gorun::Builder::new());
}

/// Ping-pong with the execution trace on. Both ping-pong rows time the exchange loop only,
/// inside the runtime, so this row's excess over `pingpong` is what recording costs (the
/// file, written at shutdown, is not timed).
fn pingpong_traced() {
    let path = std::env::temp_dir().join(format!("gorun-bench-trace-{}.json", std::process::id()));
    pingpong_on(gorun::Builder::new().trace(&path));
    std::fs::remove_file(&path).ok();
}

fn pingpong_on(b: gorun::Builder) {
    b.run(|| {
        let (ping_tx, ping_rx) = gorun::chan::<u64>(0);
        let (pong_tx, pong_rx) = gorun::chan::<u64>(0);
        let h = gorun::go(move || {
            for v in &ping_rx {
                pong_tx.send(v).unwrap();
            }
        });
        let t = Instant::now();
        for i in 0..N {
            ping_tx.send(i).unwrap();
            pong_rx.recv().unwrap();
        }
        *INNER.lock().unwrap() = Some(t.elapsed());
        drop(ping_tx);
        h.join().unwrap();
    })
}

fn mpmc() {
    gorun::run(|| {
        let (tx, rx) = gorun::chan::<u64>(1024);
        let producers: Vec<_> = (0..4)
            .map(|_| {
                let tx = tx.clone();
                gorun::go(move || {
                    for i in 0..N / 4 {
                        tx.send(i).unwrap();
                    }
                })
            })
            .collect();
        drop(tx);
        let consumers: Vec<_> = (0..4)
            .map(|_| {
                let rx = rx.clone();
                gorun::go(move || rx.iter().count() as u64)
            })
            .collect();
        for p in producers {
            p.join().unwrap();
        }
        let got: u64 = consumers.into_iter().map(|c| c.join().unwrap()).sum();
        assert_eq!(got, N);
    })
}

fn select4() {
    gorun::run(|| {
        let chans: Vec<_> = (0..4).map(|_| gorun::chan::<u64>(0)).collect();
        for (tx, _) in &chans {
            let tx = tx.clone();
            gorun::go(move || {
                for i in 0..N / 4 {
                    tx.send(i).unwrap();
                }
            });
        }
        for _ in 0..N {
            gorun::select! {
                recv(chans[0].1) -> v => v.unwrap(),
                recv(chans[1].1) -> v => v.unwrap(),
                recv(chans[2].1) -> v => v.unwrap(),
                recv(chans[3].1) -> v => v.unwrap(),
            };
        }
    })
}

fn mutex_counter() {
    static COUNT: Mutex<u64> = Mutex::new(0);
    gorun::run(|| {
        let wg = WaitGroup::new();
        for _ in 0..1000 {
            drop(wg.go(|| {
                for _ in 0..1000 {
                    *COUNT.lock() += 1;
                }
            }));
        }
        wg.wait();
    })
}

fn main() {
    let filter = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with('-'))
        .unwrap_or_default();
    let benches = [
        Bench {
            name: "spawn_wg",
            ops: N,
            run: spawn_wg,
        },
        Bench {
            name: "spawn_join",
            ops: N,
            run: spawn_join,
        },
        Bench {
            name: "yield",
            ops: 2 * N,
            run: yield_pair,
        },
        Bench {
            name: "pingpong",
            ops: N,
            run: pingpong,
        },
        Bench {
            name: "pingpong_trace",
            ops: N,
            run: pingpong_traced,
        },
        Bench {
            name: "mpmc",
            ops: N,
            run: mpmc,
        },
        Bench {
            name: "select",
            ops: N,
            run: select4,
        },
        Bench {
            name: "mutex",
            ops: N,
            run: mutex_counter,
        },
    ];
    for b in benches.iter().filter(|b| b.name.contains(&filter)) {
        println!("{:12} {:8.1} ns/op", b.name, median_ns_per_op(b));
    }
}
