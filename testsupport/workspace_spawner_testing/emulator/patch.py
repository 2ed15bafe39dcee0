"""The three patch types of the Kubernetes API.

https://kubernetes.io/docs/tasks/manage-kubernetes-objects/update-api-object-kubectl-patch/
- JSON patch (RFC 6902), merge patch (RFC 7386), and strategic merge patch: a merge
  patch in which lists of named things (containers, volumes, ...) merge by their key.
"""

from __future__ import annotations

import copy
from typing import Any

from .errors import ApiError

JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"

# patchMergeKey of the lists this project patches (from the Go types' struct tags,
# e.g. https://github.com/kubernetes/api/blob/master/core/v1/types.go)
MERGE_KEYS = {
    "containers": "name",
    "initContainers": "name",
    "ephemeralContainers": "name",
    "volumes": "name",
    "volumeMounts": "mountPath",
    "env": "name",
    "ports": "containerPort",
    "imagePullSecrets": "name",
    "conditions": "type",
    "finalizers": None,  # a set of strings: merged, not replaced
    "ownerReferences": "uid",
}


def apply_patch(obj: dict, patch: Any, content_type: str) -> dict:
    if content_type.startswith(JSON_PATCH):
        return json_patch(obj, patch)
    if content_type.startswith(MERGE_PATCH):
        return merge_patch(obj, patch)
    if content_type.startswith(STRATEGIC_MERGE_PATCH):
        return strategic_merge(obj, patch)
    raise ApiError(
        415,
        f"the body of the request was in an unknown format - accepted media "
        f"types include: {JSON_PATCH}, {MERGE_PATCH}, {STRATEGIC_MERGE_PATCH}",
        reason="UnsupportedMediaType",
    )


def merge_patch(target: Any, patch: Any) -> Any:
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge_patch(out.get(key), value)
    return out


def strategic_merge(target: Any, patch: Any, key: str | None = None) -> Any:
    if isinstance(patch, list) and isinstance(target, list) and key in MERGE_KEYS:
        return _merge_list(target, patch, MERGE_KEYS[key])
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    if patch.get("$patch") == "replace":
        return {k: v for k, v in copy.deepcopy(patch).items() if k != "$patch"}
    out = copy.deepcopy(target) if isinstance(target, dict) else {}
    for k, value in patch.items():
        if k.startswith("$"):
            continue
        if value is None:
            out.pop(k, None)
        else:
            out[k] = strategic_merge(out.get(k), value, k)
    return out


def _merge_list(target: list, patch: list, merge_key: str | None) -> list:
    out = copy.deepcopy(target)
    if merge_key is None:  # a set of scalars
        return out + [v for v in patch if v not in out]
    index = {item.get(merge_key): i for i, item in enumerate(out) if isinstance(item, dict)}
    deleted = set()
    for item in patch:
        if not isinstance(item, dict):
            raise ApiError(400, f"expected a list of objects merged by {merge_key}")
        name = item.get(merge_key)
        if item.get("$patch") == "delete":
            deleted.add(name)
        elif name in index:
            out[index[name]] = strategic_merge(out[index[name]], item)
        else:
            index[name] = len(out)
            out.append(copy.deepcopy(item))
    return [i for i in out if not (isinstance(i, dict) and i.get(merge_key) in deleted)]


def _pointer(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise ApiError(422, f"invalid JSON pointer {path!r}", reason="Invalid")
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _walk(doc: Any, parts: list[str]) -> Any:
    for part in parts:
        if isinstance(doc, list):
            doc = doc[int(part)]
        else:
            doc = doc[part]
    return doc


def json_patch(obj: dict, operations: Any) -> dict:
    if not isinstance(operations, list):
        raise ApiError(400, "json patch must be a list of operations")
    doc = copy.deepcopy(obj)
    for op in operations:
        try:
            doc = _apply_op(doc, op)
        except (KeyError, IndexError, ValueError, TypeError) as e:
            raise ApiError(
                422,
                f"the server rejected our request due to an error in our "
                f"request: json patch {op.get('op')} operation does not apply: "
                f"doc is missing path: {op.get('path')!r}: {e}",
                reason="Invalid",
            ) from None
    return doc


def _apply_op(doc: Any, op: dict) -> Any:
    kind = op["op"]
    parts = _pointer(op["path"])
    if kind == "test":
        if _walk(doc, parts) != op["value"]:
            raise ValueError("testing value failed")
        return doc
    if kind in ("move", "copy"):
        value = copy.deepcopy(_walk(doc, _pointer(op["from"])))
        if kind == "move":
            doc = _apply_op(doc, {"op": "remove", "path": op["from"]})
        return _apply_op(doc, {"op": "add", "path": op["path"], "value": value})
    if not parts:
        if kind == "remove":
            raise ValueError("cannot remove the root")
        return copy.deepcopy(op["value"])
    parent = _walk(doc, parts[:-1])
    last = parts[-1]
    if isinstance(parent, list):
        index = len(parent) if last == "-" else int(last)
        if kind == "add":
            if index > len(parent):
                raise IndexError(index)
            parent.insert(index, copy.deepcopy(op["value"]))
        elif kind == "remove":
            del parent[index]
        elif kind == "replace":
            parent[index] = copy.deepcopy(op["value"])
        else:
            raise ValueError(f"unknown op {kind}")
    else:
        if kind == "add":
            parent[last] = copy.deepcopy(op["value"])
        elif kind == "remove":
            del parent[last]
        elif kind == "replace":
            if last not in parent:
                raise KeyError(last)
            parent[last] = copy.deepcopy(op["value"])
        else:
            raise ValueError(f"unknown op {kind}")
    return doc
