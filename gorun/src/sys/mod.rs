//! The platform layer: every operating-system call whose availability or meaning differs
//! between Linux and macOS, behind one interface, so the rest of the crate names no
//! `target_os`. Linux is the reference; macOS gets an equivalent or switches the feature
//! off, and says why here:
//!
//! | need                         | Linux                               | macOS                    |
//! |------------------------------|-------------------------------------|--------------------------|
//! | a thread's id                | `gettid`                            | `pthread_threadid_np`    |
//! | stack guards                 | `MADV_GUARD_INSTALL` (6.13+, probed), else `mprotect` | `mprotect` |
//! | no huge pages in stack slots | `MADV_NOHUGEPAGE`                   | nothing to do            |
//! | per-process mapping limit    | `vm.max_map_count`                  | none                     |
//! | copy-on-park                 | on                                  | off (see [`COPY_ON_PARK`]) |
//! | threads gorun does not own   | `/proc/self/task`, state per thread | only how many there are  |
//!
//! Invariants: [`thread_id`] is unique among the live threads of the process and stable for
//! a thread's life; [`foreign_threads`] never leaves out a live thread that is not in the
//! given set (when it cannot list them it says so), so the deadlock detector built on it
//! can only err towards not reporting. Nothing here is called from a signal handler.

mod ticks;
pub(crate) use ticks::ticks;

#[cfg(target_os = "linux")]
mod linux;
#[cfg(target_os = "linux")]
pub(crate) use linux::*;

#[cfg(target_os = "macos")]
mod macos;
#[cfg(target_os = "macos")]
pub(crate) use macos::*;

#[cfg(not(any(target_os = "linux", target_os = "macos")))]
compile_error!(
    "gorun runs on Linux and macOS only; Windows and other systems are not supported yet"
);
