"""The agent's Kubernetes boundary: the only package that imports `kubernetes` (STYLE.md §5.6).

Modules: `client` (plain-dict REST verbs on a thread pool, with retries), `watching`
(list-then-watch streams), `caching` (an informer-like store fed by a watch), `updating`
(read-modify-write with 409 retries), `events` (core/v1 Events), `errors` (typed API errors),
`resources` (resource kinds as data). Other packages import modules, e.g.
`from agent.kube import errors` then `errors.Conflict`.
"""

from agent.kube.caching import ObjectCache
from agent.kube.client import KubeClient
from agent.kube.resources import ResourceKind
from agent.kube.updating import read_modify_write
from agent.kube.watching import WatchEvent, watch_objects

__all__ = ["KubeClient", "ObjectCache", "ResourceKind", "WatchEvent", "read_modify_write", "watch_objects"]
