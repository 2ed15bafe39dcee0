"""The VolumeSnapshot CRDs (snapshot.storage.k8s.io/v1) for the real control plane.

The schema of kubernetes-csi/external-snapshotter v8.2.0,
client/config/crd/snapshot.storage.k8s.io_volumesnapshots.yaml,
..._volumesnapshotcontents.yaml and ..._volumesnapshotclasses.yaml
(https://github.com/kubernetes-csi/external-snapshotter/tree/v8.2.0/client/config/crd):
the same fields, required fields, one-of sources, immutability rules, status
subresource and short names, without the field descriptions. Only v1 is served (the
v1beta1 of older releases is not).
"""

from __future__ import annotations

from typing import Any

__all__ = ["SNAPSHOT_CRDS", "GROUP"]

GROUP = "snapshot.storage.k8s.io"
_STRING = {"type": "string"}
# a resource.Quantity, as controller-gen writes its pattern
_QUANTITY = (
    r"^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|"
    r"([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$"
)


def _immutable(field: str) -> dict[str, str]:
    return {"message": f"{field} is immutable", "rule": "self == oldSelf"}


def _crd(
    *, kind: str, plural: str, short: list[str], scope: str, schema: dict, columns: list[dict]
) -> dict[str, Any]:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": f"{plural}.{GROUP}",
            "annotations": {
                "api-approved.kubernetes.io": "https://github.com/kubernetes-csi/external-snapshotter/pull/814",
                "controller-gen.kubebuilder.io/version": "v0.15.0",
            },
        },
        "spec": {
            "group": GROUP,
            "names": {
                "kind": kind,
                "listKind": f"{kind}List",
                "plural": plural,
                "singular": kind.lower(),
                "shortNames": short,
            },
            "scope": scope,
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "additionalPrinterColumns": columns,
                    "schema": {"openAPIV3Schema": schema},
                    **({"subresources": {"status": {}}} if kind != "VolumeSnapshotClass" else {}),
                }
            ],
        },
    }


def _object(properties: dict, required: list[str] | None = None, **more: Any) -> dict:
    schema: dict[str, Any] = {"type": "object", "properties": properties, **more}
    if required:
        schema["required"] = required
    return schema


_ERROR = _object({"message": _STRING, "time": {"type": "string", "format": "date-time"}})
_TOP = {"apiVersion": _STRING, "kind": _STRING, "metadata": {"type": "object"}}

VOLUME_SNAPSHOT_SCHEMA = _object(
    {
        **_TOP,
        "spec": _object(
            {
                "source": _object(
                    {
                        "persistentVolumeClaimName": {
                            **_STRING,
                            "x-kubernetes-validations": [_immutable("persistentVolumeClaimName")],
                        },
                        "volumeSnapshotContentName": {
                            **_STRING,
                            "x-kubernetes-validations": [_immutable("volumeSnapshotContentName")],
                        },
                    },
                    oneOf=[
                        {"required": ["persistentVolumeClaimName"]},
                        {"required": ["volumeSnapshotContentName"]},
                    ],
                    **{"x-kubernetes-validations": [_immutable("source")]},
                ),
                "volumeSnapshotClassName": _STRING,
            },
            ["source"],
            **{
                "x-kubernetes-validations": [
                    {
                        "message": "volumeSnapshotClassName must not be the empty string when set",
                        "rule": "!has(self.volumeSnapshotClassName) || size(self.volumeSnapshotClassName) > 0",
                    }
                ]
            },
        ),
        "status": _object(
            {
                "boundVolumeSnapshotContentName": _STRING,
                "creationTime": {"type": "string", "format": "date-time"},
                "error": _ERROR,
                "readyToUse": {"type": "boolean"},
                "restoreSize": {
                    "anyOf": [{"type": "integer"}, {"type": "string"}],
                    "pattern": _QUANTITY,
                    "x-kubernetes-int-or-string": True,
                },
                "volumeGroupSnapshotName": _STRING,
            }
        ),
    },
    ["spec"],
)

