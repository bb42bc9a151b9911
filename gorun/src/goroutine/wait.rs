//! Why a goroutine waits: one reason per park site, shown in dumps and deadlock reports.
//! Stored in the control block as one byte ([`WaitReason::from_u8`] reads it back).

/// Why a goroutine is parked: shown in dumps and deadlock reports (Go's words where Go has
/// them).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum WaitReason {
    /// Not waiting (running or runnable).
    None,
    ChanReceive,
    ChanSend,
    ChanReceiveNil,
    ChanSendNil,
    Select,
    SelectNoCases,
    Sleep,
    IoWait,
    MutexLock,
    RwLockRead,
    RwLockWrite,
    WaitGroupWait,
    CondWait,
    OnceWait,
    SemaphoreAcquire,
    BarrierWait,
    Join,
    Blocking,
    /// `block_on`: a future is pending; its waker may fire from any thread.
    Future,
    /// `synctest::wait`: until every other goroutine is durably blocked.
    SynctestWait,
}

impl WaitReason {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            WaitReason::None => "runnable",
            WaitReason::ChanReceive => "chan receive",
            WaitReason::ChanSend => "chan send",
            WaitReason::ChanReceiveNil => "chan receive (nil chan)",
            WaitReason::ChanSendNil => "chan send (nil chan)",
            WaitReason::Select => "select",
            WaitReason::SelectNoCases => "select (no cases)",
            WaitReason::Sleep => "sleep",
            WaitReason::IoWait => "IO wait",
            WaitReason::MutexLock => "sync.Mutex.Lock",
            WaitReason::RwLockRead => "sync.RWMutex.RLock",
            WaitReason::RwLockWrite => "sync.RWMutex.Lock",
            WaitReason::WaitGroupWait => "sync.WaitGroup.Wait",
            WaitReason::CondWait => "sync.Cond.Wait",
            WaitReason::OnceWait => "sync.Once.Do",
            WaitReason::SemaphoreAcquire => "semacquire",
            WaitReason::BarrierWait => "sync.Barrier.Wait",
            WaitReason::Join => "join",
            WaitReason::Blocking => "blocking",
            WaitReason::Future => "future",
            WaitReason::SynctestWait => "synctest.Wait",
        }
    }

    pub(crate) fn from_u8(v: u8) -> WaitReason {
        const ALL: [WaitReason; 21] = [
            WaitReason::None,
            WaitReason::ChanReceive,
            WaitReason::ChanSend,
            WaitReason::ChanReceiveNil,
            WaitReason::ChanSendNil,
            WaitReason::Select,
            WaitReason::SelectNoCases,
            WaitReason::Sleep,
            WaitReason::IoWait,
            WaitReason::MutexLock,
            WaitReason::RwLockRead,
            WaitReason::RwLockWrite,
            WaitReason::WaitGroupWait,
            WaitReason::CondWait,
            WaitReason::OnceWait,
            WaitReason::SemaphoreAcquire,
            WaitReason::BarrierWait,
            WaitReason::Join,
            WaitReason::Blocking,
            WaitReason::Future,
            WaitReason::SynctestWait,
        ];
        ALL.get(v as usize).copied().unwrap_or(WaitReason::None)
    }
}
