"""URL fetching refuses anything that could reach a private network, against real local servers.

Every refusal test also proves nothing was contacted: the client factory is replaced by one that
fails the test, and where a port on 127.0.0.1 is the target, a listening socket is checked for a
pending connection afterwards (with a positive control showing that check does see connections).
"""

from __future__ import annotations

import asyncio
import gzip
import ipaddress
import socket
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import pytest

from jaga.api import url_fetch
from jaga.api.url_fetch import (
    Fetched,
    FetchFailed,
    FetchPolicy,
    FetchRefused,
    FetchTooLarge,
    fetch_url,
    fetch_url_async,
    numeric_ipv4,
    refusal_reason,
)

LOOPBACK = (ipaddress.ip_network("127.0.0.0/8"),)
ONLY_127_0_0_2 = (ipaddress.ip_network("127.0.0.2/32"),)
PAYLOAD = b"\x89PNG\r\n\x1a\n not really an image, just bytes to hash"

Fetch = Callable[..., Fetched]


# --------------------------------------------------------------------------- local servers


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
        pass

    def do_GET(self) -> None:
        self.server.seen.append((self.path, self.headers.get("Host")))
        path = urlsplit(self.path).path
        query = {k: v[0] for k, v in parse_qs(urlsplit(self.path).query).items()}
        if path == "/data":
            self._send(200, PAYLOAD, {"Content-Type": "image/png"})
        elif path == "/echo-host":
            self._send(200, (self.headers.get("Host") or "").encode(), {})
        elif path == "/redirect":
            self._send(int(query.get("status", "302")), b"", {"Location": query["to"]})
        elif path.startswith("/chain/"):
            left = int(path.rsplit("/", 1)[1])
            if left == 0:
                self._send(200, PAYLOAD, {})
            else:
                self._send(301, b"", {"Location": f"/chain/{left - 1}"})
        elif path.startswith("/status/"):
            self._send(int(path.rsplit("/", 1)[1]), b"nope", {})
        elif path == "/big-declared":
            self._send(200, b"x" * 2000, {})
        elif path == "/big-streamed":
            # HTTP/1.0 without Content-Length: the body ends when the connection closes.
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"y" * 3000)
        elif path == "/gzip-bomb":
            body = gzip.compress(b"\0" * 200_000)
            self._send(200, body, {"Content-Encoding": "gzip"})
        elif path == "/drip":
            self.send_response(200)
            self.send_header("Content-Length", "1000")
            self.end_headers()
            try:
                for _ in range(200):  # stops when the client hangs up
                    self.wfile.write(b"z")
                    self.wfile.flush()
                    time.sleep(0.05)
            except OSError:
                pass
        else:
            self._send(404, b"", {})

    def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, host: str) -> None:
        self.seen: list[tuple[str, str | None]] = []
        self.host = host
        super().__init__((host, 0), _Handler)

    @property
    def base(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def port(self) -> int:
        return int(self.server_address[1])


@pytest.fixture
def serve() -> Iterator[Callable[[str], _Server]]:
    servers: list[_Server] = []

    def start(host: str = "127.0.0.1") -> _Server:
        server = _Server(host)
        threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    """A bare listening socket on 127.0.0.1: any connection attempt would sit in its backlog."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    sock.setblocking(False)
    yield sock
    sock.close()


def _port(sock: socket.socket) -> int:
    return int(sock.getsockname()[1])


def assert_no_connection(sock: socket.socket) -> None:
    with pytest.raises(BlockingIOError):
        sock.accept()


@pytest.fixture
def no_client(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail the test if a refused fetch even builds an HTTP client (let alone connects)."""

    def boom(policy: FetchPolicy) -> Any:
        raise AssertionError("an HTTP client was opened for a URL that must be refused")

    monkeypatch.setattr(url_fetch, "_open_client", boom)
    monkeypatch.setattr(url_fetch, "_open_async_client", boom)


def no_dns(host: str, port: int) -> Sequence[str]:
    raise AssertionError(f"resolver called for {host!r}")


class FakeDNS:
    """A resolver that answers from a table and records each question."""

    def __init__(self, table: dict[str, list[str]]) -> None:
        self.table = table
        self.calls: list[tuple[str, int]] = []

    def __call__(self, host: str, port: int) -> Sequence[str]:
        self.calls.append((host, port))
        if host not in self.table:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return self.table[host]


@pytest.fixture(params=["sync", "async"])
def fetch(request: pytest.FixtureRequest) -> Fetch:
    """fetch_url, or fetch_url_async run to completion: both must behave the same."""
    if request.param == "sync":
        return fetch_url

    def run(url: str, policy: FetchPolicy = FetchPolicy(), **kwargs: Any) -> Fetched:
        return asyncio.run(fetch_url_async(url, policy, **kwargs))

    return run


def one_line(exc: pytest.ExceptionInfo[Exception]) -> str:
    message = str(exc.value)
    assert "\n" not in message
    return message


# --------------------------------------------------------------------------- successes


def test_fetch_from_allow_listed_loopback_returns_bytes(
    fetch: Fetch, serve: Callable[[str], _Server]
) -> None:
    server = serve("127.0.0.1")
    got = fetch(f"{server.base}/data", FetchPolicy(allow_networks=LOOPBACK), resolver=no_dns)
    assert got.data == PAYLOAD
    assert got.status == 200
    assert got.content_type == "image/png"
    assert got.url == f"{server.base}/data"
    assert got.addresses == ("127.0.0.1",)


def test_name_is_resolved_once_and_pinned_with_original_host_header(
    fetch: Fetch, serve: Callable[[str], _Server]
) -> None:
    # .invalid never resolves for real: success proves we connected to the pinned address.
    server = serve("127.0.0.1")
    dns = FakeDNS({"media.jaga-test.invalid": ["127.0.0.1"]})
    url = f"http://media.jaga-test.invalid:{server.port}/echo-host"
    got = fetch(url, FetchPolicy(allow_networks=LOOPBACK), resolver=dns)
    assert got.data == f"media.jaga-test.invalid:{server.port}".encode()
    assert dns.calls == [("media.jaga-test.invalid", server.port)]
    assert got.url == url


def test_https_sends_original_name_as_sni_to_pinned_address(
    fetch: Fetch, listener: socket.socket
) -> None:
    # No certificates needed: the ClientHello (with SNI in clear) lands in the listener's
    # backlog; the handshake then times out because nobody answers.
    dns = FakeDNS({"secure.jaga-test.invalid": ["127.0.0.1"]})
    policy = FetchPolicy(allow_networks=LOOPBACK, total_timeout=0.5)
    with pytest.raises(FetchFailed):
        fetch(f"https://secure.jaga-test.invalid:{_port(listener)}/x", policy, resolver=dns)
    listener.setblocking(True)
    listener.settimeout(2)
    conn, _ = listener.accept()
    with conn:
        conn.settimeout(2)
        hello = conn.recv(65536)
    assert hello[:1] == b"\x16"  # a TLS handshake record
    assert b"secure.jaga-test.invalid" in hello


def test_redirects_followed_up_to_the_limit(fetch: Fetch, serve: Callable[[str], _Server]) -> None:
    server = serve("127.0.0.1")
    policy = FetchPolicy(allow_networks=LOOPBACK, max_redirects=3)
    got = fetch(f"{server.base}/chain/3", policy)
    assert got.data == PAYLOAD
    assert got.url == f"{server.base}/chain/0"
    assert [path for path, _ in server.seen] == ["/chain/3", "/chain/2", "/chain/1", "/chain/0"]


def test_redirect_to_a_name_resolves_that_name_once(
    fetch: Fetch, serve: Callable[[str], _Server]
) -> None:
    server = serve("127.0.0.1")
    dns = FakeDNS({"a.jaga-test.invalid": ["127.0.0.1"], "b.jaga-test.invalid": ["127.0.0.1"]})
    target = f"http://b.jaga-test.invalid:{server.port}/echo-host"
    url = f"http://a.jaga-test.invalid:{server.port}/redirect?to={quote(target, safe='')}"
    got = fetch(url, FetchPolicy(allow_networks=LOOPBACK), resolver=dns)
    assert got.data == f"b.jaga-test.invalid:{server.port}".encode()
    assert dns.calls == [
        ("a.jaga-test.invalid", server.port),
        ("b.jaga-test.invalid", server.port),
    ]


def test_unreachable_address_falls_back_to_the_next_checked_one(
    fetch: Fetch, serve: Callable[[str], _Server]
) -> None:
    server = serve("127.0.0.1")  # nothing listens on 127.0.0.3 at this port
    dns = FakeDNS({"two.jaga-test.invalid": ["127.0.0.3", "127.0.0.1"]})
    got = fetch(
        f"http://two.jaga-test.invalid:{server.port}/data",
        FetchPolicy(allow_networks=LOOPBACK),
        resolver=dns,
    )
    assert got.data == PAYLOAD
    assert got.addresses == ("127.0.0.1", "127.0.0.3")


def test_odd_numeric_host_is_normalised_and_fetched_when_allowed(
    fetch: Fetch, serve: Callable[[str], _Server]
) -> None:
    server = serve("127.0.0.1")
    got = fetch(
        f"http://2130706433:{server.port}/echo-host",
        FetchPolicy(allow_networks=LOOPBACK),
        resolver=no_dns,
    )
    assert got.addresses == ("127.0.0.1",)
    assert got.data == f"127.0.0.1:{server.port}".encode()


def test_body_exactly_at_the_limit_is_accepted(
    fetch: Fetch, serve: Callable[[str], _Server]
) -> None:
    server = serve("127.0.0.1")
    got = fetch(f"{server.base}/big-streamed", FetchPolicy(allow_networks=LOOPBACK, max_bytes=3000))
    assert got.data == b"y" * 3000


# --------------------------------------------------------------------------- refused up front


def test_the_no_connection_check_does_see_a_connection(
    fetch: Fetch, listener: socket.socket
) -> None:
    # Positive control for assert_no_connection: an allowed fetch to the listener is seen.
    policy = FetchPolicy(allow_networks=LOOPBACK, total_timeout=0.3)
    with pytest.raises(FetchFailed):
        fetch(f"http://127.0.0.1:{_port(listener)}/", policy)
    listener.setblocking(True)
    listener.settimeout(2)
    conn, _ = listener.accept()
    conn.close()


@pytest.mark.usefixtures("no_client")
@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "LocalHost.", "api.localhost"])
def test_loopback_refused_by_default_without_connecting(
    fetch: Fetch, listener: socket.socket, host: str
) -> None:
    with pytest.raises(FetchRefused) as exc:
        fetch(f"http://{host}:{_port(listener)}/", resolver=no_dns)
    assert "loopback" in one_line(exc)
    assert_no_connection(listener)


