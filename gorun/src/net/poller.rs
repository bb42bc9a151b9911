//! The netpoller: one process-wide thread blocked in `epoll_wait` (through `mio`).
//!
//! Every socket gorun owns is registered once, edge-triggered, for both directions. Its
//! readiness lives in a heap [`IoState`]: a sequence counter per direction, bumped by the
//! poller thread on every readiness edge, and the list of goroutines (or threads) waiting
//! for that direction. An operation follows one protocol (see [`Io::op`]):
//!
//! 1. read the direction's sequence number;
//! 2. try the non-blocking system call on the caller's own buffer; done unless it
//!    returns `WouldBlock`;
//! 3. under the state's lock, check that the sequence number has not moved (an edge that
//!    arrived after step 1 means the call may succeed now: retry), then publish the
//!    caller's [`Unparker`];
//! 4. park with the reason `IO wait` (until the deadline, if any), then retry from step 1.
//!
//! The poller bumps the counter *before* taking the lock and draining the waiters, so an
//! edge is either seen by step 3 or finds the waiter published: no wake-up is lost. The
//! kernel never holds a goroutine's buffer while it is parked: buffers are only passed to
//! plain non-blocking `read`/`write` calls made by the running goroutine.
//!
//! The same code serves plain OS threads: `park` then blocks the thread and the poller
//! thread unparks it, so the socket types behave like blocking std sockets there.
//!
//! Tokens are slab indices with a generation, so an event for a socket that was closed
//! (and whose slot was reused) while the event was in flight is ignored.

use std::io;
use std::panic::Location;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use mio::event::Source;
use mio::{Events, Interest, Poll, Registry, Token};

use crate::park::{self, Unparker, WaitReason};

/// Which half of a socket an operation waits on.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Dir {
    Read,
    Write,
}

#[derive(Default)]
struct Waiters {
    read: Vec<(u64, Unparker)>,
    write: Vec<(u64, Unparker)>,
}

impl Waiters {
    fn list(&mut self, dir: Dir) -> &mut Vec<(u64, Unparker)> {
        match dir {
            Dir::Read => &mut self.read,
            Dir::Write => &mut self.write,
        }
    }
}

/// Readiness and waiters of one registered socket (heap-allocated, shared with the
/// poller thread).
pub(crate) struct IoState {
    read_seq: AtomicU64,
    write_seq: AtomicU64,
    closed: AtomicBool,
    waiters: Mutex<Waiters>,
}

impl IoState {
    fn new() -> IoState {
        IoState {
            read_seq: AtomicU64::new(0),
            write_seq: AtomicU64::new(0),
            closed: AtomicBool::new(false),
            waiters: Mutex::new(Waiters::default()),
        }
    }

    fn seq(&self, dir: Dir) -> &AtomicU64 {
        match dir {
            Dir::Read => &self.read_seq,
            Dir::Write => &self.write_seq,
        }
    }

    /// Records a readiness edge for `dir` and wakes everyone waiting on it.
    /// Announces a readiness edge for `dir` and moves its waiters into `woken`; the caller
    /// unparks them (after dropping every lock).
    fn take_waiters(&self, dir: Dir, woken: &mut Vec<(u64, Unparker)>) {
        self.seq(dir).fetch_add(1, Ordering::AcqRel);
        let mut w = self.waiters.lock().unwrap();
        woken.append(w.list(dir));
    }
}

/// Wakes everything in `woken`: goroutines are queued per home worker in one batch (one
/// lock and one thread wake-up per worker instead of one per goroutine), threads unparked.
fn wake_all(woken: &mut Vec<(u64, Unparker)>) {
    let mut gs = Vec::new();
    for (_, u) in woken.drain(..) {
        match u {
            Unparker::Goroutine(g) => {
                if g.wake() {
                    gs.push(g);
                }
            }
            other => other.unpark(),
        }
    }
    if !gs.is_empty() {
        crate::runtime::worker::schedule_batch(gs);
    }
}

struct Slot {
    gen: u32,
    state: Option<Arc<IoState>>,
}

#[derive(Default)]
struct Slots {
    entries: Vec<Slot>,
    free: Vec<usize>,
}

