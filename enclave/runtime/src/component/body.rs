//! The response body of an `http` guest, capped at the manifest's `max_output_bytes`.

use std::pin::Pin;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;

/// A component's response body as the caller sends it on: the bytes the component writes,
/// until it has written more than `max_output_bytes` in all, which ends the body with
/// [`BodyError::TooLarge`] (the caller then aborts the response: the connection closes, or the
/// HTTP/2 stream is reset).
pub type ResponseBody = CappedBody;

/// Why a response body ended before its end.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    /// The component wrote more than the manifest's `max_output_bytes`.
    #[error("the response body exceeds the manifest's max_output_bytes = {limit}")]
    TooLarge {
        /// The limit.
        limit: u64,
    },
    /// The component's body failed: it trapped or hit a limit while writing, or dropped its
    /// stream with an error.
    #[error("the component's response body failed: {0}")]
    Guest(String),
    /// The component's run ended in failure (a trap, a limit, the deadline) before it finished
    /// the body: what was sent is not the whole response.
    #[error("the component failed before it finished the response body")]
    Unfinished,
}

/// How a component's run ended, as its response body sees it: wasmtime-wasi-http ends a body
/// normally when its store is dropped, whether or not the component finished it, so the body
/// asks this instead.
#[derive(Debug, Clone, Default)]
pub(crate) struct RunOutcome(Arc<AtomicU8>);

// 0: still running (the default).
const SUCCEEDED: u8 = 1;
const FAILED: u8 = 2;

impl RunOutcome {
    /// A guard the run holds: dropped without [`Ending::succeeded`], it records a failure.
    pub(crate) fn ending(&self) -> Ending {
        Ending(Some(self.0.clone()))
    }

    fn failed(&self) -> bool {
        self.0.load(Ordering::SeqCst) == FAILED
    }
}

/// Held by a running component; see [`RunOutcome::ending`].
pub(crate) struct Ending(Option<Arc<AtomicU8>>);

impl Ending {
    /// The run returned successfully.
    pub(crate) fn succeeded(mut self) {
        if let Some(state) = self.0.take() {
            state.store(SUCCEEDED, Ordering::SeqCst);
        }
    }
}

impl Drop for Ending {
    fn drop(&mut self) {
        if let Some(state) = self.0.take() {
            state.store(FAILED, Ordering::SeqCst);
        }
    }
}

/// A body passing the component's frames through while they stay under a byte cap.
pub struct CappedBody {
    inner: HyperOutgoingBody,
    left: u64,
    limit: u64,
    failed: bool,
    run: RunOutcome,
}

impl std::fmt::Debug for CappedBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CappedBody")
            .field("left", &self.left)
            .field("limit", &self.limit)
            .finish_non_exhaustive()
    }
}

impl CappedBody {
    pub(crate) fn new(inner: HyperOutgoingBody, limit: u64, run: RunOutcome) -> Self {
        Self {
            inner,
            left: limit,
            limit,
            failed: false,
            run,
        }
    }
}

impl Body for CappedBody {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        if self.failed {
            return Poll::Ready(None);
        }
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        match polled {
            Poll::Ready(Some(Ok(frame))) => {
                let len = frame.data_ref().map_or(0, |data| data.len() as u64);
                match self.left.checked_sub(len) {
                    Some(left) => {
                        self.left = left;
                        Poll::Ready(Some(Ok(frame)))
                    }
                    None => {
                        self.failed = true;
                        let limit = self.limit;
                        Poll::Ready(Some(Err(BodyError::TooLarge { limit })))
                    }
                }
            }
            Poll::Ready(Some(Err(error))) => {
                self.failed = true;
                Poll::Ready(Some(Err(BodyError::Guest(format!("{error:?}")))))
            }
            // The stream's end: the component finished the body (its run goes on, or
            // succeeded), or its store was dropped because the run failed.
            Poll::Ready(None) if self.run.failed() => {
                self.failed = true;
                Poll::Ready(Some(Err(BodyError::Unfinished)))
            }
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.failed || self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::{BodyExt, Full};

    fn body(bytes: &'static [u8]) -> HyperOutgoingBody {
        Full::new(Bytes::from_static(bytes))
            .map_err(|never| match never {})
            .boxed_unsync()
    }

    fn capped(bytes: &'static [u8], limit: u64) -> CappedBody {
        CappedBody::new(body(bytes), limit, RunOutcome::default())
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_body_at_the_cap_passes_whole() {
        let collected = capped(b"hello", 5).collect().await.unwrap();
        assert_eq!(collected.to_bytes(), Bytes::from_static(b"hello"));
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_body_whose_run_failed_does_not_end_cleanly() {
        let run = RunOutcome::default();
        drop(run.ending());
        let err = CappedBody::new(body(b"hello"), 5, run.clone())
            .collect()
            .await
            .unwrap_err();
        assert!(matches!(err, BodyError::Unfinished), "{err}");
        let run = RunOutcome::default();
        run.ending().succeeded();
        let whole = CappedBody::new(body(b"hello"), 5, run).collect().await;
        assert_eq!(whole.unwrap().to_bytes(), Bytes::from_static(b"hello"));
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_body_over_the_cap_ends_with_too_large() {
        let err = capped(b"hello", 4).collect().await.unwrap_err();
        assert!(matches!(err, BodyError::TooLarge { limit: 4 }), "{err}");
        assert_eq!(
            err.to_string(),
            "the response body exceeds the manifest's max_output_bytes = 4"
        );
    }
}
