//! The SIGSEGV/SIGBUS handler, on an alternate signal stack: stack-overflow reports, and
//! accesses to evicted stacks.
//!
//! The scheduler (above this layer) tells the handler, through the function it passes to
//! [`init_thread`], the guard range of the goroutine running on the faulting thread and a
//! short description of it (id, stack size, creation site). When a fault
//! hits that guard, the handler prints Go's `fatal error: stack overflow` report with those
//! details and exits. A fault in the usable part of a stack slot is copy-on-park's
//! (`evict::on_fault` restores the stack, and the access runs again). Every other fault goes
//! to the handler that was installed before ours, as if ours were not there: an `SA_SIGINFO`
//! handler gets the same arguments, a plain one the signal number, and the default action is
//! taken by re-raising the signal with it restored.
//!
//! The handler runs on a per-worker alternate stack (the faulting stack is exhausted); the
//! thread's previous alternate stack is put back when the worker is done (so std's own
//! overflow report keeps working on that thread). The handler uses only async-signal-safe
//! calls and formats into a fixed buffer without allocating.

use std::mem::MaybeUninit;
use std::panic::Location;
use std::sync::{Once, OnceLock};

/// What the handler needs to know about the running goroutine.
#[derive(Clone, Copy)]
pub(crate) struct RunningInfo {
    pub(crate) guard_lo: usize,
    pub(crate) guard_hi: usize,
    pub(crate) id: u64,
    pub(crate) stack_size: usize,
    pub(crate) spawn_site: &'static Location<'static>,
}

const ALT_STACK_SIZE: usize = 64 * 1024;

static mut PREV_SEGV: MaybeUninit<libc::sigaction> = MaybeUninit::uninit();
static mut PREV_BUS: MaybeUninit<libc::sigaction> = MaybeUninit::uninit();
static INSTALL: Once = Once::new();
/// Describes the goroutine running on the calling thread, if any; must be signal-safe
/// (plain reads of thread-locals and of memory kept alive while the goroutine runs).
static RUNNING: OnceLock<fn() -> Option<RunningInfo>> = OnceLock::new();

/// Installs the process-wide handler (once) and an alternate signal stack for this thread.
/// `running` is how the handler learns which goroutine runs on a faulting thread (the first
/// caller's is kept: there is one scheduler). Returns the alternate stack, to be released by
/// [`AltStack::drop`] when the worker exits.
pub(crate) fn init_thread(running: fn() -> Option<RunningInfo>) -> AltStack {
    let _ = RUNNING.set(running);
    INSTALL.call_once(|| {
        // SAFETY: called once, before any fault can reach our handler; PREV_* are written
        // here and only read by the handler afterwards.
        unsafe {
            install(libc::SIGSEGV, &raw mut PREV_SEGV);
            install(libc::SIGBUS, &raw mut PREV_BUS);
        }
    });
    AltStack::new()
}

/// Installs `handler` for `sig`, saving the previous action in `prev`.
///
/// # Safety
/// `prev` must be valid for writes and not read by anyone (the handler) until this returns.
unsafe fn install(sig: libc::c_int, prev: *mut MaybeUninit<libc::sigaction>) {
    // SAFETY (whole fn): `sa` is fully initialised before use; sigaction writes the previous
    // action into `prev`, which is valid static storage.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = handler as *const () as usize;
        sa.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
        libc::sigemptyset(&mut sa.sa_mask);
        libc::sigaction(sig, &sa, (*prev).as_mut_ptr());
    }
}

/// A per-thread alternate signal stack, and the one it replaced.
pub(crate) struct AltStack {
    mem: *mut libc::c_void,
    prev: libc::stack_t,
}

impl AltStack {
    fn new() -> AltStack {
        // SAFETY: a fresh anonymous mapping registered as this thread's signal stack; it is
        // unregistered before being unmapped in Drop. `prev` is plain data sigaltstack fills.
        unsafe {
            let mut prev: libc::stack_t = std::mem::zeroed();
            prev.ss_flags = libc::SS_DISABLE;
            let Some(mem) =
                super::map_anonymous(ALT_STACK_SIZE, libc::PROT_READ | libc::PROT_WRITE)
            else {
                return AltStack {
                    mem: std::ptr::null_mut(),
                    prev,
                };
            };
            let mem = mem as *mut libc::c_void;
            let ss = libc::stack_t {
                ss_sp: mem,
                ss_flags: 0,
                ss_size: ALT_STACK_SIZE,
            };
            libc::sigaltstack(&ss, &mut prev);
            AltStack { mem, prev }
        }
    }
}

impl Drop for AltStack {
    fn drop(&mut self) {
        if self.mem.is_null() {
            return;
        }
        // SAFETY: put back the thread's previous alternate stack (or none), then unmap the
        // memory we mapped, which no longer is a signal stack.
        unsafe {
            let mut prev = self.prev;
            if prev.ss_flags & libc::SS_DISABLE != 0 {
                prev = libc::stack_t {
                    ss_sp: std::ptr::null_mut(),
                    ss_flags: libc::SS_DISABLE,
                    ss_size: 0,
                };
            }
            libc::sigaltstack(&prev, std::ptr::null_mut());
            libc::munmap(self.mem, ALT_STACK_SIZE);
        }
    }
}

