//! Stack size classes: the pools of one runtime, one per size.
//!
//! Class 0 is the runtime's default usable size (`Builder::stack_size`); class `k` is that
//! size times `2^k`. A goroutine started with `GoBuilder::stack_size(bytes)` takes a slot of
//! the smallest class that holds `bytes`, so a few sizes serve every request and a freed
//! slot is reused by the next goroutine of its class.
//!
//! # Ownership
//!
//! A [`Stacks`] belongs to one runtime (in its `Shared`); each class's [`StackPool`] is
//! created on first use and lives, like the default pool, until the runtime is dropped,
//! after every coroutine. A goroutine records its class when it is created
//! (`G::stack_class`); its home worker takes the slot from that class when it starts and
//! gives it back there when it finishes.

use std::sync::OnceLock;

use super::{page_size, round_stack_size, StackPool, MAX_STACK};

/// Enough classes for any default of at least `MIN_STACK` (16 KiB = 2^14) to reach past
/// `MAX_STACK` (2^30).
const CLASSES: usize = 18;

/// The stack pools of one runtime, by size class.
pub(crate) struct Stacks {
    default: usize,
    pools: [OnceLock<StackPool>; CLASSES],
}

impl Stacks {
    /// The classes of a runtime whose default usable stack is `default` bytes (a page
    /// multiple, see `round_stack_size`).
    pub(crate) fn new(default: usize) -> Stacks {
        Stacks {
            default,
            pools: std::array::from_fn(|_| OnceLock::new()),
        }
    }

    /// The class of the smallest stacks with at least `bytes` usable (`bytes` at most
    /// `MAX_STACK`): 0 for anything the default holds.
    pub(crate) fn class_for(&self, bytes: usize) -> u8 {
        let bytes = round_stack_size(bytes.min(MAX_STACK));
        let mut class = 0;
        while self.usable(class) < bytes {
            class += 1;
        }
        debug_assert!((class as usize) < CLASSES);
        class
    }

    /// Usable bytes of the stacks of `class`.
    pub(crate) fn usable(&self, class: u8) -> usize {
        self.default << class
    }

    /// Guard bytes below every stack, whatever its class.
    pub(crate) fn guard_size(&self) -> usize {
        page_size()
    }

    /// The pool of `class`, created on first use.
    pub(crate) fn pool(&self, class: u8) -> &StackPool {
        self.pools[class as usize].get_or_init(|| StackPool::new(self.usable(class)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_double_and_hold_the_request() {
        let s = Stacks::new(64 << 10);
        assert_eq!(s.class_for(1), 0);
        assert_eq!(s.class_for(64 << 10), 0);
        assert_eq!(s.class_for((64 << 10) + 1), 1);
        assert_eq!(s.usable(s.class_for(16 << 20)), 16 << 20);
        assert_eq!(s.usable(s.class_for((16 << 20) + 1)), 32 << 20);
        assert!(s.usable(s.class_for(MAX_STACK)) >= MAX_STACK);
        // An odd default: classes are its multiples, each at least the request.
        let odd = Stacks::new(100 << 10);
        for bytes in [1, 100 << 10, 300 << 10, 64 << 20, MAX_STACK] {
            let c = odd.class_for(bytes);
            assert!(odd.usable(c) >= bytes);
            assert!(c == 0 || odd.usable(c - 1) < bytes);
        }
    }
}
