"""Pure builders for the workspace volumes: dicts in, dicts out (the checks: :mod:`.checks`).

The pod side follows the Kubernetes volume model
(https://kubernetes.io/docs/concepts/storage/volumes/#persistentvolumeclaim): every
claim becomes a pod volume, mounted in the notebook container; the main claim is
also mounted in the ``setup-volume`` init container at :data:`SETUP_MOUNT_PATH`, a
path outside the notebook's mount path, so the image's own files at the populate
source stay visible there while the script copies them into the volume.
"""

from __future__ import annotations

import copy
import functools
import posixpath
from importlib.resources import files
from typing import Any

from kubespawner.slugs import strip_and_hash

from ..constants import MANAGED_BY_LABEL, MANAGED_BY_VALUE, USERNAME_LABEL, VOLUME_NAME_LABEL
from ..quantity import parse_bytes

SETUP_CONTAINER_NAME = "setup-volume"
# Where the init container sees the whole claim; never the populate source's location.
SETUP_MOUNT_PATH = "/workspace-volume"
# The name of the main volume in VOLUME_NAME_LABEL and in the pod.
HOME_VOLUME = "home"
# The backups directory inside the workspace (the script's WORKSPACE_BACKUP_DIR).
BACKUP_DIR = ".volume-backups"
# The script's summary ends with this when it has done (or had done) an admin's request.
REQUEST_DONE_TEXT = "[reset request {request} done]"

# Between a claim's name and a volume key in the name of that volume's claim. KubeSpawner's
# safe slugs never hold "--" (kubespawner.slugs: "never more than one hyphen in a row";
# hashed ones end in exactly "---" and 8 hex digits), so "claim-alice--data" is never the
# home claim of any user (a user "alice-data" has "claim-alice-data"). Keys hold no "--"
# and neither start nor end with "-", so a claim's name splits back into one base and key.
VOLUME_SEPARATOR = "--"
# Limits of the names: a PVC's is a DNS-1123 subdomain, a pod volume's a DNS-1123 label
# (https://kubernetes.io/docs/concepts/overview/working-with-objects/names/)
MAX_PVC_NAME = 253
MAX_POD_VOLUME_NAME = 63


# -- PVCs -------------------------------------------------------------------------------


def make_workspace_pvc(
    base: dict[str, Any],
    *,
    name: str,
    volume: str,
    capacity: str,
    storage_class: str | None,
    access_modes: list[str],
) -> dict[str, Any]:
    """A PVC from KubeSpawner's (``base``: its labels and annotations) for one workspace volume.

    Adds the managed-by and volume-name labels, so that
    ``kubectl get pvc -l hub.jupyter.org/username=alice`` finds all of a user's volumes
    and the admin tool tells them apart.
    """
    pvc = copy.deepcopy(base)
    meta = pvc.setdefault("metadata", {})
    meta["name"] = name
    labels = meta.setdefault("labels", {})
    labels[MANAGED_BY_LABEL] = MANAGED_BY_VALUE
    labels[VOLUME_NAME_LABEL] = volume
    annotations = meta.setdefault("annotations", {})
    annotations.pop("volume.beta.kubernetes.io/storage-class", None)
    spec = pvc.setdefault("spec", {})
    spec["accessModes"] = list(access_modes)
    spec["resources"] = {"requests": {"storage": capacity}}
    if storage_class is None:
        # unset: the cluster's default StorageClass applies
        # (https://kubernetes.io/docs/concepts/storage/persistent-volumes/#class-1)
        spec.pop("storageClassName", None)
    else:
        spec["storageClassName"] = storage_class
    return pvc


def pvc_capacity(pvc: dict[str, Any]) -> str | None:
    """The storage the claim requests (what an expansion patches)."""
    return (((pvc.get("spec") or {}).get("resources") or {}).get("requests") or {}).get("storage")


def capacity_change(*, current: str | None, wanted: str) -> str:
    """ "grow", "same" or "shrink": how ``wanted`` compares with the claim's request."""
    if current is None:
        return "grow"
    old, new = parse_bytes(current), parse_bytes(wanted)
    if new > old:
        return "grow"
    return "same" if new == old else "shrink"


