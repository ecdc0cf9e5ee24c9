"""The real `akri-hooks` server (gunicorn) over HTTPS on 127.0.0.1, with a certificate made here.

Runs the installed console script in a subprocess: gunicorn, the gthread worker, the TLS settings
of hooks/gunicorn_conf.py and the whole app, as the webhook container runs them. Bounded: the
server gets 30 s to come up, every request has a 10 s timeout, and the process is always stopped.
"""

from __future__ import annotations

import os
import signal
import socket
import ssl
import subprocess
import sys
import time
import warnings
from datetime import datetime, timezone
from pathlib import Path

import pytest
import requests
import yaml

from hooks import certs

CASES = Path(__file__).resolve().parents[4] / "shared" / "cases" / "akri"
AKRI_HOOKS = Path(sys.executable).with_name("akri-hooks")
STARTUP_SECONDS = 30
REQUEST_TIMEOUT_SECONDS = 10


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("tls")
    bundle = certs.generate(["localhost"], ip_addresses=["127.0.0.1"], now=datetime.now(timezone.utc), valid_days=1)
    (tmp_path / "tls.crt").write_bytes(bundle.cert_pem)
    (tmp_path / "tls.key").write_bytes(bundle.key_pem)
    (tmp_path / "ca.crt").write_bytes(bundle.ca_pem)
    port = _free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith("AKRI_HOOKS_")}
    process = subprocess.Popen(
        [
            str(AKRI_HOOKS),
            f"--bind=127.0.0.1:{port}",
            "--workers=1",
            "--threads=2",
            f"--certfile={tmp_path / 'tls.crt'}",
            f"--keyfile={tmp_path / 'tls.key'}",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=env,
        cwd=tmp_path,
        start_new_session=True,
    )
    base = f"https://127.0.0.1:{port}"
    session = requests.Session()
    session.trust_env = False  # no proxies, and REQUESTS_CA_BUNDLE must not override `verify`
    session.verify = str(tmp_path / "ca.crt")
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            if process.poll() is not None:
                pytest.fail(f"akri-hooks exited with {process.returncode}: {process.stdout.read().decode()}")
            try:
                if session.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            except (requests.ConnectionError, requests.Timeout):  # not listening / worker still booting
                pass
            if time.monotonic() > deadline:
                pytest.fail("akri-hooks did not answer /healthz in time")
            time.sleep(0.1)
        yield base, session, tmp_path / "ca.crt"
    finally:
        session.close()
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=5)
        process.stdout.close()


@pytest.mark.timeout(60)
def test_admission_review_over_https(tls_server):
    base, session, _ = tls_server
    config = yaml.safe_load((CASES / "webhookValidConfiguration.yaml").read_text())
    review = {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {"uid": "tls-1", "object": config},
    }

    allowed = session.post(f"{base}/validate/configuration", json=review, timeout=REQUEST_TIMEOUT_SECONDS)
    config["spec"]["brokerSpec"]["brokerPodSpec"]["xUnknownSyntheticField"] = 1
    denied = session.post(f"{base}/validate/configuration", json=review, timeout=REQUEST_TIMEOUT_SECONDS)
    malformed = session.post(f"{base}/validate/configuration", data=b"{", timeout=REQUEST_TIMEOUT_SECONDS)

    assert allowed.status_code == 200
    assert allowed.json()["response"] == {"uid": "tls-1", "allowed": True}
    assert denied.json()["response"]["allowed"] is False
    assert malformed.status_code == 400


@pytest.mark.timeout(60)
def test_https_refuses_plain_http_and_old_tls(tls_server):
    base, _, ca = tls_server
    port = int(base.rsplit(":", 1)[1])
    plain = requests.Session()
    plain.trust_env = False
    with pytest.raises(requests.ConnectionError):
        plain.get(f"http://127.0.0.1:{port}/healthz", timeout=REQUEST_TIMEOUT_SECONDS)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # TLS 1.1 is what we want to see refused
        context = ssl.create_default_context(cafile=str(ca))
        context.minimum_version = context.maximum_version = ssl.TLSVersion.TLSv1_1
    context.set_ciphers("ALL:@SECLEVEL=0")
    with socket.create_connection(("127.0.0.1", port), timeout=REQUEST_TIMEOUT_SECONDS) as raw:
        with pytest.raises(ssl.SSLError, match="PROTOCOL_VERSION|protocol version"):  # the server's alert
            context.wrap_socket(raw, server_hostname="127.0.0.1")
