"""The restricted-v2, nonroot-v2 and anyuid SCC rules of workspace_spawner_testing.openshift_scc.

Each row is a pod, the SCCs its ServiceAccount may use, and what OpenShift does with it:
the SCC that admits it and the fields it assigns, or the denial's reason.
"""

from __future__ import annotations

import copy

import pytest

from workspace_spawner_testing import openshift_scc as scc

NS = scc.namespace_annotations(5)
FIRST = scc.parse_ranges(NS[scc.UID_RANGE_ANNOTATION])[0][0]
BY_NAME = {s["metadata"]["name"]: s for s in scc.DEFAULT_SCCS}


def sccs(*names: str) -> list[dict]:
    return [BY_NAME[n] for n in names]


def pod(container_context=None, pod_context=None, volumes=None, **spec) -> dict:
    container = {"name": "notebook", "image": "jupyter/base-notebook"}
    if container_context is not None:
        container["securityContext"] = container_context
    body = {
        "metadata": {"name": "jupyter-alice"},
        "spec": {"containers": [container], "volumes": volumes or [], **spec},
    }
    if pod_context is not None:
        body["spec"]["securityContext"] = pod_context
    return body


ADMITTED = {
    "unset fields are assigned from the namespace": (
        pod(),
        ["restricted-v2"],
        "restricted-v2",
        {
            "runAsUser": FIRST,
            "fsGroup": FIRST,
            "drop": ["ALL"],
            "escalation": False,
            "seccomp": "RuntimeDefault",
            "level": NS[scc.MCS_ANNOTATION],
        },
    ),
    "a UID inside the range is kept": (
        pod({"runAsUser": FIRST + 7}),
        ["restricted-v2"],
        "restricted-v2",
        {"runAsUser": FIRST + 7},
    ),
    "anyuid (priority 10) takes uid 1000 and fsGroup 100": (
        pod({"runAsUser": 1000}, {"fsGroup": 100}),
        ["restricted-v2", "anyuid"],
        "anyuid",
        {"runAsUser": 1000, "fsGroup": 100, "drop": ["MKNOD"]},
    ),
    "nonroot-v2 takes uid 1000 when restricted-v2 cannot": (
        pod({"runAsUser": 1000}),
        ["restricted-v2", "nonroot-v2"],
        "nonroot-v2",
        {"runAsUser": 1000, "drop": ["ALL"]},
    ),
    "restricted-v2 first when both admit": (
        pod(),
        ["nonroot-v2", "restricted-v2"],
        "restricted-v2",
        {"runAsUser": FIRST},
    ),
    "NET_BIND_SERVICE may be added": (
        pod({"capabilities": {"add": ["NET_BIND_SERVICE"], "drop": ["ALL"]}}),
        ["restricted-v2"],
        "restricted-v2",
        {},
    ),
}


@pytest.mark.parametrize("case", list(ADMITTED))
def test_admitted(case):
    body, granted, expected_scc, fields = ADMITTED[case]
    original = copy.deepcopy(body)
    verdict = scc.admit_pod(body, namespace_annotations=NS, sccs=sccs(*granted))
    assert verdict.allowed, verdict.denial
    assert body == original, "the pod passed in is never changed"
    assert verdict.scc == expected_scc
    admitted = verdict.pod
    assert admitted["metadata"]["annotations"][scc.SCC_ANNOTATION] == expected_scc
    psc = admitted["spec"]["securityContext"]
    csc = admitted["spec"]["containers"][0]["securityContext"]
    checks = {
        "runAsUser": lambda: csc["runAsUser"],
        "fsGroup": lambda: psc.get("fsGroup"),
        "drop": lambda: csc["capabilities"]["drop"],
        "escalation": lambda: csc["allowPrivilegeEscalation"],
        "seccomp": lambda: psc["seccompProfile"]["type"],
        "level": lambda: psc["seLinuxOptions"]["level"],
    }
    for key, value in fields.items():
        assert checks[key]() == value, key


DENIED = {
    "uid 1000 outside the range": (
        pod({"runAsUser": 1000}),
        ["restricted-v2"],
        "runAsUser: Invalid value: 1000: must be in the ranges",
    ),
    "fsGroup 100 outside the groups": (
        pod(pod_context={"fsGroup": 100}),
        ["restricted-v2"],
        "fsGroup: Invalid value: [100]",
    ),
    "privilege escalation": (
        pod({"allowPrivilegeEscalation": True}),
        ["restricted-v2"],
        "Allowing privilege escalation for containers is not allowed",
    ),
    "privileged": (
        pod({"privileged": True}),
        ["restricted-v2", "anyuid"],
        "Privileged containers are not allowed",
    ),
    "an added capability": (
        pod({"capabilities": {"add": ["NET_ADMIN"]}}),
        ["restricted-v2"],
        "'NET_ADMIN': capability may not be added",
    ),
    "an unconfined seccomp profile": (
        pod(pod_context={"seccompProfile": {"type": "Unconfined"}}),
        ["restricted-v2"],
        "seccompProfile.type: Invalid value: 'Unconfined'",
    ),
    "a hostPath volume": (
        pod(volumes=[{"name": "root", "hostPath": {"path": "/"}}]),
        ["restricted-v2", "anyuid"],
        "hostPath volumes are not allowed to be used",
    ),
    "the host's PID namespace": (pod(hostPID=True), ["restricted-v2"], "Host PID is not allowed"),
    "root under nonroot-v2": (
        pod({"runAsUser": 0}),
        ["nonroot-v2"],
        "running with the root UID is forbidden",
    ),
    "no usable SCC": (pod(), [], "no security context constraint is usable"),
}


@pytest.mark.parametrize("case", list(DENIED))
def test_denied(case):
    body, granted, reason = DENIED[case]
    verdict = scc.admit_pod(body, namespace_annotations=NS, sccs=sccs(*granted))
    assert not verdict.allowed and verdict.pod is None
    assert verdict.denial.startswith(
        'pods "jupyter-alice" is forbidden: unable to validate '
        "against any security context constraint"
    )
    assert reason in verdict.denial


def test_a_namespace_without_the_annotations_is_refused_under_must_run_as_range():
    verdict = scc.admit_pod(pod(), namespace_annotations={}, sccs=sccs("restricted-v2"))
    assert "unable to find annotation openshift.io/sa.scc.uid-range" in verdict.denial


def test_every_namespace_gets_its_own_ranges_and_mcs_label():
    seen = [scc.namespace_annotations(i) for i in range(2000)]
    for key in (scc.UID_RANGE_ANNOTATION, scc.MCS_ANNOTATION):
        assert len({a[key] for a in seen}) == 2000
    blocks = [scc.parse_ranges(a[scc.UID_RANGE_ANNOTATION])[0] for a in seen]
    assert all(a[1] < b[0] for a, b in zip(blocks, blocks[1:], strict=False))


@pytest.mark.parametrize(
    ("text", "ranges"),
    [
        ("1000680000/10000", [(1000680000, 1000689999)]),
        ("1000-1999,5000/10", [(1000, 1999), (5000, 5009)]),
        ("", []),
    ],
)
def test_parse_ranges(text, ranges):
    assert scc.parse_ranges(text) == ranges


def test_usable_sccs_by_user_and_group():
    sa = "system:serviceaccount:jupyterhub:default"
    granted = dict(BY_NAME["anyuid"], users=[sa])
    usable = scc.usable_sccs(
        [BY_NAME["restricted-v2"], granted, BY_NAME["nonroot-v2"]],
        user=sa,
        groups=["system:authenticated"],
    )
    assert [s["metadata"]["name"] for s in usable] == ["restricted-v2", "anyuid"]
