"""OpenShift's project API and SCC admission on the real control plane.

``project.openshift.io`` is our aggregated API server behind the kube-apiserver's
aggregator; restricted-v2 and its siblings are admission webhooks serving the
emulator's own rules (workspace_spawner_testing.openshift). These tests run in the
OpenShift pass of ``make test-cluster`` (WORKSPACE_SPAWNER_TEST_OPENSHIFT names the
layer's description); each one speaks to the kube-apiserver as a static token user,
the stand-in for an OpenShift OAuth user, or as the cluster admin.
"""

from __future__ import annotations

import json
import os
import ssl
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest

pytestmark = [pytest.mark.real_cluster, pytest.mark.openshift]

GROUP = "project.openshift.io"
PROJECTS = f"/apis/{GROUP}/v1/projects"
PROJECT_REQUESTS = f"/apis/{GROUP}/v1/projectrequests"


@pytest.fixture(scope="module")
def layer() -> dict:
    path = os.environ.get("WORKSPACE_SPAWNER_TEST_OPENSHIFT")
    if not path:
        pytest.skip("needs the OpenShift layer: the OpenShift pass of make test-cluster")
    return json.loads(Path(path).read_text())


@pytest.fixture(scope="module")
def admin(layer: dict):
    from workspace_spawner_testing.controlplane import Client

    return Client.from_kubeconfig(os.environ["WORKSPACE_SPAWNER_TEST_ADMIN_KUBECONFIG"])


@pytest.fixture(scope="module")
def users(layer: dict) -> dict:
    from workspace_spawner_testing.controlplane import Client

    return {name: Client.from_kubeconfig(path) for name, path in layer["user_kubeconfigs"].items()}


@pytest.fixture
def project_names(admin):
    """``project_names(n)``: fresh project names, their namespaces deleted afterwards."""
    made: list[str] = []

    def make(count: int = 1) -> list[str]:
        names = [f"os-{uuid.uuid4().hex[:8]}" for _ in range(count)]
        made.extend(names)
        return names

    yield make
    for name in made:
        try:
            admin.request("DELETE", f"/api/v1/namespaces/{name}")
        except urllib.error.HTTPError as e:
            if e.code != 404:
                raise


def request_project(client, name: str, **fields: str) -> dict:
    return client.request(
        "POST",
        PROJECT_REQUESTS,
        {
            "apiVersion": f"{GROUP}/v1",
            "kind": "ProjectRequest",
            "metadata": {"name": name},
            **fields,
        },
    )


def status_of(call) -> tuple[int, dict]:
    """The HTTP status and decoded Status of a call expected to fail."""
    with pytest.raises(urllib.error.HTTPError) as raised:
        call()
    return raised.value.code, json.loads(raised.value.read() or b"{}")


def patch(client, path: str, body: dict) -> dict:
    request = urllib.request.Request(
        client.url + path,
        method="PATCH",
        data=json.dumps(body).encode(),
        headers={
            "Authorization": f"Bearer {client.token}",
            "Accept": "application/json",
            "Content-Type": "application/merge-patch+json",
        },
    )
    context = ssl.create_default_context(cafile=str(client.ca_file))
    with urllib.request.urlopen(request, context=context, timeout=30) as answer:
        return json.loads(answer.read())


# -- discovery ------------------------------------------------------------------------


async def test_discovery_shows_the_project_group_so_auto_detection_picks_openshift(layer, kube):
    from kubernetes_asyncio.client import CoreV1Api

    from workspace_spawner.kube.projects import detect_openshift

    async with kube.api_client() as api:  # the hub's own ServiceAccount
        assert await detect_openshift(api=CoreV1Api(api))


# -- the aggregator's trust -----------------------------------------------------------


def _direct(layer: dict, *, cert: tuple[Path, Path] | None) -> int:
    """GET the project list straight from the aggregated server, claiming system:masters."""
    context = ssl.create_default_context(cafile=layer["ca"])
    if cert:
        context.load_cert_chain(str(cert[0]), str(cert[1]))
    request = urllib.request.Request(
        layer["url"] + PROJECTS,
        headers={"X-Remote-User": "mallory", "X-Remote-Group": "system:masters"},
    )
    try:
        with urllib.request.urlopen(request, context=context, timeout=10) as answer:
            return answer.status
    except urllib.error.HTTPError as e:
        return e.code


