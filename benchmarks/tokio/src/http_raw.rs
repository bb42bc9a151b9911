//! HTTP/1.1 hello server for http.sh without an HTTP library, on Tokio: the same shape
//! as http-gorun-raw (one task per connection, a fixed response per `\r\n\r\n`, all the
//! answers to one read in one write). Usage: http-tokio-raw PORT (worker threads:
//! BENCH_WORKERS or the CPUs).

use bench_common::{RequestEnds, HTTP_RESPONSE};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn serve(mut conn: tokio::net::TcpStream) -> std::io::Result<()> {
    let mut buf = [0u8; 4096];
    let mut out = Vec::with_capacity(4096);
    let mut ends = RequestEnds::default();
    loop {
        let n = conn.read(&mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        for _ in 0..ends.count(&buf[..n]) {
            out.extend_from_slice(HTTP_RESPONSE);
        }
        if !out.is_empty() {
            conn.write_all(&out).await?;
            out.clear();
        }
    }
}

fn main() {
    let port = bench_common::port_arg();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(bench_common::workers())
        .enable_all()
        .build()
        .expect("tokio runtime");
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .expect("bind");
        println!("ready");
        loop {
            let Ok((conn, _)) = listener.accept().await else {
                continue;
            };
            let _ = conn.set_nodelay(true);
            tokio::spawn(serve(conn));
        }
    });
}
