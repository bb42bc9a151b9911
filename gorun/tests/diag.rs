//! Diagnostics: deadlock reports (in child processes), no false positives, dumps, leak
//! check, the stuck-worker warning, SIGQUIT dumps, metrics.

use std::sync::Arc;
use std::time::Duration;

use gorun::sync::{Mutex, RwLock, WaitGroup};

mod common;
use common::{emulated, in_child, run_child};

const DEADLOCK: &str = "fatal error: all goroutines are asleep - deadlock!\n\n";

fn assert_deadlock(test: &str, header: &str) -> String {
    let out = run_child(test);
    let report = fatal_report(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "stderr: {}", out.stderr);
    assert!(report.starts_with(DEADLOCK), "stderr: {}", out.stderr);
    assert!(report.contains(header), "stderr: {}", out.stderr);
    report.to_string()
}

/// A child's stderr from its fatal report on. Under emulation code runs many times slower
/// (and is translated on its first run), so a goroutine can trip the 100 ms stuck-worker
/// warning before the report comes; natively nothing may precede it.
fn fatal_report(stderr: &str) -> &str {
    let mut report = stderr;
    while emulated() && report.starts_with("gorun: warning: goroutine ") {
        report = report.split_once('\n').map_or("", |(_, rest)| rest);
    }
    report
}

#[test]
fn deadlock_wait_without_done() {
    if in_child() {
        gorun::run(|| {
            let wg = WaitGroup::new();
            wg.add(1);
            wg.wait();
        });
        return;
    }
    let err = assert_deadlock(
        "deadlock_wait_without_done",
        "goroutine 1 [sync.WaitGroup.Wait]:",
    );
    assert!(
        err.contains("waiting at gorun/tests/diag.rs:"),
        "park site: {err}"
    );
}

#[test]
fn deadlock_mutex_locked_twice() {
    if in_child() {
        gorun::run(|| {
            let m = Mutex::new(0);
            let _a = m.lock();
            let _b = m.lock();
        });
        return;
    }
    assert_deadlock(
        "deadlock_mutex_locked_twice",
        "goroutine 1 [sync.Mutex.Lock]:",
    );
}

#[test]
fn deadlock_read_then_write() {
    if in_child() {
        gorun::run(|| {
            let l = RwLock::new(0);
            let _r = l.read();
            let _w = l.write();
        });
        return;
    }
    assert_deadlock(
        "deadlock_read_then_write",
        "goroutine 1 [sync.RWMutex.Lock]:",
    );
}

#[test]
fn deadlock_send_without_receiver() {
    if in_child() {
        gorun::run(|| {
            let (tx, _rx) = gorun::chan::<i32>(0);
            tx.send(1).ok();
        });
        return;
    }
    assert_deadlock("deadlock_send_without_receiver", "goroutine 1 [chan send]:");
}

#[test]
fn deadlock_receive_without_sender() {
    if in_child() {
        gorun::run(|| {
            let (_tx, rx) = gorun::chan::<i32>(1);
            rx.recv().ok();
        });
        return;
    }
    assert_deadlock(
        "deadlock_receive_without_sender",
        "goroutine 1 [chan receive]:",
    );
}

#[test]
fn deadlock_select_with_nothing_ready() {
    if in_child() {
        gorun::run(|| {
            let (_t1, r1) = gorun::chan::<i32>(0);
            let (t2, _r2) = gorun::chan::<i32>(0);
            gorun::select! {
                recv(r1) -> _v => {},
                send(t2, 5) -> _r => {},
            }
        });
        return;
    }
    assert_deadlock(
        "deadlock_select_with_nothing_ready",
        "goroutine 1 [select]:",
    );
}

#[test]
fn deadlock_select_forever() {
    if in_child() {
        gorun::run(|| {
            let h = gorun::go(|| gorun::select! {});
            h.join().ok();
        });
        return;
    }
    let err = assert_deadlock("deadlock_select_forever", "goroutine 1 [join]:");
    assert!(err.contains("goroutine 2 [select (no cases)]:"), "{err}");
}

