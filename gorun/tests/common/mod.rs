//! Helpers shared by the test binaries: re-running one test of this binary in a child
//! process (for tests that must crash) and inspecting its exit code and stderr; counting
//! drops (for tests that check what unwinding releases).

#![allow(dead_code)]

use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

const CHILD_ENV: &str = "GORUN_TEST_CHILD";

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
    run_child_with(name, &[])
}

/// Runs the test `name` of the current test binary in a child process, with `env` set.
pub fn run_child_with(name: &str, env: &[(&str, &str)]) -> ChildOutput {
    let exe = std::env::current_exe().expect("test binary path");
    let out = Command::new(exe)
        .args([name, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, "1")
        .env("RUST_BACKTRACE", "0")
        .envs(env.iter().copied())
        .output()
        .expect("run child test");
    ChildOutput {
        status: out.status,
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Counts its drops in the shared counter: put one in a goroutine to see it unwound.
pub struct DropFlag(pub Arc<AtomicUsize>);

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}
