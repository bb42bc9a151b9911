//! Shared pieces of the Rust benchmark programs: argument parsing, default
//! sizes, the one-line result format, RSS readings and the deterministic
//! "random" sleep durations of the timers workload.
//!
//! Every program prints exactly one line on stdout, for example
//!
//! ```text
//! workload=pingpong runtime=tokio n=1000000 ns_per_op=512.3 check=499999500000 rss_before_kb=2100 hwm_kb=2300
//! ```
//!
//! or, when the runtime cannot do the workload,
//!
//! ```text
//! workload=skynet runtime=threads n=1000000 ns_per_op=n/a reason=needs 1111111 OS threads
//! ```
//!
//! `reason=` is always the last field and runs to the end of the line.
//! The Go program (`go/main.go`) prints the same format.

use std::time::Duration;

/// Every workload, in the order of the issue.
pub const WORKLOADS: &[&str] = &[
    "spawn",
    "park_memory",
    "wake_all",
    "skynet",
    "pingpong",
    "mpmc",
    "mutex",
    "yield",
    "select",
    "tcp_echo",
    "timers",
    "timer_lateness",
];

/// Default size of each workload (what `n` means is documented per workload
/// in README.md). Must match `defaultSize` in go/main.go.
pub fn default_size(workload: &str) -> u64 {
    match workload {
        "spawn" => 1_000_000,
        "park_memory" => 100_000,
        "wake_all" => 1_000_000,
        "skynet" => 1_000_000,
        "pingpong" => 1_000_000,
        "mpmc" => 10_000_000,
        "mutex" => 1_000,
        "yield" => 1_000_000,
        "select" => 1_000_000,
        "tcp_echo" => 1_000,
        "timers" => 100_000,
        "timer_lateness" => 1_000,
        _ => 0,
    }
}

/// Increments per goroutine in the mutex workload.
pub const MUTEX_INCREMENTS: u64 = 1_000;
/// Client goroutines in the tcp_echo workload.
pub const TCP_CLIENTS: usize = 100;
/// Bytes per tcp_echo message.
pub const TCP_MSG: usize = 64;
/// Producers and consumers in mpmc; producers in select.
pub const MPMC_PRODUCERS: u64 = 4;
pub const MPMC_CONSUMERS: u64 = 4;
pub const MPMC_CAP: usize = 1024;
pub const SELECT_PRODUCERS: u64 = 4;

pub struct Args {
    pub workload: String,
    pub n: u64,
}

/// `prog WORKLOAD [SIZE]`. Exits with a usage message on bad input.
pub fn args(runtime: &str) -> Args {
    let mut it = std::env::args().skip(1);
    let workload = match it.next() {
        Some(w) if WORKLOADS.contains(&w.as_str()) => w,
        _ => {
            eprintln!(
                "usage: bench-{runtime} WORKLOAD [SIZE]\nworkloads: {}",
                WORKLOADS.join(" ")
            );
            std::process::exit(2);
        }
    };
    let n = match it.next() {
        Some(s) => s.parse().unwrap_or_else(|_| {
            eprintln!("bad size {s:?}");
            std::process::exit(2)
        }),
        None => default_size(&workload),
    };
    install_panic_hook(runtime, &workload, n);
    Args { workload, n }
}

/// The port an HTTP server program listens on: its first argument, else 8080.
pub fn port_arg() -> u16 {
    std::env::args()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(8080)
}

/// Number of worker threads every runtime gets: `BENCH_WORKERS` or the
/// number of CPUs (Go's GOMAXPROCS default).
pub fn workers() -> usize {
    std::env::var("BENCH_WORKERS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1)
        })
}

static PANIC_NOTE: std::sync::OnceLock<fn() -> String> = std::sync::OnceLock::new();

/// Adds the text `f()` returns to the `n/a` line of a panic (e.g. how many
/// coroutines existed when stack allocation failed).
pub fn set_panic_note(f: fn() -> String) {
    let _ = PANIC_NOTE.set(f);
}