#[test]
fn deadlock_on_a_nil_channel() {
    if in_child() {
        gorun::run(|| {
            gorun::never::<u8>().recv().ok();
        });
        return;
    }
    assert_deadlock(
        "deadlock_on_a_nil_channel",
        "goroutine 1 [chan receive (nil chan)]:",
    );
}

#[test]
fn no_deadlock_while_a_timer_channel_is_pending() {
    gorun::run(|| {
        let t = gorun::after(Duration::from_millis(60));
        t.recv().unwrap();
    });
}

#[test]
fn deadlock_dump_lists_every_goroutine() {
    if in_child() {
        gorun::run(|| {
            let wg = WaitGroup::new();
            wg.add(1);
            let m = Arc::new(Mutex::new(()));
            let guard = m.lock();
            let m2 = m.clone();
            gorun::GoBuilder::new()
                .name("locker")
                .go(move || drop(m2.lock()));
            let h = gorun::go(move || {
                let w = wg.clone();
                w.wait();
            });
            h.join().unwrap();
            drop(guard);
        });
        return;
    }
    let err = assert_deadlock("deadlock_dump_lists_every_goroutine", "goroutine 1 [join]:");
    assert!(
        err.contains("goroutine 2 [sync.Mutex.Lock]:\n\tname: locker"),
        "{err}"
    );
    assert!(err.contains("goroutine 3 [sync.WaitGroup.Wait]:"), "{err}");
    assert!(
        err.contains("created by goroutine 1 at gorun/tests/diag.rs:"),
        "{err}"
    );
}

/// In a child process: in a test binary running tests in parallel, libtest's main thread
/// waits with a timeout (its 60 s warning), and a thread in a timed wait may still wake a
/// goroutine, so no deadlock is declared until it stops waiting with a timeout.
#[test]
fn try_run_returns_the_report_and_the_thread_can_run_again() {
    if !in_child() {
        let out = run_child("try_run_returns_the_report_and_the_thread_can_run_again");
        assert!(out.status.success(), "stderr: {}", out.stderr);
        return;
    }
    let err = gorun::Builder::new()
        .try_run(|| {
            let wg = WaitGroup::new();
            wg.add(1);
            wg.wait();
        })
        .unwrap_err();
    assert!(err.to_string().starts_with(DEADLOCK));
    assert!(err
        .to_string()
        .contains("goroutine 1 [sync.WaitGroup.Wait]:"));
    let e: &dyn std::error::Error = &err;
    assert!(!e.to_string().is_empty());
    assert_eq!(gorun::run(|| 7), 7);
}

#[test]
fn no_deadlock_while_sleeping_or_blocking() {
    gorun::run(|| {
        let wg = WaitGroup::new();
        wg.add(2);
        let w = wg.clone();
        gorun::go(move || {
            gorun::sleep(Duration::from_millis(60));
            w.done();
        });
        let w = wg.clone();
        gorun::go(move || {
            gorun::blocking(|| std::thread::sleep(Duration::from_millis(60)));
            w.done();
        });
        wg.wait();
    });
}

#[test]
fn no_deadlock_while_a_plain_thread_can_wake_us() {
    gorun::run(|| {
        let wg = WaitGroup::new();
        wg.add(1);
        let w = wg.clone();
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(80));
            w.done();
        });
        wg.wait();
        t.join().unwrap();
    });
}

#[test]
fn partial_deadlock_is_not_reported() {
    gorun::run(|| {
        let m = Arc::new(Mutex::new(()));
        let guard = m.lock();
        let m2 = m.clone();
        gorun::go(move || drop(m2.lock())); // stuck for good, but main still runs
        gorun::sleep(Duration::from_millis(60));
        std::mem::forget(guard);
    });
}

