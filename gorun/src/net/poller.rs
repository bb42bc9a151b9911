//! The netpoller: one process-wide epoll instance (kqueue on macOS; both through `mio`),
//! polled by idle workers.
//!
//! Every socket gorun owns is registered once, edge-triggered, for both directions. Its
//! readiness lives in a heap [`IoState`]: a sequence counter per direction, bumped by
//! whoever polls on every readiness edge, and the list of goroutines (or threads) waiting
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
//! A poller bumps the counter *before* taking the lock and draining the waiters, so an
//! edge is either seen by step 3 or finds the waiter published: no wake-up is lost. The
//! kernel never holds a goroutine's buffer while it is parked: buffers are only passed to
//! plain non-blocking `read`/`write` calls made by the running goroutine.
//!
//! A TCP read that comes back short marks the read direction drained at the sequence number
//! of step 1; while the number has not moved, step 2 is skipped (the call would say
//! `EAGAIN`) unless the socket was ever told of urgent data, its peer's close or an error,
//! which make short reads prove nothing (see [`Io::read_stream`]).
//!
//! # Who polls (Go's `findrunnable`/`netpoll`)
//!
//! The `Poll` sits behind a mutex; whoever holds it calls `epoll_wait` and dispatches the
//! events (bump, take the waiters, wake them: goroutines homed on the polling worker go
//! to its own queue, others to their home worker's). At most one thread at a time is the
//! *blocker* ([`Blocker`], a flag taken by compare-and-swap), the only one that may wait
//! in `epoll_wait` with a timeout; everyone else polls without waiting, and only with
//! `try_lock`:
//!
//! - a worker with nothing to run becomes the blocker instead of parking its thread (see
//!   `Worker::sleep`), so a socket edge wakes it directly and it runs the goroutines it
//!   woke itself: one thread wake-up per I/O wake-up, none while it was spinning;
//! - a worker searching for work polls without waiting (unless a blocker exists: that one
//!   dispatches every edge at once);
//! - each runtime's timer thread polls without waiting when nobody polled during its last
//!   10 ms tick ([`StallCheck`], Go's `sysmon`), so busy workers cannot starve I/O;
//! - plain OS threads parked on I/O are served by the fallback thread `gorun-netpoll`:
//!   while such a thread waits and nobody else is the blocker, it is (in slices of
//!   [`FALLBACK_SLICE`], so an idle worker can take over once no plain thread waits).
//!
//! Waking the blocker: a worker that blocks in `epoll_wait` marks itself (`in_poll`,
//! SeqCst, before it announces that it sleeps and re-checks its queues), and whoever
//! would `unpark` it writes the shared `mio::Waker` (an eventfd) instead. An eventfd
//! write queues an edge that the next `epoll_wait` returns even if it starts later, so the
//! wake is a token like `thread::unpark`'s. A poller that is not the blocker and takes
//! that edge (it may poll just before the blocker does) writes the waker again while a
//! blocker exists, so the edge is never lost; at worst a later blocker wakes once for
//! nothing. A plain thread that starts waiting and the blocker that leaves form a
//! Dekker pair (SeqCst counter and flag), so one of them wakes the fallback thread.
//!
//! Limits, as in Go: when the blocker leaves `epoll_wait` to run work, nobody blocks in
//! it until a worker runs dry again, so an edge may wait for a searching worker or the
//! timer thread's poll (at most a tick) if every other worker is parked or busy. While
//! the fallback thread is the blocker (a plain thread waits on I/O), idle workers park
//! their threads and a goroutine's I/O wake-up costs a second thread wake-up.
//!
//! # Async operations
//!
//! [`Io::poll_op`] follows the same protocol from a future's `poll`, publishing the task's
//! waker instead of parking: one slot per direction (`Waiters::tasks`), so a stream polled
//! again and again holds one waker, the latest (as with Tokio's own sockets, only the last
//! task to poll a direction is woken). A waker published from outside a gorun goroutine
//! (a plain thread's `block_on`, another executor's thread) counts as a plain thread
//! waiting, so the fallback thread polls for it while no worker does; the count is
//! dropped when the edge takes the waker.
//!
//! Tokens are slab indices with a generation, so an event for a socket that was closed
//! (and whose slot was reused) while the event was in flight is ignored.

