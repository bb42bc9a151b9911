//! Goroutine-aware I/O on any file descriptor: [`Async`].
//!
//! # Invariants
//!
//! - An `Async` owns its value; the descriptor is in non-blocking mode and registered with
//!   the netpoller (edge-triggered, both directions) for as long as the `Async` lives, and
//!   deregistered before the value is dropped or handed back.
//! - Every operation follows the netpoller's protocol (`net::poller::Io::op`): try the
//!   non-blocking call, and park on the direction's readiness only after a `WouldBlock`,
//!   so no edge is lost.

use std::fmt;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd};
use std::panic::Location;

use mio::event::Source;
use mio::unix::SourceFd;
use mio::{Interest, Registry, Token};

use crate::net::poller::{Dir, Io};

/// A value with a descriptor, registered with mio through its raw descriptor.
struct Fd<T>(T);

impl<T: AsFd> Source for Fd<T> {
    fn register(&mut self, r: &Registry, t: Token, i: Interest) -> io::Result<()> {
        SourceFd(&self.0.as_fd().as_raw_fd()).register(r, t, i)
    }
    fn reregister(&mut self, r: &Registry, t: Token, i: Interest) -> io::Result<()> {
        SourceFd(&self.0.as_fd().as_raw_fd()).reregister(r, t, i)
    }
    fn deregister(&mut self, r: &Registry) -> io::Result<()> {
        SourceFd(&self.0.as_fd().as_raw_fd()).deregister(r)
    }
}

/// Any value with a file descriptor (a pipe, a terminal, a character device, another
/// library's socket), made goroutine-aware: operations that would block park the calling
/// goroutine until the netpoller sees the descriptor ready, instead of blocking its worker
/// (on a plain thread they block the thread).
///
/// [`Read`] and [`Write`] work when they work on `&T` (files, pipes, std sockets); any
/// other non-blocking call goes through [`read_with`](Async::read_with) and
/// [`write_with`](Async::write_with). The descriptor must be one `epoll` supports: not a
/// regular file (those are always ready; use [`blocking`](crate::blocking)).
///
/// ```
/// use std::io::{Read, Write};
/// use gorun::io::Async;
///
/// gorun::run(|| {
///     let (reader, writer) = std::io::pipe().unwrap();
///     let mut reader = Async::new(reader).unwrap();
///     let mut writer = Async::new(writer).unwrap();
///     let h = gorun::go(move || {
///         let mut buf = [0; 5];
///         reader.read_exact(&mut buf).unwrap(); // parks until the bytes arrive
///         buf
///     });
///     writer.write_all(b"hello").unwrap();
///     assert_eq!(&h.join().unwrap(), b"hello");
/// });
/// ```
pub struct Async<T: AsFd> {
    io: Io<Fd<T>>,
}

impl<T: AsFd> Async<T> {
    /// Switches `inner`'s descriptor to non-blocking mode and registers it with the
    /// netpoller. Fails if either fails (`epoll` rejects regular files, for one).
    ///
    /// The mode belongs to the open file description: other holders of it (a terminal or
    /// standard input shared with another process) see non-blocking mode too.
    pub fn new(inner: T) -> io::Result<Async<T>> {
        set_nonblocking(inner.as_fd())?;
        Ok(Async {
            io: Io::new(Fd(inner))?,
        })
    }

    /// The value.
    pub fn get_ref(&self) -> &T {
        &self.io.sock().0
    }

    /// Deregisters the descriptor from the netpoller and returns the value. The descriptor
    /// stays in non-blocking mode. Fails if the netpoller refused to deregister it (the
    /// value is then closed).
    ///
    /// ```
    /// use std::io::{Read, Write};
    /// use gorun::io::Async;
    ///
    /// gorun::run(|| {
    ///     let (reader, writer) = std::io::pipe().unwrap();
    ///     let mut writer = Async::new(writer).unwrap();
    ///     writer.write_all(b"hi").unwrap();
    ///     let mut writer = writer.into_inner().unwrap(); // a plain std pipe again
    ///     writer.write_all(b"!").unwrap();
    ///     drop(writer);
    ///     let mut s = String::new();
    ///     Async::new(reader).unwrap().read_to_string(&mut s).unwrap();
    ///     assert_eq!(s, "hi!");
    /// });
    /// ```
    pub fn into_inner(self) -> io::Result<T> {
        self.io.into_inner().map(|fd| fd.0)
    }

    /// Runs the non-blocking operation `op` until it does not fail with `WouldBlock`,
    /// parking until the descriptor is readable in between.
    #[track_caller]
    pub fn read_with<R>(&self, mut op: impl FnMut(&T) -> io::Result<R>) -> io::Result<R> {
        self.io.op(Dir::Read, Location::caller(), |s| op(&s.0))
    }

    /// Runs the non-blocking operation `op` until it does not fail with `WouldBlock`,
    /// parking until the descriptor is writable in between.
    #[track_caller]
    pub fn write_with<R>(&self, mut op: impl FnMut(&T) -> io::Result<R>) -> io::Result<R> {
        self.io.op(Dir::Write, Location::caller(), |s| op(&s.0))
    }
}

/// Sets `O_NONBLOCK` on `fd`.
fn set_nonblocking(fd: std::os::fd::BorrowedFd<'_>) -> io::Result<()> {
    let raw = fd.as_raw_fd();
    // SAFETY: `raw` is open for the duration of the borrow; F_GETFL/F_SETFL only read and
    // set its status flags.
    let flags = unsafe { libc::fcntl(raw, libc::F_GETFL) };
    if flags < 0 {
        return Err(io::Error::last_os_error());
    }
    if flags & libc::O_NONBLOCK == 0 {
        // SAFETY: as above.
        if unsafe { libc::fcntl(raw, libc::F_SETFL, flags | libc::O_NONBLOCK) } < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

impl<T: AsFd> Read for Async<T>
where
    for<'a> &'a T: Read,
{
    #[track_caller]
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        self.io
            .op(Dir::Read, Location::caller(), |s| (&s.0).read(buf))
    }
}

impl<T: AsFd> Write for Async<T>
where
    for<'a> &'a T: Write,
{
    #[track_caller]
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        self.io
            .op(Dir::Write, Location::caller(), |s| (&s.0).write(buf))
    }

    #[track_caller]
    fn flush(&mut self) -> io::Result<()> {
        self.io
            .op(Dir::Write, Location::caller(), |s| (&s.0).flush())
    }
}

impl<T: AsFd> AsFd for Async<T> {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.get_ref().as_fd()
    }
}

impl<T: AsFd> AsRawFd for Async<T> {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.get_ref().as_fd().as_raw_fd()
    }
}

impl<T: AsFd + fmt::Debug> fmt::Debug for Async<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Async").field(self.get_ref()).finish()
    }
}
