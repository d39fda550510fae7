"""nervplayer: fit NeRV neural representations to videos, compress them to .nerv files, play them by index.

The headless core (no Qt) in a few names; the GUI lives in :mod:`nervplayer.gui`.
"""
__version__ = "0.1.0"
