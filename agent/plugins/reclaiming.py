"""Free slots this node claims but no pod on this node holds any more.

Akri's slot reclaimer (device_plugin_slot_reclaimer.rs, akri-contract.md §2.6): every
`reclaim_interval_seconds` it logs `reclaiming unused slots - start` (the e2e suite greps agent
logs for it; INFO here so it is visible at the default level), asks the kubelet's
`v1.PodResourcesLister/List` which `akri.sh/` devices containers hold, and compares them with
this node's claims. A claim that no pod holds is "stalled"; one still stalled
`reclaim_grace_seconds` after it was first seen is freed (its deviceUsage key deleted). Claims are
compared as (resource name, device ID) with kubelet's unprefixed IDs: `<instance>-<slot>` under
`akri.sh/<instance>` for Instance-level claims, `<vdev>` under `akri.sh/<configuration>` for
Configuration-level ones (quirk #3 fixed: Akri compared `akri.sh/`-prefixed IDs and never
reclaimed Instance-level slots). Pods without Akri devices play no part.

The kubelet may hand a claim it considers allocatable (this node's own slot, or a virtual device
this node holds) to a new pod after the List answered and before the claim is freed; the pod
would then run on a slot deviceUsage shows free. So each round reads the node's allocation clock
(`allocations()`, `instance_plugin.AllocationClock.now`) before the List and frees through
`HeldClaim.release(since)`, which keeps a slot granted after that tick (under the plugin lock
that every grant also takes).

`reconcile_at_startup` runs the same comparison once with no grace before any Allocate is served,
so a rebooted node whose pods are gone gets its brokers admitted at once; when the pod-resources
socket cannot be reached it only warns.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass

from agent.plugins import errors
from agent.plugins.kubelet import HeldDevice, PodResourcesSource
from agent.plugins.settings import PluginSettings

__all__ = ["HeldClaim", "ClaimKey", "reclaim_step", "SlotReclaimer"]

logger = logging.getLogger(__name__)

ClaimKey = tuple[str, str, str]
"""(resource name, device ID as the kubelet reports it, deviceUsage key)."""


@dataclass(frozen=True, slots=True)
class HeldClaim:
    """One claim of this node and how to free it: `release(since)` frees it unless its slot was
    granted after allocation tick `since`; returns False when it kept the claim for that reason,
    True otherwise; raises errors.ClaimFailed."""

    resource_name: str
    device_id: str
    key: str
    release: Callable[[int], Awaitable[bool]]

    @property
    def ident(self) -> ClaimKey:
        """(resource name, device ID, deviceUsage key)."""
        return (self.resource_name, self.device_id, self.key)


def reclaim_step(stalled: Mapping[ClaimKey, float], claims: Iterable[ClaimKey], held: frozenset[HeldDevice],
                 *, now: float, grace_seconds: float) -> tuple[dict[ClaimKey, float], list[ClaimKey]]:
    """One reclaim round, pure.

    stalled: claim → time (seconds, any monotonic clock) it was first seen unheld; claims: this
    node's claims now; held: (resource, device ID) pairs pods hold. Returns (the new stalled map
    — claims still unheld, with their first-seen time; held or vanished claims are dropped —,
    claims due to be freed: unheld for at least grace_seconds, in input order).
    """
    new_stalled: dict[ClaimKey, float] = {}
    due: list[ClaimKey] = []
    for claim in claims:
        if (claim[0], claim[1]) in held:
            continue
        since = stalled.get(claim, now)
        new_stalled[claim] = since
        if now - since >= grace_seconds:
            due.append(claim)
    return new_stalled, due


class SlotReclaimer:
    """Periodic reclaim for one node.

    pod_resources: the kubelet's view of held devices; claims: returns this node's current
    claims; allocations: returns the node's current allocation tick (`AllocationClock.now`);
    settings: interval and grace; clock: monotonic seconds (test seam).
    """

    def __init__(self, *, pod_resources: PodResourcesSource, claims: Callable[[], Iterable[HeldClaim]],
                 allocations: Callable[[], int], settings: PluginSettings,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._pod_resources = pod_resources
        self._claims = claims
        self._allocations = allocations
        self._settings = settings
        self._clock = clock
        self._stalled: dict[ClaimKey, float] = {}

    async def run(self) -> None:
        """Reclaim every `reclaim_interval_seconds` until cancelled."""
        while True:
            await self.reclaim_once()
            await asyncio.sleep(self._settings.reclaim_interval_seconds)

    async def reclaim_once(self, *, grace_seconds: float | None = None) -> int:
        """One round (grace from settings unless given). Returns the number of slots freed; a
        pod-resources failure is logged and frees nothing."""
        logger.info("reclaiming unused slots - start")
        since = self._allocations()
        try:
            held = await self._pod_resources.held_devices()
        except errors.PodResourcesUnavailable as exc:
            logger.warning("cannot reclaim slots this round: %s", exc)
            return 0
        return await self._free_unheld(held, self._settings.reclaim_grace_seconds
                                       if grace_seconds is None else grace_seconds, since)

    async def reconcile_at_startup(self) -> int:
        """Free at once every claim of this node no pod holds. Returns the number freed; when the
        kubelet cannot be asked, warns and frees nothing."""
        since = self._allocations()
        try:
            held = await self._pod_resources.held_devices()
        except errors.PodResourcesUnavailable as exc:
            logger.warning("start-up slot reconciliation skipped, pod resources unavailable: %s", exc)
            return 0
        return await self._free_unheld(held, 0.0, since)

    async def _free_unheld(self, held: frozenset[HeldDevice], grace_seconds: float, since: int) -> int:
        """Free the due claims among the current ones, given `held` as listed after allocation
        tick `since`. Returns the number freed."""
        claims = {claim.ident: claim for claim in self._claims()}
        self._stalled, due = reclaim_step(self._stalled, claims, held, now=self._clock(),
                                          grace_seconds=grace_seconds)
        freed = 0
        for ident in due:
            claim = claims[ident]
            try:
                released = await claim.release(since)
            except errors.ClaimFailed as exc:
                logger.warning("could not free unused slot %s (%s %s); retrying next round: %s",
                               claim.key, claim.resource_name, claim.device_id, exc)
                continue
            if not released:  # granted to a pod after the List: not stalled any more
                self._stalled.pop(ident, None)
                continue
            logger.info("freed slot %s: no pod holds %s %s", claim.key, claim.resource_name, claim.device_id)
            self._stalled.pop(ident, None)
            freed += 1
        return freed
