"""The `akri` command: akri_api.cli.main driven with temporary files, and the installed console script."""

from __future__ import annotations

import importlib.metadata
import io
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from akri_api import cli

VALID = """\
apiVersion: akri.sh/v0
kind: Configuration
metadata:
  name: akri-debug-echo-foo
spec:
  discoveryHandler:
    name: debugEcho
    discoveryDetails: |
      descriptions: [foo0]
  brokerSpec:
    brokerPodSpec:
      containers:
      - name: broker
        image: nginx:stable-alpine
        resources:
          limits:
            "{{PLACEHOLDER}}": "1"
"""

INVALID = """\
apiVersion: akri.sh/v0
kind: Configuration
metadata:
  name: broken
spec:
  discoveryHandler:
    discoveryDetails: ""
  capacity: -1
"""

NO_DEVICE_REQUEST = """\
apiVersion: akri.sh/v0
kind: Configuration
metadata:
  name: lonely
spec:
  discoveryHandler: {name: debugEcho}
  brokerSpec:
    brokerPodSpec:
      containers: [{name: broker, image: nginx}]
"""


def write(tmp_path: Path, name: str, text: str | bytes) -> str:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    return str(path)


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, list[str], list[str]]:
    status = cli.main(argv)
    captured = capsys.readouterr()
    return status, captured.out.splitlines(), captured.err.splitlines()


def test_valid_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, "ok.yaml", VALID)
    assert run(["validate", "-f", path], capsys) == (0, [f"{path}: Configuration akri-debug-echo-foo: valid"], [])


def test_problems_one_line_each(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, "bad.yaml", INVALID)
    assert run(["validate", "-f", path], capsys) == (
        1,
        [
            f"{path}: Configuration broken: spec.discoveryHandler.name: required",
            f"{path}: Configuration broken: spec.capacity: must be >= 0, got -1",
        ],
        [],
    )


def test_multi_document_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, "multi.yaml", VALID + "---\n" + INVALID + "---\n")
    status, out, err = run(["validate", "--filename", path], capsys)
    assert status == 1 and err == []
    assert out == [
        f"{path}: Configuration akri-debug-echo-foo: valid",
        f"{path}: Configuration broken: spec.discoveryHandler.name: required",
        f"{path}: Configuration broken: spec.capacity: must be >= 0, got -1",
    ]


