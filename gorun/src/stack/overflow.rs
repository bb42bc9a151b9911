//! Stack-overflow reporting (and accesses to evicted stacks): a SIGSEGV/SIGBUS handler on
//! an alternate signal stack.
//!
//! Every worker thread publishes, in thread-local cells, the guard range of the goroutine it
//! is running and a short description of it (id, stack size, creation site). When a fault
//! hits that guard, the handler prints Go's `fatal error: stack overflow` report with those
//! details and aborts. Any other fault is passed to the handler that was installed before
//! ours (Rust's own, which reports main-thread overflows, or the default action).
//!
//! The handler runs on a per-worker alternate stack (the faulting stack is exhausted), uses
//! only async-signal-safe calls (`write`, `abort`, `sigaction`) and formats into a fixed
//! buffer without allocating.

use std::mem::MaybeUninit;
use std::panic::Location;
use std::sync::Once;

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

/// Installs the process-wide handler (once) and an alternate signal stack for this thread.
/// Returns the alternate stack, to be released by [`AltStack::drop`] when the worker exits.
pub(crate) fn init_thread() -> AltStack {
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

/// A per-thread alternate signal stack.
pub(crate) struct AltStack {
    mem: *mut libc::c_void,
}

impl AltStack {
    fn new() -> AltStack {
        // SAFETY: a fresh anonymous mapping registered as this thread's signal stack; it is
        // unregistered before being unmapped in Drop.
        unsafe {
            let mem = libc::mmap(
                std::ptr::null_mut(),
                ALT_STACK_SIZE,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            );
            if mem == libc::MAP_FAILED {
                return AltStack {
                    mem: std::ptr::null_mut(),
                };
            }
            let ss = libc::stack_t {
                ss_sp: mem,
                ss_flags: 0,
                ss_size: ALT_STACK_SIZE,
            };
            libc::sigaltstack(&ss, std::ptr::null_mut());
            AltStack { mem }
        }
    }
}

impl Drop for AltStack {
    fn drop(&mut self) {
        if self.mem.is_null() {
            return;
        }
        // SAFETY: disable this thread's alternate stack, then unmap the memory we mapped.
        unsafe {
            let ss = libc::stack_t {
                ss_sp: std::ptr::null_mut(),
                ss_flags: libc::SS_DISABLE,
                ss_size: 0,
            };
            libc::sigaltstack(&ss, std::ptr::null_mut());
            libc::munmap(self.mem, ALT_STACK_SIZE);
        }
    }
}

extern "C" fn handler(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid siginfo for SIGSEGV/SIGBUS.
    let addr = unsafe { (*info).si_addr() } as usize;
    // Plain reads of the running goroutine's control block (signal-safe).
    if let Some(g) = crate::runtime::worker::running_info() {
        if addr >= g.guard_lo && addr < g.guard_hi {
            report_overflow(&g);
        }
    }
    // A stack evicted by copy-on-park is guarded: an access means a pointer into a parked
    // goroutine's stack escaped to someone else.
    if let Some(id) = super::evict::owners::find(addr, 1 << 18) {
        report_evicted(id, addr);
    }
    // Not ours: hand the fault to the previous handler.
    // SAFETY: PREV_* were filled by sigaction in `install` before this handler could run.
    unsafe {
        let prev = if sig == libc::SIGSEGV {
            &raw const PREV_SEGV
        } else {
            &raw const PREV_BUS
        };
        let prev = (*prev).assume_init_ref();
        if prev.sa_sigaction == libc::SIG_DFL || prev.sa_sigaction == libc::SIG_IGN {
            // Restore the default action and return: the instruction faults again and the
            // process dies of the signal as it would have without us.
            let mut dfl: libc::sigaction = std::mem::zeroed();
            dfl.sa_sigaction = libc::SIG_DFL;
            libc::sigaction(sig, &dfl, std::ptr::null_mut());
        } else if prev.sa_flags & libc::SA_SIGINFO != 0 {
            let f: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) =
                std::mem::transmute(prev.sa_sigaction);
            f(sig, info, ctx);
        } else {
            let f: extern "C" fn(libc::c_int) = std::mem::transmute(prev.sa_sigaction);
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

    fn hex(&mut self, v: u64) {
        self.push(b"0x");
        let digits = b"0123456789abcdef";
        let mut started = false;
        for shift in (0..16).rev() {
            let d = ((v >> (shift * 4)) & 0xf) as usize;
            if d != 0 || started || shift == 0 {
                started = true;
                self.push(&digits[d..d + 1]);
            }
        }
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

fn report_evicted(id: u64, addr: usize) -> ! {
    let mut b = Buf {
        bytes: [0; 1024],
        len: 0,
    };
    b.push(b"fatal error: unexpected access to the evicted stack of goroutine ");
    b.num(id);
    b.push(b" at address ");
    b.hex(addr as u64);
    b.push(
        b"\nA pointer into a parked goroutine's stack was used while that stack was copied \
          out (copy-on-park). Keep such data on the heap, or hold gorun::pin_stack() in the \
          goroutine while anything may point into its stack.\n",
    );
    // SAFETY: write(2) and _exit(2) are async-signal-safe.
    unsafe {
        libc::write(2, b.bytes.as_ptr() as *const libc::c_void, b.len);
        libc::_exit(2);
    }
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
    b.push(b"\nhint: raise gorun::Builder::stack_size, or move large buffers to the heap\n");
    // SAFETY: write(2) and _exit(2) are async-signal-safe; the buffer is valid for len bytes.
    // Exit code 2 is Go's for fatal errors.
    unsafe {
        libc::write(2, b.bytes.as_ptr() as *const libc::c_void, b.len);
        libc::_exit(2);
    }
}
