"""The API verbs over the store: the emulator's counterpart of the apiserver's generic registry.

:class:`Api` implements get, list, watch, create, update (PUT), patch, delete and
deletecollection for any :class:`kinds.ResourceType`, with the semantics in DESIGN.md §4:
system metadata (uid, resourceVersion, generation, creationTimestamp), ``generateName``,
optimistic concurrency (409 on a stale resourceVersion, also inside a patch body), status
subresources, finalizers and ``deletionTimestamp``, graceful pod deletion, namespace
lifecycle, CRD registration, schema pruning/defaulting/validation of custom resources, and
validating admission webhooks. Garbage collection runs separately (``gc.py``) and uses
this class like any client.

Writes follow the apiserver's ``GuaranteedUpdate`` loop: read, compute the new object, run
admission without holding the store lock, then commit only if the object did not change in
between (otherwise recompute; a resourceVersion given by the client turns that into 409).
"""

from __future__ import annotations

import copy
import dataclasses
import ipaddress
import logging
from collections.abc import Callable
from typing import Any

from akri_local.apiserver import admission, deleting, errors, kinds, listing, meta, patching, registry
from akri_local.apiserver.deleting import DeleteOptions
from akri_local.apiserver.kinds import ResourceType
from akri_local.apiserver.listing import ListOptions
from akri_local.apiserver.store import Store

__all__ = ["Api", "DeleteOptions", "ListOptions", "Result"]

logger = logging.getLogger(__name__)

MAX_UPDATE_ATTEMPTS = 16
MAX_GENERATE_NAME_ATTEMPTS = 8
INITIAL_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
_CRDS = ("apiextensions.k8s.io", "customresourcedefinitions")
_SERVICE_CIDR = ipaddress.ip_network("10.96.0.0/12")
_SYSTEM_META = ("uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds",
                "generation")


@dataclasses.dataclass
class Result:
    """A verb's outcome: the response body, its HTTP code and admission warnings."""

    body: dict[str, Any]
    code: int = 200
    warnings: list[str] = dataclasses.field(default_factory=list)


def _meta(obj: dict[str, Any]) -> dict[str, Any]:
    """``obj["metadata"]``, created when absent."""
    value = obj.get("metadata")
    if not isinstance(value, dict):
        value = {}
        obj["metadata"] = value
    return value


def _spec_part(rt: ResourceType, obj: dict[str, Any]) -> dict[str, Any]:
    """What ``generation`` tracks: everything but metadata (and status with a subresource)."""
    skip = {"metadata", "status"} if rt.status else {"metadata"}
    return {k: v for k, v in obj.items() if k not in skip and k not in ("apiVersion", "kind")}


