//! A future that is pending on its first poll and ready on the second: the smallest `.await`
//! that gives the poller back control, so that a test can poll a span's future twice.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// Pending on its first poll (waking its task at once), ready on the second.
pub struct YieldOnce(pub bool);

impl Future for YieldOnce {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if std::mem::replace(&mut self.0, true) {
            Poll::Ready(())
        } else {
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }
}