@pytest.mark.parametrize(
    ("signer", "common_name", "expected"),
    [
        (None, None, 401),  # no certificate: anyone on the host could claim to be anyone
        ("front-proxy", "mallory", 401),  # the right CA, but not an allowed name
        ("front-proxy", "front-proxy-client", 200),  # the aggregator itself
    ],
)
def test_identity_headers_are_believed_only_from_the_aggregators_certificate(
    layer, tmp_path, signer, common_name, expected
):
    from workspace_spawner_testing.controlplane import pki

    cert = None
    if signer:
        ca = pki.KeyPair(
            Path(layer["front_proxy_ca"]["cert"]), Path(layer["front_proxy_ca"]["key"])
        )
        pair = pki.issue(
            ca=ca, directory=tmp_path, name="client", common_name=common_name, client=True
        )
        cert = (pair.cert, pair.key)
    assert _direct(layer, cert=cert) == expected


def test_a_certificate_of_another_ca_is_refused_in_the_handshake(layer, tmp_path):
    from workspace_spawner_testing.controlplane import pki

    other = pki.make_ca(directory=tmp_path, name="other-ca", common_name="other")
    pair = pki.issue(
        ca=other, directory=tmp_path, name="client", common_name="front-proxy-client", client=True
    )
    with pytest.raises((ssl.SSLError, urllib.error.URLError, ConnectionError)):
        _direct(layer, cert=(pair.cert, pair.key))


# -- projectrequests ------------------------------------------------------------------


def test_a_project_request_makes_the_namespace_openshift_makes(admin, users, project_names):
    alice_project, bob_project = project_names(2)
    project = request_project(
        users["alice"], alice_project, displayName="Alice's work", description="notebooks"
    )
    assert project["kind"] == "Project"
    request_project(users["bob"], bob_project)
    namespaces = [
        admin.request("GET", f"/api/v1/namespaces/{n}") for n in (alice_project, bob_project)
    ]
    alice, bob = (ns["metadata"]["annotations"] for ns in namespaces)
    assert alice["openshift.io/requester"] == "alice"
    assert alice["openshift.io/display-name"] == "Alice's work"
    assert alice["openshift.io/description"] == "notebooks"
    assert bob["openshift.io/requester"] == "bob"
    first, size = alice["openshift.io/sa.scc.uid-range"].split("/")
    assert int(first) >= 1_000_000_000 and int(size) == 10_000
    assert (
        alice["openshift.io/sa.scc.supplemental-groups"] == alice["openshift.io/sa.scc.uid-range"]
    )
    for key in ("openshift.io/sa.scc.uid-range", "openshift.io/sa.scc.mcs"):
        assert alice[key] != bob[key], key
    binding = admin.request(
        "GET", f"/apis/rbac.authorization.k8s.io/v1/namespaces/{alice_project}/rolebindings/admin"
    )
    assert binding["roleRef"]["name"] == "admin"
    assert [s["name"] for s in binding["subjects"]] == ["alice"]


def test_a_project_request_for_a_taken_or_reserved_name_is_refused(users, project_names):
    (name,) = project_names()
    request_project(users["alice"], name)
    code, status = status_of(lambda: request_project(users["bob"], name))
    assert (code, status["reason"]) == (409, "AlreadyExists")
    code, _ = status_of(lambda: request_project(users["bob"], "openshift-infra"))
    assert code == 403


def test_listing_project_requests_tells_whether_the_user_may_self_provision(admin, users):
    """``oc new-project`` lists projectrequests first; an admin who removes the
    ``self-provisioners`` binding's subjects turns self-provisioning off."""
    path = "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/self-provisioners"
    assert users["alice"].request("GET", PROJECT_REQUESTS)["status"] == "Success"
    binding = admin.request("GET", path)
    admin.request("PUT", path, {**binding, "subjects": []})
    try:
        code, status = status_of(lambda: users["alice"].request("GET", PROJECT_REQUESTS))
        assert code == 403
        assert "may not request a new project" in status["message"]
        code, _ = status_of(lambda: request_project(users["alice"], "os-never"))
        assert code == 403
    finally:
        current = admin.request("GET", path)
        admin.request("PUT", path, {**current, "subjects": binding["subjects"]})


