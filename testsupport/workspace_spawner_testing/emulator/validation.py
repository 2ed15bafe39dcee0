"""What the API server rejects with 422 Invalid: bad names and schema violations.

Objects are checked against the official OpenAPI-derived JSON schema shipped by the
`kubernetes-validate` package (pinned to Kubernetes 1.37, strict: unknown fields are
errors, as with `kubectl --validate=strict` / server-side field validation).
https://kubernetes.io/docs/reference/using-api/api-concepts/#field-validation

Each write is first checked by the schema compiled into plain Python predicates (the
few keywords these schemas use: type, enum, properties, additionalProperties, required,
items, oneOf, $ref), which only decides that an object is valid; anything it does not
pass goes to `jsonschema`, whose verdict and message stand. The compiled check refuses
to compile a schema with any other keyword jsonschema validates, so it never admits
what jsonschema refuses (tests/integration/emulator/test_schema_check.py compares the
two). jsonschema took ~40 ms per pod under a class's load, the compiled check well
under one; jsonschema and its format checkers are imported only when an object fails.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import invalid
from .resources import Kind

if TYPE_CHECKING:
    import jsonschema
    import referencing

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


def schema_contents(filename: str) -> Any:
    """A schema file of the kubernetes-validate package, found without importing it
    (its __init__ imports jsonschema, seconds at a loaded emulator's start)."""
    spec = importlib.util.find_spec("kubernetes_validate")
    assert spec is not None and spec.origin is not None
    return json.loads((Path(spec.origin).parent / _SCHEMA_DIR / filename).read_text())


def _schema_file(kind: str, api_version: str) -> str:
    # the package's file naming: rbac.authorization.k8s.io/v1 -> rbac-v1
    group_version = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    return f"{kind.lower()}-{group_version}.json"


@functools.cache
def _definitions() -> dict:
    return schema_contents("_definitions.json")


@functools.cache
def _registry() -> referencing.Registry:
    import referencing

    return referencing.Resource.from_contents(_definitions()) @ referencing.Registry()


@functools.cache
def _validator(kind: str, api_version: str) -> jsonschema.protocols.Validator:
    import jsonschema
    import referencing

    schema = schema_contents(_schema_file(kind, api_version))
    registry = referencing.Resource.from_contents(schema) @ _registry()
    return jsonschema.validators.Draft202012Validator(schema, registry=registry)


# -- the compiled check ---------------------------------------------------------------

Check = Callable[[Any], bool]

# what jsonschema's Draft202012Validator validates (its VALIDATORS); "format" only with
# a format checker, which the emulator's validator has not
_VALIDATING = {
    "$dynamicRef", "$ref", "additionalProperties", "allOf", "anyOf", "const", "contains",
    "dependentRequired", "dependentSchemas", "enum", "exclusiveMaximum", "exclusiveMinimum",
    "if", "items", "maxItems", "maxLength", "maxProperties", "maximum", "minItems",
    "minLength", "minProperties", "minimum", "multipleOf", "not", "oneOf", "pattern",
    "patternProperties", "prefixItems", "properties", "propertyNames", "required", "type",
    "unevaluatedItems", "unevaluatedProperties", "uniqueItems",
}  # fmt: skip
_COMPILED = {"$ref", "additionalProperties", "enum", "items", "oneOf", "properties"}
_COMPILED |= {"required", "type"}


def _is_integer(x: Any) -> bool:
    # as jsonschema's draft 6+ type checker: 1.0 is an integer, True is not
    return (isinstance(x, int) and not isinstance(x, bool)) or (
        isinstance(x, float) and x.is_integer()
    )


_TYPES: dict[str, Check] = {
    "string": lambda x: isinstance(x, str),
    "integer": _is_integer,
    "number": lambda x: isinstance(x, (int, float)) and not isinstance(x, bool),
    "boolean": lambda x: isinstance(x, bool),
    "object": lambda x: isinstance(x, dict),
    "array": lambda x: isinstance(x, list),
    "null": lambda x: x is None,
}


def _same(a: Any, b: Any) -> bool:
    """jsonschema's equality for enum: True is not 1, 1 is 1.0, containers deeply."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, dict)) or isinstance(b, (list, dict)):
        return False
    return a == b


class Unsupported(Exception):
    """A schema with a keyword the compiled check does not know: jsonschema alone."""


class _Compiler:
    def __init__(self, definitions: dict) -> None:
        self.definitions = definitions
        self.refs: dict[tuple[int, str], Check] = {}

    def ref(self, ref: Any, base: dict) -> Check:
        """A $ref, resolved as jsonschema does here: "/api/_definitions.json#..." from
        a kind's file, "#..." within the document that holds it."""
        if not isinstance(ref, str):
            raise Unsupported(repr(ref))
        document, _, pointer = ref.partition("#")
        if document.endswith("/_definitions.json"):
            base = self.definitions
        elif document:
            raise Unsupported(ref)
        key = (id(base), pointer)
        if key not in self.refs:
            # a recursive schema (JSONSchemaProps) refers to itself: a forward cell
            cell: list[Check] = []
            self.refs[key] = lambda x: cell[0](x)
            target: Any = base
            for part in pointer.split("/")[1:]:
                target = target[part.replace("~1", "/").replace("~0", "~")]
            cell.append(self.compile(target, base))
        return self.refs[key]

    def compile(self, schema: Any, base: dict) -> Check:
        if schema is True:
            return lambda x: True
        if schema is False:
            return lambda x: False
        if not isinstance(schema, dict):
            raise Unsupported(repr(schema))
        unknown = (schema.keys() & _VALIDATING) - _COMPILED
        if unknown:
            raise Unsupported(", ".join(sorted(unknown)))
        checks: list[Check] = []
        if "$ref" in schema:
            checks.append(self.ref(schema["$ref"], base))
        if "type" in schema:
            names = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
            if any(n not in _TYPES for n in names):
                raise Unsupported(f"type {names}")
            types = [_TYPES[n] for n in names]
            checks.append(lambda x: any(t(x) for t in types))
        if "enum" in schema:
            values = list(schema["enum"])
            checks.append(lambda x: any(_same(v, x) for v in values))
        properties = {k: self.compile(v, base) for k, v in (schema.get("properties") or {}).items()}
        if properties:
            checks.append(
                lambda x: (
                    not isinstance(x, dict)
                    or all(check(x[k]) for k, check in properties.items() if k in x)
                )
            )
        if "additionalProperties" in schema:
            extra = schema["additionalProperties"]
            if extra is False:
                allowed = set(properties)
                checks.append(lambda x: not isinstance(x, dict) or x.keys() <= allowed)
            elif extra is not True:
                other = self.compile(extra, base)
                checks.append(
                    lambda x: (
                        not isinstance(x, dict)
                        or all(other(v) for k, v in x.items() if k not in properties)
                    )
                )
        if "required" in schema:
            required = list(schema["required"])
            checks.append(lambda x: not isinstance(x, dict) or all(k in x for k in required))
        if "items" in schema:
            item = self.compile(schema["items"], base)
            checks.append(lambda x: not isinstance(x, list) or all(item(i) for i in x))
        if "oneOf" in schema:
            options = [self.compile(s, base) for s in schema["oneOf"]]
            checks.append(lambda x: sum(1 for o in options if o(x)) == 1)
        if len(checks) == 1:
            return checks[0]
        return lambda x: all(check(x) for check in checks)


@functools.cache
def _compiler() -> _Compiler:
    return _Compiler(_definitions())


@functools.cache
def compiled_check(kind: str, api_version: str) -> Check | None:
    """The kind's schema as a predicate that answers True only for what jsonschema
    accepts; None when the schema uses a keyword it does not compile."""
    try:
        schema = schema_contents(_schema_file(kind, api_version))
        return _compiler().compile(schema, schema)
    except Unsupported:
        return None


@functools.cache
def _status_validator(kind: str, api_version: str) -> jsonschema.protocols.Validator | None:
    """The kind's ``status`` alone (a write of the status subresource changes nothing else)."""
    import jsonschema
    import referencing

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
    stored object's (checked when they were written): the compiled check of the whole
    object passes it, or else its status alone is judged, as kube-apiserver's status
    strategies validate the status update (the node agent's writes are most of a pod's)."""
    name = obj.get("metadata", {}).get("name", "")
    if not kind.schema:
        _check_by_hand(kind, obj)
        return
    check = compiled_check(kind.kind, kind.api_version)
    if check is not None and check(obj):
        return
    # refused by the compiled check (or none compiled): jsonschema decides, and says why
    import jsonschema

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
