//! UDP: `UdpSocket`.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::panic::Location;
use std::sync::Arc;

use super::fd::std_conversions;
use super::poller::{Dir, Io};
use super::{
    connected_datagram_methods, each_addr, handle_methods, timeout_methods, ToSocketAddrs,
};

/// A UDP socket whose sends and receives park the calling goroutine.
pub struct UdpSocket {
    io: Arc<Io<mio::net::UdpSocket>>,
}

impl UdpSocket {
    /// Binds to `addr` (host names are resolved on the blocking pool).
    pub fn bind<A: ToSocketAddrs>(addr: A) -> io::Result<UdpSocket> {
        each_addr(&addr, |a| {
            Ok(UdpSocket {
                io: Arc::new(Io::new(mio::net::UdpSocket::bind(a)?)?),
            })
        })
    }

    /// Sends `buf` to `addr` (its first resolved address).
    #[track_caller]
    pub fn send_to<A: ToSocketAddrs>(&self, buf: &[u8], addr: A) -> io::Result<usize> {
        let site = Location::caller();
        let a = addr.to_socket_addrs()?.into_iter().next().ok_or_else(|| {
            io::Error::new(io::ErrorKind::InvalidInput, "no addresses to send data to")
        })?;
        self.io.op(Dir::Write, site, |s| s.send_to(buf, a))
    }

    /// Receives one datagram, parking until one arrives.
    #[track_caller]
    pub fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.io
            .op(Dir::Read, Location::caller(), |s| s.recv_from(buf))
    }

    /// Like [`UdpSocket::recv_from`] without removing the datagram.
    #[track_caller]
    pub fn peek_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.io
            .op(Dir::Read, Location::caller(), |s| s.peek_from(buf))
    }

    /// Sets the default peer for `send` and `recv` (and filters what is received).
    pub fn connect<A: ToSocketAddrs>(&self, addr: A) -> io::Result<()> {
        each_addr(&addr, |a| self.io.sock().connect(a))
    }

    pub fn set_broadcast(&self, on: bool) -> io::Result<()> {
        self.io.sock().set_broadcast(on)
    }

    pub fn broadcast(&self) -> io::Result<bool> {
        self.io.sock().broadcast()
    }

    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        self.io.sock().set_ttl(ttl)
    }

    pub fn ttl(&self) -> io::Result<u32> {
        self.io.sock().ttl()
    }

    connected_datagram_methods!();
    handle_methods!(SocketAddr);
    timeout_methods!();
}

impl fmt::Debug for UdpSocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UdpSocket")
            .field("addr", &self.local_addr().ok())
            .finish()
    }
}

std_conversions!(
    UdpSocket,
    std::net::UdpSocket,
    mio::net::UdpSocket,
    |s| Ok(UdpSocket {
        io: Arc::new(Io::new(s)?)
    }),
    |s| s.io.sock()
);
