//! HTTP/1.1 hello server for http.sh without an HTTP library: one goroutine per
//! connection with blocking gorun socket calls, answering every request (the end of its
//! headers, `\r\n\r\n`) with a fixed response. Request bodies are not supported.
//! Usage: http-gorun-raw PORT (worker threads: BENCH_WORKERS or the CPUs).

use std::io::{Read, Write};

const RESPONSE: &[u8] =
    b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 13\r\n\r\nHello, World!";

fn serve(mut conn: gorun::net::TcpStream) -> std::io::Result<()> {
    let mut buf = [0u8; 4096];
    let mut out = Vec::with_capacity(4096);
    // How much of "\r\n\r\n" the bytes read so far end with.
    let mut matched = 0;
    loop {
        let n = conn.read(&mut buf)?;
        if n == 0 {
            return Ok(());
        }
        for &b in &buf[..n] {
            matched = match (matched, b) {
                (0 | 2, b'\r') => matched + 1,
                (1 | 3, b'\n') => matched + 1,
                (_, b'\r') => 1,
                _ => 0,
            };
            if matched == 4 {
                out.extend_from_slice(RESPONSE);
                matched = 0;
            }
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