def expansion_patch(capacity: str) -> dict[str, Any]:
    """The merge patch that asks for more storage (the StorageClass must allow expansion).

    https://kubernetes.io/docs/concepts/storage/persistent-volumes/#expanding-persistent-volumes-claims
    """
    return {"spec": {"resources": {"requests": {"storage": capacity}}}}


def expansion_refused_reason(*, status: int | None, message: str) -> str:
    """Why the API refused an expansion, in words for the spawn page."""
    if status == 403 and "storageclass" in message.lower().replace(" ", ""):
        return "its StorageClass does not allow volume expansion (allowVolumeExpansion)"
    if status == 403:
        return (
            "the hub may not patch PersistentVolumeClaims "
            "(grant it with helm-values/rbac-volumes.yaml)"
        )
    if status == 422:
        return f"the API server rejected the new size: {message}"
    return f"the API server did not answer ({message})"


def pending_pvc_message(*, pvc: dict[str, Any], events: list[dict[str, Any]], waited: float) -> str:
    """Why a claim is still Pending after ``waited`` seconds, and what to do about it."""
    name = pvc["metadata"]["name"]
    storage_class = (pvc.get("spec") or {}).get("storageClassName")
    last = events[-1]["message"] if events else ""
    text = f"The volume claim {name} is still Pending after {int(waited)} s"
    if last:
        text += f" ({last})"
    if not storage_class:
        text += (
            ". It names no StorageClass and the cluster seems to have no default one: mark a "
            'StorageClass as default (storageclass.kubernetes.io/is-default-class: "true") '
            "or set c.WorkspaceSpawner.storage_class"
        )
    else:
        text += (
            f". Check that StorageClass {storage_class} exists and that its provisioner works "
            f"(kubectl describe pvc {name})"
        )
    return text + "."


# What the PV controller and the external provisioners record when a claim cannot bind
# (pkg/controller/volume/persistentvolume/pv_controller.go, sig-storage-lib-external-provisioner)
BINDING_FAILURES = frozenset({"ProvisioningFailed", "FailedBinding"})


def binding_failed(*, pvc: dict[str, Any], events: list[dict[str, Any]]) -> bool:
    """Whether a Pending claim shows that it cannot bind as it is: it names no StorageClass
    (and none is the default), or its latest event is a Warning that provisioning or
    binding failed. A claim still being provisioned (no such event: a slow or busy
    provisioner, 500 claims of a class at once) is not failed.
    """
    if not (pvc.get("spec") or {}).get("storageClassName") and not (pvc.get("metadata") or {}).get(
        "annotations", {}
    ).get("volume.beta.kubernetes.io/storage-class"):
        return True
    last = events[-1] if events else {}
    return last.get("type") == "Warning" and last.get("reason") in BINDING_FAILURES


def waits_for_first_consumer(events: list[dict[str, Any]]) -> bool:
    """The claim binds only once a pod uses it (volumeBindingMode: WaitForFirstConsumer).

    https://kubernetes.io/docs/concepts/storage/storage-classes/#volume-binding-mode
    """
    return any(e.get("reason") == "WaitForFirstConsumer" for e in events)


# -- the pod ----------------------------------------------------------------------------


def fit_name(name: str, *, max_length: int) -> str:
    """``name`` if it fits, else kubespawner's ``<safe prefix>---<8 hex of sha256(name)>``.

    Cutting names to the limit would give two long names with one prefix the same
    name; the hash of the whole name keeps them apart.
    """
    if len(name) <= max_length:
        return name
    return strip_and_hash(name, max_length=max_length)


def extra_pvc_name(*, home: str, volume: str) -> str:
    """The claim of ``workspace_volumes[volume]``: ``<home claim>--<volume>``.

    Distinct from every user's home claim and from the other volumes' claims (see
    :data:`VOLUME_SEPARATOR`).
    """
    return fit_name(f"{home}{VOLUME_SEPARATOR}{volume}", max_length=MAX_PVC_NAME)


def legacy_extra_pvc_name(*, home: str, volume: str) -> str:
    """The name workspace-spawner 0.1 gave that claim (``<home claim>-<volume>``).

    It may be another user's home claim (``claim-alice-data`` of a user ``alice-data``),
    so it is adopted only when its labels say it is this user's volume ``volume``.
    """
    return f"{home}-{volume}"[:MAX_PVC_NAME]


