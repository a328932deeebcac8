"""The project's version, read once from pyproject.toml."""

import tomllib

from backend.env import BASE_DIR

with open(BASE_DIR / "pyproject.toml", "rb") as pyproject:
    VERSION: str = tomllib.load(pyproject)["project"]["version"]
