"""Shared fixtures: a Kubernetes API to talk to (the local emulator or a real cluster).

- ``--kubeconfig PATH``: run integration tests against that cluster instead of the emulator.
- ``kubeconfig`` (session): path of the kubeconfig in use (an emulator is started for the
  session when no ``--kubeconfig`` is given).
- ``local_apiserver``: the emulator's ``ApiServer`` (emulator-only hooks such as
  ``store.compact()`` and ``service_urls``); skips the test on a real cluster.
- ``api_client``: a ``kubernetes.client.ApiClient`` for ``kubeconfig``.
- ``namespace``: a fresh ``test-<random>`` namespace, deleted after the test.
- ``install_crds``: applies the Akri CRDs (idempotent) and returns their names.
- ``apply_crd`` (session): ``apply_crd(api_client, crd)`` creates or updates any CRD.
"""

from __future__ import annotations

import copy
import os
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

# gRPC C-core logs every GOAWAY on socket shutdown at INFO; keep test output readable.
os.environ.setdefault("GRPC_VERBOSITY", "ERROR")

from kubernetes import client, config  # noqa: E402
from kubernetes.client.exceptions import ApiException

from akri_local.apiserver import ApiServer

CRD_ESTABLISHED_TIMEOUT_SECONDS = 30.0


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--kubeconfig", default=None,
                     help="run integration tests against the cluster of this kubeconfig "
                          "instead of the local API emulator")


@pytest.fixture(scope="session")
def _session_apiserver(pytestconfig: pytest.Config) -> Iterator[ApiServer | None]:
    """The session's emulator, or None when ``--kubeconfig`` points at a real cluster."""
    if pytestconfig.getoption("--kubeconfig"):
        yield None
        return
    server = ApiServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def kubeconfig(pytestconfig: pytest.Config, _session_apiserver: ApiServer | None,
               tmp_path_factory: pytest.TempPathFactory) -> str:
    """Path of the kubeconfig the integration tests use."""
    given = pytestconfig.getoption("--kubeconfig")
    if given:
        return str(Path(given).expanduser())
    assert _session_apiserver is not None
    return str(_session_apiserver.write_kubeconfig(tmp_path_factory.mktemp("kube") / "config"))


@pytest.fixture
def local_apiserver(_session_apiserver: ApiServer | None) -> ApiServer:
    """The emulator behind ``kubeconfig``; skips when running against a real cluster."""
    if _session_apiserver is None:
        pytest.skip("needs the local API emulator (emulator-only hook)")
    return _session_apiserver


@pytest.fixture
def api_client(kubeconfig: str) -> Iterator[client.ApiClient]:
    """A ``kubernetes.client.ApiClient`` for ``kubeconfig`` (closed after the test)."""
    api = config.new_client_from_config(config_file=kubeconfig)
    try:
        yield api
    finally:
        api.close()


@pytest.fixture
def namespace(api_client: client.ApiClient) -> Iterator[str]:
    """A fresh namespace ``test-<random>``, deleted (not awaited) after the test."""
    name = f"test-{uuid.uuid4().hex[:10]}"
    core = client.CoreV1Api(api_client)
    core.create_namespace({"metadata": {"name": name}})
    try:
        yield name
    finally:
        try:
            core.delete_namespace(name)
        except ApiException as exc:
            if exc.status != 404:
                raise


def _load_crds() -> list[dict[str, Any]]:
    """Every CustomResourceDefinition document of the project's CRD manifests (`akri_api.load_crds`)."""
    from akri_api import load_crds

    crds = [crd for crd in load_crds() if crd.get("kind") == "CustomResourceDefinition"]
    assert crds, "akri_api ships no CRDs"
    return crds


def _apply_crd(api_client: client.ApiClient, crd: dict[str, Any]) -> None:
    """Create ``crd`` or replace the existing one's spec, then wait until it is Established."""
    extensions = client.ApiextensionsV1Api(api_client)
    name = crd["metadata"]["name"]
    try:
        extensions.create_custom_resource_definition(crd)
    except ApiException as exc:
        if exc.status != 409:
            raise
        for _ in range(5):
            current = extensions.read_custom_resource_definition(name)
            body = copy.deepcopy(crd)
            body["metadata"]["resourceVersion"] = current.metadata.resource_version
            try:
                extensions.replace_custom_resource_definition(name, body)
                break
            except ApiException as conflict:
                if conflict.status != 409:
                    raise
    deadline = time.monotonic() + CRD_ESTABLISHED_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        status = extensions.read_custom_resource_definition(name).status
        if any(c.type == "Established" and c.status == "True" for c in (status.conditions or [])):
            return
        time.sleep(0.2)
    raise TimeoutError(f"CRD {name} not Established after {CRD_ESTABLISHED_TIMEOUT_SECONDS}s")


@pytest.fixture(scope="session")
def apply_crd() -> Callable[[client.ApiClient, dict[str, Any]], None]:
    """``apply_crd(api_client, crd_dict)``: create or update a CRD and wait until Established."""
    return _apply_crd


@pytest.fixture
def install_crds(api_client: client.ApiClient) -> list[str]:
    """Apply the Akri CRDs (idempotent; waits for Established); returns the CRD names."""
    crds = _load_crds()
    if not crds:
        pytest.fail("no Akri CRD manifests found")
    for crd in crds:
        _apply_crd(api_client, crd)
    return [crd["metadata"]["name"] for crd in crds]
