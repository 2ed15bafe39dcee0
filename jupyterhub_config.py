# Example JupyterHub configuration for workspace-spawner.
#
#   make hub      (runs: jupyterhub -f jupyterhub_config.py)
#
# The hub talks to the cluster in KUBECONFIG, or to the cluster it runs in.
# Every setting below is documented in docs/reference/config.md; settings of
# KubeSpawner (c.KubeSpawner.*) apply to WorkspaceSpawner as well.

c = get_config()  # noqa: F821 (provided by JupyterHub when it loads this file)

# -- The spawner -----------------------------------------------------------------
# "workspace" is the jupyterhub.spawners entry point of workspace_spawner.WorkspaceSpawner.
c.JupyterHub.spawner_class = "workspace"

# The namespace the users' pods (and volumes) go to. Default: the hub's own
# namespace when it runs in-cluster, else "default".
# c.KubeSpawner.namespace = "jupyterhub"

# The notebook image. Any Jupyter docker-stacks image works.
c.KubeSpawner.image = "quay.io/jupyter/minimal-notebook:2026-11-16"

# -- Hub basics for trying it out ------------------------------------------------
# The hub must be reachable from the pods. When the hub runs outside the
# cluster, set hub_connect_ip to an address the pods can reach.
c.JupyterHub.hub_ip = "0.0.0.0"
# c.JupyterHub.hub_connect_ip = "hub.example.org"

# Replace with your authenticator (OAuthenticator, GenericOAuthenticator, ...).
c.JupyterHub.authenticator_class = "dummy"
c.Authenticator.admin_users = {"admin"}
c.Authenticator.allow_all = True

# -- Workspace volumes (docs/admin/volumes.md) --------------------------------------
# Every user gets a PVC (claim-<username>), filled with the image's files at the
# mount path on the first start and kept across restarts. The defaults are shown.
# c.WorkspaceSpawner.storage_pvc_ensure = True
# c.WorkspaceSpawner.storage_capacity = "10Gi"      # raise it: claims grow at the next start
# c.WorkspaceSpawner.storage_class = None           # the cluster's default StorageClass
# c.WorkspaceSpawner.storage_expand = True          # needs helm-values/rbac-volumes.yaml
# c.WorkspaceSpawner.volume_bind_timeout = 120      # a claim Pending longer that cannot bind fails the spawn
#
# Named servers share the user's volume; give each its own with {servername}:
# c.WorkspaceSpawner.pvc_name_template = "claim-{username}"
# c.WorkspaceSpawner.pvc_name_template = "claim-{username}--{servername}"
#
# Where the volume is mounted, and which part of the claim (the quickstart style):
# c.WorkspaceSpawner.workspace_mount_path = "/home/jovyan"
# c.WorkspaceSpawner.workspace_sub_path = ""        # e.g. "workspace" with /opt/app-root
#
# What is copied into a new volume: "" = the image's files at the mount path;
# another absolute path of the image; None = copy nothing (no reset, no sync).
# c.WorkspaceSpawner.volume_populate_source = ""
#
# Users reset their volume to the image's files with `touch ~/.delete-volume`
# and a restart; with backups the old files move to ~/.volume-backups/reset-<time>.
# c.WorkspaceSpawner.volume_reset_marker = ".delete-volume"
c.WorkspaceSpawner.volume_reset_backup = True
c.WorkspaceSpawner.volume_reset_backups_keep = 2
#
# New files of a newer image: `touch ~/.sync-volume` and a restart, or for everyone:
# c.WorkspaceSpawner.volume_sync_marker = ".sync-volume"
# c.WorkspaceSpawner.volume_sync = False
#
# More per-user volumes (empty at first), and existing claims shared by everyone:
# c.WorkspaceSpawner.workspace_volumes = {
#     "datasets": {"mount_path": "/home/jovyan/datasets", "capacity": "50Gi"},
#     "models": {"mount_path": "/models", "capacity": "20Gi", "storage_class": "fast",
#                "access_modes": ["ReadWriteOnce"]},
# }
# c.WorkspaceSpawner.shared_volumes = {
#     "courses": {"claim": "courses-rwx", "mount_path": "/home/jovyan/courses", "read_only": True},
# }

# -- Storage lifecycle (docs/admin/storage-lifecycle.md) ---------------------------
# Needs helm-values/rbac-storage-lifecycle.yaml. The spawn page warns a user whose
# volume is this full (measured with statfs at every start; 0: never):
# c.WorkspaceSpawner.volume_usage_warn_percent = 90
#
# Keep a deleted user's volumes this long (e.g. "7d"; "0": delete at once, as
# KubeSpawner's delete_pvc does); a user of the same name created again gets them back.
# c.WorkspaceSpawner.volume_retention = "7d"
# ... and purge the expired ones daily, as a hub service (it gets JUPYTERHUB_API_TOKEN
# and JUPYTERHUB_API_URL from the hub; read:users to keep a returning user's volumes,
# read:servers and admin:server_state to delete a claim workspace-admin restore replaced only once no
# start looks it up):
# c.JupyterHub.services = [{
#     "name": "workspace-purge",
#     "command": ["sh", "-c", 'while :; do workspace-admin purge -f jupyterhub_config.py '
#                 '--hub-url "$JUPYTERHUB_API_URL"; sleep 86400; done'],
# }]
# c.JupyterHub.load_roles = [
#     {"name": "workspace-purge", "scopes": ["read:users", "read:servers", "admin:server_state"],
#      "services": ["workspace-purge"]},
# ]