/// A panic anywhere (in a coroutine, a task or a thread) becomes an `n/a`
/// line carrying the panic message, and the process exits with status 1.
fn install_panic_hook(runtime: &str, workload: &str, n: u64) {
    let prefix = format!("workload={workload} runtime={runtime} n={n}");
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        default_hook(info);
        let msg = if let Some(s) = info.payload().downcast_ref::<&str>() {
            s.to_string()
        } else if let Some(s) = info.payload().downcast_ref::<String>() {
            s.clone()
        } else {
            "panic".to_string()
        };
        let loc = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        let note = PANIC_NOTE
            .get()
            .map(|f| format!(" {}", f()))
            .unwrap_or_default();
        println!(
            "{prefix} ns_per_op=n/a reason=panicked: {}{loc}{note}",
            msg.replace('\n', " ")
        );
        std::process::exit(1);
    }));
}

/// Result of one workload run.
pub struct Outcome {
    /// Wall time of the workload itself.
    pub elapsed: Duration,
    /// How many operations `elapsed` is divided by.
    pub ops: u64,
    /// Checksum or answer.
    pub check: u64,
    /// Extra `key=value` fields (park_memory's bytes per goroutine).
    pub extra: Vec<(&'static str, String)>,
    /// park_memory: the time from releasing the parked goroutines until all have run.
    pub wake: Duration,
}

impl Outcome {
    pub fn new(elapsed: Duration, ops: u64, check: u64) -> Self {
        Outcome {
            elapsed,
            ops,
            check,
            extra: Vec::new(),
            wake: Duration::ZERO,
        }
    }

    /// wake_all's result from a park_memory run: the time per goroutine to wake all of
    /// them, with `total_ms` (spawning and parking them, then waking them) added.
    pub fn into_wake_all(mut self) -> Self {
        let total = self.elapsed + self.wake;
        self.extra
            .push(("total_ms", format!("{:.0}", total.as_secs_f64() * 1e3)));
        self.elapsed = self.wake;
        self
    }
}

/// Either a result or the reason the runtime cannot run the workload.
pub type Res = Result<Outcome, String>;

/// Prints the one result line.
pub fn report(runtime: &str, args: &Args, res: Res) {
    let prefix = format!("workload={} runtime={runtime} n={}", args.workload, args.n);
    match res {
        Ok(o) => {
            let ns = o.elapsed.as_nanos() as f64 / o.ops.max(1) as f64;
            let mut line = format!("{prefix} ns_per_op={ns:.1} check={}", o.check);
            for (k, v) in &o.extra {
                line.push_str(&format!(" {k}={v}"));
            }
            if let Some(kb) = status_kb("VmHWM") {
                line.push_str(&format!(" hwm_kb={kb}"));
            }
            println!("{line}");
        }
        Err(reason) => println!(
            "{prefix} ns_per_op=n/a reason={}",
            reason.replace('\n', " ")
        ),
    }
}

/// A field of /proc/self/status in kB (VmRSS, VmHWM).
pub fn status_kb(field: &str) -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    for line in s.lines() {
        if let Some(rest) = line.strip_prefix(field) {
            if let Some(rest) = rest.strip_prefix(':') {
                return rest.trim().trim_end_matches("kB").trim().parse().ok();
            }
        }
    }
    None
}

/// park_memory's measurement: RSS before spawning, then peak RSS once all
/// N goroutines are parked. Adds `bytes_per_g`, `rss_before_kb`,
/// `rss_parked_kb` and `hwm_parked_kb` to the outcome.
pub struct ParkMemory {
    before_kb: u64,
}

impl ParkMemory {
    pub fn start() -> Self {
        ParkMemory {
            before_kb: status_kb("VmRSS").unwrap_or(0),
        }
    }

    /// Call once every goroutine is parked.
    pub fn parked(&self, n: u64, o: &mut Outcome) {
        let rss = status_kb("VmRSS").unwrap_or(0);
        let hwm = status_kb("VmHWM").unwrap_or(0);
        let per = (hwm.saturating_sub(self.before_kb) * 1024) as f64 / n.max(1) as f64;
        o.extra.push(("bytes_per_g", format!("{per:.0}")));
        o.extra.push(("rss_before_kb", self.before_kb.to_string()));
        o.extra.push(("rss_parked_kb", rss.to_string()));
        o.extra.push(("hwm_parked_kb", hwm.to_string()));
    }
}

/// How long goroutine `i` of the timers workload sleeps: 1..=100 ms,
/// spread by a multiplicative hash so every runtime sleeps the same set.
/// Must match `timerMs` in go/main.go.
pub fn timer_ms(i: u64) -> u64 {
    (i.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 33) % 100 + 1
}

