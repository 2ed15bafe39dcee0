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
