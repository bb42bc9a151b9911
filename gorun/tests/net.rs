//! Tests for `gorun::net`: loopback only, bounded loops, no timing assertions.
//!
//! The tests share process-wide state (the descriptor table and its limit), so each takes
//! one lock and they run one at a time.

use std::io::{ErrorKind, Read, Write};
use std::net::Shutdown;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use gorun::net::unix::{UnixListener, UnixStream};
use gorun::net::{TcpListener, TcpStream, UdpSocket};

fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

fn open_fds() -> usize {
    // Minus the descriptor of the directory listing itself.
    std::fs::read_dir("/dev/fd").unwrap().count() - 1
}

fn nofile() -> libc::rlimit {
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the valid rlimit we pass.
    assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) }, 0);
    r
}

fn set_nofile(r: libc::rlimit) {
    // SAFETY: setrlimit reads the valid rlimit we pass.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &r) }, 0);
}

/// Starts an echo server goroutine on a clone of a fresh listener; returns the listener
/// (dropping it stops the server) and the server's handle.
fn echo_server() -> (TcpListener, gorun::JoinHandle<usize>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let acceptor = l.try_clone().unwrap();
    let h = gorun::go(move || {
        let mut served = 0;
        let mut conns = Vec::new();
        while let Ok((mut c, _)) = acceptor.accept() {
            served += 1;
            conns.push(gorun::go(move || {
                let mut buf = [0u8; 1024];
                loop {
                    match c.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => {
                            if c.write_all(&buf[..n]).is_err() {
                                return;
                            }
                        }
                    }
                }
            }));
        }
        for c in conns {
            c.join().unwrap();
        }
        served
    });
    (l, h)
}

#[test]
fn echo_1000_concurrent_connections() {
    let _g = serial();
    gorun::run(|| {
        let (l, server) = echo_server();
        let addr = l.local_addr().unwrap();
        let clients: Vec<_> = (0..1000u32)
            .map(|i| {
                gorun::go(move || {
                    let mut c = TcpStream::connect(addr).unwrap();
                    c.set_nodelay(true).unwrap();
                    for j in 0..10u32 {
                        let msg = format!("client {i} message {j}");
                        c.write_all(msg.as_bytes()).unwrap();
                        let mut back = vec![0; msg.len()];
                        c.read_exact(&mut back).unwrap();
                        assert_eq!(back, msg.as_bytes());
                    }
                })
            })
            .collect();
        for c in clients {
            c.join().unwrap();
        }
        drop(l);
        assert_eq!(server.join().unwrap(), 1000);
    });
}

#[test]
#[cfg_attr(
    not(target_os = "linux"),
    ignore = "measures VmRSS from /proc/self/status"
)]
fn many_open_connections() {
    let _g = serial();
    let saved = nofile();
    let mut raised = saved;
    raised.rlim_cur = saved.rlim_max;
    set_nofile(raised);
    let limit = raised.rlim_cur.min(1 << 20) as usize;
    // Two descriptors per connection (both ends live here), plus headroom.
    let n = (limit.saturating_sub(open_fds() + 64) / 2).min(10_000);
    gorun::run(move || {
        let rss0 = rss_kib();
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let acceptor = l.try_clone().unwrap();
        let accepted = Arc::new(AtomicUsize::new(0));
        let acc = accepted.clone();
        let server = gorun::go(move || {
            let mut conns = Vec::with_capacity(n);
            while conns.len() < n {
                conns.push(acceptor.accept().unwrap().0);
                acc.fetch_add(1, Ordering::Relaxed);
            }
            conns
        });
        let mut clients = Vec::with_capacity(n);
        for i in 0..n {
            clients.push(TcpStream::connect(addr).unwrap());
            // Keeps the accept queue short.
            while i + 1 - accepted.load(Ordering::Relaxed) > 512 {
                gorun::yield_now();
            }
        }
        let servers = server.join().unwrap();
        let rss1 = rss_kib();
        // Every connection is alive: one byte each way.
        for (c, s) in clients.iter().zip(&servers) {
            (&*c).write_all(b"x").unwrap();
            let mut b = [0];
            (&*s).read_exact(&mut b).unwrap();
            (&*s).write_all(&b).unwrap();
            (&*c).read_exact(&mut b).unwrap();
        }
        println!(
            "{n} connections open at once (RLIMIT_NOFILE {limit}); \
             ~{:.1} KiB RSS per connection (both ends)",
            rss1.saturating_sub(rss0) as f64 / n as f64
        );
    });
    set_nofile(saved);
}

