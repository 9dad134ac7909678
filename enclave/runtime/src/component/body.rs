//! The response body of an `http` guest, capped at the manifest's `max_output_bytes`.

use std::pin::Pin;
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
}

/// A body passing the component's frames through while they stay under a byte cap.
pub struct CappedBody {
    inner: HyperOutgoingBody,
    left: u64,
    limit: u64,
    failed: bool,
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
    pub(crate) fn new(inner: HyperOutgoingBody, limit: u64) -> Self {
        Self {
            inner,
            left: limit,
            limit,
            failed: false,
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

    #[tokio::test(flavor = "current_thread")]
    async fn a_body_at_the_cap_passes_whole() {
        let collected = CappedBody::new(body(b"hello"), 5).collect().await.unwrap();
        assert_eq!(collected.to_bytes(), Bytes::from_static(b"hello"));
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_body_over_the_cap_ends_with_too_large() {
        let err = CappedBody::new(body(b"hello"), 4)
            .collect()
            .await
            .unwrap_err();
        assert!(matches!(err, BodyError::TooLarge { limit: 4 }), "{err}");
        assert_eq!(
            err.to_string(),
            "the response body exceeds the manifest's max_output_bytes = 4"
        );
    }
}
