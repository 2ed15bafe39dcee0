"""How full a workspace volume is: measured by ``setup-volume`` at every start, kept on the claim.

The init container runs ``stat -f`` (statfs(2): the file system's own counters, so it
costs the same for ten files or ten million, unlike ``du``) and adds one line to
its termination message::

    workspace-spawner-usage: size=10737418240 used=1073741824 available=9663676416

The spawner takes that line off the message the spawn page shows, stores it on the
claim as the annotation :data:`~workspace_spawner.constants.USAGE_ANNOTATION`
(``workspace-admin list`` shows it), and warns the user when the volume is fuller
than ``volume_usage_warn_percent``. Pure functions: text in, values out.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from ..constants import USAGE_ANNOTATION

__all__ = [
    "USAGE_LINE_PREFIX",
    "VolumeUsage",
    "split_usage",
    "usage_annotation",
    "usage_from_pvc",
    "usage_warning",
    "format_bytes",
]

# the first word of the script's usage line (see setup-volume.sh, "usage")
USAGE_LINE_PREFIX = "workspace-spawner-usage:"


@dataclass(frozen=True)
class VolumeUsage:
    """Bytes as statfs(2) counts them, and when (ISO 8601 UTC)."""

    size: int
    used: int
    available: int
    measured: str = ""

    @property
    def percent(self) -> int:
        """Use% as ``df`` shows it: used / (used + available), rounded up.

        Blocks reserved for root count neither way, as in df, so a full volume
        shows 100% even when the file system keeps a reserve.
        """
        usable = self.used + self.available
        if usable <= 0:
            return 0
        return min(100, math.ceil(self.used * 100 / usable))

    def as_dict(self) -> dict[str, Any]:
        return {
            "size": self.size,
            "used": self.used,
            "available": self.available,
            "measured": self.measured,
        }


def _parse_line(line: str, *, measured: str) -> VolumeUsage | None:
    fields: dict[str, int] = {}
    for word in line[len(USAGE_LINE_PREFIX) :].split():
        key, _, value = word.partition("=")
        if not value.isdigit():
            return None
        fields[key] = int(value)
    if not {"size", "used", "available"} <= fields.keys():
        return None
    return VolumeUsage(
        size=fields["size"], used=fields["used"], available=fields["available"], measured=measured
    )


def split_usage(message: str, *, measured: str) -> tuple[str, VolumeUsage | None]:
    """The termination message without its usage line, and the usage it gave (or None)."""
    kept: list[str] = []
    usage: VolumeUsage | None = None
    for line in message.splitlines():
        if line.startswith(USAGE_LINE_PREFIX):
            usage = _parse_line(line, measured=measured) or usage
        else:
            kept.append(line)
    return "\n".join(kept).strip(), usage


def usage_annotation(usage: VolumeUsage) -> dict[str, str]:
    """The claim's annotation holding ``usage`` (compact JSON)."""
    return {USAGE_ANNOTATION: json.dumps(usage.as_dict(), separators=(",", ":"), sort_keys=True)}


def usage_from_pvc(pvc: dict[str, Any]) -> VolumeUsage | None:
    """The usage stored on the claim, or None (never measured, or written by hand badly)."""
    raw = ((pvc.get("metadata") or {}).get("annotations") or {}).get(USAGE_ANNOTATION)
    if not raw:
        return None
    try:
        data = json.loads(raw)
        return VolumeUsage(
            size=int(data["size"]),
            used=int(data["used"]),
            available=int(data["available"]),
            measured=str(data.get("measured") or ""),
        )
    except (ValueError, TypeError, KeyError):
        return None


def format_bytes(count: int) -> str:
    """Binary units, as ``df -h`` and Kubernetes quantities count: 1.5Gi, 200Mi, 12Ki, 7B."""
    value = float(count)
    for unit in ("B", "Ki", "Mi", "Gi", "Ti"):
        if value < 1024 or unit == "Ti":
            break
        value /= 1024
    if unit == "B":
        return f"{count}B"
    return f"{value:.1f}{unit}" if value < 10 else f"{value:.0f}{unit}"


def usage_warning(usage: VolumeUsage, *, warn_percent: int, pvc_name: str) -> str | None:
    """The spawn page's warning when the volume is at least ``warn_percent`` full (0: never)."""
    if warn_percent <= 0 or usage.percent < warn_percent:
        return None
    return (
        f"Your workspace volume is {usage.percent}% full ({format_bytes(usage.used)} of "
        f"{format_bytes(usage.used + usage.available)} used, "
        f"{format_bytes(usage.available)} free). "
        "When it is full, saving files and installing packages fail: delete what you no longer "
        "need (old conda environments, caches in ~/.cache, .volume-backups), or ask your hub admin "
        f"for more space (workspace-admin expand with the volume {pvc_name})."
    )
