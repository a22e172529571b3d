"""The org chart and, on top of it, routing."""

from orgos.org.chart import OrgChart

__all__ = ["OrgChart"]
