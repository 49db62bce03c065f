"""Data plumbing shared by every dataset: clip samplers, batch samplers and split carving.

The submodules are imported where they are used rather than here: ``vrt.data.samplers`` is
the registry's built-in module for clip samplers and must stay cheap to import (``vrt list``),
while the batch samplers need torch.
"""
