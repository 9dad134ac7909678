//! `GET /metrics`: the server's counters in the OpenMetrics text format, which Prometheus scrapes
//! (`docs/formats.md`, "HTTP API" lists the metrics).

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// The media type of the exposition.
pub const METRICS_MEDIA_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: &'static str,
    outcome: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RefusalLabels {
    reason: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ClosedLabels {
    reason: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

/// The server's metrics.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    refusals: Family<RefusalLabels, Counter>,
    pub(crate) queue_depth: Gauge,
    pub(crate) runs_in_flight: Gauge,
    pub(crate) connections: Gauge,
    connections_closed: Family<ClosedLabels, Counter>,
    pub(crate) body_bytes_reserved: Gauge,
    pub(crate) free_slots: Gauge,
    run_seconds: Histogram,
    fuel: Counter,
    tls_handshakes: Family<OutcomeLabels, Counter>,
    tls_renewals: Family<OutcomeLabels, Counter>,
    pub(crate) tls_certificate_issued: Gauge,
}

impl Metrics {
    pub(crate) fn new(instance_slots: u32) -> Self {
        let mut registry = Registry::with_prefix("enclave");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "requests",
            "Requests answered, by route and outcome (ok, refused, guest_failed, busy, error)",
            requests.clone(),
        );
        let refusals = Family::<RefusalLabels, Counter>::default();
        registry.register(
            "refusals",
            "Refused requests, by problem type (docs/formats.md, HTTP API)",
            refusals.clone(),
        );
        let queue_depth = Gauge::default();
        registry.register(
            "queue_depth",
            "Runs waiting for a worker",
            queue_depth.clone(),
        );
        let runs_in_flight = Gauge::default();
        registry.register(
            "runs_in_flight",
            "Runs executing on a worker",
            runs_in_flight.clone(),
        );
        let connections = Gauge::default();
        registry.register(
            "connections",
            "Open client connections",
            connections.clone(),
        );
        let connections_closed = Family::<ClosedLabels, Counter>::default();
        registry.register(
            "connections_closed",
            "Connections the server closed, by reason (tls_handshake_timeout, header_timeout, idle_timeout, evicted)",
            connections_closed.clone(),
        );
        let body_bytes_reserved = Gauge::default();
        registry.register(
            "request_body_bytes_reserved",
            "Bytes of request bodies held in memory (being received, queued or running), of --max-body-memory",
            body_bytes_reserved.clone(),
        );
        let free_slots = Gauge::default();
        free_slots.set(i64::from(instance_slots));
        registry.register(
            "instance_slots_free",
            "Free wasmtime instance slots of the loaded enclave",
            free_slots.clone(),
        );
        // 100 µs to about 6.5 s: a guest run's latency, queueing excluded.
        let run_seconds = Histogram::new(
            prometheus_client::metrics::histogram::exponential_buckets(1e-4, 2.0, 17),
        );
        registry.register(
            "run_duration_seconds",
            "Time from a worker taking a run to its answer (open, run, seal, sign)",
            run_seconds.clone(),
        );
        let fuel = Counter::default();
        registry.register("fuel_used", "Fuel used by successful runs", fuel.clone());
        let tls_handshakes = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "tls_handshakes",
            "With --tls: TLS handshakes, by outcome (ok, failed, timeout)",
            tls_handshakes.clone(),
        );
        let tls_renewals = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "tls_renewals",
            "With --tls: attempts to replace the key, evidence and certificate (ok, failed)",
            tls_renewals.clone(),
        );
        let tls_certificate_issued = Gauge::default();
        registry.register(
            "tls_certificate_issued_timestamp_seconds",
            "With --tls: when the certificate served now was made (Unix time); 0 without --tls",
            tls_certificate_issued.clone(),
        );
        Self {
            registry,
            requests,
            refusals,
            queue_depth,
            runs_in_flight,
            connections,
            connections_closed,
            body_bytes_reserved,
            free_slots,
            run_seconds,
            fuel,
            tls_handshakes,
            tls_renewals,
            tls_certificate_issued,
        }
    }

    pub(crate) fn tls_handshake(&self, outcome: &'static str) {
        self.tls_handshakes
            .get_or_create(&OutcomeLabels { outcome })
            .inc();
    }

    pub(crate) fn connection_closed(&self, why: crate::conn::Closed) {
        self.connections_closed
            .get_or_create(&ClosedLabels {
                reason: why.label(),
            })
            .inc();
    }

    pub(crate) fn tls_renewal(&self, outcome: &'static str) {
        self.tls_renewals
            .get_or_create(&OutcomeLabels { outcome })
            .inc();
    }

    pub(crate) fn request(&self, route: &'static str, outcome: &'static str) {
        self.requests
            .get_or_create(&RequestLabels { route, outcome })
            .inc();
    }

    pub(crate) fn refusal(&self, reason: &'static str) {
        self.refusals.get_or_create(&RefusalLabels { reason }).inc();
    }

    pub(crate) fn run(&self, seconds: f64, fuel: u64) {
        self.run_seconds.observe(seconds);
        self.fuel.inc_by(fuel);
    }

    /// The exposition text.
    pub(crate) fn encode(&self) -> String {
        let mut text = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }
}