@pytest.mark.usefixtures("no_client")
@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://10.0.0.1/", "private (10.0.0.0/8)"),
        ("http://192.168.1.1:8080/", "private (192.168.0.0/16)"),
        ("http://172.31.255.255/", "private (172.16.0.0/12)"),
        ("http://169.254.169.254/latest/meta-data/", "cloud metadata"),
        ("http://169.254.1.1/", "link-local"),
        ("http://100.100.100.200/", "cloud metadata"),
        ("http://100.64.0.1/", "shared address space"),
        ("http://0.0.0.0/", "this network"),
        ("http://224.0.0.1/", "multicast"),
        ("http://240.0.0.1/", "reserved"),
        ("http://255.255.255.255/", "broadcast"),
        ("https://192.0.2.1/", "documentation"),
    ],
)
def test_private_and_special_ipv4_refused(fetch: Fetch, url: str, why: str) -> None:
    with pytest.raises(FetchRefused) as exc:
        fetch(url, resolver=no_dns)
    assert why in one_line(exc)


@pytest.mark.usefixtures("no_client")
@pytest.mark.parametrize(
    ("host", "address"),
    [
        ("2130706433", "127.0.0.1"),
        ("0177.0.0.1", "127.0.0.1"),
        ("0x7f.1", "127.0.0.1"),
        ("0X7F.0.0.1", "127.0.0.1"),
        ("127.1", "127.0.0.1"),
        ("0x7f000001", "127.0.0.1"),
        ("017700000001", "127.0.0.1"),
        ("127.0.0.1.", "127.0.0.1"),
        ("10.1", "10.0.0.1"),
        ("0xa9.0xfe.0xa9.0xfe", "169.254.169.254"),
        ("3232235521", "192.168.0.1"),
        ("0", "0.0.0.0"),
    ],
)
def test_odd_numeric_forms_are_normalised_and_refused(
    fetch: Fetch, host: str, address: str
) -> None:
    with pytest.raises(FetchRefused) as exc:
        fetch(f"http://{host}:8080/", resolver=no_dns)
    message = one_line(exc)
    assert f"address {address} is" in message
    assert host in message  # says how it was written


