//! `select_biased!`, `Select::new_biased` and `Select::remove`.

use std::time::Duration;

#[test]
fn select_biased_prefers_earlier_cases() {
    gorun::run(|| {
        let (a_tx, a) = gorun::chan::<u32>(100);
        let (b_tx, b) = gorun::chan::<u32>(100);
        for i in 0..100 {
            a_tx.send(i).unwrap();
            b_tx.send(i).unwrap();
        }
        for i in 0..100 {
            gorun::select_biased! {
                recv(a) -> v => assert_eq!(v, Ok(i)),
                recv(b) -> _ => panic!("b chosen while a was ready"),
            }
        }
        // a is empty now: b is taken.
        gorun::select_biased! {
            recv(a) -> _ => panic!("a is empty"),
            recv(b) -> v => assert_eq!(v, Ok(0)),
        }
    });
}

#[test]
fn select_biased_with_default_and_timeout() {
    gorun::run(|| {
        let (_tx, rx) = gorun::chan::<u32>(0);
        let r = gorun::select_biased! {
            recv(rx) -> _ => 1,
            default => 2,
        };
        assert_eq!(r, 2);
        let r = gorun::select_biased! {
            recv(rx) -> _ => 1,
            default(Duration::from_millis(1)) => 3,
        };
        assert_eq!(r, 3);
        let (tx, rx) = gorun::chan::<u32>(1);
        let r = gorun::select_biased! {
            send(tx, 5) -> res => res.map(|_| 4).unwrap(),
            recv(rx) -> _ => 0,
        };
        assert_eq!(r, 4);
    });
}

#[test]
fn plain_select_is_still_fair() {
    gorun::run(|| {
        let (a_tx, a) = gorun::chan::<u32>(1000);
        let (b_tx, b) = gorun::chan::<u32>(1000);
        for i in 0..1000 {
            a_tx.send(i).unwrap();
            b_tx.send(i).unwrap();
        }
        let mut from_b = 0;
        for _ in 0..1000 {
            gorun::select! {
                recv(a) -> _ => {}
                recv(b) -> _ => from_b += 1,
            }
        }
        assert!(from_b > 0 && from_b < 1000);
    });
}

#[test]
fn dynamic_biased_select() {
    let (a_tx, a) = gorun::chan::<u32>(10);
    let (b_tx, b) = gorun::chan::<u32>(10);
    for i in 0..10 {
        a_tx.send(i).unwrap();
        b_tx.send(i).unwrap();
    }
    for i in 0..10 {
        let mut sel = gorun::Select::new_biased();
        let ia = sel.recv(&a);
        sel.recv(&b);
        let op = sel.select();
        assert_eq!(op.index(), ia);
        assert_eq!(op.recv(&a), Ok(i));
    }
}

#[test]
fn removed_cases_are_never_chosen() {
    let (a_tx, a) = gorun::chan::<u32>(1);
    let (b_tx, b) = gorun::chan::<u32>(1);
    let (c_tx, _c) = gorun::chan::<u32>(1);
    a_tx.send(1).unwrap();
    b_tx.send(2).unwrap();
    let mut sel = gorun::Select::new();
    let ia = sel.recv(&a);
    let ib = sel.recv(&b);
    let ic = sel.send(&c_tx, 3);
    sel.remove(ia);
    sel.remove(ic);
    let op = sel.select();
    assert_eq!(op.index(), ib);
    assert_eq!(op.recv(&b), Ok(2));
    assert_eq!(a.try_recv(), Ok(1), "the removed receive took nothing");
    assert!(c_tx.is_empty(), "the removed send sent nothing");

    let mut sel = gorun::Select::new();
    let ia = sel.recv(&a);
    sel.remove(ia);
    assert!(sel.try_select().is_err(), "nothing left to select");
}

#[test]
#[should_panic(expected = "no operation with this index")]
fn removing_twice_panics() {
    let (_tx, rx) = gorun::chan::<u32>(1);
    let mut sel = gorun::Select::new();
    let i = sel.recv(&rx);
    sel.remove(i);
    sel.remove(i);
}

#[test]
fn ready_reports_without_completing() {
    let (tx, rx) = gorun::chan::<u32>(1);
    let (_tx2, rx2) = gorun::chan::<u32>(1);
    tx.send(9).unwrap();
    let mut sel = gorun::Select::new();
    let a = sel.recv(&rx);
    sel.recv(&rx2);
    assert_eq!(sel.ready(), a);
    assert_eq!(sel.try_ready(), Ok(a));
    assert_eq!(rx.try_recv(), Ok(9), "ready took nothing");
    assert!(sel.try_ready().is_err());
    assert!(sel.ready_timeout(Duration::from_millis(2)).is_err());
}

#[test]
fn ready_parks_until_a_case_can_complete() {
    gorun::run(|| {
        let (tx, rx) = gorun::chan::<u32>(0);
        let (_tx2, rx2) = gorun::chan::<u32>(0);
        let mut sel = gorun::Select::new();
        sel.recv(&rx2);
        let a = sel.recv(&rx);
        let h = gorun::go(move || tx.send(3).unwrap()); // parks as an unbuffered sender
        assert_eq!(sel.ready(), a);
        assert_eq!(rx.try_recv(), Ok(3));
        h.join().unwrap();

        // A send case becomes ready when a receiver waits; a closed channel is ready.
        let (tx, rx) = gorun::chan::<u32>(0);
        let mut sel = gorun::Select::new();
        let s = sel.send(&tx, 1);
        let r = gorun::go(move || rx.recv());
        assert_eq!(sel.ready(), s);
        tx.send(1).unwrap();
        assert_eq!(r.join().unwrap(), Ok(1));

        let (ctx, cancel) = gorun::Context::background().with_cancel();
        let done = ctx.done();
        let mut sel = gorun::Select::new();
        let d = sel.recv(&done);
        let c = gorun::go(move || cancel.cancel());
        assert_eq!(sel.ready_timeout(Duration::from_secs(30)), Ok(d));
        c.join().unwrap();
    });
}

#[test]
fn ready_on_plain_threads() {
    let (tx, rx) = gorun::chan::<u32>(0);
    let t = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(5));
        tx.send(1).unwrap();
    });
    let mut sel = gorun::Select::new();
    let a = sel.recv(&rx);
    assert_eq!(sel.ready(), a);
    assert_eq!(rx.recv(), Ok(1));
    t.join().unwrap();
}
