//! Compile-time contracts of the public types: which are `Send`/`Sync`, which must not be.

use gorun::sync::{Cond, Mutex, MutexGuard, Once, RwLock, WaitGroup};
use gorun::{JoinHandle, Receiver, Sender};

fn send<T: Send>() {}
fn sync<T: Sync>() {}

#[test]
fn thread_safe_types() {
    send::<JoinHandle<u32>>();
    sync::<JoinHandle<u32>>();
    send::<Sender<String>>();
    sync::<Sender<String>>();
    send::<Receiver<String>>();
    sync::<Receiver<String>>();
    send::<WaitGroup>();
    sync::<WaitGroup>();
    send::<Mutex<Vec<u8>>>();
    sync::<Mutex<Vec<u8>>>();
    send::<RwLock<Vec<u8>>>();
    sync::<RwLock<Vec<u8>>>();
    send::<Once>();
    sync::<Once>();
    send::<Cond>();
    sync::<Cond>();
    send::<gorun::Deadlock>();
    sync::<gorun::Deadlock>();
    send::<gorun::net::TcpStream>();
    sync::<gorun::net::TcpStream>();
    sync::<MutexGuard<'static, u8>>();
}
