//! Channel behaviour: Go's channel test programs translated, std mpsc-style tests, stress.

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

mod common;

use gorun::{
    chan, go, Receiver, RecvError, RecvTimeoutError, SendError, SendTimeoutError, Sender,
    TryRecvError, TrySendError,
};

#[test]
fn prime_sieve() {
    fn generate(tx: Sender<u32>) {
        for i in 2.. {
            if tx.send(i).is_err() {
                return;
            }
        }
    }
    fn filter(rx: Receiver<u32>, tx: Sender<u32>, p: u32) {
        for v in &rx {
            if v % p != 0 && tx.send(v).is_err() {
                return;
            }
        }
    }
    let primes = gorun::run(|| {
        let (tx, mut rx) = chan(0);
        go(move || generate(tx));
        let mut primes = Vec::new();
        for _ in 0..25 {
            let p = rx.recv().unwrap();
            primes.push(p);
            let (tx1, rx1) = chan(0);
            go(move || filter(rx, tx1, p));
            rx = rx1;
        }
        primes
    });
    assert_eq!(
        primes,
        [
            2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59, 61, 67, 71, 73, 79, 83,
            89, 97
        ]
    );
}

#[test]
fn fifo_single_sender() {
    gorun::run(|| {
        for cap in [0, 1, 7, 100] {
            let (tx, rx) = chan(cap);
            go(move || {
                for i in 0..1000 {
                    tx.send(i).unwrap();
                }
            });
            let got: Vec<i32> = rx.iter().collect();
            assert_eq!(got, (0..1000).collect::<Vec<_>>());
        }
    });
}

#[test]
fn fifo_per_sender_many_senders() {
    gorun::run(|| {
        let (tx, rx) = chan::<(usize, usize)>(3);
        for s in 0..10 {
            let tx = tx.clone();
            go(move || {
                for i in 0..300 {
                    tx.send((s, i)).unwrap();
                }
            });
        }
        drop(tx);
        let mut next = [0usize; 10];
        for (s, i) in &rx {
            assert_eq!(next[s], i, "sender {s} out of order");
            next[s] += 1;
        }
        assert!(next.iter().all(|&n| n == 300));
    });
}

#[test]
fn unbuffered_send_needs_a_receiver() {
    gorun::run(|| {
        let (tx, rx) = chan::<i32>(0);
        assert_eq!(tx.try_send(1), Err(TrySendError::Full(1)));
        assert_eq!(
            tx.send_timeout(2, Duration::from_millis(20)),
            Err(SendTimeoutError::Timeout(2))
        );
        assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
        assert_eq!((tx.len(), tx.capacity(), rx.capacity()), (0, 0, 0));
        // A send completes only once the value is taken.
        let done = Arc::new(AtomicUsize::new(0));
        let d = done.clone();
        let h = go(move || {
            tx.send(3).unwrap();
            d.store(1, Ordering::SeqCst);
        });
        for _ in 0..50 {
            gorun::yield_now();
        }
        assert_eq!(done.load(Ordering::SeqCst), 0);
        assert_eq!(rx.recv(), Ok(3));
        h.join().unwrap();
        assert_eq!(done.load(Ordering::SeqCst), 1);
    });
}

#[test]
fn buffered_parked_senders_keep_order() {
    gorun::run(|| {
        let (tx, rx) = chan::<usize>(2);
        tx.send(0).unwrap();
        tx.send(1).unwrap();
        assert_eq!(tx.len(), 2);
        assert_eq!(tx.try_send(9), Err(TrySendError::Full(9)));
        // Park senders one at a time so their order is known.
        let mut hs = Vec::new();
        for i in 2..6 {
            let tx = tx.clone();
            hs.push(go(move || tx.send(i).unwrap()));
            for _ in 0..20 {
                gorun::yield_now();
            }
        }
        let got: Vec<usize> = (0..6).map(|_| rx.recv().unwrap()).collect();
        assert_eq!(got, [0, 1, 2, 3, 4, 5]);
        for h in hs {
            h.join().unwrap();
        }
        assert_eq!(rx.len(), 0);
    });
}

