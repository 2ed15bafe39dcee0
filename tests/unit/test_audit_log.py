"""The real tier's request log (controlplane.audit): audit events read as the emulator's records."""

from __future__ import annotations

import json

from workspace_spawner_testing.controlplane.audit import HUB_USER, AuditLog


def event(user: str, verb: str, uri: str, **ref: str) -> str:
    return json.dumps(
        {
            "kind": "Event",
            "stage": "RequestReceived",
            "user": {"username": user},
            "verb": verb,
            "requestURI": uri,
            "objectRef": ref,
        }
    )


def test_the_requests_since_clear_of_the_user_alone(tmp_path):
    path = tmp_path / "audit.log"
    other = "system:serviceaccount:jupyterhub:notebook-alice"
    path.write_text(event(HUB_USER, "get", "/apis/") + "\n")
    log = AuditLog(path, user=HUB_USER)
    log.clear_requests()
    with path.open("a") as f:
        f.write(
            event(HUB_USER, "create", "/api/v1/namespaces?fieldManager=x", resource="namespaces")
        )
        f.write(
            "\n" + event(other, "get", "/api/v1/namespaces/a/pods/p", resource="pods", name="p")
        )
        f.write("\n" + event(HUB_USER, "get", "/apis/") + "\n")
    assert [(r.verb, r.path, r.resource) for r in log.requests] == [
        ("create", "/api/v1/namespaces", "namespaces"),
        ("get", "/apis", None),
    ]
    # without a user, every ServiceAccount the policy logs
    everyone = AuditLog(path)
    assert [r.user for r in everyone.requests] == [HUB_USER, HUB_USER, other, HUB_USER]
