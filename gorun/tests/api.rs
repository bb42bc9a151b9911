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

#[test]
fn thread_safe_types_of_the_wider_api() {
    send::<gorun::Handle>();
    sync::<gorun::Handle>();
    send::<gorun::Context>();
    sync::<gorun::Context>();
    send::<gorun::Cancel>();
    sync::<gorun::Cancel>();
    send::<gorun::ErrGroup>();
    sync::<gorun::ErrGroup>();
    send::<gorun::ErrGroup<String>>();
    sync::<gorun::ErrGroup<String>>();
    send::<gorun::Timer>();
    sync::<gorun::Timer>();
    send::<gorun::Ticker>();
    sync::<gorun::Ticker>();
    send::<gorun::ScopedJoinHandle<'static, u32>>();
    sync::<gorun::ScopedJoinHandle<'static, u32>>();
    sync::<gorun::Scope<'static, 'static>>();
    sync::<gorun::LocalKey<std::cell::Cell<u32>>>();
    send::<gorun::sync::LazyLock<Vec<u8>>>();
    sync::<gorun::sync::LazyLock<Vec<u8>>>();
    send::<gorun::sync::OwnedSemaphorePermit>();
    sync::<gorun::sync::OwnedSemaphorePermit>();
    send::<gorun::net::unix::UnixDatagram>();
    sync::<gorun::net::unix::UnixDatagram>();
    send::<gorun::io::Async<std::io::PipeReader>>();
    sync::<gorun::io::Async<std::io::PipeReader>>();
}