extern "C" fn handler(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid siginfo for SIGSEGV/SIGBUS.
    let (code, addr) = unsafe { ((*info).si_code, (*info).si_addr() as usize) };
    // A fault the kernel raised (not one sent with kill or raise, whose address means
    // nothing).
    if code > 0 {
        // Plain reads of the running goroutine's control block (signal-safe).
        if let Some(g) = RUNNING.get().and_then(|running| running()) {
            if addr >= g.guard_lo && addr < g.guard_hi {
                report_overflow(&g);
            }
        }
        if sig == libc::SIGSEGV && super::evict::on_fault(addr) {
            return; // the stack is back: the access runs again
        }
    }
    // SAFETY: PREV_* were filled by sigaction in `install` before this handler could run;
    // the arguments are the ones we were called with.
    unsafe { chain(sig, info, ctx, code) };
}

/// Hands a fault that is not gorun's to the handler installed before ours.
///
/// # Safety
/// Called from `handler` with its arguments, after `install` filled `PREV_*`.
unsafe fn chain(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void, code: i32) {
    // SAFETY: by the caller's contract, `prev` is initialised; the transmutes turn the
    // handler address the program installed back into the function type its flags say.
    unsafe {
        let prev = if sig == libc::SIGSEGV {
            &raw const PREV_SEGV
        } else {
            &raw const PREV_BUS
        };
        let prev = (*prev).assume_init_ref();
        let action = prev.sa_sigaction;
        if action == libc::SIG_IGN && code <= 0 {
            return; // a signal someone sent, which the program ignores
        }
        if action == libc::SIG_DFL || action == libc::SIG_IGN {
            // The default action, as without us (the kernel does not let a program ignore a
            // fault it raised): restore it and re-raise. The signal is blocked while we run,
            // so it is delivered, with its default action, as the handler returns.
            let mut dfl: libc::sigaction = std::mem::zeroed();
            dfl.sa_sigaction = libc::SIG_DFL;
            libc::sigaction(sig, &dfl, std::ptr::null_mut());
            libc::raise(sig);
        } else if prev.sa_flags & libc::SA_SIGINFO != 0 {
            let f: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) =
                std::mem::transmute(action);
            f(sig, info, ctx);
        } else {
            let f: extern "C" fn(libc::c_int) = std::mem::transmute(action);
            f(sig);
        }
    }
}

/// A fixed buffer for formatting without allocation.
struct Buf {
    bytes: [u8; 1024],
    len: usize,
}

impl Buf {
    fn push(&mut self, s: &[u8]) {
        let n = s.len().min(self.bytes.len() - self.len);
        self.bytes[self.len..self.len + n].copy_from_slice(&s[..n]);
        self.len += n;
    }

    fn num(&mut self, mut v: u64) {
        let mut digits = [0u8; 20];
        let mut i = digits.len();
        loop {
            i -= 1;
            digits[i] = b'0' + (v % 10) as u8;
            v /= 10;
            if v == 0 {
                break;
            }
        }
        self.push(&digits[i..]);
    }
}

/// Prints `msg` and exits with code 2 (Go's for fatal errors). Async-signal-safe.
pub(crate) fn fatal(msg: &[u8]) -> ! {
    // SAFETY: write(2) and _exit(2) are async-signal-safe; `msg` is valid for its length.
    unsafe {
        libc::write(2, msg.as_ptr() as *const libc::c_void, msg.len());
        libc::_exit(2);
    }
}

/// The stack size the overflow report suggests for a goroutine that overflowed `size`
/// bytes: a few times more (deep recursion usually needs several times, not a page more),
/// and at least 1 MiB, which holds a debug build's `serde_json` parse of input nested 600
/// deep (see `Builder::stack_size` for the measurements).
fn suggested_size(size: usize) -> usize {
    (size * 4).clamp(1 << 20, super::MAX_STACK)
}

fn report_overflow(g: &RunningInfo) -> ! {
    let mut b = Buf {
        bytes: [0; 1024],
        len: 0,
    };
    b.push(b"runtime: goroutine stack exceeds ");
    b.num(g.stack_size as u64);
    b.push(b"-byte limit\nfatal error: stack overflow\n\ngoroutine ");
    b.num(g.id);
    b.push(b" [running]:\ncreated at ");
    b.push(g.spawn_site.file().as_bytes());
    b.push(b":");
    b.num(g.spawn_site.line() as u64);
    b.push(b"\nhint: start this goroutine with gorun::GoBuilder::new().stack_size(");
    b.num(suggested_size(g.stack_size) as u64);
    b.push(b").go(..), raise gorun::Builder::stack_size for every goroutine, or move large buffers to the heap\n");
    fatal(&b.bytes[..b.len])
}