# -- projects -------------------------------------------------------------------------


def _names(client) -> set[str]:
    return {p["metadata"]["name"] for p in client.request("GET", PROJECTS)["items"]}


def test_a_users_project_list_shows_their_own_and_the_ones_given(admin, users, project_names):
    """The notebook's ``oc projects``: with the user's token, only what they may see."""
    from workspace_spawner_testing.openshift.install import role_grant

    alice_own, bob_shared, bob_private = project_names(3)
    request_project(users["alice"], alice_own)
    request_project(users["bob"], bob_shared)
    request_project(users["bob"], bob_private)
    # bob, admin of his project, gives alice view there (oc adm policy add-role-to-user)
    users["bob"].apply(role_grant("view", user="alice", project=bob_shared))
    alice_sees = _names(users["alice"])
    assert {alice_own, bob_shared} <= alice_sees
    assert bob_private not in alice_sees
    assert "kube-system" not in alice_sees and "default" not in alice_sees
    assert alice_own not in _names(users["bob"])
    assert (
        users["alice"].request("GET", f"{PROJECTS}/{bob_shared}")["metadata"]["name"] == bob_shared
    )
    code, status = status_of(lambda: users["alice"].request("GET", f"{PROJECTS}/{bob_private}"))
    assert (code, status["reason"]) == (403, "Forbidden")
    assert {alice_own, bob_shared, bob_private} <= _names(admin)


def test_only_a_projects_admin_deletes_it(admin, users, project_names):
    from workspace_spawner_testing.openshift.install import role_grant

    (name,) = project_names()
    request_project(users["bob"], name)
    users["bob"].apply(role_grant("edit", user="alice", project=name))
    code, _ = status_of(lambda: users["alice"].request("DELETE", f"{PROJECTS}/{name}"))
    assert code == 403
    assert users["bob"].request("DELETE", f"{PROJECTS}/{name}")["status"] == "Success"
    try:
        namespace = admin.request("GET", f"/api/v1/namespaces/{name}")
    except urllib.error.HTTPError as e:
        assert e.code == 404
    else:
        assert namespace["status"]["phase"] == "Terminating"


@pytest.mark.parametrize(
    ("change", "allowed"),
    [
        ({"metadata": {"labels": {"hub.jupyter.org/username": "alice"}}}, False),
        ({"metadata": {"annotations": {"openshift.io/requester": "mallory"}}}, False),
        ({"metadata": {"annotations": {"openshift.io/display-name": "Renamed"}}}, True),
    ],
)
def test_only_display_name_and_description_change_through_the_project(
    admin, users, project_names, change, allowed
):
    (name,) = project_names()
    request_project(users["alice"], name)
    if allowed:
        patch(users["alice"], f"{PROJECTS}/{name}", change)
        annotations = admin.request("GET", f"/api/v1/namespaces/{name}")["metadata"]["annotations"]
        assert annotations["openshift.io/display-name"] == "Renamed"
        return
    with pytest.raises(urllib.error.HTTPError) as raised:
        patch(users["alice"], f"{PROJECTS}/{name}", change)
    assert raised.value.code == 422
    assert "immutable" in json.loads(raised.value.read())["message"]


# -- SCC admission --------------------------------------------------------------------


def _pod(
    name: str,
    *,
    service_account: str = "default",
    pod_security: dict | None = None,
    container_security: dict | None = None,
    volumes: list | None = None,
) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {
            "serviceAccountName": service_account,
            "securityContext": pod_security or {},
            "containers": [
                {
                    "name": "notebook",
                    "image": "quay.io/jupyter/base",
                    "securityContext": container_security or {},
                }
            ],
            "volumes": volumes or [],
        },
    }


