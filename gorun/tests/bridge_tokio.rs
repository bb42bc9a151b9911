//! The bridge with features `tokio` and `futures-io`: Tokio timers and sockets inside
//! `block_on`, hyper on gorun sockets (server and client), the async I/O traits and
//! `Stream`, and the Tokio context never outliving a poll.

use std::convert::Infallible;
use std::time::Duration;

use futures_util::StreamExt as _;
use http_body_util::{BodyExt as _, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;

#[test]
fn tokio_timers_inside_block_on_while_eviction_runs() {
    const N: usize = 200;
    gorun::Builder::new()
        .evict_after(Some(Duration::from_millis(10)))
        .run(|| {
            // Parked goroutines that eviction packs away meanwhile.
            let (tx, rx) = gorun::chan::<()>(0);
            let parked: Vec<_> = (0..50)
                .map(|_| {
                    let rx = rx.clone();
                    gorun::go(move || rx.recv().is_err())
                })
                .collect();
            let sleepers: Vec<_> = (0..N)
                .map(|i| {
                    gorun::go(move || {
                        let marker = [i as u8; 256]; // live stack bytes around the future
                        gorun::block_on(async {
                            tokio::time::sleep(Duration::from_millis(500)).await;
                            i
                        });
                        marker.iter().map(|&b| b as usize).sum::<usize>() / 256
                    })
                })
                .collect();
            for (i, h) in sleepers.into_iter().enumerate() {
                assert_eq!(h.join().unwrap(), i % 256);
            }
            assert!(gorun::metrics().evictions > 0, "eviction ran meanwhile");
            drop(tx);
            for h in parked {
                assert!(h.join().unwrap());
            }
        });
}

#[test]
fn the_tokio_context_is_entered_only_while_polling() {
    // One worker, so two goroutines interleave on one thread, each switching out in the
    // middle of a poll (a blocking gorun call inside the future).
    gorun::Builder::new().workers(1).run(|| {
        assert!(tokio::runtime::Handle::try_current().is_err());
        let (tx_a, rx_a) = gorun::chan::<u32>(0);
        let (tx_b, rx_b) = gorun::chan::<u32>(0);
        let a = gorun::go(move || {
            gorun::block_on(async move {
                let v = rx_a.recv().unwrap(); // parks inside the poll
                tokio::time::sleep(Duration::from_millis(1)).await;
                v
            })
        });
        let b = gorun::go(move || {
            gorun::block_on(async move {
                tokio::time::sleep(Duration::from_millis(1)).await;
                let v = rx_b.recv().unwrap();
                assert!(tokio::runtime::Handle::try_current().is_ok());
                v
            })
        });
        gorun::sleep(Duration::from_millis(20));
        tx_b.send(2).unwrap();
        tx_a.send(1).unwrap();
        assert_eq!(a.join().unwrap() + b.join().unwrap(), 3);
        assert!(tokio::runtime::Handle::try_current().is_err());
    });
}

/// A handler that calls blocking gorun code: a channel round trip to another goroutine.
fn hello_service(
    upper: gorun::Sender<(String, gorun::Sender<String>)>,
) -> impl hyper::service::Service<
    Request<Incoming>,
    Response = Response<Full<Bytes>>,
    Error = Infallible,
    Future = impl std::future::Future<Output = Result<Response<Full<Bytes>>, Infallible>>,
> + Clone {
    hyper::service::service_fn(move |req: Request<Incoming>| {
        let upper = upper.clone();
        async move {
            let (tx, rx) = gorun::chan(0);
            upper.send((req.uri().path().to_string(), tx)).unwrap();
            let body = rx.recv().unwrap();
            Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(body))))
        }
    })
}

/// A hyper server on gorun sockets, one goroutine per connection; returns its address.
fn start_server() -> std::net::SocketAddr {
    let listener = gorun::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (upper_tx, upper_rx) = gorun::chan::<(String, gorun::Sender<String>)>(0);
    gorun::go(move || {
        for (path, reply) in &upper_rx {
            reply.send(path.to_uppercase()).unwrap();
        }
    });
    gorun::go(move || {
        for conn in listener.incoming() {
            let conn = conn.unwrap();
            let svc = hello_service(upper_tx.clone());
            gorun::go(move || {
                let _ = gorun::block_on(
                    hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(conn), svc),
                );
            });
        }
    });
    addr
}

#[test]
fn hyper_round_trips_over_gorun_sockets() {
    gorun::run(|| {
        let addr = start_server();
        let clients: Vec<_> = (0..8)
            .map(|c| {
                gorun::go(move || {
                    let conn = gorun::net::TcpStream::connect(addr).unwrap();
                    let (mut sender, driver) = gorun::block_on(
                        hyper::client::conn::http1::handshake::<_, Full<Bytes>>(TokioIo::new(conn)),
                    )
                    .unwrap();
                    let driver = gorun::go(move || gorun::block_on(driver));
                    for i in 0..20 {
                        let req = Request::get(format!("/c{c}/r{i}"))
                            .header("host", "localhost")
                            .body(Full::new(Bytes::new()))
                            .unwrap();
                        let body = gorun::block_on(async {
                            let resp = sender.send_request(req).await.unwrap();
                            assert_eq!(resp.status(), 200);
                            resp.into_body().collect().await.unwrap().to_bytes()
                        });
                        assert_eq!(body, format!("/C{c}/R{i}"));
                    }
                    drop(sender);
                    driver.join().unwrap().unwrap();
                })
            })
            .collect();
        for h in clients {
            h.join().unwrap();
        }
    });
}

