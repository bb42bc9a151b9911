//! The monitor: a tick every 10 ms on its own thread (Go's `sysmon`).
//!
//! Each tick it advances the runtime's coarse clock (used to say how long a goroutine has
//! waited), warns once about a worker stuck in one goroutine, prints a dump after SIGQUIT
//! when enabled, and runs the deadlock and lock-cycle checks. It has a thread of its own so
//! that a long scan (a million goroutines) never delays a timer; a scan of every goroutine
//! happens only when a cheap check has seen the same state on two ticks in a row.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Once};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::deadlock;
use crate::goroutine::WaitReason;
use crate::runtime::Deadlock;
use crate::runtime::Shared;

/// Period of the monitor's tick.
const TICK: Duration = Duration::from_millis(10);

/// While lock waits keep changing, the lock-cycle search still runs every this many ticks.
const CYCLE_SEARCH_TICKS: u32 = 10;

/// The running monitor thread; `stop` ends and joins it.
pub(crate) struct MonitorThread {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<()>,
}

impl MonitorThread {
    pub(crate) fn stop(self) {
        self.stop.store(true, Ordering::SeqCst);
        self.thread.thread().unpark();
        self.thread.join().ok();
    }
}

pub(crate) struct Monitor {
    shared: Arc<Shared>,
    watch: Vec<Watch>,
    /// Total switches seen at the previous tick when everything looked asleep.
    quiet_at: Option<u64>,
    /// Total switches when a scan last found a goroutine that will wake by itself.
    awake_at: Option<u64>,
    sigquits_seen: u64,
    /// The lock graph's version at the previous tick (the cycle search runs only on edges
    /// unchanged since), the cycle seen then, and the cycles already warned about.
    edges_seen: Option<u64>,
    since_search: u32,
    cycle_seen: Option<Vec<u64>>,
    cycles_reported: Vec<Vec<u64>>,
}

struct Watch {
    switches: u64,
    since: Instant,
    warned: bool,
}

impl Monitor {
    pub(crate) fn new(shared: Arc<Shared>) -> Monitor {
        let now = Instant::now();
        let watch = (0..shared.workers().len())
            .map(|_| Watch {
                switches: 0,
                since: now,
                warned: false,
            })
            .collect();
        if shared.config().dump_on_sigquit {
            install_sigquit();
        }
        Monitor {
            shared,
            watch,
            quiet_at: None,
            awake_at: None,
            sigquits_seen: SIGQUITS.load(Ordering::Relaxed),
            edges_seen: None,
            since_search: 0,
            cycle_seen: None,
            cycles_reported: Vec::new(),
        }
    }

    /// Runs the monitor on its own thread, calling `also` after each tick (the netpoller's
    /// stall check).
    pub(crate) fn start(mut self, mut also: Box<dyn FnMut() + Send>) -> MonitorThread {
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let thread = std::thread::Builder::new()
            .name("gorun-monitor".into())
            .spawn(move || {
                let _owned = crate::sys::OwnedThread::register();
                let mut next = Instant::now() + TICK;
                while !stopped.load(Ordering::SeqCst) {
                    let now = Instant::now();
                    if now < next {
                        std::thread::park_timeout(next - now);
                        continue;
                    }
                    next = now + TICK;
                    self.tick();
                    also();
                }
            })
            .expect("gorun: cannot spawn the monitor thread");
        MonitorThread { stop, thread }
    }

    pub(crate) fn tick(&mut self) {
        self.shared.update_coarse_clock();
        if self.shared.is_shutdown() {
            return;
        }
        if let Some(limit) = self.shared.config().stuck_after {
            self.check_stuck(limit);
        }
        if self.shared.config().dump_on_sigquit {
            let n = SIGQUITS.load(Ordering::Relaxed);
            if n != self.sigquits_seen {
                self.sigquits_seen = n;
                eprintln!(
                    "SIGQUIT: goroutine dump\n\n{}",
                    super::dump_runtime(&self.shared)
                );
            }
        }
        // A whole-program deadlock gets Go's report, even when it is also a lock cycle: a
        // deadlock first seen this tick is confirmed on the next, and the cycle report waits
        // for that (workers still falling asleep can make the cycle visible a tick earlier).
        let quiet_before = self.quiet_at;
        if self.shared.config().deadlock_detection {
            self.check_deadlock();
        }
        let deadlock_pending = self.quiet_at.is_some() && self.quiet_at != quiet_before;
        if !self.shared.is_shutdown() && !deadlock_pending {
            self.check_lock_cycles();
        }
    }

