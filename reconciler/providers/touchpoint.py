"""reconciler.providers.touchpoint: the old path of the iMBrace client (`providers/imbrace/`).

Kept for `from reconciler.providers import touchpoint` (settings reads the hosts through
it); the code lives in the vendor's package (docs/reference/vendors.md "Resources").
"""

from reconciler.providers.imbrace.client import *  # noqa: F403
from reconciler.providers.imbrace.client import __all__ as __all__
