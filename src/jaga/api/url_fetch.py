"""Fetch media from a URL someone gave us, without letting them aim us at our own network.

Hashing "the image at this URL" is a classic server-side request forgery (SSRF) hole: the URL can
name ``127.0.0.1``, the cloud metadata service at ``169.254.169.254``, a database on ``10.x``, or
a public name whose DNS answer is any of those. HMA's URL hasher fetches whatever it is given;
this module refuses, and does so *before* any connection is attempted.

Example::

    fetched = await fetch_url_async("https://example.org/photo.jpg")
    fetched.data, fetched.content_type, fetched.addresses

How each hop is checked (the first URL and every redirect target alike):

1. The URL is parsed once: only ``http``/``https`` (and only those in the policy), no user info
   (``http://evil@127.0.0.1``), no IPv6 zone ids or percent signs in the host, no whitespace or
   control characters. A host whose last label starts with a digit is read the way
   ``inet_aton`` and browsers read it (``2130706433``, ``0177.0.0.1``, ``0x7f.1``, ``127.1``
   are all ``127.0.0.1``); a host that looks numeric but is not a valid address is refused rather
   than handed to a resolver that might read it differently.
2. A name is resolved ONCE (``getaddrinfo``, every address), and the hop is refused if ANY
   address is not public (see :func:`refusal_reason`), unless it lies in ``allow_networks``.
3. The request is sent to the checked IP itself -- see "Pinning" -- so there is no second DNS
   lookup for an attacker to rebind.
4. Redirects are never followed by httpx; each ``Location`` goes through steps 1-3 again, and
   more than ``max_redirects`` of them is refused.
5. The body is streamed: a ``Content-Length`` over ``max_bytes`` is refused before reading, the
   running (decoded) size is checked per chunk, and the whole fetch -- DNS, connects, redirects,
   and a server that drips one byte at a time -- has one deadline, ``total_timeout``.

Pinning: the request URL is rewritten to the checked IP (``https://93.184.216.34:443/x``) while
the ``Host`` header carries the original host and port, and for HTTPS the httpcore request
extension ``sni_hostname`` carries the original name. httpcore connects to the URL's host (the
IP, so no resolution happens), and passes ``sni_hostname`` to ``ssl`` as ``server_hostname``, which
is used both for SNI and for certificate verification -- so TLS still proves we reached the
name we were asked for. This uses only public httpx/httpcore API (``Host`` header,
``extensions``), unlike replacing a transport's private connection pool or network backend.
Each fetch has its own client with ``trust_env=False`` so proxy environment variables cannot
route the request through something that would resolve the name again.

Deadlines: the async version cancels the whole fetch exactly at ``total_timeout``. The sync
version checks the deadline before each step and after each body chunk, and bounds every
blocking socket operation by the time left when the hop began; a peer that goes completely silent
near the end can therefore overrun the deadline by at most that bound (never more than
``total_timeout`` again), while a slow-drip peer is cut off at the first chunk after it.
"""

from __future__ import annotations

import ipaddress
import re
import socket
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import anyio
import anyio.to_thread
import httpx

from jaga.errors import InvalidInput, JagaError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

Resolver = Callable[[str, int], Sequence[str]]
"""``resolver(host, port)`` returns every address of ``host`` as strings, or raises ``OSError``."""

_SUPPORTED_SCHEMES = frozenset({"http", "https"})
_DEFAULT_PORTS = {"http": 80, "https": 443}
_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_MAX_URL_LENGTH = 8192


class FetchRefused(JagaError):
    """The URL, an address it resolves to, or a redirect target is not allowed by the policy."""


class FetchFailed(JagaError):
    """The fetch was allowed but did not work: DNS, connection, timeout, or HTTP error status."""


class FetchTooLarge(JagaError):
    """The body is larger than the policy's ``max_bytes`` (declared or actually streamed)."""


