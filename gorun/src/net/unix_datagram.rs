//! Unix-domain datagram sockets: `UnixDatagram`.

use std::fmt;
use std::io;
use std::net::Shutdown;
use std::os::unix::net::SocketAddr;
use std::panic::Location;
use std::path::Path;
use std::sync::Arc;

use super::fd::std_conversions;
use super::poller::{Dir, Io};
use super::{connected_datagram_methods, handle_methods, timeout_methods};

/// A Unix-domain datagram socket whose sends and receives park the calling goroutine
/// (std's `UnixDatagram`, goroutine-aware).
///
/// ```
/// use gorun::net::unix::UnixDatagram;
///
/// gorun::run(|| {
///     let (a, b) = UnixDatagram::pair().unwrap();
///     let h = gorun::go(move || {
///         let mut buf = [0; 16];
///         let n = b.recv(&mut buf).unwrap(); // parks until the datagram arrives
///         buf[..n].to_vec()
///     });
///     a.send(b"ping").unwrap();
///     assert_eq!(h.join().unwrap(), b"ping");
/// });
/// ```
pub struct UnixDatagram {
    io: Arc<Io<mio::net::UnixDatagram>>,
}

impl UnixDatagram {
    fn from_mio(s: mio::net::UnixDatagram) -> io::Result<UnixDatagram> {
        Ok(UnixDatagram {
            io: Arc::new(Io::new(s)?),
        })
    }

    /// A socket bound to `path` (the file is not removed on drop, as in std).
    pub fn bind<P: AsRef<Path>>(path: P) -> io::Result<UnixDatagram> {
        UnixDatagram::from_mio(mio::net::UnixDatagram::bind(path)?)
    }

    /// A socket bound to no address.
    pub fn unbound() -> io::Result<UnixDatagram> {
        UnixDatagram::from_mio(mio::net::UnixDatagram::unbound()?)
    }

    /// A pair of connected sockets.
    pub fn pair() -> io::Result<(UnixDatagram, UnixDatagram)> {
        let (a, b) = mio::net::UnixDatagram::pair()?;
        Ok((UnixDatagram::from_mio(a)?, UnixDatagram::from_mio(b)?))
    }

    /// Sets the default peer for `send` and `recv` (and filters what is received).
    pub fn connect<P: AsRef<Path>>(&self, path: P) -> io::Result<()> {
        self.io.sock().connect(path)
    }

    /// Sends `buf` to the socket at `path`, parking while the receiver's queue is full.
    #[track_caller]
    pub fn send_to<P: AsRef<Path>>(&self, buf: &[u8], path: P) -> io::Result<usize> {
        let path = path.as_ref();
        self.io
            .op(Dir::Write, Location::caller(), |s| s.send_to(buf, path))
    }

    /// Receives one datagram, parking until one arrives.
    #[track_caller]
    pub fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.io
            .op(Dir::Read, Location::caller(), |s| s.recv_from(buf))
    }

    /// Shuts down the read, write or both halves.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.io.sock().shutdown(how)
    }

    connected_datagram_methods!();
    handle_methods!(SocketAddr);
    timeout_methods!();
}

impl fmt::Debug for UnixDatagram {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnixDatagram")
            .field("addr", &self.local_addr().ok())
            .field("peer", &self.peer_addr().ok())
            .finish()
    }
}

std_conversions!(
    UnixDatagram,
    std::os::unix::net::UnixDatagram,
    mio::net::UnixDatagram,
    UnixDatagram::from_mio,
    |s| s.io.sock()
);