class Api:
    """Verbs over ``store`` for the types in ``types`` (see module docstring).

    ``service_urls`` is shared with the webhook dispatcher (``(ns, name, port) -> https URL``).
    Call :meth:`bootstrap` once to create the initial namespaces.
    """

    def __init__(self, *, store: Store, types: registry.Registry,
                 service_urls: admission.ServiceUrls) -> None:
        self.store = store
        self.types = types
        self.webhooks = admission.WebhookDispatcher(
            configurations=self._webhook_configurations,
            namespace_labels=self._namespace_labels,
            service_urls=service_urls)
        self._next_ip = int(_SERVICE_CIDR.network_address) + 10

    # ----------------------------------------------------------------------- lookups
    def bootstrap(self) -> None:
        """Create the namespaces every cluster starts with."""
        ns_type = self.types.get("", "v1", "namespaces")
        assert ns_type is not None
        for name in INITIAL_NAMESPACES:
            if self.store.get(ns_type.group_resource, "", name) is None:
                self.create(ns_type, None, {"metadata": {"name": name}})

    def _webhook_configurations(self) -> list[dict[str, Any]]:
        items, _ = self.store.list_objects(("admissionregistration.k8s.io", "validatingwebhookconfigurations"))
        return items

    def _namespace_labels(self, namespace: str) -> dict[str, str] | None:
        obj = self.store.get(("", "namespaces"), "", namespace)
        if obj is None:
            return None
        labels = dict(obj["metadata"].get("labels") or {})
        labels.setdefault("kubernetes.io/metadata.name", namespace)
        return labels

    def _allocate_ip(self) -> str:
        with self.store.lock:
            address = ipaddress.ip_address(self._next_ip)
            self._next_ip += 1
        return str(address)

    def _output(self, rt: ResourceType, obj: dict[str, Any], *, shared: bool = True) -> dict[str, Any]:
        """The object as served at ``rt``'s version (custom resources get their apiVersion
        rewritten: the None conversion strategy). ``shared`` objects (stored, in events) are
        copied first; pass False for a private copy the store already made."""
        out = copy.deepcopy(obj) if shared else obj
        out["apiVersion"] = rt.api_version
        out["kind"] = rt.kind
        return out

    # --------------------------------------------------------------------------- reads
    def get(self, rt: ResourceType, namespace: str | None, name: str) -> Result:
        """GET one object; NotFound when absent."""
        obj = self.store.get(rt.group_resource, namespace or "", name)
        if obj is None:
            raise errors.NotFound.object(rt.plural, rt.group, name)
        return Result(self._output(rt, obj, shared=False))

    def list(self, rt: ResourceType, namespace: str | None, options: ListOptions) -> Result:
        """LIST (one namespace or all); honours selectors, ``limit`` and ``continue``."""
        listing.check_field_selector(rt, options)
        items, revision = self.store.list_objects(rt.group_resource, namespace)
        items = [obj for obj in items if listing.matches(rt, obj, namespace, options)]
        list_meta: dict[str, Any] = {"resourceVersion": str(revision)}
        if options.continue_token:
            after = listing.decode_continue(options.continue_token)
            items = [obj for obj in items
                     if (obj["metadata"].get("namespace", ""), obj["metadata"]["name"]) > after]
        if options.limit and len(items) > options.limit:
            last = items[options.limit - 1]["metadata"]
            list_meta["continue"] = listing.encode_continue(last.get("namespace", ""), last["name"])
            list_meta["remainingItemCount"] = len(items) - options.limit
            items = items[: options.limit]
        return Result({"apiVersion": rt.api_version, "kind": rt.list_kind, "metadata": list_meta,
                       "items": [self._output(rt, obj, shared=False) for obj in items]})

    def watch(self, rt: ResourceType, namespace: str | None, options: ListOptions, *,
              resource_version: str, send_initial_events: bool) -> listing.WatchStream:
        """Open a watch. ``resource_version`` "" or "0" starts with ADDED for every current
        object, otherwise replays history after it. Raises :class:`errors.Gone` (410) when it
        is too old, BadRequest when it is not a number."""
        listing.check_field_selector(rt, options)
        since: int | None = None
        if resource_version not in ("", "0") and not send_initial_events:
            try:
                since = int(resource_version)
            except ValueError as exc:
                raise errors.BadRequest(f"invalid resource version: {resource_version!r}") from exc
        watcher = self.store.watch(rt.group_resource, since)
        return listing.WatchStream(store=self.store, watcher=watcher, rt=rt, namespace=namespace,
                                   options=options, output=lambda obj: self._output(rt, obj),
                                   initial_events_end=send_initial_events)

    # -------------------------------------------------------------------------- checks
    def _check_body(self, rt: ResourceType, body: Any, namespace: str | None,
                    name: str | None) -> dict[str, Any]:
        """Type, apiVersion/kind, namespace and name consistency of a request body."""
        if not isinstance(body, dict):
            raise errors.BadRequest("the request body must be a JSON object")
        obj = copy.deepcopy(body)
        api_version, kind = obj.get("apiVersion"), obj.get("kind")
        if api_version and api_version != rt.api_version:
            raise errors.BadRequest(f"the API version in the data ({api_version}) does not match "
                                    f"the expected API version ({rt.api_version})")
        if kind and kind != rt.kind:
            raise errors.BadRequest(f"the kind in the data ({kind}) does not match the expected "
                                    f"kind ({rt.kind})")
        obj["apiVersion"], obj["kind"] = rt.api_version, rt.kind
        obj_meta = obj.get("metadata")
        if obj_meta is None:
            obj_meta = obj["metadata"] = {}
        if not isinstance(obj_meta, dict):
            raise errors.BadRequest("metadata must be a JSON object")
        if rt.namespaced:
            body_ns = obj_meta.get("namespace")
            if body_ns and body_ns != namespace:
                raise errors.BadRequest("the namespace of the provided object does not match the "
                                        "namespace sent on the request")
            obj_meta["namespace"] = namespace
        else:
            obj_meta.pop("namespace", None)
        if name is not None:
            if obj_meta.get("name") and obj_meta["name"] != name:
                raise errors.BadRequest(f"the name of the object ({obj_meta['name']}) does not "
                                        f"match the name on the URL ({name})")
            obj_meta["name"] = name
        obj_meta.pop("managedFields", None)
        obj_meta.pop("selfLink", None)
        return obj

    def _normalise(self, rt: ResourceType, obj: dict[str, Any]) -> dict[str, Any]:
        """Pruning + defaulting (custom resources) or built-in defaulting."""
        if rt.schema is not None:
            obj = rt.schema.default(rt.schema.prune(obj))
        else:
            kinds.default_object(rt, obj)
        return obj

    def _validate(self, rt: ResourceType, obj: dict[str, Any]) -> None:
        """Raise Invalid with every problem of the object about to be stored."""
        causes = meta.validate_object_meta(obj.get("metadata"), dns_label=rt.dns_label_names)
        causes += kinds.validate_object(rt, obj)
        if rt.group_resource == _CRDS:
            causes += registry.validate_crd(obj)
        if rt.schema is not None:
            causes += rt.schema.validate(obj)
        if causes:
            name = (obj.get("metadata") or {}).get("name") or ""
            raise errors.Invalid.fields(rt.kind, rt.group, name, causes)

    def _check_namespace(self, rt: ResourceType, namespace: str | None, name: str) -> None:
        """NamespaceLifecycle: the namespace must exist and not be terminating."""
        if not rt.namespaced:
            return
        ns = self.store.get(("", "namespaces"), "", namespace or "")
        if ns is None:
            raise errors.NotFound.object("namespaces", "", namespace or "")
        if deleting.is_deleting(ns):
            raise errors.Forbidden(
                f'{rt.plural} "{name}" is forbidden: unable to create new content in namespace '
                f"{namespace} because it is being terminated",
                details={"name": name, "kind": rt.plural, "causes": [
                    {"reason": "NamespaceTerminating", "field": "metadata.namespace",
                     "message": f"namespace {namespace} is being terminated"}]})

    def _check_crd_live(self, rt: ResourceType) -> None:
        """Custom resources cannot be created while their CRD is terminating."""
        if rt.crd is None:
            return
        crd = self.store.get(_CRDS, "", rt.crd)
        if crd is None or deleting.is_deleting(crd):
            raise errors.MethodNotAllowed(
                "create not allowed while custom resource definition is terminating")

    # -------------------------------------------------------------------------- create
    def create(self, rt: ResourceType, namespace: str | None, body: Any, *,
               dry_run: bool = False) -> Result:
        """POST: create an object (``generateName`` supported). 201 with the stored object."""
        obj = self._check_body(rt, body, namespace, None)
        obj_meta = obj["metadata"]
        if obj_meta.get("resourceVersion"):
            raise errors.BadRequest("resourceVersion should not be set on objects to be created")
        for field in _SYSTEM_META:
            obj_meta.pop(field, None)
        generated = not obj_meta.get("name") and bool(obj_meta.get("generateName"))
        if generated:
            obj_meta["name"] = meta.generate_name(str(obj_meta["generateName"]))
        obj_meta["uid"] = meta.new_uid()
        obj_meta["creationTimestamp"] = meta.now_rfc3339()
        obj_meta["generation"] = 1
        obj = self._normalise(rt, obj)
        obj_meta = obj["metadata"]
        if not obj_meta.get("name"):
            raise errors.Invalid.fields(rt.kind, rt.group, "", [errors.FieldCause(
                "metadata.name", "Required value: name or generateName is required",
                "FieldValueRequired")])
        if rt.group_resource == _CRDS:
            self._validate(rt, obj)
            obj["status"] = registry.crd_status(obj, None, obj_meta["creationTimestamp"])
            finalizers = obj_meta.setdefault("finalizers", [])
            if kinds.CRD_CLEANUP_FINALIZER not in finalizers:
                finalizers.append(kinds.CRD_CLEANUP_FINALIZER)
        kinds.prepare_create(rt, obj, allocate_ip=self._allocate_ip)
        self._validate(rt, obj)
        self._check_namespace(rt, namespace, obj_meta["name"])
        self._check_crd_live(rt)
        warnings = self.webhooks.validate(admission.AdmissionRequest(
            "CREATE", rt, "", namespace or "", obj_meta["name"], obj, None, dry_run))
        if dry_run:
            return Result(self._output(rt, obj), 201, warnings)
        for _ in range(MAX_GENERATE_NAME_ATTEMPTS):
            try:
                with self.store.lock:
                    self._check_namespace(rt, namespace, obj_meta["name"])
                    stored = self.store.create(rt.group_resource, obj)
                    if rt.group_resource == _CRDS:
                        self.types.apply_crd(stored)  # served before anyone sees it Established
                break
            except KeyError:
                if not generated:
                    raise errors.AlreadyExists.object(rt.plural, rt.group, obj_meta["name"]) from None
                obj_meta["name"] = meta.generate_name(str(obj_meta["generateName"]))
        else:
            raise errors.AlreadyExists.object(rt.plural, rt.group, obj_meta["name"])
        logger.debug("created %s %s/%s", rt.plural, namespace or "", obj_meta["name"])
        return Result(self._output(rt, stored), 201, warnings)

    # -------------------------------------------------------------------------- update
    def _prepare_update(self, rt: ResourceType, new: dict[str, Any], current: dict[str, Any],
                        subresource: str) -> dict[str, Any]:
        """The object to store for an update of ``current`` to ``new`` via ``subresource``."""
        new_meta, cur_meta = _meta(new), current["metadata"]
        if new_meta.get("uid") and new_meta["uid"] != cur_meta["uid"]:
            raise errors.Conflict(f"Precondition failed: UID in precondition: {new_meta['uid']}, "
                                  f"UID in object meta: {cur_meta['uid']}")
        if subresource in ("status", "finalize"):
            obj = copy.deepcopy(current)
            if subresource == "status":
                if "status" in new:
                    obj["status"] = new["status"]
                else:
                    obj.pop("status", None)
            else:
                obj.setdefault("spec", {})["finalizers"] = list((new.get("spec") or {}).get("finalizers") or [])
            obj = self._normalise(rt, obj) if rt.schema is not None else obj
            self._validate(rt, obj)
            return obj
        obj = new
        for field in _SYSTEM_META:
            if field in cur_meta:
                new_meta[field] = cur_meta[field]
            else:
                new_meta.pop(field, None)
        if rt.status:
            if "status" in current:
                obj["status"] = copy.deepcopy(current["status"])
            else:
                obj.pop("status", None)
        if rt.group_resource == ("", "namespaces"):
            obj.setdefault("spec", {})["finalizers"] = list(
                (current.get("spec") or {}).get("finalizers") or [])
        obj = self._normalise(rt, obj)
        causes = kinds.prepare_update(rt, obj, current)
        if deleting.is_deleting(current):
            added = set(obj["metadata"].get("finalizers") or []) - set(cur_meta.get("finalizers") or [])
            if added:
                causes.append(errors.FieldCause(
                    "metadata.finalizers", "Forbidden: no new finalizers can be added if the "
                    f"object is being deleted, found new finalizers {sorted(added)}",
                    "FieldValueForbidden"))
        if causes:
            raise errors.Invalid.fields(rt.kind, rt.group, cur_meta["name"], causes)
        if rt.group_resource == _CRDS:
            self._validate(rt, obj)
            obj["status"] = registry.crd_status(obj, current.get("status"), meta.now_rfc3339())
        if _spec_part(rt, obj) != _spec_part(rt, current):
            obj["metadata"]["generation"] = int(cur_meta.get("generation") or 0) + 1
        self._validate(rt, obj)
        return obj

    def _remove(self, rt: ResourceType, namespace: str, name: str) -> dict[str, Any]:
        """Take an object out of storage (caller holds the store lock); CRD side effects."""
        final = self.store.remove(rt.group_resource, namespace, name)
        if rt.group_resource == _CRDS:
            self._purge_crd(final)
        logger.debug("removed %s %s/%s", rt.plural, namespace, name)
        return final

    def _purge_crd(self, crd: dict[str, Any]) -> None:
        """Stop serving a removed CRD's resources and drop any custom resources left."""
        spec = crd.get("spec") or {}
        plural = (spec.get("names") or {}).get("plural", "")
        gr = (spec.get("group", ""), plural)
        items, _ = self.store.list_objects(gr)
        for obj in items:
            self.store.remove(gr, obj["metadata"].get("namespace", ""), obj["metadata"]["name"])
        self.types.remove_crd(crd["metadata"]["name"])

    def _guaranteed_update(self, rt: ResourceType, namespace: str | None, name: str,
                           mutate: Callable[[dict[str, Any]], dict[str, Any]], *,
                           subresource: str, dry_run: bool,
                           create: Callable[[], Result] | None = None) -> Result:
        """Read-mutate-admit-commit loop shared by PUT and PATCH (see module docstring).

        ``mutate(current)`` returns the requested object; when its resourceVersion is set and
        differs from the current one the result is 409. ``create`` handles a missing object
        (server-side apply); otherwise a missing object is 404.
        """
        gr = rt.group_resource
        ns = namespace or ""
        for _ in range(MAX_UPDATE_ATTEMPTS):
            current = self.store.get(gr, ns, name)
            if current is None:
                if create is not None:
                    return create()
                raise errors.NotFound.object(rt.plural, rt.group, name)
            requested = mutate(copy.deepcopy(current))
            if not isinstance(requested, dict):
                raise errors.BadRequest("the resulting object must be a JSON object")
            wanted_rv = (requested.get("metadata") or {}).get("resourceVersion") or ""
            if wanted_rv and wanted_rv != current["metadata"]["resourceVersion"]:
                raise errors.Conflict.stale(rt.plural, rt.group, name)
            if not wanted_rv and not rt.allow_unconditional_update:
                raise errors.Invalid.fields(rt.kind, rt.group, name, [errors.FieldCause(
                    "metadata.resourceVersion", "Invalid value: 0x0: must be specified for an update")])
            obj = self._prepare_update(rt, requested, current, subresource)
            obj["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
            if obj == current:
                return Result(self._output(rt, current))
            warnings = self.webhooks.validate(admission.AdmissionRequest(
                "UPDATE", rt, subresource, ns, name, obj, current, dry_run))
            if dry_run:
                return Result(self._output(rt, obj), 200, warnings)
            with self.store.lock:
                latest = self.store.get(gr, ns, name)
                if latest is None or latest["metadata"]["resourceVersion"] != current["metadata"]["resourceVersion"]:
                    continue  # changed meanwhile: recompute (a stale explicit rv then fails)
                if deleting.removable(rt, obj):
                    # An update emptying the finalizers of a deleting object (grace 0) deletes it
                    # without writing it: one DELETED event, no MODIFIED (apiserver generic
                    # registry `shouldDeleteDuringUpdate` → `deleteWithoutFinalizers`).
                    return Result(self._output(rt, self._remove(rt, ns, name)), 200, warnings)
                stored = self.store.update(gr, obj)
                if rt.group_resource == _CRDS and not deleting.is_deleting(stored):
                    self.types.apply_crd(stored)
            return Result(self._output(rt, stored), 200, warnings)
        raise errors.Conflict.stale(rt.plural, rt.group, name)

    def update(self, rt: ResourceType, namespace: str | None, name: str, body: Any, *,
               subresource: str = "", dry_run: bool = False) -> Result:
        """PUT (main resource, ``status`` or ``finalize``). 409 on a stale resourceVersion."""
        obj = self._check_body(rt, body, namespace, name)
        return self._guaranteed_update(rt, namespace, name, lambda _current: copy.deepcopy(obj),
                                       subresource=subresource, dry_run=dry_run)

    def patch(self, rt: ResourceType, namespace: str | None, name: str, patch_type: str,
              body: Any, *, subresource: str = "", dry_run: bool = False,
              field_manager: str | None = None) -> Result:
        """PATCH with one of :data:`patching.PATCH_TYPES` (see patching.py).

        A resourceVersion inside the patch is a precondition (409 when stale). Apply patches
        need ``field_manager`` and create the object when it does not exist (201).
        """
        if patch_type == patching.APPLY_PATCH:
            if not field_manager:
                raise errors.BadRequest("PATCH: fieldManager is required for apply requests")
            self._check_body(rt, body, namespace, name)

        def mutate(current: dict[str, Any]) -> dict[str, Any]:
            try:
                if patch_type == patching.JSON_PATCH:
                    result = patching.json_patch(current, body)
                elif patch_type == patching.MERGE_PATCH:
                    result = patching.merge_patch(current, body)
                elif patch_type == patching.STRATEGIC_MERGE_PATCH:
                    if rt.crd is not None:
                        result = patching.merge_patch(current, body)
                    else:
                        result = patching.strategic_merge_patch(current, body)
                else:
                    result = patching.apply_patch(current, body, strategic=rt.crd is None)
            except patching.PatchError as exc:
                if exc.malformed:
                    raise errors.BadRequest(str(exc)) from exc
                raise errors.Invalid(str(exc)) from exc
            if not isinstance(result, dict):
                raise errors.BadRequest("the patch must produce a JSON object")
            return self._check_body(rt, result, namespace, name)

        def create() -> Result:
            if patch_type != patching.APPLY_PATCH or subresource:
                raise errors.NotFound.object(rt.plural, rt.group, name)
            created = self.create(rt, namespace, self._check_body(rt, body, namespace, name),
                                  dry_run=dry_run)
            return created

        return self._guaranteed_update(rt, namespace, name, mutate, subresource=subresource,
                                       dry_run=dry_run, create=create)

    # -------------------------------------------------------------------------- delete
    def _deleted_body(self, rt: ResourceType, final: dict[str, Any]) -> dict[str, Any]:
        return deleting.deleted_response(rt, final) or self._output(rt, final)

    def delete(self, rt: ResourceType, namespace: str | None, name: str,
               options: DeleteOptions | None = None) -> Result:
        """DELETE one object (preconditions, grace period, propagation policy, finalizers).

        Immediate removal answers with the object (pods, services) or a Success Status;
        a deletion left pending answers with the object carrying its deletionTimestamp.
        """
        options = options or DeleteOptions()
        gr, ns = rt.group_resource, namespace or ""
        for _ in range(MAX_UPDATE_ATTEMPTS):
            current = self.store.get(gr, ns, name)
            if current is None:
                raise errors.NotFound.object(rt.plural, rt.group, name)
            cur_meta = current["metadata"]
            if options.precondition_uid and options.precondition_uid != cur_meta["uid"]:
                raise errors.Conflict(
                    f"Precondition failed: UID in precondition: {options.precondition_uid}, "
                    f"UID in object meta: {cur_meta['uid']}",
                    details={"name": name, "kind": rt.plural, "group": rt.group})
            if (options.precondition_resource_version
                    and options.precondition_resource_version != cur_meta["resourceVersion"]):
                raise errors.Conflict(
                    "Precondition failed: ResourceVersion in precondition: "
                    f"{options.precondition_resource_version}, ResourceVersion in object meta: "
                    f"{cur_meta['resourceVersion']}",
                    details={"name": name, "kind": rt.plural, "group": rt.group})
            pending = deleting.deletion_state(rt, current, options,
                                              has_dependents=bool(self.store.dependents(cur_meta["uid"])))
            if pending is not None and pending == current:
                return Result(self._output(rt, current))
            warnings = self.webhooks.validate(admission.AdmissionRequest(
                "DELETE", rt, "", ns, name, None, current, options.dry_run))
            if options.dry_run:
                return Result(self._output(rt, pending) if pending else
                              self._deleted_body(rt, current), 200, warnings)
            with self.store.lock:
                latest = self.store.get(gr, ns, name)
                if latest is None or latest["metadata"]["resourceVersion"] != cur_meta["resourceVersion"]:
                    continue
                if pending is None:
                    final = self._remove(rt, ns, name)
                    return Result(self._deleted_body(rt, final), 200, warnings)
                stored = self.store.update(gr, pending)
            return Result(self._output(rt, stored), 200, warnings)
        raise errors.Conflict.stale(rt.plural, rt.group, name)

    def delete_collection(self, rt: ResourceType, namespace: str | None, options: ListOptions,
                          delete_options: DeleteOptions) -> Result:
        """DELETE on a collection: deletes every matching object; answers with their list."""
        listed = self.list(rt, namespace, ListOptions(options.label_selector, options.field_selector))
        deleted = []
        for obj in listed.body["items"]:
            obj_meta = obj["metadata"]
            try:
                result = self.delete(rt, obj_meta.get("namespace"), obj_meta["name"], delete_options)
            except errors.NotFound:
                continue
            deleted.append(result.body if result.body.get("kind") == rt.kind else obj)
        return Result({"apiVersion": rt.api_version, "kind": rt.list_kind,
                       "metadata": listed.body["metadata"], "items": deleted})

    # ------------------------------------------------------------------------- binding
    def bind(self, rt: ResourceType, namespace: str | None, name: str, body: Any) -> Result:
        """POST pods/<name>/binding: set ``spec.nodeName`` once (409 if already bound)."""
        if not isinstance(body, dict) or not isinstance(body.get("target"), dict) \
                or not body["target"].get("name"):
            raise errors.Invalid.fields("Binding", "", name, [errors.FieldCause(
                "target.name", "Required value", "FieldValueRequired")])
        node = body["target"]["name"]
        gr, ns = rt.group_resource, namespace or ""
        with self.store.lock:
            current = self.store.get(gr, ns, name)
            if current is None:
                raise errors.NotFound.object(rt.plural, rt.group, name)
            if deleting.is_deleting(current):
                raise errors.Conflict(f"pod {name} is being deleted, cannot be assigned to a host")
            spec = current.setdefault("spec", {})
            if spec.get("nodeName"):
                raise errors.Conflict(f'pod {name} is already assigned to node "{spec["nodeName"]}"')
            spec["nodeName"] = node
            self.store.update(gr, current)
        return Result({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                       "code": 201}, 201)