@pytest.mark.usefixtures("no_client")
@pytest.mark.parametrize(
    "host", ["127.0.0.256", "1.2.3.4.5", "08.0.0.1", "0x.1", "4294967296", "127.0.0.1x", "1.0x1g"]
)
def test_invalid_numeric_looking_hosts_refused(fetch: Fetch, host: str) -> None:
    with pytest.raises(FetchRefused) as exc:
        fetch(f"http://{host}/", resolver=no_dns)
    assert "not a valid IPv4 address" in one_line(exc)


@pytest.mark.usefixtures("no_client")
@pytest.mark.parametrize(
    ("host", "why"),
    [
        ("[::1]", "loopback"),
        ("[::]", "unspecified"),
        ("[::ffff:127.0.0.1]", "IPv4-mapped 127.0.0.1"),
        ("[::ffff:7f00:1]", "IPv4-mapped 127.0.0.1"),
        ("[0:0:0:0:0:ffff:a9fe:a9fe]", "IPv4-mapped 169.254.169.254"),
        ("[::127.0.0.1]", "IPv4-compatible 127.0.0.1"),
        ("[2002:7f00:1::]", "6to4 127.0.0.1"),
        ("[2002:a00:1::1]", "6to4 10.0.0.1"),
        ("[2001:0:4136:e378:8000:63bf:f5ff:fffe]", "Teredo via 10.0.0.1"),
        ("[64:ff9b::a00:1]", "NAT64 10.0.0.1"),
        ("[64:ff9b::a9fe:a9fe]", "NAT64 169.254.169.254"),
        ("[fd00:ec2::254]", "cloud metadata"),
        ("[fc00::1]", "unique local"),
        ("[fe80::1]", "link-local"),
        ("[ff02::1]", "multicast"),
    ],
)
def test_ipv6_loopback_private_and_embedded_forms_refused(
    fetch: Fetch, host: str, why: str
) -> None:
    with pytest.raises(FetchRefused) as exc:
        fetch(f"http://{host}:8080/", resolver=no_dns)
    assert why in one_line(exc)