#[test]
fn dump_shows_states_names_and_sites() {
    gorun::run(|| {
        let wg = WaitGroup::new();
        wg.add(1);
        let w = wg.clone();
        let h = gorun::GoBuilder::new().name("waiter").go(move || w.wait());
        gorun::yield_now();
        let dump = gorun::dump();
        assert!(dump.contains("goroutine 1 [running]:"), "{dump}");
        assert!(
            dump.contains("goroutine 2 [sync.WaitGroup.Wait]:\n\tname: waiter\n"),
            "{dump}"
        );
        assert!(dump.contains("\twaiting at gorun/tests/diag.rs:"), "{dump}");
        assert!(
            dump.contains("created by goroutine 1 at gorun/tests/diag.rs:"),
            "{dump}"
        );
        wg.done();
        h.join().unwrap();
    });
    assert_eq!(gorun::dump(), "", "no runtime, no dump");
}

#[test]
fn leak_check_reports_live_goroutines() {
    let r = std::panic::catch_unwind(|| {
        gorun::Builder::new().leak_check(true).run(|| {
            gorun::GoBuilder::new()
                .name("leaky")
                .go(|| gorun::sleep(Duration::from_secs(3600)));
            gorun::yield_now();
        })
    });
    let msg = r.unwrap_err().downcast_ref::<String>().cloned().unwrap();
    assert!(
        msg.contains("1 goroutine(s) still alive when main returned"),
        "{msg}"
    );
    assert!(msg.contains("goroutine 2 [sleep]:\n\tname: leaky"), "{msg}");
    // Without leaks the check is silent.
    gorun::Builder::new()
        .leak_check(true)
        .run(|| gorun::go(|| ()).join().unwrap());
}

#[test]
fn stuck_worker_is_reported_once() {
    if in_child() {
        gorun::Builder::new().workers(1).run(|| {
            let h = gorun::go(|| {
                let waiting = gorun::go(|| ()); // stuck behind us on the only worker
                let t = std::time::Instant::now();
                while t.elapsed() < Duration::from_millis(400) {
                    std::hint::spin_loop();
                }
                waiting.join().unwrap();
            });
            h.join().unwrap();
        });
        return;
    }
    let out = run_child("stuck_worker_is_reported_once");
    assert!(out.status.success(), "stderr: {}", out.stderr);
    assert_eq!(
        out.stderr
            .matches("gorun: warning: goroutine 2 has run for over")
            .count(),
        1
    );
    assert!(
        out.stderr.contains("gorun::yield_now()"),
        "stderr: {}",
        out.stderr
    );
}

#[test]
fn sigquit_prints_a_dump_and_continues() {
    if in_child() {
        gorun::Builder::new().dump_on_sigquit(true).run(|| {
            // The signal comes from a plain thread while goroutine 1 sleeps (with a margin
            // for emulated runs, where reaching the sleep can take tens of milliseconds).
            std::thread::spawn(|| {
                std::thread::sleep(Duration::from_millis(200));
                // SAFETY: sending the process a signal whose handler gorun installed.
                unsafe { libc::kill(libc::getpid(), libc::SIGQUIT) };
            });
            gorun::sleep(Duration::from_millis(600));
            println!("still alive");
        });
        return;
    }
    let out = run_child("sigquit_prints_a_dump_and_continues");
    assert!(out.status.success(), "stderr: {}", out.stderr);
    assert!(
        out.stderr.contains("SIGQUIT: goroutine dump"),
        "stderr: {}",
        out.stderr
    );
    assert!(
        out.stderr.contains("goroutine 1 [sleep]:"),
        "stderr: {}",
        out.stderr
    );
    assert!(out.stdout.contains("still alive"));
}

#[test]
fn metrics_count_spawns_switches_and_parks() {
    gorun::run(|| {
        for _ in 0..10 {
            gorun::go(gorun::yield_now).join().unwrap();
        }
        let m = gorun::metrics();
        assert_eq!(m.spawned, 11);
        assert_eq!(m.goroutines, 1);
        assert!(m.context_switches >= 20, "{m:?}");
        assert!(m.parks >= 1, "{m:?}");
        assert!(m.workers >= 1);
    });
    assert_eq!(gorun::metrics(), gorun::Metrics::default());
}

