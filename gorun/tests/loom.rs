//! Model checks (loom) of the lock-free parts of `sync`: the `WaitGroup` counter and the
//! `Mutex` and `RwLock` state words, with the wait queue and the plain-thread park primitive
//! under them; and of the channel hand-off, including a receive future dropped while a
//! sender hands it a value.
//! Run: `RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=3 cargo test -p gorun --test loom --release`.
#![cfg(loom)]

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use gorun::sync::{Mutex, RwLock, WaitGroup};
use loom::thread;

#[test]
fn waitgroup_wait_sees_every_done() {
    loom::model(|| {
        let wg = WaitGroup::new();
        let done = Arc::new(loom::sync::atomic::AtomicUsize::new(0));
        wg.add(2);
        let workers: Vec<_> = (0..2)
            .map(|_| {
                let (wg, done) = (wg.clone(), done.clone());
                thread::spawn(move || {
                    done.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    wg.done();
                })
            })
            .collect();
        wg.wait();
        assert_eq!(done.load(std::sync::atomic::Ordering::Relaxed), 2);
        for w in workers {
            w.join().unwrap();
        }
    });
}

#[test]
fn waitgroup_two_waiters_both_wake() {
    loom::model(|| {
        let wg = WaitGroup::new();
        wg.add(1);
        let w2 = wg.clone();
        let waiter = thread::spawn(move || w2.wait());
        let w3 = wg.clone();
        let doer = thread::spawn(move || w3.done());
        wg.wait();
        waiter.join().unwrap();
        doer.join().unwrap();
    });
}

#[test]
fn mutex_excludes_and_hands_over() {
    loom::model(|| {
        let m = Arc::new(Mutex::new(0u32));
        let m2 = m.clone();
        let t = thread::spawn(move || {
            let mut g = m2.lock();
            let v = *g;
            thread::yield_now(); // a window for the other locker, if exclusion failed
            *g = v + 1;
        });
        {
            let mut g = m.lock();
            let v = *g;
            thread::yield_now();
            *g = v + 1;
        }
        t.join().unwrap();
        assert_eq!(*m.lock(), 2);
    });
}

#[test]
fn rwlock_writer_excludes_readers_and_hands_over() {
    loom::model(|| {
        let l = Arc::new(RwLock::new(0u32));
        let (l2, l3) = (l.clone(), l.clone());
        let writer = thread::spawn(move || {
            let mut g = l2.write();
            let v = *g;
            thread::yield_now(); // a window for a second writer, if exclusion failed
            *g = v + 1;
        });
        let reader = thread::spawn(move || {
            let g = l3.read();
            assert!(*g <= 2);
        });
        {
            let mut g = l.write();
            let v = *g;
            thread::yield_now();
            *g = v + 1;
        }
        writer.join().unwrap();
        reader.join().unwrap();
        assert_eq!(*l.read(), 2);
    });
}

#[test]
fn mutex_try_lock_never_breaks_exclusion() {
    loom::model(|| {
        let m = Arc::new(Mutex::new(()));
        let m2 = m.clone();
        let t = thread::spawn(move || {
            let _g = m2.lock();
        });
        if let Some(g) = m.try_lock() {
            drop(g);
        }
        let _g = m.lock();
        drop(_g);
        t.join().unwrap();
    });
}

#[test]
fn unbuffered_hand_off_delivers_once() {
    loom::model(|| {
        let (tx, rx) = gorun::chan::<u32>(0);
        let t = thread::spawn(move || tx.send(7).is_ok());
        assert_eq!(rx.recv(), Ok(7));
        assert!(t.join().unwrap());
    });
}

#[test]
fn close_wakes_a_parked_receiver() {
    loom::model(|| {
        let (tx, rx) = gorun::chan::<u32>(1);
        let t = thread::spawn(move || rx.recv());
        tx.close();
        assert!(t.join().unwrap().is_err());
    });
}

#[test]
fn buffered_values_are_neither_lost_nor_duplicated() {
    loom::model(|| {
        let (tx, rx) = gorun::chan::<u32>(1);
        let tx2 = tx.clone();
        let a = thread::spawn(move || tx.send(1).unwrap());
        let b = thread::spawn(move || tx2.send(2).unwrap());
        let mut got = [rx.recv().unwrap(), rx.recv().unwrap()];
        got.sort_unstable();
        assert_eq!(got, [1, 2]);
        a.join().unwrap();
        b.join().unwrap();
    });
}

#[test]
fn select_takes_exactly_one_value() {
    loom::model(|| {
        let (t1, r1) = gorun::chan::<u32>(0);
        let (t2, r2) = gorun::chan::<u32>(1);
        let s = thread::spawn(move || {
            let sent1 = t1.try_send(1).is_ok(); // succeeds only if the select is parked
            t2.send(2).unwrap();
            (sent1, t1) // keep r1 open until the select is over
        });
        let first = gorun::select! {
            recv(r1) -> v => v.unwrap(),
            recv(r2) -> v => v.unwrap(),
        };
        let (sent1, _t1) = s.join().unwrap();
        // Whatever the select did not take is still there, exactly once.
        let rest: Vec<u32> = r2.try_iter().collect();
        let mut all = vec![first];
        all.extend(rest);
        all.sort_unstable();
        if sent1 {
            assert_eq!(all, [1, 2]);
        } else {
            assert_eq!(all, [2]);
        }
    });
}

/// Polls a receive future once and drops it: whatever a sender handed it meanwhile must
/// not be lost.
fn poll_once_and_drop(rx: &gorun::Receiver<u32>) -> Option<u32> {
    let mut f = rx.recv_async();
    match Pin::new(&mut f).poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(r) => r.ok(), // `Err` if the value went elsewhere and the sender left
        Poll::Pending => None,    // dropped while registered: withdrawn, or handed a value
    }
}

#[test]
fn a_dropped_receive_future_gives_its_value_back() {
    loom::model(|| {
        let (tx, rx) = gorun::chan::<u32>(0);
        let t = thread::spawn(move || tx.send(7).is_ok());
        let v = poll_once_and_drop(&rx).unwrap_or_else(|| rx.recv().unwrap());
        assert_eq!(v, 7);
        assert!(t.join().unwrap());
        assert!(rx.try_recv().is_err(), "delivered once");
    });
}

#[test]
fn a_dropped_receive_future_hands_its_value_to_the_next_receiver() {
    loom::model(|| {
        let (tx, rx) = gorun::chan::<u32>(0);
        let rx2 = rx.clone();
        let other = thread::spawn(move || rx2.recv().ok());
        let sender = thread::spawn(move || tx.send(7).is_ok()); // closes on return
        let mine = poll_once_and_drop(&rx);
        assert!(sender.join().unwrap());
        let theirs = other.join().unwrap();
        let left = rx.try_recv().ok();
        let mut got: Vec<u32> = [mine, theirs, left].into_iter().flatten().collect();
        got.sort_unstable();
        assert_eq!(got, [7], "exactly once: {mine:?} {theirs:?} {left:?}");
    });
}