fn rss_kib() -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap();
    s.lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

#[test]
fn read_and_write_timeouts() {
    let _g = serial();
    gorun::run(|| {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let c = TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (s, _) = l.accept().unwrap();
        assert!(c.set_read_timeout(Some(Duration::ZERO)).is_err());
        c.set_read_timeout(Some(Duration::from_millis(20))).unwrap();
        assert_eq!(c.read_timeout().unwrap(), Some(Duration::from_millis(20)));
        let mut buf = [0; 8];
        let e = (&c).read(&mut buf).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::TimedOut);
        // Still usable after a timeout.
        (&s).write_all(b"hi").unwrap();
        assert_eq!((&c).read(&mut buf).unwrap(), 2);

        // The peer never reads: writes fill the buffers, then time out.
        c.set_write_timeout(Some(Duration::from_millis(20)))
            .unwrap();
        let chunk = vec![0u8; 64 * 1024];
        let mut err = None;
        for _ in 0..100_000 {
            if let Err(e) = (&c).write(&chunk) {
                err = Some(e);
                break;
            }
        }
        assert_eq!(err.unwrap().kind(), ErrorKind::TimedOut);
        c.set_write_timeout(None).unwrap();
        assert_eq!(c.write_timeout().unwrap(), None);
    });
}

#[test]
fn connection_reset_by_peer() {
    let _g = serial();
    gorun::run(|| {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut c = TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (s, _) = l.accept().unwrap();
        c.write_all(b"unread").unwrap();
        let mut b = [0; 1];
        s.peek(&mut b).unwrap();
        // Closing with unread data sends a reset.
        drop(s);
        let mut buf = [0; 16];
        let e = c.read(&mut buf).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::ConnectionReset);
    });
}

#[test]
fn peer_closing_half_way() {
    let _g = serial();
    gorun::run(|| {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let server = gorun::go(move || {
            let (mut s, _) = l.accept().unwrap();
            let mut req = Vec::new();
            s.read_to_end(&mut req).unwrap(); // until the client's write half closes
            s.write_all(&req).unwrap();
            s.write_all(b" done").unwrap();
        });
        let mut c = TcpStream::connect(addr).unwrap();
        c.write_all(b"request").unwrap();
        c.shutdown(Shutdown::Write).unwrap();
        let mut resp = String::new();
        c.read_to_string(&mut resp).unwrap();
        assert_eq!(resp, "request done");
        // After end of file, reads keep returning 0.
        assert_eq!(c.read(&mut [0; 4]).unwrap(), 0);
        server.join().unwrap();
    });
}

/// Urgent (out-of-band) data: Linux's TCP read stops short at its mark with ordinary data
/// still queued. A short read must not be taken for a drained queue there, or the reader
/// parks for an edge that never comes (here the read would time out).
#[test]
fn urgent_data_does_not_stall_a_reader() {
    use std::os::fd::AsRawFd;
    let _g = serial();
    gorun::run(|| {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let client = std::thread::spawn(move || {
            let c = std::net::TcpStream::connect(addr).unwrap();
            for (bytes, flags) in [(&b"abc"[..], 0), (b"X", libc::MSG_OOB), (b"def", 0)] {
                // SAFETY: a connected socket and a buffer of `bytes.len()` bytes.
                let n =
                    unsafe { libc::send(c.as_raw_fd(), bytes.as_ptr().cast(), bytes.len(), flags) };
                assert_eq!(n, bytes.len() as isize);
            }
            (&c).read_exact(&mut [0; 1]).unwrap();
        });
        let (mut s, _) = l.accept().unwrap();
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        // Everything arrives, and its edge is taken, before the first read.
        gorun::sleep(Duration::from_millis(100));
        let mut buf = [0; 64];
        let first = s.read(&mut buf).unwrap();
        assert_eq!(&buf[..first], b"abc", "the read stops at the urgent mark");
        let mut rest = [0; 3];
        s.read_exact(&mut rest).unwrap();
        assert_eq!(&rest, b"def");
        s.write_all(b"k").unwrap();
        client.join().unwrap();
    });
}

