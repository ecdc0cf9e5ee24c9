"""Agent memory and idle CPU benchmark (`python -m benchmarks.agent_rss`): the real `python -m agent`
with four discovery handlers (standalone processes by default, or embedded) and N Instances, against
the local control plane."""
