//! `select!` and `Select`: Go's select test programs translated, plus races and fairness.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use gorun::{chan, go, select, Builder, RecvError, Select, SendError};

mod common;
use common::{in_child, run_child_within};

#[test]
fn non_blocking_select() {
    gorun::run(|| {
        let (tx, rx) = chan::<i32>(0);
        let got = select! {
            recv(rx) -> _ => "recv",
            default => "default",
        };
        assert_eq!(got, "default");
        let got = select! {
            send(tx, 1) -> _ => "sent",
            default => "default",
        };
        assert_eq!(got, "default");

        let (btx, brx) = chan::<i32>(1);
        select! {
            send(btx, 5) -> r => assert_eq!(r, Ok(())),
            default => panic!("buffer had room"),
        }
        select! {
            send(btx, 6) -> _ => panic!("buffer is full"),
            default => {}
        }
        select! {
            recv(brx) -> v => assert_eq!(v, Ok(5)),
            default => panic!("a value was buffered"),
        }
        // Only a default.
        let x = select! { default => 3 };
        assert_eq!(x, 3);
        drop(tx);
    });
}

#[test]
fn select_parks_until_one_is_ready() {
    gorun::run(|| {
        let (tx1, rx1) = chan::<i32>(0);
        let (_tx2, rx2) = chan::<String>(0);
        go(move || {
            gorun::sleep(Duration::from_millis(2));
            tx1.send(42).unwrap();
        });
        select! {
            recv(rx1) -> v => assert_eq!(v, Ok(42)),
            recv(rx2) -> _ => panic!("nothing sent on rx2"),
        }
        // A parked send case.
        let (tx, rx) = chan::<i32>(0);
        let h = go(move || {
            gorun::sleep(Duration::from_millis(2));
            rx.recv()
        });
        let never = gorun::never::<i32>();
        select! {
            send(tx, 9) -> r => assert_eq!(r, Ok(())),
            recv(never) -> _ => unreachable!(),
        }
        assert_eq!(h.join().unwrap(), Ok(9));
    });
}

#[test]
fn select_timeout_and_closed() {
    gorun::run(|| {
        let (tx, rx) = chan::<i32>(0);
        let r = select! {
            recv(rx) -> _ => false,
            default(Duration::from_millis(5)) => true,
        };
        assert!(r);
        tx.close();
        select! {
            recv(rx) -> v => assert_eq!(v, Err(RecvError)),
            default(Duration::from_secs(10)) => panic!("closed channel is ready"),
        }
        select! {
            send(tx, 3) -> r => assert_eq!(r, Err(SendError(3))),
            default => panic!("closed channel is ready for send"),
        }
        // A select parked on a channel that gets closed wakes.
        let (tx, rx) = chan::<i32>(0);
        let h = go(move || {
            select! {
                recv(rx) -> v => v,
            }
        });
        gorun::sleep(Duration::from_millis(2));
        drop(tx);
        assert_eq!(h.join().unwrap(), Err(RecvError));
    });
}

#[test]
fn double_select_delivers_once() {
    // Go's doubleselect: many senders select over several channels, receivers select too.
    gorun::run(|| {
        const N: u64 = 100_000;
        let chans: Vec<_> = (0..4).map(|_| chan::<u64>(0)).collect();
        let txs: Vec<_> = chans.iter().map(|c| c.0.clone()).collect();
        let rxs: Vec<_> = chans.iter().map(|c| c.1.clone()).collect();
        drop(chans);
        let sender = go(move || {
            for i in 0..N {
                select! {
                    send(txs[0], i) -> r => r.unwrap(),
                    send(txs[1], i) -> r => r.unwrap(),
                    send(txs[2], i) -> r => r.unwrap(),
                    send(txs[3], i) -> r => r.unwrap(),
                }
            }
        });
        let mut consumers = Vec::new();
        for k in 0..4 {
            let rxs: Vec<_> = rxs.to_vec();
            consumers.push(go(move || {
                let mut got = Vec::new();
                loop {
                    // Alternate between a select over all and a plain receive on one.
                    let r = if k % 2 == 0 {
                        select! {
                            recv(rxs[0]) -> v => v,
                            recv(rxs[1]) -> v => v,
                            recv(rxs[2]) -> v => v,
                            recv(rxs[3]) -> v => v,
                        }
                    } else {
                        rxs[k].recv()
                    };
                    match r {
                        Ok(v) => got.push(v),
                        Err(_) => return got,
                    }
                }
            }));
        }
        drop(rxs);
        sender.join().unwrap();
        // All senders are gone with the sender goroutine: channels are closed.
        let mut seen = HashSet::new();
        for c in consumers {
            for v in c.join().unwrap() {
                assert!(seen.insert(v), "value {v} delivered twice");
            }
        }
        assert_eq!(seen.len() as u64, N);
    });
}

