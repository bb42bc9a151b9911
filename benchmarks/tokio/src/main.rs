//! Tokio: multi-thread runtime, tokio::sync primitives. Each workload runs
//! inside a spawned task (like Go's main goroutine, it lives on a worker).
//!
//! Where tokio::sync has no exact counterpart of a Go primitive:
//! - unbuffered channels (pingpong, skynet, select) are `mpsc::channel(1)`,
//!   the smallest bounded capacity;
//! - the 4 consumers of mpmc share one `mpsc::Receiver` behind a
//!   `tokio::sync::Mutex` (tokio's mpsc has a single consumer);
//! - a WaitGroup is an atomic counter plus a `Notify`;
//! - park_memory's tasks wait on clones of one `watch::Receiver`, released by
//!   dropping the sender.

use bench_common::*;
use std::sync::atomic::{AtomicU64, Ordering::*};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch, Mutex, Notify};

const RT: &str = "tokio";

/// Go's sync.WaitGroup for tasks.
#[derive(Clone, Default)]
struct WaitGroup(Arc<(AtomicU64, Notify)>);

impl WaitGroup {
    fn add(&self, k: u64) {
        self.0 .0.fetch_add(k, AcqRel);
    }
    fn done(&self) {
        if self.0 .0.fetch_sub(1, AcqRel) == 1 {
            self.0 .1.notify_one();
        }
    }
    async fn wait(&self) {
        while self.0 .0.load(Acquire) != 0 {
            // notify_one stores a permit when nobody waits yet, so the
            // wake-up cannot be lost between the check and the await.
            self.0 .1.notified().await;
        }
    }
}

async fn spawn(n: u64) -> Res {
    let wg = WaitGroup::default();
    let count = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    for _ in 0..n {
        wg.add(1);
        let (wg, count) = (wg.clone(), count.clone());
        tokio::spawn(async move {
            count.fetch_add(1, Relaxed);
            wg.done();
        });
    }
    wg.wait().await;
    Ok(Outcome::new(start.elapsed(), n, count.load(Relaxed)))
}

