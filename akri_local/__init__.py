"""The local control plane (DESIGN.md §4): what stands in for a cluster on a development machine.

`apiserver` (Kubernetes API emulator), `metacontroller` (CompositeController runner), `kubelet`
(kubelet simulator, one per fake node), `cluster` (all of them plus the hooks and agents, as one
`LocalCluster`), `demo` (`make demo`). Each long-running part is an ordinary API client or server,
so it also works against a real cluster where that makes sense.
"""
