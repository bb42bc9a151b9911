//! The execution trace (`Builder::trace`, `GORUN_TRACE`): files parsed back and checked
//! for structure — valid JSON, every run slice closed on its worker's track and run slices
//! of a track disjoint, every flow with both ends, park events with wait reasons,
//! cross-thread wake flows, and what a fatal exit leaves. Programs that end the process
//! run in child processes.

mod common;

use std::collections::HashMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{in_child, run_child_with};
use serde_json::Value;

/// A fresh path for a trace file of this test process.
fn trace_path(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("gorun-trace-{}-{name}.json", std::process::id()))
}

/// What a parsed trace holds, after every structural check passed.
struct Trace {
    events: Vec<Value>,
    /// Track names by tid.
    threads: HashMap<u64, String>,
    /// Run slices: (tid, start, end, goroutine, end reason).
    runs: Vec<(u64, f64, f64, u64, String)>,
    /// Flows: id -> (start tid, end tid).
    flows: HashMap<u64, (u64, u64)>,
    /// Events dropped, as the metadata counts them.
    dropped: u64,
}

impl Trace {
    fn named<'a>(&'a self, cat: &'a str) -> impl Iterator<Item = &'a Value> {
        self.events
            .iter()
            .filter(move |e| e["cat"].as_str() == Some(cat))
    }

    fn tid_named(&self, name: &str) -> Option<u64> {
        self.threads
            .iter()
            .find(|(_, n)| n.as_str() == name)
            .map(|(t, _)| *t)
    }
}

fn ts(e: &Value) -> f64 {
    e["ts"].as_f64().expect("an event has a numeric ts")
}

/// Reads and checks a trace file (panics on the first violation).
fn load(path: &Path) -> Trace {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("no trace at {}: {e}", path.display()));
    let root: Value = serde_json::from_str(&text).expect("the trace is valid JSON");
    let events = root["traceEvents"]
        .as_array()
        .expect("traceEvents is an array")
        .clone();
    let mut threads = HashMap::new();
    let mut dropped = 0;
    for e in &events {
        assert!(
            e["ph"].is_string() && e["pid"].is_u64() && e["tid"].is_u64(),
            "{e}"
        );
        if e["ph"] == "M" && e["name"] == "thread_name" {
            let name = e["args"]["name"].as_str().unwrap().to_string();
            threads.insert(e["tid"].as_u64().unwrap(), name);
        }
        if e["ph"] == "M" && e["name"] == "dropped_events" {
            dropped += e["args"]["dropped"].as_u64().unwrap();
        }
    }
    assert_eq!(
        root["otherData"]["dropped_events"].as_u64(),
        Some(dropped),
        "the per-track dropped counts add up to the total"
    );
    // Slices: closed (X with a duration), and a run slice's track is a worker's.
    let mut runs = Vec::new();
    for e in &events {
        let ph = e["ph"].as_str().unwrap();
        assert!(!matches!(ph, "B" | "E"), "slices are complete events: {e}");
        if ph == "X" {
            let dur = e["dur"].as_f64().expect("an X slice has a duration");
            assert!(dur >= 0.0, "{e}");
            assert!(threads.contains_key(&e["tid"].as_u64().unwrap()), "{e}");
        }
        if ph == "X" && e["cat"] == "run" {
            let tid = e["tid"].as_u64().unwrap();
            assert!(
                threads[&tid].starts_with("worker "),
                "a run on {}",
                threads[&tid]
            );
            let g = e["args"]["goroutine"]
                .as_u64()
                .expect("a run names its goroutine");
            let end = e["args"]["end"].as_str().expect("a run says why it ended");
            let start = ts(e);
            runs.push((
                tid,
                start,
                start + e["dur"].as_f64().unwrap(),
                g,
                end.to_string(),
            ));
        }
        if e["cat"] == "park" {
            assert_eq!(ph, "i");
            let reason = e["args"]["reason"].as_str().expect("a park has a reason");
            assert!(!reason.is_empty() && reason != "runnable", "{e}");
        }
    }
    // Run slices of one track never overlap.
    let mut by_track: HashMap<u64, Vec<(f64, f64)>> = HashMap::new();
    for (tid, s, e, _, _) in &runs {
        by_track.entry(*tid).or_default().push((*s, *e));
    }
    for (tid, mut v) in by_track {
        v.sort_by(|a, b| a.partial_cmp(b).unwrap());
        for w in v.windows(2) {
            assert!(
                w[0].1 <= w[1].0 + 1e-3,
                "run slices overlap on track {tid}: {:?} and {:?}",
                w[0],
                w[1]
            );
        }
    }
    // Flows: each id has one start and one end; the start lies in a slice of its track at
    // that time, the end at the start of a run slice of its track.
    let mut starts: HashMap<u64, &Value> = HashMap::new();
    let mut ends: HashMap<u64, &Value> = HashMap::new();
    for e in &events {
        let id = || e["id"].as_u64().expect("a flow event has an id");
        match e["ph"].as_str().unwrap() {
            "s" => assert!(starts.insert(id(), e).is_none(), "flow start twice: {e}"),
            "f" => {
                assert_eq!(e["bp"], "e", "{e}");
                assert!(ends.insert(id(), e).is_none(), "flow end twice: {e}")
            }
            _ => {}
        }
    }
    let mut keys: Vec<_> = starts.keys().collect();
    keys.sort();
    let mut end_keys: Vec<_> = ends.keys().collect();
    end_keys.sort();
    assert_eq!(keys, end_keys, "every flow has both its ends");
    // Slices by track, sorted by start (the flows' ends are looked up in them).
    let mut slices: HashMap<u64, Vec<(f64, f64)>> = HashMap::new();
    for e in events.iter().filter(|e| e["ph"] == "X") {
        let tid = e["tid"].as_u64().unwrap();
        slices
            .entry(tid)
            .or_default()
            .push((ts(e), ts(e) + e["dur"].as_f64().unwrap()));
    }
    for v in slices.values_mut() {
        v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    }
    let run_starts: std::collections::HashSet<(u64, u64)> =
        runs.iter().map(|r| (r.0, r.1.to_bits())).collect();
    let mut flows = HashMap::new();
    for (id, s) in &starts {
        let f = ends[id];
        let (st, ft) = (s["tid"].as_u64().unwrap(), f["tid"].as_u64().unwrap());
        let on = slices.get(&st).map(Vec::as_slice).unwrap_or(&[]);
        let before = on.partition_point(|x| x.0 <= ts(s));
        assert!(
            on[..before].iter().rev().any(|x| ts(s) <= x.1),
            "flow start outside any slice: {s}"
        );
        assert!(
            run_starts.contains(&(ft, ts(f).to_bits())),
            "flow end not at the start of a run: {f}"
        );
        assert!(ts(s) <= ts(f) + 1e-3, "a flow goes back in time: {s} {f}");
        flows.insert(*id, (st, ft));
    }
    Trace {
        events,
        threads,
        runs,
        flows,
        dropped,
    }
}

