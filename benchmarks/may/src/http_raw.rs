//! HTTP/1.1 hello server for http.sh without an HTTP library, on may: the same shape as
//! http-gorun-raw (one coroutine per connection, blocking may socket calls, a fixed
//! response per `\r\n\r\n`, all the answers to one read in one write). Usage:
//! http-may-raw PORT (worker threads: BENCH_WORKERS or the CPUs).

use std::io::{Read, Write};

use bench_common::{RequestEnds, HTTP_RESPONSE};
use may::net::{TcpListener, TcpStream};

fn serve(mut conn: TcpStream) -> std::io::Result<()> {
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
    may::config().set_workers(bench_common::workers());
    let listener = TcpListener::bind(("127.0.0.1", port)).expect("bind");
    println!("ready");
    for conn in listener.incoming() {
        let Ok(conn) = conn else { continue };
        let _ = conn.set_nodelay(true);
        // SAFETY (may's contract for spawn): the closure uses no thread-local storage.
        let spawned = unsafe { may::coroutine::Builder::new().spawn(move || serve(conn)) };
        if let Err(e) = spawned {
            eprintln!("http-may-raw: spawn failed: {e}");
        }
    }
}
