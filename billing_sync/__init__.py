"""billing-sync: keeps ConnectWise Manage agreement additions at the vendor's per-user counts."""

__version__ = "0.1.0"
