"""The scripted model, as the test helpers have always named it.

It lives in ``orgos.llm.scripted``: ``provider: scripted`` in a config is a
real (if simple) model, and the model layer must not import the test
helpers. This module keeps ``orgos.testing.scripted`` importable."""

from __future__ import annotations

from orgos.llm.scripted import Responder, ScriptedModel, ScriptExhausted

__all__ = ["Responder", "ScriptExhausted", "ScriptedModel"]
