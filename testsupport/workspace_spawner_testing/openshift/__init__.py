"""OpenShift's extension points on the real control plane: ``project.openshift.io`` as an
aggregated API server and SCC admission as webhooks, served from loopback."""

from .install import OpenShift

__all__ = ["OpenShift"]
