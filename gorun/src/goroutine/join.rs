//! `JoinHandle`: the result slot shared by a goroutine and whoever joins it.

use std::marker::PhantomData;
use std::panic::Location;
use std::sync::{Arc, Mutex};
use std::thread;

use crate::park::{self, Unparker, WaitReason};

/// Shared between the goroutine (which completes it) and its `JoinHandle`.
pub(crate) struct JoinInner<T> {
    state: Mutex<JoinState<T>>,
}

struct JoinState<T> {
    result: Option<thread::Result<T>>,
    waiter: Option<Unparker>,
    detached: bool,
}

impl<T> JoinInner<T> {
    pub(crate) fn new() -> JoinInner<T> {
        JoinInner {
            state: Mutex::new(JoinState {
                result: None,
                waiter: None,
                detached: false,
            }),
        }
    }

    /// Stores the goroutine's result. Returns the panic payload back if the handle was
    /// dropped and the goroutine panicked: nobody will see it, so the caller reports it.
    pub(crate) fn complete(
        &self,
        result: thread::Result<T>,
    ) -> Result<(), Box<dyn std::any::Any + Send>> {
        let mut st = self.state.lock().unwrap();
        if st.detached {
            return result.map(drop);
        }
        st.result = Some(result);
        if let Some(w) = st.waiter.take() {
            drop(st);
            w.unpark();
        }
        Ok(())
    }
}

/// An owned permission to wait for a goroutine and take its result, like
/// `std::thread::JoinHandle`.
///
/// Dropping the handle detaches the goroutine: it keeps running, and if it then panics the
/// whole program stops with Go's `panic:` report and exit code 2, since nobody is left to
/// see the panic.
pub struct JoinHandle<T> {
    inner: Arc<JoinInner<T>>,
    id: u64,
    /// Not `Clone`; `Send`/`Sync` when `T: Send` like std's.
    _marker: PhantomData<T>,
}

impl<T> JoinHandle<T> {
    pub(crate) fn new(inner: Arc<JoinInner<T>>, id: u64) -> JoinHandle<T> {
        JoinHandle {
            inner,
            id,
            _marker: PhantomData,
        }
    }

    /// The id of the goroutine (as `current_id()` returns inside it).
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Whether the goroutine has finished (returned or panicked).
    pub fn is_finished(&self) -> bool {
        self.inner.state.lock().unwrap().result.is_some()
    }

    /// Waits for the goroutine to finish and returns its result, or the payload of its
    /// panic as `Err`. Parks the calling goroutine (or blocks a plain thread).
    #[track_caller]
    pub fn join(self) -> thread::Result<T> {
        let site = Location::caller();
        loop {
            {
                let mut st = self.inner.state.lock().unwrap();
                if let Some(r) = st.result.take() {
                    return r;
                }
                st.waiter = Some(park::current());
            }
            park::park(WaitReason::Join, site);
        }
    }
}

impl<T> Drop for JoinHandle<T> {
    fn drop(&mut self) {
        if let Ok(mut st) = self.inner.state.lock() {
            st.detached = true;
            st.waiter = None;
        }
    }
}

impl<T> std::fmt::Debug for JoinHandle<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JoinHandle")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}
