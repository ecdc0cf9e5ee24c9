"""A local stand-in for Metacontroller v4.17: runs CompositeControllers against any Kubernetes API.

DESIGN.md §4: no Metacontroller can run on the development machines, so the local control plane
ships this runner. It is an ordinary API client (a kubeconfig in, the `kubernetes` library out),
so it works against the local API emulator and against a real cluster alike. It reads
CompositeController objects (dicts or the YAML files of `metacontroller/`), and for each one
watches the parent and child types with shared informers, routes events to the owning parents
(children by controller ownerReference, related objects by the cached customize rules) and syncs
each parent on a client-go style work queue — one parent never concurrently, events coalesced,
failures retried with a doubling backoff and reported as Warning `SyncError` Events. The per-parent
pipeline is `_metacontroller_sync.ControllerSync` (metacontroller-contract.md §5-§9, §11, §14).

Not implemented (not needed by this project): DecoratorControllers, ControllerRevisions and the
rolling update gating (Rolling* methods act like Recreate/InPlace), ETag caching, webhook TLS/auth
options, server-side apply.

Usage: `python -m akri_local.metacontroller --kubeconfig K --controllers metacontroller/
--hooks-url http://127.0.0.1:PORT`; from Python, `MetacontrollerRunner(...).start()` / `.stop()`.
"""

from __future__ import annotations

import argparse
import functools
import logging
import os
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import urllib3

from agent.kube.resources import ResourceKind
from akri_local import _cli as cli
from akri_local import _metacontroller_apply as apply
from akri_local import _metacontroller_hooks as hooks
from akri_local._metacontroller_kube import DELETED, Informer, Kube
from akri_local._metacontroller_queue import WorkQueue
from akri_local._metacontroller_spec import ControllerSpec, SpecError, load_controllers
from akri_local._metacontroller_sync import ControllerSync, EventRecorder, RelatedNotReady

__all__ = ["MetacontrollerRunner", "RunnerSettings", "SpecError", "main"]

logger = logging.getLogger(__name__)

QueueKey = tuple[str, str, str]  # (controller name, parent namespace, parent name)


@dataclass(frozen=True, slots=True)
class RunnerSettings:
    """Tuning of the runner (Metacontroller's flags where one exists)."""

    workers: int = 4
    """Sync worker threads shared by all controllers (Metacontroller `--workers`, default 5 per controller)."""
    backoff_base_seconds: float = 0.5
    """First retry delay after a failed sync; doubles per consecutive failure."""
    backoff_max_seconds: float = 300.0
    """Cap of the retry delay."""
    min_retry_after_seconds: float = 0.1
    """Floor of the delay after a 429 answer (a missing Retry-After means 0 in Metacontroller)."""
    watch_timeout_seconds: int = 120
    """Server-side timeout of each watch connection (the informer reconnects afterwards)."""
    resolve_retry_seconds: float = 1.0
    """Delay between attempts to resolve a controller's parent/child types (CRD not installed yet)."""


