//! std threads + crossbeam-channel: the "no runtime" baseline. Only
//! workloads whose thread count stays at or below 10k run; the others print
//! `n/a`.

use bench_common::*;
use crossbeam_channel::{bounded, select};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering::*};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

const RT: &str = "threads";
const MAX_THREADS: u64 = 10_000;
/// A round trip between two OS threads costs tens of microseconds here
/// (two futex wake-ups), so pingpong runs at most this many.
const PINGPONG_MAX: u64 = 20_000;

/// Go's sync.WaitGroup for OS threads: add/done/wait.
#[derive(Clone, Default)]
struct WaitGroup(Arc<(Mutex<u64>, Condvar)>);

impl WaitGroup {
    fn add(&self, k: u64) {
        *self.0 .0.lock().unwrap() += k;
    }
    fn done(&self) {
        let mut c = self.0 .0.lock().unwrap();
        *c -= 1;
        if *c == 0 {
            self.0 .1.notify_all();
        }
    }
    fn wait(&self) {
        let mut c = self.0 .0.lock().unwrap();
        while *c > 0 {
            c = self.0 .1.wait(c).unwrap();
        }
    }
}

fn too_many(threads: u64) -> Res {
    Err(format!(
        "needs {threads} OS threads (limit here {MAX_THREADS})"
    ))
}

fn spawn(n: u64) -> Res {
    if n > MAX_THREADS {
        return too_many(n);
    }
    let wg = WaitGroup::default();
    let count = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    for _ in 0..n {
        wg.add(1);
        let (wg, count) = (wg.clone(), count.clone());
        thread::spawn(move || {
            count.fetch_add(1, Relaxed);
            wg.done();
        });
    }
    wg.wait();
    Ok(Outcome::new(start.elapsed(), n, count.load(Relaxed)))
}

fn park_memory(n: u64) -> Res {
    if n > MAX_THREADS {
        return too_many(n);
    }
    let (tx, rx) = bounded::<()>(0);
    let wg = WaitGroup::default();
    let ready = Arc::new(AtomicU64::new(0));
    let woken = Arc::new(AtomicU64::new(0));
    let mem = ParkMemory::start();
    let start = Instant::now();
    for _ in 0..n {
        wg.add(1);
        let (rx, wg, ready, woken) = (rx.clone(), wg.clone(), ready.clone(), woken.clone());
        thread::spawn(move || {
            ready.fetch_add(1, Relaxed);
            let _ = rx.recv();
            woken.fetch_add(1, Relaxed);
            wg.done();
        });
    }
    while ready.load(Relaxed) < n {
        thread::sleep(Duration::from_millis(1));
    }
    let elapsed = start.elapsed();
    thread::sleep(SETTLE);
    let mut o = Outcome::new(elapsed, n, 0);
    mem.parked(n, &mut o);
    let woke = Instant::now();
    drop(tx);
    wg.wait();
    o.wake = woke.elapsed();
    o.check = woken.load(Relaxed);
    Ok(o)
}

fn pingpong(n: u64) -> Res {
    let (ping_tx, ping_rx) = bounded::<u64>(0);
    let (pong_tx, pong_rx) = bounded::<u64>(0);
    let start = Instant::now();
    let t = thread::spawn(move || {
        for v in ping_rx {
            pong_tx.send(v).unwrap();
        }
    });
    let mut sum = 0;
    for i in 0..n {
        ping_tx.send(i).unwrap();
        sum += pong_rx.recv().unwrap();
    }
    drop(ping_tx);
    t.join().unwrap();
    Ok(Outcome::new(start.elapsed(), n, sum))
}

fn mpmc(n: u64) -> Res {
    let (tx, rx) = bounded::<u64>(MPMC_CAP);
    let start = Instant::now();
    let producers: Vec<_> = (0..MPMC_PRODUCERS)
        .map(|p| {
            let tx = tx.clone();
            let (lo, hi) = (p * n / MPMC_PRODUCERS, (p + 1) * n / MPMC_PRODUCERS);
            thread::spawn(move || {
                for i in lo..hi {
                    tx.send(i).unwrap();
                }
            })
        })
        .collect();
    drop(tx);
    let consumers: Vec<_> = (0..MPMC_CONSUMERS)
        .map(|_| {
            let rx = rx.clone();
            thread::spawn(move || rx.iter().sum::<u64>())
        })
        .collect();
    for p in producers {
        p.join().unwrap();
    }
    let total = consumers.into_iter().map(|c| c.join().unwrap()).sum();
    Ok(Outcome::new(start.elapsed(), n, total))
}

