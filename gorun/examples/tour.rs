//! A tour of gorun: the classic workers program, then a few of the things Go gives you.
//!
//! Run it with `cargo run --release --example tour`.

use std::time::{Duration, Instant};

fn worker(id: u32) -> u32 {
    println!("Worker {id} starting");
    gorun::sleep(Duration::from_millis(100));
    println!("Worker {id} done");
    id
}

#[gorun::main]
fn main() {
    // 1. Workers: start five goroutines and wait for all of them.
    let handles: Vec<_> = (1..=5).map(|id| gorun::go(move || worker(id))).collect();
    for h in handles {
        h.join().unwrap();
    }
    println!("All workers finished.");

    // 2. Goroutines are cheap: spawn 100,000 and join them.
    let start = Instant::now();
    let handles: Vec<_> = (0..100_000u64).map(|i| gorun::go(move || i)).collect();
    let sum: u64 = handles.into_iter().map(|h| h.join().unwrap()).sum();
    println!("100000 goroutines summed to {sum} in {:?}", start.elapsed());

    // 3. Panics come back through join.
    let h = gorun::go(|| -> u32 { panic!("boom") });
    println!("a panicking goroutine joined with: {:?}", h.join().is_err());

    // 4. Blocking calls go to the blocking pool, so this worker keeps running goroutines.
    let slow = gorun::go(|| gorun::blocking(|| std::thread::sleep(Duration::from_millis(50))));
    let fast = gorun::go(|| "not stalled by the blocking call");
    println!("{}", fast.join().unwrap());
    slow.join().unwrap();

    // 5. Channels and select: a producer, a ticker and a timeout in one loop.
    let (tx, rx) = gorun::chan::<u32>(0);
    gorun::go(move || {
        for i in 1..=3 {
            gorun::sleep(Duration::from_millis(30));
            tx.send(i).unwrap();
        }
    });
    let tick = gorun::tick(Duration::from_millis(25));
    let timeout = gorun::after(Duration::from_millis(500));
    loop {
        gorun::select! {
            recv(rx) -> v => match v {
                Ok(v) => println!("received {v}"),
                Err(_) => { println!("producer done"); break; }
            },
            recv(tick) -> _ => println!("tick"),
            recv(timeout) -> _ => { println!("timeout"); break; }
        }
    }
    println!("goroutines alive at the end: {}", gorun::num_goroutine());
}
