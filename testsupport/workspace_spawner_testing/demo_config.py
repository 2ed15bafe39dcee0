# The JupyterHub configuration of the demo (make demo); never a real hub's.
#
# python -m workspace_spawner_testing.demo starts JupyterHub with this file, beside the
# Kubernetes API emulator (OpenShift mode) and the pod runner that runs the pods'
# containers as local processes. It loads the admins' example, the repository's
# jupyterhub_config.py, then sets what the demo needs: the addresses, data dir and
# password the demo passes in WORKSPACE_SPAWNER_DEMO_* variables, the demo notebook
# image, and every workspace feature on. See docs/admin/demo.md.
import os

c = get_config()  # noqa: F821 (provided by JupyterHub when it loads this file)

# the admins' example first: the demo shows what it configures
load_subconfig(os.environ["WORKSPACE_SPAWNER_DEMO_EXAMPLE_CONFIG"])  # noqa: F821

_demo_data = os.environ["WORKSPACE_SPAWNER_DEMO_DATA"]
c.JupyterHub.bind_url = os.environ["WORKSPACE_SPAWNER_DEMO_URL"]
# the pods share this machine's network: the hub is on loopback for them
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = int(os.environ["WORKSPACE_SPAWNER_DEMO_HUB_PORT"])
c.ConfigurableHTTPProxy.api_url = (
    f"http://127.0.0.1:{os.environ['WORKSPACE_SPAWNER_DEMO_PROXY_API_PORT']}"
)
c.ConfigurableHTTPProxy.pid_file = f"{_demo_data}/jupyterhub-proxy.pid"
c.JupyterHub.db_url = f"sqlite:///{_demo_data}/jupyterhub.sqlite"
c.JupyterHub.cookie_secret_file = f"{_demo_data}/jupyterhub_cookie_secret"
# the servers stop with the hub (Ctrl-C), their volumes stay
c.JupyterHub.cleanup_servers = True
c.DummyAuthenticator.password = os.environ["WORKSPACE_SPAWNER_DEMO_PASSWORD"]
# an admin API token for the demo's benchmark and tests, when they ask for one
if os.environ.get("WORKSPACE_SPAWNER_DEMO_API_TOKEN"):
    c.JupyterHub.services = [
        {"name": "demo-scripts", "api_token": os.environ["WORKSPACE_SPAWNER_DEMO_API_TOKEN"]}
    ]
    c.JupyterHub.load_roles = [
        {
            "name": "demo-scripts",
            "scopes": ["admin:users", "admin:servers", "list:users"],
            "services": ["demo-scripts"],
        }
    ]

c.KubeSpawner.namespace = os.environ["WORKSPACE_SPAWNER_DEMO_NAMESPACE"]
# the pod runner runs every image as its demo notebook image: this machine's
# Python environment plus a jovyan home with a welcome notebook. Not a docker-stacks
# name: there is no start.sh, so the conda startup wraps the command.
c.KubeSpawner.image = "workspace-spawner/demo-notebook:latest"
c.KubeSpawner.uid = 1000
c.KubeSpawner.gid = 100
c.KubeSpawner.fs_gid = 100
c.KubeSpawner.default_url = "/lab"
c.KubeSpawner.start_timeout = 120
c.KubeSpawner.http_timeout = 90

# The workspace features, all on: a volume per user filled from the image on the
# first start (.delete-volume resets it), a {username}-workspace project, and
# the conda environments on the volume.
c.WorkspaceSpawner.storage_pvc_ensure = True
c.WorkspaceSpawner.storage_capacity = "1Gi"
c.WorkspaceSpawner.volume_reset_marker = ".delete-volume"
c.WorkspaceSpawner.workspace_project_enabled = True
c.WorkspaceSpawner.conda_workspace_env = True
c.WorkspaceSpawner.persist_pip_user = True

# On a real control plane (the tests of make test-cluster) the pods run on the node
# whose agent runs them as processes: select it and tolerate its taint
# https://kubernetes.io/docs/concepts/scheduling-eviction/taint-and-toleration/
if os.environ.get("WORKSPACE_SPAWNER_DEMO_NODE"):
    c.KubeSpawner.node_selector = {
        "kubernetes.io/hostname": os.environ["WORKSPACE_SPAWNER_DEMO_NODE"]
    }
    c.KubeSpawner.tolerations = [
        {
            "key": os.environ["WORKSPACE_SPAWNER_DEMO_NODE_TAINT"],
            "operator": "Exists",
            "effect": "NoSchedule",
        }
    ]
