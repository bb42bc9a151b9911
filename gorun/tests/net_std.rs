//! Sockets from std (`From`, `from_std`, `FromRawFd`), descriptors (`AsFd`, `AsRawFd`),
//! `UnixDatagram`, and `gorun::io::Async` on pipes.

use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, IntoRawFd};
use std::time::Duration;

use gorun::io::Async;
use gorun::net::unix::{UnixDatagram, UnixListener, UnixStream};
use gorun::net::{TcpListener, TcpStream, UdpSocket};

fn temp_path(name: &str) -> std::path::PathBuf {
    let p = std::env::temp_dir().join(format!("gorun-{name}-{}.sock", std::process::id()));
    let _ = std::fs::remove_file(&p);
    p
}

#[test]
fn tcp_from_std_parks_goroutines() {
    gorun::run(|| {
        let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = std_listener.local_addr().unwrap();
        let listener = TcpListener::from(std_listener);
        let server = gorun::go(move || {
            let (mut conn, _) = listener.accept().unwrap(); // parks, not blocks
            let mut buf = [0; 4];
            conn.read_exact(&mut buf).unwrap();
            conn.write_all(&buf).unwrap();
        });
        let std_stream = gorun::blocking(move || std::net::TcpStream::connect(addr).unwrap());
        let raw = std_stream.as_raw_fd();
        let mut c = TcpStream::from_std(std_stream).unwrap();
        assert_eq!(c.as_raw_fd(), raw);
        assert_eq!(c.as_fd().as_raw_fd(), raw);
        c.write_all(b"ping").unwrap();
        let mut buf = [0; 4];
        c.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"ping");
        server.join().unwrap();
    });
}

#[test]
fn from_raw_fd_takes_ownership() {
    gorun::run(|| {
        let a = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = UdpSocket::from(std::net::UdpSocket::bind("127.0.0.1:0").unwrap());
        let a_addr = a.local_addr().unwrap();
        // SAFETY: the descriptor comes from `into_raw_fd`: open, a UDP socket, owned here.
        let a = unsafe { UdpSocket::from_raw_fd(a.into_raw_fd()) };
        b.send_to(b"hi", a_addr).unwrap();
        let mut buf = [0; 2];
        let (n, from) = a.recv_from(&mut buf).unwrap();
        assert_eq!((&buf[..n], from), (&b"hi"[..], b.local_addr().unwrap()));
    });
}

#[test]
fn unix_stream_and_listener_from_std() {
    gorun::run(|| {
        let path = temp_path("from-std");
        let listener = UnixListener::from(std::os::unix::net::UnixListener::bind(&path).unwrap());
        let p = path.clone();
        let client = gorun::go(move || {
            let mut s = UnixStream::connect(&p).unwrap();
            s.write_all(b"x").unwrap();
        });
        let (mut conn, _) = listener.accept().unwrap();
        let mut b = [0; 1];
        conn.read_exact(&mut b).unwrap();
        client.join().unwrap();
        let (x, y) = std::os::unix::net::UnixStream::pair().unwrap();
        let (mut x, mut y) = (UnixStream::from(x), UnixStream::from(y));
        x.write_all(b"y").unwrap();
        y.read_exact(&mut b).unwrap();
        assert_eq!(&b, b"y");
        assert!(listener.as_raw_fd() >= 0);
        let _ = std::fs::remove_file(path);
    });
}

#[test]
fn unix_datagrams() {
    gorun::run(|| {
        let (a, b) = UnixDatagram::pair().unwrap();
        let h = gorun::go(move || {
            let mut buf = [0; 8];
            let n = b.recv(&mut buf).unwrap(); // parks until the datagram arrives
            b.send(&buf[..n]).unwrap();
        });
        a.send(b"echo").unwrap();
        let mut buf = [0; 8];
        let n = a.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"echo");
        h.join().unwrap();

        let path = temp_path("dgram");
        let server = UnixDatagram::bind(&path).unwrap();
        let client = UnixDatagram::unbound().unwrap();
        client.send_to(b"to-path", &path).unwrap();
        let (n, _) = server.recv_from(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"to-path");
        assert_eq!(
            server.local_addr().unwrap().as_pathname(),
            Some(path.as_path())
        );

        server
            .set_read_timeout(Some(Duration::from_millis(5)))
            .unwrap();
        let e = server.recv_from(&mut buf).unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::TimedOut);

        let std_pair = std::os::unix::net::UnixDatagram::pair().unwrap();
        let (c, d) = (
            UnixDatagram::from(std_pair.0),
            UnixDatagram::from(std_pair.1),
        );
        c.send(b"z").unwrap();
        assert_eq!(d.recv(&mut buf).unwrap(), 1);
        let _ = std::fs::remove_file(path);
    });
}