/// A short read, then the reader shuts its own read half: the next read returns end of
/// file (no peer event announces it; the socket's own edge does).
#[test]
fn short_read_then_own_shutdown_reads_eof() {
    let _g = serial();
    gorun::run(|| {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut c = TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (mut s, _) = l.accept().unwrap();
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        c.write_all(b"abc").unwrap();
        let mut buf = [0; 64];
        assert_eq!(s.read(&mut buf).unwrap(), 3);
        s.shutdown(Shutdown::Read).unwrap();
        assert_eq!(s.read(&mut buf).unwrap(), 0);
    });
}

#[test]
fn write_to_closed_socket_is_an_error() {
    let _g = serial();
    gorun::run(|| {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut c = TcpStream::connect(l.local_addr().unwrap()).unwrap();
        drop(l.accept().unwrap());
        let mut err = None;
        for _ in 0..1000 {
            if let Err(e) = c.write(b"data") {
                err = Some(e);
                break;
            }
        }
        let e = err.expect("writes to a closed peer fail");
        assert!(
            matches!(e.kind(), ErrorKind::BrokenPipe | ErrorKind::ConnectionReset),
            "{e:?}"
        );
        // Our own write half shut down: BrokenPipe.
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut c = TcpStream::connect(l.local_addr().unwrap()).unwrap();
        c.shutdown(Shutdown::Write).unwrap();
        assert_eq!(c.write(b"x").unwrap_err().kind(), ErrorKind::BrokenPipe);
    });
}

#[test]
fn zero_length_reads_and_writes() {
    let _g = serial();
    gorun::run(|| {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut c = TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (mut s, _) = l.accept().unwrap();
        assert_eq!(c.write(&[]).unwrap(), 0);
        assert_eq!(s.read(&mut []).unwrap(), 0);
        c.write_all(b"z").unwrap();
        let mut b = [0];
        s.read_exact(&mut b).unwrap();
        assert_eq!(&b, b"z");
    });
}

#[test]
fn dropping_the_listener_wakes_accepters() {
    let _g = serial();
    gorun::run(|| {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let waiters: Vec<_> = (0..4)
            .map(|_| {
                let l = l.try_clone().unwrap();
                gorun::go(move || l.accept().map(|_| ()))
            })
            .collect();
        let lt = l.try_clone().unwrap();
        let thread = std::thread::spawn(move || lt.accept().map(|_| ()));
        gorun::sleep(Duration::from_millis(20));
        drop(l);
        for w in waiters {
            let e = w.join().unwrap().unwrap_err();
            assert_eq!(e.kind(), ErrorKind::NotConnected);
        }
        assert!(thread.join().unwrap().is_err());
    });
}

#[test]
fn accept_survives_emfile() {
    let _g = serial();
    gorun::run(|| {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let c1 = TcpStream::connect(addr).unwrap();
        let c2 = TcpStream::connect(addr).unwrap();
        // Fill every descriptor slot below a lowered limit.
        let saved = nofile();
        let max_fd = std::fs::read_dir("/dev/fd")
            .unwrap()
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u64>().ok())
            .max()
            .unwrap();
        set_nofile(libc::rlimit {
            rlim_cur: max_fd + 1,
            rlim_max: saved.rlim_max,
        });
        let mut fillers = Vec::new();
        while let Ok(f) = std::fs::File::open("/dev/null") {
            fillers.push(f);
        }
        for _ in 0..2 {
            let e = l.accept().unwrap_err();
            assert_eq!(e.raw_os_error(), Some(libc::EMFILE), "{e:?}");
        }
        // Descriptors free up: the queued connections are served.
        drop(fillers);
        set_nofile(saved);
        let (mut s1, _) = l.accept().unwrap();
        let (_s2, _) = l.accept().unwrap();
        (&c1).write_all(b"ok").unwrap();
        let mut b = [0; 2];
        s1.read_exact(&mut b).unwrap();
        assert_eq!(&b, b"ok");
        drop(c2);
    });
}

