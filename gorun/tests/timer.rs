//! `Timer`, `Ticker` and `at`, with Go 1.23's semantics (checked against Go): stop/reset
//! report whether the timer was pending, and no stale value is received after them.

use std::time::{Duration, Instant};

const LONG: Duration = Duration::from_secs(3600);
const SHORT: Duration = Duration::from_millis(1);
const PATIENCE: Duration = Duration::from_secs(30);

/// Waits until the timer's value is sitting in its channel (it fired, unreceived).
fn wait_fired(rx: &gorun::Receiver<Instant>) {
    let deadline = Instant::now() + PATIENCE;
    while rx.is_empty() {
        assert!(Instant::now() < deadline, "the timer never fired");
        gorun::sleep(SHORT);
    }
}

fn go_semantics() {
    let t = gorun::Timer::new(SHORT);
    wait_fired(t.c());
    assert!(t.stop(), "fired but unreceived counts as pending");
    assert!(t.c().try_recv().is_err(), "no stale value after stop");
    assert!(!t.reset(SHORT), "reset after stop: not pending");
    t.c().recv_timeout(PATIENCE).unwrap();
    assert!(!t.stop(), "stop after receive");
    assert!(!t.reset(LONG), "reset after receive");
    assert!(t.reset(SHORT), "reset while armed");
    wait_fired(t.c());
    assert!(t.reset(LONG), "reset fired unreceived");
    assert!(t.c().try_recv().is_err(), "no stale value after reset");
    assert!(t.stop());
    assert!(!t.stop());
}

#[test]
fn timer_in_a_goroutine() {
    gorun::run(go_semantics);
}

#[test]
fn timer_on_a_plain_thread() {
    go_semantics();
}

#[test]
fn stopped_timer_leaves_the_heap() {
    gorun::run(|| {
        let before = gorun::metrics().timers;
        let timers: Vec<_> = (0..100).map(|_| gorun::Timer::new(LONG)).collect();
        assert_eq!(gorun::metrics().timers, before + 100);
        for t in &timers {
            assert!(t.stop());
        }
        assert_eq!(gorun::metrics().timers, before);
        let t = gorun::Timer::new(LONG);
        drop(t);
        assert_eq!(
            gorun::metrics().timers,
            before,
            "a dropped timer is stopped"
        );
    });
}

#[test]
fn timer_in_select() {
    gorun::run(|| {
        let (_tx, rx) = gorun::chan::<u8>(0);
        let t = gorun::Timer::new(SHORT);
        gorun::select! {
            recv(rx) -> _ => panic!("nothing is sent"),
            recv(t.c()) -> v => assert!(v.is_ok()),
        }
    });
}

#[test]
fn zero_timer_fires_at_once() {
    gorun::run(|| {
        let t = gorun::Timer::new(Duration::ZERO);
        t.c().recv_timeout(PATIENCE).unwrap();
    });
}

#[test]
fn ticker_ticks_stops_and_resets() {
    gorun::run(|| {
        let ticker = gorun::Ticker::new(SHORT);
        let mut last = Instant::now();
        for _ in 0..5 {
            let t = ticker.c().recv_timeout(PATIENCE).unwrap();
            assert!(t >= last);
            last = t;
        }
        // Let a tick sit in the channel, then stop: it is discarded.
        wait_fired(ticker.c());
        ticker.stop();
        assert!(ticker.c().try_recv().is_err(), "no stale tick after stop");
        assert_eq!(
            gorun::metrics().timers,
            0,
            "a stopped ticker leaves the heap"
        );
        ticker.reset(SHORT);
        ticker.c().recv_timeout(PATIENCE).unwrap();
        ticker.reset(LONG);
        assert!(ticker.c().try_recv().is_err(), "no stale tick after reset");
        drop(ticker);
        assert_eq!(gorun::metrics().timers, 0, "a dropped ticker stops");
    });
}

#[test]
fn ticker_drops_ticks_for_a_slow_receiver() {
    gorun::run(|| {
        let ticker = gorun::Ticker::new(SHORT);
        gorun::sleep(Duration::from_millis(20));
        assert!(ticker.c().len() <= 1);
    });
}

#[test]
#[should_panic(expected = "non-positive interval")]
fn zero_ticker_panics() {
    let _ = gorun::Ticker::new(Duration::ZERO);
}

#[test]
fn ticker_on_a_plain_thread() {
    let ticker = gorun::Ticker::new(SHORT);
    ticker.c().recv_timeout(PATIENCE).unwrap();
    ticker.c().recv_timeout(PATIENCE).unwrap();
}

#[test]
fn at_fires_after_its_deadline() {
    gorun::run(|| {
        let deadline = Instant::now() + Duration::from_millis(2);
        let fired = gorun::at(deadline).recv_timeout(PATIENCE).unwrap();
        assert!(fired >= deadline);
        let past = gorun::at(Instant::now() - Duration::from_millis(1));
        past.recv_timeout(PATIENCE).unwrap();
    });
    let deadline = Instant::now() + Duration::from_millis(2);
    assert!(gorun::at(deadline).recv_timeout(PATIENCE).unwrap() >= deadline);
}

#[test]
fn dropping_an_at_receiver_disarms_it() {
    gorun::run(|| {
        let before = gorun::metrics().timers;
        let rx = gorun::at(Instant::now() + LONG);
        assert_eq!(gorun::metrics().timers, before + 1);
        drop(rx);
        assert_eq!(gorun::metrics().timers, before);
    });
}

#[test]
fn timer_channel_waiter_is_not_a_deadlock() {
    gorun::run(|| {
        let t = gorun::Timer::new(Duration::from_millis(20));
        t.c().recv().unwrap();
    });
}

/// Every worker runs a goroutine that never yields (no scheduling point where a worker
/// could fire a timer, no worker asleep to take the timer duty): the timer thread's
/// fallback still fires the runtime's timer, which a plain thread is waiting on, and that
/// thread's signal ends the spinning.
#[test]
fn timers_fire_while_every_worker_spins() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    gorun::Builder::new().workers(2).run(|| {
        let stop = Arc::new(AtomicBool::new(false));
        let rx = gorun::after(Duration::from_millis(20));
        let spinners: Vec<_> = (0..2)
            .map(|_| {
                let stop = stop.clone();
                gorun::go(move || {
                    while !stop.load(Ordering::Relaxed) {
                        std::hint::spin_loop();
                    }
                })
            })
            .collect();
        let waiter = {
            let stop = stop.clone();
            std::thread::spawn(move || {
                rx.recv().unwrap();
                stop.store(true, Ordering::Relaxed);
            })
        };
        for s in spinners {
            s.join().unwrap();
        }
        waiter.join().unwrap();
    });
}