class MetacontrollerRunner:
    """Runs CompositeControllers like Metacontroller, on background threads.

    kubeconfig: path of the kubeconfig to use (current context).
    controllers: CompositeController objects, or a directory of YAML files holding them.
    hook_base_url: when set, service-based hooks call `hook_base_url + webhook.path` instead of
    `<svc>.<ns>` cluster DNS (URL hooks are left alone).
    Raises SpecError (a ValueError) at construction for invalid controllers.
    """

    def __init__(self, kubeconfig: str | os.PathLike[str], controllers: Iterable[Mapping[str, Any]] | str | Path,
                 hook_base_url: str | None = None, *, settings: RunnerSettings | None = None) -> None:
        self.kubeconfig = os.fspath(kubeconfig)
        self.settings = settings or RunnerSettings()
        self.specs: tuple[ControllerSpec, ...] = tuple(load_controllers(
            controllers if isinstance(controllers, str | Path) else list(controllers), hook_base_url=hook_base_url))
        self._stop = threading.Event()
        self._queue: WorkQueue[QueueKey] = WorkQueue(backoff_base_seconds=self.settings.backoff_base_seconds,
                                                     backoff_max_seconds=self.settings.backoff_max_seconds)
        self._syncs: dict[str, ControllerSync] = {}
        self._informers: dict[ResourceKind, Informer] = {}
        self._lock = threading.RLock()
        self._threads: list[threading.Thread] = []
        self._kube: Kube | None = None
        self._pool: urllib3.PoolManager | None = None
        self._events: EventRecorder | None = None

    # -- lifecycle --------------------------------------------------------------------------------

    def start(self) -> None:
        """Connect and start watching and syncing in background threads; returns at once.

        Controllers whose parent/child types are not served yet are retried every
        `settings.resolve_retry_seconds`. Raises agent.kube.errors.KubeConfigError for a bad kubeconfig.
        """
        if self._kube is not None:
            raise RuntimeError("MetacontrollerRunner already started")
        self._kube = Kube.from_kubeconfig(self.kubeconfig)
        self._pool = urllib3.PoolManager(num_pools=4, maxsize=max(4, self.settings.workers))
        self._events = EventRecorder(self._kube)
        for spec in self.specs:
            self._spawn(f"mc-setup-{spec.name}", self._setup, spec)
        for index in range(self.settings.workers):
            self._spawn(f"mc-worker-{index}", self._work)
        logger.info("metacontroller runner started with controllers %s", [s.name for s in self.specs])

    def stop(self, timeout: float = 10.0) -> None:
        """Stop every thread (waits up to `timeout` seconds in total for in-flight hook calls)."""
        self._stop.set()
        self._queue.shut_down()
        with self._lock:
            informers = list(self._informers.values())
        for informer in informers:
            informer.stop(timeout=0)
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        for informer in informers:
            informer.stop(timeout=max(0.0, deadline - time.monotonic()))
        if self._pool is not None:
            self._pool.clear()
        if self._kube is not None:
            self._kube.close()
        logger.info("metacontroller runner stopped")

    def __enter__(self) -> MetacontrollerRunner:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def ready(self) -> bool:
        """True once every controller has resolved its types and listed its parents and children."""
        with self._lock:
            if len(self._syncs) != len(self.specs):
                return False
            syncs = list(self._syncs.values())
        return all(self.informer(s.parent_kind).synced and all(self.informer(k).synced for k in s.child_kinds.values())
                   for s in syncs)

    def wait_ready(self, timeout: float) -> bool:
        """Block until `ready()` (True) or `timeout` seconds pass (False)."""
        deadline = time.monotonic() + timeout
        while not self.ready():
            if time.monotonic() >= deadline or self._stop.wait(0.05):
                return False
        return True

    def enqueue(self, controller: str, namespace: str, name: str) -> None:
        """Ask for a sync of one parent now (what an informer event does)."""
        self._queue.add((controller, namespace or "", name))

    # -- informers ----------------------------------------------------------------------------------

    def informer(self, kind: ResourceKind) -> Informer:
        """The shared informer of `kind`, created and started on first use (all namespaces)."""
        with self._lock:
            informer = self._informers.get(kind)
            if informer is None:
                assert self._kube is not None
                informer = Informer(self._kube, kind, watch_timeout_seconds=self.settings.watch_timeout_seconds)
                self._informers[kind] = informer
                informer.add_handler(functools.partial(self._on_any, kind))
                if not self._stop.is_set():
                    informer.start()
            return informer

    def _on_any(self, kind: ResourceKind, etype: str, obj: dict[str, Any], old: dict[str, Any] | None) -> None:
        """Route one informer event to the parents it concerns (runs on the informer thread)."""
        with self._lock:
            syncs = list(self._syncs.values())
        meta = obj.get("metadata") or {}
        for sync in syncs:
            name = sync.spec.name
            if kind == sync.parent_kind:
                self._queue.add((name, meta.get("namespace") or "", meta.get("name") or ""))
            if kind in sync.child_kinds.values():
                for candidate in (obj, old):
                    owner = sync.owner_key(candidate) if candidate is not None else None
                    if owner is not None:
                        self._queue.add((name, *owner))
                if etype != DELETED and apply.controller_ref(obj) is None:
                    self._enqueue_adopters(sync, obj)
            if sync.spec.customize is not None:
                for candidate in (obj, old):
                    if candidate is not None:
                        for key in sync.parents_related_to(kind, candidate):
                            self._queue.add((name, *key))

    def _enqueue_adopters(self, sync: ControllerSync, orphan: dict[str, Any]) -> None:
        uid = ((orphan.get("metadata") or {}).get("labels") or {}).get(apply.CONTROLLER_UID_LABEL)
        if not uid or not sync.spec.generate_selector:
            return
        for parent in self.informer(sync.parent_kind).list():
            if parent["metadata"].get("uid") == uid:
                self._queue.add((sync.spec.name, parent["metadata"].get("namespace") or "", parent["metadata"]["name"]))

    # -- threads ------------------------------------------------------------------------------------

    def _spawn(self, name: str, target: Any, *args: Any) -> None:
        thread = threading.Thread(target=self._guard, args=(name, target, *args), name=name, daemon=True)
        self._threads.append(thread)
        thread.start()

    def _guard(self, name: str, target: Any, *args: Any) -> None:
        try:
            target(*args)
        except Exception:  # task guard: report a crashed background thread at once
            logger.exception("metacontroller thread %s crashed", name)

    def _setup(self, spec: ControllerSpec) -> None:
        """Resolve the controller's types (retrying until served), start its informers, then resync
        every `resyncPeriodSeconds` when set."""
        assert self._kube is not None and self._pool is not None and self._events is not None
        while not self._stop.is_set():
            try:
                parent_kind = self._kube.resolve(spec.parent_api_version, plural=spec.parent_resource)
                child_kinds = {c: self._kube.resolve(c.api_version, plural=c.resource) for c in spec.children}
                break
            except LookupError as exc:
                logger.info("controller %s waits for its resource types: %s", spec.name, exc)
                self._stop.wait(self.settings.resolve_retry_seconds)
        else:
            return
        sync = ControllerSync(
            spec, kube=self._kube, parent_kind=parent_kind,
            child_kinds={apply.children_key(k): k for k in child_kinds.values()},
            methods={apply.children_key(k): c.method for c, k in child_kinds.items()},
            informers=self, pool=self._pool, events=self._events,
            enqueue_after=lambda key, delay: self._queue.add_after((spec.name, *key), delay))
        for kind in child_kinds.values():
            self.informer(kind)
        with self._lock:
            self._syncs[spec.name] = sync
        parents = self.informer(parent_kind)
        for parent in parents.list():
            self.enqueue(spec.name, parent["metadata"].get("namespace") or "", parent["metadata"]["name"])
        logger.info("controller %s watching %s with children %s", spec.name, parent_kind.plural,
                    [k.plural for k in child_kinds.values()])
        period = spec.resync_period_seconds
        while period and not self._stop.wait(period):
            for parent in parents.list():
                self.enqueue(spec.name, parent["metadata"].get("namespace") or "", parent["metadata"]["name"])

    def _work(self) -> None:
        while not self._stop.is_set():
            key = self._queue.get()
            if key is None:
                return
            try:
                self._sync_one(key)
            finally:
                self._queue.done(key)

    def _sync_one(self, key: QueueKey) -> None:
        controller, namespace, name = key
        with self._lock:
            sync = self._syncs.get(controller)
        if sync is None:
            return
        try:
            sync.sync((namespace, name))
            self._queue.forget(key)
        except hooks.HookBackoff as exc:
            logger.info("%s: %s/%s: %s", controller, namespace, name, exc)
            self._queue.add_after(key, max(exc.retry_after, self.settings.min_retry_after_seconds))
        except RelatedNotReady as exc:
            logger.info("%s: %s/%s waits: %s", controller, namespace, name, exc)
            self._queue.add_rate_limited(key)
        except Exception as exc:  # request-handler guard: any sync failure → event + backoff (contract §14)
            if self._stop.is_set():
                return
            delay = self._queue.add_rate_limited(key)
            logger.warning("failed to sync %s '%s/%s' (retry in %.1fs): %s", sync.parent_kind.kind, namespace, name,
                           delay, exc)
            parent = self.informer(sync.parent_kind).get(namespace, name)
            if parent is not None and self._events is not None:
                self._events.warning(parent, "SyncError", f"Sync error: {exc}")


