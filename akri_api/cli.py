"""The `akri` command: check Configuration manifests before applying them, print the version.

    akri validate -f FILE [-f FILE ...]   (FILE "-" = stdin; multi-document YAML)
    akri version

`validate` runs the same `validation.validate_configuration` + `configuration_warnings` the
admission webhook runs, so a file it accepts is one the cluster accepts. Output, one line each:
    FILE: Configuration NAME: valid
    FILE: Configuration NAME: FIELD.PATH: message            (a problem; exit status 1)
    FILE: Configuration NAME: warning: FIELD.PATH: message   (exit status unchanged)
and on stderr, for input that cannot be checked at all (exit status 1):
    FILE: cannot read: ... / FILE: not valid YAML: line L column C: ... /
    FILE: document N: not an akri.sh/v0 Configuration (...)
Exit status: 0 all valid, 1 any problem or unreadable input, 2 usage error.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import sys
from collections.abc import Mapping, Sequence
from typing import TextIO

from akri_api import _paths, _yaml, naming, validation
from akri_api.errors import YamlError

__all__ = ["main", "DISTRIBUTION"]

DISTRIBUTION = "akri-py"
"""The distribution whose version `akri version` prints."""
_STDIN = "-"
_STDIN_LABEL = "<stdin>"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the `akri` command with `argv` (default: sys.argv[1:]); returns the exit status."""
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse reports usage errors (and --help) by exiting
        return exc.code if isinstance(exc.code, int) else 2
    if args.command == "version":
        return _version(sys.stdout)
    if args.command == "validate":
        return _validate(args.filenames, stdin=sys.stdin, out=sys.stdout, err=sys.stderr)
    parser.print_help(sys.stderr)
    return 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="akri", description="Tools for Akri (akri.sh/v0) manifests.")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    validate = commands.add_parser(
        "validate",
        help="check Configuration manifests against the CRD and the admission webhook's rules",
        description="Check akri.sh/v0 Configurations. Exit status 0 when every one is valid, 1 otherwise.",
    )
    validate.add_argument(
        "-f",
        "--filename",
        dest="filenames",
        action="append",
        required=True,
        metavar="FILE",
        help="YAML file with one or more Configuration documents; '-' reads stdin (repeatable)",
    )
    commands.add_parser("version", help="print the version of akri-py")
    return parser


def _version(out: TextIO) -> int:
    try:
        version = importlib.metadata.version(DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        version = "unknown (not installed)"
    print(f"{DISTRIBUTION} {version}", file=out)
    return 0


def _validate(filenames: Sequence[str], *, stdin: TextIO, out: TextIO, err: TextIO) -> int:
    failed = False
    for filename in filenames:
        label = _STDIN_LABEL if filename == _STDIN else filename
        try:
            text = stdin.read() if filename == _STDIN else _read(filename)
            documents = _yaml.load_all(text)
        except OSError as exc:
            print(f"{label}: cannot read: {exc.strerror or exc}", file=err)
            failed = True
            continue
        except UnicodeDecodeError:
            print(f"{label}: cannot read: not UTF-8 text", file=err)
            failed = True
            continue
        except YamlError as exc:
            print(f"{label}: not valid YAML: {exc}", file=err)
            failed = True
            continue
        failed |= not _validate_documents(label, documents, out=out, err=err)
    return 1 if failed else 0


def _read(filename: str) -> str:
    with open(filename, encoding="utf-8") as file:
        return file.read()


def _validate_documents(label: str, documents: list[object], *, out: TextIO, err: TextIO) -> bool:
    """Print the verdict for every document of one file; True when all are valid Configurations."""
    ok = True
    checked = 0
    for number, document in enumerate(documents, start=1):
        if document is None:  # empty document, e.g. after a trailing '---'
            continue
        checked += 1
        if not isinstance(document, Mapping) or document.get("kind") != "Configuration":
            print(
                f"{label}: document {number}: not an {naming.API_VERSION} Configuration ({_what(document)})", file=err
            )
            ok = False
            continue
        prefix = f"{label}: Configuration {_name(document, number)}"
        problems = validation.validate_configuration(document)
        for problem in problems:
            print(f"{prefix}: {problem}", file=out)
        for warning in validation.configuration_warnings(document):
            print(f"{prefix}: warning: {warning}", file=out)
        if problems:
            ok = False
        else:
            print(f"{prefix}: valid", file=out)
    if checked == 0:
        print(f"{label}: no Configuration found (the file holds no YAML documents)", file=err)
        return False
    return ok


def _what(document: object) -> str:
    if not isinstance(document, Mapping):
        return f"got {_paths.describe(document)}"
    api_version, kind = document.get("apiVersion"), document.get("kind")
    return f"apiVersion {_paths.describe(api_version)}, kind {_paths.describe(kind)}"


def _name(document: Mapping[object, object], number: int) -> str:
    metadata = document.get("metadata")
    name = metadata.get("name") if isinstance(metadata, Mapping) else None
    if not isinstance(name, str) or not name:
        return f"<unnamed document {number}>"
    return name if name.isprintable() and " " not in name else _paths.quote(name)


if __name__ == "__main__":
    sys.exit(main())
