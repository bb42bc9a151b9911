//! hyper 1.x (HTTP/1.1) on gorun: one goroutine per connection runs hyper's
//! `serve_connection` on a gorun `TcpStream` through `gorun::block_on`. The socket's async
//! I/O goes through gorun's netpoller, and handlers may call blocking gorun code: here
//! `/count` asks a counter goroutine over a channel and waits for its reply.
//!
//! `cargo run --release -p gorun --features tokio --example hyper_server [PORT]`
//! (default 8080), then `curl http://127.0.0.1:8080/` or `curl http://127.0.0.1:8080/count`.

use std::convert::Infallible;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;

use gorun::net::TcpListener;

/// Asks the counter goroutine for the next number (a blocking gorun call in a handler).
type Counter = gorun::Sender<gorun::Sender<u64>>;

async fn handle(
    req: Request<Incoming>,
    counter: Counter,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let body = match req.uri().path() {
        "/count" => {
            let (tx, rx) = gorun::chan(0);
            counter
                .send(tx)
                .expect("the counter goroutine runs forever");
            format!("request number {}\n", rx.recv().expect("it replies"))
        }
        _ => "Hello, World!".to_string(),
    };
    Ok(Response::new(Full::new(Bytes::from(body))))
}

fn main() {
    let addr = match std::env::args().nth(1) {
        Some(port) => format!("127.0.0.1:{port}"),
        None => "127.0.0.1:8080".to_string(),
    };
    gorun::run(move || {
        let listener = TcpListener::bind(addr.as_str()).expect("cannot listen");
        println!("hyper on gorun, listening on http://{addr}/");
        let (counter, requests) = gorun::chan::<gorun::Sender<u64>>(0);
        gorun::go(move || {
            for (n, reply) in requests.iter().enumerate() {
                let _ = reply.send(n as u64 + 1);
            }
        });
        for conn in listener.incoming() {
            let conn = match conn {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("accept: {e}");
                    continue;
                }
            };
            let _ = conn.set_nodelay(true);
            let counter = counter.clone();
            gorun::go(move || {
                let svc = hyper::service::service_fn(move |req| handle(req, counter.clone()));
                let serve = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(conn), svc);
                if let Err(e) = gorun::block_on(serve) {
                    eprintln!("connection: {e}");
                }
            });
        }
    });
}
