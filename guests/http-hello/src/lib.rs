//! A `wasi:http/proxy` component with a handful of fixed routes: the Rust guest of the `http`
//! guest kind's tests, and the component of the side-by-side run with `wasmtime serve`.
//!
//! Every answer is deterministic (the same request gives the same response, byte for byte):
//!
//! | request          | response                                                              |
//! |------------------|-----------------------------------------------------------------------|
//! | `GET /`          | 200 `text/plain`, `hello from an enclave\n`                           |
//! | `* /echo`        | 200, the request body streamed back unchanged, `x-echo-method: <M>`,  |
//! |                  | the request's `content-type` if it has one                            |
//! | `GET /headers`   | 200 `text/plain`, the request's headers (see [`headers_text`])        |
//! | `GET /bytes/N`   | 200 `application/octet-stream`, N bytes (N ≤ 16 MiB), byte i = i % 251 |
//! | `GET /status/N`  | status N (100 to 599; anything else 400), empty body                  |
//! | `GET /trap`      | traps (`abort`: `unreachable`) before a response is set               |
//! | `GET /spin`      | loops forever, for the deadline tests                                 |
//! | anything else    | 404 `text/plain`, `not found\n`                                       |
//!
//! A 1xx status is not a final response: hyper (under wasmtime-wasi-http) refuses 100 to 199 but
//! 101 (the client sees a 500 or a closed connection), so a corpus compared across hosts should use
//! 200 to 599. The query string is ignored when routing. Bodies are streamed in chunks of at most 64 KiB, in
//! and out: a large body is never held whole. The component uses nothing outside the
//! `wasi:http/proxy` world and no filesystem.

use std::io::Write as _;

use wasi::exports::http::incoming_handler::Guest;
use wasi::http::types::{
    Fields, IncomingRequest, Method, OutgoingBody, OutgoingResponse, ResponseOutparam,
};
use wasi::io::streams::{InputStream, OutputStream, StreamError};

wasi::http::proxy::export!(Hello);

/// The component's `wasi:http/incoming-handler` export.
struct Hello;

/// The largest body `GET /bytes/N` writes: 16 MiB.
const MAX_BYTES: u64 = 16 << 20;

/// The size of the chunks bodies are read and written in.
const CHUNK: u64 = 64 << 10;

/// What a request asks for, decided from its method and path alone.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Route {
    /// `GET /`.
    Hello,
    /// `* /echo`, with the request's method as it goes into `x-echo-method`.
    Echo(String),
    /// `GET /headers`.
    Headers,
    /// `GET /bytes/N` with a valid N.
    Bytes(u64),
    /// `GET /status/N` (a valid N) or a bad N or count (400).
    Status(u16),
    /// `GET /trap`.
    Trap,
    /// `GET /spin`.
    Spin,
    /// Anything else.
    NotFound,
}

/// Why a response could not be completed: the host refused a resource or the peer went away.
/// Nothing is left to tell the client then (the status line is already out), so the handler
/// returns and the host sees an unfinished body.
#[derive(Debug)]
struct Broken;

impl From<std::io::Error> for Broken {
    fn from(_: std::io::Error) -> Self {
        Broken
    }
}

impl Guest for Hello {
    fn handle(request: IncomingRequest, out: ResponseOutparam) {
        let path = request.path_with_query().unwrap_or_default();
        // Errors past this point cannot change the response any more; see `Broken`.
        let _ = match route(&request.method(), &path) {
            Route::Hello => text(out, 200, b"hello from an enclave\n"),
            Route::Echo(method) => echo(&request, out, &method),
            Route::Headers => text(out, 200, &headers_text(&request.headers().entries())),
            Route::Bytes(n) => bytes(out, n),
            Route::Status(status) => respond(out, status, &[], |_| Ok(())),
            Route::Trap => std::process::abort(),
            Route::Spin => spin(),
            Route::NotFound => text(out, 404, b"not found\n"),
        };
    }
}

/// The route for a method and a path with an optional query.
fn route(method: &Method, path_with_query: &str) -> Route {
    let path = path_with_query
        .split_once('?')
        .map_or(path_with_query, |(path, _)| path);
    if path == "/echo" {
        return Route::Echo(method_name(method));
    }
    if !matches!(method, Method::Get) {
        return Route::NotFound;
    }
    match path {
        "/" => Route::Hello,
        "/headers" => Route::Headers,
        "/trap" => Route::Trap,
        "/spin" => Route::Spin,
        _ => numbered_route(path),
    }
}