@pytest.mark.usefixtures("no_client")
def test_ipv6_zone_id_refused(fetch: Fetch) -> None:
    with pytest.raises(FetchRefused) as exc:
        fetch("http://[fe80::1%25eth0]:8080/", resolver=no_dns)
    assert "zone" in one_line(exc)


@pytest.mark.usefixtures("no_client")
@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "ftp://example.com/file.jpg",
        "gopher://127.0.0.1:70/_GET",
        "javascript:alert(1)",
        "data:image/png;base64,AAAA",
        "//example.com/relative",
        "example.com/no-scheme",
    ],
)
def test_non_http_schemes_refused(fetch: Fetch, url: str) -> None:
    with pytest.raises(FetchRefused) as exc:
        fetch(url, resolver=no_dns)
    assert "scheme" in one_line(exc)


@pytest.mark.usefixtures("no_client")
def test_scheme_outside_policy_refused(fetch: Fetch) -> None:
    with pytest.raises(FetchRefused) as exc:
        fetch("http://example.com/", FetchPolicy(allowed_schemes=frozenset({"https"})))
    assert "'http' is not allowed (only https)" in one_line(exc)


@pytest.mark.usefixtures("no_client")
@pytest.mark.parametrize(
    "url",
    [
        "http://evil@127.0.0.1/",
        "http://user:pass@example.com/",
        "http://@example.com/",
        "http://example.com@10.0.0.1/",
        "http://127.0.0.1\\@example.com/",
    ],
)
def test_userinfo_tricks_refused(fetch: Fetch, url: str) -> None:
    with pytest.raises(FetchRefused) as exc:
        fetch(url, resolver=no_dns)
    assert "user info" in one_line(exc)


