#!/usr/bin/env python3
"""The same corpus of HTTP requests sent to two servers of one wasi:http component, the answers
compared byte for byte (bench/http.sh, issue 31 item 6). Python 3 standard library only.

    bench/http_corpus.py http://127.0.0.1:8080 http://127.0.0.1:8081   # A against B
    bench/http_corpus.py --list                                         # the corpus, no request

Each request is sent to A, then to B, each on a fresh connection. Compared: the status code,
the reason phrase, every response header in order except the connection-level ones (IGNORED),
and the body. The corpus is written for the routes of the http-hello guest (guests/http-hello):
`GET /`, `* /echo` (the body streamed back), `GET /headers`, `GET /bytes/N`, `GET /status/N`,
a 404, and `/trap` (its status alone: each host words its own error page); methods GET, POST, PUT, DELETE, HEAD; custom and repeated headers; bodies of 0 B,
1 B, 64 KiB and 1 MiB sent with content-length and chunked (streamed in 16 KiB pieces). Every
request carries the same Host header, so that the servers' different ports cannot show.

Besides A = B, a few answers are checked against what the routes promise (the echo is the body
sent, /bytes/N has N bytes, /status/N answers N), so that two servers broken alike do not pass.

`--ignore-header NAME` leaves out one more header that a host adds to every answer of its own
(bench/http.sh passes `x-request-id`, the enclave server's request id).

Exits 0 when every answer matches, 1 at the first difference (printed), 2 on a usage or
connection error.
"""

import argparse
import http.client
import random
import sys
import threading
import urllib.parse

# Connection-level headers, and the date: they may differ between two correct servers.
IGNORED = {"date", "connection", "keep-alive", "transfer-encoding"}
HOST = "component.test"
TIMEOUT_S = 60
CHUNK = 16 * 1024


def body_of(size, seed):
    """`size` deterministic bytes covering every byte value."""
    return random.Random(seed).randbytes(size)


def chunks(data):
    """The body as an iterator, so that http.client sends it chunked."""
    for i in range(0, len(data), CHUNK):
        yield data[i:i + CHUNK]
    if not data:
        yield b""


class Case:
    """One request of the corpus and what its answer must satisfy beyond A = B."""

    def __init__(self, method, path, headers=None, body=None, chunked=False, expect=None,
                 status_only=False):
        self.method, self.path = method, path
        self.status_only = status_only
        self.headers = headers or []
        self.body, self.chunked = body, chunked
        self.expect = expect or (lambda status, body: None)

    def name(self):
        size = "" if self.body is None else f" body={len(self.body)}B"
        framing = " chunked" if self.chunked else (" content-length" if self.body is not None else "")
        extra = f" +{len(self.headers)} headers" if self.headers else ""
        only = " (status only)" if self.status_only else ""
        return f"{self.method} {self.path}{size}{framing}{extra}{only}"


def expect_status(code):
    return lambda status, body: None if status == code else f"status {status}, expected {code}"


def expect_echo(sent):
    def check(status, body):
        if status != 200:
            return f"status {status}, expected 200"
        if body != sent:
            return f"echo of {len(sent)} bytes answered {len(body)} different bytes"
        return None
    return check


def expect_length(n):
    def check(status, body):
        if status != 200:
            return f"status {status}, expected 200"
        return None if len(body) == n else f"{len(body)} bytes, expected {n}"
    return check


def corpus():
    cases = [
        Case("GET", "/", expect=expect_status(200)),
        Case("HEAD", "/"),
        Case("POST", "/", body=b"x"),
        Case("GET", "/?q=1&r=%20x"),
        Case("GET", "/headers", headers=[
            ("X-Custom", "value with  spaces"), ("X-Repeated", "one"), ("X-Repeated", "two"),
            ("User-Agent", "http-corpus/1"), ("Accept", "*/*"), ("X-Empty", ""),
            ("X-Latin1", b"caf\xe9"),
        ], expect=expect_status(200)),
        Case("GET", "/nope", expect=expect_status(404)),
        Case("DELETE", "/nope", expect=expect_status(404)),
        Case("GET", "/echo/deeper"),
    ]
    for method in ("GET", "DELETE", "HEAD"):
        cases.append(Case(method, "/echo"))
    for method in ("POST", "PUT"):
        for size in (0, 1, 64 * 1024, 1024 * 1024):
            data = body_of(size, size)
            for chunked in (False, True):
                cases.append(Case(method, "/echo", headers=[("Content-Type", "application/x-test")],
                                  body=data, chunked=chunked, expect=expect_echo(data)))
    cases.append(Case("DELETE", "/echo", body=b"gone", expect=expect_echo(b"gone")))
    cases.append(Case("POST", "/echo?x=1", headers=[("X-Custom", "1")], body=b"query",
                      expect=expect_echo(b"query")))
    for n in (0, 1, 1000, 64 * 1024, 1024 * 1024):
        cases.append(Case("GET", f"/bytes/{n}", expect=expect_length(n)))
    cases.append(Case("HEAD", "/bytes/1000"))
    cases.append(Case("GET", "/bytes/x"))
    for code in (200, 201, 204, 301, 400, 404, 418, 500, 503):
        cases.append(Case("GET", f"/status/{code}", expect=expect_status(code)))
    cases.append(Case("GET", "/status/x"))
    # A trap: each host words its own error page, so only the status is compared.
    cases.append(Case("GET", "/trap", status_only=True, expect=expect_status(500)))
    return cases


