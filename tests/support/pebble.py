"""Let's Encrypt's test ACME server, Pebble, and its challenge test server, on loopback.

    with Pebble(tmp, http_port=nginx_port, dns={"ok.test": "127.0.0.1"}) as pebble:
        pebble.directory   # https://127.0.0.1:PORT/dir, trusted through pebble.ca_bundle

Debian's `pebble` package ships the binaries but not Pebble's test certificates
(test/certs/ in its source), so the server's own HTTPS certificate is made here, by a
throwaway CA whose certificate is `ca_bundle` (what `tls.acme.ca_bundle` trusts).
`pebble-challtestsrv` is only the DNS server: it answers every test name with the test
host's loopback address, so Pebble's HTTP-01 validation reaches the environment's nginx
(Pebble's `httpPort` is nginx's port). Both processes are stopped on exit.
"""

from __future__ import annotations

import datetime
import json
import os
import signal
import socket
import ssl
import subprocess
import time
import urllib.request
from pathlib import Path
from types import TracebackType

from support.apprepo import free_port


def _udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def make_ca_and_server_cert(directory: Path) -> tuple[Path, Path, Path]:
    """A CA (its cert is the bundle) and a localhost/127.0.0.1 certificate it signed."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "shipyard test CA for pebble")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    names = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    ca_path, cert_path, key_path = (
        directory / "ca.pem",
        directory / "cert.pem",
        directory / "key.pem",
    )
    ca_path.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key_path.chmod(0o600)
    return ca_path, cert_path, key_path


class Pebble:
    def __init__(
        self,
        directory: Path,
        *,
        http_port: int,
        dns: dict[str, str],
        validity_seconds: int | None = None,
    ) -> None:
        self.dir = directory
        self.http_port = http_port
        self.dns = dns
        self.validity_seconds = validity_seconds
        self.port = free_port()
        self.management_port = free_port()
        self.dns_port = _udp_port()
        self.challtest_port = free_port()
        self.processes: list[subprocess.Popen[bytes]] = []

    @property
    def directory(self) -> str:
        return f"https://127.0.0.1:{self.port}/dir"

    def __enter__(self) -> Pebble:
        self.dir.mkdir(parents=True, exist_ok=True)
        self.ca_bundle, cert, key = make_ca_and_server_cert(self.dir)
        config: dict[str, object] = {
            "listenAddress": f"127.0.0.1:{self.port}",
            "managementListenAddress": f"127.0.0.1:{self.management_port}",
            "certificate": str(cert),
            "privateKey": str(key),
            "httpPort": self.http_port,
            "tlsPort": free_port(),
            "ocspResponderURL": "",
            "externalAccountBindingRequired": False,
        }
        if self.validity_seconds is not None:
            config["certificateValidityPeriod"] = self.validity_seconds
        config_path = self.dir / "pebble-config.json"
        config_path.write_text(json.dumps({"pebble": config}))
        try:
            self._start(
                "challtestsrv",
                [
                    "pebble-challtestsrv",
                    "-dns01",
                    f"127.0.0.1:{self.dns_port}",
                    "-http01",
                    "",
                    "-https01",
                    "",
                    "-tlsalpn01",
                    "",
                    "-management",
                    f"127.0.0.1:{self.challtest_port}",
                    "-defaultIPv4",
                    "127.0.0.1",
                    "-defaultIPv6",
                    "",
                ],
                {},
            )
            self._wait_port(self.challtest_port)
            for name, address in self.dns.items():
                self.set_address(name, address)
            self._start(
                "pebble",
                [
                    "pebble",
                    "-config",
                    str(config_path),
                    "-dnsserver",
                    f"127.0.0.1:{self.dns_port}",
                ],
                {"PEBBLE_VA_NOSLEEP": "1", "PEBBLE_VA_ALWAYS_VALID": "0", "PEBBLE_AUTHZREUSE": "0"},
            )
            self._wait_port(self.port)
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def _start(self, name: str, argv: list[str], env: dict[str, str]) -> None:
        log = (self.dir / f"{name}.log").open("wb")
        self.processes.append(
            subprocess.Popen(
                argv,
                cwd=self.dir,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, **env},
                start_new_session=True,
            )
        )

    def _wait_port(self, port: int) -> None:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            for process in self.processes:
                if process.poll() is not None:
                    raise RuntimeError(f"{process.args[0]} exited: {self.logs()}")
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    return
            time.sleep(0.05)
        raise RuntimeError(f"port {port} did not open: {self.logs()}")

    def set_address(self, name: str, address: str) -> None:
        """The challenge server's DNS answers `name` with `address` (A record)."""
        body = json.dumps({"host": name, "addresses": [address]}).encode()
        url = f"http://127.0.0.1:{self.challtest_port}/add-a"
        with urllib.request.urlopen(urllib.request.Request(url, data=body), timeout=5):
            pass

    def root_pem(self) -> str:
        """The root that signs Pebble's issued certificates (new every start)."""
        context = ssl.create_default_context(cafile=str(self.ca_bundle))
        url = f"https://127.0.0.1:{self.management_port}/roots/0"
        with urllib.request.urlopen(url, timeout=5, context=context) as response:
            return str(response.read().decode())

    def logs(self) -> str:
        return "\n".join(
            f"--- {path.name}\n{path.read_text(errors='replace')[-3000:]}"
            for path in sorted(self.dir.glob("*.log"))
        )

    def stop(self) -> None:
        for process in reversed(self.processes):
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait()
        self.processes.clear()
