//! Virtual time (`Builder::virtual_time`, Go's `testing/synctest`), `synctest::wait`, and
//! `#[gorun::test]`'s arguments and fatal reports. The expectations follow Go 1.25's
//! synctest examples and behaviour.

mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{in_child, run_child};
use gorun::sync::{Cond, Mutex};
use gorun::time::now;
use gorun::{Builder, Context, ContextError};

const SEC: Duration = Duration::from_secs(1);

fn virt(workers: usize) -> Builder {
    Builder::new().virtual_time(true).workers(workers)
}

/// Go's first synctest example: a goroutine sleeping 1 s is observed at exactly 1 s.
#[test]
fn sleeper_wakes_at_exactly_one_second() {
    for workers in [1, 4] {
        virt(workers).run(|| {
            let start = now();
            let h = gorun::go(move || {
                gorun::sleep(SEC);
                now() - start
            });
            assert_eq!(h.join().unwrap(), SEC);
            assert_eq!(now() - start, SEC);
        });
    }
}

#[test]
fn an_hour_of_sleeps_takes_no_real_hour() {
    let real = Instant::now();
    virt(2).run(|| {
        let start = now();
        for _ in 0..3600 {
            gorun::sleep(SEC);
        }
        assert_eq!(now() - start, Duration::from_secs(3600));
    });
    // A hang check, not a timing one: real time would be an hour.
    assert!(real.elapsed() < Duration::from_secs(600));
}

#[test]
fn timeouts_fire_in_deadline_order() {
    for workers in [1, 3] {
        virt(workers).run(|| {
            let start = now();
            let (tx, rx) = gorun::chan::<(u64, Duration)>(0);
            for secs in [3u64, 1, 5, 2, 4] {
                let tx = tx.clone();
                gorun::go(move || {
                    gorun::sleep(Duration::from_secs(secs));
                    tx.send((secs, now() - start)).unwrap();
                });
            }
            drop(tx);
            let got: Vec<_> = rx.iter().collect();
            let want: Vec<_> = (1..=5).map(|s| (s, Duration::from_secs(s))).collect();
            assert_eq!(got, want);
        });
    }
}

/// Timers due at the same instant fire in the order they were set (on one worker, the
/// goroutines they wake run in that order).
#[test]
fn equal_deadlines_fire_in_creation_order() {
    virt(1).run(|| {
        let deadline = now() + SEC;
        let armed = Arc::new(std::sync::Mutex::new(Vec::new()));
        let fired = Arc::new(std::sync::Mutex::new(Vec::new()));
        let hs: Vec<_> = (0..8)
            .map(|i| {
                let (armed, fired) = (armed.clone(), fired.clone());
                gorun::go(move || {
                    armed.lock().unwrap().push(i);
                    gorun::at(deadline).recv().unwrap();
                    fired.lock().unwrap().push(i);
                })
            })
            .collect();
        for h in hs {
            h.join().unwrap();
        }
        assert_eq!(*fired.lock().unwrap(), *armed.lock().unwrap());
    });
}

/// Go's synctest example for `context.WithTimeout`: not expired 1 ns before the deadline,
/// expired exactly at it.
#[test]
fn context_with_timeout_expires_exactly_at_its_deadline() {
    virt(2).run(|| {
        let timeout = Duration::from_secs(5);
        let (ctx, _cancel) = Context::background().with_timeout(timeout);
        gorun::sleep(timeout - Duration::from_nanos(1));
        gorun::synctest::wait();
        assert_eq!(ctx.err(), None, "before the timeout");
        gorun::sleep(Duration::from_nanos(1));
        gorun::synctest::wait();
        assert_eq!(ctx.err(), Some(ContextError::DeadlineExceeded));

        let start = now();
        let (ctx, _cancel) = Context::background().with_deadline(start + SEC);
        assert!(ctx.done().recv().is_err());
        assert_eq!(now() - start, SEC);
    });
}

#[test]
fn every_timeout_runs_on_the_virtual_clock() {
    virt(2).run(|| {
        let start = now();
        let since = move || now() - start;
        let (tx, rx) = gorun::chan::<u32>(0);
        assert!(rx.recv_timeout(SEC).is_err());
        assert_eq!(since(), SEC);
        assert!(tx.send_timeout(1, SEC).is_err());
        assert_eq!(since(), 2 * SEC);
        gorun::select! {
            recv(rx) -> _ => unreachable!(),
            default(SEC) => {}
        }
        assert_eq!(since(), 3 * SEC);
        let m = Mutex::new(());
        let (_g, r) = Cond::new().wait_timeout(m.lock(), SEC);
        assert!(r.timed_out());
        assert_eq!(since(), 4 * SEC);
        assert_eq!(gorun::after(SEC).recv().unwrap(), start + 5 * SEC);
        let t = gorun::Timer::new(SEC);
        assert_eq!(t.c().recv().unwrap(), start + 6 * SEC);
        let ticker = gorun::Ticker::new(SEC);
        for i in 7..10 {
            assert_eq!(ticker.c().recv().unwrap(), start + i * SEC);
        }
        ticker.stop();
        let ticks = gorun::tick(SEC);
        assert_eq!(ticks.recv().unwrap(), start + 10 * SEC);
        assert_eq!(since(), 10 * SEC);
    });
}

