//! How deep ordinary code gets on a goroutine stack: the measurements behind the default
//! stack size and the overflow report's hint (see `Builder::stack_size`).
//!
//! `cargo run -p stack-depth` in `benchmarks/` (a debug build: the worst case, frames are
//! several times larger than in release) re-runs itself in child processes, each with one
//! workload on one stack size, and binary-searches:
//!
//! - for `serde_json` parsing (and dropping) arrays nested `N` deep (`[[[...]]]`, recursion
//!   limit off), the largest `N` that fits in each stack size;
//! - for `regex` compiling a sizeable pattern (an alternation of 500 words, case-insensitive,
//!   with Unicode classes), and one with groups nested 200 deep (`regex` refuses 250), the smallest
//!   stack size that works.
//!
//! A child that overflows dies with gorun's stack-overflow report (exit code 2); the
//! parent only looks at the exit status.

use std::process::{Command, Stdio};

use serde::Deserialize;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() == 4 {
        let n: usize = args[2].parse().expect("depth");
        let stack: usize = args[3].parse().expect("stack size");
        child(&args[1], n, stack);
        return;
    }
    let profile = if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    };
    println!("stack use of ordinary code on a goroutine stack ({profile} build)\n");
    println!("serde_json::Value from arrays nested N deep (parse and drop):");
    for kib in [16, 32, 64, 128, 256, 1024] {
        let n = largest(|n| fits("json", n, kib << 10), 1 << 20);
        let per = (kib << 10) / n.max(1);
        println!("  {kib:>5} KiB stack: N <= {n:>6}  (~{per} bytes per level)");
    }
    println!("regex::Regex::new, smallest stack that works:");
    for (name, what) in [
        ("regex-words", "alternation of 500 words, Unicode classes"),
        ("regex-nested", "groups nested 200 deep"),
    ] {
        // Pages of 4 KiB from 16 KiB (the smallest stack gorun makes) up to 8 MiB.
        let pages = smallest(|p| fits(name, 0, p * 4096), 4, 2048);
        println!("  {what}: {} KiB", pages * 4);
    }
}

/// The largest `n` in `1..=max` for which `ok(n)` holds, assuming it holds up to some point
/// and not beyond (0 if not even for 1).
fn largest(ok: impl Fn(usize) -> bool, max: usize) -> usize {
    let (mut lo, mut hi) = (0, max + 1); // ok(lo) (or lo == 0), !ok(hi)
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if ok(mid) {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    lo
}

/// The smallest `n` in `min..=max` for which `ok(n)` holds (`max` if none).
fn smallest(ok: impl Fn(usize) -> bool, min: usize, max: usize) -> usize {
    min + largest(|k| !ok(min + k - 1), max - min + 1)
}

/// Whether the workload `what` at depth `n` completes on a goroutine stack of `stack`
/// bytes, in a child process.
fn fits(what: &str, n: usize, stack: usize) -> bool {
    let status = Command::new(std::env::current_exe().expect("own path"))
        .args([what, &n.to_string(), &stack.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("run a child");
    match status.code() {
        Some(0) => true,
        Some(2) => false, // the stack overflow report's exit code
        _ => panic!("{what} (n = {n}, stack = {stack}) failed otherwise: {status}"),
    }
}

/// Runs the workload in a goroutine whose stack is `stack` bytes (the runtime's default,
/// so it can also be below the usual default).
fn child(what: &str, n: usize, stack: usize) {
    let what = what.to_string();
    let ok = gorun::Builder::new()
        .workers(1)
        .stack_size(stack)
        .run(move || gorun::go(move || workload(&what, n)).join().unwrap());
    std::process::exit(if ok { 0 } else { 1 }); // 2 is an overflow
}

fn workload(what: &str, n: usize) -> bool {
    match what {
        "json" => {
            let text = "[".repeat(n) + &"]".repeat(n);
            let mut de = serde_json::Deserializer::from_str(&text);
            de.disable_recursion_limit();
            let v = serde_json::Value::deserialize(&mut de).expect("valid JSON");
            let ok = v.is_array();
            drop(v); // dropping a nested Value recurses too
            ok
        }
        "regex-words" => {
            let words: Vec<String> = (0..500).map(|i| format!(r"word{i}\d+")).collect();
            let pattern = format!(r"(?i)\b(?:{})\b", words.join("|"));
            regex::Regex::new(&pattern).is_ok_and(|re| re.is_match("a WORD427 b"))
        }
        "regex-nested" => {
            let pattern = "(".repeat(200) + "a" + &")".repeat(200);
            regex::Regex::new(&pattern).is_ok_and(|re| re.is_match("a"))
        }
        _ => panic!("unknown workload {what}"),
    }
}
