"""reconciler.providers.engagelab: the EngageLab Email vendor: fields, statuses, quirks, client.

`fields` (declarations and statuses), `types` (value shapes), `quirks` and `codec` are
import-light and read by the pure core; `client` holds the routes, error codes and the HTTP
provider (docs/reference/vendors.md "EngageLab Email").
"""
