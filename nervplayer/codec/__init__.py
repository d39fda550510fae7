"""Compression and the ``.nerv`` format: pruning, quantization, entropy coding, the container, ``NervVideo``.

The GUI and other callers need only these names; the modules hold the details.
"""

from .measure import Compressed
from .nervfile import NervFile, load, save
from .pipeline import CompressOptions, Compressor, Stage
from .reader import NervVideo

__all__ = ["NervFile", "NervVideo", "load", "save", "CompressOptions", "Compressed", "Compressor", "Stage"]