async fn park_memory(n: u64) -> Res {
    let (tx, rx) = watch::channel(());
    let wg = WaitGroup::default();
    let ready = Arc::new(AtomicU64::new(0));
    let woken = Arc::new(AtomicU64::new(0));
    let mem = ParkMemory::start();
    let start = Instant::now();
    for _ in 0..n {
        wg.add(1);
        let (mut rx, wg, ready, woken) = (rx.clone(), wg.clone(), ready.clone(), woken.clone());
        tokio::spawn(async move {
            ready.fetch_add(1, Relaxed);
            let _ = rx.changed().await;
            woken.fetch_add(1, Relaxed);
            wg.done();
        });
    }
    drop(rx);
    while ready.load(Relaxed) < n {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let elapsed = start.elapsed();
    tokio::time::sleep(SETTLE).await;
    let mut o = Outcome::new(elapsed, n, 0);
    mem.parked(n, &mut o);
    let woke = Instant::now();
    drop(tx);
    wg.wait().await;
    o.wake = woke.elapsed();
    o.check = woken.load(Relaxed);
    Ok(o)
}

fn skynet_node(
    tx: mpsc::Sender<u64>,
    num: u64,
    size: u64,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> {
    Box::pin(async move {
        if size == 1 {
            let _ = tx.send(num).await;
            return;
        }
        let (rtx, mut rrx) = mpsc::channel(1);
        let sub = size / 10;
        for i in 0..10 {
            tokio::spawn(skynet_node(rtx.clone(), num + i * sub, sub));
        }
        drop(rtx);
        let mut sum = 0;
        for _ in 0..10 {
            sum += rrx.recv().await.unwrap();
        }
        let _ = tx.send(sum).await;
    })
}

async fn skynet(n: u64) -> Res {
    let start = Instant::now();
    let (tx, mut rx) = mpsc::channel(1);
    tokio::spawn(skynet_node(tx, 0, n));
    let sum = rx.recv().await.unwrap();
    Ok(Outcome::new(start.elapsed(), n, sum))
}

async fn pingpong(n: u64) -> Res {
    let (ping_tx, mut ping_rx) = mpsc::channel::<u64>(1);
    let (pong_tx, mut pong_rx) = mpsc::channel::<u64>(1);
    let start = Instant::now();
    let t = tokio::spawn(async move {
        while let Some(v) = ping_rx.recv().await {
            pong_tx.send(v).await.unwrap();
        }
    });
    let mut sum = 0;
    for i in 0..n {
        ping_tx.send(i).await.unwrap();
        sum += pong_rx.recv().await.unwrap();
    }
    drop(ping_tx);
    t.await.unwrap();
    Ok(Outcome::new(start.elapsed(), n, sum))
}

async fn mpmc(n: u64) -> Res {
    let (tx, rx) = mpsc::channel::<u64>(MPMC_CAP);
    let rx = Arc::new(Mutex::new(rx));
    let start = Instant::now();
    let producers: Vec<_> = (0..MPMC_PRODUCERS)
        .map(|p| {
            let tx = tx.clone();
            let (lo, hi) = (p * n / MPMC_PRODUCERS, (p + 1) * n / MPMC_PRODUCERS);
            tokio::spawn(async move {
                for i in lo..hi {
                    tx.send(i).await.unwrap();
                }
            })
        })
        .collect();
    drop(tx);
    let consumers: Vec<_> = (0..MPMC_CONSUMERS)
        .map(|_| {
            let rx = rx.clone();
            tokio::spawn(async move {
                let mut sum = 0u64;
                loop {
                    let v = rx.lock().await.recv().await;
                    match v {
                        Some(v) => sum += v,
                        None => return sum,
                    }
                }
            })
        })
        .collect();
    for p in producers {
        p.await.unwrap();
    }
    let mut total = 0;
    for c in consumers {
        total += c.await.unwrap();
    }
    Ok(Outcome::new(start.elapsed(), n, total))
}

async fn mutex(n: u64) -> Res {
    let counter = Arc::new(Mutex::new(0u64));
    let start = Instant::now();
    let handles: Vec<_> = (0..n)
        .map(|_| {
            let counter = counter.clone();
            tokio::spawn(async move {
                for _ in 0..MUTEX_INCREMENTS {
                    *counter.lock().await += 1;
                }
            })
        })
        .collect();
    for h in handles {
        h.await.unwrap();
    }
    let elapsed = start.elapsed();
    let check = *counter.lock().await;
    Ok(Outcome::new(elapsed, n * MUTEX_INCREMENTS, check))
}

async fn yield_(n: u64) -> Res {
    let start = Instant::now();
    let handles: Vec<_> = (0..2)
        .map(|_| {
            tokio::spawn(async move {
                for _ in 0..n {
                    tokio::task::yield_now().await;
                }
                n
            })
        })
        .collect();
    let mut count = 0;
    for h in handles {
        count += h.await.unwrap();
    }
    Ok(Outcome::new(start.elapsed(), 2 * n, count))
}

async fn select_(n: u64) -> Res {
    let start = Instant::now();
    let mut rxs: Vec<_> = (0..SELECT_PRODUCERS)
        .map(|p| {
            let (tx, rx) = mpsc::channel::<u64>(1);
            let (lo, hi) = (p * n / SELECT_PRODUCERS, (p + 1) * n / SELECT_PRODUCERS);
            tokio::spawn(async move {
                for i in lo..hi {
                    tx.send(i).await.unwrap();
                }
            });
            rx
        })
        .collect();
    let [r0, r1, r2, r3] = &mut rxs[..] else {
        unreachable!()
    };
    let mut sum = 0;
    let mut got = 0;
    // A closed channel's branch is disabled by its pattern not matching.
    while got < n {
        tokio::select! {
            Some(v) = r0.recv() => sum += v,
            Some(v) = r1.recv() => sum += v,
            Some(v) = r2.recv() => sum += v,
            Some(v) = r3.recv() => sum += v,
            else => break,
        }
        got += 1;
    }
    Ok(Outcome::new(start.elapsed(), n, sum))
}

async fn tcp_echo(rounds: u64) -> Res {
    let ln = TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| e.to_string())?;
    let addr = ln.local_addr().map_err(|e| e.to_string())?;
    tokio::spawn(async move {
        loop {
            let Ok((mut conn, _)) = ln.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let _ = conn.set_nodelay(true);
                let mut buf = [0u8; TCP_MSG];
                loop {
                    match conn.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(k) => {
                            if conn.write_all(&buf[..k]).await.is_err() {
                                return;
                            }
                        }
                    }
                }
            });
        }
    });
    let start = Instant::now();
    let clients: Vec<_> = (0..TCP_CLIENTS)
        .map(|_| {
            tokio::spawn(async move {
                let mut conn = TcpStream::connect(addr).await?;
                conn.set_nodelay(true)?;
                let mut msg = [0u8; TCP_MSG];
                for (i, b) in msg.iter_mut().enumerate() {
                    *b = i as u8;
                }
                let mut buf = [0u8; TCP_MSG];
                let mut total = 0;
                for _ in 0..rounds {
                    conn.write_all(&msg).await?;
                    conn.read_exact(&mut buf).await?;
                    total += buf.len() as u64;
                }
                Ok::<u64, std::io::Error>(total)
            })
        })
        .collect();
    let mut total = 0;
    for c in clients {
        total += c.await.unwrap().map_err(|e| e.to_string())?;
    }
    Ok(Outcome::new(
        start.elapsed(),
        rounds * TCP_CLIENTS as u64,
        total,
    ))
}

