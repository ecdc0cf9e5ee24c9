"""akri_api unit tests: Akri's own Configuration manifests from ../shared/cases/akri (beside the repo).

A test that takes the `akri_case` argument runs once per Configuration case file (id = file
name) and receives the decoded Configuration; it is skipped if the cases directory is absent.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[3]
AKRI_CASES = REPO_ROOT.parent / "shared" / "cases" / "akri"

# Akri's e2e tests fill these files in with str.format() before applying them (test/e2e/test_udev.py);
# the arguments here are a plausible udev ID_PATH value.
TEMPLATE_ARGUMENTS: dict[str, tuple[str, ...]] = {
    "udevGroupedConfiguration.yaml": ("pci-0000:00:14.0-usb-0:1:1.0",),
}


def _load_case(path: Path) -> Any:
    text = path.read_text()
    if path.name in TEMPLATE_ARGUMENTS:
        text = text.format(*TEMPLATE_ARGUMENTS[path.name])
    return yaml.safe_load(text)


def _configuration_cases() -> list[tuple[str, dict[str, Any]]]:
    if not AKRI_CASES.is_dir():
        return []
    cases = [(path.name, _load_case(path)) for path in sorted(AKRI_CASES.glob("*.yaml"))]
    return [(name, doc) for name, doc in cases if isinstance(doc, dict) and doc.get("kind") == "Configuration"]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "akri_case" not in metafunc.fixturenames:
        return
    cases = _configuration_cases()
    if not cases:
        metafunc.parametrize(
            "akri_case", [pytest.param(None, marks=pytest.mark.skip(reason=f"{AKRI_CASES} not present"))]
        )
        return
    metafunc.parametrize("akri_case", [doc for _, doc in cases], ids=[name for name, _ in cases])


@pytest.fixture
def akri_cases_dir() -> Path:
    """The directory of Akri's case files; skips the test when it is absent."""
    if not AKRI_CASES.is_dir():
        pytest.skip(f"{AKRI_CASES} not present")
    return AKRI_CASES
