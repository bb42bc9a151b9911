fn rss_kb(field: &str) -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap();
    s.lines()
        .find(|l| l.starts_with(field))
        .unwrap()
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap()
}
fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(100_000);
    gorun::run(move || {
        let before = rss_kb("VmRSS:");
        let gate = gorun::sync::WaitGroup::new();
        gate.add(1);
        let depth = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let mut hs = Vec::with_capacity(n);
        for _ in 0..n {
            let g = gate.clone();
            let d = depth.clone();
            hs.push(gorun::go(move || {
                let x = 0u8;
                d.store(
                    &x as *const u8 as usize,
                    std::sync::atomic::Ordering::Relaxed,
                );
                g.wait();
            }));
        }
        gorun::sleep(std::time::Duration::from_millis(200));
        let peak = rss_kb("VmHWM:");
        let m = gorun::metrics();
        println!(
            "n={n} per goroutine: {} B (peak {} MB) evictions={} avg copy={} B",
            (peak - before) * 1024 / n as u64,
            peak / 1024,
            m.evictions,
            m.evicted_bytes / m.evictions.max(1)
        );
        gate.done();
        for h in hs {
            h.join().unwrap();
        }
    });
}