#[test]
fn a_ping_pong_trace_is_well_formed() {
    let path = trace_path("pingpong");
    gorun::Builder::new().workers(2).trace(&path).run(|| {
        let (ping_tx, ping_rx) = gorun::chan::<u32>(0);
        let (pong_tx, pong_rx) = gorun::chan::<u32>(0);
        let h = gorun::GoBuilder::new().name("ponger").go(move || {
            for v in &ping_rx {
                pong_tx.send(v + 1).unwrap();
            }
        });
        for i in 0..1000 {
            ping_tx.send(i).unwrap();
            assert_eq!(pong_rx.recv().unwrap(), i + 1);
        }
        drop(ping_tx);
        h.join().unwrap();
    });
    let t = load(&path);
    assert_eq!(t.tid_named("worker 0"), Some(1));
    assert_eq!(t.tid_named("worker 1"), Some(2));
    assert_eq!(t.dropped, 0);
    // Main and the ponger ran, each many times, and the ponger's runs carry its name.
    let ponger: Vec<_> = t
        .named("run")
        .filter(|e| e["args"]["name"] == "ponger")
        .collect();
    assert!(ponger.len() >= 1000, "{} runs of the ponger", ponger.len());
    assert!(ponger[0]["name"].as_str().unwrap().ends_with(" ponger"));
    assert!(t.runs.iter().any(|r| r.3 == 1));
    // Its last run ends with its exit; parks name the channel operation.
    assert!(t.runs.iter().any(|r| r.4 == "exit"));
    let reasons: Vec<_> = t
        .named("park")
        .map(|e| e["args"]["reason"].as_str().unwrap())
        .collect();
    assert!(
        reasons
            .iter()
            .all(|r| r.starts_with("chan ") || *r == "join"),
        "parks are the channel operations and main's join"
    );
    assert!(reasons.contains(&"join"));
    // Every wake-up that led to a run has its arrow (a thousand round trips at least),
    // and the spawn of the ponger too.
    let wakes = t.flows.len();
    assert!(wakes >= 2000, "{wakes} flows");
    assert!(t.named("spawn").count() >= 1);
    std::fs::remove_file(&path).ok();
}