#[test]
fn a_tokio_client_inside_block_on_talks_to_hyper_on_gorun() {
    gorun::run(|| {
        let addr = start_server();
        let body = gorun::block_on(async move {
            let conn = tokio::net::TcpStream::connect(addr).await.unwrap();
            let (mut sender, driver) = hyper::client::conn::http1::handshake(TokioIo::new(conn))
                .await
                .unwrap();
            tokio::spawn(driver);
            let req = Request::get("/tokio")
                .header("host", "localhost")
                .body(Full::new(Bytes::new()))
                .unwrap();
            let resp = sender.send_request(req).await.unwrap();
            resp.into_body().collect().await.unwrap().to_bytes()
        });
        assert_eq!(body, "/TOKIO");
    });
}

#[test]
fn futures_io_traits_on_gorun_sockets() {
    use futures_util::io::{AsyncReadExt, AsyncWriteExt};
    gorun::run(|| {
        let listener = gorun::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = gorun::go(move || {
            let (mut conn, _) = listener.accept().unwrap();
            gorun::block_on(async move {
                let mut buf = vec![0; 100_000];
                conn.read_exact(&mut buf).await.unwrap();
                conn.write_all(&buf).await.unwrap();
                conn.close().await.unwrap();
            });
        });
        let mut c = gorun::net::TcpStream::connect(addr).unwrap();
        let data: Vec<u8> = (0..100_000).map(|i| i as u8).collect();
        let echoed = gorun::block_on(async {
            c.write_all(&data).await.unwrap();
            let mut back = Vec::new();
            c.read_to_end(&mut back).await.unwrap();
            back
        });
        assert_eq!(echoed, data);
        server.join().unwrap();
    });
}

#[test]
fn gorun_sockets_under_a_plain_tokio_runtime() {
    // No gorun runtime at all: the netpoller's fallback thread serves the Tokio tasks.
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    let dir = std::env::temp_dir().join(format!("gorun-bridge-{}.sock", std::process::id()));
    let _ = std::fs::remove_file(&dir);
    let listener = gorun::net::unix::UnixListener::bind(&dir).unwrap();
    let path = dir.clone();
    let server = std::thread::spawn(move || {
        let (conn, _) = listener.accept().unwrap();
        conn
    });
    let client = gorun::net::unix::UnixStream::connect(&path).unwrap();
    let mut conn = server.join().unwrap();
    let mut client = client;
    let total = rt.block_on(async move {
        let echo = tokio::spawn(async move {
            let mut buf = [0u8; 4096];
            loop {
                let n = conn.read(&mut buf).await.unwrap();
                if n == 0 {
                    break;
                }
                conn.write_all(&buf[..n]).await.unwrap();
            }
        });
        let mut total = 0;
        for i in 0..50u8 {
            let msg = [i; 1000];
            client.write_all(&msg).await.unwrap();
            let mut back = [0u8; 1000];
            client.read_exact(&mut back).await.unwrap();
            assert_eq!(back, msg);
            total += back.len();
        }
        AsyncWriteExt::shutdown(&mut client).await.unwrap();
        echo.await.unwrap();
        total
    });
    assert_eq!(total, 50_000);
    let _ = std::fs::remove_file(&dir);
}

#[test]
fn receiver_is_a_stream() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let (tx, rx) = gorun::chan::<u32>(4);
    let t = std::thread::spawn(move || (1..=100).for_each(|i| tx.send(i).unwrap()));
    let sum: u32 = rt.block_on(rx.fold(0, |a, v| async move { a + v }));
    assert_eq!(sum, 5050);
    t.join().unwrap();
}

#[test]
fn tokio_handle_runs_tasks_that_goroutines_await() {
    gorun::run(|| {
        let (tx, rx) = gorun::chan::<u32>(0);
        let task = gorun::tokio_handle().spawn(async move {
            let mut sum = 0;
            while let Ok(v) = rx.recv_async().await {
                sum += v;
            }
            sum
        });
        for i in 1..=10 {
            tx.send(i).unwrap();
        }
        drop(tx);
        assert_eq!(gorun::block_on(task).unwrap(), 55);
    });
}

#[test]
fn sockets_and_futures_stay_unpin() {
    fn unpin<T: Unpin>() {}
    unpin::<gorun::net::TcpStream>();
    unpin::<gorun::net::unix::UnixStream>();
    unpin::<gorun::JoinHandle<std::marker::PhantomPinned>>();
    unpin::<gorun::RecvFuture<'_, std::marker::PhantomPinned>>();
    unpin::<gorun::SendFuture<'_, std::marker::PhantomPinned>>();
    unpin::<gorun::Receiver<std::marker::PhantomPinned>>();
}
