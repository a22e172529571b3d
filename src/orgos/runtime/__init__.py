"""Runtime: the kernel assembled with a store, models, tools and agents.

``Runtime`` (``core``) is the face users hold; what it is made of is in its
parts: ``Assembly`` (the specs it was given and the checks that they fit
together), ``Control`` (answers to parked runs: approvals, decisions, cancel
and resume) and ``RunHistory`` (reading runs, their trees and journals).
"""

from orgos.runtime.core import Runtime

__all__ = ["Runtime"]
