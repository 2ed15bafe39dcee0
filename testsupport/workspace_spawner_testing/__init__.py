"""Test and demo support: a Kubernetes API emulator served over real HTTP.

Nothing here is imported by the spawner itself; a hub in production never loads it.
"""
