"""Real servers on loopback for the publish tests, and fakes of the two channel APIs.

- `start_sshd`: OpenSSH's sshd from Debian (openssh-server), throwaway host and user keys.
- `start_ftp`: pyftpdlib, plain or FTPS with a self-signed certificate the test trusts.
- `FaultyHttpServer`: accepts PUT/POST and injects faults (500, 503 + Retry-After, 429,
  slower than the client's timeout, connection reset in the middle of the upload).
- `FakeMerchantApi` / `FakeGraphApi`: Google and Meta cannot run here, so these speak the
  documented request and response shapes (../shared/reference/channel-specs.md §1.6, §2.4,
  google/merchantapi.products_v1.discovery.json) and reject anything else. For `feedsync
  status` the Merchant fake also serves `products.list` (processed Products with their
  `productStatus`, paged by `pageToken`, a 429 with Retry-After on request) and the Graph
  fake keeps each batch's per-item errors and warnings for `check_batch_request_status`
  and serves the catalog's `diagnostics` edge (ProductCatalogDiagnosticGroup, cursor-paged).
  These are fakes of the documented shapes, not recordings of Google's or Meta's servers.
- `FlakyProxy`: forwards TCP and cuts a connection after N client->server bytes.
"""

from __future__ import annotations

import base64
import datetime as dt
import getpass
import json
import os
import re
import secrets
import shutil
import socket
import struct
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

SSHD = shutil.which("sshd") or ("/usr/sbin/sshd" if Path("/usr/sbin/sshd").exists() else None)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port}")


def _reset(sock: socket.socket) -> None:
    """Close with a TCP RST, the way a dropped link looks to the other side."""
    with suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


# -- SFTP: OpenSSH sshd ------------------------------------------------------------------------

@dataclass
class SshServer:
    port: int
    user: str
    root: Path  # the directory tests upload into
    user_key: Path
    host_public_key: str  # "ssh-ed25519 AAAA..."
    known_hosts: Path
    process: subprocess.Popen[bytes]


def _keygen(path: Path) -> None:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)],
                   check=True)