use std::io;
use std::panic::Location;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::Thread;
use std::time::{Duration, Instant};

use mio::event::Source;
use mio::{Events, Interest, Poll, Registry, Token};

use crate::goroutine::G;
use crate::park::{self, Unparker, WaitReason};
use crate::runtime::netpoll::{Blocker, Netpoll};

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
    /// The task waiting per direction (`[read, write]`) in [`Io::poll_op`], and whether it
    /// counts as a plain thread waiting.
    tasks: [Option<(std::task::Waker, bool)>; 2],
}

impl Waiters {
    fn list(&mut self, dir: Dir) -> &mut Vec<(u64, Unparker)> {
        match dir {
            Dir::Read => &mut self.read,
            Dir::Write => &mut self.write,
        }
    }
}

/// Readiness and waiters of one registered socket (heap-allocated, shared with whoever
/// polls).
pub(crate) struct IoState {
    read_seq: AtomicU64,
    write_seq: AtomicU64,
    closed: AtomicBool,
    waiters: Mutex<Waiters>,
    /// The read sequence number at which a read came back short (see [`Io::read_stream`]),
    /// proving the receive queue empty until the next edge; `u64::MAX`: none.
    read_drained: AtomicU64,
    /// Urgent (out-of-band) data was announced (`EPOLLPRI`), or the peer closed or reset
    /// its side: a short read may stop at the urgent mark with data left behind, or be
    /// followed by end of file or an error, none of which brings another edge. So on this
    /// socket short reads prove nothing any more (sticky).
    unproven: AtomicBool,
    /// A TCP stream registered for urgent notices ([`Io::new_tcp_stream`]).
    short_reads_drain: bool,
}

impl IoState {
    fn new(short_reads_drain: bool) -> IoState {
        IoState {
            read_seq: AtomicU64::new(0),
            write_seq: AtomicU64::new(0),
            closed: AtomicBool::new(false),
            waiters: Mutex::new(Waiters::default()),
            read_drained: AtomicU64::new(u64::MAX),
            unproven: AtomicBool::new(false),
            short_reads_drain,
        }
    }

    fn seq(&self, dir: Dir) -> &AtomicU64 {
        match dir {
            Dir::Read => &self.read_seq,
            Dir::Write => &self.write_seq,
        }
    }

    /// Announces a readiness edge for `dir` and moves its waiters into `woken`; the caller
    /// unparks them (after dropping every lock).
    fn take_waiters(&self, dir: Dir, woken: &mut Vec<(u64, Unparker)>) {
        self.seq(dir).fetch_add(1, Ordering::AcqRel);
        let mut w = self.waiters.lock().unwrap();
        woken.append(w.list(dir));
        if let Some((task, counted)) = w.tasks[dir as usize].take() {
            woken.push((0, crate::waker::into_unparker(task)));
            if counted {
                if let Some(p) = get() {
                    p.thread_waiting(false);
                }
            }
        }
    }
}

/// Wakes everything in `woken`: goroutines are queued per home worker in one batch (one
/// lock and one thread wake-up per worker instead of one per goroutine), threads unparked.
fn wake_all(woken: &mut Vec<(u64, Unparker)>, gs: &mut Vec<Arc<G>>) {
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
        crate::runtime::worker::schedule_drain(gs, crate::trace::Via::Netpoll);
    }
}

struct IoSlot {
    gen: u32,
    state: Option<Arc<IoState>>,
}

#[derive(Default)]
struct IoSlots {
    entries: Vec<IoSlot>,
    free: Vec<usize>,
}

