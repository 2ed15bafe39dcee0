"""Labels and annotations workspace-spawner puts on the objects it makes.

Shared by the spawner and the workspace-admin command line, so both find the
same objects. Keys follow Kubernetes' recommended prefixes
(https://kubernetes.io/docs/concepts/overview/working-with-objects/common-labels/).
"""

MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
MANAGED_BY_VALUE = "workspace-spawner"
USERNAME_LABEL = "hub.jupyter.org/username"  # KubeSpawner's label, value: the safe slug
RAW_USERNAME_ANNOTATION = "hub.jupyter.org/username"  # KubeSpawner's annotation: the raw name
STORAGE_COMPONENT = "singleuser-storage"  # KubeSpawner's `component` label on PVCs

# On a PVC: the name of the workspace volume it holds ("home" for the main one,
# else the key in workspace_volumes).
VOLUME_NAME_LABEL = "workspace-spawner.jupyter.org/volume"

# On a PVC: an admin asked for a reset to the image's files at the next start.
# Value: an ISO 8601 UTC timestamp of the request. The spawner clears it once the
# reset has been done.
RESET_REQUEST_ANNOTATION = "workspace-spawner.jupyter.org/reset-requested"
# On a PVC, with the reset request: "true" keeps the old content in a backup.
RESET_BACKUP_ANNOTATION = "workspace-spawner.jupyter.org/reset-backup"

# On a ConfigMap the hub writes (the conda startup script): a hash of its data, so the
# hub rewrites it only when the content changed.
CONTENT_HASH_ANNOTATION = "workspace-spawner.jupyter.org/content-hash"

# On a user's project (a Namespace): OpenShift's own annotation naming who asked
# for the project (https://docs.openshift.com/container-platform/latest/applications/projects/configuring-project-creation.html).
OPENSHIFT_REQUESTER_ANNOTATION = "openshift.io/requester"
# The component label of the objects of the per-user project feature.
PROJECT_COMPONENT = "workspace-project"
# On a notebook pod: the kubeconfig the downward API writes into the pod, naming
# the project as the default namespace of kubectl/oc (no token: it points at the
# mounted token file).
KUBECONFIG_ANNOTATION = "workspace-spawner.jupyter.org/kubeconfig"

# On a PVC: the volume's size and use, as statfs(2) saw them at the last start
# (JSON: {"size": bytes, "used": bytes, "available": bytes, "measured": ISO 8601 UTC}).
USAGE_ANNOTATION = "workspace-spawner.jupyter.org/usage"

# On a PVC kept after its user was deleted (volume_retention): the label marks it,
# the annotations say when it was deleted and from when `workspace-admin purge` may
# delete it (ISO 8601 UTC), the label keeps the username label's value it had.
DELETED_LABEL = "workspace-spawner.jupyter.org/deleted"
DELETED_AT_ANNOTATION = "workspace-spawner.jupyter.org/deleted-at"
PURGE_AFTER_ANNOTATION = "workspace-spawner.jupyter.org/purge-after"
DELETED_USERNAME_LABEL = "workspace-spawner.jupyter.org/deleted-username"

# On a VolumeSnapshot the spawner took before a reset: the claim it is of (an
# annotation: claim names can be longer than label values).
SNAPSHOT_OF_ANNOTATION = "workspace-spawner.jupyter.org/snapshot-of"
# ... and why it was taken (the reset's reason, as setup-volume gave it).
SNAPSHOT_REASON_ANNOTATION = "workspace-spawner.jupyter.org/snapshot-reason"

# On a claim that `workspace-admin restore` replaced by a claim made from a snapshot:
# the label marks it (`workspace-admin purge` and `restore --confirm` find it by it), the
# annotations name its replacement (the spawner mounts that one from the next start and
# saves its name in the server's state), when and why, and from when it may be purged
# (PURGE_AFTER_ANNOTATION: the time of the restore + volume_retention).
REPLACED_LABEL = "workspace-spawner.jupyter.org/replaced"
REPLACED_BY_ANNOTATION = "workspace-spawner.jupyter.org/replaced-by"
REPLACED_AT_ANNOTATION = "workspace-spawner.jupyter.org/replaced-at"
REPLACED_REASON_ANNOTATION = "workspace-spawner.jupyter.org/replaced-reason"
# On a claim that `workspace-admin restore` made: the VolumeSnapshot it was made from.
RESTORED_FROM_ANNOTATION = "workspace-spawner.jupyter.org/restored-from"
