//! Fairness: every runnable goroutine runs within a bounded number of switches, whatever the
//! others do (`yield_now` is Go's `Gosched`), and a goroutine polling with non-blocking
//! operations yields once its coop budget is spent. Each program runs in a child process,
//! since the failure mode is a hang; the time limit is generous, not a measurement.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use gorun::Builder;

mod common;
use common::{in_child, run_child_within};

const LIMIT: Duration = Duration::from_secs(60);

fn assert_ends(test: &str) {
    let out = run_child_within(test, LIMIT);
    assert!(out.status.success(), "stderr: {}", out.stderr);
    assert!(out.stdout.contains("finished"), "stdout: {}", out.stdout);
}

#[test]
fn yield_loop_lets_every_unstarted_goroutine_run() {
    if in_child() {
        Builder::new().workers(1).run(|| {
            let ran = Arc::new(AtomicUsize::new(0));
            for _ in 0..5 {
                let ran = ran.clone();
                gorun::go(move || ran.fetch_add(1, Ordering::SeqCst));
            }
            while ran.load(Ordering::SeqCst) < 5 {
                gorun::yield_now();
            }
        });
        println!("finished");
        return;
    }
    assert_ends("yield_loop_lets_every_unstarted_goroutine_run");
}

#[test]
fn yielders_take_turns() {
    if in_child() {
        Builder::new().workers(1).run(|| {
            // Two goroutines that only yield, waiting for each other's progress: each must
            // get its turn behind the other.
            let a = Arc::new(AtomicUsize::new(0));
            let b = Arc::new(AtomicUsize::new(0));
            let (a2, b2) = (a.clone(), b.clone());
            let h = gorun::go(move || {
                for i in 1..=1000 {
                    b2.store(i, Ordering::SeqCst);
                    while a2.load(Ordering::SeqCst) < i {
                        gorun::yield_now();
                    }
                }
            });
            for i in 1..=1000 {
                while b.load(Ordering::SeqCst) < i {
                    gorun::yield_now();
                }
                a.store(i, Ordering::SeqCst);
            }
            h.join().unwrap();
        });
        println!("finished");
        return;
    }
    assert_ends("yielders_take_turns");
}

#[test]
fn ping_pong_does_not_starve_others() {
    if in_child() {
        Builder::new().workers(1).run(|| {
            // Two goroutines hand a token back and forth forever (each wakes the other into
            // `runnext`); a goroutine spawned afterwards, and one woken from a plain thread,
            // must still run.
            let stop = Arc::new(AtomicBool::new(false));
            let (tx1, rx1) = gorun::chan::<u32>(0);
            let (tx2, rx2) = gorun::chan::<u32>(0);
            let s = stop.clone();
            let ping = gorun::go(move || {
                while !s.load(Ordering::SeqCst) {
                    tx1.send(1).unwrap();
                    rx2.recv().unwrap();
                }
                drop(tx1);
            });
            let pong = gorun::go(move || {
                while let Ok(v) = rx1.recv() {
                    if tx2.send(v).is_err() {
                        break;
                    }
                }
            });
            let late = gorun::go(|| 7);
            assert_eq!(late.join().unwrap(), 7);
            let (ttx, trx) = gorun::chan::<u32>(0);
            std::thread::spawn(move || ttx.send(8).unwrap());
            assert_eq!(trx.recv().unwrap(), 8);
            stop.store(true, Ordering::SeqCst);
            ping.join().unwrap();
            pong.join().unwrap();
        });
        println!("finished");
        return;
    }
    assert_ends("ping_pong_does_not_starve_others");
}

#[test]
fn select_default_polling_loop_ends() {
    if in_child() {
        let v = Builder::new().workers(1).run(|| {
            let (tx, rx) = gorun::chan::<u32>(0);
            gorun::go(move || tx.send(5).unwrap());
            loop {
                gorun::select! {
                    recv(rx) -> v => break v.unwrap(),
                    default => {}
                }
            }
        });
        assert_eq!(v, 5);
        println!("finished");
        return;
    }
    assert_ends("select_default_polling_loop_ends");
}

#[test]
fn try_recv_polling_loop_ends() {
    if in_child() {
        let v = Builder::new().workers(1).run(|| {
            let (tx, rx) = gorun::chan::<u32>(0);
            gorun::go(move || tx.send(6).unwrap());
            loop {
                if let Ok(v) = rx.try_recv() {
                    break v;
                }
            }
        });
        assert_eq!(v, 6);
        println!("finished");
        return;
    }
    assert_ends("try_recv_polling_loop_ends");
}

#[test]
fn try_lock_and_try_send_polling_loops_end() {
    if in_child() {
        Builder::new().workers(1).run(|| {
            // A mutex held by a goroutine that must run to release it.
            let m = Arc::new(gorun::sync::Mutex::new(0));
            let guard_taken = Arc::new(AtomicBool::new(false));
            let (m2, g2) = (m.clone(), guard_taken.clone());
            gorun::go(move || {
                let _g = m2.lock();
                g2.store(true, Ordering::SeqCst);
                gorun::yield_now();
            });
            while !guard_taken.load(Ordering::SeqCst) {
                gorun::yield_now();
            }
            while m.try_lock().is_none() {}
            // A full channel drained by a goroutine that must run.
            let (tx, rx) = gorun::chan::<u32>(1);
            tx.send(0).unwrap();
            gorun::go(move || while rx.recv().is_ok() {});
            while tx.try_send(1).is_err() {}
        });
        println!("finished");
        return;
    }
    assert_ends("try_lock_and_try_send_polling_loops_end");
}

#[test]
fn socket_calls_that_never_park_still_yield() {
    if in_child() {
        Builder::new().workers(1).run(|| {
            // A goroutine writing to a socket that a plain thread drains: every write
            // completes at once, so it never parks; the goroutine that stops it runs on the
            // same worker.
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = l.local_addr().unwrap();
            let reader = std::thread::spawn(move || {
                let (mut s, _) = l.accept().unwrap();
                let mut sink = Vec::new();
                std::io::Read::read_to_end(&mut s, &mut sink).unwrap();
            });
            let stop = Arc::new(AtomicBool::new(false));
            let s2 = stop.clone();
            let mut sock = gorun::net::TcpStream::connect(addr).unwrap();
            gorun::go(move || s2.store(true, Ordering::SeqCst));
            while !stop.load(Ordering::SeqCst) {
                std::io::Write::write_all(&mut sock, b"x").unwrap();
            }
            drop(sock);
            reader.join().unwrap();
        });
        println!("finished");
        return;
    }
    assert_ends("socket_calls_that_never_park_still_yield");
}
