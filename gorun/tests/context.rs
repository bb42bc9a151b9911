//! `Context` (cancel, deadlines, propagation, no timer left behind) and `ErrGroup`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use gorun::{Context, ContextError, ErrGroup};

const PATIENCE: Duration = Duration::from_secs(30);

#[test]
fn background_is_never_done() {
    let ctx = Context::background();
    assert_eq!(ctx.err(), None);
    assert_eq!(ctx.deadline(), None);
    assert!(ctx.done().try_recv().is_err());
    assert!(ctx.done().recv_timeout(Duration::from_millis(5)).is_err());
    assert!(!ctx.is_done());
}

#[test]
fn cancel_closes_done_and_sets_err() {
    gorun::run(|| {
        let (ctx, cancel) = Context::background().with_cancel();
        assert_eq!(ctx.err(), None);
        let c = ctx.clone();
        let waiter = gorun::go(move || {
            assert!(c.done().recv().is_err(), "done is closed, never sent on");
            c.err()
        });
        cancel.cancel();
        cancel.cancel(); // again: nothing
        assert_eq!(waiter.join().unwrap(), Some(ContextError::Canceled));
        assert_eq!(ctx.err(), Some(ContextError::Canceled));
        assert_eq!(ctx.err().unwrap().to_string(), "context canceled");
    });
}

#[test]
fn dropping_cancel_does_not_cancel() {
    let (ctx, cancel) = Context::background().with_cancel();
    drop(cancel);
    assert_eq!(ctx.err(), None);
    assert!(ctx.done().try_recv().is_err());
}

#[test]
fn done_in_select() {
    gorun::run(|| {
        let (ctx, cancel) = Context::background().with_cancel();
        let (_tx, work) = gorun::chan::<u32>(0);
        let c = ctx.clone();
        let h = gorun::go(move || {
            gorun::select! {
                recv(work) -> _ => false,
                recv(c.done()) -> _ => true,
            }
        });
        cancel.cancel();
        assert!(h.join().unwrap());
    });
}

#[test]
fn parent_cancel_cancels_children_not_the_reverse() {
    gorun::run(|| {
        let (parent, cancel_parent) = Context::background().with_cancel();
        let (child, cancel_child) = parent.with_cancel();
        let (grandchild, _c) = child.with_timeout(Duration::from_secs(3600));
        let (sibling, _c2) = parent.with_cancel();
        cancel_child.cancel();
        assert_eq!(child.err(), Some(ContextError::Canceled));
        assert_eq!(grandchild.err(), Some(ContextError::Canceled));
        assert_eq!(parent.err(), None);
        assert_eq!(sibling.err(), None);
        cancel_parent.cancel();
        assert_eq!(sibling.err(), Some(ContextError::Canceled));
        // A child of a done context is done at once.
        let (late, _c3) = parent.with_cancel();
        assert_eq!(late.err(), Some(ContextError::Canceled));
        assert!(late.done().try_recv().is_err());
    });
}

#[test]
fn deadline_exceeded() {
    gorun::run(|| {
        let (ctx, _cancel) = Context::background().with_timeout(Duration::from_millis(2));
        assert!(ctx.deadline().is_some());
        assert!(ctx.done().recv_timeout(PATIENCE).is_err());
        assert_eq!(ctx.err(), Some(ContextError::DeadlineExceeded));
        assert_eq!(ctx.err().unwrap().to_string(), "context deadline exceeded");
        // Children inherit the parent's error.
        let (child, _c) = ctx.with_cancel();
        assert_eq!(child.err(), Some(ContextError::DeadlineExceeded));
        // A deadline in the past is exceeded at once.
        let (past, _c) = Context::background().with_deadline(Instant::now());
        assert_eq!(past.err(), Some(ContextError::DeadlineExceeded));
    });
}

#[test]
fn parent_deadline_reaches_children() {
    gorun::run(|| {
        let (parent, _cp) = Context::background().with_timeout(Duration::from_millis(2));
        let (child, _cc) = parent.with_timeout(Duration::from_secs(3600));
        assert_eq!(
            child.deadline(),
            parent.deadline(),
            "the earlier deadline wins"
        );
        assert!(child.done().recv_timeout(PATIENCE).is_err());
        assert_eq!(child.err(), Some(ContextError::DeadlineExceeded));
    });
}