@contextmanager
def start_sshd(workdir: Path) -> Iterator[SshServer]:
    assert SSHD is not None
    workdir.mkdir(parents=True, exist_ok=True)
    host_key = workdir / "host_key"
    user_key = workdir / "user_key"
    _keygen(host_key)
    _keygen(user_key)
    authorized = workdir / "authorized_keys"
    authorized.write_text((workdir / "user_key.pub").read_text())
    root = workdir / "remote"
    root.mkdir()
    port = free_port()
    config = workdir / "sshd_config"
    config.write_text(f"""Port {port}
ListenAddress 127.0.0.1
HostKey {host_key}
PidFile {workdir}/sshd.pid
AuthorizedKeysFile {authorized}
PubkeyAuthentication yes
PasswordAuthentication yes
KbdInteractiveAuthentication no
UsePAM no
PermitRootLogin prohibit-password
StrictModes no
Subsystem sftp internal-sftp
LogLevel ERROR
MaxStartups 50
""")
    if os.geteuid() == 0:
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege separation dir
    process = subprocess.Popen([SSHD, "-D", "-e", "-f", str(config)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        try:
            wait_for_port(port)
        except RuntimeError:
            process.kill()
            raise RuntimeError("sshd did not start: "
                               + process.stderr.read().decode(errors="replace")) from None
        public = (workdir / "host_key.pub").read_text().split()
        known_hosts = workdir / "known_hosts"
        known_hosts.write_text(f"[127.0.0.1]:{port} {public[0]} {public[1]}\n")
        yield SshServer(port, getpass.getuser(), root, user_key, f"{public[0]} {public[1]}",
                        known_hosts, process)
    finally:
        process.terminate()
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()


# -- FTP / FTPS: pyftpdlib -----------------------------------------------------------------------

def make_certificate(directory: Path, host: str = "127.0.0.1") -> tuple[Path, Path]:
    """A self-signed certificate for `host` (an IP SAN), usable as its own trust anchor."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "feedsync test server")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address(host)), x509.DNSName("localhost")]),
                critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(
                digital_signature=True, key_cert_sign=True, crl_sign=True,
                content_commitment=False, key_encipherment=False, data_encipherment=False,
                key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]),
                           critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                           critical=False)
            .sign(key, hashes.SHA256()))
    cert_path = directory / "server.crt"
    key_path = directory / "server.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


@dataclass
class FtpServer:
    port: int
    user: str
    password: str
    root: Path
    certificate: Path | None


@contextmanager
def start_ftp(workdir: Path, *, tls: bool = False,
              perm: str = "elradfmwMT") -> Iterator[FtpServer]:
    from pyftpdlib.authorizers import DummyAuthorizer
    from pyftpdlib.handlers import FTPHandler, TLS_FTPHandler
    from pyftpdlib.servers import ThreadedFTPServer

    root = workdir / "remote"
    root.mkdir(parents=True)
    password = "ftp-" + secrets.token_hex(6)
    authorizer = DummyAuthorizer()
    authorizer.add_user("shop", password, str(root), perm=perm)
    certificate = None
    if tls:
        certificate, key = make_certificate(workdir)
        handler = type("Handler", (TLS_FTPHandler,), {
            "certfile": str(certificate), "keyfile": str(key),
            "tls_control_required": True, "tls_data_required": True})
    else:
        handler = type("Handler", (FTPHandler,), {})
    handler.authorizer = authorizer
    handler.passive_ports = None
    server = ThreadedFTPServer(("127.0.0.1", 0), handler)
    port = server.socket.getsockname()[1]
    thread = threading.Thread(target=server.serve_forever, kwargs={"timeout": 0.1},
                              daemon=True)
    thread.start()
    try:
        yield FtpServer(port, "shop", password, root, certificate)
    finally:
        server.close_all()
        thread.join(5)


# -- HTTP with injected faults -------------------------------------------------------------------

@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class HttpState:
    faults: list[str] = field(default_factory=list)  # consumed one per request
    received: list[Received] = field(default_factory=list)
    requests: int = 0
    slow_seconds: float = 1.0


class _FaultHandler(BaseHTTPRequestHandler):
    server: _FaultServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_PUT(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def _handle(self) -> None:
        state = self.server.state
        state.requests += 1
        fault = state.faults.pop(0) if state.faults else "ok"
        length = int(self.headers.get("Content-Length", "0"))
        if fault == "reset":
            self.rfile.read(min(length, 1024))
            _reset(self.connection)
            self.close_connection = True
            return
        body = self.rfile.read(length)
        if fault == "slow":
            time.sleep(state.slow_seconds)
        if fault == "ok":
            state.received.append(Received(self.command, self.path,
                                           {k.lower(): v for k, v in self.headers.items()}, body))
            self._reply(201, b"stored")
        elif fault == "slow":
            self._reply(201, b"too late")
        elif fault.startswith("503"):
            _, _, after = fault.partition(":")
            self._reply(503, b"busy", {"Retry-After": after or "1"})
        elif fault == "429":
            self._reply(429, b"slow down", {"Retry-After": "1"})
        else:
            self._reply(int(fault), b"fault")

    def _reply(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        try:
            self.send_response(status)
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except OSError:
            pass


class _FaultServer(ThreadingHTTPServer):
    daemon_threads = True
    state: HttpState


@contextmanager
def start_http() -> Iterator[tuple[str, HttpState]]:
    server = _FaultServer(("127.0.0.1", 0), _FaultHandler)
    server.state = HttpState()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", server.state
    finally:
        server.shutdown()
        server.server_close()


# -- Fake Google Merchant API ------------------------------------------------------------------

MERCHANT_ENUMS = {
    "availability": {"IN_STOCK", "OUT_OF_STOCK", "PREORDER", "LIMITED_AVAILABILITY",
                     "BACKORDER"},
    "condition": {"NEW", "USED", "REFURBISHED"},
    "gender": {"MALE", "FEMALE", "UNISEX"},
    "ageGroup": {"ADULT", "KIDS", "TODDLER", "INFANT", "NEWBORN"},
}


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class MerchantState:
    public_key: Any
    token_uri: str = ""
    tokens: set[str] = field(default_factory=set)
    products: dict[str, dict[str, Any]] = field(default_factory=dict)
    batches: list[int] = field(default_factory=list)  # parts per batch
    errors: list[str] = field(default_factory=list)  # shape problems the fake found
    fail_batches: int = 0  # whole batch answered 503 this many times
    flaky_offers: set[str] = field(default_factory=set)  # answered 503 once each
    reject_offers: set[str] = field(default_factory=set)  # answered 400
    fail_deletes: set[str] = field(default_factory=set)  # deletes of these answered 500
    # Every nested request as received, in order: ("insert" | "delete", offer id).
    received: list[tuple[str, str]] = field(default_factory=list)
    # Every (offer id, price micros) the fake ever answered 200 to an insert of.
    accepted: set[tuple[str, str]] = field(default_factory=set)
    # Called with the batch number (from 1) before (False) and after (True) the answer.
    on_batch: Any = None
    allowed_attributes: set[str] | None = None  # from the discovery document when present
    # products.list: ProductStatus per offer id (default: approved in ES, expiring in 30
    # days), offers inserted but not listed yet, processed products from elsewhere.
    statuses: dict[str, dict[str, Any]] = field(default_factory=dict)
    unlisted: set[str] = field(default_factory=set)
    foreign: list[dict[str, Any]] = field(default_factory=list)
    list_page_size: int | None = None  # serve at most this many per page
    list_throttle: int = 0  # answer this many products.list calls 429
    list_retry_after: str = "0"
    list_calls: list[dict[str, list[str]]] = field(default_factory=list)  # query of each
    # localInventories.insert: (store code, offer id) -> attributes, and their schema.
    local_inventories: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    local_attributes: dict[str, Any] | None = None
    # Every productInputs.patch: (offer id, updateMask paths, body).
    patches: list[tuple[str, list[str], dict[str, Any]]] = field(default_factory=list)


class _MerchantHandler(BaseHTTPRequestHandler):
    server: _MerchantServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _body(self) -> bytes:
        return self.rfile.read(int(self.headers.get("Content-Length", "0")))

    def _send(self, status: int, body: bytes, content_type: str = "application/json",
              headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        """products.list: GET /products/v1/accounts/{account}/products (ListProductsResponse)."""
        state = self.server.state
        url = urlsplit(self.path)
        match = re.fullmatch(r"/products/v1/accounts/(\d+)/products", url.path)
        if not match:
            self._send(404, b'{"error": {"code": 404, "message": "not found"}}')
            return
        if self.headers.get("Authorization", "").removeprefix("Bearer ") not in state.tokens:
            self._send(401, b'{"error": {"code": 401, "message": "bad token"}}')
            return
        query = parse_qs(url.query)
        state.list_calls.append(query)
        if state.list_throttle:
            state.list_throttle -= 1
            self._send(429, b'{"error": {"code": 429, "message": "Quota exceeded", '
                            b'"status": "RESOURCE_EXHAUSTED"}}',
                       headers={"Retry-After": state.list_retry_after})
            return
        size = min(int(query.get("pageSize", ["25"])[0]), 1000)
        if state.list_page_size:
            size = min(size, state.list_page_size)
        listed = self._processed(match.group(1))
        start = 0
        if "pageToken" in query:
            try:
                start = int(_b64url_decode(query["pageToken"][0]).decode().removeprefix("p"))
            except ValueError:
                self._send(400, b'{"error": {"code": 400, "message": "bad pageToken"}}')
                return
        page: dict[str, Any] = {"products": listed[start:start + size]}
        if start + size < len(listed):
            page["nextPageToken"] = base64.urlsafe_b64encode(
                f"p{start + size}".encode()).decode().rstrip("=")
        self._send(200, json.dumps(page).encode())

    def _processed(self, account: str) -> list[dict[str, Any]]:
        """Every processed Product, as products.list returns it (name, offerId,
        contentLanguage, feedLabel, dataSource, productAttributes, productStatus)."""
        state = self.server.state
        now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
        listed = []
        for name, product in sorted(state.products.items()):
            offer = product["offerId"]
            if offer in state.unlisted:
                continue
            status = state.statuses.get(offer) or {
                "destinationStatuses": [
                    {"reportingContext": "SHOPPING_ADS", "approvedCountries": ["ES"]},
                    {"reportingContext": "FREE_LISTINGS", "approvedCountries": ["ES"]}],
                "itemLevelIssues": [],
                "creationDate": (now - dt.timedelta(days=2)).isoformat().replace("+00:00", "Z"),
                "lastUpdateDate": now.isoformat().replace("+00:00", "Z"),
                "googleExpirationDate": (now + dt.timedelta(days=30)).isoformat().replace(
                    "+00:00", "Z")}
            listed.append({"name": f"accounts/{account}/products/{name}", "offerId": offer,
                           "contentLanguage": product["contentLanguage"],
                           "feedLabel": product["feedLabel"],
                           "dataSource": f"accounts/{account}/dataSources/987",
                           "productAttributes": product["productAttributes"],
                           "productStatus": status})
        return listed + state.foreign

    def do_POST(self) -> None:
        state = self.server.state
        body = self._body()
        if self.path == "/token":
            self._token(body)
            return
        if self.path not in ("/batch/products/v1", "/batch/inventories/v1"):
            self._send(404, b'{"error": {"code": 404, "message": "not found"}}')
            return
        auth = self.headers.get("Authorization", "")
        if auth.removeprefix("Bearer ") not in state.tokens:
            self._send(401, b'{"error": {"code": 401, "message": "bad token"}}')
            return
        if state.fail_batches:
            state.fail_batches -= 1
            self._send(503, b'{"error": {"code": 503, "message": "busy"}}',
                       headers={"Retry-After": "0"})
            return
        match = re.match(r'multipart/mixed; boundary="?([^";]+)"?',
                         self.headers.get("Content-Type", ""))
        if not match:
            state.errors.append("batch without multipart/mixed boundary")
            self._send(400, b'{"error": {"code": 400, "message": "not multipart"}}')
            return
        parts = self._parts(body, match.group(1))
        state.batches.append(len(parts))
        if state.on_batch is not None:
            state.on_batch(len(state.batches), False)
        boundary = "batch_" + secrets.token_hex(8)
        out = []
        for content_id, status, payload in parts:
            out.append(f"--{boundary}\r\nContent-Type: application/http\r\n"
                       f"Content-ID: <response-{content_id}>\r\n\r\n"
                       f"HTTP/1.1 {status} X\r\nContent-Type: application/json; charset=UTF-8"
                       f"\r\n\r\n{json.dumps(payload)}\r\n")
        out.append(f"--{boundary}--\r\n")
        try:
            self._send(200, "".join(out).encode(), f"multipart/mixed; boundary={boundary}")
        finally:
            if state.on_batch is not None:
                state.on_batch(len(state.batches), True)

    def _token(self, body: bytes) -> None:
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding

        state = self.server.state
        form = parse_qs(body.decode())
        try:
            assert form["grant_type"] == ["urn:ietf:params:oauth:grant-type:jwt-bearer"]
            header, payload, signature = form["assertion"][0].split(".")
            state.public_key.verify(_b64url_decode(signature), f"{header}.{payload}".encode(),
                                    padding.PKCS1v15(), hashes.SHA256())
            claims = json.loads(_b64url_decode(payload))
            # google-auth signs for Google's token endpoint whatever token_uri says.
            assert claims["aud"] == "https://oauth2.googleapis.com/token"
            assert claims["iss"].endswith(".iam.gserviceaccount.com")
            assert "https://www.googleapis.com/auth/content" in claims["scope"].split()
        except Exception as exc:
            state.errors.append(f"bad token request: {exc!r}")
            self._send(400, b'{"error": "invalid_grant"}')
            return
        token = "ya29." + secrets.token_urlsafe(16)
        state.tokens.add(token)
        self._send(200, json.dumps({"access_token": token, "expires_in": 3600,
                                    "token_type": "Bearer"}).encode())

    def _parts(self, body: bytes, boundary: str) -> list[tuple[str, int, Any]]:
        state = self.server.state
        answers = []
        for chunk in body.split(b"--" + boundary.encode())[1:]:
            text = chunk.decode().replace("\r\n", "\n")
            if text.startswith("--"):
                break
            head, _, http = text.strip("\n").partition("\n\n")
            headers = dict(line.split(": ", 1) for line in head.splitlines())
            if headers.get("Content-Type") != "application/http":
                state.errors.append(f"part without application/http: {headers}")
            content_id = headers.get("Content-ID", "").strip("<>")
            request_line, _, rest = http.partition("\n")
            method, target, _version = request_line.split(" ")
            _, _, payload = rest.partition("\n\n")
            answers.append((content_id, *self._nested(method, target, payload)))
        return answers

    def _nested(self, method: str, target: str, payload: str) -> tuple[int, Any]:
        state = self.server.state
        url = urlsplit(target)
        query = parse_qs(url.query)
        local = re.fullmatch(r"/inventories/v1/accounts/(\d+)/products/([^/]+)"
                             r"/localInventories:insert", url.path)
        if method == "POST" and local:
            return self._local_inventory(local.group(2), json.loads(payload))
        data_source = query.get("dataSource", [""])[0]
        if not re.fullmatch(r"accounts/\d+/dataSources/\d+", data_source):
            state.errors.append(f"{method} {target}: dataSource missing or malformed")
            return 400, {"error": {"code": 400, "message": "dataSource"}}
        insert = re.fullmatch(r"/products/v1/accounts/(\d+)/productInputs:insert", url.path)
        delete = re.fullmatch(r"/products/v1/accounts/(\d+)/productInputs/([^/]+)", url.path)
        if method == "POST" and insert:
            product = json.loads(payload)
            problems = self._check_product(product)
            if problems:
                state.errors.extend(problems)
                return 400, {"error": {"code": 400, "message": "; ".join(problems)}}
            offer = product["offerId"]
            state.received.append(("insert", offer))
            if offer in state.reject_offers:
                return 400, {"error": {"code": 400, "message": f"{offer} is not allowed"}}
            if offer in state.flaky_offers:
                state.flaky_offers.discard(offer)
                return 503, {"error": {"code": 503, "message": "try again"}}
            name = f"{product['contentLanguage']}~{product['feedLabel']}~{offer}"
            state.products[name] = product
            price = product["productAttributes"].get("price", {}).get("amountMicros", "")
            state.accepted.add((offer, price))
            return 200, {**product, "name": f"accounts/{insert.group(1)}/productInputs/{name}",
                         "product": f"accounts/{insert.group(1)}/products/{name}"}
        if method == "PATCH" and delete:
            return self._patch(delete.group(2), query, json.loads(payload))
        if method == "DELETE" and delete:
            name = unquote(delete.group(2))
            if name not in state.products:
                with suppress(ValueError):
                    name = _b64url_decode(name).decode()
            offer = name.split("~", 2)[-1]
            state.received.append(("delete", offer))
            if offer in state.fail_deletes:
                return 500, {"error": {"code": 500, "message": "backend error"}}
            if state.products.pop(name, None) is None:
                return 404, {"error": {"code": 404, "message": "not found"}}
            return 200, {}
        state.errors.append(f"unexpected nested request {method} {target}")
        return 400, {"error": {"code": 400, "message": "unexpected"}}

    def _local_inventory(self, segment: str, body: dict[str, Any]) -> tuple[int, Any]:
        """localInventories.insert (inventories_v1): a storeCode and LocalInventoryAttributes
        named and typed as the discovery document says."""
        state = self.server.state
        name = unquote(segment)
        if name.count("~") < 2:
            with suppress(ValueError, UnicodeDecodeError):
                name = _b64url_decode(name).decode()
        offer = name.split("~", 2)[-1]
        attributes = body.get("localInventoryAttributes", {})
        problems = [] if isinstance(body.get("storeCode"), str) and body["storeCode"] else [
            "LocalInventory without storeCode"]
        known = state.local_attributes
        for key, value in attributes.items():
            spec = known.get(key) if known is not None else {}
            if known is not None and spec is None:
                problems.append(f"unknown local inventory attribute {key}")
            elif spec and "enum" in spec and value not in spec["enum"]:
                problems.append(f"{key} {value!r} is not an enum value")
        if "quantity" in attributes and not str(attributes["quantity"]).isdigit():
            problems.append(f"quantity {attributes['quantity']!r} is not an int64 string")
        price = attributes.get("price")
        if price is not None and not str(price.get("amountMicros", "")).isdigit():
            problems.append(f"price is not a Price: {price}")
        if problems:
            state.errors.extend(problems)
            return 400, {"error": {"code": 400, "message": "; ".join(problems)}}
        state.received.append(("local", f"{body['storeCode']}~{offer}"))
        state.local_inventories[(body["storeCode"], offer)] = attributes
        return 200, {**body, "name": f"accounts/1/products/{name}/localInventories/"
                                     f"{body['storeCode']}"}

    def _patch(self, segment: str, query: dict[str, list[str]],
               body: dict[str, Any]) -> tuple[int, Any]:
        """productInputs.patch: an `updateMask` of top-level attributes (or
        `custom_attribute.` names); attributes in the mask and not in the body are
        deleted; the product must exist (a patch never creates one)."""
        state = self.server.state
        name = unquote(segment)
        if name not in state.products:
            with suppress(ValueError, UnicodeDecodeError):
                name = _b64url_decode(name).decode()
        offer = name.split("~", 2)[-1]
        mask = [m for m in query.get("updateMask", [""])[0].split(",") if m]
        state.received.append(("patch", offer))
        state.patches.append((offer, mask, body))
        allowed = state.allowed_attributes
        attributes = body.get("productAttributes", {})
        problems = [f"patch of {offer} without updateMask"] if not mask else []
        for path in mask:
            if path == "*" or ("." in path and not path.startswith("custom_attribute.")):
                problems.append(f"updateMask path {path!r} is not a top-level attribute")
            elif not path.startswith("custom_attribute.") and allowed is not None and \
                    _camel(path) not in allowed:
                problems.append(f"updateMask names unknown attribute {path!r}")
        named = {_camel(p) for p in mask}
        problems += [f"patch body attribute {k} not in updateMask" for k in attributes
                     if k not in named]
        problems += self._check_product({"offerId": offer, "contentLanguage": "-",
                                         "feedLabel": "-", **body})
        if problems:
            state.errors.extend(problems)
            return 400, {"error": {"code": 400, "message": "; ".join(problems)}}
        product = state.products.get(name)
        if product is None:
            return 404, {"error": {"code": 404, "message": f"{name} not found"}}
        merged = dict(product["productAttributes"])
        for path in mask:
            if path.startswith("custom_attribute."):
                continue
            key = _camel(path)
            if key in attributes:
                merged[key] = attributes[key]
            else:
                merged.pop(key, None)
        product["productAttributes"] = merged
        price = merged.get("price", {}).get("amountMicros", "")
        state.accepted.add((offer, price))
        return 200, product

    def _check_product(self, product: dict[str, Any]) -> list[str]:
        problems = []
        for key in ("offerId", "contentLanguage", "feedLabel", "productAttributes"):
            if key not in product:
                problems.append(f"ProductInput without {key}")
        attributes = product.get("productAttributes", {})
        allowed = self.server.state.allowed_attributes
        if allowed is not None:
            problems += [f"unknown attribute {k}" for k in attributes if k not in allowed]
        for key in ("price", "salePrice"):
            price = attributes.get(key)
            if price is not None and not (isinstance(price.get("amountMicros"), str)
                                          and price["amountMicros"].isdigit()
                                          and re.fullmatch("[A-Z]{3}", price["currencyCode"])):
                problems.append(f"{key} is not a Price: {price}")
        for key, values in MERCHANT_ENUMS.items():
            if key in attributes and attributes[key] not in values:
                problems.append(f"{key} {attributes[key]!r} is not an enum value")
        for rule in attributes.get("shipping", []):
            if "price" not in rule or "country" not in rule:
                problems.append(f"shipping without country or price: {rule}")
        for key in ("gtins", "additionalImageLinks", "productTypes"):
            if key in attributes and not isinstance(attributes[key], list):
                problems.append(f"{key} must be a list")
        return problems


class _MerchantServer(ThreadingHTTPServer):
    daemon_threads = True
    state: MerchantState


@contextmanager
def start_merchant_api(workdir: Path,
                       discovery: Path | None = None) -> Iterator[tuple[str, Path, MerchantState]]:
    """Yields the base URL, a service-account JSON file whose token_uri is the fake, the state."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    state = MerchantState(public_key=key.public_key())
    if discovery is not None and discovery.exists():
        doc = json.loads(discovery.read_text())
        state.allowed_attributes = set(doc["schemas"]["ProductAttributes"]["properties"])
        inventories = discovery.parent / "merchantapi.inventories_v1.json"
        if inventories.exists():
            schema = json.loads(inventories.read_text())["schemas"]
            state.local_attributes = schema["LocalInventoryAttributes"]["properties"]
    server = _MerchantServer(("127.0.0.1", 0), _MerchantHandler)
    server.state = state
    base = f"http://127.0.0.1:{server.server_address[1]}"
    state.token_uri = f"{base}/token"
    account_file = workdir / "service-account.json"
    account_file.write_text(json.dumps({
        "type": "service_account", "project_id": "feedsync-test",
        "private_key_id": secrets.token_hex(8),
        "private_key": key.private_bytes(serialization.Encoding.PEM,
                                         serialization.PrivateFormat.PKCS8,
                                         serialization.NoEncryption()).decode(),
        "client_email": "feedsync@feedsync-test.iam.gserviceaccount.com",
        "client_id": "1", "token_uri": state.token_uri}))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    try:
        yield base, account_file, state
    finally:
        server.shutdown()
        server.server_close()


# -- Fake Meta Graph API -----------------------------------------------------------------------

@dataclass
class GraphState:
    token: str
    catalog: str
    items: dict[str, dict[str, Any]] = field(default_factory=dict)
    batches: list[int] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    handles: dict[str, int] = field(default_factory=dict)  # handle -> status checks left
    throttle: int = 0  # answer this many items_batch calls with error 80014
    polls_before_finish: int = 1  # "started" this many times, then "finished"
    queries: list[str] = field(default_factory=list)
    # Every request of every items_batch as received, in order: (method, item id).
    received: list[tuple[str, str]] = field(default_factory=list)
    # check_batch_request_status: per item id, errors (the item is refused) or warnings
    # its batch reports once finished; each finished handle keeps its own result.
    batch_errors: dict[str, str] = field(default_factory=dict)
    batch_warnings: dict[str, str] = field(default_factory=dict)
    results: dict[str, dict[str, Any]] = field(default_factory=dict)
    # The catalog's diagnostics edge: ProductCatalogDiagnosticGroup objects, one per page.
    diagnostics: list[dict[str, Any]] = field(default_factory=list)
    # The data of every UPDATE sent with allow_upsert=false (a partial update), in order.
    partial_updates: list[dict[str, Any]] = field(default_factory=list)


class _GraphHandler(BaseHTTPRequestHandler):
    server: _GraphServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _send(self, status: int, payload: Any) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _authorised(self) -> bool:
        state = self.server.state
        if self.headers.get("Authorization") != f"Bearer {state.token}":
            self._send(400, {"error": {"message": "Invalid OAuth access token.",
                                       "type": "OAuthException", "code": 190}})
            return False
        return True

    def do_POST(self) -> None:
        state = self.server.state
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        url = urlsplit(self.path)
        state.queries.append(url.query)
        if url.path != f"/v21.0/{state.catalog}/items_batch":
            self._send(404, {"error": {"message": "unknown path", "code": 803}})
            return
        if not self._authorised():
            return
        if state.throttle:
            state.throttle -= 1
            self._send(400, {"error": {"message": "batch rate limit", "code": 80014}})
            return
        form = parse_qs(body.decode())
        if form.get("item_type") != ["PRODUCT_ITEM"]:
            state.errors.append("item_type must be PRODUCT_ITEM")
        requests = json.loads(form["requests"][0])
        if not isinstance(requests, list) or not 0 < len(requests) <= 5000:
            state.errors.append(f"requests must be a list of 1..5000, got {len(requests)}")
            self._send(400, {"error": {"message": "too many requests", "code": 100}})
            return
        state.batches.append(len(requests))
        statuses = []
        errors: list[dict[str, Any]] = []
        warnings: list[dict[str, Any]] = []
        for line, request in enumerate(requests):
            method = request.get("method")
            data = request.get("data") or {}
            if method not in ("CREATE", "UPDATE", "DELETE") or "id" not in data:
                state.errors.append(f"malformed request {request}")
                continue
            state.received.append((method, data["id"]))
            if method == "UPDATE" and form.get("allow_upsert") == ["false"]:
                # Documented: without upsert, UPDATE changes only the fields given, of an
                # item that exists; it never creates one.
                state.partial_updates.append(data)
                if data["id"] not in state.items:
                    statuses.append({"retailer_id": data["id"],
                                     "errors": [{"message": "item does not exist"}]})
                else:
                    state.items[data["id"]].update(data)
                continue
            if method == "DELETE":
                state.items.pop(data["id"], None)
                continue
            missing = [k for k in ("title", "description", "availability", "condition",
                                   "price", "link", "image_link") if not data.get(k)]
            if data.get("availability") not in (None, "in stock", "out of stock", "preorder",
                                                "available for order", "discontinued"):
                missing.append(f"availability {data['availability']!r}")
            if missing:
                statuses.append({"retailer_id": data["id"],
                                 "errors": [{"message": f"missing {', '.join(missing)}"}]})
                continue
            if data["id"] in state.batch_errors:
                errors.append({"line": line, "id": data["id"],
                               "message": state.batch_errors[data["id"]]})
                continue
            if data["id"] in state.batch_warnings:
                warnings.append({"line": line, "id": data["id"],
                                 "message": state.batch_warnings[data["id"]]})
            state.items[data["id"]] = data
        handle = "h" + secrets.token_hex(6)
        state.handles[handle] = state.polls_before_finish
        state.results[handle] = {
            "errors": errors, "warnings": warnings,
            "ids_of_invalid_requests": [e["id"] for e in errors]}
        self._send(200, {"handles": [handle], "validation_status": statuses})

    def do_GET(self) -> None:
        state = self.server.state
        url = urlsplit(self.path)
        state.queries.append(url.query)
        if url.path == f"/v21.0/{state.catalog}/diagnostics":
            self._diagnostics(url.query)
            return
        if url.path != f"/v21.0/{state.catalog}/check_batch_request_status":
            self._send(404, {"error": {"message": "unknown path", "code": 803}})
            return
        if not self._authorised():
            return
        handle = parse_qs(url.query).get("handle", [""])[0]
        if handle not in state.handles:
            self._send(400, {"error": {"message": "unknown handle", "code": 100}})
            return
        left = state.handles[handle]
        if left:
            state.handles[handle] = left - 1
            self._send(200, {"data": [{"handle": handle, "status": "started"}]})
            return
        result = state.results.get(handle, {"errors": [], "warnings": [],
                                            "ids_of_invalid_requests": []})
        self._send(200, {"data": [{"handle": handle, "status": "finished", **result}]})

    def _diagnostics(self, query: str) -> None:
        """GET /{catalog}/diagnostics: {"data": [group], "paging": {"cursors", "next"}}."""
        state = self.server.state
        if not self._authorised():
            return
        after = parse_qs(query).get("after", ["0"])[0]
        start = int(_b64url_decode(after).decode() or "0") if after != "0" else 0
        page: dict[str, Any] = {"data": state.diagnostics[start:start + 1]}
        cursor = base64.urlsafe_b64encode(str(start + 1).encode()).decode().rstrip("=")
        page["paging"] = {"cursors": {"before": "MA", "after": cursor}}
        if start + 1 < len(state.diagnostics):
            page["paging"]["next"] = (f"https://graph.facebook.com/v21.0/{state.catalog}/"
                                      f"diagnostics?after={cursor}")
        self._send(200, page)


class _GraphServer(ThreadingHTTPServer):
    daemon_threads = True
    state: GraphState


@contextmanager
def start_graph_api(token: str, catalog: str = "1234567890") -> Iterator[tuple[str, GraphState]]:
    server = _GraphServer(("127.0.0.1", 0), _GraphHandler)
    server.state = GraphState(token, catalog)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v21.0", server.state
    finally:
        server.shutdown()
        server.server_close()


# -- A TCP proxy that drops the link -------------------------------------------------------------

class FlakyProxy:
    """Forwards 127.0.0.1:port to a target; the first `drops` connections are cut (RST) once
    more than `after_bytes` bytes went from client to server."""

    def __init__(self, target_port: int, after_bytes: int, drops: int = 1) -> None:
        self.target_port = target_port
        self.after_bytes = after_bytes
        self.drops = drops
        self.connections = 0
        self.cut = 0
        self._listener = socket.socket()
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(16)
        self.port = self._listener.getsockname()[1]
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            self.connections += 1
            cut_this = self.connections <= self.drops
            server = socket.create_connection(("127.0.0.1", self.target_port))
            sent = [0]
            threading.Thread(target=self._pump, args=(client, server, sent, cut_this),
                             daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, None, False),
                             daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, sent: list[int] | None,
              cut: bool) -> None:
        try:
            while True:
                data = source.recv(16384)
                if not data:
                    break
                if sent is not None:
                    sent[0] += len(data)
                    if cut and sent[0] > self.after_bytes:
                        self.cut += 1
                        _reset(source)
                        _reset(sink)
                        return
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for s in (source, sink):
                with suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self._closed = True
        self._listener.close()