def test_several_files_and_warnings_do_not_fail(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    first = write(tmp_path, "a.yaml", VALID)
    second = write(tmp_path, "b.yaml", NO_DEVICE_REQUEST)
    status, out, err = run(["validate", "-f", first, "-f", second], capsys)
    assert (status, err) == (0, [])
    assert out == [
        f"{first}: Configuration akri-debug-echo-foo: valid",
        f"{second}: Configuration lonely: warning: spec.brokerSpec.brokerPodSpec: no container or initContainer"
        ' requests or limits "{{PLACEHOLDER}}" or an "akri.sh/..." resource, so its brokers will never receive'
        " their device",
        f"{second}: Configuration lonely: valid",
    ]


def test_stdin(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(INVALID))
    status, out, _ = run(["validate", "-f", "-"], capsys)
    assert status == 1
    assert out[0] == "<stdin>: Configuration broken: spec.discoveryHandler.name: required"


def test_not_yaml(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, "broken.yaml", "spec: [unclosed\n  other: {\n")
    status, out, err = run(["validate", "-f", path], capsys)
    assert (status, out) == (1, [])
    assert len(err) == 1 and err[0].startswith(f"{path}: not valid YAML: line ")
    assert "Traceback" not in err[0]


def test_duplicate_keys_are_rejected_as_kubectl_does(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, "dup.yaml", VALID + "metadata:\n  name: again\n")
    status, _, err = run(["validate", "-f", path], capsys)
    assert status == 1
    assert err == [f"{path}: not valid YAML: line 18 column 1: found duplicate key 'metadata'"]


def test_not_a_configuration(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(
        tmp_path, "pod.yaml", "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\n---\n- just\n- a list\n---\n" + VALID
    )
    status, out, err = run(["validate", "-f", path], capsys)
    assert status == 1
    assert err == [
        f'{path}: document 1: not an akri.sh/v0 Configuration (apiVersion string "v1", kind string "Pod")',
        f"{path}: document 2: not an akri.sh/v0 Configuration (got list)",
    ]
    assert out == [f"{path}: Configuration akri-debug-echo-foo: valid"]


def test_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = str(tmp_path / "nope.yaml")
    assert run(["validate", "-f", path], capsys) == (1, [], [f"{path}: cannot read: No such file or directory"])


def test_directory_binary_and_empty_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    binary = write(tmp_path, "blob.yaml", b"\xff\xfe\x00garbage")
    empty = write(tmp_path, "empty.yaml", "# nothing here\n")
    status, out, err = run(["validate", "-f", str(tmp_path), "-f", binary, "-f", empty], capsys)
    assert (status, out) == (1, [])
    assert err == [
        f"{tmp_path}: cannot read: Is a directory",
        f"{binary}: cannot read: not UTF-8 text",
        f"{empty}: no Configuration found (the file holds no YAML documents)",
    ]


def test_unnamed_configuration(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(
        tmp_path, "anon.yaml", "apiVersion: akri.sh/v0\nkind: Configuration\nspec: {discoveryHandler: {name: x}}\n"
    )
    status, out, _ = run(["validate", "-f", path], capsys)
    assert status == 1
    assert out == [f"{path}: Configuration <unnamed document 1>: metadata: required (with a name)"]


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["version"], capsys) == (0, [f"akri-py {importlib.metadata.version('akri-py')}"], [])


@pytest.mark.parametrize("argv", [[], ["validate"], ["frobnicate"]])
def test_usage_errors_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = run(argv, capsys)
    assert status == 2
    assert err and "usage: akri" in err[0]


# --- the installed console script, as a user runs it ---------------------------------------------

AKRI = Path(sys.executable).with_name("akri")
CONSOLE_TIMEOUT_SECONDS = 60

# The rejections issue #2 requires, each with the field its message must name.
REJECTIONS = {
    "both-broker-specs.yaml": (
        """\
apiVersion: akri.sh/v0
kind: Configuration
metadata: {name: both}
spec:
  discoveryHandler: {name: debugEcho, discoveryDetails: "descriptions: [foo0]"}
  brokerSpec:
    brokerPodSpec: {containers: [{name: b, image: nginx, resources: {limits: {"{{PLACEHOLDER}}": "1"}}}]}
    brokerJobSpec: {template: {spec: {restartPolicy: Never, containers: [{name: b, image: nginx}]}}}
""",
        "spec.brokerSpec: brokerPodSpec and brokerJobSpec are mutually exclusive",
    ),
    "unknown-pod-field.yaml": (
        """\
apiVersion: akri.sh/v0
kind: Configuration
metadata: {name: unknown}
spec:
  discoveryHandler: {name: debugEcho, discoveryDetails: "descriptions: [foo0]"}
  brokerSpec:
    brokerPodSpec:
      xUnknownSyntheticField: 1
      containers: [{name: b, image: nginx, resources: {limits: {"{{PLACEHOLDER}}": "1"}}}]
""",
        'spec.brokerSpec.brokerPodSpec.xUnknownSyntheticField: unknown field "xUnknownSyntheticField" in PodSpec',
    ),
    "udev-rwx.yaml": (
        """\
apiVersion: akri.sh/v0
kind: Configuration
metadata: {name: rwx}
spec:
  discoveryHandler:
    name: udev
    discoveryDetails: |
      udevRules: ['KERNEL=="video[0-9]*"']
      permissions: rwx
""",
        'spec.discoveryHandler.discoveryDetails.permissions: must be one of r, w, m, rw, rm, rwm, wm, got string "rwx"',
    ),
    "value-and-value-from.yaml": (
        """\
apiVersion: akri.sh/v0
kind: Configuration
metadata: {name: both-values}
spec:
  discoveryHandler:
    name: debugEcho
    discoveryDetails: "descriptions: [foo0]"
    discoveryProperties:
    - {name: PASSWORD, value: x, valueFrom: {secretKeyRef: {name: s, key: k}}}
""",
        "spec.discoveryHandler.discoveryProperties[0]: must set exactly one of value, valueFrom, got both",
    ),
    "no-handler-name.yaml": (
        """\
apiVersion: akri.sh/v0
kind: Configuration
metadata: {name: nameless}
spec:
  discoveryHandler: {discoveryDetails: "descriptions: [foo0]"}
""",
        "spec.discoveryHandler.name: required",
    ),
    "capacity-minus-one.yaml": (
        """\
apiVersion: akri.sh/v0
kind: Configuration
metadata: {name: negative}
spec:
  discoveryHandler: {name: debugEcho, discoveryDetails: "descriptions: [foo0]"}
  capacity: -1
""",
        "spec.capacity: must be >= 0, got -1",
    ),
}


def run_console_script(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(AKRI), *args], cwd=cwd, capture_output=True, text=True, timeout=CONSOLE_TIMEOUT_SECONDS, check=False
    )


def test_console_script_rejects_each_case_naming_its_field(tmp_path: Path) -> None:
    for name, (text, _) in REJECTIONS.items():
        (tmp_path / name).write_text(text)
    args = [arg for name in REJECTIONS for arg in ("-f", name)]
    result = run_console_script("validate", *args, cwd=tmp_path)
    assert (result.returncode, result.stderr) == (1, "")
    lines = result.stdout.splitlines()
    for name, (text, problem) in REJECTIONS.items():
        configuration = text.split("metadata: {name: ", 1)[1].split("}", 1)[0]
        assert [line for line in lines if line.startswith(f"{name}: ") and "warning:" not in line] == [
            f"{name}: Configuration {configuration}: {problem}"
        ]


def test_console_script_accepts_every_akri_configuration(akri_cases_dir: Path, tmp_path: Path) -> None:
    files = []
    for path in sorted(akri_cases_dir.glob("*.yaml")):
        text = path.read_text()
        if path.name == "udevGroupedConfiguration.yaml":  # a str.format() template in Akri's e2e
            text = text.format("pci-0000:00:14.0-usb-0:1:1.0")
        if yaml.safe_load(text).get("kind") != "Configuration":  # the two CRDs
            continue
        (tmp_path / path.name).write_text(text)
        files.append(path.name)
    assert len(files) >= 8
    result = run_console_script("validate", *[arg for name in files for arg in ("-f", name)], cwd=tmp_path)
    assert (result.returncode, result.stderr) == (0, "")
    assert sorted(line.split(":", 1)[0] for line in result.stdout.splitlines() if line.endswith(": valid")) == files


def test_console_script_version() -> None:
    result = run_console_script("version", cwd=Path.cwd())
    assert (result.returncode, result.stdout, result.stderr) == (
        0,
        f"akri-py {importlib.metadata.version('akri-py')}\n",
        "",
    )
