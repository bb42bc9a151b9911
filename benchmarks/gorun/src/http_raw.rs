//! HTTP/1.1 hello server for http.sh without an HTTP library: one goroutine per
//! connection with blocking gorun socket calls, answering every request (the end of its
//! headers, `\r\n\r\n`) with a fixed response, all the answers to one read in one write.
//! Usage: http-gorun-raw PORT (worker threads: BENCH_WORKERS or the CPUs).

use std::io::{Read, Write};

use bench_common::{RequestEnds, HTTP_RESPONSE};

fn serve(mut conn: gorun::net::TcpStream) -> std::io::Result<()> {
    let mut buf = [0u8; 4096];
    let mut out = Vec::with_capacity(4096);
    let mut ends = RequestEnds::default();
    loop {
        let n = conn.read(&mut buf)?;
        if n == 0 {
            return Ok(());
        }
        for _ in 0..ends.count(&buf[..n]) {
            out.extend_from_slice(HTTP_RESPONSE);
        }
        if !out.is_empty() {
            conn.write_all(&out)?;
            out.clear();
        }
    }
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
                    let _ = serve(conn);
                });
            }
        });
}
