//! `POST /v1/evidence`: a strict JSON object (nonce, report data), answered with evidence.

use std::time::SystemTime;

use bytes::{Bytes, BytesMut};
use http::{Request, StatusCode};
use hyper::body::Incoming;
use serde::Deserialize;

use crate::body::{self, BodyError};
use crate::problem::{Problem, ProblemDetails};
use crate::{Shared, EVIDENCE_MEDIA_TYPE};

use super::answer::*;

/// Largest `POST /v1/evidence` body.
pub(super) const MAX_EVIDENCE_REQUEST: usize = 1024;

/// The `POST /v1/evidence` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct EvidenceRequest {
    /// 8 to 64 bytes, hex.
    nonce: String,
    /// Up to 64 bytes, hex.
    #[serde(default)]
    report_data: String,
}

pub(super) async fn evidence(shared: &Shared, request: Request<Incoming>, id: &str) -> Outcome {
    if let Some(problem) = media_type_problem(&request, &["application/json"]) {
        return refuse(shared, id, problem, 0);
    }
    let (_, mut incoming) = request.into_parts();
    let mut body = BytesMut::new();
    let mut reservation = shared.bodies.reservation();
    let limits = body::Limits::whole(MAX_EVIDENCE_REQUEST as u64);
    let deadlines = deadlines(&shared.config);
    match body::receive(
        &mut incoming,
        &mut body,
        limits,
        deadlines,
        &mut reservation,
    )
    .await
    {
        Ok(()) => {}
        Err(BodyError::TooLong) => {
            let detail = format!("an evidence request is at most {MAX_EVIDENCE_REQUEST} bytes");
            let problem = ProblemDetails::new(Problem::PayloadTooLarge, detail);
            return refuse(shared, id, problem, body.len() as u64);
        }
        Err(end) => return body_failure(shared, id, end, body.len() as u64),
    }
    let bytes_in = body.len() as u64;
    let (nonce, report_data) = match parse_evidence_request(&body) {
        Ok(parsed) => parsed,
        Err(detail) => {
            return refuse(
                shared,
                id,
                ProblemDetails::new(Problem::BadRequest, detail),
                bytes_in,
            )
        }
    };
    // One ECDSA signature: cheap enough for the executor's thread.
    match shared
        .platform
        .attest(&shared.enclave, &nonce, &report_data, SystemTime::now())
    {
        Ok(evidence) => Outcome::ok(
            bytes(StatusCode::OK, EVIDENCE_MEDIA_TYPE, Bytes::from(evidence)),
            bytes_in,
        ),
        Err(error) => {
            tracing::error!(request_id = %id, %error, "cannot sign evidence");
            let detail = "cannot sign evidence";
            refuse(
                shared,
                id,
                ProblemDetails::new(Problem::Internal, detail),
                bytes_in,
            )
        }
    }
}

/// The nonce and report data of a `POST /v1/evidence` body, or why it is refused.
pub(super) fn parse_evidence_request(body: &[u8]) -> Result<(Vec<u8>, Vec<u8>), String> {
    let request = json_object::<EvidenceRequest>(body)
        .map_err(|e| format!("not an evidence request: {e}"))?;
    let nonce = hex::decode(&request.nonce).map_err(|_| "nonce is not hex".to_owned())?;
    let data =
        hex::decode(&request.report_data).map_err(|_| "report_data is not hex".to_owned())?;
    if !(8..=64).contains(&nonce.len()) {
        return Err(format!(
            "the nonce must be 8 to 64 bytes, not {}",
            nonce.len()
        ));
    }
    if data.len() > 64 {
        return Err(format!(
            "report_data must be at most 64 bytes, not {}",
            data.len()
        ));
    }
    Ok((nonce, data))
}

/// `T` from a JSON object and nothing else: serde's derived structs also take a JSON array (its
/// elements as the fields in order), which the API does not.
pub(super) fn json_object<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, String> {
    match body.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'{') => serde_json::from_slice(body).map_err(|e| e.to_string()),
        Some(_) => Err("the body must be a JSON object".to_owned()),
        None => Err("the body is empty".to_owned()),
    }
}
