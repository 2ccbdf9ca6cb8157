"""reconciler.providers.imbrace: the iMBrace channel-service vendor: fields, statuses, client.

`fields` (declarations and statuses), `types` and `quirks` are import-light and read by the
pure core; `client` holds the gateway hosts, routes, error codes and the HTTP provider
(docs/reference/vendors.md "iMBrace channel-service (MessagingCampaign)").
"""
