"""Governance: policy rules, approvals, budgets and rate limits, kill switches,
the secrets vault, tokens and what each role may do, and the audit chain
(guardrails: ``orgos.agents.guardrails``). It plugs into the kernel's
syscall pipeline when a Runtime is assembled."""

from orgos.policy.governance import Governance
from orgos.policy.rules import Call, Decision, RuleSet
from orgos.policy.source import PolicySource, load_policy
from orgos.policy.spec import PolicySpec, Rule, When

__all__ = [
    "Call",
    "Decision",
    "Governance",
    "PolicySource",
    "PolicySpec",
    "Rule",
    "RuleSet",
    "When",
    "load_policy",
]