#[test]
fn no_descriptor_leaks() {
    let _g = serial();
    let round = || {
        gorun::run(|| {
            let (l, server) = echo_server();
            let addr = l.local_addr().unwrap();
            let hs: Vec<_> = (0..50)
                .map(|_| {
                    gorun::go(move || {
                        let mut c = TcpStream::connect(addr).unwrap();
                        let r = c.try_clone().unwrap();
                        c.write_all(b"ping").unwrap();
                        let mut b = [0; 4];
                        (&r).read_exact(&mut b).unwrap();
                    })
                })
                .collect();
            for h in hs {
                h.join().unwrap();
            }
            drop(l);
            server.join().unwrap();
            // Refused connection, UDP and Unix sockets.
            let dead = TcpListener::bind("127.0.0.1:0").unwrap();
            let dead_addr = dead.local_addr().unwrap();
            drop(dead);
            assert_eq!(
                TcpStream::connect(dead_addr).unwrap_err().kind(),
                ErrorKind::ConnectionRefused
            );
            let u = UdpSocket::bind("127.0.0.1:0").unwrap();
            u.send_to(b"x", u.local_addr().unwrap()).unwrap();
            let _ = u.recv_from(&mut [0; 4]).unwrap();
            let (a, b) = UnixStream::pair().unwrap();
            (&a).write_all(b"y").unwrap();
            (&b).read_exact(&mut [0]).unwrap();
        })
    };
    round(); // starts the poller and any lazily created threads
    let before = open_fds();
    round();
    round();
    assert_eq!(open_fds(), before);
}

#[test]
fn try_clone_reader_and_writer_goroutines() {
    let _g = serial();
    gorun::run(|| {
        let (l, server) = echo_server();
        let c = TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let mut w = c.try_clone().unwrap();
        const N: usize = 2000;
        let writer = gorun::go(move || {
            for i in 0..N {
                w.write_all(&(i as u32).to_le_bytes()).unwrap();
            }
        });
        let reader = gorun::go(move || {
            let mut c = c;
            for i in 0..N {
                let mut b = [0; 4];
                c.read_exact(&mut b).unwrap();
                assert_eq!(u32::from_le_bytes(b), i as u32);
            }
        });
        writer.join().unwrap();
        reader.join().unwrap();
        drop(l);
        server.join().unwrap();
    });
}

#[test]
fn udp_round_trip() {
    let _g = serial();
    gorun::run(|| {
        let server = UdpSocket::bind("127.0.0.1:0").unwrap();
        let saddr = server.local_addr().unwrap();
        let h = gorun::go(move || {
            let mut buf = [0; 64];
            for _ in 0..100 {
                let (n, from) = server.recv_from(&mut buf).unwrap();
                server.send_to(&buf[..n], from).unwrap();
            }
        });
        let client = UdpSocket::bind("127.0.0.1:0").unwrap();
        client.connect(saddr).unwrap();
        assert_eq!(client.peer_addr().unwrap(), saddr);
        for i in 0..100u32 {
            client.send(&i.to_le_bytes()).unwrap();
            let mut b = [0; 4];
            assert_eq!(client.recv(&mut b).unwrap(), 4);
            assert_eq!(u32::from_le_bytes(b), i);
        }
        h.join().unwrap();
        client
            .set_read_timeout(Some(Duration::from_millis(10)))
            .unwrap();
        assert_eq!(
            client.recv(&mut [0; 4]).unwrap_err().kind(),
            ErrorKind::TimedOut
        );
    });
}

