//! Helpers for tests that must crash: they re-run one test of this binary in a child
//! process and inspect its exit code and stderr.

#![allow(dead_code)]

use std::process::Command;

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
    let exe = std::env::current_exe().expect("test binary path");
    let out = Command::new(exe)
        .args([name, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, "1")
        .env("RUST_BACKTRACE", "0")
        .output()
        .expect("run child test");
    ChildOutput {
        status: out.status,
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}