impl Slots {
    fn get(&self, token: Token) -> Option<&Arc<IoState>> {
        let idx = token.0 & 0xffff_ffff;
        let gen = (token.0 >> 32) as u32;
        let slot = self.entries.get(idx)?;
        if slot.gen != gen {
            return None;
        }
        slot.state.as_ref()
    }
}

struct Poller {
    registry: Registry,
    slots: Mutex<Slots>,
}

fn poller() -> io::Result<&'static Poller> {
    static POLLER: OnceLock<Result<Poller, String>> = OnceLock::new();
    let p = POLLER.get_or_init(|| {
        let poll = Poll::new().map_err(|e| format!("gorun netpoller: epoll_create: {e}"))?;
        let registry = poll
            .registry()
            .try_clone()
            .map_err(|e| format!("gorun netpoller: {e}"))?;
        std::thread::Builder::new()
            .name("gorun-netpoll".into())
            .spawn(move || poll_loop(poll))
            .map_err(|e| format!("gorun netpoller: cannot start its thread: {e}"))?;
        Ok(Poller {
            registry,
            slots: Mutex::new(Slots::default()),
        })
    });
    p.as_ref().map_err(|e| io::Error::other(e.clone()))
}

fn poll_loop(mut poll: Poll) {
    let _owned = crate::diag::deadlock::OwnedThread::register();
    // Blocks until `poller()`'s initialisation (which spawned this thread) has finished.
    let Ok(p) = poller() else { return };
    let mut events = Events::with_capacity(1024);
    let mut batch: Vec<(Arc<IoState>, bool, bool)> = Vec::with_capacity(1024);
    let mut scratch = Vec::new();
    loop {
        if let Err(e) = poll.poll(&mut events, None) {
            if e.kind() != io::ErrorKind::Interrupted {
                eprintln!("gorun netpoller: epoll_wait failed: {e}");
                std::thread::sleep(Duration::from_millis(10));
            }
            continue;
        }
        {
            let slots = p.slots.lock().unwrap();
            for ev in events.iter() {
                if let Some(st) = slots.get(ev.token()) {
                    let r = ev.is_readable() || ev.is_read_closed() || ev.is_error();
                    let w = ev.is_writable() || ev.is_write_closed() || ev.is_error();
                    batch.push((st.clone(), r, w));
                }
            }
        }
        for (st, r, w) in batch.drain(..) {
            if r {
                st.take_waiters(Dir::Read, &mut scratch);
            }
            if w {
                st.take_waiters(Dir::Write, &mut scratch);
            }
        }
        wake_all(&mut scratch);
    }
}

/// The error returned by operations on a closed listener: Go's words.
pub(crate) fn closed_error() -> io::Error {
    io::Error::new(
        io::ErrorKind::NotConnected,
        "use of closed network connection",
    )
}

fn timed_out() -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, "i/o timeout")
}

const NO_TIMEOUT: u64 = 0;

/// A socket registered with the netpoller. Deregistered and closed when dropped.
pub(crate) struct Io<S: Source> {
    sock: S,
    state: Arc<IoState>,
    token: Token,
    /// Timeouts in nanoseconds; 0 means none.
    read_timeout: AtomicU64,
    write_timeout: AtomicU64,
}

impl<S: Source> Io<S> {
    /// Registers a non-blocking socket (edge-triggered, both directions).
    pub(crate) fn new(mut sock: S) -> io::Result<Io<S>> {
        let p = poller()?;
        let state = Arc::new(IoState::new());
        let token = {
            let mut slots = p.slots.lock().unwrap();
            let idx = match slots.free.pop() {
                Some(i) => i,
                None => {
                    slots.entries.push(Slot {
                        gen: 0,
                        state: None,
                    });
                    slots.entries.len() - 1
                }
            };
            let slot = &mut slots.entries[idx];
            slot.state = Some(state.clone());
            Token(((slot.gen as usize) << 32) | idx)
        };
        if let Err(e) =
            p.registry
                .register(&mut sock, token, Interest::READABLE | Interest::WRITABLE)
        {
            release(p, token);
            return Err(e);
        }
        Ok(Io {
            sock,
            state,
            token,
            read_timeout: AtomicU64::new(NO_TIMEOUT),
            write_timeout: AtomicU64::new(NO_TIMEOUT),
        })
    }

