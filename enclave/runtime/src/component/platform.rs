//! The host side of `enclave:platform` (`enclave/runtime/wit/platform.wit`): attestation,
//! sealing and the sealed store for components, with the semantics and the caps of the native
//! ABI (`docs/abi.md`). Each list argument arrives as a [`WasmList`], a view of the component's
//! memory: its length is checked against the cap before a byte of it is copied, so a component
//! cannot make the host copy gigabytes by passing a huge list.

use std::sync::Arc;

use attest::{Capability, Manifest, Svn};
use wasmtime::component::{ComponentType, Lift, Linker, Lower, WasmList};
use wasmtime::StoreContextMut;

use super::state::HttpState;
use crate::abi::{
    MAX_REPORT_DATA, MAX_SEALED_BLOB, MAX_SEAL_AAD, MAX_SEAL_PLAINTEXT, MAX_STORE_KEY,
    MAX_STORE_VALUE, REPORT_NONCE_LEN,
};
use crate::error::GuestFault;
use crate::services::{PlatformServices, ReportRefused, SealPolicy, ServiceRefused};

/// The package's version, part of every interface name.
const VERSION: &str = "0.1.0";

/// `enclave:platform/types.error`.
#[derive(ComponentType, Lift, Lower, Clone, Copy, Debug, PartialEq, Eq)]
#[component(enum)]
#[repr(u8)]
pub(crate) enum PlatformError {
    #[component(name = "too-large")]
    TooLarge,
    #[component(name = "failed")]
    Failed,
    #[component(name = "policy")]
    Policy,
}

/// `enclave:platform/sealing.key-policy`.
#[derive(ComponentType, Lift, Lower, Clone, Copy, Debug)]
#[component(variant)]
pub(crate) enum KeyPolicy {
    #[component(name = "measurement")]
    Measurement,
    #[component(name = "signer")]
    Signer,
    #[component(name = "signer-at")]
    SignerAt(u16),
}

impl From<KeyPolicy> for SealPolicy {
    fn from(policy: KeyPolicy) -> Self {
        match policy {
            KeyPolicy::Measurement => Self::Measurement,
            KeyPolicy::Signer => Self::Signer,
            KeyPolicy::SignerAt(svn) => Self::SignerAt(Svn(svn)),
        }
    }
}

/// `enclave:platform/sealing.unsealed`.
#[derive(ComponentType, Lift, Lower, Clone, Debug)]
#[component(record)]
pub(crate) struct Unsealed {
    aad: Vec<u8>,
    plaintext: Vec<u8>,
}

type Answer<T> = wasmtime::Result<(Result<T, PlatformError>,)>;

/// The services and the two buffers of a `seal` or `seal-at` call.
type SealArgs = (Arc<dyn PlatformServices>, Vec<u8>, Vec<u8>);

/// Defines the interfaces the manifest grants in `linker`.
pub(crate) fn define(linker: &mut Linker<HttpState>, manifest: &Manifest) -> wasmtime::Result<()> {
    if manifest.grants(Capability::Report) {
        let mut i = linker.instance(&format!("enclave:platform/attestation@{VERSION}"))?;
        i.func_wrap("report", report)?;
    }
    if manifest.grants(Capability::Seal) {
        let mut i = linker.instance(&format!("enclave:platform/sealing@{VERSION}"))?;
        i.func_wrap("seal", seal)?;
        i.func_wrap("seal-at", seal_at)?;
        i.func_wrap("tcb-level", tcb_level)?;
        i.func_wrap("unseal", unseal)?;
    }
    if manifest.grants(Capability::Store) {
        let mut i = linker.instance(&format!("enclave:platform/store@{VERSION}"))?;
        i.func_wrap("get", store_get)?;
        i.func_wrap("put", store_put)?;
        i.func_wrap("delete", store_delete)?;
    }
    Ok(())
}

/// The request's platform services; a request without any fails every call.
fn services(
    store: &StoreContextMut<'_, HttpState>,
) -> Result<Arc<dyn PlatformServices>, PlatformError> {
    store
        .data()
        .services()
        .cloned()
        .ok_or(PlatformError::Failed)
}

/// The bytes of `list` if it is at most `cap` long (checked before anything is copied).
fn bounded(
    store: &StoreContextMut<'_, HttpState>,
    list: &WasmList<u8>,
    cap: usize,
) -> Result<Vec<u8>, PlatformError> {
    if list.len() > cap {
        return Err(PlatformError::TooLarge);
    }
    Ok(list.as_le_slice(store).to_vec())
}

/// A refusal as the component sees it; a store that cannot be trusted ends the request.
fn refused<T>(refusal: ServiceRefused) -> Answer<T> {
    match refusal {
        ServiceRefused::TooLarge => Ok((Err(PlatformError::TooLarge),)),
        ServiceRefused::Policy => Ok((Err(PlatformError::Policy),)),
        ServiceRefused::Store(fault) => Err(GuestFault::Store(fault).into()),
        _ => Ok((Err(PlatformError::Failed),)),
    }
}