#[test]
fn close_drains_then_errors() {
    gorun::run(|| {
        let (tx, rx) = chan(3);
        tx.send(1).unwrap();
        tx.send(2).unwrap();
        tx.close();
        tx.close(); // harmless
        assert!(tx.is_closed() && rx.is_closed());
        assert_eq!(tx.send(3), Err(SendError(3)));
        assert_eq!(tx.try_send(4), Err(TrySendError::Closed(4)));
        assert_eq!(rx.recv(), Ok(1));
        assert_eq!(rx.try_recv(), Ok(2));
        assert_eq!(rx.recv(), Err(RecvError));
        assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected));
        assert_eq!(
            rx.recv_timeout(Duration::from_secs(5)),
            Err(RecvTimeoutError::Disconnected)
        );
    });
}

#[test]
fn close_wakes_parked_receivers_and_senders() {
    gorun::run(|| {
        let (tx, rx) = chan::<i32>(0);
        let receivers: Vec<_> = (0..5)
            .map(|_| {
                let rx = rx.clone();
                go(move || rx.recv())
            })
            .collect();
        let senders: Vec<_> = (0..5)
            .map(|i| {
                let tx = tx.clone();
                go(move || tx.send(i))
            })
            .collect();
        // Senders and receivers pair up; then close: whoever is still parked wakes.
        for _ in 0..50 {
            gorun::yield_now();
        }
        let (tx2, rx2) = chan::<i32>(0);
        let r2: Vec<_> = (0..3)
            .map(|_| {
                let rx2 = rx2.clone();
                go(move || rx2.recv())
            })
            .collect();
        let s2: Vec<_> = (0..3)
            .map(|i| {
                let tx2 = tx2.clone();
                go(move || tx2.send(i))
            })
            .collect();
        tx.close();
        let got: usize = receivers
            .into_iter()
            .map(|h| h.join().unwrap().is_ok() as usize)
            .sum();
        let sent: usize = senders
            .into_iter()
            .map(|h| h.join().unwrap().is_ok() as usize)
            .sum();
        assert_eq!(got, sent);
        for _ in 0..50 {
            gorun::yield_now();
        }
        tx2.close();
        let ok_r = r2
            .into_iter()
            .map(|h| h.join().unwrap())
            .collect::<Vec<_>>();
        let ok_s = s2
            .into_iter()
            .map(|h| h.join().unwrap())
            .collect::<Vec<_>>();
        assert_eq!(
            ok_r.iter().filter(|r| r.is_ok()).count(),
            ok_s.iter().filter(|r| r.is_ok()).count()
        );
        for r in ok_s.iter().filter_map(|r| r.err()) {
            assert!((0..3).contains(&r.0));
        }
    });
}

#[test]
fn dropping_last_sender_closes_and_last_receiver_disconnects() {
    gorun::run(|| {
        let (tx, rx) = chan::<i32>(0);
        let tx2 = tx.clone();
        let h = go(move || rx.recv());
        drop(tx);
        gorun::yield_now();
        drop(tx2);
        assert_eq!(h.join().unwrap(), Err(RecvError));

        // A parked sender gets its value back when every receiver goes away.
        let (tx, rx) = chan::<String>(0);
        let h = go(move || tx.send("kept".to_string()));
        for _ in 0..20 {
            gorun::yield_now();
        }
        drop(rx);
        assert_eq!(h.join().unwrap(), Err(SendError("kept".to_string())));
    });
}

#[test]
fn zero_sized_values() {
    gorun::run(|| {
        let (tx, rx) = chan::<()>(1000);
        for _ in 0..1000 {
            tx.send(()).unwrap();
        }
        assert_eq!(tx.len(), 1000);
        assert_eq!(tx.try_send(()), Err(TrySendError::Full(())));
        drop(tx);
        assert_eq!(rx.iter().count(), 1000);
        let (tx, rx) = chan::<()>(0);
        go(move || (0..100).for_each(|_| tx.send(()).unwrap()));
        assert_eq!(rx.into_iter().count(), 100);
    });
}

