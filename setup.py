"""The one part of the build that pyproject.toml cannot declare: the bundled configs.

The configs live in the repository's top-level ``configs/`` folder, where people read and edit
them, and install as the data-only subpackage ``vrt.configs`` so that ``importlib.resources``
finds them in a wheel and in an editable install alike. Mapping a package onto another folder
(``package_dir``) turns off setuptools' automatic discovery in pyproject.toml, so the package
list is computed here: every package under ``vrt/`` plus the mapped one. Everything else about
the build is in pyproject.toml.
"""

from setuptools import find_packages, setup

setup(
    packages=[*find_packages(include=["vrt", "vrt.*"]), "vrt.configs"],
    package_dir={"vrt.configs": "configs"},
    package_data={"vrt.configs": ["*.yaml"]},
)
