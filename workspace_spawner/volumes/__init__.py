"""The user's persistent workspace volume (and further per-user and shared volumes)."""

from .mixin import VolumesMixin

__all__ = ["VolumesMixin"]
