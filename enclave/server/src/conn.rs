//! Every open connection's activity, its deadlines, and the choice of whom to close under
//! connection pressure.
//!
//! A connection may stall a client-chosen time in no phase (`docs/formats.md`, "Limits and
//! concurrency"): the TLS handshake has its own deadline; from then until its first request's
//! headers are parsed it has the header timeout (which covers a connection that never sends a
//! byte and one that stops within the h2 preface, as hyper's own header timer starts only after
//! the protocol is detected); with no request in flight after that it has the idle timeout,
//! whatever frames it sends (an h2 client answering PINGs opens no stream and is idle). While a
//! request is in flight the body deadlines and the guest's own limits bound it.
//!
//! When the connection cap is near, the accept loop closes the connection idle the longest
//! first (silent connections included), as nginx reuses keep-alive connections and Envoy's
//! overload manager closes idle ones.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

/// Why the server closed a connection (the `reason` label of
/// `enclave_connections_closed_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Closed {
    /// The TLS handshake did not finish within `--tls-handshake-timeout`.
    TlsHandshakeTimeout,
    /// No complete first request within `--header-timeout` of the connection (or handshake).
    HeaderTimeout,
    /// No request in flight for `--idle-timeout`.
    IdleTimeout,
    /// Closed, idle, to make room under connection pressure.
    Evicted,
}

impl Closed {
    /// The metric label.
    pub(crate) fn label(self) -> &'static str {
        match self {
            Self::TlsHandshakeTimeout => "tls_handshake_timeout",
            Self::HeaderTimeout => "header_timeout",
            Self::IdleTimeout => "idle_timeout",
            Self::Evicted => "evicted",
        }
    }
}

/// The deadlines a connection's watchdog enforces.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Timeouts {
    /// The TLS handshake, from the accept (`None` without TLS).
    pub handshake: Option<Duration>,
    /// From the accept (or the end of the TLS handshake) to the first request's headers.
    pub first_request: Duration,
    /// With no request in flight, after the first.
    pub idle: Duration,
}

/// One connection's activity, shared by its task, its requests and the registry.
#[derive(Debug)]
pub(crate) struct Activity {
    born: Instant,
    /// Requests being handled now.
    in_flight: AtomicUsize,
    /// Still in the TLS handshake (when the server speaks TLS).
    handshaking: AtomicBool,
    /// Whether a request was ever handled.
    served: AtomicBool,
    /// Milliseconds after `born` when the connection last became idle.
    idle_since_ms: AtomicU64,
    /// Chosen for eviction, not yet gone.
    evicting: AtomicBool,
    /// Wakes the watchdog: a request ended, or the registry asks it to close if idle.
    wake: Notify,
}

impl Activity {
    fn new(tls: bool) -> Self {
        Self {
            born: Instant::now(),
            handshaking: AtomicBool::new(tls),
            in_flight: AtomicUsize::new(0),
            served: AtomicBool::new(false),
            idle_since_ms: AtomicU64::new(0),
            evicting: AtomicBool::new(false),
            wake: Notify::new(),
        }
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.born.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// The TLS handshake is done: the first-request deadline starts now.
    pub(crate) fn handshake_done(&self) {
        self.idle_since_ms.store(self.now_ms(), Ordering::SeqCst);
        self.handshaking.store(false, Ordering::SeqCst);
    }

    /// A request begins; it ends when the returned guard is dropped.
    pub(crate) fn request(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        self.served.store(true, Ordering::SeqCst);
        InFlight(self.clone())
    }

    fn idle(&self) -> bool {
        self.in_flight.load(Ordering::SeqCst) == 0
    }

    /// When the connection must close if it stays as it is; `None` while a request is in flight.
    fn deadline(&self, timeouts: Timeouts) -> Option<(Instant, Closed)> {
        if !self.idle() {
            return None;
        }
        if let (true, Some(handshake)) =
            (self.handshaking.load(Ordering::SeqCst), timeouts.handshake)
        {
            return Some((self.born + handshake, Closed::TlsHandshakeTimeout));
        }
        let since = self.born + Duration::from_millis(self.idle_since_ms.load(Ordering::SeqCst));
        Some(if self.served.load(Ordering::SeqCst) {
            (since + timeouts.idle, Closed::IdleTimeout)
        } else {
            (since + timeouts.first_request, Closed::HeaderTimeout)
        })
    }

    /// Resolves when the connection must be closed, and says why.
    pub(crate) async fn watchdog(&self, timeouts: Timeouts) -> Closed {
        loop {
            let deadline = self.deadline(timeouts);
            let sleep = async {
                match deadline {
                    Some((at, _)) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                () = sleep => {
                    if let Some((at, why)) = self.deadline(timeouts) {
                        if Instant::now() >= at {
                            return why;
                        }
                    }
                }
                () = self.wake.notified() => {
                    if self.evicting.load(Ordering::SeqCst) {
                        if self.idle() {
                            return Closed::Evicted;
                        }
                        // Busy again since it was chosen: it stays.
                        self.evicting.store(false, Ordering::SeqCst);
                    }
                }
            }
        }
    }
}

/// A request in flight on a connection.
pub(crate) struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        let activity = &self.0;
        activity
            .idle_since_ms
            .store(activity.now_ms(), Ordering::SeqCst);
        activity.in_flight.fetch_sub(1, Ordering::SeqCst);
        activity.wake.notify_one();
    }
}

