"""Generate the gRPC/protobuf Python stubs from `proto/*.proto` into the packages that use them.

Stubs live inside the package that uses them (DESIGN.md §1): discovery v0 → `agent/discovery/_pb/`,
kubelet device plugin v1beta1 and pod-resources v1 → `agent/plugins/_pb/`. grpcio-tools writes
absolute imports (`import discovery_pb2`); they are rewritten to package-relative ones.

Usage: `python proto/generate.py` (writes files) or `python proto/generate.py --check`
(exit 1 and name the stale files when the committed stubs differ from freshly generated ones).
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGETS: dict[str, Path] = {
    "discovery.proto": ROOT / "agent" / "discovery" / "_pb",
    "pluginapi.proto": ROOT / "agent" / "plugins" / "_pb",
    "podresources.proto": ROOT / "agent" / "plugins" / "_pb",
}


def generate() -> dict[Path, str]:
    """Return {target path: file text} for every stub of every proto in TARGETS.

    Raises RuntimeError when protoc (grpcio-tools) fails.
    """
    from grpc_tools import protoc  # test/dev dependency only

    out: dict[Path, str] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for proto, target in TARGETS.items():
            args = ["protoc", f"-I{ROOT / 'proto'}", f"--python_out={tmp}", f"--pyi_out={tmp}",
                    f"--grpc_python_out={tmp}", str(ROOT / "proto" / proto)]
            if protoc.main(args) != 0:
                raise RuntimeError(f"protoc failed for {proto}")
            stem = proto.removesuffix(".proto")
            for suffix in ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py"):
                text = (Path(tmp) / f"{stem}{suffix}").read_text()
                text = re.sub(rf"^import {stem}_pb2 as", f"from . import {stem}_pb2 as", text, flags=re.M)
                out[target / f"{stem}{suffix}"] = text
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only compare, write nothing")
    args = parser.parse_args(argv)
    stale = []
    for path, text in generate().items():
        current = path.read_text() if path.exists() else None
        if current != text:
            stale.append(path)
            if not args.check:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text)
                (path.parent / "__init__.py").touch()
    if args.check and stale:
        print("stale stubs (run `make protos`): " + ", ".join(str(p.relative_to(ROOT)) for p in stale))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