    pub(crate) fn sock(&self) -> &S {
        &self.sock
    }

    /// Marks the socket closed for every handle and wakes all its waiters: they return
    /// [`closed_error`].
    pub(crate) fn close(&self) {
        self.state.closed.store(true, Ordering::Release);
        let mut woken = Vec::new();
        self.state.take_waiters(Dir::Read, &mut woken);
        self.state.take_waiters(Dir::Write, &mut woken);
        wake_all(&mut woken);
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.state.closed.load(Ordering::Acquire)
    }

    pub(crate) fn set_timeout(&self, dir: Dir, t: Option<Duration>) -> io::Result<()> {
        let nanos = match t {
            None => NO_TIMEOUT,
            Some(d) if d.is_zero() => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "cannot set a 0 duration timeout",
                ))
            }
            Some(d) => u64::try_from(d.as_nanos()).unwrap_or(u64::MAX),
        };
        self.timeout_cell(dir).store(nanos, Ordering::Relaxed);
        Ok(())
    }

    pub(crate) fn timeout(&self, dir: Dir) -> Option<Duration> {
        match self.timeout_cell(dir).load(Ordering::Relaxed) {
            NO_TIMEOUT => None,
            n => Some(Duration::from_nanos(n)),
        }
    }

    fn timeout_cell(&self, dir: Dir) -> &AtomicU64 {
        match dir {
            Dir::Read => &self.read_timeout,
            Dir::Write => &self.write_timeout,
        }
    }

    /// Runs the non-blocking operation `f` until it does not return `WouldBlock`, parking
    /// the caller on `dir` readiness in between, under the socket's timeout for `dir`.
    pub(crate) fn op<T>(
        &self,
        dir: Dir,
        site: &'static Location<'static>,
        f: impl FnMut(&S) -> io::Result<T>,
    ) -> io::Result<T> {
        self.op_timeout(dir, self.timeout(dir), site, f)
    }

    /// [`Io::op`] with an explicit timeout.
    pub(crate) fn op_timeout<T>(
        &self,
        dir: Dir,
        timeout: Option<Duration>,
        site: &'static Location<'static>,
        mut f: impl FnMut(&S) -> io::Result<T>,
    ) -> io::Result<T> {
        let st = &*self.state;
        // A timeout too large to represent never fires.
        let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
        loop {
            if st.closed.load(Ordering::Acquire) {
                return Err(closed_error());
            }
            let seq = st.seq(dir).load(Ordering::Acquire);
            match f(&self.sock) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                r => return r,
            }
            if let Some(d) = deadline {
                if Instant::now() >= d {
                    return Err(timed_out());
                }
            }
            let id = next_wait_id();
            {
                let mut w = st.waiters.lock().unwrap();
                if st.seq(dir).load(Ordering::Acquire) != seq || st.closed.load(Ordering::Acquire) {
                    continue;
                }
                w.list(dir).push((id, park::current()));
            }
            match deadline {
                Some(d) => park::park_until(WaitReason::IoWait, site, d),
                None => park::park(WaitReason::IoWait, site),
            }
            let mut w = st.waiters.lock().unwrap();
            let list = w.list(dir);
            if !list.is_empty() {
                list.retain(|(i, _)| *i != id);
            }
        }
    }
}

fn next_wait_id() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

fn release(p: &Poller, token: Token) {
    let idx = token.0 & 0xffff_ffff;
    let mut slots = p.slots.lock().unwrap();
    let slot = &mut slots.entries[idx];
    slot.state = None;
    slot.gen = slot.gen.wrapping_add(1);
    slots.free.push(idx);
}

impl<S: Source> Drop for Io<S> {
    fn drop(&mut self) {
        if let Ok(p) = poller() {
            release(p, self.token);
            let _ = p.registry.deregister(&mut self.sock);
        }
        // Wakes anyone still registered (there is none: waiters borrow the handle).
        self.close();
    }
}
