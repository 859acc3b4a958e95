"""The fake X API as an HTTPS server of its own: `python -m tests.deploy.fake_x_server`.

The compose test runs it as a service of the stack, so the workers count mentions over the
compose network as they would against the real API (bearer token, rate-limit headers, totals a
deterministic function of the query, which the test recomputes on the host). It speaks HTTPS
because appbuzz sends its token in clear only to loopback: at start it makes a self-signed
certificate for its service name and writes it where the workers read it (REQUESTS_CA_BUNDLE).

A second, plain-HTTP port is the test's handle on the fake (published on the host's loopback
only): `GET /requests` lists what was asked (and how many requests are held open), `POST /faults`
scripts a fault as `FakeXApi.script` does (JSON: kind, seconds, after, times, ...), `DELETE
/faults` ends them.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.fake_x_api import FakeXApi, _handler_for


def self_signed(name: str, folder: Path) -> tuple[Path, Path]:
    """A key and a certificate for `name` that is its own CA (what the client trusts)."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    folder.mkdir(parents=True, exist_ok=True)
    key_path, cert_path = folder / f"{name}.key", folder / f"{name}.pem"
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key_path.chmod(0o600)
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    cert_path.chmod(0o644)
    return key_path, cert_path


def control_handler(fake: FakeXApi) -> type[BaseHTTPRequestHandler]:
    """The test's side door: what the fake was asked, and faults to script or end."""

    class Control(BaseHTTPRequestHandler):
        def reply(self, status: int, body: Any) -> None:
            payload = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def do_GET(self) -> None:
            if self.path != "/requests":
                return self.reply(404, {"error": "GET /requests"})
            requests = [
                {**dataclasses.asdict(r), "query": r.query, "authorization": None}
                for r in fake.requests
            ]
            self.reply(200, {"in_flight": fake.in_flight, "requests": requests})

        def do_POST(self) -> None:
            if self.path != "/faults":
                return self.reply(404, {"error": "POST /faults"})
            options = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
            self.reply(201, dataclasses.asdict(fake.script(**options)))

        def do_DELETE(self) -> None:
            if self.path != "/faults":
                return self.reply(404, {"error": "DELETE /faults"})
            fake.clear_faults()
            self.reply(200, {"faults": "cleared"})

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Control


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--name", default="fake-x-api", help="the host name clients use")
    parser.add_argument("--port", type=int, default=8443)
    parser.add_argument("--tls-dir", type=Path, default=Path("/tls"))
    parser.add_argument("--control-port", type=int, default=8081, help="plain HTTP, for tests")
    args = parser.parse_args()
    key, cert = self_signed(args.name, args.tls_dir)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    fake = FakeXApi()
    control = ThreadingHTTPServer(("0.0.0.0", args.control_port), control_handler(fake))
    threading.Thread(target=control.serve_forever, daemon=True, name="control").start()
    server = ThreadingHTTPServer(("0.0.0.0", args.port), _handler_for(fake))
    server.daemon_threads = True
    server.socket = context.wrap_socket(server.socket, server_side=True)
    print(
        f"fake X API on https://{args.name}:{args.port}, certificate {cert};"
        f" control on http port {args.control_port}",
        flush=True,
    )
    server.serve_forever()


if __name__ == "__main__":
    main()
