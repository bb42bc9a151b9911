//! Goroutine-aware sockets: TCP, UDP and Unix-domain streams and datagrams over the
//! netpoller.
//!
//! The types mirror `std::net`: blocking-style calls that park the calling goroutine
//! (wait reason `IO wait`) instead of blocking its worker thread, and wake it when the
//! socket is ready. On a plain OS thread they block the thread, like std's sockets.
//!
//! ```
//! use std::io::{Read, Write};
//! use gorun::net::{TcpListener, TcpStream};
//!
//! gorun::run(|| {
//!     let listener = TcpListener::bind("127.0.0.1:0").unwrap();
//!     let addr = listener.local_addr().unwrap();
//!     let server = gorun::go(move || {
//!         let (mut conn, _) = listener.accept().unwrap();
//!         let mut buf = [0; 5];
//!         conn.read_exact(&mut buf).unwrap();
//!         conn.write_all(&buf).unwrap();
//!     });
//!     let mut c = TcpStream::connect(addr).unwrap();
//!     c.write_all(b"hello").unwrap();
//!     let mut buf = [0; 5];
//!     c.read_exact(&mut buf).unwrap();
//!     assert_eq!(&buf, b"hello");
//!     server.join().unwrap();
//! });
//! ```
//!
//! Differences from std, on purpose:
//! - Timeouts (`set_read_timeout`, `set_write_timeout`) are enforced by gorun, not by the
//!   kernel, and fail with `io::ErrorKind::TimedOut` (std on Linux gives `WouldBlock`).
//! - `try_clone` shares one descriptor between the handles (like a dup'd descriptor, the
//!   options and timeouts are shared). Dropping *any* handle of a listener closes it for all
//!   (Go's `Close`): goroutines blocked in `accept` on another handle wake with an error.
//! - Host names are resolved on the blocking pool ([`crate::blocking`]), through this
//!   module's own [`ToSocketAddrs`], which accepts the same argument types as std's.
//!
//! Every socket converts from its std counterpart (`From`, `from_std`, `FromRawFd`: the
//! socket is switched to non-blocking mode and registered) and exposes its descriptor
//! (`AsFd`, `AsRawFd`); [`crate::io::Async`] does the same for descriptors of any kind.
//!
//! ```
//! use std::os::fd::AsRawFd;
//!
//! gorun::run(|| {
//!     // A listener made by another library, as std's type:
//!     let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
//!     let fd = std_listener.as_raw_fd();
//!     let listener = gorun::net::TcpListener::from(std_listener); // now `accept` parks
//!     assert_eq!(listener.as_raw_fd(), fd);
//! });
//! ```

#[cfg(any(feature = "tokio", feature = "futures-io"))]
mod async_io;
mod fd;
pub(crate) mod poller;
mod tcp;
mod udp;
pub mod unix;
mod unix_datagram;

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

pub use tcp::{Incoming, TcpListener, TcpStream};
pub use udp::UdpSocket;

/// Conversion into socket addresses, like `std::net::ToSocketAddrs` (implemented for the
/// same types), except that a host name is looked up on gorun's blocking pool so the
/// calling goroutine's worker keeps running others.
pub trait ToSocketAddrs {
    /// Resolves `self` into one or more addresses.
    fn to_socket_addrs(&self) -> io::Result<Vec<SocketAddr>>;
}

fn direct<A: std::net::ToSocketAddrs>(a: A) -> io::Result<Vec<SocketAddr>> {
    Ok(a.to_socket_addrs()?.collect())
}

/// `Read` and `Write` for a stream type and for a shared reference to it (like std's
/// sockets, so a reader and a writer can share one connection).
macro_rules! stream_io {
    ($t:ty) => {
        impl std::io::Read for &$t {
            #[track_caller]
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                // As in Go: an empty read returns at once (recv(2) would wait for data).
                if buf.is_empty() {
                    return Ok(0);
                }
                let site = std::panic::Location::caller();
                let len = buf.len();
                (self.io).read_stream(site, len, |mut s| std::io::Read::read(&mut s, buf))
            }
        }

        impl std::io::Write for &$t {
            #[track_caller]
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                if buf.is_empty() {
                    return Ok(0);
                }
                let site = std::panic::Location::caller();
                self.io
                    .op(Dir::Write, site, |mut s| std::io::Write::write(&mut s, buf))
            }

            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }

        impl std::io::Read for $t {
            #[track_caller]
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                std::io::Read::read(&mut &*self, buf)
            }
        }

        impl std::io::Write for $t {
            #[track_caller]
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                std::io::Write::write(&mut &*self, buf)
            }

            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
    };
}
pub(crate) use stream_io;

