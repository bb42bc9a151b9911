//! Deterministic schedules: `Builder::seed`, `GORUN_SEED` and `gorun::check`. Runs that
//! must fail (a race found by `check`, a replay) run in child processes, whose stderr
//! carries the seed.

mod common;

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex as StdMutex};

use common::{in_child, run_child, run_child_with};
use gorun::{chan, go, select, Builder};

type Log = Arc<StdMutex<Vec<String>>>;

fn note(log: &Log, event: String) {
    log.lock().unwrap().push(event);
}

/// A program with scheduling choices everywhere: spawns, a buffered and an unbuffered
/// channel raced in `select!`, a gorun mutex, yields. Returns its trace of events.
fn program(seed: u64) -> Vec<String> {
    let log: Log = Arc::default();
    let l = log.clone();
    Builder::new().seed(seed).run(move || {
        let (tx, rx) = chan::<(u32, u32)>(2);
        let (tx0, rx0) = chan::<u32>(0);
        let m = Arc::new(gorun::sync::Mutex::new(0u32));
        let hs: Vec<_> = (0..4u32)
            .map(|id| {
                let (tx, tx0, m, l) = (tx.clone(), tx0.clone(), m.clone(), l.clone());
                go(move || {
                    for step in 0..3 {
                        note(&l, format!("g{id} step {step}"));
                        if step == 1 {
                            let mut n = m.lock();
                            *n += 1;
                            note(&l, format!("g{id} holds the lock, count {n}"));
                        }
                        select! {
                            send(tx, (id, step)) -> _ => note(&l, format!("g{id} sent buffered")),
                            send(tx0, id) -> _ => note(&l, format!("g{id} sent unbuffered")),
                        }
                        gorun::yield_now();
                    }
                })
            })
            .collect();
        for _ in 0..12 {
            select! {
                recv(rx) -> v => note(&l, format!("main got {:?}", v.unwrap())),
                recv(rx0) -> v => note(&l, format!("main got {}", v.unwrap())),
            }
        }
        for h in hs {
            h.join().unwrap();
        }
    });
    Arc::try_unwrap(log).unwrap().into_inner().unwrap()
}

#[test]
fn one_seed_replays_the_same_trace_100_times() {
    let first = program(42);
    assert_eq!(first.len(), 4 * 3 * 2 + 4 + 12);
    for run in 1..100 {
        assert_eq!(program(42), first, "run {run} of seed 42 differs");
    }
}

#[test]
fn different_seeds_give_different_interleavings() {
    let traces: HashSet<Vec<String>> = (0..20).map(program).collect();
    assert!(
        traces.len() >= 2,
        "20 seeds gave {} interleaving(s)",
        traces.len()
    );
}

/// Which of two always-ready cases `select!` picks, 64 times.
fn select_picks(seed: u64) -> Vec<u8> {
    Builder::new().seed(seed).run(|| {
        let (a_tx, a) = chan::<()>(64);
        let (b_tx, b) = chan::<()>(64);
        for _ in 0..64 {
            a_tx.send(()).unwrap();
            b_tx.send(()).unwrap();
        }
        (0..64)
            .map(|_| {
                select! {
                    recv(a) -> _ => 0,
                    recv(b) -> _ => 1,
                }
            })
            .collect()
    })
}

#[test]
fn select_picks_follow_the_seed() {
    assert_eq!(select_picks(3), select_picks(3));
    let distinct: HashSet<_> = (0..8).map(select_picks).collect();
    assert!(distinct.len() >= 2);
    assert!(select_picks(3).contains(&0) && select_picks(3).contains(&1));
}

#[test]
fn a_seeded_runtime_has_one_worker_and_blocking_runs_inline() {
    Builder::new().workers(4).seed(9).run(|| {
        assert_eq!(gorun::metrics().workers, 1);
        let here = std::thread::current().id();
        assert_eq!(gorun::blocking(move || std::thread::current().id()), here);
    });
}

