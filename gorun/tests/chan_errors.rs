//! Channel errors: one story for a closed channel across every send, helpers, and `From`
//! conversions so `?` works.

use std::time::Duration;

use gorun::{RecvError, RecvTimeoutError, SendError, SendTimeoutError, TryRecvError, TrySendError};

#[test]
fn closed_channel_fails_every_send_the_same_way() {
    gorun::run(|| {
        let (tx, rx) = gorun::chan::<u32>(1);
        tx.close();
        assert_eq!(tx.send(1), Err(SendError(1)));
        let e = tx.try_send(2).unwrap_err();
        assert!(e.is_closed() && !e.is_disconnected() && !e.is_full());
        assert_eq!(e.into_inner(), 2);
        let e = tx.send_timeout(3, Duration::from_secs(1)).unwrap_err();
        assert!(e.is_closed() && !e.is_timeout() && !e.is_disconnected());
        assert_eq!(e.into_inner(), 3);
        assert!(tx.is_closed());
        drop(rx);
    });
}

#[test]
fn receivers_gone_fails_every_send_as_disconnected() {
    let (tx, rx) = gorun::chan::<u32>(1);
    drop(rx);
    assert_eq!(tx.send(1), Err(SendError(1)));
    assert!(tx.try_send(2).unwrap_err().is_disconnected());
    let e = tx.send_timeout(3, Duration::from_secs(1)).unwrap_err();
    assert!(e.is_disconnected());
    assert!(!tx.is_closed());
}

#[test]
fn closing_wakes_a_parked_sender_with_closed() {
    gorun::run(|| {
        let (tx, _rx) = gorun::chan::<u32>(0);
        let tx2 = tx.clone();
        let h = gorun::go(move || tx2.send_timeout(1, Duration::from_secs(3600)));
        // Close while it is parked, or (either way the answer is the same) before it sends.
        for _ in 0..1000 {
            if gorun::dump().contains("[chan send]") {
                break;
            }
            gorun::yield_now();
        }
        tx.close();
        let e = h.join().unwrap().unwrap_err();
        assert!(e.is_closed(), "{e:?}");
    });
}

#[test]
fn send_timeout_times_out() {
    let (tx, _rx) = gorun::chan::<u32>(0);
    let e = tx.send_timeout(1, Duration::from_millis(1)).unwrap_err();
    assert!(e.is_timeout());
}

#[test]
fn receive_helpers() {
    let (tx, rx) = gorun::chan::<u32>(1);
    assert!(rx.try_recv().unwrap_err().is_empty());
    assert!(rx
        .recv_timeout(Duration::from_millis(1))
        .unwrap_err()
        .is_timeout());
    drop(tx);
    assert!(rx.try_recv().unwrap_err().is_disconnected());
    assert!(rx
        .recv_timeout(Duration::from_millis(1))
        .unwrap_err()
        .is_disconnected());
}

#[test]
fn question_mark_converts() {
    fn send_then_try(tx: &gorun::Sender<u32>) -> Result<(), TrySendError<u32>> {
        tx.send(1)?;
        tx.try_send(2)
    }
    fn send_with_timeout(tx: &gorun::Sender<u32>) -> Result<(), SendTimeoutError<u32>> {
        tx.send(1)?;
        Ok(())
    }
    fn recv_then_try(rx: &gorun::Receiver<u32>) -> Result<u32, TryRecvError> {
        Ok(rx.recv()? + rx.try_recv()?)
    }
    fn recv_with_timeout(rx: &gorun::Receiver<u32>) -> Result<u32, RecvTimeoutError> {
        Ok(rx.recv()?)
    }
    fn boxed(rx: &gorun::Receiver<u32>) -> Result<u32, Box<dyn std::error::Error>> {
        Ok(rx.recv()?)
    }
    let (tx, rx) = gorun::chan::<u32>(4);
    send_then_try(&tx).unwrap();
    assert_eq!(recv_then_try(&rx), Ok(3));
    send_with_timeout(&tx).unwrap();
    assert_eq!(recv_with_timeout(&rx), Ok(1));
    drop(rx);
    assert!(send_then_try(&tx).unwrap_err().is_disconnected());
    assert!(send_with_timeout(&tx).unwrap_err().is_disconnected());
    let (tx, rx) = gorun::chan::<u32>(1);
    drop(tx);
    assert_eq!(recv_then_try(&rx), Err(TryRecvError::Disconnected));
    assert_eq!(recv_with_timeout(&rx), Err(RecvTimeoutError::Disconnected));
    assert_eq!(boxed(&rx).unwrap_err().to_string(), RecvError.to_string());
}
