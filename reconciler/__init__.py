"""reconciler: campaignctl, campaign-as-code for EngageLab Email and iMBrace campaigns."""

__version__ = "0.1.0"