/// Two goroutines lock two mutexes in opposite orders while main keeps running: Go sees
/// nothing (not every goroutine is asleep), gorun reports the cycle.
/// Two goroutines that lock two mutexes in opposite orders; with `contend`, eight more
/// goroutines contend on another mutex all the time (lock waits come and go on every tick,
/// and the cycle must still be found).
fn lock_cycle_program(fatal: bool, contend: bool) {
    gorun::Builder::new().lock_cycles_fatal(fatal).run(|| {
        if contend {
            let busy = Arc::new(Mutex::new(0u64));
            for _ in 0..8 {
                let busy = busy.clone();
                gorun::go(move || loop {
                    let mut g = busy.lock();
                    *g += 1;
                    gorun::yield_now();
                    drop(g);
                });
            }
        }
        let m1 = Arc::new(Mutex::new(1));
        let m2 = Arc::new(Mutex::new(2));
        let ready = WaitGroup::new();
        ready.add(2);
        let (a1, a2, r) = (m1.clone(), m2.clone(), ready.clone());
        gorun::go(move || {
            let _g1 = a1.lock();
            r.done();
            r.wait();
            let _g2 = a2.lock();
        });
        let (b1, b2, r) = (m1.clone(), m2.clone(), ready.clone());
        gorun::go(move || {
            let _g2 = b2.lock();
            r.done();
            r.wait();
            let _g1 = b1.lock();
        });
        // Main is busy (sleeping and waking), so this is not a global deadlock.
        for _ in 0..if contend { 500 } else { 30 } {
            gorun::sleep(Duration::from_millis(10));
        }
        println!("main finished");
    });
}

#[test]
fn lock_cycle_is_fatal() {
    if in_child() {
        lock_cycle_program(true, false);
        return;
    }
    let out = run_child("lock_cycle_is_fatal");
    assert_eq!(out.status.code(), Some(2), "stderr: {}", out.stderr);
    let err = fatal_report(&out.stderr);
    assert!(
        err.starts_with(
            "fatal error: lock cycle: goroutines 2, 3 wait for each other's locks and can never \
             proceed\n\n"
        ),
        "{err}"
    );
    assert!(
        err.contains("goroutine 2 holds sync.Mutex created at gorun/tests/diag.rs:"),
        "{err}"
    );
    assert!(err.contains(", locked at gorun/tests/diag.rs:"), "{err}");
    assert!(err.contains("held by goroutine 3"), "{err}");
    assert!(err.contains("goroutine 3 [sync.Mutex.Lock]:"), "{err}");
    assert!(!out.stdout.contains("main finished"));
}

#[test]
fn lock_cycle_can_be_a_warning() {
    if in_child() {
        lock_cycle_program(false, false);
        return;
    }
    let out = run_child("lock_cycle_can_be_a_warning");
    assert!(out.status.success(), "stderr: {}", out.stderr);
    assert_eq!(
        out.stderr
            .matches("gorun: warning: lock cycle: goroutines 2, 3")
            .count(),
        1
    );
    assert!(out.stdout.contains("main finished"));
}

/// Runs `test` in a child process (where no other thread of the test harness waits with a
/// timeout) and checks that it ended normally: no false deadlock report.
fn assert_no_report(test: &str) {
    let out = run_child(test);
    assert!(out.status.success(), "stderr: {}", out.stderr);
    assert!(out.stdout.contains("finished"), "stdout: {}", out.stdout);
}

#[test]
fn no_report_while_a_thread_waits_in_recv_timeout() {
    if in_child() {
        let v = gorun::run(|| {
            let (tx, rx) = gorun::chan::<u32>(0);
            let (_keep, r) = std::sync::mpsc::channel::<()>();
            std::thread::spawn(move || {
                let _ = r.recv_timeout(Duration::from_millis(700));
                tx.send(7).unwrap();
            });
            rx.recv().unwrap()
        });
        assert_eq!(v, 7);
        println!("finished");
        return;
    }
    assert_no_report("no_report_while_a_thread_waits_in_recv_timeout");
}

