//! A TCP echo server and its clients in one program, on loopback: one goroutine per
//! connection, blocking-style reads and writes, and the netpoller parks them.
//!
//! `cargo run -p gorun --example echo [CLIENTS]`

use std::io::{Read, Write};

use gorun::net::{TcpListener, TcpStream};

fn main() {
    let clients: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(10);
    gorun::run(move || {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().unwrap();
        println!("echo server on {addr}");

        // The server: dropping `listener` below closes it, which ends this loop.
        let acceptor = listener.try_clone().unwrap();
        let server = gorun::go(move || {
            for conn in acceptor.incoming() {
                let Ok(mut conn) = conn else { break };
                gorun::go(move || {
                    let mut buf = [0u8; 4096];
                    loop {
                        match conn.read(&mut buf) {
                            Ok(0) | Err(_) => return,
                            Ok(n) => {
                                if conn.write_all(&buf[..n]).is_err() {
                                    return;
                                }
                            }
                        }
                    }
                });
            }
        });

        let handles: Vec<_> = (0..clients)
            .map(|i| {
                gorun::go(move || {
                    let mut conn = TcpStream::connect(addr).expect("connect");
                    let msg = format!("hello from client {i}");
                    conn.write_all(msg.as_bytes()).unwrap();
                    let mut back = vec![0; msg.len()];
                    conn.read_exact(&mut back).unwrap();
                    String::from_utf8(back).unwrap()
                })
            })
            .collect();
        for h in handles {
            println!("echoed: {}", h.join().unwrap());
        }
        drop(listener);
        server.join().unwrap();
        println!("done: {clients} clients served");
    });
}