@pytest.mark.usefixtures("no_client")
@pytest.mark.parametrize(
    "url", ["http://exa mple.com/", "http://example.com/\n", "http://example.com/\x00", ""]
)
def test_whitespace_control_characters_and_empty_refused(fetch: Fetch, url: str) -> None:
    with pytest.raises(FetchRefused):
        fetch(url, resolver=no_dns)


@pytest.mark.usefixtures("no_client")
@pytest.mark.parametrize(
    ("answer", "bad"),
    [
        (["10.0.0.1"], "10.0.0.1"),
        (["93.184.216.34", "10.0.0.1"], "10.0.0.1"),  # ANY bad address refuses the hop
        (["169.254.169.254"], "169.254.169.254"),
        (["::ffff:169.254.169.254"], "::ffff:169.254.169.254"),
        (["2606:4700:4700::1111", "::1"], "::1"),
        (["fe80::1%eth0"], "fe80::1%eth0"),
    ],
)
def test_name_resolving_to_a_private_address_refused(
    fetch: Fetch, answer: list[str], bad: str
) -> None:
    dns = FakeDNS({"images.jaga-test.invalid": answer})
    with pytest.raises(FetchRefused) as exc:
        fetch("https://images.jaga-test.invalid/cat.jpg", resolver=dns)
    shown = ipaddress.ip_address(bad)  # str() of mapped forms differs across Python versions
    assert f"images.jaga-test.invalid resolves to {shown}, which is" in one_line(exc)
    assert dns.calls == [("images.jaga-test.invalid", 443)]


@pytest.mark.usefixtures("no_client")
def test_allow_list_must_cover_every_resolved_address(fetch: Fetch) -> None:
    dns = FakeDNS({"mixed.jaga-test.invalid": ["127.0.0.1", "10.0.0.1"]})
    with pytest.raises(FetchRefused) as exc:
        fetch("http://mixed.jaga-test.invalid/", FetchPolicy(allow_networks=LOOPBACK), resolver=dns)
    assert "10.0.0.1" in one_line(exc)


@pytest.mark.usefixtures("no_client")
def test_allow_list_matches_literal_address_only(fetch: Fetch) -> None:
    # Allowing 127.0.0.1 does not allow its IPv4-mapped IPv6 spelling.
    policy = FetchPolicy(allow_networks=(ipaddress.ip_network("127.0.0.1/32"),))
    with pytest.raises(FetchRefused):
        fetch("http://[::ffff:127.0.0.1]:8080/", policy, resolver=no_dns)