#[test]
fn chain_of_10000_goroutines() {
    let n = gorun::run(|| {
        let (first_tx, mut rx) = chan::<u64>(0);
        for _ in 0..10_000 {
            let (tx, next_rx) = chan(0);
            let from = rx;
            go(move || {
                let v = from.recv().unwrap();
                tx.send(v + 1).unwrap();
            });
            rx = next_rx;
        }
        first_tx.send(0).unwrap();
        rx.recv().unwrap()
    });
    assert_eq!(n, 10_000);
}

#[test]
fn mpsc_style_smoke_and_shared() {
    gorun::run(|| {
        let (tx, rx) = chan::<i32>(10);
        tx.send(1).unwrap();
        assert_eq!(rx.recv().unwrap(), 1);
        let mut hs = Vec::new();
        for _ in 0..8 {
            let tx = tx.clone();
            hs.push(go(move || {
                for _ in 0..1000 {
                    tx.send(1).unwrap();
                }
            }));
        }
        drop(tx);
        assert_eq!(rx.iter().sum::<i32>(), 8000);
        for h in hs {
            h.join().unwrap();
        }
    });
}

#[test]
fn timeouts() {
    gorun::run(|| {
        let (tx, rx) = chan::<i32>(1);
        assert_eq!(
            rx.recv_timeout(Duration::from_millis(10)),
            Err(RecvTimeoutError::Timeout)
        );
        tx.send_timeout(1, Duration::from_millis(10)).unwrap();
        assert_eq!(
            tx.send_timeout(2, Duration::from_millis(10)),
            Err(SendTimeoutError::Timeout(2))
        );
        // A timed-out waiter leaves nothing behind: the next value goes to the next receiver.
        assert_eq!(rx.recv_timeout(Duration::from_millis(10)), Ok(1));
        let _ = rx.recv_timeout(Duration::from_millis(5));
        let h = go(move || rx.recv());
        gorun::sleep(Duration::from_millis(5));
        tx.send(5).unwrap();
        assert_eq!(h.join().unwrap(), Ok(5));
    });
}

#[test]
fn after_and_tick() {
    gorun::run(|| {
        let start = Instant::now();
        let t = gorun::after(Duration::from_millis(10)).recv().unwrap();
        // Never early (a lower bound only: how late depends on the machine).
        assert!(
            t >= start + Duration::from_millis(10),
            "fired after {:?}",
            t - start
        );
        let tick = gorun::tick(Duration::from_millis(2));
        let a = tick.recv().unwrap();
        let b = tick.recv().unwrap();
        assert!(b > a);
        drop(tick);
        // A fired `after` channel is not closed: a later receive just waits.
        let a = gorun::after(Duration::from_millis(1));
        a.recv().unwrap();
        assert_eq!(
            a.recv_timeout(Duration::from_millis(5)),
            Err(RecvTimeoutError::Timeout)
        );
    });
    // From a plain thread, outside any runtime.
    let a = gorun::after(Duration::from_millis(1));
    a.recv().unwrap();
    let t = gorun::tick(Duration::from_millis(1));
    t.recv().unwrap();
    t.recv().unwrap();
}

#[test]
fn never_is_never_ready() {
    gorun::run(|| {
        let n = gorun::never::<i32>();
        assert_eq!(n.try_recv(), Err(TryRecvError::Empty));
        assert_eq!(
            n.recv_timeout(Duration::from_millis(5)),
            Err(RecvTimeoutError::Timeout)
        );
    });
}