#[test]
fn cancel_leaves_no_timer_armed() {
    gorun::run(|| {
        let before = gorun::metrics().timers;
        let (ctx, cancel) = Context::background().with_timeout(Duration::from_secs(3600));
        let (_child, _c) = ctx.with_timeout(Duration::from_secs(1800));
        assert_eq!(gorun::metrics().timers, before + 2);
        cancel.cancel();
        assert_eq!(gorun::metrics().timers, before);
    });
}

#[test]
fn context_on_plain_threads() {
    let (ctx, _cancel) = Context::background().with_timeout(Duration::from_millis(2));
    let c = ctx.clone();
    let t = std::thread::spawn(move || c.done().recv_timeout(PATIENCE).is_err());
    assert!(t.join().unwrap());
    assert_eq!(ctx.err(), Some(ContextError::DeadlineExceeded));
}

#[test]
fn context_types_are_send_sync() {
    fn check<T: Send + Sync + Clone + std::fmt::Debug>() {}
    check::<Context>();
    check::<gorun::Cancel>();
    check::<ContextError>();
}

#[test]
fn errgroup_returns_the_first_error() {
    gorun::run(|| {
        let g = ErrGroup::<u32>::new();
        let ran = Arc::new(AtomicUsize::new(0));
        for i in 0..10 {
            let ran = ran.clone();
            g.go(move || {
                ran.fetch_add(1, Ordering::SeqCst);
                if i == 3 {
                    Err(i)
                } else {
                    Ok(())
                }
            });
        }
        assert_eq!(g.wait(), Err(3));
        assert_eq!(
            ran.load(Ordering::SeqCst),
            10,
            "wait waits for every goroutine"
        );
        assert_eq!(g.wait(), Ok(()));
    });
}

#[test]
fn errgroup_with_context_cancels_on_first_error() {
    gorun::run(|| {
        let (g, ctx) = ErrGroup::<gorun::BoxError>::with_context(&Context::background());
        for _ in 0..3 {
            let ctx = ctx.clone();
            g.go(move || {
                let _ = ctx.done().recv();
                Ok(())
            });
        }
        g.go(|| Err("boom".into()));
        let err = g.wait().unwrap_err();
        assert_eq!(err.to_string(), "boom");
        assert_eq!(ctx.err(), Some(ContextError::Canceled));
    });
}

#[test]
fn errgroup_wait_cancels_its_context() {
    gorun::run(|| {
        let (g, ctx) = ErrGroup::<()>::with_context(&Context::background());
        g.go(|| Ok(()));
        assert_eq!(g.wait(), Ok(()));
        assert!(ctx.is_done());
    });
}

#[test]
fn errgroup_limit() {
    gorun::run(|| {
        let g = ErrGroup::<()>::new();
        g.set_limit(2);
        let running = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        for _ in 0..20 {
            let (running, peak) = (running.clone(), peak.clone());
            g.go(move || {
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                peak.fetch_max(now, Ordering::SeqCst);
                gorun::sleep(Duration::from_millis(1));
                running.fetch_sub(1, Ordering::SeqCst);
                Ok(())
            });
        }
        g.wait().unwrap();
        assert!(peak.load(Ordering::SeqCst) <= 2);

        // try_go fails while the group is full.
        g.set_limit(1);
        let (tx, rx) = gorun::chan::<()>(0);
        assert!(g.try_go(move || {
            let _ = rx.recv();
            Ok(())
        }));
        assert!(!g.try_go(|| Ok(())));
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| g.set_limit(5)));
        assert!(r.is_err(), "set_limit while goroutines are active panics");
        drop(tx);
        g.wait().unwrap();
    });
}

#[test]
fn errgroup_panic_is_resumed_by_wait() {
    gorun::run(|| {
        let g = ErrGroup::<()>::new();
        g.go(|| panic!("worker panicked"));
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| g.wait()));
        let p = r.unwrap_err();
        assert_eq!(p.downcast_ref::<&str>(), Some(&"worker panicked"));
    });
}