def _create_pod(admin, namespace: str, pod: dict) -> dict:
    return admin.request("POST", f"/api/v1/namespaces/{namespace}/pods", pod)


def _service_account(admin, namespace: str, name: str) -> None:
    admin.apply(
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": name, "namespace": namespace},
        }
    )


def test_every_namespace_gets_its_own_ranges(admin, kube):
    annotations = admin.request("GET", f"/api/v1/namespaces/{kube.namespace}")["metadata"][
        "annotations"
    ]
    assert annotations["openshift.io/sa.scc.uid-range"].endswith("/10000")
    assert annotations["openshift.io/sa.scc.mcs"].startswith("s0:c")


def test_restricted_v2_assigns_the_namespaces_uid_and_group(admin, kube):
    _service_account(admin, kube.namespace, "default")
    annotations = admin.request("GET", f"/api/v1/namespaces/{kube.namespace}")["metadata"][
        "annotations"
    ]
    first = int(annotations["openshift.io/sa.scc.uid-range"].split("/")[0])
    pod = _create_pod(admin, kube.namespace, _pod("plain"))
    assert pod["metadata"]["annotations"]["openshift.io/scc"] == "restricted-v2"
    container = pod["spec"]["containers"][0]["securityContext"]
    assert container["runAsUser"] == first
    assert container["allowPrivilegeEscalation"] is False
    assert container["capabilities"]["drop"] == ["ALL"]
    assert pod["spec"]["securityContext"]["fsGroup"] == first
    assert pod["spec"]["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert (
        pod["spec"]["securityContext"]["seLinuxOptions"]["level"]
        == annotations["openshift.io/sa.scc.mcs"]
    )


@pytest.mark.parametrize(
    ("pod", "complaint"),
    [
        (_pod("uid", container_security={"runAsUser": 1000}), "runAsUser"),
        (_pod("fsgroup", pod_security={"fsGroup": 100}), "fsGroup"),
        (_pod("privileged", container_security={"privileged": True}), "Privileged"),
        (
            _pod("escalation", container_security={"allowPrivilegeEscalation": True}),
            "privilege escalation",
        ),
        (_pod("caps", container_security={"capabilities": {"add": ["SYS_ADMIN"]}}), "SYS_ADMIN"),
        (_pod("hostpath", volumes=[{"name": "h", "hostPath": {"path": "/etc"}}]), "hostPath"),
    ],
)
def test_restricted_v2_refuses_what_it_does_not_allow(admin, kube, pod, complaint):
    _service_account(admin, kube.namespace, "default")
    code, status = status_of(lambda: _create_pod(admin, kube.namespace, pod))
    assert code == 403
    assert "restricted-v2" in status["message"] and complaint in status["message"]


@pytest.mark.parametrize(
    ("scc", "uid", "admitted_as"),
    [
        ("anyuid", 0, "anyuid"),
        ("anyuid", 1000, "anyuid"),
        ("nonroot-v2", 1000, "nonroot-v2"),
        ("nonroot-v2", 0, None),
    ],
)
def test_an_scc_granted_to_a_service_account_admits_its_pods(admin, kube, scc, uid, admitted_as):
    """``oc adm policy add-scc-to-user <scc> -z <sa>``; other ServiceAccounts keep
    restricted-v2."""
    from workspace_spawner_testing.openshift.install import scc_grant

    for account in ("default", "granted"):
        _service_account(admin, kube.namespace, account)
    admin.apply(scc_grant(scc, namespace=kube.namespace, service_account="granted"))
    pod = _pod("granted", service_account="granted", container_security={"runAsUser": uid})
    if admitted_as is None:
        code, _ = status_of(lambda: _create_pod(admin, kube.namespace, pod))
        assert code == 403
    else:
        created = _create_pod(admin, kube.namespace, pod)
        assert created["metadata"]["annotations"]["openshift.io/scc"] == admitted_as
    other = _pod("other", container_security={"runAsUser": uid})
    code, _ = status_of(lambda: _create_pod(admin, kube.namespace, other))
    assert code == 403
