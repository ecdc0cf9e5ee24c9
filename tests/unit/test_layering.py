"""Import layering of the packages is checked, not hoped for (STYLE.md §5.2, §5.6).

Every `import` / `from ... import` statement in `akri_api/`, `hooks/` and `agent/` (module level,
inside functions and under TYPE_CHECKING alike) is read with `ast` and checked against these rules:

- `akri_api` imports neither `agent` nor `hooks` nor `grpc`; its one `kubernetes` import is
  `akri_api._kube_schema` reading `kubernetes.client.models` metadata (the OpenAPI models issue #2
  requires the validator to check against — no API client, no I/O);
- `hooks` never imports `agent` or `grpc`, and `kubernetes` only from `hooks/certgen.py`;
- inside `agent`, each component imports only itself and the components below it:

      agent.__main__                          composition root: anything
      agent.controllers                       → discovery, plugins' lower layers (below)
      agent.plugins | agent.discovery         → kube, devices, aiokits, support
      agent.kube | agent.devices              → aiokits, support
      agent.aiokits                           → support
      support: agent.config, agent.errors, agent.logs, agent.metrics → each other only

  (`plugins` and `discovery` are independent of each other; `controllers` may use `discovery`
  because the Configuration controller runs discovery requests, as Akri's does);
- no `agent` module imports `kubernetes`: its models alone cost ~34 MiB of RSS against the agent's
  79 MiB budget (DESIGN.md §5), so `agent.kube`, the agent's one door to the API, speaks HTTP
  through urllib3. A second test imports `agent.__main__` in a fresh interpreter and checks that
  no `kubernetes` module got loaded (through `akri_api` or any third-party package either).

`akri_api` may be imported by every agent component and by `hooks`. The checker is a pure
function over {module: imported names}, so a test feeds it a known violation to prove it reports.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PACKAGES = ("akri_api", "hooks", "agent")

SUPPORT = frozenset({"agent.config", "agent.errors", "agent.logs", "agent.metrics"})
LOWER: dict[str, frozenset[str]] = {
    "agent.aiokits": SUPPORT,
    "agent.kube": SUPPORT | {"agent.aiokits"},
    "agent.devices": SUPPORT | {"agent.aiokits"},
}
LOWER["agent.plugins"] = LOWER["agent.kube"] | {"agent.kube", "agent.devices"}
LOWER["agent.discovery"] = LOWER["agent.plugins"]
LOWER["agent.controllers"] = LOWER["agent.discovery"] | {"agent.discovery"}
for _support in SUPPORT:
    LOWER[_support] = SUPPORT
"""Agent component → the agent components it may import (besides itself and akri_api)."""

KUBERNETES_IMPORTERS = ("hooks.certgen", "akri_api._kube_schema")


def module_name(path: Path) -> str:
    """Dotted module name of a source file under REPO (`agent/kube/__init__.py` → `agent.kube`)."""
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_names(module: str, source: str, *, is_package: bool) -> set[str]:
    """Every module name `source` imports; `from X import Y` yields X and X.Y (Y may be a module),
    relative imports are resolved against `module`."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module.split(".")
                anchor = anchor if is_package else anchor[:-1]
                anchor = anchor[:len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names if alias.name != "*")
    return names


def source_tree(root: Path = REPO, packages: Iterable[str] = PACKAGES) -> dict[str, set[str]]:
    """{module: imported names} for every .py file of `packages` under `root`."""
    tree: dict[str, set[str]] = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            name = module_name(path)
            tree[name] = imported_names(name, path.read_text(encoding="utf-8"),
                                        is_package=path.name == "__init__.py")
    return tree