#[test]
fn gorun_seed_overrides_and_sets_the_seed() {
    if in_child() {
        // GORUN_SEED=5: both runs are scheduled with seed 5 whatever the builder says.
        let a = program(99);
        assert_eq!(a, program(1234));
        let b = Builder::new().run(|| gorun::metrics().workers);
        assert_eq!(b, 1, "an unseeded builder is seeded by GORUN_SEED");
        println!("TRACE {a:?}");
        return;
    }
    let out = run_child_with(
        "gorun_seed_overrides_and_sets_the_seed",
        &[("GORUN_SEED", "5")],
    );
    assert!(out.status.success(), "child failed:\n{}", out.stderr);
    assert!(out.stdout.contains(&format!("TRACE {:?}", program(5))));
}

/// A check-then-act race across a channel send: each goroutine sends a token unless the
/// flag says one was sent, and sets the flag after sending. Only a switch at the send lets
/// both through. Returns the number of tokens sent (1 unless the race struck), recording
/// each step in `log`.
fn token_race(log: &Log) -> usize {
    let (tx, rx) = chan::<u32>(2);
    let sent = Arc::new(AtomicBool::new(false));
    let hs: Vec<_> = (0..2u32)
        .map(|id| {
            let (tx, sent, log) = (tx.clone(), sent.clone(), log.clone());
            go(move || {
                note(&log, format!("g{id} starts"));
                if !sent.load(Ordering::SeqCst) {
                    note(&log, format!("g{id} sees no token"));
                    tx.send(id).unwrap();
                    note(&log, format!("g{id} sent"));
                    sent.store(true, Ordering::SeqCst);
                }
            })
        })
        .collect();
    for h in hs {
        h.join().unwrap();
    }
    rx.len()
}

fn racy_body() {
    let log: Log = Arc::default();
    let tokens = token_race(&log);
    if tokens != 1 {
        let trace = log.lock().unwrap().join(", ");
        panic!("RACE tokens={tokens} trace=[{trace}]");
    }
}

#[test]
fn racy_child() {
    if in_child() {
        gorun::check(100, racy_body);
    }
}

/// The lines of a child's stderr that `check` printed and the race's panic message.
fn failure(stderr: &str) -> (u64, usize, String) {
    let line = stderr
        .lines()
        .find(|l| l.starts_with("gorun::check: run "))
        .unwrap_or_else(|| panic!("no failure line in:\n{stderr}"));
    // "gorun::check: run K of N failed with seed S"
    let words: Vec<&str> = line.split_whitespace().collect();
    let run: usize = words[2].parse().unwrap();
    let seed: u64 = words.last().unwrap().parse().unwrap();
    assert!(
        stderr.contains(&format!("GORUN_SEED={seed} cargo test")),
        "no replay command in:\n{stderr}"
    );
    let race = stderr
        .lines()
        .find(|l| l.contains("RACE tokens="))
        .unwrap_or_else(|| panic!("no race report in:\n{stderr}"))
        .to_string();
    (seed, run, race)
}

#[test]
fn check_finds_a_check_then_act_race_and_its_seed_replays_it() {
    let out = run_child("racy_child");
    assert!(
        !out.status.success(),
        "check missed the race:\n{}",
        out.stderr
    );
    let (seed, run, race) = failure(&out.stderr);
    assert!(run <= 100);
    assert!(race.contains("tokens=2"), "{race}");
    let seed_s = seed.to_string();
    for _ in 0..3 {
        let replay = run_child_with("racy_child", &[("GORUN_SEED", &seed_s)]);
        assert!(
            !replay.status.success(),
            "replay passed:\n{}",
            replay.stderr
        );
        let (s, r, again) = failure(&replay.stderr);
        assert_eq!((s, r), (seed, 1), "a replay runs only the given seed");
        assert_eq!(again, race, "the replay took another interleaving");
    }
}

#[test]
fn check_passes_a_correct_body() {
    // The same shape without the race: the flag is claimed before sending.
    gorun::check(50, || {
        let (tx, rx) = chan::<()>(2);
        let sent = Arc::new(AtomicBool::new(false));
        let hs: Vec<_> = (0..2)
            .map(|_| {
                let (tx, sent) = (tx.clone(), sent.clone());
                go(move || {
                    if !sent.swap(true, Ordering::SeqCst) {
                        tx.send(()).unwrap();
                    }
                })
            })
            .collect();
        hs.into_iter().for_each(|h| h.join().unwrap());
        assert_eq!(rx.len(), 1);
    });
}

