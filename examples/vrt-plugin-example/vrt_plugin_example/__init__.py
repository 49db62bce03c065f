"""An example vrt plugin package.

It registers nothing on import: vrt reads the entry points declared in ``pyproject.toml`` and
imports :mod:`vrt_plugin_example.backbone` or :mod:`vrt_plugin_example.loss` only when a config
(or ``vrt list``) asks for the component.
"""

__version__ = "0.1.0"
