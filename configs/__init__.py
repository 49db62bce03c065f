"""The bundled configs, installed as the package ``vrt.configs`` (see setup.py).

``vrt.cli.common.bundled_config`` finds them here through ``importlib.resources``, so ``vrt demo``
works wherever vrt is installed. This folder stays the place to read and edit them.
"""
