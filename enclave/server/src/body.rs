//! Request bodies, received whole on the connection's task before a worker is taken.
//!
//! A guest thread never waits for a client: the body is read here, frame by frame, with a
//! per-frame and a whole-body deadline, and capped at the length the route allows; only then is
//! the run queued, and the guest reads its input from memory. (A guest thread that waited on the
//! connection would also block inside wasmtime-wasi's own tokio runtime, which tokio refuses.)
//!
//! The memory this takes is bounded for the whole server by a [`BodyBudget`]: every body
//! reserves its bytes before they are read, and holds them until its run ends.

use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http_body_util::BodyExt as _;
use hyper::body::Incoming;
use prometheus_client::metrics::gauge::Gauge;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

/// The budget's unit: bodies reserve whole KiB (a semaphore counts in `u32`).
const UNIT: u64 = 1024;

/// Why a body was not received.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BodyError {
    /// The body held more than the route's limit.
    TooLong,
    /// A frame did not come within the idle timeout, or the whole body not by the deadline.
    TimedOut,
    /// The connection failed or the client went away mid-body.
    Disconnected,
    /// The server holds as many body bytes as its budget allows: 503.
    OverBudget,
}

/// Deadlines for reading a body.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Deadlines {
    /// Longest wait for the next frame.
    pub idle: Duration,
    /// When the whole body must have arrived.
    pub total: Instant,
}

/// Bytes of request bodies the server may hold at once.
pub(crate) struct BodyBudget {
    units: Arc<Semaphore>,
    /// Bytes reserved now (`enclave_request_body_bytes_reserved`).
    reserved: Gauge,
}

/// Bytes one body holds of the [`BodyBudget`], returned when dropped.
pub(crate) struct Reservation {
    units: Arc<Semaphore>,
    permit: Option<OwnedSemaphorePermit>,
    reserved: Gauge,
}

impl BodyBudget {
    /// A budget of `bytes` (rounded up to whole KiB, at most `u32::MAX` KiB).
    pub(crate) fn new(bytes: u64, reserved: Gauge) -> Self {
        let units = usize::try_from(units(bytes))
            .unwrap_or(usize::MAX)
            .min(Semaphore::MAX_PERMITS);
        Self {
            units: Arc::new(Semaphore::new(units)),
            reserved,
        }
    }

    /// An empty reservation, to be grown with [`Reservation::cover`].
    pub(crate) fn reservation(&self) -> Reservation {
        Reservation {
            units: self.units.clone(),
            permit: None,
            reserved: self.reserved.clone(),
        }
    }
}

fn units(bytes: u64) -> u64 {
    bytes.div_ceil(UNIT)
}

impl Reservation {
    /// Grows the reservation to cover `bytes`, or fails at once when the budget is spent.
    pub(crate) fn cover(&mut self, bytes: u64) -> Result<(), BodyError> {
        let held = self.permit.as_ref().map_or(0, |p| p.num_permits() as u64);
        let more = units(bytes).saturating_sub(held);
        if more == 0 {
            return Ok(());
        }
        let more = u32::try_from(more).map_err(|_| BodyError::OverBudget)?;
        let permit = self
            .units
            .clone()
            .try_acquire_many_owned(more)
            .map_err(|_| BodyError::OverBudget)?;
        self.reserved
            .inc_by(i64::from(more).saturating_mul(UNIT as i64));
        match &mut self.permit {
            Some(held) => held.merge(permit),
            None => self.permit = Some(permit),
        }
        Ok(())
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        if let Some(permit) = &self.permit {
            let bytes = (permit.num_permits() as u64).saturating_mul(UNIT);
            self.reserved
                .dec_by(i64::try_from(bytes).unwrap_or(i64::MAX));
        }
    }
}

/// Reads the next data frame of `body`, skipping trailers.
pub(crate) async fn next_data(
    body: &mut Incoming,
    deadlines: Deadlines,
) -> Result<Option<Bytes>, BodyError> {
    let wait = deadlines
        .idle
        .min(deadlines.total.saturating_duration_since(Instant::now()));
    loop {
        match tokio::time::timeout(wait, body.frame()).await {
            Err(_) => return Err(BodyError::TimedOut),
            Ok(None) => return Ok(None),
            Ok(Some(Err(_))) => return Err(BodyError::Disconnected),
            Ok(Some(Ok(frame))) => {
                if let Ok(data) = frame.into_data() {
                    return Ok(Some(data));
                }
            }
        }
    }
}

/// Reads `body` to its end and drops it, at most `limit` bytes, within `deadlines`: so that a
/// refusal sent before the body was needed still reaches a client that writes its whole body
/// before it reads. Holds nothing in memory.
pub(crate) async fn discard(body: &mut Incoming, limit: u64, deadlines: Deadlines) {
    let mut seen = 0u64;
    while let Ok(Some(data)) = next_data(body, deadlines).await {
        seen = seen.saturating_add(data.len() as u64);
        if seen > limit {
            return;
        }
    }
}

/// Reads `body` onto `into` until it ends, or until `into` holds `until` bytes (then returns
/// with the rest unread), never more than `limit` bytes in all, each reserved in `reservation`
/// before it is kept.
pub(crate) async fn receive(
    body: &mut Incoming,
    into: &mut BytesMut,
    limits: Limits,
    deadlines: Deadlines,
    reservation: &mut Reservation,
) -> Result<(), BodyError> {
    while (into.len() as u64) < limits.until {
        let Some(data) = next_data(body, deadlines).await? else {
            return Ok(());
        };
        let len = (into.len() as u64).saturating_add(data.len() as u64);
        if len > limits.limit {
            return Err(BodyError::TooLong);
        }
        reservation.cover(len)?;
        into.extend_from_slice(&data);
    }
    Ok(())
}

/// How much of a body [`receive`] reads.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    /// Stop once this much is held (`u64::MAX`: read to the end).
    pub until: u64,
    /// Refuse beyond this.
    pub limit: u64,
}

impl Limits {
    /// The whole body, at most `limit` bytes.
    pub(crate) fn whole(limit: u64) -> Self {
        Self {
            until: u64::MAX,
            limit,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reservations_share_the_budget_and_return_it_when_dropped() {
        let gauge = Gauge::default();
        let budget = BodyBudget::new(4 * UNIT, gauge.clone());
        let mut a = budget.reservation();
        a.cover(1).unwrap();
        a.cover(3 * UNIT).unwrap();
        assert_eq!(gauge.get(), 3 * UNIT as i64);
        let mut b = budget.reservation();
        assert_eq!(b.cover(2 * UNIT), Err(BodyError::OverBudget));
        b.cover(UNIT).unwrap();
        drop(a);
        assert_eq!(gauge.get(), UNIT as i64);
        b.cover(4 * UNIT).unwrap();
        drop(b);
        assert_eq!(gauge.get(), 0);
    }
}