impl IoSlots {
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

/// The waker's token: never a slab token (those have a 32-bit index).
const WAKER: Token = Token(usize::MAX);
/// How long the fallback thread blocks at a time before it checks whether a plain thread
/// still waits (else it lets an idle worker become the blocker).
const FALLBACK_SLICE: Duration = Duration::from_millis(10);

/// The epoll instance and the buffers of whoever polls it.
struct PollState {
    poll: Poll,
    events: Events,
    batch: Vec<(Arc<IoState>, bool, bool)>,
    woken: Vec<(u64, Unparker)>,
    gs: Vec<Arc<G>>,
}

pub(crate) struct Poller {
    registry: Registry,
    slots: Mutex<IoSlots>,
    state: Mutex<PollState>,
    /// Wakes the blocker out of `epoll_wait` (registered under [`WAKER`]).
    waker: mio::Waker,
    /// Whether some thread holds the [`Blocker`] role.
    blocker: AtomicBool,
    /// Plain threads parked on I/O now (served by the fallback thread).
    thread_waiters: AtomicUsize,
    /// Polls so far (written under `state`'s lock), for [`StallCheck`].
    polls: AtomicU64,
    fallback: Thread,
}

static POLLER: OnceLock<Result<Poller, String>> = OnceLock::new();

fn poller() -> io::Result<&'static Poller> {
    let p = POLLER.get_or_init(|| {
        let poll = Poll::new().map_err(|e| format!("gorun netpoller: epoll_create: {e}"))?;
        let registry = poll
            .registry()
            .try_clone()
            .map_err(|e| format!("gorun netpoller: {e}"))?;
        let waker = mio::Waker::new(poll.registry(), WAKER)
            .map_err(|e| format!("gorun netpoller: eventfd: {e}"))?;
        let thread = std::thread::Builder::new()
            .name("gorun-netpoll".into())
            .spawn(fallback_loop)
            .map_err(|e| format!("gorun netpoller: cannot start its thread: {e}"))?;
        Ok(Poller {
            registry,
            slots: Mutex::new(IoSlots::default()),
            state: Mutex::new(PollState {
                poll,
                events: Events::with_capacity(1024),
                batch: Vec::with_capacity(1024),
                woken: Vec::new(),
                gs: Vec::new(),
            }),
            waker,
            blocker: AtomicBool::new(false),
            thread_waiters: AtomicUsize::new(0),
            polls: AtomicU64::new(0),
            fallback: thread.thread().clone(),
        })
    });
    let p = p.as_ref().map_err(|e| io::Error::other(e.clone()))?;
    crate::runtime::netpoll::register(p);
    Ok(p)
}

/// The netpoller, if a socket was ever registered (never starts it).
pub(crate) fn get() -> Option<&'static Poller> {
    POLLER.get().and_then(|p| p.as_ref().ok())
}

/// Serves plain OS threads parked on I/O: blocks in `epoll_wait` while one waits and no
/// one else is the blocker.
fn fallback_loop() {
    let _owned = crate::sys::OwnedThread::register();
    // Blocks until `poller()`'s initialisation (which spawned this thread) has finished.
    let Ok(p) = poller() else { return };
    loop {
        if p.thread_waiters.load(Ordering::SeqCst) > 0 {
            if let Some(b) = Blocker::take() {
                b.wait(Some(FALLBACK_SLICE), || {});
                continue;
            }
        }
        // Unparked when a plain thread starts waiting while nobody is the blocker, or
        // when the blocker leaves while one waits.
        std::thread::park();
    }
}

impl Poller {
    /// Polls without waiting, unless a blocker exists (it dispatches every edge itself) or
    /// someone else is polling. Returns whether it polled.
    fn poll_now(&self) -> bool {
        if self.blocker.load(Ordering::Relaxed) {
            return false;
        }
        let Ok(mut st) = self.state.try_lock() else {
            return false;
        };
        self.poll_and_dispatch(&mut st, Some(Duration::ZERO), false, || {});
        true
    }