#[test]
fn goroutines_and_plain_threads() {
    gorun::run(|| {
        let (tx, rx) = chan::<u32>(0);
        let (back_tx, back_rx) = chan::<u32>(0);
        let t = std::thread::spawn(move || {
            for v in &rx {
                back_tx.send(v * 2).unwrap();
            }
        });
        for i in 0..1000 {
            tx.send(i).unwrap();
            assert_eq!(back_rx.recv().unwrap(), i * 2);
        }
        drop(tx);
        assert_eq!(back_rx.recv(), Err(RecvError));
        gorun::blocking(move || t.join().unwrap());
    });
    // Two plain threads, no runtime at all.
    let (tx, rx) = chan::<u32>(0);
    let t = std::thread::spawn(move || (0..100).for_each(|i| tx.send(i).unwrap()));
    assert_eq!(rx.iter().sum::<u32>(), 4950);
    t.join().unwrap();
}

#[test]
fn stress_goroutines_and_threads_with_close() {
    for cap in [0, 4] {
        let (received, sent) = gorun::run(move || {
            let (tx, rx) = chan::<u64>(cap);
            let sent = Arc::new(std::sync::Mutex::new(Vec::new()));
            let mut producers = Vec::new();
            let mut threads = Vec::new();
            for p in 0..8u64 {
                let (tx, sent) = (tx.clone(), sent.clone());
                producers.push(go(move || {
                    for i in 0..2000 {
                        let v = p << 32 | i;
                        match tx.send(v) {
                            Ok(()) => sent.lock().unwrap().push(v),
                            Err(e) => {
                                assert_eq!(e.0, v);
                                return;
                            }
                        }
                    }
                }));
            }
            for t in 0..2u64 {
                let rx = rx.clone();
                let tx = tx.clone();
                threads.push(std::thread::spawn(move || {
                    let mut got = Vec::new();
                    for i in 0..1000u64 {
                        if i % 2 == 0 {
                            let v = (100 + t) << 32 | i;
                            if tx.send(v).is_err() {
                                break;
                            }
                            got.push((true, v));
                        }
                        match rx.recv() {
                            Ok(v) => got.push((false, v)),
                            Err(_) => break,
                        }
                    }
                    got
                }));
            }
            let mut received = Vec::new();
            let consumers: Vec<_> = (0..4)
                .map(|_| {
                    let rx = rx.clone();
                    go(move || rx.iter().collect::<Vec<_>>())
                })
                .collect();
            drop(rx);
            gorun::sleep(Duration::from_millis(5));
            tx.close();
            for p in producers {
                p.join().unwrap();
            }
            let mut sent = std::mem::take(&mut *sent.lock().unwrap());
            // Join in the blocking pool, not on this worker.
            let joined = gorun::blocking(move || {
                threads
                    .into_iter()
                    .map(|t| t.join().unwrap())
                    .collect::<Vec<_>>()
            });
            for got in joined {
                for (is_send, v) in got {
                    if is_send {
                        sent.push(v);
                    } else {
                        received.push(v);
                    }
                }
            }
            for c in consumers {
                received.extend(c.join().unwrap());
            }
            (received, sent)
        });
        let set: HashSet<u64> = received.iter().copied().collect();
        assert_eq!(set.len(), received.len(), "a value was delivered twice");
        let sent_set: HashSet<u64> = sent.iter().copied().collect();
        assert_eq!(set, sent_set, "a value was lost");
    }
}

#[test]
fn handles_are_send_sync_and_clone() {
    fn assert_send_sync<T: Send + Sync + Clone>() {}
    // `Cell` is Send but not Sync: the handles are still shareable, as in crossbeam.
    assert_send_sync::<Sender<std::cell::Cell<i32>>>();
    assert_send_sync::<Receiver<std::cell::Cell<i32>>>();
}