@dataclass(frozen=True)
class FetchPolicy:
    """Limits for one fetch. The defaults suit untrusted URLs on a server with private peers."""

    max_bytes: int = 64 * 2**20
    connect_timeout: float = 5.0
    total_timeout: float = 20.0
    max_redirects: int = 3
    allowed_schemes: frozenset[str] = frozenset({"http", "https"})
    # Addresses that are allowed although not public, e.g. 127.0.0.0/8 in tests. Matched against
    # the literal address only: allowing 127.0.0.1/32 does not allow ::ffff:127.0.0.1.
    allow_networks: tuple[IPNetwork, ...] = ()
    user_agent: str = "Jaga/0.1 (+hash matching)"

    def __post_init__(self) -> None:
        if self.max_bytes < 0:
            raise InvalidInput(f"max_bytes must be >= 0, got {self.max_bytes}")
        if not (self.connect_timeout > 0 and self.total_timeout > 0):
            raise InvalidInput("connect_timeout and total_timeout must be > 0")
        if not self.allowed_schemes <= _SUPPORTED_SCHEMES:
            extra = ", ".join(sorted(self.allowed_schemes - _SUPPORTED_SCHEMES))
            raise InvalidInput(f"allowed_schemes may only hold 'http' and 'https', not {extra}")
        if self.max_redirects < 0:
            raise InvalidInput(f"max_redirects must be >= 0, got {self.max_redirects}")
        for network in self.allow_networks:
            if not isinstance(network, ipaddress.IPv4Network | ipaddress.IPv6Network):
                raise InvalidInput(f"allow_networks holds {network!r}, not an ipaddress network")


@dataclass(frozen=True)
class Fetched:
    """A successful (2xx) fetch. ``addresses`` are the final hop's checked addresses, the one
    connected to first; ``url`` is the final URL as given (after redirects), not the pinned IP."""

    url: str
    status: int
    content_type: str | None
    data: bytes
    addresses: tuple[str, ...]


# --------------------------------------------------------------------------- address policy

_V4_BLOCKS: tuple[tuple[ipaddress.IPv4Network, str], ...] = tuple(
    (ipaddress.IPv4Network(net), why)
    for net, why in (
        ("0.0.0.0/8", "'this network' (0.0.0.0/8)"),
        ("10.0.0.0/8", "private (10.0.0.0/8)"),
        ("100.100.100.200/32", "a cloud metadata service address"),
        ("100.64.0.0/10", "shared address space (100.64.0.0/10)"),
        ("127.0.0.0/8", "loopback (127.0.0.0/8)"),
        ("169.254.169.254/32", "a cloud metadata service address"),
        ("169.254.0.0/16", "link-local (169.254.0.0/16)"),
        ("172.16.0.0/12", "private (172.16.0.0/12)"),
        ("192.0.0.0/24", "IETF protocol assignments (192.0.0.0/24)"),
        ("192.0.2.0/24", "documentation (192.0.2.0/24)"),
        ("192.88.99.0/24", "6to4 relay anycast (192.88.99.0/24)"),
        ("192.168.0.0/16", "private (192.168.0.0/16)"),
        ("198.18.0.0/15", "benchmarking (198.18.0.0/15)"),
        ("198.51.100.0/24", "documentation (198.51.100.0/24)"),
        ("203.0.113.0/24", "documentation (203.0.113.0/24)"),
        ("224.0.0.0/4", "multicast (224.0.0.0/4)"),
        ("255.255.255.255/32", "broadcast"),
        ("240.0.0.0/4", "reserved (240.0.0.0/4)"),
    )
)

_V6_BLOCKS: tuple[tuple[ipaddress.IPv6Network, str], ...] = tuple(
    (ipaddress.IPv6Network(net), why)
    for net, why in (
        ("::/128", "unspecified (::)"),
        ("::1/128", "loopback (::1)"),
        ("fd00:ec2::254/128", "a cloud metadata service address"),
        ("fc00::/7", "unique local (fc00::/7)"),
        ("fe80::/10", "link-local (fe80::/10)"),
        ("fec0::/10", "site-local (fec0::/10)"),
        ("ff00::/8", "multicast (ff00::/8)"),
        ("64:ff9b:1::/48", "local-use NAT64 (64:ff9b:1::/48)"),
        ("100::/64", "discard-only (100::/64)"),
        ("2001:db8::/32", "documentation (2001:db8::/32)"),
        ("3fff::/20", "documentation (3fff::/20)"),
        ("2001::/23", "IETF protocol assignments (2001::/23)"),
    )
)

