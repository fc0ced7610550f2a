"""Golden register tables of the bundled profiles, written from the vendors' documents.

`GOLDENS` lists one table per bundled profile (SunSpec: one per model family); each names the
document it comes from. See golden/model.py for how frames are built and checked.
"""

from __future__ import annotations

from golden import abb, eastron, gavazzi, janitza, sunspec
from golden.model import Golden

GOLDENS: tuple[Golden, ...] = (
    *eastron.GOLDENS,
    *gavazzi.GOLDENS,
    *janitza.GOLDENS,
    *abb.GOLDENS,
    *sunspec.GOLDENS,
)