#[test]
fn no_report_while_a_thread_waits_on_a_condvar_with_timeout() {
    if in_child() {
        let v = gorun::run(|| {
            let (tx, rx) = gorun::chan::<u32>(0);
            std::thread::spawn(move || {
                let m = std::sync::Mutex::new(false);
                let cv = std::sync::Condvar::new();
                let mut done = m.lock().unwrap();
                for _ in 0..3 {
                    done = cv.wait_timeout(done, Duration::from_millis(250)).unwrap().0;
                }
                drop(done);
                tx.send(8).unwrap();
            });
            rx.recv().unwrap()
        });
        assert_eq!(v, 8);
        println!("finished");
        return;
    }
    assert_no_report("no_report_while_a_thread_waits_on_a_condvar_with_timeout");
}

#[test]
fn no_report_while_a_thread_parks_with_timeout() {
    if in_child() {
        let v = gorun::run(|| {
            let (tx, rx) = gorun::chan::<u32>(0);
            std::thread::spawn(move || {
                let end = std::time::Instant::now() + Duration::from_millis(600);
                while std::time::Instant::now() < end {
                    std::thread::park_timeout(Duration::from_millis(300));
                }
                tx.send(9).unwrap();
            });
            rx.recv().unwrap()
        });
        assert_eq!(v, 9);
        println!("finished");
        return;
    }
    assert_no_report("no_report_while_a_thread_parks_with_timeout");
}

#[test]
fn no_report_while_waiting_on_a_timer_channel_beside_a_ticker() {
    if in_child() {
        gorun::run(|| {
            let _unread = gorun::tick(Duration::from_secs(1));
            gorun::after(Duration::from_millis(300)).recv().unwrap();
        });
        println!("finished");
        return;
    }
    assert_no_report("no_report_while_waiting_on_a_timer_channel_beside_a_ticker");
}

#[test]
fn deadlock_beside_an_unread_ticker() {
    if in_child() {
        gorun::run(|| {
            let _t = gorun::tick(Duration::from_secs(1));
            let (_tx, rx) = gorun::chan::<()>(0);
            rx.recv().ok();
        });
        return;
    }
    assert_deadlock("deadlock_beside_an_unread_ticker", "[chan receive]");
}

#[test]
fn deadlock_beside_an_unread_after() {
    if in_child() {
        gorun::run(|| {
            let _t = gorun::after(Duration::from_secs(3600));
            let (_tx, rx) = gorun::chan::<()>(0);
            rx.recv().ok();
        });
        return;
    }
    assert_deadlock("deadlock_beside_an_unread_after", "[chan receive]");
}

#[test]
fn cancelled_timers_leave_the_heap() {
    gorun::Builder::new().workers(1).run(|| {
        // A partner answers each request after the requester has parked with its timeout
        // armed: every timeout is cancelled long before it would fire.
        let (req_tx, req_rx) = gorun::chan::<u32>(0);
        let (resp_tx, resp_rx) = gorun::chan::<u32>(0);
        gorun::go(move || {
            for v in req_rx.iter() {
                gorun::yield_now();
                resp_tx.send(v).unwrap();
            }
        });
        for i in 0..20_000 {
            req_tx.send(i).unwrap();
            assert_eq!(resp_rx.recv_timeout(Duration::from_secs(3600)), Ok(i));
            assert!(gorun::metrics().timers <= 1);
        }
        for i in 0..20_000 {
            req_tx.send(i).unwrap();
            gorun::select! {
                recv(resp_rx) -> v => assert_eq!(v, Ok(i)),
                default(Duration::from_secs(3600)) => unreachable!(),
            }
            assert!(gorun::metrics().timers <= 1);
        }
        // Timer channels dropped before they fire.
        for _ in 0..10_000 {
            drop(gorun::after(Duration::from_secs(3600)));
            drop(gorun::tick(Duration::from_secs(3600)));
        }
        assert_eq!(gorun::metrics().timers, 0);
    });
}

#[test]
fn lock_cycle_is_found_while_others_contend() {
    if in_child() {
        lock_cycle_program(true, true);
        return;
    }
    let out = run_child("lock_cycle_is_found_while_others_contend");
    assert_eq!(out.status.code(), Some(2), "stderr: {}", out.stderr);
    assert!(
        out.stderr.starts_with("fatal error: lock cycle"),
        "{}",
        out.stderr
    );
    assert!(!out.stdout.contains("main finished"));
}