#[test]
fn unix_stream_round_trip() {
    let _g = serial();
    gorun::run(|| {
        let path = std::env::temp_dir().join(format!("gorun-net-{}.sock", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let l = UnixListener::bind(&path).unwrap();
        let acceptor = l.try_clone().unwrap();
        let server = gorun::go(move || {
            let mut n = 0;
            while let Ok((mut s, _)) = acceptor.accept() {
                let mut buf = [0; 5];
                s.read_exact(&mut buf).unwrap();
                s.write_all(&buf).unwrap();
                n += 1;
            }
            n
        });
        for _ in 0..20 {
            let mut c = UnixStream::connect(&path).unwrap();
            c.write_all(b"hello").unwrap();
            let mut buf = [0; 5];
            c.read_exact(&mut buf).unwrap();
            assert_eq!(&buf, b"hello");
        }
        drop(l);
        assert_eq!(server.join().unwrap(), 20);
        std::fs::remove_file(&path).unwrap();

        let (a, b) = UnixStream::pair().unwrap();
        b.set_read_timeout(Some(Duration::from_millis(10))).unwrap();
        assert_eq!(
            (&b).read(&mut [0; 1]).unwrap_err().kind(),
            ErrorKind::TimedOut
        );
        a.shutdown(Shutdown::Write).unwrap();
        assert_eq!((&b).read(&mut [0; 1]).unwrap(), 0);
    });
}

#[test]
fn plain_threads_block() {
    let _g = serial();
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let server = std::thread::spawn(move || {
        let (mut s, _) = l.accept().unwrap();
        let mut buf = Vec::new();
        s.read_to_end(&mut buf).unwrap();
        s.write_all(&buf).unwrap();
    });
    let mut c = TcpStream::connect(("localhost", addr.port())).unwrap();
    c.write_all(b"from a thread").unwrap();
    c.shutdown(Shutdown::Write).unwrap();
    let mut resp = String::new();
    c.read_to_string(&mut resp).unwrap();
    assert_eq!(resp, "from a thread");
    server.join().unwrap();
    c.set_read_timeout(Some(Duration::from_millis(10))).unwrap();
    assert_eq!(c.read(&mut [0; 1]).unwrap(), 0);

    // A goroutine server with a plain-thread client, name resolved on the blocking pool.
    gorun::run(|| {
        let (l, server) = echo_server();
        let port = l.local_addr().unwrap().port();
        let t = std::thread::spawn(move || {
            let mut c = TcpStream::connect(format!("localhost:{port}")).unwrap();
            c.write_all(b"mixed").unwrap();
            let mut b = [0; 5];
            c.read_exact(&mut b).unwrap();
            b
        });
        let c = gorun::go(move || {
            let mut c = TcpStream::connect(("localhost", port)).unwrap();
            c.write_all(b"gorou").unwrap();
            let mut b = [0; 5];
            c.read_exact(&mut b).unwrap();
            b
        });
        assert_eq!(&c.join().unwrap(), b"gorou");
        // Parks this goroutine while the thread works.
        let t = gorun::blocking(move || t.join().unwrap());
        assert_eq!(&t, b"mixed");
        drop(l);
        server.join().unwrap();
    });
}

#[test]
fn busy_workers_still_poll() {
    // One worker kept busy by a goroutine that only yields: it never runs out of work, so
    // never sleeps in the netpoller; the runtime's periodic poll must still wake readers.
    let _g = serial();
    gorun::Builder::new().workers(1).run(|| {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let peer = std::thread::spawn(move || {
            let mut s = std::net::TcpStream::connect(addr).unwrap();
            std::thread::sleep(Duration::from_millis(20));
            s.write_all(b"x").unwrap();
            s
        });
        let (mut conn, _) = l.accept().unwrap();
        let done = Arc::new(AtomicBool::new(false));
        let d = done.clone();
        let start = Instant::now();
        // Returns whether the read finished while it was still spinning (the time bound only
        // keeps a broken poller from hanging the test).
        let spinner = gorun::go(move || {
            while start.elapsed() < Duration::from_secs(10) {
                if d.load(Ordering::Acquire) {
                    return true;
                }
                gorun::yield_now();
            }
            false
        });
        let mut b = [0; 1];
        conn.read_exact(&mut b).unwrap();
        done.store(true, Ordering::Release);
        assert!(
            spinner.join().unwrap(),
            "the read completed only once the busy goroutine gave up"
        );
        drop(peer.join().unwrap());
    });
}

#[test]
fn wakes_reach_workers_sleeping_in_the_poller() {
    // Once a socket exists, an idle worker sleeps in epoll_wait: every other kind of wake
    // (timers, channels, joins, the blocking pool, stealable spawns) must still reach it.
    let _g = serial();
    let _l = TcpListener::bind("127.0.0.1:0").unwrap();
    for workers in [2, 3] {
        gorun::Builder::new().workers(workers).run(|| {
            let (tx, rx) = gorun::chan::<u64>(0);
            let hs: Vec<_> = (0..100u64)
                .map(|i| {
                    let tx = tx.clone();
                    gorun::go(move || {
                        for j in 0..20 {
                            match (i + j) % 5 {
                                0 => gorun::yield_now(),
                                1 => gorun::sleep(Duration::from_micros(50)),
                                2 => gorun::go(|| ()).join().unwrap(),
                                3 => gorun::blocking(|| ()),
                                _ => tx.send(i).unwrap(),
                            }
                        }
                    })
                })
                .collect();
            drop(tx);
            let received = rx.iter().count();
            for h in hs {
                h.join().unwrap();
            }
            assert_eq!(received, 100 * 4);
        });
    }
}
