"""What the API server rejects with 422 Invalid: bad names and schema violations.

Objects are checked against the official OpenAPI-derived JSON schema shipped by the
`kubernetes-validate` package (pinned to Kubernetes 1.37, strict: unknown fields are
errors, as with `kubectl --validate=strict` / server-side field validation).
https://kubernetes.io/docs/reference/using-api/api-concepts/#field-validation
"""

from __future__ import annotations

import functools
import re

import jsonschema
import referencing
from kubernetes_validate.utils import schema_contents

from .errors import invalid
from .resources import Kind

SCHEMA_VERSION = "1.37.0"
_SCHEMA_DIR = f"kubernetes-json-schema/v{SCHEMA_VERSION}-local-strict"

# https://kubernetes.io/docs/concepts/overview/working-with-objects/names/
_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS1035 = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_NAME_RULES = {
    "label": (
        63,
        _LABEL,
        "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or "
        "'-', and must start and end with an alphanumeric character (e.g. 'my-name', or "
        "'123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')",
    ),
    # Service names: RFC 1035 labels (https://kubernetes.io/docs/concepts/overview/
    # working-with-objects/names/#rfc-1035-label-names)
    "dns1035": (
        63,
        _DNS1035,
        "a DNS-1035 label must consist of lower case alphanumeric characters or '-', "
        "start with an alphabetic character, and end with an alphanumeric character "
        "(e.g. 'my-name',  or 'abc-123', regex used for validation is "
        "'[a-z]([-a-z0-9]*[a-z0-9])?')",
    ),
    "subdomain": (
        253,
        _SUBDOMAIN,
        "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric "
        "characters, '-' or '.', and must start and end with an alphanumeric character "
        "(e.g. 'example.com', regex used for validation is "
        "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')",
    ),
}
# RBAC names are path segments: anything but "/" and "%" and "." / ".."
_PATH_SEGMENT_BAD = re.compile(r"[/%]")


def name_errors(kind: Kind, name: str) -> list[str]:
    if kind.group == "rbac.authorization.k8s.io":
        if name in (".", "..") or _PATH_SEGMENT_BAD.search(name):
            return ['may not contain "/" or "%" or be "." or ".."']
        return []
    max_length, pattern, message = _NAME_RULES[kind.name_rule]
    problems = []
    if len(name) > max_length:
        problems.append(f"must be no more than {max_length} characters")
    if not pattern.match(name):
        problems.append(message)
    return problems


def check_name(kind: Kind, name: str) -> None:
    if not name:
        raise invalid(
            kind.kind,
            name,
            [("metadata.name", "Required value: name or generateName is required")],
            group=kind.group,
        )
    problems = name_errors(kind, name)
    if problems:
        raise invalid(
            kind.kind,
            name,
            [("metadata.name", f'Invalid value: "{name}": {p}') for p in problems],
            group=kind.group,
        )


@functools.cache
def _registry() -> referencing.Registry:
    definitions = schema_contents(f"{_SCHEMA_DIR}/_definitions.json", SCHEMA_VERSION)
    return referencing.Resource.from_contents(definitions) @ referencing.Registry()


@functools.cache
def _validator(kind: str, api_version: str) -> jsonschema.protocols.Validator:
    # the package's file naming: rbac.authorization.k8s.io/v1 -> rbac-v1
    group_version = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    schema = schema_contents(f"{_SCHEMA_DIR}/{kind.lower()}-{group_version}.json", SCHEMA_VERSION)
    registry = referencing.Resource.from_contents(schema) @ _registry()
    return jsonschema.validators.Draft202012Validator(schema, registry=registry)


@functools.cache
def _status_validator(kind: str, api_version: str) -> jsonschema.protocols.Validator | None:
    """The kind's ``status`` alone (a write of the status subresource changes nothing else)."""
    whole = _validator(kind, api_version).schema
    status = whole.get("properties", {}).get("status")
    if status is None:
        return None
    schema = {"$schema": whole["$schema"], "$id": whole["$id"] + "/status", **status}
    registry = referencing.Resource.from_contents(schema) @ _registry()
    return jsonschema.validators.Draft202012Validator(schema, registry=registry)