#[test]
fn len_and_capacity() {
    gorun::run(|| {
        let (tx, rx) = chan::<u8>(3);
        assert_eq!((tx.len(), tx.capacity(), rx.is_empty()), (0, 3, true));
        tx.send(1).unwrap();
        tx.send(2).unwrap();
        assert_eq!((tx.len(), rx.len()), (2, 2));
        rx.recv().unwrap();
        assert_eq!(rx.len(), 1);
        let v: Vec<u8> = rx.try_iter().collect();
        assert_eq!(v, [2]);
        assert!(!rx.is_closed());
    });
}

#[test]
fn deadlock_on_channels_is_reported() {
    // In a child process: see diag.rs, `try_run_returns_the_report_and_the_thread_can_run_again`.
    if !common::in_child() {
        let out = common::run_child("deadlock_on_channels_is_reported");
        assert!(out.status.success(), "stderr: {}", out.stderr);
        return;
    }
    let err = gorun::Builder::new()
        .try_run(|| {
            let (_tx, rx) = chan::<i32>(0);
            rx.recv().ok();
        })
        .unwrap_err()
        .to_string();
    assert!(err.contains("all goroutines are asleep"), "{err}");
    assert!(err.contains("[chan receive]"), "{err}");
}

/// Parked waiters are reused from one blocking operation to the next on a channel: each
/// reuse must wake whoever parks this time (goroutines and a plain thread in turn, with
/// timeouts in between), never the previous owner.
#[test]
fn reused_waiters_wake_their_current_owner() {
    gorun::Builder::new().workers(2).run(|| {
        let (tx, rx) = chan::<u32>(0);
        let (done_tx, done_rx) = chan::<u32>(0);
        let thread_rx = rx.clone();
        let thread_done = done_tx.clone();
        let t = std::thread::spawn(move || {
            let mut n = 0;
            while n < 200 {
                // Timeouts in between withdraw the thread's waiter from the queue.
                match thread_rx.recv_timeout(Duration::from_micros(50)) {
                    Ok(v) => {
                        thread_done.send(v).unwrap();
                        n += 1;
                    }
                    Err(e) => assert_eq!(e, RecvTimeoutError::Timeout),
                }
            }
        });
        let mut hs = Vec::new();
        for _ in 0..2 {
            let (rx, done_tx) = (rx.clone(), done_tx.clone());
            hs.push(go(move || {
                for _ in 0..200 {
                    let v = rx.recv().unwrap();
                    done_tx.send(v).unwrap();
                }
            }));
        }
        drop((rx, done_tx));
        let mut got = Vec::new();
        for i in 0..600 {
            tx.send(i).unwrap();
            got.push(done_rx.recv().unwrap());
        }
        got.sort_unstable();
        assert_eq!(got, (0..600).collect::<Vec<_>>());
        for h in hs {
            h.join().unwrap();
        }
        t.join().unwrap();
    });
}

/// A close wakes its parked receivers in chunks (the lock released in between): all of
/// them, more than one chunk's worth, with the closed error; and a sender dropped while a
/// goroutine unwinds at shutdown closes a crowded channel without switching.
#[test]
fn close_wakes_thousands_of_receivers() {
    gorun::Builder::new().workers(2).run(|| {
        let (tx, rx) = chan::<u32>(0);
        let hs: Vec<_> = (0..3000)
            .map(|_| {
                let rx = rx.clone();
                go(move || rx.recv())
            })
            .collect();
        while gorun::metrics().parks < 3000 {
            gorun::sleep(Duration::from_millis(1));
        }
        tx.close();
        for h in hs {
            assert_eq!(h.join().unwrap(), Err(RecvError));
        }
    });
    gorun::Builder::new().workers(2).run(|| {
        let (tx, rx) = chan::<u32>(0);
        // Abandoned at exit and unwound first (goroutines unwind in spawn order): dropping
        // the last sender closes the channel while 3000 receivers still wait on it.
        go(move || {
            let _tx = tx;
            gorun::sleep(Duration::from_secs(3600));
        });
        for _ in 0..3000 {
            let rx = rx.clone();
            go(move || rx.recv());
        }
        gorun::sleep(Duration::from_millis(20));
    });
}