#[test]
fn async_pipe_parks_the_reader() {
    gorun::Builder::new().workers(1).run(|| {
        let (reader, writer) = std::io::pipe().unwrap();
        let mut reader = Async::new(reader).unwrap();
        let mut writer = Async::new(writer).unwrap();
        // One worker: if the reader blocked its thread, the writer could never run.
        let h = gorun::go(move || {
            let mut all = Vec::new();
            reader.read_to_end(&mut all).unwrap();
            all
        });
        for _ in 0..100 {
            writer.write_all(&[7; 1000]).unwrap();
            gorun::yield_now();
        }
        drop(writer); // end of file for the reader
        let all = h.join().unwrap();
        assert_eq!(all.len(), 100_000);
        assert!(all.iter().all(|&b| b == 7));
    });
}

#[test]
fn async_writer_parks_when_the_pipe_is_full() {
    gorun::Builder::new().workers(1).run(|| {
        let (reader, writer) = std::io::pipe().unwrap();
        let mut reader = Async::new(reader).unwrap();
        let mut writer = Async::new(writer).unwrap();
        let total = 1 << 20; // far more than a pipe buffer holds
        let h = gorun::go(move || writer.write_all(&vec![1; total]).unwrap());
        let mut got = 0;
        let mut buf = [0; 4096];
        while got < total {
            got += reader.read(&mut buf).unwrap();
        }
        h.join().unwrap();
    });
}

#[test]
fn async_read_with_and_get_ref() {
    gorun::run(|| {
        let (a, b) = std::os::unix::net::UnixStream::pair().unwrap();
        let a = Async::new(a).unwrap();
        let b = Async::new(b).unwrap();
        assert_eq!(a.as_raw_fd(), a.get_ref().as_raw_fd());
        let h = gorun::go(move || {
            let mut buf = [0; 3];
            let n = b.read_with(|s| (&*s).read(&mut buf)).unwrap();
            buf[..n].to_vec()
        });
        a.write_with(|s| (&*s).write(b"abc")).unwrap();
        assert_eq!(h.join().unwrap(), b"abc");
    });
}

#[test]
fn async_rejects_regular_files() {
    let f = std::fs::File::open("Cargo.toml").unwrap();
    assert!(Async::new(f).is_err());
}

#[test]
fn sockets_are_send_sync_and_debug() {
    fn check<T: Send + Sync + std::fmt::Debug>() {}
    check::<UnixDatagram>();
    check::<Async<std::io::PipeReader>>();
    check::<TcpListener>();
    check::<UdpSocket>();
}

#[test]
fn async_into_inner_deregisters_and_hands_the_value_back() {
    gorun::Builder::new().workers(1).run(|| {
        let (a, b) = std::os::unix::net::UnixStream::pair().unwrap();
        let fd = a.as_raw_fd();
        let a = Async::new(a).unwrap();
        let mut b = Async::new(b).unwrap();
        let a = a.into_inner().unwrap();
        assert_eq!(a.as_raw_fd(), fd, "the same descriptor comes back");
        // Deregistered: registering it again succeeds (epoll refuses a descriptor twice),
        // and the new registration works: a reader parks and is woken.
        let mut a = Async::new(a).unwrap();
        let h = gorun::go(move || {
            let mut buf = [0; 4];
            a.read_exact(&mut buf).unwrap();
            buf
        });
        gorun::yield_now();
        b.write_all(b"ping").unwrap();
        assert_eq!(&h.join().unwrap(), b"ping");
        // Handed back with data still queued: the value reads it as a plain socket.
        let (c, d) = std::os::unix::net::UnixStream::pair().unwrap();
        let c = Async::new(c).unwrap();
        (&d).write_all(b"x").unwrap();
        let mut c = c.into_inner().unwrap();
        let mut one = [0; 1];
        c.read_exact(&mut one).unwrap();
        assert_eq!(&one, b"x");
    });
}
