//! may: stackful coroutines (default 32 KiB stacks, each an mmap with a
//! PROT_NONE guard page). Each workload runs inside a coroutine.
//!
//! Where may has no exact counterpart of a Go primitive:
//! - may's channels are unbounded: pingpong and skynet use them as they are
//!   (one value in flight per channel anyway); select's producers can run
//!   ahead of the consumer; mpmc bounds its channel to 1024 with a
//!   `Semphore` (producers take a permit, consumers give it back);
//! - select is not run: may's `select!` hangs when called repeatedly on
//!   the same receivers (see `SELECT_BUG`);
//! - spawn and the join of other workloads use may's WaitGroup/JoinHandle.

use bench_common::*;
use may::coroutine;
use may::go;
use may::net::{TcpListener, TcpStream};
use may::sync::{mpmc, mpsc, Mutex, Semphore, WaitGroup};
use std::sync::atomic::{AtomicU64, Ordering::*};
use std::sync::Arc;
use std::time::{Duration, Instant};

const RT: &str = "may";

/// Coroutines spawned so far, for the failure message.
static SPAWNED: AtomicU64 = AtomicU64::new(0);

fn failure_note() -> String {
    let max_map = std::fs::read_to_string("/proc/sys/vm/max_map_count").unwrap_or_default();
    format!(
        "({} coroutines spawned before it; vm.max_map_count={})",
        SPAWNED.load(Relaxed),
        max_map.trim()
    )
}

/// Spawns a coroutine, turning may's spawn error (e.g. out of memory
/// mappings) into the workload's failure reason.
fn spawn_co<F, T>(f: F) -> Result<coroutine::JoinHandle<T>, String>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    // Safety: the closures spawned here use no thread-local storage.
    let h = unsafe { coroutine::Builder::new().spawn(f) }
        .map_err(|e| format!("coroutine spawn failed: {e}"))?;
    SPAWNED.fetch_add(1, Relaxed);
    Ok(h)
}

fn spawn(n: u64) -> Res {
    let wg = WaitGroup::new();
    let count = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    for _ in 0..n {
        let (wg, count) = (wg.clone(), count.clone());
        spawn_co(move || {
            count.fetch_add(1, Relaxed);
            drop(wg);
        })?;
    }
    wg.wait();
    Ok(Outcome::new(start.elapsed(), n, count.load(Relaxed)))
}

fn park_memory(n: u64) -> Res {
    let (tx, rx) = mpmc::channel::<()>();
    let wg = WaitGroup::new();
    let ready = Arc::new(AtomicU64::new(0));
    let woken = Arc::new(AtomicU64::new(0));
    let mem = ParkMemory::start();
    let start = Instant::now();
    for i in 0..n {
        let (rx, wg, ready, woken) = (rx.clone(), wg.clone(), ready.clone(), woken.clone());
        let spawned = spawn_co(move || {
            ready.fetch_add(1, Relaxed);
            let _ = rx.recv();
            woken.fetch_add(1, Relaxed);
            drop(wg);
        });
        if let Err(e) = spawned {
            drop(tx);
            return Err(format!("{e} after {i} parked coroutines"));
        }
    }
    drop(rx);
    while ready.load(Relaxed) < n {
        coroutine::sleep(Duration::from_millis(1));
    }
    let elapsed = start.elapsed();
    coroutine::sleep(SETTLE);
    let mut o = Outcome::new(elapsed, n, 0);
    mem.parked(n, &mut o);
    let woke = Instant::now();
    drop(tx);
    wg.wait();
    o.wake = woke.elapsed();
    o.check = woken.load(Relaxed);
    Ok(o)
}

fn skynet_node(tx: mpsc::Sender<u64>, num: u64, size: u64) {
    if size == 1 {
        let _ = tx.send(num);
        return;
    }
    let (rtx, rrx) = mpsc::channel();
    let sub = size / 10;
    for i in 0..10 {
        let rtx = rtx.clone();
        spawn_co(move || skynet_node(rtx, num + i * sub, sub)).unwrap();
    }
    drop(rtx);
    let sum: u64 = (0..10).map(|_| rrx.recv().unwrap()).sum();
    let _ = tx.send(sum);
}

fn skynet(n: u64) -> Res {
    let start = Instant::now();
    let (tx, rx) = mpsc::channel();
    spawn_co(move || skynet_node(tx, 0, n))?;
    let sum = rx.recv().unwrap();
    Ok(Outcome::new(start.elapsed(), n, sum))
}

