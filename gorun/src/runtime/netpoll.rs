//! The netpoller as the scheduler sees it. The poller itself (`net::poller`) sits in the
//! layer above, with the sockets; it registers here when it starts, so that workers can poll
//! it when idle, sleep in it as its *blocker* (Go's `findrunnable` blocking in `netpoll`)
//! and wake that sleeper, without the core naming it. One poller per process.

use std::sync::OnceLock;
use std::time::Duration;

/// What a netpoller offers the workers.
pub(crate) trait Netpoll: Sync {
    /// Polls without waiting (unless someone else is polling or blocking); returns whether
    /// it polled.
    fn poll_now(&self) -> bool;
    /// Takes the blocker role, if nobody holds it (at most one thread waits in the poll).
    fn try_block(&self) -> bool;
    /// As the blocker: waits for an event, [`Netpoll::wake_blocker`] or `timeout`, wakes
    /// the waiters of the events; `woke` runs as soon as the wait returns.
    fn wait_blocked(&self, timeout: Option<Duration>, woke: &mut dyn FnMut());
    /// Gives the blocker role back.
    fn release_block(&self);
    /// Makes the blocker's wait return (or its next one return at once).
    fn wake_blocker(&self);
}

static NETPOLL: OnceLock<&'static dyn Netpoll> = OnceLock::new();

/// Called by the netpoller once it exists (later calls are ignored).
pub(crate) fn register(p: &'static dyn Netpoll) {
    let _ = NETPOLL.get_or_init(|| p);
}

/// The netpoller, if a socket was ever registered (never starts it).
pub(crate) fn get() -> Option<&'static dyn Netpoll> {
    NETPOLL.get().copied()
}

/// The blocker role: released when dropped.
pub(crate) struct Blocker(&'static dyn Netpoll);

impl Blocker {
    /// Takes the role, if there is a netpoller and nobody holds it.
    pub(crate) fn take() -> Option<Blocker> {
        let p = get()?;
        // Lazily: a `Blocker` made and dropped here would release the holder's role.
        p.try_block().then(|| Blocker(p))
    }

    /// See [`Netpoll::wait_blocked`].
    pub(crate) fn wait(&self, timeout: Option<Duration>, mut woke: impl FnMut()) {
        self.0.wait_blocked(timeout, &mut woke);
    }
}

impl Drop for Blocker {
    fn drop(&mut self) {
        self.0.release_block();
    }
}