def is_volume_of(pvc: dict[str, Any], *, volume: str, slug: str) -> bool:
    """The claim's labels name this user (safe slug) and this workspace volume."""
    labels = (pvc.get("metadata") or {}).get("labels") or {}
    return labels.get(VOLUME_NAME_LABEL) == volume and labels.get(USERNAME_LABEL) == slug


def other_volume_label(pvc: dict[str, Any], *, volume: str) -> str | None:
    """The other workspace volume a claim found by name is labelled as, if any.

    A claim made by workspace-spawner for another of the user's volumes (say the home
    claim of a named server, under a per-server template) must not be mounted as this
    one; a claim without the label (made by KubeSpawner or an admin) is adopted.
    """
    labels = (pvc.get("metadata") or {}).get("labels") or {}
    label = labels.get(VOLUME_NAME_LABEL)
    return label if label and label != volume else None


# Access modes under which only one node can mount a claim
# (https://kubernetes.io/docs/concepts/storage/persistent-volumes/#access-modes)
SINGLE_NODE_MODES = frozenset({"ReadWriteOnce", "ReadWriteOncePod"})


def mounted_by_other_server(
    *, pvc: dict[str, Any], pods: list[dict[str, Any]], pod_name: str
) -> dict[str, Any] | None:
    """Another live pod of ``pods`` that mounts the single-node claim ``pvc``, if any."""
    modes = set((pvc.get("spec") or {}).get("accessModes") or [])
    if not modes or not modes <= SINGLE_NODE_MODES:
        return None
    claim = pvc["metadata"]["name"]
    for pod in pods:
        meta = pod.get("metadata") or {}
        if meta.get("name") == pod_name or meta.get("deletionTimestamp"):
            continue
        if ((pod.get("status") or {}).get("phase")) in ("Succeeded", "Failed"):
            continue
        for volume in (pod.get("spec") or {}).get("volumes") or []:
            if (volume.get("persistentVolumeClaim") or {}).get("claimName") == claim:
                return pod
    return None


def shared_claim_message(*, claim: str, pod: dict[str, Any], modes: list[str]) -> str:
    """Why this server cannot start while another of the user's servers has the claim."""
    labels = (pod.get("metadata") or {}).get("labels") or {}
    server = labels.get("hub.jupyter.org/servername") or ""
    which = f"Your server {server!r}" if server else "Your default server"
    return (
        f"{which} is running with your workspace volume {claim}, which only one node can "
        f"mount ({', '.join(modes)}), so this server cannot start next to it. Stop that "
        "server first, or ask your hub admin to give each server its own volume "
        "(c.WorkspaceSpawner.pvc_name_template = 'claim-{user_server}')."
    )


def pod_volume_name(pvc_name: str) -> str:
    """The pod volume for a claim: ``volume-`` + the claim's name (KubeSpawner/z2jh style).

    Hashed when longer than a DNS label, so two claims never share a pod volume name.
    """
    return fit_name(f"volume-{pvc_name}", max_length=MAX_POD_VOLUME_NAME)


def make_pvc_volume(*, name: str, claim: str, read_only: bool = False) -> dict[str, Any]:
    source: dict[str, Any] = {"claimName": claim}
    if read_only:
        source["readOnly"] = True
    return {"name": name, "persistentVolumeClaim": source}


def make_volume_mount(
    *, name: str, mount_path: str, sub_path: str = "", read_only: bool = False
) -> dict[str, Any]:
    mount: dict[str, Any] = {"name": name, "mountPath": mount_path}
    if sub_path:
        mount["subPath"] = sub_path
    if read_only:
        mount["readOnly"] = True
    return mount


