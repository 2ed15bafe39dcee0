"""The human-readable table of ``workspace-admin list`` (pure: rows in, text out)."""

from __future__ import annotations

from typing import Any

__all__ = ["format_table", "COLUMNS"]

COLUMNS = (
    "USER",
    "SERVER",
    "PVC",
    "REQUESTED",
    "CAPACITY",
    "USED",
    "USE%",
    "PHASE",
    "CLASS",
    "AGE",
    "RESET",
    "PROJECT",
    "PROJECT PHASE",
    "QUOTA USED/HARD",
)


def _quota(quota: dict[str, dict[str, str]]) -> str:
    return ", ".join(f"{resource} {q['used']}/{q['hard']}" for resource, q in sorted(quota.items()))


def _used(pvc: dict[str, Any]) -> str:
    """USED with the age of the measurement ("1.2Gi 3h ago"): it is from the volume's last start."""
    if not pvc.get("used"):
        return ""
    return f"{pvc['used']} {pvc['usage_age']} ago" if pvc.get("usage_age") else pvc["used"]


def _lines(workspace: dict[str, Any]) -> list[tuple[str, ...]]:
    """One line per PVC (at least one per user); the user and project only on the first."""
    project = workspace.get("project") or {}
    head = (
        workspace["user"],
        workspace["server"],
    )
    project_cells = (
        project.get("name", "-"),
        project.get("phase", ""),
        _quota(project.get("quota") or {}),
    )
    pvcs = workspace.get("pvcs") or []
    if not pvcs:
        return [head + ("-", "", "", "", "", "", "", "", "") + project_cells]
    lines = []
    for i, pvc in enumerate(pvcs):
        reset = ""
        if pvc.get("reset_requested"):
            reset = pvc["reset_requested"] + (" +backup" if pvc.get("reset_backup") else "")
        cells = (
            pvc["name"],
            pvc["requested"],
            pvc["capacity"],
            _used(pvc),
            f"{pvc['use_percent']}%" if pvc.get("use_percent") is not None else "",
            pvc["phase"] + (", replaced" if pvc.get("replaced_by") else ""),
            pvc["storage_class"],
            pvc["age"],
            reset,
        )
        lines.append(
            (head if i == 0 else ("", "")) + cells + (project_cells if i == 0 else ("", "", ""))
        )
    return lines


def format_table(workspaces: list[dict[str, Any]]) -> str:
    """A fixed-width table, like ``kubectl get``; "No users." for none."""
    if not workspaces:
        return "No users."
    lines = [COLUMNS] + [line for ws in workspaces for line in _lines(ws)]
    widths = [max(len(line[i]) for line in lines) for i in range(len(COLUMNS))]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip()
        for line in lines
    )