fn mutex(n: u64) -> Res {
    if n > MAX_THREADS {
        return too_many(n);
    }
    let counter = Arc::new(Mutex::new(0u64));
    let start = Instant::now();
    let handles: Vec<_> = (0..n)
        .map(|_| {
            let counter = counter.clone();
            thread::spawn(move || {
                for _ in 0..MUTEX_INCREMENTS {
                    *counter.lock().unwrap() += 1;
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let elapsed = start.elapsed();
    let check = *counter.lock().unwrap();
    Ok(Outcome::new(elapsed, n * MUTEX_INCREMENTS, check))
}

fn yield_(n: u64) -> Res {
    let start = Instant::now();
    let handles: Vec<_> = (0..2)
        .map(|_| {
            thread::spawn(move || {
                for _ in 0..n {
                    thread::yield_now();
                }
                n
            })
        })
        .collect();
    let count = handles.into_iter().map(|h| h.join().unwrap()).sum();
    Ok(Outcome::new(start.elapsed(), 2 * n, count))
}

fn select_(n: u64) -> Res {
    let start = Instant::now();
    // The consumer keeps a sender of each channel so that no channel closes
    // (and becomes always ready) while the others still carry messages.
    let mut keep = Vec::new();
    let rxs: Vec<_> = (0..SELECT_PRODUCERS)
        .map(|p| {
            let (tx, rx) = bounded::<u64>(0);
            keep.push(tx.clone());
            let (lo, hi) = (p * n / SELECT_PRODUCERS, (p + 1) * n / SELECT_PRODUCERS);
            thread::spawn(move || {
                for i in lo..hi {
                    tx.send(i).unwrap();
                }
            });
            rx
        })
        .collect();
    let mut sum = 0;
    for _ in 0..n {
        select! {
            recv(rxs[0]) -> v => sum += v.unwrap(),
            recv(rxs[1]) -> v => sum += v.unwrap(),
            recv(rxs[2]) -> v => sum += v.unwrap(),
            recv(rxs[3]) -> v => sum += v.unwrap(),
        }
    }
    let elapsed = start.elapsed();
    drop(keep);
    Ok(Outcome::new(elapsed, n, sum))
}

fn tcp_echo(rounds: u64) -> Res {
    let ln = TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    let addr = ln.local_addr().map_err(|e| e.to_string())?;
    thread::spawn(move || {
        for conn in ln.incoming() {
            let Ok(conn) = conn else { return };
            thread::spawn(move || {
                let _ = conn.set_nodelay(true);
                echo_serve(conn);
            });
        }
    });
    let start = Instant::now();
    let clients: Vec<_> = (0..TCP_CLIENTS)
        .map(|_| {
            thread::spawn(move || -> std::io::Result<u64> {
                let conn = TcpStream::connect(addr)?;
                conn.set_nodelay(true)?;
                echo_client(conn, rounds)
            })
        })
        .collect();
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

fn timers(n: u64) -> Res {
    if n > MAX_THREADS {
        return too_many(n);
    }
    let start = Instant::now();
    let handles: Vec<_> = (0..n)
        .map(|i| {
            thread::spawn(move || {
                let ms = timer_ms(i);
                thread::sleep(Duration::from_millis(ms));
                ms
            })
        })
        .collect();
    let total = handles.into_iter().map(|h| h.join().unwrap()).sum();
    Ok(Outcome::new(start.elapsed(), n, total))
}

fn main() {
    let mut args = args(RT);
    if args.workload == "spawn" {
        // The size for threads: 10k, whatever the goroutine runtimes get.
        args.n = args.n.min(MAX_THREADS);
    }
    if args.workload == "pingpong" {
        args.n = args.n.min(PINGPONG_MAX);
    }
    let n = args.n;
    let res = match args.workload.as_str() {
        "spawn" => spawn(n),
        "park_memory" => park_memory(n),
        "wake_all" => park_memory(n).map(Outcome::into_wake_all),
        "skynet" => too_many(n + n / 9),
        "pingpong" => pingpong(n),
        "mpmc" => mpmc(n),
        "mutex" => mutex(n),
        "yield" => yield_(n),
        "select" => select_(n),
        "tcp_echo" => tcp_echo(n),
        "timers" => timers(n),
        "timer_lateness" => {
            Err("not implemented for this runtime (the target compares gorun with Go)".into())
        }
        _ => unreachable!(),
    };
    report(RT, &args, res);
}
