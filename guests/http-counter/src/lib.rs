//! A `wasi:http/proxy` component on the enclave platform's services (`enclave:platform`,
//! enclave/runtime/wit): a counter kept in the sealed store, and attestation evidence. The
//! guest of the `http` kind's store and attestation tests; it needs the `store` and `report`
//! capabilities.
//!
//! | request                  | response                                                       |
//! |--------------------------|----------------------------------------------------------------|
//! | `POST /count`            | adds one to the counter (absent is 0), 200 `<n>\n`             |
//! | `GET /count`             | 200 `<n>\n`, the counter unchanged                             |
//! | `DELETE /count`          | removes it, 200 `deleted\n` or `absent\n`                      |
//! | `GET /report?nonce=HEX`  | 200 `application/eat+cwt`, the evidence for the nonce, with    |
//! |                          | report data the SHA-256 of `hello`                             |
//! | anything else            | 404 `not found\n`                                              |
//!
//! The counter is a u64, little-endian, under the key `count`. A platform error is a 500 whose
//! body is the error's WIT name (`too-large\n`, `failed\n`, `policy\n`); a stored value that is
//! not 8 bytes long, or a count at `u64::MAX`, a 500 `bad count\n`; a missing or malformed nonce
//! (not hex) a 400 `bad nonce\n`. Bodies are `text/plain` unless said otherwise.

use std::io::Write as _;

use wasi::exports::http::incoming_handler::Guest;
use wasi::http::types::{
    Fields, IncomingRequest, Method, OutgoingBody, OutgoingResponse, ResponseOutparam,
};

use platform::enclave::platform::types::Error;
use platform::enclave::platform::{attestation, store};

/// The bindings to the two platform interfaces this component uses: a local world that imports
/// only them, so the component imports nothing else of `enclave:platform`.
mod platform {
    wit_bindgen::generate!({
        path: "../../enclave/runtime/wit",
        inline: "
            package local:http-counter;

            world http-counter {
                import enclave:platform/store@0.1.0;
                import enclave:platform/attestation@0.1.0;
            }
        ",
        world: "local:http-counter/http-counter",
        // The interfaces come from another package than the world's: generate them here.
        generate_all,
    });
}

wasi::http::proxy::export!(Counter);

/// The component's `wasi:http/incoming-handler` export.
struct Counter;

/// The store key of the counter.
const KEY: &[u8] = b"count";

/// The report data of `GET /report`: SHA-256 of the 5 bytes `hello` (FIPS 180-4; the digest is
/// `2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824`).
const HELLO_SHA256: [u8; 32] = [
    0x2c, 0xf2, 0x4d, 0xba, 0x5f, 0xb0, 0xa3, 0x0e, 0x26, 0xe8, 0x3b, 0x2a, 0xc5, 0xb9, 0xe2, 0x9e,
    0x1b, 0x16, 0x1e, 0x5c, 0x1f, 0xa7, 0x42, 0x5e, 0x73, 0x04, 0x33, 0x62, 0x93, 0x8b, 0x98, 0x24,
];

/// A whole response, small enough to hold.
#[derive(Debug, PartialEq, Eq)]
struct Answer {
    status: u16,
    content_type: &'static str,
    body: Vec<u8>,
}

impl Answer {
    /// A `text/plain` answer.
    fn text(status: u16, body: impl Into<Vec<u8>>) -> Self {
        Answer {
            status,
            content_type: "text/plain",
            body: body.into(),
        }
    }

    /// The 500 for a platform error: its WIT name.
    fn platform_error(error: Error) -> Self {
        Answer::text(500, format!("{}\n", error_name(error)))
    }
}

impl Guest for Counter {
    fn handle(request: IncomingRequest, out: ResponseOutparam) {
        let path_with_query = request.path_with_query().unwrap_or_default();
        let (path, query) = path_with_query
            .split_once('?')
            .unwrap_or((&path_with_query, ""));
        let answer = match (request.method(), path) {
            (Method::Post, "/count") => increment(),
            (Method::Get, "/count") => current(),
            (Method::Delete, "/count") => remove(),
            (Method::Get, "/report") => report(query),
            _ => Answer::text(404, "not found\n"),
        };
        // Nothing is left to tell the client when the host refuses the response.
        let _ = respond(out, &answer);
    }
}

/// `POST /count`.
fn increment() -> Answer {
    let next = match read_count() {
        Ok(n) => n.checked_add(1),
        Err(answer) => return answer,
    };
    let Some(next) = next else {
        return Answer::text(500, "bad count\n");
    };
    match store::put(KEY, &next.to_le_bytes()) {
        Ok(()) => Answer::text(200, format!("{next}\n")),
        Err(error) => Answer::platform_error(error),
    }
}

