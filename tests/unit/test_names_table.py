"""Every name derived from a username is valid and distinct (issue 12 "Names", issue 11).

A table of awkward usernames (e-mail addresses of 60-120 characters, dots, capitals,
unicode, names that are prefixes of others or look like another user's derived name)
goes through the spawner's own naming; each derived name must be valid for its kind and
no two users, nor two volumes of one user, may share one, even where names are cut.
"""

from __future__ import annotations

import re

import pytest

from workspace_spawner.conda import manifests as conda_manifests
from workspace_spawner.project import manifests as project_manifests
from workspace_spawner.volumes import checks as volume_checks
from workspace_spawner.volumes import manifests as volume_manifests

LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")  # DNS-1123 label
SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
CONFIGMAP_KEY = re.compile(r"^[-._a-zA-Z0-9]+$")


def _email(length: int, tag: str) -> str:
    local = f"firstname.lastname.{tag}"
    domain = "@department.university-example.edu"
    return (local + "x" * (length - len(local) - len(domain)) + domain)[:length]


USERNAMES = [
    "alice",
    "alice-data",  # alice's volume "data" must not be this user's home
    "alice-docs",
    "alice--data",  # what a derived name looks like
    "alice-2esmith",  # what KubeSpawner 6 made of alice.smith
    "alice.smith",
    "Alice.Smith",
    "ALICE",
    "al",
    "a",
    "jürgen.müller",
    "山田太郎",
    "zoë@example.org",
    "firstname.lastname@department.university-example.edu",
    "firstname.lastname@department.university-example.edu.",
    _email(60, "a"),
    _email(60, "b"),  # same 60-character prefix as the one above but one character
    _email(90, "a"),
    _email(120, "a"),
    _email(120, "b"),
    _email(120, "a").upper(),
    "x" * 120,
    "x" * 121,
]
VOLUMES = {
    "data": {"mount_path": "/data", "capacity": "1Gi"},
    "docs": {"mount_path": "/docs", "capacity": "1Gi"},
    "d": {"mount_path": "/d", "capacity": "1Gi"},
}


def valid(kind: str, name: str) -> bool:
    if kind in ("pod volume", "project"):
        return bool(LABEL.match(name))
    return len(name) <= 253 and bool(SUBDOMAIN.match(name))


@pytest.fixture
async def names(make_spawner):
    """username -> kind -> the names of that kind derived for the user."""
    table = {}
    for username in USERNAMES:
        spawner = make_spawner(username, workspace_volumes=VOLUMES, workspace_project_enabled=True)
        claims = [spawner._pvc_name_for(v) for v in ("home", *VOLUMES)]
        table[username] = {
            "PVC": claims,
            "pod volume": [volume_manifests.pod_volume_name(c) for c in claims],
            "project": [spawner.workspace_project_name],
            "ServiceAccount": [spawner.workspace_project_service_account],
            "Secret": [spawner._workspace_project_token_secret],
            # one RoleBinding per project, so (project, name) identifies it
            "RoleBinding": [
                f"{spawner.workspace_project_name}/{project_manifests.ROLE_BINDING_NAME}"
            ],
            "pod": [spawner.pod_name],
        }
    return table


KINDS = ["PVC", "pod volume", "project", "ServiceAccount", "Secret", "RoleBinding", "pod"]


@pytest.mark.parametrize("kind", KINDS)
def test_every_derived_name_is_valid(names, kind):
    for username, derived in names.items():
        for name in derived[kind]:
            checked = name.split("/")[0] if kind == "RoleBinding" else name
            assert valid(kind, checked), f"{kind} {name!r} of {username!r}"


@pytest.mark.parametrize("kind", KINDS)
def test_no_two_users_or_volumes_share_a_name(names, kind):
    owners: dict[str, str] = {}
    for username, derived in names.items():
        for name in derived[kind]:
            assert name not in owners, f"{kind} {name!r}: {owners.get(name)!r} and {username!r}"
            owners[name] = username


def test_extra_claims_never_equal_a_home_claim(names):
    homes = {derived["PVC"][0] for derived in names.values()}
    extras = {claim for derived in names.values() for claim in derived["PVC"][1:]}
    assert not homes & extras


def test_configmap_keys_are_fixed_and_valid():
    # the conda ConfigMap is one per namespace, its keys do not depend on any username
    data = {conda_manifests.SCRIPT_KEY: "script"}
    assert all(CONFIGMAP_KEY.match(key) for key in data)


@pytest.mark.parametrize("key", ["a--b", "data--", "-data", "home", "Data", "x" * 31])
def test_volume_keys_that_could_break_the_names_are_refused(key):
    with pytest.raises(ValueError, match="cannot name a volume"):
        volume_checks.check_volume_key(key, setting="workspace_volumes")
