//! Goroutines and async code together:
//!
//! 1. a Tokio task and goroutines exchange values over one gorun channel (the task with
//!    `send_async`/`recv_async`, the goroutines with plain blocking calls);
//! 2. a hyper server runs on gorun sockets (one goroutine per connection, as in the
//!    `hyper_server` example), and a goroutine calls it with a Tokio-based HTTP client
//!    (hyper's client over a `tokio::net::TcpStream`) through `gorun::block_on`;
//! 3. the Tokio task awaits a goroutine's `JoinHandle`.
//!
//! `cargo run --release -p gorun --features tokio --example async_mix`

use std::convert::Infallible;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;

fn main() {
    // An ordinary Tokio runtime of the application's own, next to gorun's.
    let tokio_rt = tokio::runtime::Runtime::new().expect("tokio runtime");
    gorun::run(move || {
        // 1. Jobs from a Tokio task to goroutines, results back to the task.
        let (jobs_tx, jobs) = gorun::chan::<u64>(0);
        let (results, results_rx) = gorun::chan::<u64>(0);
        for _ in 0..4 {
            let (jobs, results) = (jobs.clone(), results.clone());
            gorun::go(move || {
                for j in &jobs {
                    results.send(j * j).unwrap();
                }
            });
        }
        drop((jobs, results));
        let squarer = gorun::go(|| (1..=10u64).map(|i| i * i).sum::<u64>());
        let task = tokio_rt.spawn(async move {
            let feeder = async {
                for i in 1..=10 {
                    jobs_tx.send_async(i).await.unwrap();
                }
                drop(jobs_tx); // the goroutines' loops end, and then `results` closes
            };
            let collector = async {
                let mut sum = 0;
                while let Ok(v) = results_rx.recv_async().await {
                    sum += v;
                }
                sum
            };
            let ((), sum) = tokio::join!(feeder, collector);
            // 3. A goroutine awaited from Tokio.
            let expected = squarer.await.unwrap();
            (sum, expected)
        });
        let (sum, expected) = gorun::block_on(task).unwrap();
        println!("Tokio task: the goroutines squared 1..=10 into {sum} (expected {expected})");
        assert_eq!(sum, expected);

        // 2. hyper on gorun sockets, called by a Tokio-based client from a goroutine.
        let listener = gorun::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        gorun::go(move || {
            for conn in listener.incoming().flatten() {
                gorun::go(move || {
                    let svc = hyper::service::service_fn(
                        |req: Request<hyper::body::Incoming>| async move {
                            let msg =
                                format!("hello from hyper on gorun, you asked for {}", req.uri());
                            Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(msg))))
                        },
                    );
                    let _ = gorun::block_on(
                        hyper::server::conn::http1::Builder::new()
                            .serve_connection(TokioIo::new(conn), svc),
                    );
                });
            }
        });
        let client = gorun::go(move || {
            // Tokio's TcpStream needs Tokio's reactor: block_on provides its context.
            gorun::block_on(async move {
                let stream = tokio::net::TcpStream::connect(addr).await?;
                let (mut sender, conn) =
                    hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
                tokio::spawn(conn);
                let req = Request::get("/from-a-goroutine")
                    .header("host", addr.to_string())
                    .body(Full::new(Bytes::new()))?;
                let resp = sender.send_request(req).await?;
                let body = resp.into_body().collect().await?.to_bytes();
                Ok::<_, Box<dyn std::error::Error + Send + Sync>>(
                    String::from_utf8_lossy(&body).into_owned(),
                )
            })
        });
        println!(
            "goroutine's HTTP client got: {}",
            client.join().unwrap().unwrap()
        );
    });
}
