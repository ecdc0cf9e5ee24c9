"""CompositeController parsing and hook URL resolution (metacontroller-contract.md §2, §2.2)."""

from __future__ import annotations

import pytest

from akri_local._metacontroller_spec import DEFAULT_HOOK_TIMEOUT_SECONDS, SpecError, load_controllers, parse_controller

CC = {
    "apiVersion": "metacontroller.k8s.io/v1alpha1",
    "kind": "CompositeController",
    "metadata": {"name": "akri-instance"},
    "spec": {
        "generateSelector": True,
        "resyncPeriodSeconds": 0.2,
        "parentResource": {"apiVersion": "akri.sh/v0", "resource": "instances"},
        "childResources": [
            {"apiVersion": "v1", "resource": "pods", "updateStrategy": {"method": "Recreate"}},
            {"apiVersion": "v1", "resource": "services", "updateStrategy": {"method": "InPlace"}},
            {"apiVersion": "batch/v1", "resource": "jobs"},
        ],
        "hooks": {
            "sync": {"webhook": {"service": {"name": "akri-hooks", "namespace": "akri", "port": 8080},
                                 "path": "/sync/instance", "timeout": "1m30s"}},
            "customize": {"version": "v1", "webhook": {"url": "http://example.invalid/customize"}},
        },
    },
}


def test_service_hook_uses_cluster_dns_without_base_url():
    spec = parse_controller(CC)
    assert spec.sync is not None and spec.sync.url == "http://akri-hooks.akri:8080/sync/instance"
    assert spec.sync.timeout_seconds == 90.0
    assert [(c.resource, c.method) for c in spec.children] == [("pods", "Recreate"), ("services", "InPlace"),
                                                                ("jobs", "OnDelete")]
    assert spec.generate_selector and spec.finalize is None
    assert spec.finalizer == "metacontroller.io/compositecontroller-akri-instance"
    assert spec.resync_period_seconds == 1.0  # floored at 1 s like Metacontroller


def test_base_url_rewrites_service_hooks_only():
    spec = parse_controller(CC, hook_base_url="http://127.0.0.1:9999/")
    assert spec.sync is not None and spec.sync.url == "http://127.0.0.1:9999/sync/instance"
    assert spec.customize is not None and spec.customize.url == "http://example.invalid/customize"
    assert spec.customize.timeout_seconds == DEFAULT_HOOK_TIMEOUT_SECONDS


def test_service_defaults_port_80_and_http():
    cc = {**CC, "spec": {**CC["spec"], "hooks": {"sync": {"webhook": {
        "service": {"name": "h", "namespace": "n"}, "path": "/s"}}}}}
    spec = parse_controller(cc)
    assert spec.sync is not None and spec.sync.url == "http://h.n:80/s"


@pytest.mark.parametrize(("mutate", "fragment"), [
    (lambda s: s.pop("parentResource"), "spec.parentResource is required"),
    (lambda s: s["childResources"][0]["updateStrategy"].update(method="Sometimes"), "'Sometimes'"),
    (lambda s: s["hooks"].pop("sync"), "spec.hooks.sync is required"),
    (lambda s: s["hooks"]["sync"]["webhook"].pop("path"), "needs url, or service and path"),
    (lambda s: s["hooks"]["sync"]["webhook"].update(timeout="soon"), "is not a Go duration"),
    (lambda s: s["hooks"]["sync"].update(version="v3"), "'v3'"),
])
def test_invalid_controllers_name_the_field(mutate, fragment):
    import copy

    cc = copy.deepcopy(CC)
    mutate(cc["spec"])
    with pytest.raises(SpecError, match="akri-instance") as info:
        parse_controller(cc)
    assert fragment in str(info.value)


def test_load_directory_skips_other_documents(tmp_path):
    (tmp_path / "kustomization.yaml").write_text("resources: [cc.yaml]\n")
    (tmp_path / "cc.yaml").write_text(
        "apiVersion: metacontroller.k8s.io/v1alpha1\nkind: CompositeController\nmetadata: {name: a}\n"
        "spec:\n  parentResource: {apiVersion: akri.sh/v0, resource: instances}\n"
        "  hooks: {sync: {webhook: {url: 'http://x/sync'}}}\n---\n"
        "apiVersion: metacontroller.k8s.io/v1alpha1\nkind: DecoratorController\nmetadata: {name: d}\nspec: {}\n")
    specs = load_controllers(tmp_path)
    assert [s.name for s in specs] == ["a"]


def test_load_rejects_duplicates_and_empty_directories(tmp_path):
    with pytest.raises(SpecError, match="duplicate"):
        load_controllers([CC, CC])
    with pytest.raises(SpecError, match="no CompositeController"):
        load_controllers(tmp_path)
    with pytest.raises(SpecError, match="does not exist"):
        load_controllers(tmp_path / "missing")


def test_the_repository_controllers_load_with_hooks_on_the_given_base_url() -> None:
    from pathlib import Path

    repo_controllers = Path(__file__).resolve().parents[3] / "metacontroller"
    specs = {s.name: s for s in load_controllers(repo_controllers, hook_base_url="http://127.0.0.1:8080")}
    assert sorted(specs) == ["akri-configuration-controller", "akri-instance-controller"]
    instance, configuration = specs["akri-instance-controller"], specs["akri-configuration-controller"]
    assert (instance.parent_api_version, instance.parent_resource) == ("akri.sh/v0", "instances")
    assert {c.resource for c in instance.children} == {"pods", "jobs", "services"}
    assert instance.sync is not None and instance.sync.url == "http://127.0.0.1:8080/sync/instance"
    assert instance.customize is not None and instance.customize.url == "http://127.0.0.1:8080/customize/instance"
    assert (configuration.parent_resource, [c.resource for c in configuration.children]) == (
        "configurations", ["services"])
    assert configuration.sync is not None and configuration.sync.url == "http://127.0.0.1:8080/sync/configuration"
