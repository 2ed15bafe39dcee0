"""OpenShift's SecurityContextConstraints admission of pods, as pure functions.

No emulator and no HTTP here: a pod (the API's JSON), its namespace's annotations and
the SCCs its ServiceAccount may use go in; the pod as OpenShift admits it (with the
values the SCC assigns and the ``openshift.io/scc`` annotation) or a denial comes out.
The emulator's OpenShift mode calls :func:`admit_pod` for every pod it creates; the
real control plane can serve the same function as an admission webhook.

Modelled on OpenShift 4's admission plugin
(https://docs.openshift.com/container-platform/latest/authentication/managing-security-context-constraints.html):

- the usable SCCs are tried by priority (highest first), then most restrictive first,
  then by name; the first under which the pod validates, after that SCC has filled in
  what the pod leaves unset, wins;
- ``MustRunAsRange`` (runAsUser): the first UID of the namespace's
  ``openshift.io/sa.scc.uid-range`` is assigned to every container that sets none; a
  UID outside the range is refused;
- ``MustRunAs`` (fsGroup, and supplementalGroups where an SCC says so): the ranges of
  ``openshift.io/sa.scc.supplemental-groups`` (else the UID range); the first is
  assigned to an unset fsGroup, a group outside them is refused;
- ``MustRunAsNonRoot``: runAsNonRoot is set when no UID is, UID 0 refused;
- seLinuxContext ``MustRunAs``: the level of ``openshift.io/sa.scc.mcs`` is assigned;
- required drop of capabilities, allowed added capabilities, privilege escalation,
  privileged containers, host namespaces and ports, seccomp profiles, volume types.

Not modelled: SCCs granted to the requesting user (only the pod's ServiceAccount
counts, which is how workloads get them), AppArmor, sysctls, flexVolume drivers,
host paths of ``hostaccess`` and ``hostmount-anyuid``.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

__all__ = [
    "DEFAULT_SCCS",
    "UID_RANGE_ANNOTATION",
    "SUPPLEMENTAL_GROUPS_ANNOTATION",
    "MCS_ANNOTATION",
    "SCC_ANNOTATION",
    "Admission",
    "admit_pod",
    "namespace_annotations",
    "parse_ranges",
    "service_account_subject",
    "usable_sccs",
]

UID_RANGE_ANNOTATION = "openshift.io/sa.scc.uid-range"
SUPPLEMENTAL_GROUPS_ANNOTATION = "openshift.io/sa.scc.supplemental-groups"
MCS_ANNOTATION = "openshift.io/sa.scc.mcs"
SCC_ANNOTATION = "openshift.io/scc"
# OpenShift's namespace-security-allocation controller hands out blocks of 10000 ids
# from 1000000000 (its default uid range 1000000000-1999999999/10000).
FIRST_UID = 1_000_000_000
BLOCK_SIZE = 10_000

_RESTRICTED_VOLUMES = [
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "persistentVolumeClaim",
    "projected",
    "secret",
]


def _scc(name: str, *, without: tuple[str, ...] = (), **differs: Any) -> dict[str, Any]:
    """An SCC as OpenShift ships it: what every shipped SCC shares, ``differs`` on top,
    less the fields it does not set (``without``)."""
    scc: dict[str, Any] = {
        "apiVersion": "security.openshift.io/v1",
        "kind": "SecurityContextConstraints",
        "metadata": {"name": name},
        "priority": None,
        "allowPrivilegedContainer": False,
        "allowPrivilegeEscalation": False,
        "defaultAllowPrivilegeEscalation": False,
        "allowHostNetwork": False,
        "allowHostPID": False,
        "allowHostIPC": False,
        "allowHostPorts": False,
        "allowHostDirVolumePlugin": False,
        "requiredDropCapabilities": ["ALL"],
        "allowedCapabilities": ["NET_BIND_SERVICE"],
        "runAsUser": {"type": "MustRunAsRange"},
        "fsGroup": {"type": "MustRunAs"},
        "supplementalGroups": {"type": "RunAsAny"},
        "seLinuxContext": {"type": "MustRunAs"},
        "seccompProfiles": ["runtime/default"],
        "volumes": list(_RESTRICTED_VOLUMES),
        "users": [],
        "groups": [],
    }
    scc.update(differs)
    for field_name in without:
        del scc[field_name]
    return scc


# The three SCCs a workload meets, as OpenShift 4.11+ ships them (oc get scc -o yaml);
# restricted-v2 is usable by every authenticated user and ServiceAccount.
DEFAULT_SCCS: list[dict[str, Any]] = [
    _scc("restricted-v2", groups=["system:authenticated"]),
    _scc("nonroot-v2", runAsUser={"type": "MustRunAsNonRoot"}, fsGroup={"type": "RunAsAny"}),
    _scc(
        "anyuid",
        priority=10,
        allowPrivilegeEscalation=True,
        requiredDropCapabilities=["MKNOD"],
        allowedCapabilities=[],
        runAsUser={"type": "RunAsAny"},
        fsGroup={"type": "RunAsAny"},
        seccompProfiles=[],
        groups=["system:cluster-admins"],
        without=("defaultAllowPrivilegeEscalation",),
    ),
]

# restrictiveness of a strategy: lower is stricter (OpenShift's pointValue ordering)
_USER_POINTS = {"MustRunAs": 1, "MustRunAsRange": 2, "MustRunAsNonRoot": 3, "RunAsAny": 4}
_GROUP_POINTS = {"MustRunAs": 1, "RunAsAny": 2}


@dataclass(frozen=True)
class Admission:
    """The verdict: ``pod`` (mutated) and ``scc`` when admitted, else ``denial``."""

    pod: dict[str, Any] | None
    scc: str | None
    denial: str | None

    @property
    def allowed(self) -> bool:
        return self.denial is None


def parse_ranges(value: str | None) -> list[tuple[int, int]]:
    """``"1000680000/10000"`` or ``"1000680000-1000689999,..."`` -> [(first, last), ...]."""
    ranges = []
    for part in (value or "").split(","):
        part = part.strip()
        if not part:
            continue
        if "/" in part:
            first, size = part.split("/", 1)
            ranges.append((int(first), int(first) + int(size) - 1))
        else:
            first, last = part.split("-", 1)
            ranges.append((int(first), int(last)))
    return ranges


def namespace_annotations(index: int) -> dict[str, str]:
    """The annotations OpenShift's controllers give the ``index``-th namespace (from 0).

    Each namespace gets its own block of UIDs and groups and its own MCS label.
    """
    first = FIRST_UID + index * BLOCK_SIZE
    # MCS labels are pairs of categories (c1,c0), (c2,c0), (c2,c1), ...: one per namespace
    high, low = 1, index
    while low >= high:
        low -= high
        high += 1
    return {
        UID_RANGE_ANNOTATION: f"{first}/{BLOCK_SIZE}",
        SUPPLEMENTAL_GROUPS_ANNOTATION: f"{first}/{BLOCK_SIZE}",
        MCS_ANNOTATION: f"s0:c{high},c{low}",
    }


def service_account_subject(*, namespace: str, name: str) -> tuple[str, list[str]]:
    """The user name and groups a ServiceAccount acts as, which SCCs name in users/groups.

    https://kubernetes.io/docs/reference/access-authn-authz/rbac/#referring-to-subjects
    """
    return (
        f"system:serviceaccount:{namespace}:{name}",
        ["system:serviceaccounts", f"system:serviceaccounts:{namespace}", "system:authenticated"],
    )


def usable_sccs(
    sccs: Iterable[dict[str, Any]], *, user: str, groups: Iterable[str]
) -> list[dict[str, Any]]:
    """The SCCs whose ``users`` or ``groups`` name the user (a ServiceAccount's user name).

    OpenShift also grants an SCC through RBAC (``use`` on
    ``securitycontextconstraints``); a caller that has an authoriser adds those.
    """
    groups = set(groups)
    return [
        scc
        for scc in sccs
        if user in (scc.get("users") or []) or groups & set(scc.get("groups") or [])
    ]


def admit_pod(
    pod: dict[str, Any],
    *,
    namespace_annotations: dict[str, str],
    sccs: Iterable[dict[str, Any]],
) -> Admission:
    """Admit ``pod`` under the first of ``sccs`` it validates against, as OpenShift does."""
    reasons: list[str] = []
    for scc in sorted(sccs, key=_order):
        candidate = copy.deepcopy(pod)
        errors = _apply(scc, candidate, namespace_annotations)
        name = scc["metadata"]["name"]
        if not errors:
            annotations = candidate.setdefault("metadata", {}).setdefault("annotations", {})
            annotations[SCC_ANNOTATION] = name
            return Admission(pod=candidate, scc=name, denial=None)
        reasons.extend(f'provider "{name}": {e}' for e in errors)
    if not reasons:
        reasons.append("no security context constraint is usable by the pod's service account")
    pod_name = (pod.get("metadata") or {}).get("name", "")
    return Admission(
        pod=None,
        scc=None,
        denial=(
            f'pods "{pod_name}" is forbidden: unable to validate against any security '
            f"context constraint: [{', '.join(reasons)}]"
        ),
    )


def _order(scc: dict[str, Any]) -> tuple[int, int, str]:
    priority = scc.get("priority") or 0
    points = _USER_POINTS.get(
        (scc.get("runAsUser") or {}).get("type", "RunAsAny"), 4
    ) * 10 + _GROUP_POINTS.get((scc.get("fsGroup") or {}).get("type", "RunAsAny"), 2)
    if scc.get("allowPrivilegedContainer"):
        points += 1000
    return (-priority, points, scc["metadata"]["name"])


def _in(value: int, ranges: list[tuple[int, int]]) -> bool:
    return any(first <= value <= last for first, last in ranges)


def _show(ranges: list[tuple[int, int]]) -> str:
    return ", ".join(f"{first}-{last}" for first, last in ranges)


def _containers(spec: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    found = []
    for field in ("initContainers", "containers", "ephemeralContainers"):
        for i, container in enumerate(spec.get(field) or []):
            found.append((f"spec.{field}[{i}]", container))
    return found


def _apply(scc: dict[str, Any], pod: dict[str, Any], annotations: dict[str, str]) -> list[str]:
    """Fill in what ``scc`` assigns, then return why the pod does not validate (or [])."""
    errors: list[str] = []
    spec = pod.setdefault("spec", {})
    psc = spec.setdefault("securityContext", {})
    uid_ranges = parse_ranges(annotations.get(UID_RANGE_ANNOTATION))
    group_ranges = parse_ranges(annotations.get(SUPPLEMENTAL_GROUPS_ANNOTATION)) or uid_ranges
    user_type = (scc.get("runAsUser") or {}).get("type", "RunAsAny")
    fs_type = (scc.get("fsGroup") or {}).get("type", "RunAsAny")
    sup_type = (scc.get("supplementalGroups") or {}).get("type", "RunAsAny")

    # -- pod level ------------------------------------------------------------------
    for flag, field in (
        ("allowHostNetwork", "hostNetwork"),
        ("allowHostPID", "hostPID"),
        ("allowHostIPC", "hostIPC"),
    ):
        if spec.get(field) and not scc.get(flag):
            errors.append(f"spec.{field}: Invalid value: true: Host {field[4:]} is not allowed")
    if (user_type == "MustRunAsRange" or fs_type == "MustRunAs") and not uid_ranges:
        errors.append(f"unable to find annotation {UID_RANGE_ANNOTATION} on the namespace")
        return errors
    if fs_type == "MustRunAs":
        if psc.get("fsGroup") is None:
            psc["fsGroup"] = group_ranges[0][0]
        elif not _in(psc["fsGroup"], group_ranges):
            errors.append(
                f"spec.securityContext.fsGroup: Invalid value: [{psc['fsGroup']}]: "
                f"{psc['fsGroup']} is not an allowed group (ranges: {_show(group_ranges)})"
            )
    if sup_type == "MustRunAs":
        for group in psc.get("supplementalGroups") or []:
            if not _in(group, group_ranges):
                errors.append(
                    f"spec.securityContext.supplementalGroups: Invalid value: [{group}]: "
                    f"{group} is not an allowed group (ranges: {_show(group_ranges)})"
                )
        if not psc.get("supplementalGroups"):
            psc["supplementalGroups"] = [group_ranges[0][0]]
    if (scc.get("seLinuxContext") or {}).get("type") == "MustRunAs":
        level = annotations.get(MCS_ANNOTATION)
        options = psc.setdefault("seLinuxOptions", {})
        if level and not options.get("level"):
            options["level"] = level
        elif level and options.get("level") != level:
            errors.append(
                f"spec.securityContext.seLinuxOptions.level: Invalid value: "
                f"{options.get('level')!r}: must be {level!r}"
            )
    allowed_seccomp = scc.get("seccompProfiles") or []
    if allowed_seccomp and "*" not in allowed_seccomp:
        profile = psc.get("seccompProfile")
        if profile is None:
            psc["seccompProfile"] = {"type": "RuntimeDefault"}
        elif _seccomp_name(profile) not in allowed_seccomp:
            errors.append(
                f"spec.securityContext.seccompProfile.type: Invalid value: "
                f"{profile.get('type')!r}: must be one of {allowed_seccomp}"
            )

    # -- volumes ----------------------------------------------------------------------
    allowed_volumes = set(scc.get("volumes") or [])
    for i, volume in enumerate(spec.get("volumes") or []):
        kinds = [k for k in volume if k != "name"]
        for kind in kinds:
            if "*" not in allowed_volumes and kind not in allowed_volumes:
                errors.append(
                    f"spec.volumes[{i}]: Invalid value: {kind!r}: {kind} volumes are not "
                    f"allowed to be used"
                )

    # -- containers -----------------------------------------------------------------
    drop_required = list(scc.get("requiredDropCapabilities") or [])
    allowed_caps = set(scc.get("allowedCapabilities") or [])
    for where, container in _containers(spec):
        csc = container.setdefault("securityContext", {})
        uid = csc.get("runAsUser", psc.get("runAsUser"))
        if user_type == "MustRunAsRange":
            if uid is None:
                csc["runAsUser"] = uid = uid_ranges[0][0]
            elif not _in(uid, uid_ranges):
                errors.append(
                    f"{where}.securityContext.runAsUser: Invalid value: {uid}: must be in the "
                    f"ranges: [{_show(uid_ranges)}]"
                )
        elif user_type == "MustRunAsNonRoot":
            non_root = csc.get("runAsNonRoot", psc.get("runAsNonRoot"))
            if uid == 0 or non_root is False:
                errors.append(
                    f"{where}.securityContext.runAsNonRoot: Invalid value: false: running "
                    f"with the root UID is forbidden"
                )
            elif uid is None and non_root is None:
                csc["runAsNonRoot"] = True
        if csc.get("privileged") and not scc.get("allowPrivilegedContainer"):
            errors.append(
                f"{where}.securityContext.privileged: Invalid value: true: Privileged "
                f"containers are not allowed"
            )
        escalation = csc.get("allowPrivilegeEscalation")
        if escalation is None:
            if not scc.get("defaultAllowPrivilegeEscalation", True) or not scc.get(
                "allowPrivilegeEscalation", True
            ):
                csc["allowPrivilegeEscalation"] = False
        elif escalation and not scc.get("allowPrivilegeEscalation", True):
            errors.append(
                f"{where}.securityContext.allowPrivilegeEscalation: Invalid value: true: "
                f"Allowing privilege escalation for containers is not allowed"
            )
        capabilities = csc.setdefault("capabilities", {})
        drop = list(capabilities.get("drop") or [])
        for cap in drop_required:
            if cap not in drop and "ALL" not in drop:
                drop.append(cap)
        if drop:
            capabilities["drop"] = drop
        for cap in capabilities.get("add") or []:
            if cap not in allowed_caps:
                errors.append(
                    f"{where}.securityContext.capabilities.add: Invalid value: {cap!r}: "
                    f"capability may not be added"
                )
        if not capabilities:
            csc.pop("capabilities")
        for port in container.get("ports") or []:
            if port.get("hostPort") and not scc.get("allowHostPorts"):
                errors.append(
                    f"{where}.ports: Invalid value: {port['hostPort']}: Host ports are not "
                    f"allowed to be used"
                )
    return errors


def _seccomp_name(profile: dict[str, Any]) -> str:
    """A profile as SCCs name them: runtime/default, unconfined, localhost/<file>."""
    kind = profile.get("type")
    if kind == "RuntimeDefault":
        return "runtime/default"
    if kind == "Unconfined":
        return "unconfined"
    return f"localhost/{profile.get('localhostProfile', '')}"
