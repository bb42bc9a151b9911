//! TCP: `TcpListener` and `TcpStream`.

use std::fmt;
use std::io;
use std::net::{Shutdown, SocketAddr};
use std::panic::Location;
use std::sync::Arc;
use std::time::Duration;

use super::fd::std_conversions;
use super::poller::{Dir, Io};
use super::{each_addr, stream_io, timeout_methods, Listener, ToSocketAddrs};

/// Listen backlog; the kernel caps it at `net.core.somaxconn` (Go asks for that too).
const BACKLOG: i32 = 4096;

/// A TCP server socket whose `accept` parks the calling goroutine.
///
/// Dropping any handle (the one from [`TcpListener::bind`] or a [`TcpListener::try_clone`])
/// closes the listener for all of them, like Go's `Listener.Close`: goroutines waiting
/// in `accept` wake with an error. The descriptor is released with the last handle.
pub struct TcpListener {
    core: Listener<mio::net::TcpListener>,
}

impl TcpListener {
    /// Binds to `addr` (host names are resolved on the blocking pool) and listens.
    pub fn bind<A: ToSocketAddrs>(addr: A) -> io::Result<TcpListener> {
        each_addr(&addr, |a| {
            let domain = socket2::Domain::for_address(a);
            let sock = socket2::Socket::new(domain, socket2::Type::STREAM, None)?;
            sock.set_reuse_address(true)?;
            sock.bind(&a.into())?;
            sock.listen(BACKLOG)?;
            sock.set_nonblocking(true)?;
            let std: std::net::TcpListener = sock.into();
            Ok(TcpListener {
                core: Listener::new(mio::net::TcpListener::from_std(std))?,
            })
        })
    }

    /// Accepts a connection, parking the caller until one arrives. After `EMFILE` and
    /// similar resource errors it backs off (5 ms doubling to 1 s) before returning the
    /// error; the listener stays usable.
    #[track_caller]
    pub fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        let site = Location::caller();
        let (s, a) = self.core.accept(site, |l| l.accept())?;
        Ok((TcpStream::from_mio(s)?, a))
    }

    /// An endless iterator of [`TcpListener::accept`]'s streams.
    pub fn incoming(&self) -> Incoming<'_> {
        Incoming { listener: self }
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.core.sock().local_addr()
    }

    /// Another handle to the same listening socket (see the type's docs about dropping).
    pub fn try_clone(&self) -> io::Result<TcpListener> {
        Ok(TcpListener {
            core: self.core.try_clone()?,
        })
    }

    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        self.core.sock().set_ttl(ttl)
    }

    pub fn ttl(&self) -> io::Result<u32> {
        self.core.sock().ttl()
    }

    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.core.sock().take_error()
    }
}

impl fmt::Debug for TcpListener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TcpListener")
            .field("addr", &self.local_addr().ok())
            .finish()
    }
}

/// Iterator returned by [`TcpListener::incoming`]; never returns `None`.
#[derive(Debug)]
pub struct Incoming<'a> {
    listener: &'a TcpListener,
}

impl Iterator for Incoming<'_> {
    type Item = io::Result<TcpStream>;
    #[track_caller]
    fn next(&mut self) -> Option<io::Result<TcpStream>> {
        Some(self.listener.accept().map(|(s, _)| s))
    }
}

/// A TCP connection whose reads and writes park the calling goroutine.
///
/// `Read` and `Write` are implemented for `TcpStream` and `&TcpStream`; `try_clone` gives
/// another handle to the same connection, so a reader and a writer goroutine can share it.
pub struct TcpStream {
    pub(super) io: Arc<Io<mio::net::TcpStream>>,
}

impl TcpStream {
    fn from_mio(s: mio::net::TcpStream) -> io::Result<TcpStream> {
        Ok(TcpStream {
            io: Arc::new(Io::new_tcp_stream(s)?),
        })
    }

    /// Connects to `addr`, trying each resolved address in turn; the caller parks while
    /// the handshake is in progress.
    #[track_caller]
    pub fn connect<A: ToSocketAddrs>(addr: A) -> io::Result<TcpStream> {
        let site = Location::caller();
        each_addr(&addr, |a| TcpStream::connect_one(a, None, site))
    }

    /// Connects to `addr`, failing with `TimedOut` after `timeout`.
    #[track_caller]
    pub fn connect_timeout(addr: &SocketAddr, timeout: Duration) -> io::Result<TcpStream> {
        if timeout.is_zero() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "cannot set a 0 duration timeout",
            ));
        }
        TcpStream::connect_one(*addr, Some(timeout), Location::caller())
    }

    fn connect_one(
        a: SocketAddr,
        timeout: Option<Duration>,
        site: &'static Location<'static>,
    ) -> io::Result<TcpStream> {
        let s = TcpStream::from_mio(mio::net::TcpStream::connect(a)?)?;
        s.io.op_timeout(Dir::Write, timeout, site, |s| {
            if let Some(e) = s.take_error()? {
                return Err(e);
            }
            match s.peer_addr() {
                Ok(_) => Ok(()),
                Err(e)
                    if e.kind() == io::ErrorKind::NotConnected
                        || e.raw_os_error() == Some(libc::ENOTCONN) =>
                {
                    Err(io::ErrorKind::WouldBlock.into())
                }
                Err(e) => Err(e),
            }
        })?;
        Ok(s)
    }

    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.io.sock().peer_addr()
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.io.sock().local_addr()
    }

    /// Shuts down the read, write or both halves; goroutines blocked on a shut half wake
    /// (reads return end of file, writes `BrokenPipe`).
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.io.sock().shutdown(how)
    }

    pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        self.io.sock().set_nodelay(nodelay)
    }

    pub fn nodelay(&self) -> io::Result<bool> {
        self.io.sock().nodelay()
    }

    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        self.io.sock().set_ttl(ttl)
    }

    pub fn ttl(&self) -> io::Result<u32> {
        self.io.sock().ttl()
    }

    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.io.sock().take_error()
    }

    timeout_methods!();

    /// Reads without consuming, parking until data (or end of file) is available.
    #[track_caller]
    pub fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.io.op(Dir::Read, Location::caller(), |s| s.peek(buf))
    }

    /// Another handle to the same connection (shared descriptor, options and timeouts).
    pub fn try_clone(&self) -> io::Result<TcpStream> {
        Ok(TcpStream {
            io: self.io.clone(),
        })
    }
}

impl fmt::Debug for TcpStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TcpStream")
            .field("addr", &self.local_addr().ok())
            .field("peer", &self.peer_addr().ok())
            .finish()
    }
}

stream_io!(TcpStream);

std_conversions!(
    TcpStream,
    std::net::TcpStream,
    mio::net::TcpStream,
    TcpStream::from_mio,
    |s| s.io.sock()
);
std_conversions!(
    TcpListener,
    std::net::TcpListener,
    mio::net::TcpListener,
    |l| Ok(TcpListener {
        core: Listener::new(l)?
    }),
    |s| s.core.sock()
);