_V4_COMPATIBLE = ipaddress.IPv6Network("::/96")
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_GLOBAL_UNICAST_V6 = ipaddress.IPv6Network("2000::/3")


def _v4_refusal(address: ipaddress.IPv4Address) -> str | None:
    for network, why in _V4_BLOCKS:
        if address in network:
            return why
    # Backstop for anything the table misses (the stdlib's registry grows over time).
    if not address.is_global or address.is_multicast or address.is_reserved:
        return "not globally routable"
    return None


def _embedded_v4(address: ipaddress.IPv6Address) -> tuple[str, ipaddress.IPv4Address] | None:
    """The IPv4 address a v6 form would deliver to (mapped, compatible, 6to4, NAT64)."""
    if address.ipv4_mapped is not None:
        return "IPv4-mapped", address.ipv4_mapped
    if address in _V4_COMPATIBLE and int(address) > 1:
        return "IPv4-compatible", ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if address.sixtofour is not None:
        return "6to4", address.sixtofour
    if address in _NAT64:
        return "NAT64", ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def refusal_reason(address: IPAddress) -> str | None:
    """Why ``address`` must not be fetched from, or None when it is a public unicast address.

    IPv6 forms that carry an IPv4 address (``::ffff:a.b.c.d``, ``::a.b.c.d``, 6to4
    ``2002::/16``, Teredo ``2001::/32``, NAT64 ``64:ff9b::/96``) are judged by that IPv4 address
    too, since the packet may end up there. NAT64 of a public IPv4 address is allowed (it is how
    IPv6-only hosts reach the IPv4 internet); other IPv6 must be global unicast (2000::/3).
    """
    if isinstance(address, ipaddress.IPv4Address):
        return _v4_refusal(address)
    if address.scope_id:
        return "scoped (has a zone id)"
    embedded = _embedded_v4(address)
    if embedded is not None:
        form, v4 = embedded
        inner = _v4_refusal(v4)
        if inner is not None:
            return f"{form} {v4}, which is {inner}"
        if form == "NAT64":
            return None
        if form != "6to4":
            return f"{form} (an IPv4 address in IPv6 form)"
    if address.teredo is not None:
        server, client = address.teredo
        for v4 in (server, client):
            inner = _v4_refusal(v4)
            if inner is not None:
                return f"Teredo via {v4}, which is {inner}"
    for network, why in _V6_BLOCKS:
        if address in network:
            return why
    if address not in _GLOBAL_UNICAST_V6 or not address.is_global:
        return "not globally routable"
    return None


def _allowed_explicitly(address: IPAddress, policy: FetchPolicy) -> bool:
    return any(
        address.version == network.version and address in network
        for network in policy.allow_networks
    )


# --------------------------------------------------------------------------- URL parsing


@dataclass(frozen=True)
class _Target:
    """One hop's URL after checks: ``host`` is what a resolver would be asked (ASCII, no
    brackets), ``literal`` is set when the host is an IP address (no DNS for those)."""

    url: httpx.URL
    host: str
    port: int
    literal: IPAddress | None
    # Scheme and authority as written (odd numeric hosts unnormalised), for messages; paths and
    # queries are left out since they may carry tokens and are long.
    label: str


class _NotAnAddress(ValueError):
    pass


_HEX = re.compile(r"0[xX][0-9a-fA-F]{1,8}")
_OCT = re.compile(r"0[0-7]{0,11}")
_DEC = re.compile(r"[1-9][0-9]{0,9}")


def _number(label: str) -> int:
    if _HEX.fullmatch(label):
        return int(label[2:], 16)
    if _OCT.fullmatch(label):
        return int(label, 8)
    if _DEC.fullmatch(label):
        return int(label, 10)
    raise _NotAnAddress(label)