    /// One `epoll_wait`, then the events' waiters woken (with `st` held). `woke` runs as
    /// soon as `epoll_wait` returns.
    fn poll_and_dispatch(
        &self,
        st: &mut PollState,
        timeout: Option<Duration>,
        blocking: bool,
        woke: impl FnOnce(),
    ) {
        let PollState {
            poll,
            events,
            batch,
            woken,
            gs,
        } = st;
        let r = poll.poll(events, timeout);
        woke();
        self.polls
            .store(self.polls.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
        if let Err(e) = r {
            if e.kind() != io::ErrorKind::Interrupted {
                eprintln!("gorun netpoller: epoll_wait failed: {e}");
                std::thread::sleep(Duration::from_millis(10));
            }
            return;
        }
        let mut took_wake = false;
        {
            let slots = self.slots.lock().unwrap();
            for ev in events.iter() {
                if ev.token() == WAKER {
                    took_wake = true;
                } else if let Some(st) = slots.get(ev.token()) {
                    if ev.is_priority() || ev.is_read_closed() || ev.is_error() {
                        // Before the edge is announced (`take_waiters`): a reader that sees
                        // the new sequence number also sees this.
                        st.unproven.store(true, Ordering::Release);
                    }
                    let r = ev.is_readable() || ev.is_read_closed() || ev.is_error();
                    let w = ev.is_writable() || ev.is_write_closed() || ev.is_error();
                    batch.push((st.clone(), r, w));
                }
            }
        }
        for (st, r, w) in batch.drain(..) {
            if r {
                st.take_waiters(Dir::Read, woken);
            }
            if w {
                st.take_waiters(Dir::Write, woken);
            }
        }
        wake_all(woken, gs);
        // The wake was meant for the blocker, which may poll after us: pass it on.
        if took_wake && !blocking && self.blocker.load(Ordering::SeqCst) {
            self.wake_blocker();
        }
    }

    /// A plain thread is about to park on I/O (`+1`) or is back (`-1`).
    fn thread_waiting(&self, start: bool) {
        if !start {
            self.thread_waiters.fetch_sub(1, Ordering::SeqCst);
            return;
        }
        self.thread_waiters.fetch_add(1, Ordering::SeqCst);
        if !self.blocker.load(Ordering::SeqCst) {
            self.unpark_fallback();
        }
    }

    fn unpark_fallback(&self) {
        self.fallback.unpark();
    }
}

impl Netpoll for Poller {
    fn poll_now(&self) -> bool {
        Poller::poll_now(self)
    }

    fn try_block(&self) -> bool {
        self.blocker
            .compare_exchange(false, true, Ordering::SeqCst, Ordering::Relaxed)
            .is_ok()
    }

    fn wait_blocked(&self, timeout: Option<Duration>, woke: &mut dyn FnMut()) {
        // Held only briefly by those polling without waiting.
        let mut st = self.state.lock().unwrap();
        self.poll_and_dispatch(&mut st, timeout, true, woke);
    }

    fn release_block(&self) {
        self.blocker.store(false, Ordering::SeqCst);
        // Pairs with `thread_waiting`: a plain thread waits, so someone must block.
        if self.thread_waiters.load(Ordering::SeqCst) > 0 {
            self.unpark_fallback();
        }
    }

    fn wake_blocker(&self) {
        if let Err(e) = self.waker.wake() {
            eprintln!("gorun netpoller: cannot wake the poller: {e}");
        }
    }
}

/// Polls from a runtime's timer thread when nobody polled during a whole tick.
#[derive(Default)]
pub(crate) struct StallCheck {
    seen: u64,
}

impl StallCheck {
    pub(crate) fn tick(&mut self) {
        let Some(p) = get() else { return };
        let polls = p.polls.load(Ordering::Relaxed);
        if polls == self.seen {
            p.poll_now();
        }
        self.seen = p.polls.load(Ordering::Relaxed);
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
    /// `None` only once `into_inner` took it (then `drop` has nothing to deregister).
    sock: Option<S>,
    state: Arc<IoState>,
    token: Token,
    poller: &'static Poller,
    /// Timeouts in nanoseconds; 0 means none.
    read_timeout: AtomicU64,
    write_timeout: AtomicU64,
}

impl<S: Source> Io<S> {
    /// Registers a non-blocking socket (edge-triggered, both directions).
    pub(crate) fn new(sock: S) -> io::Result<Io<S>> {
        Io::register(sock, Interest::READABLE | Interest::WRITABLE, false)
    }