@pytest.mark.usefixtures("no_client")
@pytest.mark.parametrize(
    ("dns", "text"),
    [
        (FakeDNS({}), "DNS lookup for nowhere.jaga-test.invalid failed"),
        (FakeDNS({"nowhere.jaga-test.invalid": []}), "returned no addresses"),
        (FakeDNS({"nowhere.jaga-test.invalid": ["not-an-ip"]}), "non-address"),
    ],
)
def test_dns_failures_are_fetch_failed(fetch: Fetch, dns: FakeDNS, text: str) -> None:
    with pytest.raises(FetchFailed) as exc:
        fetch("http://nowhere.jaga-test.invalid/", resolver=dns)
    assert text in one_line(exc)


# --------------------------------------------------------------------------- redirects


@pytest.mark.parametrize(
    ("to", "why"),
    [
        ("http://10.0.0.1/", "private (10.0.0.0/8)"),
        ("http://169.254.169.254/latest/meta-data/", "cloud metadata"),
        ("http://[::1]/", "loopback"),
        ("http://0x7f.1/", "loopback"),
        ("http://localhost/", "localhost"),
        ("file:///etc/passwd", "scheme 'file'"),
        ("gopher://127.0.0.2:70/", "scheme 'gopher'"),
        ("http://user@127.0.0.2/", "user info"),
    ],
)
def test_redirect_to_forbidden_target_refused(
    fetch: Fetch, serve: Callable[[str], _Server], to: str, why: str
) -> None:
    # The first hop is allowed (127.0.0.2 only); the redirect target must be checked afresh.
    server = serve("127.0.0.2")
    with pytest.raises(FetchRefused) as exc:
        fetch(
            f"{server.base}/redirect?to={quote(to, safe='')}",
            FetchPolicy(allow_networks=ONLY_127_0_0_2),
            resolver=no_dns,
        )
    message = one_line(exc)
    assert f"refused redirect from {server.base} to" in message
    assert why in message


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_redirect_to_loopback_refused_without_connecting(
    fetch: Fetch, serve: Callable[[str], _Server], listener: socket.socket, status: int
) -> None:
    server = serve("127.0.0.2")
    to = f"http://127.0.0.1:{_port(listener)}/"
    with pytest.raises(FetchRefused) as exc:
        fetch(
            f"{server.base}/redirect?status={status}&to={quote(to, safe='')}",
            FetchPolicy(allow_networks=ONLY_127_0_0_2),
        )
    assert "address 127.0.0.1 is loopback" in one_line(exc)
    assert_no_connection(listener)


def test_redirect_to_name_resolving_private_refused(
    fetch: Fetch, serve: Callable[[str], _Server]
) -> None:
    server = serve("127.0.0.2")
    dns = FakeDNS({"rebind.jaga-test.invalid": ["10.1.2.3"]})
    to = "http://rebind.jaga-test.invalid/"
    with pytest.raises(FetchRefused) as exc:
        fetch(
            f"{server.base}/redirect?to={quote(to, safe='')}",
            FetchPolicy(allow_networks=ONLY_127_0_0_2),
            resolver=dns,
        )
    assert "resolves to 10.1.2.3" in one_line(exc)


def test_too_many_redirects_refused(fetch: Fetch, serve: Callable[[str], _Server]) -> None:
    server = serve("127.0.0.1")
    with pytest.raises(FetchRefused) as exc:
        fetch(f"{server.base}/chain/4", FetchPolicy(allow_networks=LOOPBACK, max_redirects=3))
    assert "more than 3 redirects" in one_line(exc)
    assert len(server.seen) == 4  # the 4th Location was never requested


def test_zero_redirects_allowed(fetch: Fetch, serve: Callable[[str], _Server]) -> None:
    server = serve("127.0.0.1")
    with pytest.raises(FetchRefused):
        fetch(f"{server.base}/chain/1", FetchPolicy(allow_networks=LOOPBACK, max_redirects=0))


# --------------------------------------------------------------------------- size and time


