//! A minimal HTTP/1.1 hello-world server: one goroutine per connection, hand-parsing the
//! request line and headers of each GET (keep-alive supported).
//!
//! `cargo run --release -p gorun --example http_hello [PORT]` (default 8080), then
//! `curl http://127.0.0.1:8080/`.

use std::io::{BufRead, BufReader, Write};
use std::time::Duration;

use gorun::net::{TcpListener, TcpStream};

fn main() {
    let port: u16 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(8080);
    gorun::run(move || {
        let listener = TcpListener::bind(("127.0.0.1", port)).unwrap_or_else(|e| {
            eprintln!("cannot listen on 127.0.0.1:{port}: {e}");
            std::process::exit(1);
        });
        println!("listening on http://127.0.0.1:{port}/");
        println!("try: curl -i http://127.0.0.1:{port}/hello");
        for conn in listener.incoming() {
            match conn {
                Ok(conn) => {
                    gorun::go(move || {
                        if let Err(e) = serve(conn) {
                            eprintln!("connection error: {e}");
                        }
                    });
                }
                // Accept errors (out of descriptors...) already back off; keep serving.
                Err(e) => eprintln!("accept: {e}"),
            }
        }
    });
}

fn serve(conn: TcpStream) -> std::io::Result<()> {
    // Idle keep-alive connections are closed after 30 s.
    conn.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut reader = BufReader::new(&conn);
    let mut writer = &conn;
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line)? == 0 {
            return Ok(()); // the client closed the connection
        }
        let mut parts = request_line.split_whitespace();
        let (method, path, version) = (parts.next(), parts.next(), parts.next());
        let mut close = version != Some("HTTP/1.1");
        // Headers, up to the empty line.
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line)? == 0 {
                return Ok(());
            }
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':') {
                if name.eq_ignore_ascii_case("connection") {
                    close = value.trim().eq_ignore_ascii_case("close");
                }
            }
        }
        let (status, body) = match (method, path) {
            (Some("GET"), Some(path)) => (
                "200 OK",
                format!("Hello from gorun! You asked for {path}\n"),
            ),
            (Some(_), Some(_)) => ("405 Method Not Allowed", "only GET is served\n".to_string()),
            _ => ("400 Bad Request", "bad request\n".to_string()),
        };
        write!(
            writer,
            "HTTP/1.1 {status}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n{}\r\n{body}",
            body.len(),
            if close { "Connection: close\r\n" } else { "" }
        )?;
        if close || status.starts_with('4') {
            return Ok(());
        }
    }
}
