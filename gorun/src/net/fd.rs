//! What every gorun socket shares with std's: conversion from the std type (`From`,
//! `from_std`, `FromRawFd`) and access to the descriptor (`AsFd`, `AsRawFd`).
//!
//! A converted socket is switched to non-blocking mode and registered with the netpoller,
//! which is what makes its calls park goroutines; it is owned from then on.

/// Implements the conversions for the gorun socket `$t` built on the std socket `$std`
/// through the mio socket `$mio`: `$wrap` turns the mio socket into `$t`, `$sock`
/// reaches the mio socket of `$s: &$t`.
macro_rules! std_conversions {
    ($t:ty, $std:ty, $mio:ty, $wrap:expr, |$s:ident| $sock:expr) => {
        impl $t {
            #[doc = concat!(
                        "Wraps a `", stringify!($std), "` (switched to non-blocking mode) so that ",
                        "its calls park goroutines. Fails if the netpoller cannot register it."
                    )]
            pub fn from_std(s: $std) -> std::io::Result<$t> {
                s.set_nonblocking(true)?;
                let wrap: fn($mio) -> std::io::Result<$t> = $wrap;
                wrap(<$mio>::from_std(s))
            }
        }

        impl From<$std> for $t {
            /// See `from_std`.
            ///
            /// # Panics
            /// If the netpoller cannot register the socket (out of memory or descriptors).
            fn from(s: $std) -> $t {
                <$t>::from_std(s).expect("gorun::net: cannot register a socket with the netpoller")
            }
        }

        impl std::os::fd::AsFd for $t {
            fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
                let $s = self;
                std::os::fd::AsFd::as_fd($sock)
            }
        }

        impl std::os::fd::AsRawFd for $t {
            fn as_raw_fd(&self) -> std::os::fd::RawFd {
                let $s = self;
                std::os::fd::AsRawFd::as_raw_fd($sock)
            }
        }

        impl std::os::fd::FromRawFd for $t {
            /// Takes ownership of an open socket descriptor of the right kind.
            ///
            /// # Safety
            /// As `FromRawFd::from_raw_fd`: `fd` is open, owned by the caller (nobody else
            /// closes it), and a socket of this type.
            unsafe fn from_raw_fd(fd: std::os::fd::RawFd) -> $t {
                // SAFETY: the caller's guarantee is exactly what std's `from_raw_fd` asks.
                <$t>::from(unsafe { <$std as std::os::fd::FromRawFd>::from_raw_fd(fd) })
            }
        }
    };
}
pub(crate) use std_conversions;
