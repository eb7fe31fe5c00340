"""The node's self-signed certificate for Asterisk's WSS server and WebRTC's DTLS, made once
by ``hotline install`` with openssl (no secret committed, none shared between nodes)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from core.settings import Settings
from hotline.errors import SetupError

CERT, KEY = "asterisk-cert.pem", "asterisk-key.pem"


def cert_paths(settings: Settings) -> tuple[Path, Path]:
    return settings.tls_dir / CERT, settings.tls_dir / KEY


def ensure_certificate(settings: Settings) -> bool:
    """Create the certificate (SAN: loopback and sip.bind) unless it exists; True if made."""
    cert, key = cert_paths(settings)
    if cert.exists() and key.exists():
        return False
    settings.tls_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    names = sorted({"IP:127.0.0.1", f"IP:{settings.sip.bind}", "DNS:localhost"})
    cmd = [
        "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "825",
        "-subj", f"/CN=hotline {settings.node_id}",
        "-addext", "subjectAltName=" + ",".join(names),
        "-keyout", str(key), "-out", str(cert),
    ]  # fmt: skip
    try:
        subprocess.run(cmd, check=True, capture_output=True, timeout=60)
    except FileNotFoundError as exc:
        raise SetupError("openssl is missing: apt-get install -y openssl") from exc
    except subprocess.CalledProcessError as exc:
        raise SetupError(f"openssl could not make the certificate: {exc.stderr!r}") from exc
    key.chmod(0o600)
    return True