#[test]
fn len_then_recv_child() {
    if in_child() {
        // Two goroutines each take the one value if `len()` says there is one: both may
        // see it, and the loser blocks forever (a deadlock that check reports).
        gorun::check(100, || {
            let (tx, rx) = chan::<u32>(1);
            tx.send(7).unwrap();
            let hs: Vec<_> = (0..2)
                .map(|_| {
                    let rx = rx.clone();
                    go(move || {
                        if !rx.is_empty() {
                            rx.recv().unwrap();
                        }
                    })
                })
                .collect();
            hs.into_iter().for_each(|h| h.join().unwrap());
        });
    }
}

#[test]
fn check_reports_a_len_then_recv_deadlock_with_its_seed() {
    let out = run_child("len_then_recv_child");
    assert!(!out.status.success());
    assert!(
        out.stderr.contains("failed with seed")
            && out.stderr.contains("all goroutines are asleep - deadlock!"),
        "{}",
        out.stderr
    );
}

#[test]
fn detached_panic_child() {
    if in_child() {
        Builder::new().seed(3).run(|| {
            drop(go(|| panic!("boom")));
            let (_tx, rx) = chan::<()>(0);
            let _ = rx.recv_timeout(std::time::Duration::from_secs(60));
        });
    }
}

#[test]
fn a_fatal_report_under_a_seed_names_the_seed() {
    let out = run_child("detached_panic_child");
    assert_eq!(out.status.code(), Some(2), "{}", out.stderr);
    assert!(out.stderr.contains("panic: boom"), "{}", out.stderr);
    assert!(
        out.stderr.contains("GORUN_SEED=3 cargo test"),
        "{}",
        out.stderr
    );
}

#[test]
fn a_seeded_run_of_many_goroutines_stays_linear() {
    // Each switch draws among every runnable goroutine: that must not cost their number.
    let total = Builder::new().seed(11).run(|| {
        let (tx, rx) = chan::<u64>(0);
        for i in 0..20_000u64 {
            let tx = tx.clone();
            drop(go(move || tx.send(i).unwrap()));
        }
        drop(tx);
        rx.iter().sum::<u64>()
    });
    assert_eq!(total, 20_000 * 19_999 / 2);
}

#[test]
fn explored_schedule_child() {
    if in_child() {
        // Under GORUN_SEED, `check` runs that one schedule: 100 times the same trace.
        let mut first: Option<Vec<String>> = None;
        for run in 0..100 {
            let log: Log = Arc::default();
            let l = log.clone();
            gorun::check(1, move || {
                token_race(&l);
            });
            let trace = log.lock().unwrap().clone();
            match &first {
                None => first = Some(trace),
                Some(f) => assert_eq!(&trace, f, "run {run} took another interleaving"),
            }
        }
        println!("TRACE {:?}", first.unwrap());
    }
}

#[test]
fn check_schedules_replay_exactly_and_differ_between_seeds() {
    let traces: HashSet<String> = ["0", "1", "2", "3", "4", "5"]
        .iter()
        .map(|seed| {
            let out = run_child_with("explored_schedule_child", &[("GORUN_SEED", seed)]);
            assert!(out.status.success(), "seed {seed}:\n{}", out.stderr);
            let line = out
                .stdout
                .lines()
                .find_map(|l| l.find("TRACE ").map(|i| &l[i..]));
            line.expect("the child prints its trace").to_string()
        })
        .collect();
    assert!(traces.len() >= 2, "6 seeds gave one interleaving");
}

/// `#[gorun::test(seed = n)]` runs the test on a seeded runtime: one worker.
#[gorun::test(seed = 3)]
fn test_macro_takes_a_seed() {
    assert_eq!(gorun::metrics().workers, 1);
    let h = gorun::go(|| 7);
    assert_eq!(h.join().unwrap(), 7);
}
