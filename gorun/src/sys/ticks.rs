//! A cheap, monotonic tick counter for the execution trace (`crate::trace`): the CPU's
//! time-stamp counter where there is one that user code may read, else nanoseconds since a
//! process-wide base. Ticks are converted to nanoseconds by calibration against `Instant`
//! (the trace samples both at its start and when it is written).
//!
//! Invariant: on x86_64 the counter is the invariant TSC, which Linux and macOS only use as
//! their clock source when it runs at a constant rate and is synchronised across cores, so
//! ticks read on different threads compare; where it is not the clock source the trace's
//! calibration still converts it, at worst with skew between threads of one trace.

/// The tick counter now.
#[cfg(target_arch = "x86_64")]
#[inline]
pub(crate) fn ticks() -> u64 {
    // SAFETY: `rdtsc` reads the time-stamp counter and touches no memory; every x86_64 CPU
    // has it, and neither Linux nor macOS forbid it to user code.
    unsafe { std::arch::x86_64::_rdtsc() }
}

/// The tick counter now (nanoseconds since a process-wide base here).
#[cfg(not(target_arch = "x86_64"))]
#[inline]
pub(crate) fn ticks() -> u64 {
    static BASE: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    BASE.get_or_init(std::time::Instant::now)
        .elapsed()
        .as_nanos() as u64
}
