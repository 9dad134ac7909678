"""A wasi:http/proxy component in Python (componentize-py): the routes of guests/http-hello.

Built by ``build.sh`` (componentize-py generates the ``wit_world`` bindings at build time). The
same answers, byte for byte, as the Rust guest:

- ``GET /``          200 ``text/plain``, ``hello from an enclave\\n``
- ``* /echo``        200, the request body streamed back unchanged, ``x-echo-method: <M>``, the
                     request's ``content-type`` if it has one
- ``GET /headers``   200 ``text/plain``, one ``name: value`` line per header, sorted by name,
                     without the headers a hop or the host may add or rewrite (``UNPREDICTABLE``)
- ``GET /bytes/N``   200 ``application/octet-stream``, N bytes (N <= 16 MiB), byte i = i % 251
- ``GET /status/N``  status N (100 to 599; anything else 400), empty body
- ``GET /trap``      an uncaught exception: the component traps before a response is set
- ``GET /spin``      loops forever, for the deadline tests
- anything else      404 ``text/plain``, ``not found\\n``

Bodies go in and out in chunks of at most 64 KiB; a large body is never held whole.
"""

from wit_world import exports
from wit_world.imports.types import (
    Fields,
    IncomingRequest,
    Method,
    Method_Connect,
    Method_Delete,
    Method_Get,
    Method_Head,
    Method_Options,
    Method_Other,
    Method_Patch,
    Method_Post,
    Method_Put,
    Method_Trace,
    OutgoingBody,
    OutgoingResponse,
    ResponseOutparam,
)
from wit_world.imports.streams import InputStream, OutputStream, StreamError_Closed
from componentize_py_types import Err, Ok

CHUNK = 64 << 10
MAX_BYTES = 16 << 20

# As in guests/http-hello: hop-by-hop headers, host, content-length (framing) and the headers a
# forwarding proxy appends; `x-forwarded-*` is left out by prefix.
UNPREDICTABLE = frozenset(
    [
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
    ]
)

METHOD_NAMES = {
    Method_Get: "GET",
    Method_Head: "HEAD",
    Method_Post: "POST",
    Method_Put: "PUT",
    Method_Delete: "DELETE",
    Method_Connect: "CONNECT",
    Method_Options: "OPTIONS",
    Method_Trace: "TRACE",
    Method_Patch: "PATCH",
}


class IncomingHandler(exports.IncomingHandler):
    """The component's wasi:http/incoming-handler export."""

    def handle(self, request: IncomingRequest, response_out: ResponseOutparam) -> None:
        method = request.method()
        path = (request.path_with_query() or "").split("?", 1)[0]
        if path == "/echo":
            echo(request, response_out, method_name(method))
        elif not isinstance(method, Method_Get):
            text(response_out, 404, b"not found\n")
        elif path == "/":
            text(response_out, 200, b"hello from an enclave\n")
        elif path == "/headers":
            text(response_out, 200, headers_text(request.headers().entries()))
        elif path == "/trap":
            raise RuntimeError("trap requested")
        elif path == "/spin":
            while True:
                pass
        elif path.startswith("/bytes/"):
            n = parse_decimal(path[len("/bytes/") :])
            if n is None or n > MAX_BYTES:
                respond(response_out, 400, [], lambda out: None)
            else:
                respond(response_out, 200, [("content-type", b"application/octet-stream")],
                        lambda out: write_pattern(out, n))
        elif path.startswith("/status/"):
            n = parse_decimal(path[len("/status/") :])
            status = n if n is not None and 100 <= n <= 599 else 400
            respond(response_out, status, [], lambda out: None)
        else:
            text(response_out, 404, b"not found\n")


def method_name(method: Method) -> str:
    if isinstance(method, Method_Other):
        return method.value
    return METHOD_NAMES[type(method)]


def parse_decimal(text: str):
    """A decimal of 1 to 9 ASCII digits, else None."""
    if 0 < len(text) <= 9 and all("0" <= c <= "9" for c in text):
        return int(text)
    return None


def headers_text(entries) -> bytes:
    lines = [(name.lower(), value) for name, value in entries]
    lines = [
        (name, value)
        for name, value in lines
        if name not in UNPREDICTABLE and not name.startswith("x-forwarded-")
    ]
    lines.sort(key=lambda line: line[0])  # stable: a name's values keep their order
    return b"".join(name.encode() + b": " + value + b"\n" for name, value in lines)


def text(response_out: ResponseOutparam, status: int, body: bytes) -> None:
    respond(response_out, status, [("content-type", b"text/plain")], lambda out: write_all(out, body))


def echo(request: IncomingRequest, response_out: ResponseOutparam, method: str) -> None:
    headers = [("x-echo-method", method.encode())]
    content_type = request.headers().get("content-type")
    if content_type:
        headers.append(("content-type", content_type[0]))
    body = request.consume()
    with body.stream() as incoming:
        respond(response_out, 200, headers, lambda out: copy(incoming, out))


def copy(incoming: InputStream, out: OutputStream) -> None:
    while True:
        try:
            chunk = incoming.blocking_read(CHUNK)
        except Err as e:
            if isinstance(e.value, StreamError_Closed):
                return
            raise
        write_all(out, chunk)


def write_pattern(out: OutputStream, n: int) -> None:
    pattern = bytes(i % 251 for i in range(251))
    # 251 * 262 bytes > one chunk: slice any chunk from a long enough repetition.
    cycle = pattern * (CHUNK // 251 + 2)
    start = 0
    while start < n:
        end = min(n, start + CHUNK)
        offset = start % 251
        write_all(out, cycle[offset : offset + end - start])
        start = end


def write_all(out: OutputStream, data: bytes) -> None:
    """Writes all of `data`, waiting for the stream to accept more, then flushes."""
    while data:
        allowed = out.check_write()
        if allowed == 0:
            with out.subscribe() as ready:
                ready.block()
            continue
        out.write(data[:allowed])
        data = data[allowed:]
    out.blocking_flush()


def respond(response_out: ResponseOutparam, status: int, headers, write_body) -> None:
    """Sets the response, then writes its body with `write_body` and finishes it."""
    response = OutgoingResponse(Fields.from_list(headers))
    response.set_status_code(status)
    body = response.body()
    ResponseOutparam.set(response_out, Ok(response))
    with body.write() as out:
        write_body(out)
    OutgoingBody.finish(body, None)