def numeric_ipv4(host: str) -> ipaddress.IPv4Address | None:
    """Read ``host`` the way ``inet_aton`` (and the WHATWG URL standard) would, if it is numeric.

    Returns None for a name. A host whose last label starts with a digit is taken to be an
    address (no top-level domain starts with one); if it is not a valid one in any of the
    accepted spellings -- 1 to 4 parts, each decimal, octal (leading 0) or hex (0x), the last
    part filling the remaining bytes -- ``ValueError`` is raised.
    """
    labels = host.split(".")
    if len(labels) > 1 and labels[-1] == "":
        labels.pop()  # one trailing dot, as in a fully qualified name
    if not labels[-1][:1].isdigit():
        return None
    if len(labels) > 4:
        raise _NotAnAddress(host)
    values = [_number(label) for label in labels]
    last_bits = 8 * (5 - len(values))
    if any(v > 255 for v in values[:-1]) or values[-1] >= 1 << last_bits:
        raise _NotAnAddress(host)
    total = values[-1]
    for i, value in enumerate(values[:-1]):
        total |= value << (8 * (3 - i))
    return ipaddress.IPv4Address(total)


def _canonical_numeric_netloc(raw: str, role: str) -> str:
    """Rewrite an odd numeric IPv4 host to dotted quad, so httpx (which rejects ``0177.0.0.1``
    and would pass ``127.1`` to a resolver) and we agree on the address."""
    parts = urlsplit(raw)
    netloc = parts.netloc
    if netloc.startswith("["):
        return raw
    host, sep, port = netloc.partition(":")
    try:
        address = numeric_ipv4(host)
    except ValueError:
        raise FetchRefused(
            f"refused {role} {parts.scheme}://{netloc}: host {host!r} looks numeric "
            "but is not a valid IPv4 address"
        ) from None
    if address is None or str(address) == host:
        return raw
    return urlunsplit(parts._replace(netloc=f"{address}{sep}{port}"))


def _parse_target(raw: str, policy: FetchPolicy, role: str) -> _Target:
    """Check everything about a URL that needs no network; raise FetchRefused if it fails."""
    if not isinstance(raw, str) or not raw:
        raise FetchRefused(f"refused {role}: empty or not a string")
    if len(raw) > _MAX_URL_LENGTH:
        raise FetchRefused(f"refused {role}: longer than {_MAX_URL_LENGTH} characters")
    if any(ord(c) <= 0x20 or ord(c) == 0x7F for c in raw):
        raise FetchRefused(f"refused {role}: contains whitespace or control characters")
    try:
        parts = urlsplit(raw)
    except ValueError as exc:
        raise FetchRefused(f"refused {role}: not a valid URL ({exc})") from None
    scheme = parts.scheme.lower()
    if scheme not in _SUPPORTED_SCHEMES or scheme not in policy.allowed_schemes:
        allowed = ", ".join(sorted(_SUPPORTED_SCHEMES & policy.allowed_schemes))
        raise FetchRefused(
            f"refused {role}: scheme {scheme or '(none)'!r} is not allowed (only {allowed})"
        )
    if "@" in parts.netloc:
        raise FetchRefused(f"refused {role}: user info before '@' in the host is not allowed")
    try:
        url = httpx.URL(_canonical_numeric_netloc(raw, role))
    except httpx.InvalidURL as exc:
        raise FetchRefused(f"refused {role}: not a valid URL ({exc})") from None
    if url.scheme not in _SUPPORTED_SCHEMES or url.userinfo:
        raise FetchRefused(f"refused {role}: scheme or user info not allowed")
    host = url.raw_host.decode("ascii")
    where = f"{scheme}://{parts.netloc}"
    if not host:
        raise FetchRefused(f"refused {role} {where}: no host")
    if "%" in host:
        raise FetchRefused(f"refused {role} {where}: zone ids and '%' are not allowed in a host")
    port = url.port if url.port is not None else _DEFAULT_PORTS[url.scheme]
    literal: IPAddress | None
    if ":" in host:
        try:
            literal = ipaddress.IPv6Address(host)
        except ValueError:
            raise FetchRefused(f"refused {role} {where}: not a valid IPv6 address") from None
    else:
        try:
            literal = numeric_ipv4(host)
        except ValueError:
            raise FetchRefused(
                f"refused {role} {where}: host looks numeric but is not a valid IPv4 address"
            ) from None
        name = host.rstrip(".").lower()
        if literal is None and (name == "localhost" or name.endswith(".localhost")):
            raise FetchRefused(f"refused {role} {where}: 'localhost' names are loopback")
    target = _Target(url=url, host=host, port=port, literal=literal, label=where)
    if literal is not None:
        _check_address(target, literal, policy, role)
    return target


