//! gorun: the runtime under test. Each workload runs inside `gorun::run`
//! (the main goroutine), like Go's `main`.
//!
//! The workloads that use channels, sync and net are behind cargo features
//! (`chan`, `sync`, `net`; all default, see Cargo.toml) so that the program
//! also builds against a gorun without them: then they print `n/a` naming
//! the feature. Without `sync`, spawn joins JoinHandles instead of
//! signalling a WaitGroup (the result line says `variant=joinhandles`).

use bench_common::*;
use std::sync::atomic::{AtomicU64, Ordering::*};
use std::sync::Arc;
use std::time::{Duration, Instant};

const RT: &str = "gorun";

/// `gorun::go`, shaped like the other programs' fallible spawn. gorun itself
/// stops the program with a `fatal error` when no stack can be had (run.sh
/// then reports its last stderr line).
fn go<F, T>(f: F) -> Result<gorun::JoinHandle<T>, String>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    Ok(gorun::go(f))
}

#[allow(dead_code)]
fn needs(feature: &str, api: &str) -> Res {
    Err(format!(
        "needs {api} (cargo feature `{feature}` of bench-gorun is off)"
    ))
}

// ---------------------------------------------------------------- spawn

#[cfg(feature = "sync")]
fn spawn(n: u64) -> Res {
    let wg = gorun::sync::WaitGroup::new();
    let count = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    for _ in 0..n {
        wg.add(1);
        let (wg, count) = (wg.clone(), count.clone());
        go(move || {
            count.fetch_add(1, Relaxed);
            wg.done();
        })?;
    }
    wg.wait();
    Ok(Outcome::new(start.elapsed(), n, count.load(Relaxed)))
}

/// Until gorun::sync lands: every goroutine is joined through its handle.
#[cfg(not(feature = "sync"))]
fn spawn(n: u64) -> Res {
    let count = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let mut handles = Vec::with_capacity(n as usize);
    for _ in 0..n {
        let count = count.clone();
        handles.push(go(move || {
            count.fetch_add(1, Relaxed);
        })?);
    }
    for h in handles {
        h.join().map_err(|_| "a goroutine panicked".to_string())?;
    }
    let mut o = Outcome::new(start.elapsed(), n, count.load(Relaxed));
    o.extra.push(("variant", "joinhandles".into()));
    Ok(o)
}

// ---------------------------------------------------------------- yield, timers

