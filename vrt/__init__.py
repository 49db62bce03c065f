"""vrt: video retrieval by learned binary hashing.

Importing the package is cheap on purpose: heavy libraries (torch, torchvision, faiss) are
imported by the modules that need them, so the command line starts fast.
"""

__version__ = "0.1.0"