/// The read and write timeouts of a socket type whose handle is `self.io` (std's names,
/// Go's deadlines), as methods of its `impl` block.
macro_rules! timeout_methods {
    () => {
        /// Sets how long a read (or receive) may wait; `None` waits forever. A zero duration
        /// is rejected with `InvalidInput` (as in std). Expiry fails the call with `TimedOut`.
        pub fn set_read_timeout(&self, t: Option<std::time::Duration>) -> std::io::Result<()> {
            self.io.set_timeout(Dir::Read, t)
        }

        /// Sets how long a write (or send) may wait, as `set_read_timeout` does for reads.
        pub fn set_write_timeout(&self, t: Option<std::time::Duration>) -> std::io::Result<()> {
            self.io.set_timeout(Dir::Write, t)
        }

        /// The read timeout; `None` if reads wait forever.
        pub fn read_timeout(&self) -> std::io::Result<Option<std::time::Duration>> {
            Ok(self.io.timeout(Dir::Read))
        }

        /// The write timeout; `None` if writes wait forever.
        pub fn write_timeout(&self) -> std::io::Result<Option<std::time::Duration>> {
            Ok(self.io.timeout(Dir::Write))
        }
    };
}
pub(crate) use timeout_methods;

/// `local_addr`, `peer_addr`, `take_error` and `try_clone` of a socket type whose handle
/// is `self.io`, with addresses of type `$addr`, as methods of its `impl` block.
macro_rules! handle_methods {
    ($addr:ty) => {
        pub fn local_addr(&self) -> std::io::Result<$addr> {
            self.io.sock().local_addr()
        }

        pub fn peer_addr(&self) -> std::io::Result<$addr> {
            self.io.sock().peer_addr()
        }

        pub fn take_error(&self) -> std::io::Result<Option<std::io::Error>> {
            self.io.sock().take_error()
        }

        /// Another handle to the same socket (shared descriptor, options and timeouts).
        pub fn try_clone(&self) -> std::io::Result<Self> {
            Ok(Self {
                io: self.io.clone(),
            })
        }
    };
}
pub(crate) use handle_methods;

/// `send` and `recv` of a datagram socket whose handle is `self.io`, for its connected
/// peer, as methods of its `impl` block.
macro_rules! connected_datagram_methods {
    () => {
        /// Sends to the connected peer, parking while the socket's buffer is full.
        #[track_caller]
        pub fn send(&self, buf: &[u8]) -> std::io::Result<usize> {
            let site = std::panic::Location::caller();
            self.io.op(Dir::Write, site, |s| s.send(buf))
        }

        /// Receives from the connected peer, parking until a datagram arrives.
        #[track_caller]
        pub fn recv(&self, buf: &mut [u8]) -> std::io::Result<usize> {
            let site = std::panic::Location::caller();
            self.io.op(Dir::Read, site, |s| s.recv(buf))
        }
    };
}
pub(crate) use connected_datagram_methods;

macro_rules! direct_impl {
    ($($t:ty),*) => {$(
        impl ToSocketAddrs for $t {
            fn to_socket_addrs(&self) -> io::Result<Vec<SocketAddr>> {
                direct(*self)
            }
        }
    )*};
}

direct_impl!(
    SocketAddr,
    SocketAddrV4,
    SocketAddrV6,
    (IpAddr, u16),
    (Ipv4Addr, u16),
    (Ipv6Addr, u16)
);

impl ToSocketAddrs for str {
    fn to_socket_addrs(&self) -> io::Result<Vec<SocketAddr>> {
        if let Ok(a) = self.parse::<SocketAddr>() {
            return Ok(vec![a]);
        }
        let owned = self.to_owned();
        crate::blocking(move || direct(owned.as_str()))
    }
}

impl ToSocketAddrs for String {
    fn to_socket_addrs(&self) -> io::Result<Vec<SocketAddr>> {
        self.as_str().to_socket_addrs()
    }
}

