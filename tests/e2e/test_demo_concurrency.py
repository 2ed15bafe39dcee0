"""Ten users start at once through the hub's REST API, on the pod runner."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from demo_stack import demo, hub_api, on_cluster, processes_of, wait_until  # noqa: F401 (the module's fixture)

pytestmark = [pytest.mark.slow, on_cluster]

USERS = [f"user{i:02d}" for i in range(10)]
NAMESPACE = "jupyterhub"


@pytest.fixture(autouse=True)
def _stop_reflectors() -> Iterator[None]:
    """No KubeSpawner runs in this process: the hub is a child process."""
    yield


def test_ten_users_start_at_once_and_stop_cleanly(demo: Any) -> None:  # noqa: F811
    for name in USERS:
        assert hub_api(demo, "POST", f"/users/{name}").status_code in (201, 409)
    # all at once: the hub answers 202 while each start goes on
    for name in USERS:
        assert hub_api(demo, "POST", f"/users/{name}/server").status_code in (201, 202)

    def ready() -> bool:
        users = {u["name"]: u for u in hub_api(demo, "GET", "/users").json()}
        return all(users[n]["servers"].get("", {}).get("ready") for n in USERS)

    wait_until(ready, timeout=300, what="ten servers to be ready")

    # each with its own volume and its own pod address
    pods = demo.list("pods", NAMESPACE)
    ips = {p["metadata"]["name"]: p["status"]["podIP"] for p in pods}
    assert len(set(ips.values())) == len(USERS), ips
    for name in USERS:
        pvc = demo.get("persistentvolumeclaims", f"claim-{name}", NAMESPACE)
        assert pvc is not None and pvc["status"]["phase"] == "Bound"
        volume = demo.claim_dir(NAMESPACE, f"claim-{name}")
        assert (volume / "Welcome.ipynb").is_file(), sorted(p.name for p in volume.iterdir())
        # each server answers at its own address through the hub's proxy
        response = hub_api(demo, "GET", f"/users/{name}")
        assert response.json()["servers"][""]["url"] == f"/user/{name}/"

    for name in USERS:
        assert hub_api(demo, "DELETE", f"/users/{name}/server").status_code in (202, 204)

    def stopped() -> bool:
        users = {u["name"]: u for u in hub_api(demo, "GET", "/users").json()}
        return all(not users[n]["servers"] for n in USERS)

    wait_until(stopped, timeout=120, what="ten servers to stop")
    wait_until(lambda: not demo.list("pods", NAMESPACE), timeout=60, what="the pods to be gone")
    # no container process is left: only the hub, its proxy (and the node agent) remain
    left = [
        p
        for p in processes_of(demo.data_dir)
        if not any(p.startswith(f"{pid}: ") for pid in demo.service_pids)
        and "configurable-http-proxy" not in p
    ]
    assert not left, left
    # the volumes stay for the next start
    for name in USERS:
        assert (demo.claim_dir(NAMESPACE, f"claim-{name}") / "Welcome.ipynb").is_file()
