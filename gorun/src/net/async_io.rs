//! The async I/O traits on gorun's stream sockets: Tokio's `AsyncRead`/`AsyncWrite`
//! (feature `tokio`) and the `futures` ecosystem's (feature `futures-io`), for
//! [`TcpStream`] and [`UnixStream`].
//!
//! They are driven by gorun's own netpoller, not by Tokio's reactor: a pending read or
//! write publishes the task's waker for that direction of the socket ([`Io::poll_op`]),
//! and the next readiness edge wakes it. So hyper and other async protocol stacks run on
//! gorun sockets inside [`block_on`](crate::block_on) without any Tokio runtime, and the
//! same socket can be used by blocking calls and by futures (not at the same time in one
//! direction: only the last task to poll a direction is woken).
//!
//! The socket types stay `Unpin`: a future holds no pointer into them. The read and write
//! timeouts apply to the blocking calls only; async code uses its executor's timeouts.
//!
//! Reads go straight into the caller's uninitialised buffer (`read(2)` on the descriptor),
//! writes are vectored (`writev(2)`), and shutting down (`poll_shutdown`, `poll_close`)
//! shuts down the write half.

use std::io::{self, IoSlice, Write};
use std::pin::Pin;
use std::task::{Context, Poll};

use super::poller::Dir;
use super::tcp::TcpStream;
use super::unix::UnixStream;

#[cfg(feature = "tokio")]
/// `read(2)` into possibly uninitialised memory; returns the bytes it wrote.
fn read_uninit(
    fd: &impl std::os::fd::AsRawFd,
    buf: &mut [std::mem::MaybeUninit<u8>],
) -> io::Result<usize> {
    // SAFETY: `buf` is valid for writes of `buf.len()` bytes, and `read(2)` writes at most
    // that many (it never reads them).
    let n = unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

/// The async traits for one stream type whose socket handle is `self.io`.
macro_rules! async_stream {
    ($t:ty) => {
        #[cfg(feature = "tokio")]
        impl tokio::io::AsyncRead for $t {
            fn poll_read(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &mut tokio::io::ReadBuf<'_>,
            ) -> Poll<io::Result<()>> {
                if buf.remaining() == 0 {
                    return Poll::Ready(Ok(()));
                }
                // SAFETY: `read_uninit` only writes bytes into it (never de-initialises any).
                let dst = unsafe { buf.unfilled_mut() };
                let n = match self.io.poll_op(Dir::Read, cx, |s| read_uninit(s, dst)) {
                    Poll::Ready(Ok(n)) => n,
                    Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                    Poll::Pending => return Poll::Pending,
                };
                // SAFETY: `read(2)` initialised the first `n` bytes of the unfilled part.
                unsafe { buf.assume_init(n) };
                buf.advance(n);
                Poll::Ready(Ok(()))
            }
        }

        #[cfg(feature = "tokio")]
        impl tokio::io::AsyncWrite for $t {
            fn poll_write(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &[u8],
            ) -> Poll<io::Result<usize>> {
                self.poll_write_buf(cx, buf)
            }

            fn poll_write_vectored(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                bufs: &[IoSlice<'_>],
            ) -> Poll<io::Result<usize>> {
                self.poll_write_bufs(cx, bufs)
            }

            fn is_write_vectored(&self) -> bool {
                true
            }

            fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
                Poll::Ready(Ok(()))
            }

            fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
                Poll::Ready(self.shutdown(std::net::Shutdown::Write))
            }
        }

        #[cfg(feature = "futures-io")]
        impl futures_io::AsyncRead for $t {
            fn poll_read(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &mut [u8],
            ) -> Poll<io::Result<usize>> {
                if buf.is_empty() {
                    return Poll::Ready(Ok(0));
                }
                self.io
                    .poll_op(Dir::Read, cx, |mut s| io::Read::read(&mut s, buf))
            }
        }

        #[cfg(feature = "futures-io")]
        impl futures_io::AsyncWrite for $t {
            fn poll_write(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &[u8],
            ) -> Poll<io::Result<usize>> {
                self.poll_write_buf(cx, buf)
            }

            fn poll_write_vectored(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                bufs: &[IoSlice<'_>],
            ) -> Poll<io::Result<usize>> {
                self.poll_write_bufs(cx, bufs)
            }

            fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
                Poll::Ready(Ok(()))
            }

            fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
                Poll::Ready(self.shutdown(std::net::Shutdown::Write))
            }
        }

        impl $t {
            fn poll_write_buf(&self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
                if buf.is_empty() {
                    return Poll::Ready(Ok(0));
                }
                self.io.poll_op(Dir::Write, cx, |mut s| s.write(buf))
            }

            fn poll_write_bufs(
                &self,
                cx: &mut Context<'_>,
                bufs: &[IoSlice<'_>],
            ) -> Poll<io::Result<usize>> {
                if bufs.iter().all(|b| b.is_empty()) {
                    return Poll::Ready(Ok(0));
                }
                self.io
                    .poll_op(Dir::Write, cx, |mut s| s.write_vectored(bufs))
            }
        }
    };
}

async_stream!(TcpStream);
async_stream!(UnixStream);