# -- The persistent conda environment (docs/admin/conda.md) ------------------------
# Use the user's conda env "workspace" in {home}/.conda/envs when it holds the server;
# {home} is the container's $HOME at start.
# c.WorkspaceSpawner.conda_workspace_env = True
# c.WorkspaceSpawner.conda_envs_dir = "{home}/.conda/envs"
# c.WorkspaceSpawner.conda_workspace_env_name = "workspace"
# "hook" (docker-stacks' before-notebook.d), "wrap" (any image), or "auto".
# c.WorkspaceSpawner.conda_startup_mode = "auto"
# c.WorkspaceSpawner.conda_hook_image_pattern = r"^((docker\.io|quay\.io)/)?jupyter/"
# The ConfigMap with the script, in the pods' namespace (needs get/create/update on configmaps).
# c.WorkspaceSpawner.conda_configmap_name = "workspace-spawner-conda"
# c.WorkspaceSpawner.conda_check_in_init_container = True
# Offer "Create my persistent conda environment" in the spawn form.
c.WorkspaceSpawner.conda_allow_create_from_form = True
# c.WorkspaceSpawner.conda_create_start_timeout = 1800
# c.WorkspaceSpawner.conda_create_mem_limit = "4G"
# Keep pip install --user packages in {home}/.local.
# c.WorkspaceSpawner.persist_pip_user = True

# -- Per-user projects ({username}-workspace) -------------------------------------
# See docs/admin/projects.md and docs/admin/security.md. The hub needs
# helm-values/workspace-project-rbac.yaml (+ -kubernetes.yaml off OpenShift) and
# helm-values/workspace-admission-policy.yaml.
# c.WorkspaceSpawner.workspace_project_enabled = True
# c.WorkspaceSpawner.workspace_project_template = "{username}-workspace"
# "create" makes missing projects; "existing" uses projects an admin pre-created.
# c.WorkspaceSpawner.workspace_project_mode = "create"
# "auto" uses an OpenShift ProjectRequest when the cluster has project.openshift.io.
# c.WorkspaceSpawner.workspace_project_api = "auto"
# c.WorkspaceSpawner.workspace_project_quota = {"requests.cpu": "4", "requests.memory": "8Gi", "pods": "20"}
# c.WorkspaceSpawner.workspace_project_limit_range = [
#     {"type": "Container", "default": {"cpu": "500m", "memory": "512Mi"},
#      "defaultRequest": {"cpu": "100m", "memory": "256Mi"}},
# ]
# c.WorkspaceSpawner.workspace_project_role = "edit"
# c.WorkspaceSpawner.workspace_project_groups = ["instructors"]
# c.WorkspaceSpawner.workspace_project_user_subject = "{unescaped_username}"
# "user-token" (OpenShift): the user's OAuth token, as a Secret file; needs auth_state.
# c.WorkspaceSpawner.workspace_project_credentials = "service-account"
# c.WorkspaceSpawner.delete_workspace_project = False
# Pod Security of each project (Kubernetes; OpenShift's SCCs and label syncer rule there).
# c.WorkspaceSpawner.workspace_project_pod_security = {
#     "enforce": "baseline", "warn": "restricted", "audit": "restricted"}
# A NetworkPolicy per project: ingress from the project and the user's notebooks only,
# no egress to the cloud metadata endpoint. False: ship your own.
# c.WorkspaceSpawner.workspace_project_network_policy = True

# -- The workspace-admin command line (docs/admin/admin-cli.md) -------------------
# workspace-admin reads this file (-f) and talks to the hub's REST API with a token
# of these scopes. Give it a service of its own, then create a token for it on the
# hub's token page (or set "api_token"), and pass it as JUPYTERHUB_API_TOKEN:
# c.JupyterHub.services = [{"name": "workspace-admin"}]
# c.JupyterHub.load_roles = [{
#     "name": "workspace-admin",
#     "scopes": ["list:users", "read:users", "read:servers", "servers", "admin:server_state"],
#     "services": ["workspace-admin"],
# }]
# Deleting a user in the admin panel deletes their volumes (c.KubeSpawner.delete_pvc,
# True by default), and a culler that deletes users (--cull-users) does the same:
# c.KubeSpawner.delete_pvc = False
