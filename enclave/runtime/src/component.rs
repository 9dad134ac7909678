//! `http` guests (`kind = "http"`): a WebAssembly component in the `wasi:http/proxy` world (WASI
//! 0.2), answering each HTTP request in a fresh instance, as `wasmtime serve` runs it — with the
//! enclave's limits, no ambient capabilities and the platform's services as WIT
//! (`enclave:platform`, `enclave/runtime/wit/platform.wit`).
//!
//! - **Imports** are checked at load against the manifest (`component/imports.rs`): the proxy world's
//!   interfaces; clocks and randomness only when granted; the platform's interfaces only under
//!   their capabilities. A component linking `wasi:filesystem` or `wasi:cli/environment`
//!   (Rust's std does) gets an empty file system (no preopened directory) and an empty
//!   environment; one linking `wasi:sockets` (CPython does) gets sockets whose every call is
//!   refused (no TCP, no UDP, no name lookup): no socket is ever opened.
//! - **Outgoing HTTP** is refused: `wasi:http/outgoing-handler.handle` answers
//!   `HTTP-request-denied` to every request.
//! - **Each request** gets a fresh store: the manifest's fuel, its `timeout_ms` (an epoch
//!   deadline on the component's execution, which yields to the executor every tick), its
//!   `memory_bytes` over all the component's memories together, its `max_output_bytes` on the
//!   response body. The caller bounds the request body (`max_input_bytes`) and the whole
//!   exchange in wall-clock time.
//! - **stdout and stderr** go nowhere: what a production guest says is confidential, and the
//!   requester has the response.
//! - **The sealed store**: a request of a component granted `store` holds the store from before
//!   the component starts until it returns (one transaction, as a native run).

mod body;
pub(crate) mod imports;
mod platform;
mod state;

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use attest::{Capability, Limits, Manifest};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use wasmtime::component::{Component, Linker};
use wasmtime::{Engine, Store, Trap};
pub use wasmtime_wasi_http::p2::bindings::http::types::Scheme;
use wasmtime_wasi_http::p2::bindings::ProxyPre;
use wasmtime_wasi_http::WasiHttpView;

use body::CappedBody;
pub use body::{BodyError, ResponseBody};
use state::HttpState;

use crate::error::{LoadError, RunError};
use crate::failure::classify;
use crate::services::{PlatformServices, RunScope};

/// The export every `http` guest has: the incoming handler of `wasi:http/proxy`.
pub const INCOMING_HANDLER: &str = "wasi:http/incoming-handler@0.2";

/// A component linked against the proxy world and the granted platform interfaces.
pub(crate) struct Linked {
    pre: ProxyPre<HttpState>,
}

/// Checks `component`'s imports against `manifest` and links it.
///
/// # Errors
/// [`LoadError::ForbiddenImports`] listing every refused import; [`LoadError::InvalidModule`]
/// for a component that does not export the incoming handler or does not link.
pub(crate) fn link(
    engine: &Engine,
    component: &Component,
    manifest: &Manifest,
) -> Result<Linked, LoadError> {
    imports::check(engine, component, manifest)?;
    let setup = |e: wasmtime::Error| LoadError::Engine(format!("{e:#}"));
    let mut linker = Linker::<HttpState>::new(engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(setup)?;
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker).map_err(setup)?;
    platform::define(&mut linker, manifest).map_err(setup)?;
    let pre = linker
        .instantiate_pre(component)
        .map_err(|e| LoadError::InvalidModule(format!("{e:#}")))?;
    let pre = ProxyPre::new(pre).map_err(|e| {
        LoadError::InvalidModule(format!(
            "the component does not export {INCOMING_HANDLER}.x (the wasi:http/proxy world): {e:#}"
        ))
    })?;
    Ok(Linked { pre })
}

/// A request being answered: the response (its head once the component sets it, its body as
/// the component writes it) and the component's run, which the caller drives to the end.
pub struct Exchange {
    /// Resolves to the response the component set, or to why there is none.
    pub response: Pin<Box<dyn Future<Output = Result<HttpResponse, RunError>> + Send>>,
    /// The component's run: it must be polled (spawned on the executor) for the response to
    /// come, and goes on while the component writes the body. Ends with what the run did.
    pub run: Pin<Box<dyn Future<Output = Result<Answered, RunError>> + Send>>,
}

impl std::fmt::Debug for Exchange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Exchange").finish_non_exhaustive()
    }
}

/// A component's response: its body streams as the component writes it, cut off with an
/// error past the manifest's `max_output_bytes`.
pub type HttpResponse = http::Response<ResponseBody>;

