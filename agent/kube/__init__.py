"""The agent's Kubernetes boundary: the only package that imports `kubernetes` (STYLE.md §5.6).

Modules: `client` (plain-dict REST verbs on a thread pool, with retries), `watching`
(list-then-watch streams), `errors` (typed API errors), `resources` (resource kinds as data).
Other packages import modules, e.g. `from agent.kube import errors` then `errors.Conflict`.
"""
