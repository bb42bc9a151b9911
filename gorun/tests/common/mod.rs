//! Helpers shared by the test binaries: re-running one test of this binary in a child
//! process (for tests that must crash) and inspecting its exit code and stderr; counting
//! drops (for tests that check what unwinding releases).

#![allow(dead_code)]

use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

const CHILD_ENV: &str = "GORUN_TEST_CHILD";

/// True under user-mode emulation: `GORUN_EMULATED` is set, as `.ci/aarch64` does.
pub fn emulated() -> bool {
    std::env::var_os("GORUN_EMULATED").is_some()
}

/// True under user-mode emulation, after printing why the calling test skips itself there:
/// a test that cannot work under emulation calls this first and returns if it answers true.
pub fn skip_under_emulation(why: &str) -> bool {
    let emulated = emulated();
    if emulated {
        eprintln!("skipped under emulation: {why}");
    }
    emulated
}

/// True inside the child process started by [`run_child`].
pub fn in_child() -> bool {
    std::env::var_os(CHILD_ENV).is_some()
}

pub struct ChildOutput {
    pub status: std::process::ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

/// Runs the test `name` of the current test binary in a child process.
pub fn run_child(name: &str) -> ChildOutput {
    run_child_full(name, &[], std::time::Duration::from_secs(600))
}

/// Runs the test `name` of the current test binary in a child process, with `env` set.
pub fn run_child_with(name: &str, env: &[(&str, &str)]) -> ChildOutput {
    run_child_full(name, env, std::time::Duration::from_secs(600))
}

/// Runs the test `name` in a child process, killing it (and failing) if it has not ended
/// within `limit`: for programs whose failure mode is a hang. The limit is generous; it
/// is not a timing assertion.
pub fn run_child_within(name: &str, limit: std::time::Duration) -> ChildOutput {
    run_child_full(name, &[], limit)
}

fn run_child_full(name: &str, env: &[(&str, &str)], limit: std::time::Duration) -> ChildOutput {
    let exe = std::env::current_exe().expect("test binary path");
    let mut child = Command::new(exe)
        .args([name, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, "1")
        .env("RUST_BACKTRACE", "0")
        .envs(env.iter().copied())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run child test");
    let read = |mut r: Box<dyn std::io::Read + Send>| {
        std::thread::spawn(move || {
            let mut s = Vec::new();
            let _ = r.read_to_end(&mut s);
            String::from_utf8_lossy(&s).into_owned()
        })
    };
    let out = read(Box::new(child.stdout.take().unwrap()));
    let err = read(Box::new(child.stderr.take().unwrap()));
    let start = std::time::Instant::now();
    let status = loop {
        if let Some(st) = child.try_wait().expect("wait for child") {
            break st;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "child test {name} hung (killed after {limit:?}); stderr:\n{}",
                err.join().unwrap()
            );
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    ChildOutput {
        status,
        stdout: out.join().unwrap(),
        stderr: err.join().unwrap(),
    }
}

/// Counts its drops in the shared counter: put one in a goroutine to see it unwound.
pub struct DropFlag(pub Arc<AtomicUsize>);

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}
