"""The project's name: valid, distinct and stable for any username."""

from types import SimpleNamespace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from kubespawner import KubeSpawner
from kubespawner.slugs import is_valid_object_name

from workspace_spawner.project.names import (
    notebook_service_account_name,
    project_name,
    template_fields,
)


def expand(template: str, username: str, userid: int = 1) -> str:
    """KubeSpawner's own expansion, on the fields a project name may use."""
    fake = SimpleNamespace(
        name="",
        user=SimpleNamespace(name=username, id=userid),
        slug_scheme="safe",
        _namespace_default=lambda: "jupyterhub",
    )
    return KubeSpawner._expand_user_properties(fake, template, slug_scheme="safe")


def name_for(username: str, template: str = "{username}-workspace") -> str:
    return project_name(expand(template, username))


@pytest.mark.parametrize(
    "username, expected",
    [
        ("alice", "alice-workspace"),
        ("kube", "kube-workspace"),
        ("dev-team-1", "dev-team-1-workspace"),
    ],
)
def test_valid_usernames_keep_their_name(username, expected):
    assert name_for(username) == expected


@pytest.mark.parametrize(
    "username",
    [
        "Alice",
        "alice@example.org",
        "ñandú",
        "用户",
        "x" * 300,
        "-lead",
        "9lives",
        "a--b",
        "",
        "ALICE",
    ],
)
def test_any_username_gives_a_valid_label(username):
    name = name_for(username)
    assert is_valid_object_name(name), name
    assert len(name) <= 63


def test_names_that_collide_after_lowercasing_stay_apart():
    names = {name_for(u) for u in ["alice", "Alice", "ALICE", "aLiCe"]}
    assert len(names) == 4


def test_unescaped_template_cannot_be_steered_onto_another_users_name():
    template = "{unescaped_username}-workspace"
    victim = name_for("Bob", template)
    assert "---" in victim
    # a user whose raw name is the victim's project name (minus the suffix) gets another one
    attacker = victim[: -len("-workspace")] if victim.endswith("-workspace") else victim
    assert name_for(attacker, template) != victim
    assert name_for(victim, template) != victim


def test_too_long_template_expansions_are_hashed():
    name = name_for(
        "alice", "{username}-workspace-of-the-data-science-department-of-the-university"
    )
    assert len(name) == 63 and is_valid_object_name(name) and "---" in name


def test_service_account_never_takes_a_plain_name():
    assert notebook_service_account_name("hub") == "notebook-hub"


def test_template_fields():
    assert template_fields("{username}-{userid}-ws") == {"username", "userid"}


def test_fuzz_valid_distinct_and_stable():
    """10,000 hypothesis-generated names (100 batches of 100, with their lower- and upper-case
    twins): all valid labels, no two users on one name, the same name on every call."""
    seen: dict[str, str] = {}
    generated: set[str] = set()

    # batches keep hypothesis' per-example overhead off the 10,000 names
    @settings(max_examples=100, deadline=None, database=None)
    @given(st.lists(st.text(min_size=1, max_size=70), min_size=100, max_size=100, unique=True))
    def collect(usernames):
        for username in usernames:
            generated.add(username)
            for candidate in (username, username.lower(), username.upper()):
                name = name_for(candidate)
                assert is_valid_object_name(name), (candidate, name)
                assert name == name_for(candidate)
                other = seen.setdefault(name, candidate)
                assert other == candidate, f"{other!r} and {candidate!r} both map to {name}"

    collect()
    assert len(generated) > 5_000  # batches may repeat a name; most of the 10,000 are distinct
