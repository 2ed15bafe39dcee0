"""With every workspace feature switched off, WorkspaceSpawner behaves exactly like KubeSpawner.

The switches are those docs/admin/install.md lists for an admin migrating from
KubeSpawner; the config is a realistic one (Zero to JupyterHub's home volume,
resources, an admin's own init container), set once on KubeSpawner so both
classes read it.
"""

from __future__ import annotations

from kubespawner import KubeSpawner
from traitlets.config import Config

from workspace_spawner.kube import to_dict

FEATURES_OFF = {
    "storage_pvc_ensure": False,
    "volume_populate_source": None,
    "conda_workspace_env": False,
    "persist_pip_user": False,
    "workspace_project_enabled": False,
    # KubeSpawner's own default: the name its delete_forever() and state use
    "pvc_name_template": "claim-{user_server}",
}


def kubespawner_config() -> Config:
    c = Config()
    c.KubeSpawner.image = "quay.io/jupyter/scipy-notebook:2024-12-02"
    c.KubeSpawner.cpu_limit = 2.0
    c.KubeSpawner.mem_limit = "2G"
    c.KubeSpawner.mem_guarantee = "1G"
    c.KubeSpawner.environment = {"LANG": "C.UTF-8"}
    c.KubeSpawner.volumes = [
        {"name": "home", "persistentVolumeClaim": {"claimName": "claim-{username}"}}
    ]
    c.KubeSpawner.volume_mounts = [{"name": "home", "mountPath": "/home/jovyan"}]
    c.KubeSpawner.init_containers = [
        {"name": "admin-init", "image": "busybox", "command": ["true"]}
    ]
    c.KubeSpawner.uid = 1000
    c.KubeSpawner.fs_gid = 100
    return c


def features_off_config() -> Config:
    c = kubespawner_config()
    for name, value in FEATURES_OFF.items():
        setattr(c.WorkspaceSpawner, name, value)
    return c


async def pod_manifest(spawner) -> dict:
    return to_dict(await spawner.get_pod_manifest())


async def test_the_pod_manifest_is_kubespawners(make_spawner):
    plain = make_spawner(spawner_class=KubeSpawner, config=kubespawner_config())
    workspace = make_spawner(config=features_off_config())
    assert await pod_manifest(workspace) == await pod_manifest(plain)


def api_calls(api_log) -> list[tuple[str, str | None, str | None]]:
    """verb, resource and subresource of each request, without the reflectors' list and watch
    (how often they list and re-watch depends on timing, not on the spawner)."""
    return [
        (r.verb, r.resource, r.subresource)
        for r in api_log.requests
        if r.verb not in ("list", "watch")
    ]


async def start_and_stop_calls(spawner, api_log) -> list[tuple[str, str | None, str | None]]:
    api_log.clear_requests()
    await spawner.start()
    assert await spawner.poll() is None
    await spawner.stop()
    assert await spawner.poll() is not None
    return api_calls(api_log)


async def test_a_start_and_stop_make_kubespawners_api_requests(
    make_spawner, kube, cluster, api_log
):
    """Counted in ``api_log``: the emulator's request log, or the real kube-apiserver's
    audit log of the hub's ServiceAccount."""
    # the admin's claim that the config mounts (made by KubeSpawner or by hand)
    cluster.create(
        {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": {"name": "claim-alice", "namespace": kube.namespace},
            "spec": {
                "accessModes": ["ReadWriteOnce"],
                "resources": {"requests": {"storage": "1Gi"}},
            },
        }
    )
    plain = await start_and_stop_calls(
        make_spawner(spawner_class=KubeSpawner, config=kubespawner_config()), api_log
    )
    workspace = await start_and_stop_calls(make_spawner(config=features_off_config()), api_log)
    assert workspace == plain
    # the comparison means something: the start made the pod and the stop deleted it
    assert ("create", "pods", None) in plain and ("delete", "pods", None) in plain


async def test_the_saved_state_is_kubespawners(make_spawner):
    plain = make_spawner(spawner_class=KubeSpawner, config=kubespawner_config())
    workspace = make_spawner(config=features_off_config())
    assert workspace.get_state() == plain.get_state()
    assert workspace.pvc_name == plain.pvc_name
    assert (workspace.options_form, workspace.start_timeout) == (
        plain.options_form,
        plain.start_timeout,
    )


async def test_without_the_switches_the_pod_is_not_kubespawners(make_spawner):
    """The guard of the tests above: each switch in FEATURES_OFF is needed."""
    plain = await pod_manifest(make_spawner(spawner_class=KubeSpawner, config=kubespawner_config()))
    for name in ("conda_workspace_env", "persist_pip_user"):
        c = features_off_config()
        del c.WorkspaceSpawner[name]
        assert await pod_manifest(make_spawner(config=c)) != plain, name
