//! HTTP/1.1 hello server for http.sh: hyper on gorun sockets, one goroutine per
//! connection running `serve_connection` through `gorun::block_on`.
//! Usage: http-gorun-hyper PORT (worker threads: BENCH_WORKERS or the CPUs).

use std::convert::Infallible;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;

async fn hello(_: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    Ok(Response::new(Full::new(Bytes::from_static(
        b"Hello, World!",
    ))))
}

fn main() {
    let port = bench_common::port_arg();
    gorun::Builder::new()
        .workers(bench_common::workers())
        .run(move || {
            let listener = gorun::net::TcpListener::bind(("127.0.0.1", port)).expect("bind");
            println!("ready");
            for conn in listener.incoming().flatten() {
                let _ = conn.set_nodelay(true);
                gorun::go(move || {
                    let svc = hyper::service::service_fn(hello);
                    let _ = gorun::block_on(
                        hyper::server::conn::http1::Builder::new()
                            .serve_connection(TokioIo::new(conn), svc),
                    );
                });
            }
        });
}
