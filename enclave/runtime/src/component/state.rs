//! What one request's instance of a component can reach (its store's data): an empty WASI
//! context, the wasi:http context with the enclave's hooks (no outgoing requests), the memory
//! limiter, and the platform services of the request.

use std::future::Future;
use std::sync::Arc;

use attest::Limits;
use wasmtime::component::ResourceTable;
use wasmtime::ResourceLimiter;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpHooks, WasiHttpView};

use crate::host::MemoryLimitHit;
use crate::services::PlatformServices;

/// Most core instances, tables and memories one component instance may create: far above what
/// toolchains emit (a Rust component has a handful; a Python one a few dozen), bounded so that
/// one request cannot reserve without end.
const MAX_INSTANCES: usize = 1_000;
const MAX_TABLES: usize = 1_000;
const MAX_MEMORIES: usize = 100;

/// Everything one request's instance can reach; dropped with its store.
pub(crate) struct HttpState {
    wasi: WasiCtx,
    http: WasiHttpCtx,
    hooks: Hooks,
    table: ResourceTable,
    limiter: ComponentLimiter,
    services: Option<Arc<dyn PlatformServices>>,
}

impl HttpState {
    pub(crate) fn new(limits: &Limits, services: Option<Arc<dyn PlatformServices>>) -> Self {
        // No arguments, no environment variables, no preopened directory, no sockets; stdin
        // empty, stdout and stderr discarded (the builder's defaults). The clocks and the
        // random sources are the host's: the import check lets a component reach them only
        // under the manifest's capabilities.
        let wasi = WasiCtx::builder()
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .build();
        Self {
            wasi,
            http: WasiHttpCtx::new(),
            hooks: Hooks,
            table: ResourceTable::new(),
            limiter: ComponentLimiter::new(limits.memory_bytes),
            services,
        }
    }

    /// The store's resource limiter.
    pub(crate) fn limiter(&mut self) -> &mut dyn ResourceLimiter {
        &mut self.limiter
    }

    /// The platform services of this request, if the host gave any.
    pub(crate) fn services(&self) -> Option<&Arc<dyn PlatformServices>> {
        self.services.as_ref()
    }
}

impl WasiView for HttpState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for HttpState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.hooks,
        }
    }
}

/// The enclave's wasi:http policy: no outgoing requests.
struct Hooks;

impl WasiHttpHooks for Hooks {
    fn send_request(
        &mut self,
        _request: http::Request<wasmtime_wasi_http::WasiBody>,
        _options: Option<wasmtime_wasi_http::RequestOptions>,
        _fut: Box<dyn Future<Output = Result<(), wasmtime_wasi_http::Error>> + Send>,
    ) -> Box<
        dyn Future<
                Output = Result<
                    (
                        http::Response<wasmtime_wasi_http::WasiBody>,
                        Box<dyn Future<Output = Result<(), wasmtime_wasi_http::Error>> + Send>,
                    ),
                    wasmtime_wasi_http::Error,
                >,
            > + Send,
    > {
        Box::new(async { Err(wasmtime_wasi_http::Error::HttpRequestDenied) })
    }
}

/// The manifest's `memory_bytes` over all of a component's memories together, and bounds on
/// what else an instance may create.
struct ComponentLimiter {
    memory_bytes: u64,
    total: u64,
}

impl ComponentLimiter {
    fn new(memory_bytes: u64) -> Self {
        Self {
            memory_bytes,
            total: 0,
        }
    }
}

impl ResourceLimiter for ComponentLimiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let grown = (desired as u64).saturating_sub(current as u64);
        let requested = self.total.saturating_add(grown);
        if requested > self.memory_bytes {
            return Err(MemoryLimitHit {
                limit: self.memory_bytes,
                requested,
            }
            .into());
        }
        self.total = requested;
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= crate::host::MAX_TABLE_ELEMENTS)
    }

    fn instances(&self) -> usize {
        MAX_INSTANCES
    }

    fn tables(&self) -> usize {
        MAX_TABLES
    }

    fn memories(&self) -> usize {
        MAX_MEMORIES
    }
}
