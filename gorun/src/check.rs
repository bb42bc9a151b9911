//! `gorun::check`: a test runs under many seeded schedules, with every gorun operation a
//! switch point, and a failure names the seed that replays it (see "Deterministic
//! schedules" in the crate docs). The schedules themselves are `runtime::seeded`'s; this
//! module only loops over seeds and reports.

use std::panic::{self, AssertUnwindSafe};

use crate::runtime::seeded;
use crate::Builder;

/// Runs `body` as the main goroutine of `iterations` seeded runtimes (seeds `0`, `1`, ...,
/// `iterations - 1`; see [`Builder::seed`]), each with a forced switch point before and
/// after every gorun operation (channel operations, `select!`, `Mutex` and `RwLock` lock
/// and unlock, `WaitGroup`, `Cond` signals, `Semaphore`, spawns, joins), where the seeded
/// scheduler may run any other
/// runnable goroutine. This explores interleavings that a normal run almost never shows,
/// such as a check-then-act race across a channel send.
///
/// When a run fails (a panic in `body` or in a goroutine whose panic reaches `body`
/// through [`JoinHandle::join`](crate::JoinHandle::join), or a deadlock) `check` prints
/// the seed and how to replay exactly that schedule on stderr, then fails the same way:
/// the panic is resumed, a deadlock panics with its report. A detached goroutine's panic
/// stops the process as usual, after the same replay line.
///
/// With `GORUN_SEED` set, only that seed runs: `GORUN_SEED=17 cargo test my_test` replays
/// the failure printed as seed 17, with the same interleaving and output.
///
/// `body` runs once per iteration on the calling thread (it need be neither `Send` nor
/// `'static`), so state shared between iterations must be reset by `body` itself.
///
/// # Panics
/// When a run fails (see above); if called from inside a goroutine.
///
/// # Example
///
/// Two goroutines each send a token unless the other did; both read the flag before
/// either sets it in some interleavings, which `check` finds:
///
/// ```
/// use std::sync::atomic::{AtomicBool, Ordering};
/// use std::sync::Arc;
///
/// let found = std::panic::catch_unwind(|| {
///     gorun::check(100, || {
///         let (tx, rx) = gorun::chan(2);
///         let sent = Arc::new(AtomicBool::new(false));
///         let hs: Vec<_> = (0..2)
///             .map(|_| {
///                 let (tx, sent) = (tx.clone(), sent.clone());
///                 gorun::go(move || {
///                     if !sent.load(Ordering::SeqCst) {
///                         tx.send(()).unwrap(); // a switch point: the other may run here
///                         sent.store(true, Ordering::SeqCst);
///                     }
///                 })
///             })
///             .collect();
///         hs.into_iter().for_each(|h| h.join().unwrap());
///         assert_eq!(rx.len(), 1, "both goroutines sent");
///     });
/// });
/// assert!(found.is_err());
/// ```
#[track_caller]
pub fn check<F: Fn()>(iterations: usize, body: F) {
    let seeds: Vec<u64> = match seeded::env_seed() {
        Some(seed) => vec![seed],
        None => (0..iterations as u64).collect(),
    };
    for (i, &seed) in seeds.iter().enumerate() {
        let run = panic::catch_unwind(AssertUnwindSafe(|| {
            Builder::new()
                .seed(seed)
                .explore()
                .panic_on_fatal(true)
                .try_run(&body)
        }));
        if let Ok(Ok(())) = run {
            continue;
        }
        eprint!(
            "gorun::check: run {} of {} failed with seed {seed}\n{}",
            i + 1,
            seeds.len(),
            seeded::replay_hint(seed)
        );
        match run {
            Ok(Err(deadlock)) => panic!("gorun::check: seed {seed}: {deadlock}"),
            Err(payload) => panic::resume_unwind(payload),
            Ok(Ok(())) => unreachable!("a passing run continues above"),
        }
    }
}