def main(argv: Sequence[str] | None = None) -> int:
    """CLI: run the controllers until SIGINT/SIGTERM. Exit status 2 for invalid arguments."""
    parser = argparse.ArgumentParser(prog="python -m akri_local.metacontroller", description=__doc__.split("\n")[0])
    parser.add_argument("--kubeconfig", required=True, help="kubeconfig of the cluster to control")
    parser.add_argument("--controllers", required=True, help="directory of CompositeController YAML files")
    parser.add_argument("--hooks-url", default=None,
                        help="base URL replacing service-based hook addresses, e.g. http://127.0.0.1:8080")
    parser.add_argument("--workers", type=int, default=RunnerSettings().workers, help="sync worker threads")
    cli.add_log_level_argument(parser)
    args = parser.parse_args(argv)
    cli.setup_logging(args.log_level)
    if args.workers < 1:
        parser.error(f"--workers must be at least 1, got {args.workers}")
    try:
        runner = MetacontrollerRunner(args.kubeconfig, args.controllers, args.hooks_url,
                                      settings=RunnerSettings(workers=args.workers))
    except (SpecError, OSError) as exc:
        parser.error(str(exc))
    return cli.serve_until_signalled(parser, runner, what="the runner")

if __name__ == "__main__":
    raise SystemExit(main())