/// `GET /count`.
fn current() -> Answer {
    match read_count() {
        Ok(n) => Answer::text(200, format!("{n}\n")),
        Err(answer) => answer,
    }
}

/// `DELETE /count`.
fn remove() -> Answer {
    match store::delete(KEY) {
        Ok(true) => Answer::text(200, "deleted\n"),
        Ok(false) => Answer::text(200, "absent\n"),
        Err(error) => Answer::platform_error(error),
    }
}

/// The stored count (0 when absent), or the answer that says why there is none.
fn read_count() -> Result<u64, Answer> {
    match store::get(KEY) {
        Ok(None) => Ok(0),
        Ok(Some(value)) => decode_count(&value).ok_or_else(|| Answer::text(500, "bad count\n")),
        Err(error) => Err(Answer::platform_error(error)),
    }
}

/// A count as stored: exactly 8 bytes, little-endian.
fn decode_count(value: &[u8]) -> Option<u64> {
    <[u8; 8]>::try_from(value).ok().map(u64::from_le_bytes)
}

/// `GET /report?nonce=HEX`.
fn report(query: &str) -> Answer {
    let Some(nonce) = query_value(query, "nonce").and_then(decode_hex) else {
        return Answer::text(400, "bad nonce\n");
    };
    match attestation::report(&nonce, &HELLO_SHA256) {
        Ok(evidence) => Answer {
            status: 200,
            content_type: "application/eat+cwt",
            body: evidence,
        },
        Err(error) => Answer::platform_error(error),
    }
}

/// The value of the first `name=value` pair of a query string (no percent-decoding: the values
/// used here are hex).
fn query_value<'q>(query: &'q str, name: &str) -> Option<&'q str> {
    query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find_map(|(key, value)| (key == name).then_some(value))
}

/// Hex (either case, an even number of digits) to bytes.
fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    text.as_bytes()
        .chunks_exact(2)
        .map(|pair| Some(hex_digit(pair.first()?)? << 4 | hex_digit(pair.get(1)?)?))
        .collect()
}

/// The value of one hex digit.
fn hex_digit(digit: &u8) -> Option<u8> {
    char::from(*digit)
        .to_digit(16)
        .and_then(|value| u8::try_from(value).ok())
}

/// The error's name in the WIT (`enclave:platform/types.error`).
fn error_name(error: Error) -> &'static str {
    match error {
        Error::TooLarge => "too-large",
        Error::Failed => "failed",
        Error::Policy => "policy",
    }
}

/// Why a response could not be sent: the host refused a resource or the peer went away.
#[derive(Debug)]
struct Broken;

/// Sets the response for `answer` and writes its body.
fn respond(out: ResponseOutparam, answer: &Answer) -> Result<(), Broken> {
    let headers = [(
        "content-type".to_owned(),
        answer.content_type.as_bytes().to_vec(),
    )];
    let fields = Fields::from_list(&headers).map_err(|_| Broken)?;
    let response = OutgoingResponse::new(fields);
    response
        .set_status_code(answer.status)
        .map_err(|()| Broken)?;
    let body = response.body().map_err(|()| Broken)?;
    ResponseOutparam::set(out, Ok(response));
    let mut stream = body.write().map_err(|()| Broken)?;
    stream.write_all(&answer.body).map_err(|_| Broken)?;
    // `io::Write::flush` blocks until the bytes are out (the inherent `flush` only starts that).
    std::io::Write::flush(&mut stream).map_err(|_| Broken)?;
    // The stream is the body's child: it goes first.
    drop(stream);
    OutgoingBody::finish(body, None).map_err(|_| Broken)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_decode_from_exactly_eight_bytes() {
        assert_eq!(decode_count(&7u64.to_le_bytes()), Some(7));
        assert_eq!(decode_count(&[1; 7]), None);
        assert_eq!(decode_count(&[1; 9]), None);
    }

    #[test]
    fn nonces_come_from_the_query_in_hex() {
        assert_eq!(query_value("a=1&nonce=00ff", "nonce"), Some("00ff"));
        assert_eq!(query_value("nonce", "nonce"), None);
        assert_eq!(decode_hex("00fFa0"), Some(vec![0x00, 0xff, 0xa0]));
        assert_eq!(decode_hex("0"), None);
        assert_eq!(decode_hex("0g"), None);
        assert_eq!(decode_hex("+1"), None);
    }
}