async fn timers(n: u64) -> Res {
    let start = Instant::now();
    let handles: Vec<_> = (0..n)
        .map(|i| {
            tokio::spawn(async move {
                let ms = timer_ms(i);
                tokio::time::sleep(Duration::from_millis(ms)).await;
                ms
            })
        })
        .collect();
    let mut total = 0;
    for h in handles {
        total += h.await.unwrap();
    }
    Ok(Outcome::new(start.elapsed(), n, total))
}

/// `n` sleeper tasks each sleep `LATENESS_ROUNDS` times while one spinning task per
/// worker keeps every worker busy; how late each timer fired (`sleep` only: Tokio has no
/// `after` channel).
async fn timer_lateness(n: u64) -> Res {
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let load: Vec<_> = (0..workers())
        .map(|_| {
            let stop = stop.clone();
            tokio::spawn(async move {
                while !stop.load(Relaxed) {
                    spin_for(LATENESS_SPIN);
                    tokio::task::yield_now().await;
                }
            })
        })
        .collect();
    let sleepers: Vec<_> = (0..n)
        .map(|i| {
            tokio::spawn(async move {
                let mut late = Vec::with_capacity(LATENESS_ROUNDS as usize);
                for k in 0..LATENESS_ROUNDS {
                    let d = Duration::from_millis(lateness_ms(i, k));
                    let start = Instant::now();
                    tokio::time::sleep(d).await;
                    late.push(start.elapsed().saturating_sub(d).as_nanos() as u64);
                }
                late
            })
        })
        .collect();
    let mut late = Vec::new();
    for h in sleepers {
        late.extend(h.await.unwrap());
    }
    stop.store(true, Relaxed);
    for h in load {
        h.await.unwrap();
    }
    Ok(lateness_outcome(late))
}

async fn run(workload: String, n: u64) -> Res {
    match workload.as_str() {
        "spawn" => spawn(n).await,
        "park_memory" => park_memory(n).await,
        "wake_all" => park_memory(n).await.map(Outcome::into_wake_all),
        "skynet" => skynet(n).await,
        "pingpong" => pingpong(n).await,
        "mpmc" => mpmc(n).await,
        "mutex" => mutex(n).await,
        "yield" => yield_(n).await,
        "select" => select_(n).await,
        "tcp_echo" => tcp_echo(n).await,
        "timers" => timers(n).await,
        "timer_lateness" => timer_lateness(n).await,
        _ => unreachable!(),
    }
}

fn main() {
    let args = args(RT);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers())
        .enable_all()
        .build()
        .expect("tokio runtime");
    let (w, n) = (args.workload.clone(), args.n);
    let res = rt.block_on(async move { tokio::spawn(run(w, n)).await.unwrap() });
    report(RT, &args, res);
}
