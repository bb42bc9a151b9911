//! A tour of gorun: the two classic Go programs (workers with a WaitGroup, a counter under
//! a Mutex), then channels and select, cheap goroutines, panics, blocking calls, network
//! I/O and Go's deadlock report.
//!
//! Run it with `cargo run --release --example tour`.

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use gorun::sync::{Mutex, WaitGroup};

fn worker(id: u32) {
    println!("Worker {id} starting");
    gorun::sleep(Duration::from_millis(100));
    println!("Worker {id} done");
}

static COUNTER: Mutex<i32> = Mutex::new(0);

#[gorun::main]
fn main() {
    // 1. Workers: start five goroutines and wait for all of them with a WaitGroup.
    let wg = WaitGroup::new();
    for id in 1..=5 {
        drop(wg.go(move || worker(id))); // add(1), go, done() when worker returns
    }
    wg.wait();
    println!("All workers finished.");

    // 2. A thousand goroutines increment one counter under a Mutex. The guard unlocks when
    //    dropped, so "forgot to Unlock" cannot happen; without the Mutex it would not
    //    compile.
    let wg = WaitGroup::new();
    for _ in 0..1000 {
        drop(wg.go(|| *COUNTER.lock() += 1));
    }
    wg.wait();
    println!("Counter: {}", *COUNTER.lock());

    // 3. Channels and select: a producer, a ticker and a timeout in one loop.
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

    // 4. Goroutines are cheap: 100,000 of them, results through JoinHandles.
    let start = Instant::now();
    let handles: Vec<_> = (0..100_000u64).map(|i| gorun::go(move || i)).collect();
    let sum: u64 = handles.into_iter().map(|h| h.join().unwrap()).sum();
    println!("100000 goroutines summed to {sum} in {:?}", start.elapsed());

    // 5. A panic comes back through join (a detached one would stop the program, as in Go).
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {})); // keep the tour's output quiet
    let h = gorun::go(|| -> u32 { panic!("boom") });
    println!(
        "a panicking goroutine joined with an error: {}",
        h.join().is_err()
    );
    std::panic::set_hook(hook);

    // 6. Blocking calls go to the blocking pool, so the worker keeps running goroutines.
    let slow = gorun::go(|| gorun::blocking(|| std::thread::sleep(Duration::from_millis(50))));
    let fast = gorun::go(|| "not stalled by the blocking call");
    println!("{}", fast.join().unwrap());
    slow.join().unwrap();

    // 7. Network I/O parks the goroutine, not the thread: an echo server and a client.
    let listener = gorun::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    gorun::go(move || {
        let (mut conn, _) = listener.accept().unwrap();
        let mut buf = [0u8; 64];
        let n = conn.read(&mut buf).unwrap();
        conn.write_all(&buf[..n]).unwrap();
    });
    let mut client = gorun::net::TcpStream::connect(addr).unwrap();
    client.write_all(b"hello, gorun").unwrap();
    let mut reply = [0u8; 12];
    client.read_exact(&mut reply).unwrap();
    println!("echoed: {}", String::from_utf8_lossy(&reply));

    // 8. Go's deadlock detector: every goroutine asleep is a report, not a hang.
    //    (`run` prints it and exits with code 2; `try_run` returns it.)
    let report = gorun::blocking(|| {
        gorun::Builder::new()
            .try_run(|| {
                let (_tx, rx) = gorun::chan::<i32>(0);
                rx.recv().ok(); // nobody will ever send
            })
            .unwrap_err()
    });
    println!(
        "{}",
        report
            .to_string()
            .lines()
            .take(3)
            .collect::<Vec<_>>()
            .join("\n")
    );

    println!("goroutines alive at the end: {}", gorun::num_goroutine());
}
