"""The test support's version is the product's: one place, workspace_spawner/_version.py."""

import re
from pathlib import Path

from setuptools import setup

_VERSION_FILE = Path(__file__).resolve().parent.parent / "workspace_spawner" / "_version.py"
setup(version=re.search(r'__version__ = "([^"]+)"', _VERSION_FILE.read_text()).group(1))
