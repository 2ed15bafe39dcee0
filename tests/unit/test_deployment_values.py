"""The helm-values an admin needs where it is deployed (issue 12, cases 3 and 6), as values
merged over Zero to JupyterHub's own, the way `helm -f` merges them.

- openshift.yaml: the pod the spawner then makes is admitted by restricted-v2 (the SCC
  rules of workspace_spawner_testing.openshift_scc), where the chart's defaults are not;
- network-policy.yaml: the notebook reaches the API server and its own project's pods
  under the chart's singleuser NetworkPolicy, and still nothing else private.
"""

from __future__ import annotations

import ipaddress

import pytest
from z2jh_support import Z2JH, chart_values, spawner_traits

from workspace_spawner.kube import to_dict
from workspace_spawner_testing import openshift_scc

pytestmark = pytest.mark.skipif(
    not (Z2JH / "values.yaml").exists(), reason="the z2jh chart data is not beside this checkout"
)

NAMESPACE = openshift_scc.namespace_annotations(68)
RESTRICTED = [s for s in openshift_scc.DEFAULT_SCCS if s["metadata"]["name"] == "restricted-v2"]
BASE_FILES = ("workspace-spawner.yaml", "volumes.yaml")


async def pod_for(make_spawner, *files: str) -> dict:
    traits = spawner_traits(chart_values(*files))
    spawner = make_spawner("alice", **traits)
    # what ensure_workspace_volumes() finds out before the pod: the claim was just made
    spawner._volume_setup = {"created": True, "request": "", "request_backup": ""}
    return to_dict(await spawner.get_pod_manifest())


async def test_chart_defaults_are_rejected_by_restricted_v2(make_spawner):
    pod = await pod_for(make_spawner, *BASE_FILES)
    verdict = openshift_scc.admit_pod(pod, namespace_annotations=NAMESPACE, sccs=RESTRICTED)
    assert not verdict.allowed
    assert "runAsUser: Invalid value: 1000" in verdict.denial
    assert "fsGroup: Invalid value: [100]" in verdict.denial
    assert "Privileged containers are not allowed" in verdict.denial  # block-cloud-metadata


async def test_openshift_values_run_under_restricted_v2(make_spawner):
    pod = await pod_for(make_spawner, *BASE_FILES, "openshift.yaml")
    assert "fsGroup" not in (pod["spec"].get("securityContext") or {})
    setup = next(c for c in pod["spec"]["initContainers"] if c["name"] == "setup-volume")
    assert "runAsUser" not in setup["securityContext"]
    verdict = openshift_scc.admit_pod(pod, namespace_annotations=NAMESPACE, sccs=RESTRICTED)
    assert verdict.allowed, verdict.denial
    first = int(NAMESPACE[openshift_scc.UID_RANGE_ANNOTATION].split("/")[0])
    admitted = verdict.pod["spec"]
    assert admitted["securityContext"]["fsGroup"] == first
    assert {
        c["securityContext"]["runAsUser"]
        for c in admitted["containers"] + admitted["initContainers"]
    } == {first}


# -- case 6: egress under the chart's singleuser NetworkPolicy ---------------------------

PRIVATE = [ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")]
METADATA = ipaddress.ip_address("169.254.169.254")


def _matches_labels(selector: dict, labels: dict) -> bool:
    return all(labels.get(k) == v for k, v in (selector.get("matchLabels") or {}).items())


def _peer_matches(peer: dict, dest: dict) -> bool:
    if "ipBlock" in peer:
        block = peer["ipBlock"]
        ip = ipaddress.ip_address(dest["ip"])
        return ip in ipaddress.ip_network(block["cidr"]) and not any(
            ip in ipaddress.ip_network(e) for e in block.get("except") or []
        )
    if dest.get("namespace_labels") is None:
        return False  # namespace and pod selectors select pods only
    if "namespaceSelector" in peer and not _matches_labels(
        peer["namespaceSelector"], dest["namespace_labels"]
    ):
        return False
    if (
        "namespaceSelector" not in peer
        and dest["namespace_labels"].get("kubernetes.io/metadata.name") != "jupyterhub"
    ):
        return False
    return _matches_labels(peer.get("podSelector") or {}, dest.get("pod_labels") or {})


def _rule_matches(rule: dict, dest: dict) -> bool:
    ports = rule.get("ports") or []
    if ports and not any(p.get("port") == dest["port"] for p in ports):
        return False
    peers = rule.get("to") or []
    return not peers or any(_peer_matches(p, dest) for p in peers)


def egress_allowed(policy: dict, dest: dict) -> bool:
    """The chart's singleuser policy: egressAllowRules (as its template renders them) + egress."""
    allow = policy["egressAllowRules"]
    ip = ipaddress.ip_address(dest["ip"])
    private = any(ip in n for n in PRIVATE)
    if dest["port"] == 53 and (allow["dnsPortsPrivateIPs"] and private):
        return True
    if allow["privateIPs"] and private:
        return True
    if allow["nonPrivateIPs"] and not private and ip != METADATA:
        return True
    if allow["cloudMetadataServer"] and ip == METADATA:
        return True
    return any(_rule_matches(rule, dest) for rule in policy.get("egress") or [])


PROJECT_NS = {
    "kubernetes.io/metadata.name": "alice-workspace",
    "app.kubernetes.io/managed-by": "workspace-spawner",
}
DESTINATIONS = {
    # (destination, allowed with network-policy.yaml)
    "API server on OpenShift (6443)": ({"ip": "172.30.0.1", "port": 6443}, True),
    "API server behind the kubernetes Service (443)": ({"ip": "10.0.0.1", "port": 443}, True),
    "Dask scheduler in the user's project": (
        {"ip": "10.128.2.5", "port": 8786, "namespace_labels": PROJECT_NS},
        True,
    ),
    "a database in another namespace": (
        {
            "ip": "10.128.3.9",
            "port": 5432,
            "namespace_labels": {"kubernetes.io/metadata.name": "databases"},
        },
        False,
    ),
    "the cloud metadata server": ({"ip": "169.254.169.254", "port": 80}, False),
}


@pytest.mark.parametrize("name", list(DESTINATIONS))
def test_egress_under_the_charts_policy(name):
    dest, allowed = DESTINATIONS[name]
    chart = chart_values(*BASE_FILES)["singleuser"]["networkPolicy"]
    ours = chart_values(*BASE_FILES, "network-policy.yaml")["singleuser"]["networkPolicy"]
    assert ours["enabled"] and not ours["egressAllowRules"]["privateIPs"]
    assert egress_allowed(ours, dest) is allowed
    if name != "the cloud metadata server" and ipaddress.ip_address(dest["ip"]).is_private:
        # what issue 12 found: the chart's policy alone cuts these off
        assert egress_allowed(chart, dest) is False
