"""The org chart and, on top of it, routing."""

from orgos.config.chart import OrgChart

__all__ = ["OrgChart"]