#[test]
fn fairness_among_ready_cases() {
    gorun::run(|| {
        let chans: Vec<_> = (0..3).map(|_| chan::<u8>(1)).collect();
        let mut counts = [0u32; 3];
        for _ in 0..30_000 {
            for (tx, _) in &chans {
                let _ = tx.try_send(0);
            }
            select! {
                recv(chans[0].1) -> _ => counts[0] += 1,
                recv(chans[1].1) -> _ => counts[1] += 1,
                recv(chans[2].1) -> _ => counts[2] += 1,
            }
        }
        for c in counts {
            assert!((9000..11000).contains(&c), "unfair: {counts:?}");
        }
    });
}

#[test]
fn same_channel_in_several_cases() {
    gorun::run(|| {
        let (tx, rx) = chan::<i32>(0);
        let (tx2, rx2) = (tx.clone(), rx.clone());
        let h = go(move || {
            let mut n = 0;
            for i in 0..1000 {
                select! {
                    recv(rx2) -> v => n += v.unwrap(),
                    recv(rx2) -> v => n += v.unwrap(),
                    send(tx2, i) -> _ => unreachable!("no one else receives"),
                }
            }
            n
        });
        let mut sum = 0;
        for i in 0..1000 {
            // The select never pairs its own send with its own receive.
            tx.send(i).unwrap();
            sum += i;
        }
        assert_eq!(h.join().unwrap(), sum);
        drop(rx);
    });
}

#[test]
fn select_send_and_recv_between_selects() {
    gorun::run(|| {
        let (tx, rx) = chan::<u32>(0);
        let (tx2, rx2) = (tx.clone(), rx.clone());
        let a = go(move || {
            let mut got = 0;
            let mut sent = 0;
            while got + sent < 2000 {
                select! {
                    send(tx2, 1) -> _ => sent += 1,
                    recv(rx2) -> v => got += v.unwrap(),
                }
            }
            (sent, got)
        });
        let mut got = 0;
        let mut sent = 0;
        while got + sent < 2000 {
            select! {
                send(tx, 1) -> _ => sent += 1,
                recv(rx) -> v => got += v.unwrap(),
            }
        }
        let (a_sent, a_got) = a.join().unwrap();
        assert_eq!(a_sent, got);
        assert_eq!(a_got, sent);
    });
}

#[test]
fn dynamic_select() {
    gorun::run(|| {
        let chans: Vec<_> = (0..10).map(|_| chan::<usize>(0)).collect();
        for (i, (tx, _)) in chans.iter().enumerate() {
            let tx = tx.clone();
            go(move || tx.send(i).unwrap());
        }
        let mut seen = [false; 10];
        for _ in 0..10 {
            let mut sel = Select::new();
            for (_, rx) in &chans {
                sel.recv(rx);
            }
            let op = sel.select();
            let i = op.index();
            let v = op.recv(&chans[i].1).unwrap();
            assert_eq!(v, i);
            seen[i] = true;
        }
        assert!(seen.iter().all(|&s| s));
        assert!(Select::new().try_select().is_err());
        assert!(Select::new()
            .select_timeout(Duration::from_millis(1))
            .is_err());
    });
}

#[test]
fn select_with_timers() {
    gorun::run(|| {
        let (_tx, rx) = chan::<i32>(0);
        let timeout = gorun::after(Duration::from_millis(5));
        let mut ticks = 0;
        let tick = gorun::tick(Duration::from_millis(1));
        loop {
            select! {
                recv(rx) -> _ => unreachable!(),
                recv(tick) -> t => { t.unwrap(); ticks += 1; }
                recv(timeout) -> _ => break,
            }
        }
        let _ = ticks;
    });
}