    fn check_lock_cycles(&mut self) {
        // A cycle never resolves, so its edges stay: search when no edge came or went since
        // the previous tick, or every `CYCLE_SEARCH_TICKS` while goroutines contend
        // elsewhere. The search copies the edges under the graph's lock and scans the
        // goroutines without it, so contended `lock()` calls never wait for a scan.
        let version = self.shared.lock_graph().version();
        if version.is_none() {
            self.edges_seen = None;
            self.cycle_seen = None;
            return;
        }
        self.since_search += 1;
        let settled = version == self.edges_seen;
        self.edges_seen = version;
        if !settled && self.since_search < CYCLE_SEARCH_TICKS {
            return;
        }
        self.since_search = 0;
        let all = self.shared.goroutines();
        let found = self.shared.lock_graph().find_cycle(&all);
        let Some((ids, report)) = found else {
            self.cycle_seen = None;
            return;
        };
        if self.cycle_seen.as_ref() != Some(&ids) {
            self.cycle_seen = Some(ids); // confirm on the next tick
            return;
        }
        if self.cycles_reported.contains(&ids) {
            return;
        }
        let gs: Vec<_> = all.into_iter().filter(|g| ids.contains(&g.id)).collect();
        let dump = super::dump_goroutines(&self.shared, &gs);
        let names: Vec<String> = ids.iter().map(u64::to_string).collect();
        let head = format!(
            "lock cycle: goroutines {} wait for each other's locks and can never proceed",
            names.join(", ")
        );
        if self.shared.config().lock_cycles_fatal {
            self.shared.fail(Deadlock::with_header(
                &format!("fatal error: {head}"),
                &format!("{report}\n{dump}"),
            ));
        } else {
            eprintln!("gorun: warning: {head}\n\n{report}\n{dump}");
            self.cycles_reported.push(ids);
        }
    }

    fn check_stuck(&mut self, limit: std::time::Duration) {
        let now = Instant::now();
        for (i, w) in self.shared.workers().iter().enumerate() {
            let switches = w.stats.switches.load(Ordering::Relaxed);
            let running = w.stats.running.load(Ordering::Relaxed);
            let watch = &mut self.watch[i];
            if switches != watch.switches || running == 0 {
                *watch = Watch {
                    switches,
                    since: now,
                    warned: false,
                };
                continue;
            }
            if watch.warned || now.duration_since(watch.since) < limit {
                continue;
            }
            watch.warned = true;
            let gs = self.shared.goroutines();
            let Some(g) = gs.iter().find(|g| g.id == running) else {
                continue;
            };
            let st = &w.stats;
            let spawned_since =
                st.spawned.load(Ordering::Relaxed) - st.spawned_at_switch.load(Ordering::Relaxed);
            // Queued started goroutines, unstarted ones (the newest spawn sits in `runnext`,
            // the others in the stealable deque), and remote wakes not yet taken.
            let behind = st.backlog.load(Ordering::Relaxed) as usize
                + usize::from(spawned_since > 0)
                + w.stealable_len()
                + w.remote_len();
            if behind == 0 {
                continue; // a long computation that stalls nobody
            }
            eprintln!(
                "gorun: warning: goroutine {running} has run for over {limit:?} on worker {i} \
                 without yielding (created at {}); {behind} goroutine(s) wait behind it on \
                 this worker. Put blocking calls in gorun::blocking(..) and call \
                 gorun::yield_now() in long loops.",
                g.spawn_site
            );
        }
    }

    fn check_deadlock(&mut self) {
        let s = &self.shared;
        // Timer channels count only while someone waits on one (Go 1.23): an unread ticker
        // or `after(1h)` does not hide a deadlock.
        let timers_matter = s.timers().pending_calls() > 0;
        if !s.workers_quiet() || s.timers().pending_wakes() > 0 {
            self.quiet_at = None;
            return;
        }
        let switches = deadlock::switches(s);
        // A goroutine's wait can only change by running: with no switch since the last scan
        // found one that wakes by itself (I/O, a sleep, a blocking call), the verdict holds,
        // and a million parked goroutines are not rescanned every tick.
        if self.awake_at == Some(switches) {
            return;
        }
        if self.quiet_at != Some(switches) {
            let gs = s.goroutines();
            // A `synctest::wait` caller is woken by the idle check, not by a goroutine.
            let wakes_by_itself = gs.iter().any(|g| {
                !deadlock::durably_blocked(g)
                    || (timers_matter && g.timer_wait())
                    || matches!(
                        g.wait_reason(),
                        WaitReason::Sleep | WaitReason::SynctestWait
                    )
            });
            let unstarted = s.num_goroutine() != gs.len();
            if gs.is_empty() || unstarted || wakes_by_itself {
                self.quiet_at = None;
                self.awake_at = Some(switches);
            } else {
                self.quiet_at = Some(switches); // confirm on the next tick
            }
            return;
        }
        // Everything was asleep at the last tick and nothing ran since.
        if deadlock::outside_thread_may_wake() {
            return;
        }
        let gs = s.goroutines();
        let report = Deadlock::new(&super::dump_goroutines(s, &gs));
        s.fail(report);
    }
}

static SIGQUITS: AtomicU64 = AtomicU64::new(0);

extern "C" fn on_sigquit(_: libc::c_int) {
    SIGQUITS.fetch_add(1, Ordering::Relaxed);
}

fn install_sigquit() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // SAFETY: the handler only increments an atomic, which is async-signal-safe; `sa` is
        // fully initialised.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_sigquit as *const () as usize;
            sa.sa_flags = libc::SA_RESTART;
            libc::sigemptyset(&mut sa.sa_mask);
            libc::sigaction(libc::SIGQUIT, &sa, std::ptr::null_mut());
        }
    });
}