#[test]
fn wake_flows_cross_threads() {
    let path = trace_path("cross");
    gorun::Builder::new().workers(2).trace(&path).run(|| {
        // A plain thread wakes a goroutine: its arrow starts on that thread's own track.
        let (tx, rx) = gorun::chan::<u32>(0);
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(5));
            tx.send(7).unwrap();
        });
        assert_eq!(rx.recv().unwrap(), 7);
        t.join().unwrap();
        // A timer wakes a sleeper (fired by the timer thread, or by a worker: whichever
        // gets to the due timer first).
        gorun::sleep(Duration::from_millis(2));
        // Goroutines that may run on the other worker, woken from this one.
        let (tx, rx) = gorun::chan::<u32>(0);
        let hs: Vec<_> = (0..8)
            .map(|_| {
                let rx = rx.clone();
                gorun::go(move || rx.recv().unwrap())
            })
            .collect();
        gorun::sleep(Duration::from_millis(5));
        for i in 0..8 {
            tx.send(i).unwrap();
        }
        for h in hs {
            h.join().unwrap();
        }
    });
    let t = load(&path);
    let cross = t.flows.values().filter(|(s, f)| s != f).count();
    assert!(cross >= 2, "{cross} cross-thread flows");
    let timers = t.tid_named("timers");
    let plain = t
        .flows
        .values()
        .any(|&(s, _)| s >= 1000 && Some(s) != timers);
    assert!(plain, "an arrow from the plain thread");
    let vias: Vec<_> = t
        .named("wake")
        .filter(|e| e["ph"] == "X")
        .map(|e| e["args"]["via"].as_str().unwrap())
        .collect();
    assert!(
        vias.contains(&"timer") && vias.contains(&"direct"),
        "{vias:?}"
    );
    assert!(
        t.named("timer").any(|e| e["ph"] == "i"),
        "the timer's batch"
    );
    std::fs::remove_file(&path).ok();
}

#[test]
fn blocking_calls_and_sockets_are_traced() {
    let path = trace_path("blocking");
    gorun::Builder::new().workers(2).trace(&path).run(|| {
        let n = gorun::blocking(|| {
            std::thread::sleep(Duration::from_millis(2));
            3
        });
        assert_eq!(n, 3);
        let l = gorun::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let server = gorun::go(move || {
            let (mut s, _) = l.accept().unwrap();
            let mut buf = [0u8; 4];
            s.read_exact(&mut buf).unwrap();
            buf
        });
        gorun::sleep(Duration::from_millis(5));
        let mut c = gorun::net::TcpStream::connect(addr).unwrap();
        c.write_all(b"ping").unwrap();
        assert_eq!(&server.join().unwrap(), b"ping");
    });
    let t = load(&path);
    let blocking: Vec<_> = t.named("blocking").collect();
    assert_eq!(blocking.len(), 1, "one blocking call");
    let pool = blocking[0]["tid"].as_u64().unwrap();
    assert!(
        t.threads[&pool].contains("blocking"),
        "{}",
        t.threads[&pool]
    );
    assert!(
        t.flows.values().any(|&(s, _)| s == pool),
        "the pool thread wakes its caller"
    );
    let reasons: Vec<_> = t
        .named("park")
        .map(|e| e["args"]["reason"].as_str().unwrap().to_string())
        .collect();
    assert!(reasons.iter().any(|r| r == "blocking"), "{reasons:?}");
    assert!(reasons.iter().any(|r| r == "IO wait"), "{reasons:?}");
    assert!(
        t.named("wake")
            .any(|e| e["ph"] == "X" && e["args"]["via"] == "netpoll"),
        "a socket wake-up by the netpoller"
    );
    assert!(t.named("netpoll").count() >= 1);
    std::fs::remove_file(&path).ok();
}

#[test]
fn evictions_and_restores_are_traced() {
    let path = trace_path("evict");
    let evictions = gorun::Builder::new()
        .workers(1)
        .resident_stack_budget(Some(0))
        .trace(&path)
        .run(|| {
            let (tx, rx) = gorun::chan::<u32>(0);
            let hs: Vec<_> = (0..16)
                .map(|_| {
                    let rx = rx.clone();
                    gorun::go(move || rx.recv().unwrap())
                })
                .collect();
            // Idle with parked goroutines over the budget: they are evicted.
            gorun::sleep(Duration::from_millis(50));
            for i in 0..16 {
                tx.send(i).unwrap();
            }
            for h in hs {
                h.join().unwrap();
            }
            gorun::metrics().evictions
        });
    assert!(
        evictions > 0,
        "over a zero budget, idle: the parked stacks are evicted"
    );
    let t = load(&path);
    let evict = t
        .named("stack")
        .filter(|e| e["name"].as_str().unwrap().starts_with("evict"))
        .map(|e| e["args"]["stacks"].as_u64().unwrap())
        .sum::<u64>();
    assert_eq!(evict, evictions, "the trace counts every eviction");
    let restores = t
        .named("stack")
        .filter(|e| e["name"].as_str().unwrap().starts_with("restore"))
        .count() as u64;
    assert_eq!(restores > 0, evictions > 0);
    std::fs::remove_file(&path).ok();
}