/// Go's `synctest.Wait`: returns once every other goroutine is durably blocked, so what
/// they did by now is visible.
#[test]
fn wait_returns_once_the_others_are_durably_blocked() {
    virt(3).run(|| {
        let (tx, rx) = gorun::chan::<u32>(0);
        let got = Arc::new(AtomicUsize::new(0));
        let g = got.clone();
        gorun::go(move || {
            for v in &rx {
                g.fetch_add(v as usize, Ordering::SeqCst);
            }
        });
        let m = Arc::new(Mutex::new(0));
        let guard = m.lock();
        let m2 = m.clone();
        let locked = gorun::go(move || *m2.lock() += 1);
        for v in 1..=4 {
            tx.send(v).unwrap();
        }
        gorun::synctest::wait();
        // The receiver took every value and waits again; the locker waits for the lock.
        assert_eq!(got.load(Ordering::SeqCst), 10);
        drop(guard);
        locked.join().unwrap();
        assert_eq!(*m.lock(), 1);
        // Nothing else: returns at once, and the clock has not moved.
        let t = now();
        gorun::synctest::wait();
        assert_eq!(now(), t);
    });
}

/// A goroutine in `blocking` is not durably blocked: neither `wait` nor the clock goes on
/// until it is back.
#[test]
fn blocking_call_holds_the_clock_and_wait() {
    virt(2).run(|| {
        let start = now();
        let done = Arc::new(AtomicBool::new(false));
        let d = done.clone();
        gorun::go(move || {
            gorun::blocking(move || std::thread::sleep(Duration::from_millis(50)));
            d.store(true, Ordering::SeqCst);
        });
        gorun::sleep(Duration::from_nanos(1));
        assert!(
            done.load(Ordering::SeqCst),
            "the clock moved during a blocking call"
        );
        assert_eq!(now() - start, Duration::from_nanos(1));

        let done = Arc::new(AtomicBool::new(false));
        let d = done.clone();
        gorun::go(move || {
            gorun::blocking(move || std::thread::sleep(Duration::from_millis(50)));
            d.store(true, Ordering::SeqCst);
        });
        gorun::synctest::wait();
        assert!(
            done.load(Ordering::SeqCst),
            "wait returned during a blocking call"
        );
    });
}

/// The clock never moves while a goroutine runs or is runnable.
#[test]
fn clock_stands_still_while_a_goroutine_runs() {
    virt(2).run(|| {
        let start = now();
        let spun = Arc::new(AtomicBool::new(false));
        let s = spun.clone();
        gorun::go(move || {
            let real = Instant::now();
            while real.elapsed() < Duration::from_millis(50) {
                assert_eq!(now(), start);
                gorun::yield_now();
            }
            s.store(true, Ordering::SeqCst);
        });
        gorun::sleep(SEC);
        assert!(
            spun.load(Ordering::SeqCst),
            "the clock moved while a goroutine ran"
        );
        assert_eq!(now() - start, SEC);
    });
}

/// A goroutine waiting for a socket is not durably blocked (the netpoller, not a
/// goroutine, wakes it): the clock waits for it.
#[test]
fn socket_read_holds_the_clock() {
    virt(2).run(|| {
        let ln = gorun::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = ln.local_addr().unwrap();
        let writer = std::thread::spawn(move || {
            use std::io::Write;
            let mut c = std::net::TcpStream::connect(addr).unwrap();
            std::thread::sleep(Duration::from_millis(50));
            c.write_all(b"x").unwrap();
        });
        let (mut conn, _) = ln.accept().unwrap();
        let read = Arc::new(AtomicBool::new(false));
        let r = read.clone();
        gorun::go(move || {
            use std::io::Read;
            let mut b = [0u8; 1];
            conn.read_exact(&mut b).unwrap();
            r.store(true, Ordering::SeqCst);
        });
        gorun::sleep(SEC);
        assert!(
            read.load(Ordering::SeqCst),
            "the clock moved during a socket read"
        );
        writer.join().unwrap();
    });
}

#[test]
fn now_outside_virtual_time_is_real() {
    let before = Instant::now();
    assert!(now() >= before);
    gorun::run(|| {
        let t = Instant::now();
        assert!(now() >= t);
    });
}

