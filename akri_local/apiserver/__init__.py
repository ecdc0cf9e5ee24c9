"""Kubernetes API emulator for the local control plane (DESIGN.md §4).

An HTTP server on 127.0.0.1 that the real ``kubernetes`` client (and kubectl-style YAML)
cannot tell from a kube-apiserver for what this project does. Public surface: :class:`ApiServer`.
Module map: ``store`` (objects, resourceVersions, watch history) · ``api`` (verbs) ·
``handler`` (HTTP) · ``routing`` / ``discovery`` (paths, discovery documents) · ``kinds`` /
``registry`` (served types, per-kind rules, CRDs) · ``schema`` (CRD pruning, defaulting,
validation) · ``patching`` · ``selectors`` · ``meta`` (ObjectMeta rules) · ``admission``
(validating webhooks) · ``gc`` (garbage collector, namespace and CRD cleanup) · ``errors``.
"""

from akri_local.apiserver.server import ApiServer

__all__ = ["ApiServer"]