def find_mount(*, pod: dict[str, Any], container: str, mount_path: str) -> dict[str, Any] | None:
    """What is mounted at ``mount_path`` in ``container``: {volume, claim (or None), sub_path}."""
    spec = pod.get("spec") or {}
    for c in spec.get("containers") or []:
        if c.get("name") != container:
            continue
        for mount in c.get("volumeMounts") or []:
            if mount["mountPath"].rstrip("/") != mount_path.rstrip("/"):
                continue
            volume = next((v for v in spec.get("volumes") or [] if v["name"] == mount["name"]), {})
            claim = (volume.get("persistentVolumeClaim") or {}).get("claimName")
            return {"volume": mount["name"], "claim": claim, "sub_path": mount.get("subPath") or ""}
    return None


@functools.cache
def setup_script() -> str:
    """The init container's script (package data), read once: it is in every pod manifest,
    and the package's files do not change while the hub runs."""
    return files(__package__).joinpath("setup-volume.sh").read_text(encoding="utf-8")


def setup_env(
    *,
    source: str,
    sub_path: str,
    reset_marker: str,
    sync_marker: str,
    sync: bool,
    backup: bool,
    backups_keep: int,
    reset_request: str,
    reset_request_backup: str,
) -> dict[str, str]:
    """The script's settings (see the top of setup-volume.sh)."""
    target = posixpath.join(SETUP_MOUNT_PATH, sub_path) if sub_path else SETUP_MOUNT_PATH
    return {
        "WORKSPACE_SOURCE": source,
        "WORKSPACE_TARGET": target,
        "WORKSPACE_RESET_MARKER": reset_marker,
        "WORKSPACE_SYNC_MARKER": sync_marker,
        "WORKSPACE_SYNC": "1" if sync else "0",
        "WORKSPACE_BACKUP": "1" if backup else "0",
        "WORKSPACE_BACKUPS_KEEP": str(backups_keep),
        "WORKSPACE_BACKUP_DIR": BACKUP_DIR,
        "WORKSPACE_RESET_REQUEST": reset_request,
        "WORKSPACE_RESET_REQUEST_BACKUP": reset_request_backup,
    }


def setup_security_context(notebook: dict[str, Any]) -> dict[str, Any]:
    """The notebook container's user and group, never more privilege.

    runAsUser/runAsGroup are copied when KubeSpawner set them (uid/gid); left out, the
    image's USER applies, or on OpenShift the namespace's arbitrary UID with group 0
    (https://docs.openshift.com/container-platform/latest/openshift_images/create-images.html#use-uid_create-images).
    fsGroup is pod-wide and so applies here too.
    """
    context = {
        key: notebook[key]
        for key in ("runAsUser", "runAsGroup", "runAsNonRoot", "seLinuxOptions", "seccompProfile")
        if notebook.get(key) is not None
    }
    context["allowPrivilegeEscalation"] = False
    context["capabilities"] = {"drop": ["ALL"]}
    return context


def make_setup_container(
    *,
    image: str,
    image_pull_policy: str | None,
    volume_name: str,
    env: dict[str, str],
    security_context: dict[str, Any],
    resources: dict[str, Any] | None,
    script: str,
) -> dict[str, Any]:
    """The ``setup-volume`` init container.

    The script is passed inline (``sh -c SCRIPT``) rather than from a ConfigMap: no
    API object per namespace to create, update and clean up, no extra RBAC, and a
    pod always runs the script of the spawner version that made it. Its summary is
    the termination message the spawner reads from the pod's status
    (https://kubernetes.io/docs/tasks/debug/debug-application/determine-reason-pod-failure/).
    """
    container: dict[str, Any] = {
        "name": SETUP_CONTAINER_NAME,
        "image": image,
        "command": ["sh", "-c", script, SETUP_CONTAINER_NAME],
        "env": [{"name": k, "value": v} for k, v in env.items()],
        "volumeMounts": [{"name": volume_name, "mountPath": SETUP_MOUNT_PATH}],
        "securityContext": security_context,
        "terminationMessagePolicy": "FallbackToLogsOnError",
    }
    if image_pull_policy:
        container["imagePullPolicy"] = image_pull_policy
    if resources:
        # init containers run before the notebook, so the pod's request is the larger
        # of the two: the same resources cost nothing
        # (https://kubernetes.io/docs/concepts/workloads/pods/init-containers/#resource-sharing-within-containers)
        container["resources"] = copy.deepcopy(resources)
    return container


# -- reading the init container's progress ----------------------------------------------