fn pingpong(n: u64) -> Res {
    let (ping_tx, ping_rx) = mpsc::channel::<u64>();
    let (pong_tx, pong_rx) = mpsc::channel::<u64>();
    let start = Instant::now();
    let t = spawn_co(move || {
        for v in ping_rx.iter() {
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

fn mpmc(n: u64) -> Res {
    let (tx, rx) = mpmc::channel::<u64>();
    let slots = Arc::new(Semphore::new(MPMC_CAP));
    let start = Instant::now();
    let mut producers = Vec::new();
    for p in 0..MPMC_PRODUCERS {
        let (tx, slots) = (tx.clone(), slots.clone());
        let (lo, hi) = (p * n / MPMC_PRODUCERS, (p + 1) * n / MPMC_PRODUCERS);
        producers.push(spawn_co(move || {
            for i in lo..hi {
                slots.wait();
                tx.send(i).unwrap();
            }
        })?);
    }
    drop(tx);
    let mut consumers = Vec::new();
    for _ in 0..MPMC_CONSUMERS {
        let (rx, slots) = (rx.clone(), slots.clone());
        consumers.push(spawn_co(move || {
            let mut sum = 0u64;
            while let Ok(v) = rx.recv() {
                slots.post();
                sum += v;
            }
            sum
        })?);
    }
    for p in producers {
        p.join().unwrap();
    }
    let total = consumers.into_iter().map(|c| c.join().unwrap()).sum();
    Ok(Outcome::new(start.elapsed(), n, total))
}

fn mutex(n: u64) -> Res {
    let counter = Arc::new(Mutex::new(0u64));
    let start = Instant::now();
    let mut handles = Vec::new();
    for _ in 0..n {
        let counter = counter.clone();
        handles.push(spawn_co(move || {
            for _ in 0..MUTEX_INCREMENTS {
                *counter.lock().unwrap() += 1;
            }
        })?);
    }
    for h in handles {
        h.join().unwrap();
    }
    let elapsed = start.elapsed();
    let check = *counter.lock().unwrap();
    Ok(Outcome::new(elapsed, n * MUTEX_INCREMENTS, check))
}

fn yield_(n: u64) -> Res {
    let start = Instant::now();
    let mut handles = Vec::new();
    for _ in 0..2 {
        handles.push(spawn_co(move || {
            for _ in 0..n {
                coroutine::yield_now();
            }
            n
        })?);
    }
    let count = handles.into_iter().map(|h| h.join().unwrap()).sum();
    Ok(Outcome::new(start.elapsed(), 2 * n, count))
}

/// may's `select!` runs each branch's `recv` in a coroutine of its own and
/// cancels the losers. Called repeatedly on the same receivers it stops
/// delivering: with two pre-filled may mpsc (or mpmc) channels, the first
/// selects drain one channel and the next select blocks for ever although
/// the other channel still holds values (may 0.3.51). So the workload is not
/// run; `SELECT_BUG` is printed instead.
const SELECT_BUG: &str = "may::select! hangs when called repeatedly on the same receivers \
(a cancelled branch leaves its receiver stuck; may 0.3.51)";

fn tcp_echo(rounds: u64) -> Res {
    let ln = TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    let addr = ln.local_addr().map_err(|e| e.to_string())?;
    spawn_co(move || {
        for conn in ln.incoming() {
            let Ok(conn) = conn else { return };
            go!(move || {
                let _ = conn.set_nodelay(true);
                echo_serve(conn);
            });
        }
    })?;
    let start = Instant::now();
    let mut clients = Vec::new();
    for _ in 0..TCP_CLIENTS {
        clients.push(spawn_co(move || -> std::io::Result<u64> {
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

fn timers(n: u64) -> Res {
    let start = Instant::now();
    let mut handles = Vec::new();
    for i in 0..n {
        handles.push(
            spawn_co(move || {
                let ms = timer_ms(i);
                coroutine::sleep(Duration::from_millis(ms));
                ms
            })
            .map_err(|e| format!("{e} after {i} sleeping coroutines"))?,
        );
    }
    let total = handles.into_iter().map(|h| h.join().unwrap()).sum();
    Ok(Outcome::new(start.elapsed(), n, total))
}

fn main() {
    let args = args(RT);
    set_panic_note(failure_note);
    may::config().set_workers(workers());
    let (w, n) = (args.workload.clone(), args.n);
    let main = spawn_co(move || match w.as_str() {
        "spawn" => spawn(n),
        "park_memory" => park_memory(n),
        "wake_all" => park_memory(n).map(Outcome::into_wake_all),
        "skynet" => skynet(n),
        "pingpong" => pingpong(n),
        "mpmc" => mpmc(n),
        "mutex" => mutex(n),
        "yield" => yield_(n),
        "select" => Err(SELECT_BUG.to_string()),
        "tcp_echo" => tcp_echo(n),
        "timers" => timers(n),
        "timer_lateness" => {
            Err("not implemented for this runtime (the target compares gorun with Go)".into())
        }
        _ => unreachable!(),
    })
    .expect("spawn main coroutine");
    let res = main
        .join()
        .unwrap_or_else(|_| Err("main coroutine panicked".into()));
    report(RT, &args, res);
}
