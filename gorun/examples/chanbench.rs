//! Quick channel micro-benchmarks: `cargo run --release --example chanbench`.

use std::time::Instant;

use gorun::{chan, go, select};

fn pingpong(n: u32) {
    let (ping_tx, ping_rx) = chan::<u32>(0);
    let (pong_tx, pong_rx) = chan::<u32>(0);
    go(move || {
        for v in &ping_rx {
            pong_tx.send(v).unwrap();
        }
    });
    let start = Instant::now();
    for i in 0..n {
        ping_tx.send(i).unwrap();
        pong_rx.recv().unwrap();
    }
    let ns = start.elapsed().as_nanos() as f64 / n as f64;
    println!("pingpong: {ns:.1} ns/round trip");
}

fn mpmc(n: usize, cap: usize) {
    let (tx, rx) = chan::<usize>(cap);
    let start = Instant::now();
    let mut hs = Vec::new();
    for _ in 0..4 {
        let tx = tx.clone();
        hs.push(go(move || {
            for i in 0..n / 4 {
                tx.send(i).unwrap();
            }
        }));
    }
    drop(tx);
    let cs: Vec<_> = (0..4)
        .map(|_| {
            let rx = rx.clone();
            go(move || rx.iter().count())
        })
        .collect();
    for h in hs {
        h.join().unwrap();
    }
    let got: usize = cs.into_iter().map(|c| c.join().unwrap()).sum();
    assert_eq!(got, n / 4 * 4);
    let ns = start.elapsed().as_nanos() as f64 / n as f64;
    println!("mpmc 4x4 cap {cap}: {ns:.1} ns/msg");
}

fn select4(n: usize) {
    let chans: Vec<_> = (0..4).map(|_| chan::<usize>(0)).collect();
    for (tx, _) in &chans {
        let tx = tx.clone();
        go(move || {
            for i in 0..n / 4 {
                tx.send(i).unwrap();
            }
        });
    }
    let start = Instant::now();
    for _ in 0..n / 4 * 4 {
        select! {
            recv(chans[0].1) -> v => v.unwrap(),
            recv(chans[1].1) -> v => v.unwrap(),
            recv(chans[2].1) -> v => v.unwrap(),
            recv(chans[3].1) -> v => v.unwrap(),
        };
    }
    let ns = start.elapsed().as_nanos() as f64 / n as f64;
    println!("select over 4 channels: {ns:.1} ns/msg");
}

#[gorun::main]
fn main() {
    let which = std::env::args().nth(1).unwrap_or_default();
    if which.is_empty() || which == "pingpong" {
        pingpong(1_000_000);
    }
    if which.is_empty() || which == "mpmc" {
        mpmc(2_000_000, 1024);
    }
    if which.is_empty() || which == "select" {
        select4(1_000_000);
    }
}