    /// Registers a TCP stream: as [`Io::new`], and for notices of urgent data where the
    /// system gives them, which [`Io::read_stream`] needs before it trusts a short read.
    pub(crate) fn new_tcp_stream(sock: S) -> io::Result<Io<S>> {
        let both = Interest::READABLE | Interest::WRITABLE;
        match crate::sys::urgent_interest() {
            Some(urgent) => Io::register(sock, both | urgent, true),
            None => Io::register(sock, both, false),
        }
    }

    fn register(mut sock: S, interest: Interest, short_reads_drain: bool) -> io::Result<Io<S>> {
        let p = poller()?;
        let state = Arc::new(IoState::new(short_reads_drain));
        let token = {
            let mut slots = p.slots.lock().unwrap();
            let idx = match slots.free.pop() {
                Some(i) => i,
                None => {
                    slots.entries.push(IoSlot {
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
        if let Err(e) = p.registry.register(&mut sock, token, interest) {
            release(p, token);
            return Err(e);
        }
        Ok(Io {
            sock: Some(sock),
            state,
            token,
            poller: p,
            read_timeout: AtomicU64::new(NO_TIMEOUT),
            write_timeout: AtomicU64::new(NO_TIMEOUT),
        })
    }

    pub(crate) fn sock(&self) -> &S {
        self.sock
            .as_ref()
            .expect("an Io holds its socket until into_inner")
    }

    /// Deregisters the socket and hands it back (waking nobody: waiters borrow the handle).
    pub(crate) fn into_inner(mut self) -> io::Result<S> {
        let mut sock = self
            .sock
            .take()
            .expect("an Io holds its socket until into_inner");
        release(self.poller, self.token);
        self.close();
        self.poller.registry.deregister(&mut sock).map(|()| sock)
    }

    /// Marks the socket closed for every handle and wakes all its waiters: they return
    /// [`closed_error`].
    pub(crate) fn close(&self) {
        self.state.closed.store(true, Ordering::Release);
        let mut woken = Vec::new();
        self.state.take_waiters(Dir::Read, &mut woken);
        self.state.take_waiters(Dir::Write, &mut woken);
        wake_all(&mut woken, &mut Vec::new());
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
        f: impl FnMut(&S) -> io::Result<T>,
    ) -> io::Result<T> {
        self.op_inner(dir, timeout, site, f, |_| false)
    }

    /// A read of up to `len` bytes from a stream: as [`Io::op`]; and on a TCP stream
    /// registered with [`Io::new_tcp_stream`], a read that returns fewer bytes than asked
    /// (but some) proves the receive queue empty, so the next read on this socket
    /// parks at once, without the system call that would say `EAGAIN`, until a readiness
    /// edge arrives (a third of the system calls of a request-response exchange). Linux's
    /// TCP copies everything queued before it returns, except that it stops at the mark of
    /// urgent data; and end of file or a reset that arrived with the data brings no edge
    /// of its own. A socket that was ever told of urgent data (`EPOLLPRI`), of its peer's
    /// close (`EPOLLRDHUP`) or of an error always makes the call. Elsewhere (no urgent
    /// notices) every read makes it, as on Unix streams (whose reads stop short where
    /// passed descriptors or credentials begin). Assumed: the socket is plain TCP. A
    /// descriptor handed over with kernel TLS switched on (`from_raw_fd`) stops reads at
    /// record-type boundaries with data left, and would wait for more data to arrive.
    pub(crate) fn read_stream(
        &self,
        site: &'static Location<'static>,
        len: usize,
        f: impl FnMut(&S) -> io::Result<usize>,
    ) -> io::Result<usize> {
        let trust = self.state.short_reads_drain;
        self.op_inner(Dir::Read, self.timeout(Dir::Read), site, f, |&n| {
            trust && 0 < n && n < len
        })
    }

    /// The protocol of [`Io::op`] (module docs); `drains(result)` says that a successful
    /// result proves the direction's queue empty (until the next edge).
    fn op_inner<T>(
        &self,
        dir: Dir,
        timeout: Option<Duration>,
        site: &'static Location<'static>,
        mut f: impl FnMut(&S) -> io::Result<T>,
        drains: impl Fn(&T) -> bool,
    ) -> io::Result<T> {
        park::coop(); // a call that completes at once must not hold the worker forever
        let st = &*self.state;
        // A timeout too large to represent never fires.
        let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
        loop {
            if st.closed.load(Ordering::Acquire) {
                return Err(closed_error());
            }
            let seq = st.seq(dir).load(Ordering::Acquire);
            // Drained at this edge already: the call would say `EAGAIN`.
            let drained = dir == Dir::Read
                && st.read_drained.load(Ordering::Relaxed) == seq
                && !st.unproven.load(Ordering::Acquire);
            match if drained {
                Err(io::ErrorKind::WouldBlock.into())
            } else {
                f(self.sock())
            } {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Ok(t) if drains(&t) => {
                    if dir == Dir::Read && !st.unproven.load(Ordering::Acquire) {
                        st.read_drained.store(seq, Ordering::Relaxed);
                    }
                    return Ok(t);
                }
                r => return r,
            }
            if let Some(d) = deadline {
                if Instant::now() >= d {
                    return Err(timed_out());
                }
            }
            let id = next_wait_id();
            let me = park::current();
            let plain = matches!(me, Unparker::Thread(_));
            {
                let mut w = st.waiters.lock().unwrap();
                if st.seq(dir).load(Ordering::Acquire) != seq || st.closed.load(Ordering::Acquire) {
                    continue;
                }
                w.list(dir).push((id, me));
            }
            if plain {
                self.poller.thread_waiting(true);
            }
            match deadline {
                // Real time: a virtual clock stands still while we wait for I/O.
                Some(d) => park::park_until_real(WaitReason::IoWait, site, d),
                None => park::park(WaitReason::IoWait, site),
            }
            if plain {
                self.poller.thread_waiting(false);
            }
            let mut w = st.waiters.lock().unwrap();
            let list = w.list(dir);
            if !list.is_empty() {
                list.retain(|(i, _)| *i != id);
            }
        }
    }
}

#[cfg(any(feature = "tokio", feature = "futures-io"))]
impl<S: Source> Io<S> {
    /// Polls the non-blocking operation `f` once for a future: `Pending` (with `cx`'s
    /// waker published for `dir`) while it would block.
    pub(crate) fn poll_op<T>(
        &self,
        dir: Dir,
        cx: &mut std::task::Context<'_>,
        mut f: impl FnMut(&S) -> io::Result<T>,
    ) -> std::task::Poll<io::Result<T>> {
        use std::task::Poll;
        park::coop(); // as for `op_timeout`: a goroutine's poll loop must give way now and then
        let st = &*self.state;
        loop {
            if st.closed.load(Ordering::Acquire) {
                return Poll::Ready(Err(closed_error()));
            }
            let seq = st.seq(dir).load(Ordering::Acquire);
            match f(self.sock()) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                r => return Poll::Ready(r),
            }
            let mut w = st.waiters.lock().unwrap();
            if st.seq(dir).load(Ordering::Acquire) != seq || st.closed.load(Ordering::Acquire) {
                continue;
            }
            let slot = &mut w.tasks[dir as usize];
            let count = !matches!(slot, Some((_, true)))
                && crate::runtime::worker::with_running(|_| ()).is_none();
            match slot {
                Some((task, counted)) => {
                    if !task.will_wake(cx.waker()) {
                        *task = cx.waker().clone();
                    }
                    *counted |= count;
                }
                None => *slot = Some((cx.waker().clone(), count)),
            }
            drop(w);
            if count {
                self.poller.thread_waiting(true);
            }
            return Poll::Pending;
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
        let Some(sock) = &mut self.sock else {
            return; // handed back by `into_inner`, which deregistered it
        };
        release(self.poller, self.token);
        let _ = self.poller.registry.deregister(sock);
        // Wakes anyone still registered (there is none: waiters borrow the handle).
        self.close();
    }
}
