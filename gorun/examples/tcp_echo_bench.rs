//! Benchmark: TCP echo over loopback, 100 client goroutines × 1,000 round trips of 64
//! bytes against one echo-server goroutine per connection, all in one process. Prints
//! microseconds per round trip (total wall time / total round trips).
//!
//! `cargo run --release -p gorun --example tcp_echo_bench [CLIENTS] [ROUNDS]`

use std::io::{Read, Write};
use std::time::Instant;

use gorun::net::{TcpListener, TcpStream};

fn main() {
    let mut args = std::env::args().skip(1);
    let clients: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(100);
    let rounds: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(1000);
    gorun::run(move || {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let acceptor = listener.try_clone().unwrap();
        gorun::go(move || {
            while let Ok((mut c, _)) = acceptor.accept() {
                c.set_nodelay(true).unwrap();
                gorun::go(move || {
                    let mut buf = [0u8; 64];
                    while c.read_exact(&mut buf).is_ok() {
                        if c.write_all(&buf).is_err() {
                            break;
                        }
                    }
                });
            }
        });
        let conns: Vec<TcpStream> = (0..clients)
            .map(|_| {
                let c = TcpStream::connect(addr).unwrap();
                c.set_nodelay(true).unwrap();
                c
            })
            .collect();
        let start = Instant::now();
        let hs: Vec<_> = conns
            .into_iter()
            .map(|mut c| {
                gorun::go(move || {
                    let msg = [7u8; 64];
                    let mut buf = [0u8; 64];
                    for _ in 0..rounds {
                        c.write_all(&msg).unwrap();
                        c.read_exact(&mut buf).unwrap();
                    }
                })
            })
            .collect();
        for h in hs {
            h.join().unwrap();
        }
        let el = start.elapsed();
        let total = clients * rounds;
        println!(
            "tcp_echo: {clients} clients x {rounds} round trips of 64 B: {:.2?} total, {:.2} us per round trip",
            el,
            el.as_secs_f64() * 1e6 / total as f64
        );
        let m = gorun::metrics();
        println!(
            "switches per worker: {:?}; goroutines placed on another worker at spawn: {}",
            m.worker_switches, m.placed_away
        );
        drop(listener);
    });
}