/// What a finished run did.
#[derive(Debug, Clone, Copy)]
pub struct Answered {
    /// Fuel used, for a debug enclave only (as [`crate::RunReport::fuel_used`]).
    pub fuel_used: Option<u64>,
    /// From instantiation to the component's return.
    pub duration: Duration,
}

/// Per-request inputs to [`Enclave::http`](crate::Enclave::http).
pub(crate) struct Request<'a> {
    pub(crate) linked: &'a Linked,
    pub(crate) engine: &'a Engine,
    pub(crate) manifest: &'a Manifest,
    pub(crate) limits: &'a Limits,
    pub(crate) engine_fuel: bool,
}

impl Request<'_> {
    /// Starts answering `request`; `services` serve the platform interfaces. A component
    /// granted `store` takes its store transaction here (waiting for the request that holds
    /// it), so call this where blocking is allowed when the enclave holds a store.
    pub(crate) fn start(
        self,
        request: http::Request<Bytes>,
        scheme: Scheme,
        services: Option<Arc<dyn PlatformServices>>,
    ) -> Result<Exchange, RunError> {
        let request = request.map(|body| {
            Full::new(body)
                .map_err(|never: Infallible| -> wasmtime_wasi_http::Error { match never {} })
        });
        let limits = self.limits.clone();
        let held = match &services {
            Some(services) if self.manifest.grants(Capability::Store) => {
                services.begin_run().map_err(|_| {
                    RunError::Host("the sealed store cannot be held for this request".into())
                })?
            }
            _ => RunScope::default(),
        };
        let state = HttpState::new(&limits, services);
        let mut store = Store::new(self.engine, state);
        store.limiter(HttpState::limiter);
        let fuel = limits.fuel;
        if self.engine_fuel {
            store
                .set_fuel(if limits.is_metered() { fuel } else { u64::MAX })
                .map_err(|e| RunError::Host(format!("{e:#}")))?;
        }
        deadline(&mut store, Duration::from_millis(limits.timeout_ms));
        let host = |e: wasmtime::Error| RunError::Host(format!("{e:#}"));
        let incoming = store
            .data_mut()
            .http()
            .new_incoming_request(scheme, request)
            .map_err(host)?;
        let (sender, receiver) = tokio::sync::oneshot::channel();
        let outparam = store
            .data_mut()
            .http()
            .new_response_outparam(sender)
            .map_err(host)?;
        let pre = self.linked.pre.clone();
        let debug = self.manifest.debug;
        let max_output = limits.max_output_bytes;
        let run_limits = limits.clone();
        let outcome = body::RunOutcome::default();
        let watched = outcome.clone();
        let run = async move {
            // Declared after the store, so dropped before it: when the run ends in any way but
            // success (a trap, a limit, or this future dropped at the deadline), the response
            // body learns it before the store's drop ends the body's stream.
            let mut store = store;
            let ending = outcome.ending();
            let started = Instant::now();
            let proxy = pre
                .instantiate_async(&mut store)
                .await
                .map_err(|e| classify(e, &run_limits, true))?;
            let called = proxy
                .wasi_http_incoming_handler()
                .call_handle(&mut store, incoming, outparam)
                .await;
            drop(held);
            called.map_err(|e| classify(e, &run_limits, false))?;
            let fuel_used = (debug && run_limits.is_metered()).then(|| {
                run_limits
                    .fuel
                    .saturating_sub(store.get_fuel().unwrap_or(0))
            });
            ending.succeeded();
            Ok(Answered {
                fuel_used,
                duration: started.elapsed(),
            })
        };
        let response = async move {
            match receiver.await {
                Ok(Ok(response)) => {
                    Ok(response.map(|body| CappedBody::new(body, max_output, watched)))
                }
                Ok(Err(code)) => Err(RunError::Trap(format!(
                    "the component answered an error instead of a response: {code:?}"
                ))),
                // The outparam was dropped unset: the run failed (its error comes from `run`)
                // or returned without a response.
                Err(_) => Err(RunError::Trap(
                    "the component returned without setting a response".into(),
                )),
            }
        };
        Ok(Exchange {
            response: Box::pin(response),
            run: Box::pin(run),
        })
    }
}

/// Ends the component's execution `timeout` after it starts, checked at every epoch tick while
/// it executes; at each tick before that it yields to the executor, so one busy component never
/// holds an executor thread for longer than a tick.
fn deadline(store: &mut Store<HttpState>, timeout: Duration) {
    let started = Instant::now();
    store.set_epoch_deadline(1);
    store.epoch_deadline_callback(move |_| {
        if started.elapsed() >= timeout {
            return Err(Trap::Interrupt.into());
        }
        Ok(wasmtime::UpdateDeadline::Yield(1))
    });
}
