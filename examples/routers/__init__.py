"""Custom routers for ``custom_policies`` (see docs/custom_routers.md)."""
