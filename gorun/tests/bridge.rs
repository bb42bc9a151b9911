//! The async bridge without optional features: `block_on` on goroutines and plain threads,
//! wake-ups from foreign threads, `JoinHandle` as a future (awaited from Tokio too), and the
//! async channel ends mixed with blocking ones, cancellation included.

use std::collections::HashSet;
use std::future::Future;
use std::pin::{pin, Pin};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

/// A future that completes once `fire` is called, from any thread.
#[derive(Clone, Default)]
struct Flag(Arc<(AtomicBool, Mutex<Option<Waker>>)>);

impl Flag {
    fn fire(&self) {
        self.0 .0.store(true, Ordering::SeqCst);
        if let Some(w) = self.0 .1.lock().unwrap().take() {
            w.wake();
        }
    }
}

impl Future for Flag {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        *self.0 .1.lock().unwrap() = Some(cx.waker().clone());
        if self.0 .0.load(Ordering::SeqCst) {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

/// A waker that counts its wake-ups.
#[derive(Default)]
struct Counter(AtomicUsize);

impl Wake for Counter {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

fn poll_once<F: Future + Unpin>(f: &mut F, w: &Waker) -> Poll<F::Output> {
    Pin::new(f).poll(&mut Context::from_waker(w))
}

#[test]
fn block_on_parks_the_goroutine_not_its_thread() {
    // One worker: if `block_on` blocked the thread, the sender could never run.
    gorun::Builder::new().workers(1).run(|| {
        let (tx, rx) = gorun::chan::<u32>(0);
        let h = gorun::go(move || gorun::block_on(async { rx.recv_async().await.unwrap() * 2 }));
        gorun::go(move || tx.send(21).unwrap());
        assert_eq!(h.join().unwrap(), 42);
        assert_eq!(gorun::block_on(async { 5 }), 5);
    });
}

#[test]
fn block_on_on_a_plain_thread() {
    let flag = Flag::default();
    let f = flag.clone();
    let t = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(20));
        f.fire();
    });
    gorun::block_on(flag);
    t.join().unwrap();
    let (tx, rx) = gorun::chan::<&str>(0);
    let t = std::thread::spawn(move || tx.send("hi").unwrap());
    assert_eq!(gorun::block_on(rx.recv_async()), Ok("hi"));
    t.join().unwrap();
}

#[test]
fn a_foreign_thread_wakes_block_on_after_the_worker_slept() {
    gorun::Builder::new().workers(1).run(|| {
        let flag = Flag::default();
        let f = flag.clone();
        let h = gorun::go(move || {
            gorun::block_on(f);
            "woken"
        });
        // The goroutine shows as waiting on a future while the worker has nothing to do.
        while !gorun::dump().contains("goroutine 2 [future]:") {
            gorun::sleep(Duration::from_millis(1));
        }
        let dump = gorun::dump();
        assert!(
            dump.contains("\twaiting at gorun/tests/bridge.rs:"),
            "{dump}"
        );
        let t = std::thread::spawn(move || {
            // Long enough for the only worker to go to sleep in between.
            std::thread::sleep(Duration::from_millis(50));
            flag.fire();
        });
        assert_eq!(h.join().unwrap(), "woken");
        t.join().unwrap();
    });
}

