"""Kubeconfig files for the local control plane.

Writes a one-cluster, one-user, one-context kubeconfig (``apiVersion: v1``, ``kind: Config``)
that ``kubernetes.config.load_kube_config(config_file=...)`` /
``kubernetes.config.new_client_from_config`` and kubectl accept: plain-HTTP server URL and a
bearer token (the emulator accepts any token; a real cluster would need a real one).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

__all__ = ["DEFAULT_CONTEXT", "DEFAULT_TOKEN", "kubeconfig_document", "write_kubeconfig"]

DEFAULT_CONTEXT = "akri-local"
DEFAULT_TOKEN = "akri-local"


def kubeconfig_document(server_url: str, *, token: str = DEFAULT_TOKEN,
                        context: str = DEFAULT_CONTEXT, namespace: str = "default") -> dict[str, Any]:
    """The kubeconfig mapping for ``server_url`` (e.g. ``http://127.0.0.1:43121``)."""
    if not server_url.startswith(("http://", "https://")):
        raise ValueError(f"server_url must be an http(s) URL, got {server_url!r}")
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": context, "cluster": {"server": server_url}}],
        "users": [{"name": context, "user": {"token": token}}],
        "contexts": [{"name": context,
                      "context": {"cluster": context, "user": context, "namespace": namespace}}],
        "current-context": context,
        "preferences": {},
    }


def write_kubeconfig(path: str | os.PathLike[str], server_url: str, *, token: str = DEFAULT_TOKEN,
                     context: str = DEFAULT_CONTEXT, namespace: str = "default") -> Path:
    """Write :func:`kubeconfig_document` to ``path`` (mode 0600, parents created); returns it."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    document = kubeconfig_document(server_url, token=token, context=context, namespace=namespace)
    target.write_text(yaml.safe_dump(document, sort_keys=False))
    target.chmod(0o600)
    return target