VOLUME_SNAPSHOT_CONTENT_SCHEMA = _object(
    {
        **_TOP,
        "spec": _object(
            {
                "deletionPolicy": {"type": "string", "enum": ["Delete", "Retain"]},
                "driver": _STRING,
                "source": _object(
                    {
                        "snapshotHandle": {
                            **_STRING,
                            "x-kubernetes-validations": [_immutable("snapshotHandle")],
                        },
                        "volumeHandle": {
                            **_STRING,
                            "x-kubernetes-validations": [_immutable("volumeHandle")],
                        },
                    },
                    oneOf=[{"required": ["snapshotHandle"]}, {"required": ["volumeHandle"]}],
                    **{"x-kubernetes-validations": [_immutable("source")]},
                ),
                "sourceVolumeMode": _STRING,
                "volumeSnapshotClassName": _STRING,
                "volumeSnapshotRef": _object(
                    {
                        "apiVersion": _STRING,
                        "fieldPath": _STRING,
                        "kind": _STRING,
                        "name": _STRING,
                        "namespace": _STRING,
                        "resourceVersion": _STRING,
                        "uid": _STRING,
                    },
                    **{
                        "x-kubernetes-map-type": "atomic",
                        "x-kubernetes-validations": [
                            {
                                "message": "both spec.volumeSnapshotRef.name and "
                                "spec.volumeSnapshotRef.namespace must be set",
                                "rule": "has(self.name) && has(self.__namespace__)",
                            }
                        ],
                    },
                ),
            },
            ["deletionPolicy", "driver", "source", "volumeSnapshotRef"],
        ),
        "status": _object(
            {
                "creationTime": {"type": "integer", "format": "int64"},
                "error": _ERROR,
                "readyToUse": {"type": "boolean"},
                "restoreSize": {"type": "integer", "format": "int64", "minimum": 0},
                "snapshotHandle": _STRING,
                "volumeGroupSnapshotHandle": _STRING,
            }
        ),
    },
    ["spec"],
)

VOLUME_SNAPSHOT_CLASS_SCHEMA = _object(
    {
        **_TOP,
        "deletionPolicy": {"type": "string", "enum": ["Delete", "Retain"]},
        "driver": _STRING,
        "parameters": {"type": "object", "additionalProperties": _STRING},
    },
    ["deletionPolicy", "driver"],
)


def _column(name: str, path: str, kind: str = "string") -> dict[str, str]:
    return {"name": name, "jsonPath": path, "type": kind}


SNAPSHOT_CRDS: list[dict[str, Any]] = [
    _crd(
        kind="VolumeSnapshotClass",
        plural="volumesnapshotclasses",
        short=["vsclass", "vsclasses"],
        scope="Cluster",
        schema=VOLUME_SNAPSHOT_CLASS_SCHEMA,
        columns=[
            _column("Driver", ".driver"),
            _column("DeletionPolicy", ".deletionPolicy"),
            _column("Age", ".metadata.creationTimestamp", "date"),
        ],
    ),
    _crd(
        kind="VolumeSnapshotContent",
        plural="volumesnapshotcontents",
        short=["vsc", "vscs"],
        scope="Cluster",
        schema=VOLUME_SNAPSHOT_CONTENT_SCHEMA,
        columns=[
            _column("ReadyToUse", ".status.readyToUse", "boolean"),
            _column("RestoreSize", ".status.restoreSize", "integer"),
            _column("DeletionPolicy", ".spec.deletionPolicy"),
            _column("Driver", ".spec.driver"),
            _column("VolumeSnapshot", ".spec.volumeSnapshotRef.name"),
            _column("Age", ".metadata.creationTimestamp", "date"),
        ],
    ),
    _crd(
        kind="VolumeSnapshot",
        plural="volumesnapshots",
        short=["vs"],
        scope="Namespaced",
        schema=VOLUME_SNAPSHOT_SCHEMA,
        columns=[
            _column("ReadyToUse", ".status.readyToUse", "boolean"),
            _column("SourcePVC", ".spec.source.persistentVolumeClaimName"),
            _column("RestoreSize", ".status.restoreSize"),
            _column("SnapshotClass", ".spec.volumeSnapshotClassName"),
            _column("SnapshotContent", ".status.boundVolumeSnapshotContentName"),
            _column("Age", ".metadata.creationTimestamp", "date"),
        ],
    ),
]