/// The open connections.
#[derive(Debug, Default)]
pub(crate) struct Registry {
    open: Mutex<HashMap<u64, Arc<Activity>>>,
    next: AtomicU64,
}

/// A connection's place in the [`Registry`], left when dropped.
pub(crate) struct Registered {
    registry: Arc<Registry>,
    id: u64,
    pub(crate) activity: Arc<Activity>,
}

impl Drop for Registered {
    fn drop(&mut self) {
        self.registry.lock().remove(&self.id);
    }
}

impl Registry {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Arc<Activity>>> {
        self.open.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Adds a connection accepted now (`tls`: that begins with a TLS handshake).
    pub(crate) fn register(self: &Arc<Self>, tls: bool) -> Registered {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let activity = Arc::new(Activity::new(tls));
        self.lock().insert(id, activity.clone());
        Registered {
            registry: self.clone(),
            id,
            activity,
        }
    }

    /// Asks the connection idle the longest (with no request in flight, not already chosen) to
    /// close. Returns whether there was one.
    pub(crate) fn evict_oldest_idle(&self) -> bool {
        let open = self.lock();
        let oldest = open
            .values()
            .filter(|a| a.idle() && !a.evicting.load(Ordering::SeqCst))
            .min_by_key(|a| a.born + Duration::from_millis(a.idle_since_ms.load(Ordering::SeqCst)));
        match oldest {
            Some(activity) => {
                activity.evicting.store(true, Ordering::SeqCst);
                activity.wake.notify_one();
                true
            }
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TIMEOUTS: Timeouts = Timeouts {
        handshake: Some(Duration::from_secs(5)),
        first_request: Duration::from_secs(10),
        idle: Duration::from_secs(30),
    };

    #[tokio::test(start_paused = true)]
    async fn a_silent_connection_has_the_header_deadline_then_the_idle_one() {
        let registry = Arc::new(Registry::default());
        let conn = registry.register(false);
        assert_eq!(
            conn.activity.watchdog(TIMEOUTS).await,
            Closed::HeaderTimeout
        );
        let request = conn.activity.request();
        assert!(conn.activity.deadline(TIMEOUTS).is_none());
        drop(request);
        let (at, why) = conn.activity.deadline(TIMEOUTS).unwrap();
        assert_eq!(
            (at - Instant::now(), why),
            (TIMEOUTS.idle, Closed::IdleTimeout)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_tls_connection_has_the_handshake_deadline_first() {
        let registry = Arc::new(Registry::default());
        let conn = registry.register(true);
        let (at, why) = conn.activity.deadline(TIMEOUTS).unwrap();
        assert_eq!(
            (at - Instant::now(), why),
            (Duration::from_secs(5), Closed::TlsHandshakeTimeout)
        );
        tokio::time::advance(Duration::from_secs(4)).await;
        conn.activity.handshake_done();
        assert_eq!(
            conn.activity.watchdog(TIMEOUTS).await,
            Closed::HeaderTimeout
        );
        assert_eq!(conn.activity.born.elapsed(), Duration::from_secs(14));
    }

    #[tokio::test(start_paused = true)]
    async fn eviction_takes_the_oldest_idle_connection_and_spares_busy_ones() {
        let registry = Arc::new(Registry::default());
        let oldest = registry.register(false);
        tokio::time::advance(Duration::from_secs(1)).await;
        let newer = registry.register(false);
        let busy = oldest.activity.request();
        // The oldest is busy: the newer idle one goes.
        assert!(registry.evict_oldest_idle());
        assert_eq!(newer.activity.watchdog(TIMEOUTS).await, Closed::Evicted);
        drop(newer);
        assert!(!registry.evict_oldest_idle(), "nothing idle is left");
        drop(busy);
        assert!(registry.evict_oldest_idle());
        assert_eq!(oldest.activity.watchdog(TIMEOUTS).await, Closed::Evicted);
    }
}