def _within(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def component(name: str) -> str | None:
    """The layering unit of an agent module (`agent.kube.client` → `agent.kube`), None outside agent."""
    parts = name.split(".")
    if parts[0] != "agent":
        return None
    return "agent" if len(parts) == 1 else ".".join(parts[:2])


def violations(tree: Mapping[str, Iterable[str]]) -> list[str]:
    """`importer imports imported: rule` for every import that breaks the rules of the module docstring."""
    found: list[str] = []
    for importer, names in sorted(tree.items()):
        top = importer.split(".")[0]
        for name in sorted(set(names)):
            target_top = name.split(".")[0]
            rule = None
            if target_top == "kubernetes" and not any(_within(importer, m) for m in KUBERNETES_IMPORTERS):
                rule = "only hooks.certgen and akri_api._kube_schema (models) import kubernetes"
            elif top == "akri_api" and target_top in ("agent", "hooks", "grpc"):
                rule = "akri_api is pure: it imports neither agent, hooks, kubernetes nor grpc"
            elif top == "hooks" and target_top in ("agent", "grpc"):
                rule = "hooks import neither agent nor grpc"
            elif top == "agent" and target_top == "hooks":
                rule = "agent never imports hooks"
            elif top == "agent" and target_top == "agent":
                mine, theirs = component(importer), component(name)
                if mine not in ("agent", "agent.__main__") and theirs not in (mine, "agent"):
                    if theirs not in LOWER.get(mine or "", frozenset()):
                        rule = f"{mine} may import only {', '.join(sorted(LOWER.get(mine or '', ()))) or 'itself'}"
            if rule:
                found.append(f"{importer} imports {name}: {rule}")
    return found


def test_the_source_tree_keeps_its_layers() -> None:
    tree = source_tree()
    assert "agent.devices.store" in tree and "hooks.certgen" in tree  # the scan sees the packages
    assert violations(tree) == []


@pytest.mark.parametrize(("importer", "imported"), [
    ("agent.devices.store", "agent.discovery.handler"),        # devices below discovery
    ("agent.plugins.allocating", "agent.discovery.handler"),   # plugins and discovery are independent
    ("agent.kube.client", "agent.controllers"),                # upward
    ("agent.aiokits.tasks", "agent.kube.errors"),
    ("agent.controllers.nodes", "agent.__main__"),
    ("agent.discovery.endpoints", "kubernetes.client"),        # kubernetes in the agent
    ("agent.kube.client", "kubernetes"),
    ("akri_api.model", "agent.kube.errors"),
    ("akri_api.naming", "grpc"),
    ("hooks.app", "agent.metrics"),
    ("hooks.sync_instance", "kubernetes"),
    ("hooks.validate", "grpc"),
])
def test_a_violation_is_reported(importer: str, imported: str) -> None:
    found = violations({importer: {imported}})
    assert len(found) == 1 and found[0].startswith(f"{importer} imports {imported}: "), found


@pytest.mark.parametrize(("importer", "imported"), [
    ("agent.__main__", "agent.plugins.manager"),
    ("agent.controllers.configurations", "agent.discovery.requests"),
    ("agent.discovery.properties", "agent.kube.resources"),
    ("agent.plugins.allocating", "agent.devices.device"),
    ("agent.kube.resources", "akri_api.naming"),
    ("agent.config", "agent.errors"),
    ("hooks.certgen", "kubernetes.client"),
    ("hooks.sync_instance", "akri_api.model"),
])
def test_allowed_imports_pass(importer: str, imported: str) -> None:
    assert violations({importer: {imported}}) == []


def test_relative_imports_are_resolved() -> None:
    assert imported_names("agent.devices.store", "from ..discovery import handler", is_package=False) >= {
        "agent.discovery", "agent.discovery.handler"}
    assert imported_names("agent.devices", "from .store import X", is_package=True) >= {"agent.devices.store"}


def test_importing_the_agent_loads_no_kubernetes_module() -> None:
    probe = ("import sys, agent.__main__; "
             "print(sorted(m for m in sys.modules if m == 'kubernetes' or m.startswith('kubernetes.')))")
    done = subprocess.run([sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, timeout=60,
                          check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