impl ToSocketAddrs for (&str, u16) {
    fn to_socket_addrs(&self) -> io::Result<Vec<SocketAddr>> {
        if let Ok(ip) = self.0.parse::<IpAddr>() {
            return Ok(vec![SocketAddr::new(ip, self.1)]);
        }
        let (host, port) = (self.0.to_owned(), self.1);
        crate::blocking(move || direct((host.as_str(), port)))
    }
}

impl ToSocketAddrs for (String, u16) {
    fn to_socket_addrs(&self) -> io::Result<Vec<SocketAddr>> {
        (self.0.as_str(), self.1).to_socket_addrs()
    }
}

impl ToSocketAddrs for [SocketAddr] {
    fn to_socket_addrs(&self) -> io::Result<Vec<SocketAddr>> {
        Ok(self.to_vec())
    }
}

impl<T: ToSocketAddrs + ?Sized> ToSocketAddrs for &T {
    fn to_socket_addrs(&self) -> io::Result<Vec<SocketAddr>> {
        (**self).to_socket_addrs()
    }
}

/// Tries `f` on each resolved address in turn, returning the first success or the last
/// error (std's rule).
fn each_addr<A: ToSocketAddrs + ?Sized, T>(
    addr: &A,
    mut f: impl FnMut(SocketAddr) -> io::Result<T>,
) -> io::Result<T> {
    let mut last = None;
    for a in addr.to_socket_addrs()? {
        match f(a) {
            Ok(t) => return Ok(t),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "could not resolve to any addresses",
        )
    }))
}

/// Sleeps the caller (goroutine or thread) for `d`.
fn pause(d: std::time::Duration) {
    crate::sleep(d);
}

/// What `TcpListener` and `UnixListener` share: the registered socket and its `accept`
/// back-off, behind every handle of one listener. Dropping any handle closes the listener
/// for all of them (Go's `Listener.Close`); the descriptor goes with the last one.
struct Listener<S: mio::event::Source> {
    shared: std::sync::Arc<(poller::Io<S>, std::sync::atomic::AtomicU64)>,
}

impl<S: mio::event::Source> Listener<S> {
    fn new(sock: S) -> io::Result<Listener<S>> {
        Ok(Listener {
            shared: std::sync::Arc::new((
                poller::Io::new(sock)?,
                std::sync::atomic::AtomicU64::new(0),
            )),
        })
    }

    fn sock(&self) -> &S {
        self.shared.0.sock()
    }

    /// Another handle, unless the listener was closed.
    fn try_clone(&self) -> io::Result<Listener<S>> {
        if self.shared.0.is_closed() {
            return Err(poller::closed_error());
        }
        Ok(Listener {
            shared: self.shared.clone(),
        })
    }

    /// Go's accept-loop back-off: after a resource error (out of descriptors, buffers or
    /// memory) the failing `accept` sleeps 5 ms, doubling per consecutive failure up to
    /// 1 s, before returning the error, so a loop that logs and retries does not spin; the
    /// pending connection stays queued and the next call accepts it once descriptors free
    /// up. Connections aborted before they were accepted are skipped.
    fn accept<T>(
        &self,
        site: &'static std::panic::Location<'static>,
        mut f: impl FnMut(&S) -> io::Result<T>,
    ) -> io::Result<T> {
        use std::sync::atomic::Ordering;
        let (io, backoff_ms) = &*self.shared;
        loop {
            match io.op(poller::Dir::Read, site, &mut f) {
                Ok(t) => {
                    backoff_ms.store(0, Ordering::Relaxed);
                    return Ok(t);
                }
                Err(e) if e.raw_os_error() == Some(libc::ECONNABORTED) => continue,
                Err(e)
                    if matches!(
                        e.raw_os_error(),
                        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)
                    ) =>
                {
                    let prev = backoff_ms.load(Ordering::Relaxed);
                    let ms = if prev == 0 { 5 } else { (prev * 2).min(1000) };
                    backoff_ms.store(ms, Ordering::Relaxed);
                    pause(std::time::Duration::from_millis(ms));
                    return Err(e);
                }
                Err(e) => return Err(e),
            }
        }
    }
}

impl<S: mio::event::Source> Drop for Listener<S> {
    fn drop(&mut self) {
        self.shared.0.close();
    }
}