#[test]
fn select_from_plain_threads() {
    let (tx, rx) = chan::<u32>(0);
    let (qtx, qrx) = chan::<()>(0);
    let t = std::thread::spawn(move || {
        let mut sum = 0;
        loop {
            select! {
                recv(rx) -> v => sum += v.unwrap(),
                recv(qrx) -> _ => return sum,
            }
        }
    });
    gorun::run(move || {
        for i in 0..100 {
            tx.send(i).unwrap();
        }
        qtx.send(()).unwrap();
    });
    assert_eq!(t.join().unwrap(), 4950);
}

#[test]
fn stress_select_no_loss_between_goroutines_and_threads() {
    let total = gorun::run(|| {
        let (tx, rx) = chan::<u64>(2);
        let (tx_b, rx_b) = chan::<u64>(0);
        let sum = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let mut consumers = Vec::new();
        for _ in 0..4 {
            let (rx, rx_b, sum) = (rx.clone(), rx_b.clone(), sum.clone());
            consumers.push(go(move || loop {
                let v = select! {
                    recv(rx) -> v => v,
                    recv(rx_b) -> v => v,
                };
                match v {
                    Ok(v) => {
                        sum.fetch_add(v, std::sync::atomic::Ordering::Relaxed);
                    }
                    Err(_) => return,
                }
            }));
        }
        let mut threads = Vec::new();
        for _ in 0..2 {
            let (tx, tx_b) = (tx.clone(), tx_b.clone());
            threads.push(std::thread::spawn(move || {
                for i in 1..=2000u64 {
                    select! {
                        send(tx, i) -> r => r.unwrap(),
                        send(tx_b, i) -> r => r.unwrap(),
                    }
                }
            }));
        }
        // Join in the blocking pool: a plain join would stall this worker, and with one
        // worker the consumers could never run.
        gorun::blocking(move || threads.into_iter().for_each(|t| t.join().unwrap()));
        // Close one channel; the consumers keep draining the other, then it closes too.
        drop(tx);
        drop(tx_b);
        drop((rx, rx_b));
        for c in consumers {
            c.join().unwrap();
        }
        sum.load(std::sync::atomic::Ordering::Relaxed)
    });
    assert_eq!(total, 2 * 2000 * 2001 / 2);
}

#[test]
fn macro_syntax_forms() {
    gorun::run(|| {
        let (tx, rx) = chan::<i32>(4);
        tx.send(1).unwrap();
        // A borrowed operand, a block body without a trailing comma, a trailing comma.
        let r = &rx;
        let v = select! {
            recv(r) -> v => { v.unwrap() }
            recv(gorun::never::<i32>()) -> _ => unreachable!(),
        };
        assert_eq!(v, 1);
        select! {
            send(&tx, 2) -> res => res.unwrap(),
        }
        let n = select! {
            recv(rx) -> v => v.unwrap(),
            default(Duration::from_millis(1)) => { -1 }
        };
        assert_eq!(n, 2);
        let mut hit = false;
        select! {
            recv(rx) -> _ => {}
            default => { hit = true; }
        }
        assert!(hit);
    });
}

#[test]
fn select_no_cases_parks() {
    gorun::run(|| {
        // `select! {}` never returns; run it in a goroutine that main abandons.
        let h = go(|| -> () {
            select! {}
        });
        gorun::sleep(Duration::from_millis(2));
        drop(h);
    });
}

#[test]
fn abandoned_waiters_are_withdrawn() {
    let (tx, rx) = chan::<i32>(0);
    let keep = rx.clone();
    gorun::run(move || {
        let rx2 = rx.clone();
        go(move || rx2.recv());
        go(move || {
            select! {
                recv(rx) -> v => v,
            }
        });
        gorun::sleep(Duration::from_millis(2));
    });
    // Both goroutines were unwound when main returned: nobody takes the value.
    assert_eq!(tx.try_send(1), Err(gorun::TrySendError::Full(1)));
    drop(keep);
}

#[test]
fn select_with_borrowed_values() {
    // `select!` needs no `'static` values (the dynamic `Select` does).
    let s = String::from("hi");
    let (tx, rx) = chan::<&str>(1);
    select! {
        send(tx, s.as_str()) -> r => r.unwrap(),
    }
    select! {
        recv(rx) -> v => assert_eq!(v, Ok("hi")),
    }
}