/// Runs this binary's test `name` alone in a child process (`--test-threads=1`, so no
/// other thread of the test harness can count as a possible waker) for at most `limit`;
/// returns its stderr, or `None` if it was still running and was killed.
fn child_stderr_within(name: &str, limit: Duration) -> Option<String> {
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args([name, "--exact", "--nocapture", "--test-threads=1"])
        .env("GORUN_BRIDGE_CHILD", "1")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let start = std::time::Instant::now();
    while start.elapsed() < limit {
        if child.try_wait().unwrap().is_some() {
            let mut err = String::new();
            std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
            return Some(err);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    None
}

fn in_child() -> bool {
    std::env::var_os("GORUN_BRIDGE_CHILD").is_some()
}

#[test]
fn a_pending_future_is_not_a_deadlock() {
    if in_child() {
        // Nothing will ever wake it, but the detector cannot know that a future's waker
        // (held by some reactor) will not fire: no report, the program keeps waiting.
        let (_tx, rx) = gorun::chan::<()>(0);
        let _ = gorun::Builder::new().try_run(move || {
            gorun::go(move || gorun::block_on(std::future::pending::<()>()));
            rx.recv().ok(); // main: asleep on a channel
        });
        eprintln!("reported");
        return;
    }
    // The control: the same program without the future is reported at once.
    let control = child_stderr_within("a_channel_wait_is_a_deadlock", Duration::from_secs(30));
    assert!(control.is_some_and(|e| e.contains("DEADLOCK-REPORTED")));
    assert_eq!(
        child_stderr_within("a_pending_future_is_not_a_deadlock", Duration::from_secs(2)),
        None,
        "a goroutine waiting on a future was taken for a deadlock"
    );
}

#[test]
fn a_channel_wait_is_a_deadlock() {
    if in_child() {
        let (_tx, rx) = gorun::chan::<()>(0);
        let r = gorun::Builder::new().try_run(move || rx.recv().ok());
        if r.is_err() {
            eprintln!("DEADLOCK-REPORTED");
        }
    }
}

#[test]
fn join_handle_is_a_future() {
    gorun::run(|| {
        let h = gorun::go(|| {
            gorun::sleep(Duration::from_millis(5));
            7
        });
        assert_eq!(gorun::block_on(h).unwrap(), 7);

        let h = gorun::go(|| -> u32 { panic!("boom") });
        let err = gorun::block_on(h).unwrap_err();
        assert_eq!(err.downcast_ref::<&str>(), Some(&"boom"));

        // Polled with one waker, then another, then joined: all see the same result.
        let (tx, rx) = gorun::chan::<()>(0);
        let mut h = gorun::go(move || {
            rx.recv().unwrap();
            9
        });
        let (a, b) = (Arc::new(Counter::default()), Arc::new(Counter::default()));
        assert!(poll_once(&mut h, &Waker::from(a.clone())).is_pending());
        assert!(poll_once(&mut h, &Waker::from(b.clone())).is_pending());
        tx.send(()).unwrap();
        assert_eq!(h.join().unwrap(), 9);
    });
}

#[test]
fn join_handle_awaited_from_tokio() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    gorun::run(|| {
        let (tx, rx) = gorun::chan::<u64>(0);
        let handles: Vec<_> = (0..10u64)
            .map(|i| {
                gorun::go(move || {
                    gorun::sleep(Duration::from_millis(i));
                    i * i
                })
            })
            .collect();
        rt.spawn(async move {
            let mut sum = 0;
            for h in handles {
                sum += h.await.unwrap();
            }
            tx.send_async(sum).await.unwrap();
        });
        assert_eq!(rx.recv(), Ok((0..10u64).map(|i| i * i).sum()));
    });
}

#[test]
fn async_and_blocking_ends_mix() {
    const N: u64 = 2000;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    gorun::run(|| {
        for cap in [0, 3] {
            // Tokio sends, goroutines receive.
            let (tx, rx) = gorun::chan::<u64>(cap);
            let sender = rt.spawn(async move {
                for i in 0..N {
                    tx.send_async(i).await.unwrap();
                }
            });
            let receivers: Vec<_> = (0..3)
                .map(|_| {
                    let rx = rx.clone();
                    gorun::go(move || rx.iter().sum::<u64>())
                })
                .collect();
            drop(rx);
            let got: u64 = receivers.into_iter().map(|h| h.join().unwrap()).sum();
            assert_eq!(got, N * (N - 1) / 2);
            gorun::block_on(sender).unwrap();

            // Goroutines send, Tokio and a goroutine's block_on receive.
            let (tx, rx) = gorun::chan::<u64>(cap);
            for k in 0..2 {
                let tx = tx.clone();
                gorun::go(move || (k..N).step_by(2).for_each(|i| tx.send(i).unwrap()));
            }
            drop(tx);
            let rx2 = rx.clone();
            let t = rt.spawn(async move {
                let mut sum = 0;
                while let Ok(v) = rx2.recv_async().await {
                    sum += v;
                }
                sum
            });
            let mine = gorun::block_on(async {
                let mut sum = 0;
                while let Ok(v) = rx.recv_async().await {
                    sum += v;
                }
                sum
            });
            let theirs = gorun::block_on(t).unwrap();
            assert_eq!(mine + theirs, N * (N - 1) / 2);
        }
    });
}

#[test]
fn send_and_recv_futures_report_closed_channels() {
    let (tx, rx) = gorun::chan::<u8>(0);
    let mut recv = rx.recv_async();
    let w = Waker::from(Arc::new(Counter::default()));
    assert!(poll_once(&mut recv, &w).is_pending());
    tx.close();
    assert_eq!(poll_once(&mut recv, &w), Poll::Ready(Err(gorun::RecvError)));
    let (tx, rx) = gorun::chan::<u8>(0);
    let mut send = tx.send_async(4);
    assert!(poll_once(&mut send, &w).is_pending());
    drop(rx);
    match poll_once(&mut send, &w) {
        Poll::Ready(Err(e)) => assert_eq!(e.into_inner(), 4),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_value_handed_to_a_dropped_receive_goes_to_the_next_receiver() {
    let (tx, rx) = gorun::chan::<u32>(0);
    let (wa, wb) = (Arc::new(Counter::default()), Arc::new(Counter::default()));
    let mut a = rx.recv_async();
    let mut b = rx.recv_async();
    assert!(poll_once(&mut a, &Waker::from(wa.clone())).is_pending());
    assert!(poll_once(&mut b, &Waker::from(wb.clone())).is_pending());
    tx.try_send(1).unwrap(); // to `a`, the oldest receiver
    assert_eq!(wa.0.load(Ordering::SeqCst), 1);
    drop(a);
    assert_eq!(wb.0.load(Ordering::SeqCst), 1, "handed on to b");
    assert_eq!(poll_once(&mut b, &Waker::from(wb)), Poll::Ready(Ok(1)));
}

#[test]
fn a_value_handed_to_a_dropped_receive_goes_back_to_the_front_of_the_buffer() {
    for cap in [0, 2] {
        let (tx, rx) = gorun::chan::<u32>(cap);
        let w = Waker::from(Arc::new(Counter::default()));
        let mut a = rx.recv_async();
        assert!(poll_once(&mut a, &w).is_pending());
        tx.try_send(1).unwrap();
        if cap > 0 {
            tx.try_send(2).unwrap();
            tx.try_send(3).unwrap();
        }
        drop(a);
        let got: Vec<u32> = rx.try_iter().collect();
        let want: Vec<u32> = if cap > 0 { vec![1, 2, 3] } else { vec![1] };
        assert_eq!(got, want, "cap {cap}");
    }
}

#[test]
fn a_new_waker_keeps_the_place_in_the_queue() {
    let (tx, rx) = gorun::chan::<u32>(0);
    let (w1, w2, w3) = (
        Arc::new(Counter::default()),
        Arc::new(Counter::default()),
        Arc::new(Counter::default()),
    );
    let mut a = rx.recv_async();
    let mut b = rx.recv_async();
    assert!(poll_once(&mut a, &Waker::from(w1.clone())).is_pending());
    assert!(poll_once(&mut b, &Waker::from(w3.clone())).is_pending());
    assert!(poll_once(&mut a, &Waker::from(w2.clone())).is_pending());
    tx.try_send(5).unwrap();
    assert_eq!(w1.0.load(Ordering::SeqCst), 0, "the old waker is forgotten");
    assert_eq!(w2.0.load(Ordering::SeqCst), 1);
    assert_eq!(w3.0.load(Ordering::SeqCst), 0, "a is still first");
    assert_eq!(poll_once(&mut a, &Waker::from(w2)), Poll::Ready(Ok(5)));
}

#[test]
fn a_dropped_pending_send_is_withdrawn() {
    let (tx, rx) = gorun::chan::<u32>(0);
    let w = Waker::from(Arc::new(Counter::default()));
    let mut s = tx.send_async(1);
    assert!(poll_once(&mut s, &w).is_pending());
    drop(s);
    assert!(rx.try_recv().is_err(), "nothing was sent");
    // A receive future also completes a parked blocking sender.
    let t = std::thread::spawn(move || tx.send(2));
    assert_eq!(gorun::block_on(rx.recv_async()), Ok(2));
    t.join().unwrap().unwrap();
}

/// A value that logs whether it was received or dropped unreceived.
struct Tracked {
    id: u32,
    received: bool,
    dropped: Arc<Mutex<Vec<u32>>>,
}

impl Drop for Tracked {
    fn drop(&mut self) {
        if !self.received {
            self.dropped.lock().unwrap().push(self.id);
        }
    }
}

#[test]
fn cancelled_sends_and_receives_lose_and_duplicate_nothing() {
    const SENDERS: u32 = 3;
    const PER: u32 = 1500;
    for cap in [0usize, 2] {
        let dropped = Arc::new(Mutex::new(Vec::new()));
        let received = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = gorun::chan::<Tracked>(cap);
        let noop = Waker::noop();
        gorun::Builder::new().workers(2).run(|| {
            let mut hs = Vec::new();
            // Senders: blocking, async to completion, and async cancelled after one poll.
            for s in 0..SENDERS {
                let (tx, dropped) = (tx.clone(), dropped.clone());
                hs.push(gorun::go(move || {
                    for i in 0..PER {
                        let v = Tracked {
                            id: s * PER + i,
                            received: false,
                            dropped: dropped.clone(),
                        };
                        match (s + i) % 3 {
                            0 => tx.send(v).map_err(|_| ()).unwrap(),
                            1 => gorun::block_on(tx.send_async(v)).map_err(|_| ()).unwrap(),
                            _ => {
                                let mut f = tx.send_async(v);
                                if poll_once(&mut f, noop).is_pending() {
                                    gorun::yield_now();
                                }
                            }
                        }
                    }
                }));
            }
            drop(tx);
            // Receivers: blocking, and async ones that often give up after a poll.
            for r in 0..4u32 {
                let (rx, received) = (rx.clone(), received.clone());
                hs.push(gorun::go(move || {
                    let mut n = 0u32;
                    let take = |mut v: Tracked| {
                        v.received = true;
                        received.lock().unwrap().push(v.id);
                    };
                    loop {
                        n += 1;
                        if r == 0 || n.is_multiple_of(4) {
                            match rx.recv() {
                                Ok(v) => take(v),
                                Err(_) => break,
                            }
                            continue;
                        }
                        let mut f = rx.recv_async();
                        match poll_once(&mut f, noop) {
                            Poll::Ready(Ok(v)) => take(v),
                            Poll::Ready(Err(_)) => break,
                            Poll::Pending => {
                                gorun::yield_now();
                                if n.is_multiple_of(3) {
                                    if let Poll::Ready(r) = poll_once(&mut f, noop) {
                                        match r {
                                            Ok(v) => take(v),
                                            Err(_) => break,
                                        }
                                    }
                                }
                            } // dropped here if still pending
                        }
                    }
                }));
            }
            drop(rx);
            for h in hs {
                h.join().unwrap();
            }
        });
        let received = received.lock().unwrap();
        let dropped = dropped.lock().unwrap();
        let r: HashSet<u32> = received.iter().copied().collect();
        let d: HashSet<u32> = dropped.iter().copied().collect();
        assert_eq!(r.len(), received.len(), "a value was received twice");
        assert_eq!(d.len(), dropped.len(), "a value was dropped twice");
        assert!(r.is_disjoint(&d), "a value was received and also dropped");
        assert_eq!(
            r.len() + d.len(),
            (SENDERS * PER) as usize,
            "a value was lost"
        );
        // Only cancelled sends may drop values.
        assert!(
            d.iter().all(|id| (id / PER + id % PER) % 3 == 2),
            "cap {cap}"
        );
    }
}

#[test]
fn block_on_polls_again_after_a_spurious_wake() {
    gorun::run(|| {
        let polls = Arc::new(AtomicUsize::new(0));
        let p = polls.clone();
        let fut = std::future::poll_fn(move |cx| {
            if p.fetch_add(1, Ordering::SeqCst) < 3 {
                cx.waker().wake_by_ref(); // wakes itself: polled again
                Poll::Pending
            } else {
                Poll::Ready("done")
            }
        });
        assert_eq!(gorun::block_on(pin!(fut)), "done");
        assert_eq!(polls.load(Ordering::SeqCst), 4);
    });
}
