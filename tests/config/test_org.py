from pathlib import Path

import pytest

from orgos.config.org import OrgSpec, TeamSpec
from orgos.config.project import load_project
from orgos.config.specs import AgentSpec
from orgos.errors import ConfigError
from orgos.org import OrgChart


def _chart() -> OrgChart:
    org = OrgSpec(
        teams=[
            TeamSpec(name="ops", owner="dana@example.com", lead="head"),
            TeamSpec(name="returns", parent="ops", lead="service", may_use=["finance"]),
            TeamSpec(name="finance", owner="fin-owner@example.com", lead="controller"),
        ]
    )
    agents = [
        AgentSpec(name="head", team="ops"),
        AgentSpec(name="service", team="returns"),
        AgentSpec(name="logistics", team="returns"),
        AgentSpec(name="inventory", team="returns", reports_to="logistics"),
        AgentSpec(name="controller", team="finance"),
        AgentSpec(name="refunds", team="finance"),
        AgentSpec(name="loner"),
        AgentSpec(name="explicit", team="returns", delegates=["loner"]),
    ]
    return OrgChart(org, {a.name: a for a in agents})


def test_supervisors_follow_reports_to_then_team_leads_up_the_tree() -> None:
    chart = _chart()
    assert chart.supervisor("logistics") == "service"
    assert chart.supervisor("inventory") == "logistics"
    assert chart.supervisor("service") == "head"  # a lead reports to the parent team's lead
    assert chart.supervisor("head") is None
    assert chart.supervisor("loner") is None
    assert chart.escalation_chain("inventory") == [
        "logistics",
        "service",
        "head",
        "dana@example.com",
    ]


def test_delegation_goes_down_the_line_and_to_what_the_team_may_use() -> None:
    chart = _chart()
    assert chart.may_delegate("logistics") == ["inventory", "controller", "refunds"]
    assert chart.may_delegate("service") == [
        "explicit",
        "logistics",
        "inventory",
        "controller",
        "refunds",
    ]
    assert chart.may_delegate("explicit") == ["loner"]  # per-agent override
    assert chart.may_delegate("refunds") == []  # finance may use no one
    assert chart.may_delegate("controller") == ["refunds"]


def test_bad_org_is_refused() -> None:
    with pytest.raises(ConfigError, match="unknown team 'nope'"):
        OrgChart(OrgSpec(), {"a": AgentSpec(name="a", team="nope")})
    with pytest.raises(ConfigError, match="cycle"):
        OrgChart(
            OrgSpec(),
            {"a": AgentSpec(name="a", reports_to="b"), "b": AgentSpec(name="b", reports_to="a")},
        )


def test_project_loads_org_yaml(tmp_path: Path) -> None:
    (tmp_path / "orgos.yaml").write_text("name: p\ntools: []\n")
    (tmp_path / "agents").mkdir()
    (tmp_path / "agents" / "a.yaml").write_text("name: a\nteam: core\n")
    (tmp_path / "org.yaml").write_text("teams:\n  - name: core\n    owner: me@example.com\n")
    project = load_project(tmp_path)
    assert [t.name for t in project.org.teams] == ["core"]
    (tmp_path / "org.yaml").write_text("teams:\n  - name: core\n    colour: red\n")
    with pytest.raises(ConfigError, match=r"org.yaml:3: teams.0.colour"):
        load_project(tmp_path)
    (tmp_path / "org.yaml").write_text("teams:\n  - name: other\n")
    with pytest.raises(ConfigError, match=r"org.yaml: agent 'a': unknown team 'core'"):
        load_project(tmp_path)
