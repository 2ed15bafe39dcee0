"""The server, CA and bearer token of a kubeconfig's current context (token users only)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml


@dataclass(frozen=True)
class Credentials:
    server: str
    token: str
    ca_file: str | None

    @classmethod
    def from_kubeconfig(cls, path: str | Path) -> Credentials:
        config = yaml.safe_load(Path(path).read_text())
        context = next(
            c["context"] for c in config["contexts"] if c["name"] == config["current-context"]
        )
        cluster = next(c["cluster"] for c in config["clusters"] if c["name"] == context["cluster"])
        user = next(u["user"] for u in config["users"] if u["name"] == context["user"])
        return cls(cluster["server"], user["token"], cluster.get("certificate-authority"))