#[test]
fn a_full_ring_drops_the_oldest_and_stays_consistent() {
    let path = trace_path("overflow");
    gorun::Builder::new().workers(1).trace(&path).run(|| {
        let (tx, rx) = gorun::chan::<u32>(0);
        let h = gorun::go(move || rx.iter().count());
        for i in 0..100_000 {
            tx.send(i).unwrap();
        }
        drop(tx);
        assert_eq!(h.join().unwrap(), 100_000);
    });
    let t = load(&path);
    assert!(t.dropped > 0, "a ring of fixed size overflowed");
    assert!(t.runs.len() > 1000);
    std::fs::remove_file(&path).ok();
}

/// Child: a program that traces through `GORUN_TRACE` only.
#[test]
fn child_env_traced() {
    if !in_child() {
        return;
    }
    gorun::run(|| {
        let h = gorun::go(|| gorun::sleep(Duration::from_millis(1)));
        h.join().unwrap();
    });
}

#[test]
fn gorun_trace_env_var_writes_the_trace() {
    let path = trace_path("env");
    let out = run_child_with(
        "child_env_traced",
        &[("GORUN_TRACE", path.to_str().unwrap())],
    );
    assert!(out.status.success(), "{}", out.stderr);
    let t = load(&path);
    assert!(
        t.runs.iter().any(|r| r.3 == 1 && r.4 == "exit"),
        "main ran and exited"
    );
    assert!(t.named("park").any(|e| e["args"]["reason"] == "sleep"));
    std::fs::remove_file(&path).ok();
}

/// Child: deadlocks with a trace on; `run` exits with code 2 after writing it. The path
/// comes from the parent.
#[test]
fn child_deadlock_traced() {
    if !in_child() {
        return;
    }
    let path = std::env::var("TRACE_OUT").unwrap();
    gorun::Builder::new().trace(path).run(|| {
        let (_tx, rx) = gorun::chan::<u32>(0);
        let h = gorun::GoBuilder::new().name("stuck").go(move || rx.recv());
        h.join().unwrap().ok();
    });
}

#[test]
fn a_deadlock_still_writes_the_trace() {
    let path = trace_path("deadlock");
    let out = run_child_with(
        "child_deadlock_traced",
        &[("TRACE_OUT", path.to_str().unwrap())],
    );
    assert_eq!(out.status.code(), Some(2), "{}", out.stderr);
    assert!(out.stderr.contains("all goroutines are asleep"));
    let t = load(&path);
    let reasons: Vec<_> = t
        .named("park")
        .map(|e| e["args"]["reason"].as_str().unwrap().to_string())
        .collect();
    assert!(reasons.contains(&"join".to_string()), "{reasons:?}");
    assert!(reasons.contains(&"chan receive".to_string()), "{reasons:?}");
    std::fs::remove_file(&path).ok();
}

/// Child: a goroutine's panic nobody joins is fatal; the trace is written first.
#[test]
fn child_fatal_panic_traced() {
    if !in_child() {
        return;
    }
    let path = std::env::var("TRACE_OUT").unwrap();
    gorun::Builder::new().trace(path).run(|| {
        drop(gorun::go(|| panic!("boom")));
        gorun::sleep(Duration::from_secs(10));
    });
}

#[test]
fn a_fatal_panic_still_writes_the_trace() {
    let path = trace_path("panic");
    let out = run_child_with(
        "child_fatal_panic_traced",
        &[("TRACE_OUT", path.to_str().unwrap())],
    );
    assert_eq!(out.status.code(), Some(2), "{}", out.stderr);
    assert!(out.stderr.contains("panic: boom"), "{}", out.stderr);
    let t = load(&path);
    // The panicking goroutine was running when the process ended: its slice is closed
    // at the end of the trace.
    assert!(
        t.runs.iter().any(|r| r.4 == "running at trace end"),
        "{:?}",
        t.runs
    );
    std::fs::remove_file(&path).ok();
}