def _check_address(target: _Target, address: IPAddress, policy: FetchPolicy, role: str) -> None:
    if _allowed_explicitly(address, policy):
        return
    why = refusal_reason(address)
    if why is not None:
        raise FetchRefused(f"refused {role} {target.label}: address {address} is {why}")


# --------------------------------------------------------------------------- DNS


def resolve_host(host: str, port: int) -> tuple[str, ...]:
    """Every address ``getaddrinfo`` gives for ``host`` (TCP), in its order, without repeats."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    seen: dict[str, None] = {}
    for info in infos:
        seen.setdefault(str(info[4][0]), None)
    return tuple(seen)


def _checked_addresses(
    target: _Target, answer: Sequence[str], policy: FetchPolicy, role: str
) -> tuple[str, ...]:
    """Parse a resolver's answer and refuse the hop if ANY address is not allowed."""
    addresses: list[IPAddress] = []
    for text in answer:
        try:
            addresses.append(ipaddress.ip_address(text))
        except ValueError:
            raise FetchFailed(
                f"DNS lookup for {target.host} returned a non-address {text!r}"
            ) from None
    if not addresses:
        raise FetchFailed(f"DNS lookup for {target.host} returned no addresses")
    for address in addresses:
        if _allowed_explicitly(address, policy):
            continue
        why = refusal_reason(address)
        if why is not None:
            raise FetchRefused(
                f"refused {role} {target.label}: {target.host} resolves to {address}, "
                f"which is {why}"
            )
    return tuple(dict.fromkeys(str(a) for a in addresses))


def _dns_failed(target: _Target, exc: BaseException) -> FetchFailed:
    return FetchFailed(f"DNS lookup for {target.host} failed: {exc}")


def _resolve_sync(
    target: _Target, policy: FetchPolicy, resolver: Resolver, deadline: float, role: str
) -> tuple[str, ...]:
    if target.literal is not None:
        return (str(target.literal),)
    # getaddrinfo has no timeout of its own; run it in a daemon thread so the deadline holds.
    outcome: list[Sequence[str] | BaseException] = []

    def work() -> None:
        try:
            outcome.append(resolver(target.host, target.port))
        except BaseException as exc:  # handed to the caller's thread below
            outcome.append(exc)

    thread = threading.Thread(target=work, name="jaga-url-fetch-dns", daemon=True)
    thread.start()
    thread.join(_remaining(deadline, policy, target))
    if not outcome:
        raise _deadline_error(policy, target)
    answer = outcome[0]
    if isinstance(answer, OSError | UnicodeError):
        raise _dns_failed(target, answer)
    if isinstance(answer, BaseException):
        raise answer
    return _checked_addresses(target, answer, policy, role)


async def _resolve_async(
    target: _Target, policy: FetchPolicy, resolver: Resolver, role: str
) -> tuple[str, ...]:
    if target.literal is not None:
        return (str(target.literal),)
    try:
        answer = await anyio.to_thread.run_sync(
            resolver, target.host, target.port, abandon_on_cancel=True
        )
    except (OSError, UnicodeError) as exc:
        raise _dns_failed(target, exc) from None
    return _checked_addresses(target, answer, policy, role)


# --------------------------------------------------------------------------- HTTP


def _remaining(deadline: float, policy: FetchPolicy, target: _Target) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise _deadline_error(policy, target)
    return left


def _deadline_error(policy: FetchPolicy, target: _Target) -> FetchFailed:
    return FetchFailed(
        f"fetching {target.label} took longer than the {policy.total_timeout:g} s total limit"
    )


def _client_headers(policy: FetchPolicy) -> dict[str, str]:
    # identity: we hash the bytes as served; a server that compresses anyway is decoded by httpx
    # and the decoded size is what max_bytes limits.
    return {"User-Agent": policy.user_agent, "Accept-Encoding": "identity"}