#[test]
fn deadlock_under_virtual_time_is_reported() {
    if in_child() {
        virt(2).run(|| {
            let (_tx, rx) = gorun::chan::<u32>(0);
            gorun::go(|| gorun::sleep(Duration::from_secs(3600)));
            gorun::sleep(Duration::from_secs(7200));
            rx.recv().unwrap();
        });
        return;
    }
    let out = run_child("deadlock_under_virtual_time_is_reported");
    assert_eq!(out.status.code(), Some(2), "stderr: {}", out.stderr);
    assert!(
        out.stderr
            .contains("fatal error: all goroutines are asleep - deadlock!"),
        "stderr: {}",
        out.stderr
    );
    assert!(
        out.stderr.contains("goroutine 1 [chan receive]:"),
        "stderr: {}",
        out.stderr
    );
}

#[gorun::test(virtual_time)]
fn macro_virtual_time() {
    let start = now();
    gorun::sleep(Duration::from_secs(86_400));
    assert_eq!(now() - start, Duration::from_secs(86_400));
}

#[gorun::test(workers = 3, virtual_time)]
fn macro_workers_and_virtual_time() {
    let hs: Vec<_> = (0..6).map(|_| gorun::go(|| gorun::sleep(SEC))).collect();
    for h in hs {
        h.join().unwrap();
    }
    assert_eq!(gorun::metrics().workers, 3);
}

#[gorun::test(workers = 1)]
#[should_panic(expected = "panic: detached boom")]
fn macro_detached_panic_fails_the_test() {
    gorun::go(|| panic!("detached boom"));
    gorun::sleep(Duration::from_secs(10));
}

#[gorun::test(virtual_time)]
fn macro_deadlock_child() {
    if !in_child() {
        return;
    }
    let (_tx, rx) = gorun::chan::<u32>(0);
    rx.recv().unwrap();
}

/// Under `#[gorun::test]` a deadlock fails that test with a panic carrying the report,
/// instead of exiting the test binary with code 2.
#[test]
fn macro_deadlock_fails_the_test_with_the_report() {
    let out = run_child("macro_deadlock_child");
    assert_eq!(out.status.code(), Some(101), "stderr: {}", out.stderr);
    assert!(
        out.stderr
            .contains("fatal error: all goroutines are asleep - deadlock!"),
        "stderr: {}",
        out.stderr
    );
    assert!(out.stderr.contains("panicked"), "stderr: {}", out.stderr);
    assert!(
        out.stdout.contains("macro_deadlock_child ... FAILED"),
        "stdout: {}",
        out.stdout
    );
}

#[gorun::main(workers = 2, virtual_time)]
fn main_with_arguments() -> Duration {
    let start = now();
    gorun::sleep(Duration::from_secs(600));
    assert_eq!(gorun::metrics().workers, 2);
    now() - start
}

#[test]
fn main_macro_takes_the_same_arguments() {
    assert_eq!(main_with_arguments(), Duration::from_secs(600));
}

/// Many goroutines on several workers, each sleeping different amounts in a loop: every
/// wake-up sees the clock exactly at its deadline (it never moved on while a woken
/// goroutine was still runnable), and timeouts in `select!` fire exactly too.
#[test]
fn many_sleepers_each_wake_exactly_at_their_deadline() {
    virt(4).run(|| {
        let (_tx, never) = gorun::chan::<()>(0);
        let hs: Vec<_> = (0..200u64)
            .map(|i| {
                let never = never.clone();
                gorun::go(move || {
                    for j in 0..20u64 {
                        let d = Duration::from_millis(1 + (i * 7 + j * 13) % 50);
                        let before = now();
                        if j % 2 == 0 {
                            gorun::sleep(d);
                        } else {
                            gorun::select! {
                                recv(never) -> _ => unreachable!(),
                                default(d) => {}
                            }
                        }
                        assert_eq!(now() - before, d, "goroutine {i}, round {j}");
                    }
                })
            })
            .collect();
        for h in hs {
            h.join().unwrap();
        }
    });
}

/// Socket timeouts are on real time: the virtual clock stands still while a goroutine
/// waits for I/O, so a timeout on it would never fire.
#[test]
fn socket_read_timeout_fires_on_real_time() {
    virt(2).run(|| {
        let ln = gorun::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = ln.local_addr().unwrap();
        let client = std::net::TcpStream::connect(addr).unwrap();
        let (mut conn, _) = ln.accept().unwrap();
        conn.set_read_timeout(Some(Duration::from_millis(20)))
            .unwrap();
        let start = now();
        let mut b = [0u8; 1];
        let err = std::io::Read::read(&mut conn, &mut b).unwrap_err();
        assert!(
            matches!(
                err.kind(),
                std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock
            ),
            "{err}"
        );
        assert_eq!(now(), start, "the virtual clock moved during I/O");
        drop(client);
    });
}