fn answer<T>(result: Result<T, ServiceRefused>) -> Answer<T> {
    match result {
        Ok(value) => Ok((Ok(value),)),
        Err(refusal) => refused(refusal),
    }
}

fn report(
    store: StoreContextMut<'_, HttpState>,
    (nonce, data): (WasmList<u8>, WasmList<u8>),
) -> Answer<Vec<u8>> {
    if !REPORT_NONCE_LEN.contains(&nonce.len()) || data.len() > MAX_REPORT_DATA {
        return Ok((Err(PlatformError::TooLarge),));
    }
    let run = || {
        let services = services(&store)?;
        let nonce = bounded(&store, &nonce, *REPORT_NONCE_LEN.end())?;
        let data = bounded(&store, &data, MAX_REPORT_DATA)?;
        services
            .issue(&nonce, &data)
            .map_err(|refusal| match refusal {
                ReportRefused::BadSize => PlatformError::TooLarge,
                _ => PlatformError::Failed,
            })
    };
    Ok((run(),))
}

/// The arguments of `seal` and `seal-at` within their caps.
fn seal_args(
    store: &StoreContextMut<'_, HttpState>,
    aad: &WasmList<u8>,
    plaintext: &WasmList<u8>,
) -> Result<SealArgs, PlatformError> {
    if aad.len() > MAX_SEAL_AAD || plaintext.len() > MAX_SEAL_PLAINTEXT {
        return Err(PlatformError::TooLarge);
    }
    Ok((
        services(store)?,
        bounded(store, aad, MAX_SEAL_AAD)?,
        bounded(store, plaintext, MAX_SEAL_PLAINTEXT)?,
    ))
}

fn seal(
    store: StoreContextMut<'_, HttpState>,
    (policy, aad, plaintext): (KeyPolicy, WasmList<u8>, WasmList<u8>),
) -> Answer<Vec<u8>> {
    match seal_args(&store, &aad, &plaintext) {
        Ok((services, aad, plaintext)) => answer(services.seal(policy.into(), &aad, &plaintext)),
        Err(error) => Ok((Err(error),)),
    }
}

fn seal_at(
    store: StoreContextMut<'_, HttpState>,
    (policy, tcb, aad, plaintext): (KeyPolicy, u32, WasmList<u8>, WasmList<u8>),
) -> Answer<Vec<u8>> {
    match seal_args(&store, &aad, &plaintext) {
        Ok((services, aad, plaintext)) => {
            answer(services.seal_at(policy.into(), tcb, &aad, &plaintext))
        }
        Err(error) => Ok((Err(error),)),
    }
}

fn tcb_level(store: StoreContextMut<'_, HttpState>, (): ()) -> Answer<u32> {
    match services(&store) {
        Ok(services) => answer(services.tcb_level()),
        Err(error) => Ok((Err(error),)),
    }
}

fn unseal(store: StoreContextMut<'_, HttpState>, (blob,): (WasmList<u8>,)) -> Answer<Unsealed> {
    let args = bounded(&store, &blob, MAX_SEALED_BLOB).and_then(|b| Ok((services(&store)?, b)));
    match args {
        Ok((services, blob)) => answer(services.unseal(&blob).map(|opened| Unsealed {
            aad: opened.aad.to_vec(),
            plaintext: opened.plaintext.to_vec(),
        })),
        Err(error) => Ok((Err(error),)),
    }
}

fn store_get(
    store: StoreContextMut<'_, HttpState>,
    (key,): (WasmList<u8>,),
) -> Answer<Option<Vec<u8>>> {
    let args = bounded(&store, &key, MAX_STORE_KEY).and_then(|k| Ok((services(&store)?, k)));
    match args {
        Ok((services, key)) => answer(
            services
                .store_get(&key)
                .map(|value| value.map(|v| v.to_vec())),
        ),
        Err(error) => Ok((Err(error),)),
    }
}

fn store_put(
    store: StoreContextMut<'_, HttpState>,
    (key, value): (WasmList<u8>, WasmList<u8>),
) -> Answer<()> {
    if key.len() > MAX_STORE_KEY || value.len() > MAX_STORE_VALUE {
        return Ok((Err(PlatformError::TooLarge),));
    }
    let args = bounded(&store, &key, MAX_STORE_KEY).and_then(|k| {
        let v = bounded(&store, &value, MAX_STORE_VALUE)?;
        Ok((services(&store)?, k, v))
    });
    match args {
        Ok((services, key, value)) => answer(services.store_put(&key, &value)),
        Err(error) => Ok((Err(error),)),
    }
}

fn store_delete(store: StoreContextMut<'_, HttpState>, (key,): (WasmList<u8>,)) -> Answer<bool> {
    let args = bounded(&store, &key, MAX_STORE_KEY).and_then(|k| Ok((services(&store)?, k)));
    match args {
        Ok((services, key)) => answer(services.store_delete(&key)),
        Err(error) => Ok((Err(error),)),
    }
}
