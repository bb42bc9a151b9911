//! The report of a fatal wait (every goroutine asleep, or a lock cycle): built by the
//! diagnostics layer, stored in the runtime by `Shared::fail`, printed by `run`.

use std::fmt;

/// Returned by `Builder::try_run` when every goroutine is asleep (or some wait for each
/// other's locks); its `Display` is exactly what `run` prints before exiting with code 2.
#[derive(Clone)]
pub struct Deadlock {
    pub(crate) report: String,
}

impl Deadlock {
    /// The global deadlock report: Go's message, then the dump.
    pub(crate) fn new(dump: &str) -> Deadlock {
        Deadlock::with_header("fatal error: all goroutines are asleep - deadlock!", dump)
    }

    /// Another fatal wait (a lock cycle): its first line, then the details.
    pub(crate) fn with_header(header: &str, body: &str) -> Deadlock {
        Deadlock {
            report: format!("{header}\n\n{body}"),
        }
    }
}

impl fmt::Display for Deadlock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.report)
    }
}

impl fmt::Debug for Deadlock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.report)
    }
}

impl std::error::Error for Deadlock {}