def _path(error: jsonschema.ValidationError) -> str:
    out = ""
    for part in error.absolute_path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def check_schema(kind: Kind, obj: dict, *, status_only: bool = False) -> None:
    """``status_only``: a write of the status subresource, whose other fields are the
    stored object's (checked when they were written): only the status is checked, as
    kube-apiserver's status strategies validate the status update (the node agent's
    writes are most of a pod's, and a whole pod's check is the emulator's costliest)."""
    name = obj.get("metadata", {}).get("name", "")
    if not kind.schema:
        _check_by_hand(kind, obj)
        return
    if status_only and (validator := _status_validator(kind.kind, kind.api_version)):
        error = jsonschema.exceptions.best_match(validator.iter_errors(obj.get("status") or {}))
        if error is not None:
            path = "status" + ("." + _path(error) if error.absolute_path else "")
            path = path.replace(".[", "[")
            raise invalid(kind.kind, name, [(path, error.message)], group=kind.group)
        return
    validator = _validator(kind.kind, kind.api_version)
    error = jsonschema.exceptions.best_match(validator.iter_errors(obj))
    if error is not None:
        raise invalid(kind.kind, name, [(_path(error), error.message)], group=kind.group)


def _check_by_hand(kind: Kind, obj: dict) -> None:
    """OpenShift kinds and CRDs have no schema in kubernetes-validate: the fields we know."""
    allowed = {
        "Project": {"apiVersion", "kind", "metadata", "spec", "status"},
        "ProjectRequest": {"apiVersion", "kind", "metadata", "displayName", "description"},
        "VolumeSnapshot": {"apiVersion", "kind", "metadata", "spec", "status"},
        "VolumeSnapshotContent": {"apiVersion", "kind", "metadata", "spec", "status"},
        "VolumeSnapshotClass": {
            "apiVersion",
            "kind",
            "metadata",
            "driver",
            "deletionPolicy",
            "parameters",
        },
        # https://docs.openshift.com/container-platform/latest/rest_api/security_apis/securitycontextconstraints-security-openshift-io-v1.html
        "SecurityContextConstraints": {
            "apiVersion",
            "kind",
            "metadata",
            "priority",
            "allowPrivilegedContainer",
            "allowPrivilegeEscalation",
            "defaultAllowPrivilegeEscalation",
            "allowHostNetwork",
            "allowHostPID",
            "allowHostIPC",
            "allowHostPorts",
            "allowHostDirVolumePlugin",
            "requiredDropCapabilities",
            "allowedCapabilities",
            "defaultAddCapabilities",
            "runAsUser",
            "fsGroup",
            "supplementalGroups",
            "seLinuxContext",
            "seccompProfiles",
            "volumes",
            "users",
            "groups",
            "readOnlyRootFilesystem",
            "allowedFlexVolumes",
            "allowedUnsafeSysctls",
            "forbiddenSysctls",
        },
    }[kind.kind]
    name = obj.get("metadata", {}).get("name", "")
    unknown = sorted(set(obj) - allowed)
    if unknown:
        raise invalid(
            kind.kind, name, [("", f'unknown field "{f}"') for f in unknown], group=kind.group
        )
    if kind.kind == "VolumeSnapshot":
        # the CRD's rule: exactly one source
        # https://github.com/kubernetes-csi/external-snapshotter/blob/master/client/config/crd/snapshot.storage.k8s.io_volumesnapshots.yaml
        source = (obj.get("spec") or {}).get("source") or {}
        given = [
            k for k in ("persistentVolumeClaimName", "volumeSnapshotContentName") if k in source
        ]
        if len(given) != 1:
            raise invalid(
                kind.kind,
                name,
                [
                    (
                        "spec.source",
                        "Invalid value: exactly one of persistentVolumeClaimName and "
                        "volumeSnapshotContentName must be set",
                    )
                ],
                group=kind.group,
            )
    for text_field in ("displayName", "description"):
        if text_field in obj and not isinstance(obj[text_field], str):
            raise invalid(kind.kind, name, [(text_field, "must be a string")], group=kind.group)
