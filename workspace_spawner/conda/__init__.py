"""The persistent conda `workspace` environment and pip user installs."""

from .mixin import CondaMixin

__all__ = ["CondaMixin"]