/// `/bytes/N` and `/status/N`; a malformed or out-of-range N is a 400.
fn numbered_route(path: &str) -> Route {
    if let Some(n) = path.strip_prefix("/bytes/") {
        return match parse_decimal(n) {
            Some(n) if n <= MAX_BYTES => Route::Bytes(n),
            _ => Route::Status(400),
        };
    }
    if let Some(n) = path.strip_prefix("/status/") {
        return match parse_decimal(n).and_then(|n| u16::try_from(n).ok()) {
            Some(status @ 100..=599) => Route::Status(status),
            _ => Route::Status(400),
        };
    }
    Route::NotFound
}

/// A decimal number of at most 9 digits (no sign, no spaces): larger values are out of every
/// range used here, and cannot overflow.
fn parse_decimal(text: &str) -> Option<u64> {
    let digits = !text.is_empty() && text.len() <= 9 && text.bytes().all(|b| b.is_ascii_digit());
    digits.then(|| text.parse().ok()).flatten()
}

/// The method as it appears on the request line.
fn method_name(method: &Method) -> String {
    let name = match method {
        Method::Get => "GET",
        Method::Head => "HEAD",
        Method::Post => "POST",
        Method::Put => "PUT",
        Method::Delete => "DELETE",
        Method::Connect => "CONNECT",
        Method::Options => "OPTIONS",
        Method::Trace => "TRACE",
        Method::Patch => "PATCH",
        Method::Other(other) => other,
    };
    name.to_owned()
}

/// Headers left out of `GET /headers`, because a hop, a proxy or the host adds, removes or
/// rewrites them, so that the client cannot predict them: the hop-by-hop headers (RFC 9110
/// section 7.6.1, and the ones wasmtime-wasi-http forbids: `connection`, `keep-alive`,
/// `proxy-*`, `te`, `trailer`, `transfer-encoding`, `upgrade`, `http2-settings`), `host` (the
/// request's authority, which a proxy may rewrite), `content-length` (framing, which a hop may
/// replace with chunked encoding), and the headers a forwarding proxy appends (`forwarded`,
/// `via`, `x-forwarded-*`, `x-real-ip`).
const UNPREDICTABLE: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "http2-settings",
    "host",
    "content-length",
    "forwarded",
    "via",
    "x-real-ip",
];

/// `name: value\n` for each header (names lowercased) but the [`UNPREDICTABLE`] ones and
/// `x-forwarded-*`, sorted by name; a name's values keep their order. Values are written as
/// the bytes they arrived as.
fn headers_text(entries: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut lines: Vec<(String, &[u8])> = entries
        .iter()
        .map(|(name, value)| (name.to_ascii_lowercase(), value.as_slice()))
        .filter(|(name, _)| {
            !UNPREDICTABLE.contains(&name.as_str()) && !name.starts_with("x-forwarded-")
        })
        .collect();
    // A stable sort: the values of one name stay in the order they arrived in.
    lines.sort_by(|(a, _), (b, _)| a.cmp(b));
    let mut text = Vec::new();
    for (name, value) in lines {
        text.extend_from_slice(name.as_bytes());
        text.extend_from_slice(b": ");
        text.extend_from_slice(value);
        text.push(b'\n');
    }
    text
}

/// A `text/plain` response with a small body.
fn text(out: ResponseOutparam, status: u16, body: &[u8]) -> Result<(), Broken> {
    respond(out, status, &[("content-type", b"text/plain")], |stream| {
        Ok(stream.write_all(body)?)
    })
}

/// `* /echo`: the request body, read and written back one chunk at a time.
fn echo(request: &IncomingRequest, out: ResponseOutparam, method: &str) -> Result<(), Broken> {
    let content_type = request.headers().get("content-type");
    let mut headers = vec![("x-echo-method", method.as_bytes())];
    // At most one content-type: a request with several gets the first back.
    if let Some(value) = content_type.first() {
        headers.push(("content-type", value));
    }
    let body = request.consume().map_err(|()| Broken)?;
    let input = body.stream().map_err(|()| Broken)?;
    let copied = respond(out, 200, &headers, |output| copy(&input, output));
    // A child resource goes before its parent.
    drop(input);
    drop(body);
    copied
}

