"""The agent's Kubernetes boundary: the only package that talks to the API server (STYLE.md §5.6).

It speaks HTTP through urllib3 and never imports the `kubernetes` package (DESIGN.md §5: its
models alone cost ~34 MiB of RSS). Modules: `kubeconfig` (connection settings from a kubeconfig
or the pod's service account), `credentials` (token files, exec plugins), `client` (plain-dict
REST verbs on a thread pool, with retries), `watching` (list-then-watch streams), `caching` (an
informer-like store fed by a watch), `updating` (read-modify-write with 409 retries), `events`
(core/v1 Events), `errors` (typed API errors), `resources` (resource kinds as data). Other
packages import modules, e.g. `from agent.kube import errors` then `errors.Conflict`.
"""

from agent.kube.caching import ObjectCache
from agent.kube.client import KubeClient
from agent.kube.kubeconfig import Connection
from agent.kube.resources import ResourceKind
from agent.kube.updating import read_modify_write
from agent.kube.watching import WatchEvent, watch_objects

__all__ = ["Connection", "KubeClient", "ObjectCache", "ResourceKind", "WatchEvent", "read_modify_write",
           "watch_objects"]
