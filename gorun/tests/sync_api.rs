//! sync parity with std and Tokio: owned semaphore permits, `Cond::wait_timeout`,
//! `LazyLock`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use gorun::sync::{Cond, LazyLock, Mutex, Semaphore};

#[test]
fn owned_permits_move_into_goroutines() {
    gorun::run(|| {
        let sem = Arc::new(Semaphore::new(3));
        let inside = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let hs: Vec<_> = (0..30)
            .map(|_| {
                let permit = sem.clone().acquire_owned();
                let (inside, peak) = (inside.clone(), peak.clone());
                gorun::go(move || {
                    let n = inside.fetch_add(1, Ordering::SeqCst) + 1;
                    peak.fetch_max(n, Ordering::SeqCst);
                    gorun::yield_now();
                    inside.fetch_sub(1, Ordering::SeqCst);
                    drop(permit);
                })
            })
            .collect();
        for h in hs {
            h.join().unwrap();
        }
        assert!(peak.load(Ordering::SeqCst) <= 3);
        assert_eq!(sem.available_permits(), 3);
    });
}

#[test]
fn try_acquire_owned_and_forget() {
    let sem = Arc::new(Semaphore::new(1));
    let p = sem.clone().try_acquire_owned().unwrap();
    assert!(sem.clone().try_acquire_owned().is_none());
    assert!(sem.try_acquire().is_none());
    p.forget();
    assert_eq!(sem.available_permits(), 0, "a forgotten permit stays taken");
    sem.release();
    assert!(sem.try_acquire().is_some());
    assert_eq!(sem.available_permits(), 1, "a failed try takes nothing");
}

#[test]
fn cond_wait_timeout_times_out_and_relocks() {
    gorun::run(|| {
        let m = Mutex::new(1);
        let c = Cond::new();
        let (mut g, r) = c.wait_timeout(m.lock(), Duration::from_millis(1));
        assert!(r.timed_out());
        *g += 1; // the guard is live again
        drop(g);
        assert_eq!(*m.lock(), 2);
        c.signal(); // nobody waits: the timed-out waiter left the queue
    });
}

#[test]
fn cond_wait_timeout_is_woken_by_signal() {
    gorun::run(|| {
        let state = Arc::new((Mutex::new(false), Cond::new()));
        let s = state.clone();
        let h = gorun::go(move || {
            let (m, c) = &*s;
            let mut ready = m.lock();
            while !*ready {
                let (g, r) = c.wait_timeout(ready, Duration::from_secs(3600));
                assert!(!r.timed_out());
                ready = g;
            }
        });
        let (m, c) = &*state;
        loop {
            *m.lock() = true;
            c.signal();
            if h.is_finished() {
                break;
            }
            gorun::sleep(Duration::from_millis(1));
        }
        h.join().unwrap();
    });
}

#[test]
fn cond_wait_timeout_on_plain_threads() {
    let state = Arc::new((Mutex::new(0u32), Cond::new()));
    let (m, c) = &*state;
    let (g, r) = c.wait_timeout(m.lock(), Duration::from_millis(1));
    assert!(r.timed_out());
    drop(g);
}

static CALLS: AtomicUsize = AtomicUsize::new(0);
static LAZY: LazyLock<Vec<u32>> = LazyLock::new(|| {
    CALLS.fetch_add(1, Ordering::SeqCst);
    gorun::sleep(Duration::from_millis(2)); // others park meanwhile
    vec![1, 2, 3]
});

#[test]
fn lazy_lock_initialises_once() {
    gorun::run(|| {
        assert!(LazyLock::get(&LAZY).is_none());
        let hs: Vec<_> = (0..50)
            .map(|_| gorun::go(|| LAZY.iter().sum::<u32>()))
            .collect();
        for h in hs {
            assert_eq!(h.join().unwrap(), 6);
        }
        assert_eq!(CALLS.load(Ordering::SeqCst), 1);
        assert_eq!(LazyLock::get(&LAZY).map(Vec::len), Some(3));
        assert_eq!(format!("{LAZY:?}"), "LazyLock([1, 2, 3])");
    });
}

#[test]
fn lazy_lock_poisoned_by_a_panicking_initialiser() {
    let lazy: LazyLock<u32> = LazyLock::new(|| panic!("init failed"));
    assert!(std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| *lazy)).is_err());
    let again = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| *lazy));
    assert!(again.is_err(), "later accesses panic too");
    let lazy_closure = LazyLock::new(move || 40 + 2);
    assert_eq!(*lazy_closure, 42);
}
