"""e2e fixtures: the local control plane by default, any cluster with `--kubeconfig`."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.e2e.harness import Harness, LocalHarness, RemoteHarness


@pytest.fixture(scope="session")
def harness(request: pytest.FixtureRequest) -> Iterator[Harness]:
    kubeconfig = request.config.getoption("--kubeconfig")
    if kubeconfig:
        from kubernetes import config

        api_client = config.new_client_from_config(config_file=kubeconfig)
        yield RemoteHarness(api_client)
        api_client.close()
        return
    from akri_local.cluster import ClusterSettings, LocalCluster

    cluster = LocalCluster(ClusterSettings(nodes=("node-a",), embedded_handlers="udev"))
    cluster.start()
    try:
        yield LocalHarness(cluster)
    finally:
        cluster.stop()