/// Sum 0 + 1 + ... + (n-1): the answer of skynet, pingpong, mpmc and select.
pub fn triangle(n: u64) -> u64 {
    n * n.saturating_sub(1) / 2
}

/// How long park_memory lets the last goroutines settle into their park
/// after all have announced themselves.
pub const SETTLE: Duration = Duration::from_millis(50);

/// tcp_echo's client side over any blocking stream: `rounds` round trips of a `TCP_MSG`
/// message; returns the bytes echoed back. (Tokio's async version is its own.)
pub fn echo_client<S: std::io::Read + std::io::Write>(
    mut conn: S,
    rounds: u64,
) -> std::io::Result<u64> {
    let mut msg = [0u8; TCP_MSG];
    for (i, b) in msg.iter_mut().enumerate() {
        *b = i as u8;
    }
    let mut buf = [0u8; TCP_MSG];
    let mut total = 0;
    for _ in 0..rounds {
        conn.write_all(&msg)?;
        conn.read_exact(&mut buf)?;
        total += buf.len() as u64;
    }
    Ok(total)
}

/// tcp_echo's server side over any blocking stream: echoes until the peer closes.
pub fn echo_serve<S: std::io::Read + std::io::Write>(mut conn: S) {
    let mut buf = [0u8; TCP_MSG];
    loop {
        match conn.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(k) => {
                if conn.write_all(&buf[..k]).is_err() {
                    return;
                }
            }
        }
    }
}

/// The fixed answer of the raw HTTP servers (http.sh): status 200 and a 13-byte body.
pub const HTTP_RESPONSE: &[u8] =
    b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 13\r\n\r\nHello, World!";

/// The raw HTTP servers' hand parsing: counts the ends of request headers (`\r\n\r\n`) in
/// a byte stream read in pieces. Request bodies are not supported.
#[derive(Debug, Default)]
pub struct RequestEnds {
    /// How much of "\r\n\r\n" the bytes seen so far end with.
    matched: u8,
}

impl RequestEnds {
    /// Feeds the next bytes read; returns how many requests they complete.
    pub fn count(&mut self, bytes: &[u8]) -> usize {
        let mut done = 0;
        for &b in bytes {
            self.matched = match (self.matched, b) {
                (0 | 2, b'\r') => self.matched + 1,
                (1 | 3, b'\n') => self.matched + 1,
                (_, b'\r') => 1,
                _ => 0,
            };
            if self.matched == 4 {
                done += 1;
                self.matched = 0;
            }
        }
        done
    }
}

/// timer_lateness: sleeps per sleeper goroutine (alternately `sleep` and `after` where the
/// runtime has both), each of `lateness_ms` milliseconds.
pub const LATENESS_ROUNDS: u64 = 5;
/// timer_lateness: each load goroutine spins this long between yields.
pub const LATENESS_SPIN: Duration = Duration::from_micros(50);

/// How long sleeper `i` sleeps in round `k` of timer_lateness: 1-10 ms. Must match
/// `latenessMs` in go/main.go.
pub fn lateness_ms(i: u64, k: u64) -> u64 {
    timer_ms(i * LATENESS_ROUNDS + k) % 10 + 1
}

/// Busy work of one timer_lateness load goroutine between two yields.
pub fn spin_for(d: Duration) {
    let start = std::time::Instant::now();
    while start.elapsed() < d {
        std::hint::spin_loop();
    }
}

/// The timer_lateness result from every sample (how late each timer fired, in ns):
/// `ns_per_op` is the 99th percentile, with p50, p99 and max in microseconds beside it.
pub fn lateness_outcome(mut late_ns: Vec<u64>) -> Outcome {
    late_ns.sort_unstable();
    let at = |p: f64| late_ns[((late_ns.len() - 1) as f64 * p) as usize];
    let us = |ns: u64| format!("{:.1}", ns as f64 / 1000.0);
    let (p50, p99, max) = (at(0.5), at(0.99), at(1.0));
    let mut o = Outcome::new(Duration::from_nanos(p99), 1, late_ns.len() as u64);
    o.extra = vec![
        ("p50_us", us(p50)),
        ("p99_us", us(p99)),
        ("max_us", us(max)),
    ];
    o
}
