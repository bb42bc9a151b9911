//! Unix-domain sockets: `UnixListener` and `UnixStream` (and `UnixDatagram`, from its own
//! file).

use std::fmt;
use std::io;
use std::net::Shutdown;
use std::os::unix::net::SocketAddr;
use std::panic::Location;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use super::poller::{Dir, Io};
pub use super::unix_datagram::UnixDatagram;

use super::fd::std_conversions;
use super::{handle_methods, stream_io, timeout_methods, Listener};

/// A Unix-domain server socket whose `accept` parks the calling goroutine. Dropping any
/// handle closes it for all (see [`crate::net::TcpListener`]). The socket file is not
/// removed (as in std).
pub struct UnixListener {
    core: Listener<mio::net::UnixListener>,
}

impl UnixListener {
    pub fn bind<P: AsRef<Path>>(path: P) -> io::Result<UnixListener> {
        Ok(UnixListener {
            core: Listener::new(mio::net::UnixListener::bind(path)?)?,
        })
    }

    /// Accepts a connection, parking until one arrives (same back-off on `EMFILE` as
    /// [`crate::net::TcpListener::accept`]).
    #[track_caller]
    pub fn accept(&self) -> io::Result<(UnixStream, SocketAddr)> {
        let site = Location::caller();
        let (s, a) = self.core.accept(site, |l| l.accept())?;
        Ok((UnixStream::from_mio(s)?, a))
    }

    pub fn incoming(&self) -> Incoming<'_> {
        Incoming { listener: self }
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.core.sock().local_addr()
    }

    pub fn try_clone(&self) -> io::Result<UnixListener> {
        Ok(UnixListener {
            core: self.core.try_clone()?,
        })
    }

    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.core.sock().take_error()
    }
}

impl fmt::Debug for UnixListener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnixListener")
            .field("addr", &self.local_addr().ok())
            .finish()
    }
}

/// Iterator returned by [`UnixListener::incoming`]; never returns `None`.
#[derive(Debug)]
pub struct Incoming<'a> {
    listener: &'a UnixListener,
}

impl Iterator for Incoming<'_> {
    type Item = io::Result<UnixStream>;
    #[track_caller]
    fn next(&mut self) -> Option<io::Result<UnixStream>> {
        Some(self.listener.accept().map(|(s, _)| s))
    }
}

/// A Unix-domain stream whose reads and writes park the calling goroutine; `Read` and
/// `Write` are implemented for it and for `&UnixStream`.
pub struct UnixStream {
    pub(super) io: Arc<Io<mio::net::UnixStream>>,
}

impl UnixStream {
    fn from_mio(s: mio::net::UnixStream) -> io::Result<UnixStream> {
        Ok(UnixStream {
            io: Arc::new(Io::new(s)?),
        })
    }

    /// Connects to the socket at `path`. While the listener's backlog is full (`EAGAIN`)
    /// the caller sleeps and retries, backing off from 1 ms to 100 ms.
    #[track_caller]
    pub fn connect<P: AsRef<Path>>(path: P) -> io::Result<UnixStream> {
        let site = Location::caller();
        let mut wait = Duration::from_millis(1);
        let s = loop {
            match mio::net::UnixStream::connect(path.as_ref()) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    super::pause(wait);
                    wait = (wait * 2).min(Duration::from_millis(100));
                }
                r => break UnixStream::from_mio(r?)?,
            }
        };
        // A connect that returned EINPROGRESS completes when the socket is writable.
        s.io.op(Dir::Write, site, |s| match s.take_error()? {
            Some(e) => Err(e),
            None => Ok(()),
        })?;
        Ok(s)
    }

    /// A connected pair of streams.
    pub fn pair() -> io::Result<(UnixStream, UnixStream)> {
        let (a, b) = mio::net::UnixStream::pair()?;
        Ok((UnixStream::from_mio(a)?, UnixStream::from_mio(b)?))
    }

    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.io.sock().shutdown(how)
    }

    handle_methods!(SocketAddr);
    timeout_methods!();
}

impl fmt::Debug for UnixStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnixStream")
            .field("addr", &self.local_addr().ok())
            .field("peer", &self.peer_addr().ok())
            .finish()
    }
}

stream_io!(UnixStream);

std_conversions!(
    UnixStream,
    std::os::unix::net::UnixStream,
    mio::net::UnixStream,
    UnixStream::from_mio,
    |s| s.io.sock()
);
std_conversions!(
    UnixListener,
    std::os::unix::net::UnixListener,
    mio::net::UnixListener,
    |l| Ok(UnixListener {
        core: Listener::new(l)?
    }),
    |s| s.core.sock()
);