def _open_client(policy: FetchPolicy) -> httpx.Client:
    """A fresh client per fetch: no redirects, no proxies or netrc from the environment."""
    return httpx.Client(follow_redirects=False, trust_env=False, headers=_client_headers(policy))


def _open_async_client(policy: FetchPolicy) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        follow_redirects=False, trust_env=False, headers=_client_headers(policy)
    )


def _pinned_request(
    client: httpx.Client | httpx.AsyncClient,
    target: _Target,
    address: str,
    policy: FetchPolicy,
    time_left: float,
) -> httpx.Request:
    """GET ``target`` on ``address``: the URL names the IP, Host/SNI name the original host."""
    extensions: dict[str, object] = {}
    if target.url.scheme == "https" and target.literal is None:
        extensions["sni_hostname"] = target.host
    timeout = httpx.Timeout(
        connect=min(policy.connect_timeout, time_left),
        read=time_left,
        write=time_left,
        pool=time_left,
    )
    return client.build_request(
        "GET",
        target.url.copy_with(host=address, fragment=None),
        headers={"Host": target.url.netloc.decode("ascii")},
        extensions=extensions,
        timeout=timeout,
    )


def _redirect_location(target: _Target, response: httpx.Response) -> str | None:
    if response.status_code not in _REDIRECT_STATUSES:
        return None
    location = response.headers.get("location")
    if not location:
        return None
    try:
        return str(target.url.join(location))
    except httpx.InvalidURL as exc:
        raise FetchRefused(
            f"refused redirect from {target.label}: invalid Location ({exc})"
        ) from None


def _check_status(target: _Target, response: httpx.Response) -> None:
    if not 200 <= response.status_code < 300:
        phrase = response.reason_phrase or ""
        raise FetchFailed(f"{target.label} answered HTTP {response.status_code} {phrase}".strip())


def _check_declared_size(target: _Target, response: httpx.Response, policy: FetchPolicy) -> None:
    declared = response.headers.get("content-length")
    if declared is not None and declared.strip().isdigit() and int(declared) > policy.max_bytes:
        raise FetchTooLarge(
            f"{target.label} declares {int(declared)} bytes, over the limit of {policy.max_bytes}"
        )


def _too_large(target: _Target, policy: FetchPolicy) -> FetchTooLarge:
    return FetchTooLarge(f"{target.label} sent more than the limit of {policy.max_bytes} bytes")


def _transport_failed(target: _Target, exc: Exception) -> FetchFailed:
    if isinstance(exc, httpx.TimeoutException):
        return FetchFailed(f"fetching {target.label} timed out ({type(exc).__name__})")
    detail = str(exc) or type(exc).__name__
    return FetchFailed(f"fetching {target.label} failed: {detail}")


def _next_hop(
    target: _Target, location: str, hops: int, policy: FetchPolicy
) -> tuple[_Target, str]:
    if hops > policy.max_redirects:
        raise FetchRefused(
            f"refused redirect from {target.label}: more than {policy.max_redirects} redirects"
        )
    role = f"redirect from {target.label} to"
    return _parse_target(location, policy, role), role


def _fetched(
    target: _Target, response: httpx.Response, data: bytes, address: str, addresses: Sequence[str]
) -> Fetched:
    ordered = (address, *(a for a in addresses if a != address))
    return Fetched(
        url=str(target.url.copy_with(fragment=None)),
        status=response.status_code,
        content_type=response.headers.get("content-type"),
        data=data,
        addresses=ordered,
    )


def fetch_url(
    url: str, policy: FetchPolicy = FetchPolicy(), *, resolver: Resolver | None = None
) -> Fetched:
    """GET ``url`` under ``policy`` and return the body (see the module docstring for the rules).

    ``resolver`` replaces :func:`resolve_host` (tests, or a caching resolver); it is called once
    per hop. Raises FetchRefused, FetchFailed or FetchTooLarge -- nothing else on bad input.
    """
    resolve = resolver or resolve_host
    deadline = time.monotonic() + policy.total_timeout
    role = "URL"
    target = _parse_target(url, policy, role)
    addresses = _resolve_sync(target, policy, resolve, deadline, role)
    with _open_client(policy) as client:
        hops = 0
        while True:
            response, address = _send_sync(client, target, addresses, policy, deadline)
            try:
                location = _redirect_location(target, response)
                if location is None:
                    _check_status(target, response)
                    data = _read_sync(target, response, policy, deadline)
                    return _fetched(target, response, data, address, addresses)
            finally:
                response.close()
            hops += 1
            target, role = _next_hop(target, location, hops, policy)
            addresses = _resolve_sync(target, policy, resolve, deadline, role)