/// Copies `input` to `output` until the input ends.
fn copy(input: &InputStream, output: &mut OutputStream) -> Result<(), Broken> {
    loop {
        match input.blocking_read(CHUNK) {
            Ok(chunk) => output.write_all(&chunk)?,
            Err(StreamError::Closed) => return Ok(()),
            Err(StreamError::LastOperationFailed(_)) => return Err(Broken),
        }
    }
}

/// `GET /bytes/N`: byte i is i % 251, written in chunks of [`CHUNK`] bytes.
fn bytes(out: ResponseOutparam, n: u64) -> Result<(), Broken> {
    let headers = [("content-type", b"application/octet-stream".as_slice())];
    respond(out, 200, &headers, |stream| {
        let mut start = 0;
        while start < n {
            let end = n.min(start + CHUNK);
            // `i % 251` fits a byte.
            let chunk: Vec<u8> = (start..end).map(|i| (i % 251) as u8).collect();
            stream.write_all(&chunk)?;
            start = end;
        }
        Ok(())
    })
}

/// Sets a response with `status` and `headers`, then writes its body with `write_body` and
/// finishes it. The response is set before the body is written, so the body streams.
fn respond(
    out: ResponseOutparam,
    status: u16,
    headers: &[(&str, &[u8])],
    write_body: impl FnOnce(&mut OutputStream) -> Result<(), Broken>,
) -> Result<(), Broken> {
    let list: Vec<(String, Vec<u8>)> = headers
        .iter()
        .map(|(name, value)| ((*name).to_owned(), value.to_vec()))
        .collect();
    let fields = Fields::from_list(&list).map_err(|_| Broken)?;
    let response = OutgoingResponse::new(fields);
    response.set_status_code(status).map_err(|()| Broken)?;
    let body = response.body().map_err(|()| Broken)?;
    ResponseOutparam::set(out, Ok(response));
    let mut stream = body.write().map_err(|()| Broken)?;
    write_body(&mut stream)?;
    // `io::Write::flush` blocks until the bytes are out (the inherent `flush` only starts that).
    std::io::Write::flush(&mut stream)?;
    // The stream is the body's child: it goes first.
    drop(stream);
    OutgoingBody::finish(body, None).map_err(|_| Broken)
}

/// `GET /spin`: never returns; only the host's deadline (epoch interruption or fuel) ends it.
fn spin() -> ! {
    loop {
        core::hint::spin_loop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        assert_eq!(route(&Method::Get, "/"), Route::Hello);
        assert_eq!(route(&Method::Get, "/?a=b"), Route::Hello);
        assert_eq!(route(&Method::Post, "/"), Route::NotFound);
        assert_eq!(
            route(&Method::Other("BREW".into()), "/echo?x"),
            Route::Echo("BREW".into())
        );
        assert_eq!(route(&Method::Get, "/bytes/0"), Route::Bytes(0));
        assert_eq!(
            route(&Method::Get, "/bytes/16777216"),
            Route::Bytes(MAX_BYTES)
        );
        assert_eq!(route(&Method::Get, "/bytes/16777217"), Route::Status(400));
        assert_eq!(route(&Method::Get, "/bytes/-1"), Route::Status(400));
        assert_eq!(route(&Method::Get, "/bytes/"), Route::Status(400));
        assert_eq!(route(&Method::Get, "/status/599"), Route::Status(599));
        assert_eq!(route(&Method::Get, "/status/99"), Route::Status(400));
        assert_eq!(route(&Method::Get, "/status/65636"), Route::Status(400));
        assert_eq!(route(&Method::Get, "/nope"), Route::NotFound);
    }

    #[test]
    fn headers_are_sorted_and_filtered() {
        let entries = [
            ("X-B".to_owned(), b"2".to_vec()),
            ("host".to_owned(), b"example".to_vec()),
            ("a".to_owned(), b"1".to_vec()),
            ("x-b".to_owned(), b"1".to_vec()),
            ("x-forwarded-for".to_owned(), b"10.0.0.1".to_vec()),
        ];
        assert_eq!(headers_text(&entries), b"a: 1\nx-b: 2\nx-b: 1\n");
    }
}