fn yield_(n: u64) -> Res {
    let start = Instant::now();
    let handles = (0..2)
        .map(|_| {
            go(move || {
                for _ in 0..n {
                    gorun::yield_now();
                }
                n
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let count = handles.into_iter().map(|h| h.join().unwrap()).sum();
    Ok(Outcome::new(start.elapsed(), 2 * n, count))
}

fn timers(n: u64) -> Res {
    let start = Instant::now();
    let mut handles = Vec::with_capacity(n as usize);
    for i in 0..n {
        handles.push(go(move || {
            let ms = timer_ms(i);
            gorun::sleep(Duration::from_millis(ms));
            ms
        })?);
    }
    let total = handles.into_iter().map(|h| h.join().unwrap()).sum();
    Ok(Outcome::new(start.elapsed(), n, total))
}

/// `n` sleepers each sleep `LATENESS_ROUNDS` times (alternately `sleep` and `after`) while
/// one spinning goroutine per worker keeps every worker busy; how late each timer fired.
#[cfg(feature = "chan")]
fn timer_lateness(n: u64) -> Res {
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let load = (0..workers())
        .map(|_| {
            let stop = stop.clone();
            go(move || {
                while !stop.load(Relaxed) {
                    spin_for(LATENESS_SPIN);
                    gorun::yield_now();
                }
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let sleepers = (0..n)
        .map(|i| {
            go(move || {
                (0..LATENESS_ROUNDS)
                    .map(|k| {
                        let d = Duration::from_millis(lateness_ms(i, k));
                        let start = Instant::now();
                        if k % 2 == 0 {
                            gorun::sleep(d);
                        } else {
                            gorun::after(d).recv().expect("after delivers once");
                        }
                        start.elapsed().saturating_sub(d).as_nanos() as u64
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let late: Vec<u64> = sleepers
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    stop.store(true, Relaxed);
    load.into_iter().for_each(|h| h.join().unwrap());
    Ok(lateness_outcome(late))
}

#[cfg(not(feature = "chan"))]
fn timer_lateness(_: u64) -> Res {
    needs("chan", "gorun::after")
}

// ---------------------------------------------------------------- channels

#[cfg(feature = "chan")]
mod chan_workloads {
    use super::*;

    pub fn park_memory(n: u64) -> Res {
        // Like the Go program: a WaitGroup, not a JoinHandle per goroutine (whose vector
        // would be counted in the per-goroutine figure).
        let (tx, rx) = gorun::chan::<()>(0);
        let ready = Arc::new(AtomicU64::new(0));
        let woken = Arc::new(AtomicU64::new(0));
        let wg = gorun::sync::WaitGroup::new();
        let mem = ParkMemory::start();
        let start = Instant::now();
        for _ in 0..n {
            let (rx, ready, woken) = (rx.clone(), ready.clone(), woken.clone());
            drop(wg.go(move || {
                ready.fetch_add(1, Relaxed);
                // Err once every sender is gone: that is the release.
                let _ = rx.recv();
                woken.fetch_add(1, Relaxed);
            }));
        }
        drop(rx);
        while ready.load(Relaxed) < n {
            gorun::sleep(Duration::from_millis(1));
        }
        let elapsed = start.elapsed();
        gorun::sleep(SETTLE);
        let mut o = Outcome::new(elapsed, n, 0);
        mem.parked(n, &mut o);
        let woke = Instant::now();
        drop(tx);
        wg.wait();
        o.wake = woke.elapsed();
        o.check = woken.load(Relaxed);
        Ok(o)
    }

    // The sender type's path is a guess (issue 4 names it `Sender<T>`): adjust
    // it here if it lands elsewhere.
    fn skynet_node(tx: gorun::Sender<u64>, num: u64, size: u64) {
        if size == 1 {
            let _ = tx.send(num);
            return;
        }
        let (rtx, rrx) = gorun::chan::<u64>(0);
        let sub = size / 10;
        for i in 0..10 {
            let rtx = rtx.clone();
            go(move || skynet_node(rtx, num + i * sub, sub)).unwrap();
        }
        drop(rtx);
        let sum: u64 = (0..10).map(|_| rrx.recv().unwrap()).sum();
        let _ = tx.send(sum);
    }

    pub fn skynet(n: u64) -> Res {
        let start = Instant::now();
        let (tx, rx) = gorun::chan::<u64>(0);
        go(move || skynet_node(tx, 0, n))?;
        let sum = rx.recv().unwrap();
        Ok(Outcome::new(start.elapsed(), n, sum))
    }

    pub fn pingpong(n: u64) -> Res {
        let (ping_tx, ping_rx) = gorun::chan::<u64>(0);
        let (pong_tx, pong_rx) = gorun::chan::<u64>(0);
        let start = Instant::now();
        let t = go(move || {
            while let Ok(v) = ping_rx.recv() {
                pong_tx.send(v).unwrap();
            }
        })?;
        let mut sum = 0;
        for i in 0..n {
            ping_tx.send(i).unwrap();
            sum += pong_rx.recv().unwrap();
        }
        drop(ping_tx);
        t.join().unwrap();
        Ok(Outcome::new(start.elapsed(), n, sum))
    }

    pub fn mpmc(n: u64) -> Res {
        let (tx, rx) = gorun::chan::<u64>(MPMC_CAP);
        let start = Instant::now();
        let mut producers = Vec::new();
        for p in 0..MPMC_PRODUCERS {
            let tx = tx.clone();
            let (lo, hi) = (p * n / MPMC_PRODUCERS, (p + 1) * n / MPMC_PRODUCERS);
            producers.push(go(move || {
                for i in lo..hi {
                    tx.send(i).unwrap();
                }
            })?);
        }
        drop(tx);
        let mut consumers = Vec::new();
        for _ in 0..MPMC_CONSUMERS {
            let rx = rx.clone();
            consumers.push(go(move || {
                let mut sum = 0u64;
                while let Ok(v) = rx.recv() {
                    sum += v;
                }
                sum
            })?);
        }
        drop(rx);
        for p in producers {
            p.join().unwrap();
        }
        let total = consumers.into_iter().map(|c| c.join().unwrap()).sum();
        Ok(Outcome::new(start.elapsed(), n, total))
    }

    pub fn select(n: u64) -> Res {
        let start = Instant::now();
        // Keep a sender of each channel so that none closes (and makes its
        // branch always ready) while the others still carry messages.
        let mut keep = Vec::new();
        let mut rxs = Vec::new();
        for p in 0..SELECT_PRODUCERS {
            let (tx, rx) = gorun::chan::<u64>(0);
            keep.push(tx.clone());
            let (lo, hi) = (p * n / SELECT_PRODUCERS, (p + 1) * n / SELECT_PRODUCERS);
            go(move || {
                for i in lo..hi {
                    tx.send(i).unwrap();
                }
            })?;
            rxs.push(rx);
        }
        let (r0, r1, r2, r3) = (&rxs[0], &rxs[1], &rxs[2], &rxs[3]);
        let mut sum = 0;
        for _ in 0..n {
            gorun::select! {
                recv(r0) -> v => sum += v.unwrap(),
                recv(r1) -> v => sum += v.unwrap(),
                recv(r2) -> v => sum += v.unwrap(),
                recv(r3) -> v => sum += v.unwrap(),
            }
        }
        let elapsed = start.elapsed();
        drop(keep);
        Ok(Outcome::new(elapsed, n, sum))
    }
}

// ---------------------------------------------------------------- sync

#[cfg(feature = "sync")]
fn mutex(n: u64) -> Res {
    let counter = Arc::new(gorun::sync::Mutex::new(0u64));
    let start = Instant::now();
    let mut handles = Vec::with_capacity(n as usize);
    for _ in 0..n {
        let counter = counter.clone();
        handles.push(go(move || {
            for _ in 0..MUTEX_INCREMENTS {
                *counter.lock() += 1;
            }
        })?);
    }
    for h in handles {
        h.join().unwrap();
    }
    let elapsed = start.elapsed();
    let check = *counter.lock();
    Ok(Outcome::new(elapsed, n * MUTEX_INCREMENTS, check))
}

// ---------------------------------------------------------------- net

#[cfg(feature = "net")]
fn tcp_echo(rounds: u64) -> Res {
    use gorun::net::{TcpListener, TcpStream};

    let ln = TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    let addr = ln.local_addr().map_err(|e| e.to_string())?;
    go(move || loop {
        let Ok((conn, _)) = ln.accept() else { return };
        let _ = go(move || {
            let _ = conn.set_nodelay(true);
            echo_serve(conn);
        });
    })?;
    let start = Instant::now();
    let mut clients = Vec::new();
    for _ in 0..TCP_CLIENTS {
        clients.push(go(move || -> std::io::Result<u64> {
            let conn = TcpStream::connect(addr)?;
            conn.set_nodelay(true)?;
            echo_client(conn, rounds)
        })?);
    }
    let mut total = 0;
    for c in clients {
        total += c.join().unwrap().map_err(|e| e.to_string())?;
    }
    Ok(Outcome::new(
        start.elapsed(),
        rounds * TCP_CLIENTS as u64,
        total,
    ))
}

// ---------------------------------------------------------------- dispatch

fn workload(w: &str, n: u64) -> Res {
    match w {
        "spawn" => spawn(n),
        "yield" => yield_(n),
        "timers" => timers(n),
        "timer_lateness" => timer_lateness(n),

        #[cfg(feature = "chan")]
        "park_memory" => chan_workloads::park_memory(n),
        #[cfg(feature = "chan")]
        "wake_all" => chan_workloads::park_memory(n).map(Outcome::into_wake_all),
        #[cfg(feature = "chan")]
        "skynet" => chan_workloads::skynet(n),
        #[cfg(feature = "chan")]
        "pingpong" => chan_workloads::pingpong(n),
        #[cfg(feature = "chan")]
        "mpmc" => chan_workloads::mpmc(n),
        #[cfg(feature = "chan")]
        "select" => chan_workloads::select(n),
        #[cfg(not(feature = "chan"))]
        "park_memory" | "wake_all" | "skynet" | "pingpong" | "mpmc" => needs("chan", "gorun::chan"),
        #[cfg(not(feature = "chan"))]
        "select" => needs("chan", "gorun::select!"),

        #[cfg(feature = "sync")]
        "mutex" => mutex(n),
        #[cfg(not(feature = "sync"))]
        "mutex" => needs("sync", "gorun::sync::Mutex"),

        #[cfg(feature = "net")]
        "tcp_echo" => tcp_echo(n),
        #[cfg(not(feature = "net"))]
        "tcp_echo" => needs("net", "gorun::net"),

        _ => unreachable!(),
    }
}

fn main() {
    let args = args(RT);
    let (w, n) = (args.workload.clone(), args.n);
    let res = gorun::Builder::new()
        .workers(workers())
        .run(move || workload(&w, n));
    report(RT, &args, res);
}
