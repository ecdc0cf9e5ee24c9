"""Package rules (STYLE.md §5.2-§5.3): hooks never imports kubernetes, grpc or agent (certgen may
import kubernetes), and `hooks.__all__` is exactly its public names."""

from __future__ import annotations

import ast
import subprocess
import sys
import types
from pathlib import Path

import hooks

HOOKS_DIR = Path(hooks.__file__).parent
FORBIDDEN = ("kubernetes", "grpc", "agent")
ALLOWED = {"certgen.py": {"kubernetes"}}


def _imported_roots(path: Path) -> set[str]:
    roots = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


def test_no_module_imports_a_forbidden_package():
    modules = sorted(HOOKS_DIR.glob("*.py"))
    assert len(modules) > 10
    for path in modules:
        bad = (_imported_roots(path) & set(FORBIDDEN)) - ALLOWED.get(path.name, set())
        assert not bad, f"{path.name} imports {sorted(bad)}"


def test_importing_the_app_loads_none_of_them():
    code = (
        "import sys, hooks, hooks.app, hooks.server, hooks.certs; "
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {FORBIDDEN!r}))"
    )
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert output.stdout.strip() == "[]"


def test_all_lists_exactly_the_public_names():
    public = {
        name
        for name, value in vars(hooks).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType) and name != "annotations"
    }
    assert set(hooks.__all__) == public
    for name in hooks.__all__:
        assert getattr(hooks, name) is not None