#[test]
fn stress_select_with_close_in_the_middle() {
    for cap in [0, 3] {
        let (sent, received) = gorun::run(move || {
            let (tx_a, rx_a) = chan::<u64>(cap);
            let (tx_b, rx_b) = chan::<u64>(cap);
            let mut senders = Vec::new();
            for s in 0..6u64 {
                let (tx_a, tx_b) = (tx_a.clone(), tx_b.clone());
                senders.push(go(move || {
                    let mut ok = Vec::new();
                    // Bounded, but far more than fit before the close below.
                    for i in 0..1_000_000u64 {
                        let v = s << 32 | i;
                        let r = select! {
                            send(tx_a, v) -> r => r,
                            send(tx_b, v) -> r => r,
                        };
                        match r {
                            Ok(()) => ok.push(v),
                            Err(e) => {
                                assert_eq!(e.0, v, "the failed value comes back");
                                break;
                            }
                        }
                    }
                    ok
                }));
            }
            let mut receivers = Vec::new();
            for _ in 0..4 {
                let (rx_a, rx_b) = (rx_a.clone(), rx_b.clone());
                receivers.push(go(move || {
                    let mut got = Vec::new();
                    let (mut a_open, mut b_open) = (true, true);
                    while a_open || b_open {
                        let never = gorun::never::<u64>();
                        let a = if a_open { &rx_a } else { &never };
                        let b = if b_open { &rx_b } else { &never };
                        select! {
                            recv(a) -> v => match v {
                                Ok(v) => got.push(v),
                                Err(_) => a_open = false,
                            },
                            recv(b) -> v => match v {
                                Ok(v) => got.push(v),
                                Err(_) => b_open = false,
                            },
                        }
                    }
                    got
                }));
            }
            drop((rx_a, rx_b));
            gorun::sleep(Duration::from_millis(3));
            tx_a.close();
            tx_b.close();
            let sent: Vec<u64> = senders
                .into_iter()
                .flat_map(|h| h.join().unwrap())
                .collect();
            let received: Vec<u64> = receivers
                .into_iter()
                .flat_map(|h| h.join().unwrap())
                .collect();
            (sent, received)
        });
        let r: HashSet<u64> = received.iter().copied().collect();
        assert_eq!(r.len(), received.len(), "a value was received twice");
        let s: HashSet<u64> = sent.iter().copied().collect();
        assert_eq!(r, s, "a sent value was lost (cap {cap})");
        assert!(s.len() < 6_000_000, "the close landed in the middle");
    }
}

/// A select fed through unbuffered channels by producers homed on the other worker: every
/// value is a hand-off across workers. This once crawled (a full search spin plus a futex
/// sleep/wake on each side per value; seconds to minutes, looking like a stalled, lost
/// wake-up) whenever the woken worker's thread had to wait for the CPU the waking worker
/// spun on (see `SEARCH_YIELD_EVERY` in the worker). It runs in a child with a generous
/// limit: a hang (or a lost wake-up) fails it; the limit is not a measurement.
#[test]
fn select_fed_across_workers_completes() {
    const N: u64 = 200_000;
    if in_child() {
        for _ in 0..3 {
            let sum = Builder::new().workers(2).run(|| {
                // The senders are kept open: a producer that is done must not make its
                // channel ready (closed) for the select.
                let (mut keep, mut rxs) = (Vec::new(), Vec::new());
                for p in 0..4u64 {
                    let (tx, rx) = chan::<u64>(0);
                    keep.push(tx.clone());
                    go(move || {
                        for i in p * N / 4..(p + 1) * N / 4 {
                            tx.send(i).unwrap();
                        }
                    });
                    rxs.push(rx);
                }
                // Hold this worker (a blocking call, deliberately) so that the other one
                // steals some producers: the hand-offs below then cross workers.
                std::thread::sleep(Duration::from_millis(5));
                let (r0, r1, r2, r3) = (&rxs[0], &rxs[1], &rxs[2], &rxs[3]);
                let mut sum = 0u64;
                for _ in 0..N {
                    select! {
                        recv(r0) -> v => sum += v.unwrap(),
                        recv(r1) -> v => sum += v.unwrap(),
                        recv(r2) -> v => sum += v.unwrap(),
                        recv(r3) -> v => sum += v.unwrap(),
                    }
                }
                sum
            });
            assert_eq!(sum, N * (N - 1) / 2);
        }
        println!("finished");
        return;
    }
    let out = run_child_within(
        "select_fed_across_workers_completes",
        Duration::from_secs(120),
    );
    assert!(out.status.success(), "stderr: {}", out.stderr);
    assert!(out.stdout.contains("finished"), "stdout: {}", out.stdout);
}