def _send_sync(
    client: httpx.Client,
    target: _Target,
    addresses: Sequence[str],
    policy: FetchPolicy,
    deadline: float,
) -> tuple[httpx.Response, str]:
    """Try the checked addresses in order; only a failure to connect moves on to the next."""
    failure: Exception | None = None
    for address in addresses:
        request = _pinned_request(
            client, target, address, policy, _remaining(deadline, policy, target)
        )
        try:
            return client.send(request, stream=True), address
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            failure = exc
        except httpx.HTTPError as exc:
            raise _transport_failed(target, exc) from None
    assert failure is not None  # addresses is never empty
    raise _transport_failed(target, failure)


def _read_sync(
    target: _Target, response: httpx.Response, policy: FetchPolicy, deadline: float
) -> bytes:
    _check_declared_size(target, response, policy)
    body = bytearray()
    try:
        for chunk in response.iter_bytes():
            body += chunk
            if len(body) > policy.max_bytes:
                raise _too_large(target, policy)
            _remaining(deadline, policy, target)
    except httpx.HTTPError as exc:
        raise _transport_failed(target, exc) from None
    return bytes(body)


async def fetch_url_async(
    url: str, policy: FetchPolicy = FetchPolicy(), *, resolver: Resolver | None = None
) -> Fetched:
    """The async twin of :func:`fetch_url` (httpx.AsyncClient); the API server uses this one.

    The whole fetch runs under one cancel scope, so ``total_timeout`` is exact here.
    """
    resolve = resolver or resolve_host
    target = _parse_target(url, policy, "URL")
    state = [target]  # the hop in progress, for the deadline message
    try:
        with anyio.fail_after(policy.total_timeout):
            return await _fetch_async(target, policy, resolve, state)
    except TimeoutError:
        raise _deadline_error(policy, state[-1]) from None


async def _fetch_async(
    target: _Target, policy: FetchPolicy, resolve: Resolver, state: list[_Target]
) -> Fetched:
    deadline = time.monotonic() + policy.total_timeout
    role = "URL"
    addresses = await _resolve_async(target, policy, resolve, role)
    async with _open_async_client(policy) as client:
        hops = 0
        while True:
            response, address = await _send_async(client, target, addresses, policy, deadline)
            try:
                location = _redirect_location(target, response)
                if location is None:
                    _check_status(target, response)
                    data = await _read_async(target, response, policy)
                    return _fetched(target, response, data, address, addresses)
            finally:
                await response.aclose()
            hops += 1
            target, role = _next_hop(target, location, hops, policy)
            state.append(target)
            addresses = await _resolve_async(target, policy, resolve, role)


async def _send_async(
    client: httpx.AsyncClient,
    target: _Target,
    addresses: Sequence[str],
    policy: FetchPolicy,
    deadline: float,
) -> tuple[httpx.Response, str]:
    failure: Exception | None = None
    for address in addresses:
        # The cancel scope enforces the deadline; these timeouts only keep httpx's own sane.
        time_left = max(deadline - time.monotonic(), 0.001)
        request = _pinned_request(client, target, address, policy, time_left)
        try:
            return await client.send(request, stream=True), address
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            failure = exc
        except httpx.HTTPError as exc:
            raise _transport_failed(target, exc) from None
    assert failure is not None
    raise _transport_failed(target, failure)


async def _read_async(target: _Target, response: httpx.Response, policy: FetchPolicy) -> bytes:
    _check_declared_size(target, response, policy)
    body = bytearray()
    try:
        async for chunk in response.aiter_bytes():
            body += chunk
            if len(body) > policy.max_bytes:
                raise _too_large(target, policy)
    except httpx.HTTPError as exc:
        raise _transport_failed(target, exc) from None
    return bytes(body)
