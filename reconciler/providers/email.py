"""reconciler.providers.email: the old path of the EngageLab client (`providers/engagelab/`).

Kept for `from reconciler.providers import email` (settings reads the hosts through it); the
code lives in the vendor's package (docs/reference/vendors.md "EngageLab Email").
"""

from reconciler.providers.engagelab.client import *  # noqa: F403
from reconciler.providers.engagelab.client import __all__ as __all__