def test_declared_oversized_body_refused(fetch: Fetch, serve: Callable[[str], _Server]) -> None:
    server = serve("127.0.0.1")
    with pytest.raises(FetchTooLarge) as exc:
        fetch(f"{server.base}/big-declared", FetchPolicy(allow_networks=LOOPBACK, max_bytes=1000))
    assert "declares 2000 bytes, over the limit of 1000" in one_line(exc)


def test_streamed_oversized_body_without_length_refused(
    fetch: Fetch, serve: Callable[[str], _Server]
) -> None:
    server = serve("127.0.0.1")
    with pytest.raises(FetchTooLarge) as exc:
        fetch(f"{server.base}/big-streamed", FetchPolicy(allow_networks=LOOPBACK, max_bytes=2999))
    assert "more than the limit of 2999 bytes" in one_line(exc)


def test_decompressed_size_is_what_counts(fetch: Fetch, serve: Callable[[str], _Server]) -> None:
    # A few hundred compressed bytes that inflate to 200 kB: the limit applies to what we keep.
    server = serve("127.0.0.1")
    with pytest.raises(FetchTooLarge):
        fetch(f"{server.base}/gzip-bomb", FetchPolicy(allow_networks=LOOPBACK, max_bytes=10_000))


def test_slow_drip_hits_the_total_deadline(fetch: Fetch, serve: Callable[[str], _Server]) -> None:
    # Each byte arrives well within any per-read timeout; only a whole-fetch deadline stops it.
    server = serve("127.0.0.1")
    with pytest.raises(FetchFailed) as exc:
        fetch(f"{server.base}/drip", FetchPolicy(allow_networks=LOOPBACK, total_timeout=0.5))
    assert "total limit" in one_line(exc)


@pytest.mark.parametrize("status", [404, 500, 403])
def test_http_error_status_is_fetch_failed(
    fetch: Fetch, serve: Callable[[str], _Server], status: int
) -> None:
    server = serve("127.0.0.1")
    with pytest.raises(FetchFailed) as exc:
        fetch(f"{server.base}/status/{status}", FetchPolicy(allow_networks=LOOPBACK))
    assert f"HTTP {status}" in one_line(exc)


def test_connection_refused_is_fetch_failed(fetch: Fetch) -> None:
    with socket.socket() as sock:  # a port that was free a moment ago and has no listener
        sock.bind(("127.0.0.1", 0))
        port = _port(sock)
    with pytest.raises(FetchFailed) as exc:
        fetch(f"http://127.0.0.1:{port}/", FetchPolicy(allow_networks=LOOPBACK))
    assert f"http://127.0.0.1:{port}" in one_line(exc)


# --------------------------------------------------------------------------- pure helpers


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("0x08080808", "8.8.8.8"),
        ("134744072", "8.8.8.8"),
        ("8.8.2056", "8.8.8.8"),
        ("010.010.010.010", "8.8.8.8"),
        ("1.2.3.4", "1.2.3.4"),
        ("example.com", None),
        ("3com.example", None),
        ("localhost", None),
    ],
)
def test_numeric_ipv4_reads_like_inet_aton(host: str, expected: str | None) -> None:
    got = numeric_ipv4(host)
    assert (None if got is None else str(got)) == expected


@pytest.mark.parametrize(
    "address", ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "64:ff9b::808:808"]
)
def test_public_addresses_are_not_refused(address: str) -> None:
    assert refusal_reason(ipaddress.ip_address(address)) is None


def test_policy_rejects_nonsense() -> None:
    from jaga.errors import InvalidInput

    with pytest.raises(InvalidInput):
        FetchPolicy(total_timeout=0)
    with pytest.raises(InvalidInput):
        FetchPolicy(max_redirects=-1)
    with pytest.raises(InvalidInput):
        FetchPolicy(allowed_schemes=frozenset({"https", "ftp"}))
    with pytest.raises(InvalidInput):
        FetchPolicy(allow_networks=("127.0.0.0/8",))  # type: ignore[arg-type]
