//! A request body streamed from the connection's task to a guest thread, never buffered whole.
//!
//! The task reads frames with a per-frame and a whole-body deadline and hands them over a
//! channel of four frames; the guest thread reads them as a [`std::io::Read`]. The body may hold
//! no more than the length the route expects: what the sealed header declares, or the
//! manifest's input cap for a plaintext run.

use std::io::{self, Read};
use std::time::Duration;

use bytes::{Buf, Bytes};
use http_body_util::BodyExt as _;
use hyper::body::Incoming;
use tokio::sync::mpsc;
use tokio::time::Instant;

/// Frames in flight between the connection's task and the guest thread.
const FRAMES_IN_FLIGHT: usize = 4;

/// The guest thread's end.
pub(crate) struct BodyReader {
    frames: mpsc::Receiver<io::Result<Bytes>>,
    current: Bytes,
}

/// The task's end.
pub(crate) struct BodySender {
    frames: mpsc::Sender<io::Result<Bytes>>,
}

pub(crate) fn channel() -> (BodySender, BodyReader) {
    let (tx, rx) = mpsc::channel(FRAMES_IN_FLIGHT);
    (
        BodySender { frames: tx },
        BodyReader {
            frames: rx,
            current: Bytes::new(),
        },
    )
}

impl Read for BodyReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while !self.current.has_remaining() {
            // Called on a guest thread, never inside the async runtime.
            match self.frames.blocking_recv() {
                Some(Ok(frame)) => self.current = frame,
                Some(Err(error)) => return Err(error),
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.remaining());
        self.current
            .copy_to_slice(buf.get_mut(..n).unwrap_or_default());
        Ok(n)
    }
}

/// How the body's transfer ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pumped {
    /// All of it, and no more than allowed.
    Complete,
    /// The reader stopped reading (the run ended early); the rest was not read.
    Abandoned,
    /// The body held more than `limit` bytes.
    TooLong,
    /// A frame did not come within the idle timeout, or the whole body not by the deadline.
    TimedOut,
    /// The connection failed or the client went away mid-body.
    Disconnected,
}

/// Deadlines for reading a body.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Deadlines {
    /// Longest wait for the next frame.
    pub idle: Duration,
    /// When the whole body must have arrived.
    pub total: Instant,
}

/// Reads the next data frame of `body`, skipping trailers.
pub(crate) async fn next_data(
    body: &mut Incoming,
    deadlines: Deadlines,
) -> Result<Option<Bytes>, Pumped> {
    let wait = deadlines
        .idle
        .min(deadlines.total.saturating_duration_since(Instant::now()));
    loop {
        match tokio::time::timeout(wait, body.frame()).await {
            Err(_) => return Err(Pumped::TimedOut),
            Ok(None) => return Ok(None),
            Ok(Some(Err(_))) => return Err(Pumped::Disconnected),
            Ok(Some(Ok(frame))) => {
                if let Ok(data) = frame.into_data() {
                    return Ok(Some(data));
                }
            }
        }
    }
}

impl BodySender {
    /// Sends `first` (bytes already read) and then the rest of `body`, at most `limit` bytes in
    /// all. Any failure is also delivered to the reader as an I/O error, so the run stops.
    pub(crate) async fn pump(
        self,
        first: Bytes,
        mut body: Incoming,
        limit: u64,
        deadlines: Deadlines,
    ) -> Pumped {
        let mut sent = first.len() as u64;
        if sent > limit {
            return self.fail(Pumped::TooLong).await;
        }
        if !first.is_empty() && self.frames.send(Ok(first)).await.is_err() {
            return Pumped::Abandoned;
        }
        loop {
            match next_data(&mut body, deadlines).await {
                Ok(None) => return Pumped::Complete,
                Ok(Some(data)) => {
                    sent = sent.saturating_add(data.len() as u64);
                    if sent > limit {
                        return self.fail(Pumped::TooLong).await;
                    }
                    if self.frames.send(Ok(data)).await.is_err() {
                        return Pumped::Abandoned;
                    }
                }
                Err(end) => return self.fail(end).await,
            }
        }
    }

    async fn fail(self, end: Pumped) -> Pumped {
        let (kind, message) = match end {
            Pumped::TooLong => (
                io::ErrorKind::InvalidData,
                "request body longer than declared",
            ),
            Pumped::TimedOut => (io::ErrorKind::TimedOut, "request body not received in time"),
            _ => (
                io::ErrorKind::ConnectionAborted,
                "client went away mid-body",
            ),
        };
        // The reader may be gone already; then nobody needs telling.
        let _ = self.frames.send(Err(io::Error::new(kind, message))).await;
        end
    }
}
