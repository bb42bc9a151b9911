//! `goroutine_local!`: one value per goroutine, dropped when it ends; per-thread values on
//! plain threads.

use std::cell::{Cell, RefCell};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

mod common;
use common::DropFlag;

gorun::goroutine_local! {
    static ID: Cell<u64> = Cell::new(0);
    /// A documented one.
    pub(crate) static NAMES: RefCell<Vec<String>> = RefCell::new(Vec::new());
}

gorun::goroutine_local!(static FLAG: RefCell<Option<DropFlag>> = RefCell::new(None));

#[test]
fn each_goroutine_has_its_own_value() {
    gorun::Builder::new().workers(1).run(|| {
        let hs: Vec<_> = (1..=100u64)
            .map(|i| {
                gorun::go(move || {
                    assert_eq!(ID.with(Cell::get), 0, "a fresh goroutine starts from init");
                    ID.with(|v| v.set(i));
                    NAMES.with(|n| n.borrow_mut().push(i.to_string()));
                    for _ in 0..3 {
                        gorun::yield_now(); // the others run on this thread meanwhile
                    }
                    (ID.with(Cell::get), NAMES.with(|n| n.borrow().clone()))
                })
            })
            .collect();
        for (i, h) in (1..).zip(hs) {
            let (id, names) = h.join().unwrap();
            assert_eq!(id, i);
            assert_eq!(names, [i.to_string()]);
        }
        assert_eq!(ID.with(Cell::get), 0, "main's value is its own");
    });
}

#[test]
fn values_are_dropped_when_the_goroutine_ends() {
    gorun::run(|| {
        let drops = Arc::new(AtomicUsize::new(0));
        let hs: Vec<_> = (0..10)
            .map(|_| {
                let drops = drops.clone();
                gorun::go(move || FLAG.with(|f| *f.borrow_mut() = Some(DropFlag(drops))))
            })
            .collect();
        for h in hs {
            h.join().unwrap();
        }
        assert_eq!(drops.load(Ordering::SeqCst), 10);
    });
}

#[test]
fn values_are_dropped_when_the_goroutine_panics() {
    gorun::run(|| {
        let drops = Arc::new(AtomicUsize::new(0));
        let d = drops.clone();
        let h = gorun::go(move || {
            FLAG.with(|f| *f.borrow_mut() = Some(DropFlag(d)));
            panic!("boom");
        });
        assert!(h.join().is_err());
        assert_eq!(drops.load(Ordering::SeqCst), 1);
    });
}

#[test]
fn values_of_abandoned_goroutines_are_dropped_at_shutdown() {
    let drops = Arc::new(AtomicUsize::new(0));
    let d = drops.clone();
    gorun::run(move || {
        let (started_tx, started) = gorun::chan::<()>(0);
        gorun::go(move || {
            FLAG.with(|f| *f.borrow_mut() = Some(DropFlag(d)));
            let (_tx, never) = gorun::chan::<()>(0);
            started_tx.send(()).unwrap();
            let _ = never.recv();
        });
        started.recv().unwrap();
    });
    assert_eq!(drops.load(Ordering::SeqCst), 1);
}

#[test]
fn plain_threads_have_their_own_values() {
    ID.with(|v| v.set(7));
    let other = std::thread::spawn(|| ID.with(Cell::get)).join().unwrap();
    assert_eq!(other, 0);
    assert_eq!(ID.with(Cell::get), 7);
}

#[test]
fn blocking_sees_the_pool_threads_value() {
    gorun::run(|| {
        ID.with(|v| v.set(9));
        let seen = gorun::blocking(|| ID.with(Cell::get));
        assert_ne!(seen, 9, "a pool thread is not the goroutine");
        assert_eq!(ID.with(Cell::get), 9);
    });
}

#[test]
fn a_destructor_may_use_goroutine_locals() {
    struct UsesLocal(Arc<AtomicUsize>);
    impl Drop for UsesLocal {
        fn drop(&mut self) {
            self.0
                .fetch_add(ID.with(Cell::get) as usize, Ordering::SeqCst);
        }
    }
    gorun::goroutine_local!(static USER: RefCell<Option<UsesLocal>> = RefCell::new(None));
    gorun::run(|| {
        let seen = Arc::new(AtomicUsize::new(0));
        let s = seen.clone();
        gorun::go(move || {
            ID.with(|v| v.set(5));
            USER.with(|u| *u.borrow_mut() = Some(UsesLocal(s)));
        })
        .join()
        .unwrap();
        // The id may already be gone when USER drops (then it reads a fresh 0): no panic
        // either way, and the destructor ran.
        assert!(Arc::strong_count(&seen) == 1);
    });
}
