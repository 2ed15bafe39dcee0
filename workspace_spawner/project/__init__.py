"""The user's own {username}-workspace project or namespace."""

from .mixin import ProjectMixin

__all__ = ["ProjectMixin"]