class Answer:
    def __init__(self, status, reason, headers, body):
        self.status, self.reason, self.headers, self.body = status, reason, headers, body


def send(base, case):
    url = urllib.parse.urlsplit(base)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=TIMEOUT_S)
    try:
        conn.putrequest(case.method, case.path, skip_host=True, skip_accept_encoding=True)
        conn.putheader("Host", HOST)
        for name, value in case.headers:
            conn.putheader(name, value)
        if case.body is not None and case.chunked:
            conn.putheader("Transfer-Encoding", "chunked")
        elif case.body is not None:
            conn.putheader("Content-Length", str(len(case.body)))
        conn.endheaders()
        # The body goes from another thread while this one reads the answer: a server that
        # streams the echo back as it arrives would otherwise deadlock with a client that
        # reads nothing until it has sent everything, once the socket buffers fill.
        sender = threading.Thread(target=send_body, args=(conn.sock, case), daemon=True)
        sender.start()
        response = conn.getresponse()
        body = response.read()
        sender.join(TIMEOUT_S)
        kept = [(k.lower(), v) for k, v in response.getheaders() if k.lower() not in IGNORED]
        return Answer(response.status, response.reason, kept, body)
    finally:
        conn.close()


def send_body(sock, case):
    """Writes the request body, chunked or not; a server that answers early may close first."""
    try:
        if case.body is not None and case.chunked:
            for piece in chunks(case.body):
                if piece:
                    sock.sendall(b"%x\r\n%s\r\n" % (len(piece), piece))
            sock.sendall(b"0\r\n\r\n")
        elif case.body:
            sock.sendall(case.body)
    except OSError:
        pass


def describe_body(body):
    if len(body) <= 200:
        return repr(body)
    return f"{len(body)} bytes, starting {body[:80]!r}"


def first_difference(a, b, status_only):
    if (a.status, a.reason) != (b.status, b.reason):
        return f"status: A {a.status} {a.reason!r}, B {b.status} {b.reason!r}"
    if status_only:
        return None
    if a.headers != b.headers:
        return f"headers:\n    A {a.headers}\n    B {b.headers}"
    if a.body != b.body:
        at = next((i for i, (x, y) in enumerate(zip(a.body, b.body)) if x != y),
                  min(len(a.body), len(b.body)))
        return (f"body differs at byte {at}:\n    A {describe_body(a.body)}\n"
                f"    B {describe_body(b.body)}")
    return None


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("a", nargs="?", help="base URL of server A, e.g. http://127.0.0.1:8080")
    parser.add_argument("b", nargs="?", help="base URL of server B")
    parser.add_argument("--list", action="store_true", help="print the corpus and exit")
    parser.add_argument("--quiet", action="store_true", help="print only a difference")
    parser.add_argument("--ignore-header", action="append", default=[], metavar="NAME",
                        help="also leave this response header out of the comparison (repeatable)")
    args = parser.parse_args()
    IGNORED.update(name.lower() for name in args.ignore_header)
    cases = corpus()
    if args.list:
        for case in cases:
            print(case.name())
        return 0
    if not (args.a and args.b):
        parser.error("two base URLs are needed (or --list)")
    for i, case in enumerate(cases, 1):
        try:
            a, b = send(args.a, case), send(args.b, case)
        except (OSError, http.client.HTTPException) as e:
            print(f"request {i}/{len(cases)} {case.name()}: {type(e).__name__}: {e}", file=sys.stderr)
            return 2
        difference = first_difference(a, b, case.status_only)
        if difference is None:
            problem = case.expect(a.status, a.body)
            if problem is not None:
                difference = f"both servers answered wrongly: {problem}"
        if difference is not None:
            print(f"DIFFERENT {i}/{len(cases)} {case.name()}\n  {difference}")
            return 1
        if not args.quiet:
            print(f"same {i}/{len(cases)} {case.name()}: {a.status}, {len(a.body)} bytes")
    print(f"all {len(cases)} answers identical (ignored headers: {', '.join(sorted(IGNORED))})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
