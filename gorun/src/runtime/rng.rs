//! The crate's one random generator: each worker owns one (`Worker::rng`), and [`random`]
//! draws from the calling worker's, so a seeded runtime (see `seeded`) makes every random
//! choice of the scheduler and of `select!` from one stream. Unseeded workers, and plain
//! threads (a `select!` in the blocking pool, say) through a per-thread generator, are
//! seeded from the clock, so unseeded runs differ as Go's do.
//!
//! Owner only: a generator is a `Cell`, touched by the thread that owns it.

use std::cell::Cell;

use super::worker;

/// A xorshift64 generator: fast, and good enough for victim choice, `select!`'s order and
/// scheduling draws. Never 0 (xorshift's fixed point).
pub(crate) struct Rng(Cell<u64>);

impl Rng {
    /// A generator seeded with `seed` (any value, 0 included).
    pub(crate) fn new(seed: u64) -> Rng {
        // One splitmix64 step spreads neighbouring seeds (0, 1, 2, ...) apart.
        let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        Rng(Cell::new(if z == 0 { 1 } else { z }))
    }

    pub(crate) fn next_u64(&self) -> u64 {
        let mut x = self.0.get();
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0.set(x);
        x
    }

    /// A number in `0..n` (`n > 0`), without division.
    pub(crate) fn below(&self, n: usize) -> usize {
        (((self.next_u64() >> 32) * n as u64) >> 32) as usize
    }
}

thread_local! {
    /// The generator of a thread that is not a worker, seeded on first use.
    static THREAD_RNG: Rng = Rng::new(clock_seed());
}

/// A seed that differs between runs and threads.
pub(crate) fn clock_seed() -> u64 {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let here = &t as *const u64 as u64; // differs between threads
    t.rotate_left(32) ^ here
}

/// A number in `0..n` (`n > 0`) from the calling worker's generator (seeded under
/// `Builder::seed`), or from this thread's. Under loom, where a model must be
/// deterministic, always 0.
pub(crate) fn random(n: usize) -> usize {
    if cfg!(loom) {
        return 0;
    }
    worker::with_worker(|w| match w {
        Some(w) => w.rng.below(n),
        None => THREAD_RNG.with(|r| r.below(n)),
    })
}
