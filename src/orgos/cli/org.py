"""``orgos org``: the org chart as a tree of teams, their members, who each
reports to, their capabilities, and whom each may delegate to."""

from __future__ import annotations

from rich.text import Text
from rich.tree import Tree

from orgos.cli.common import State, console
from orgos.cli.safe import inert, safe
from orgos.config.chart import OrgChart


def org_tree(chart: OrgChart) -> Tree:
    root = Tree(safe(chart.spec.name, "bold"), guide_style="dim")
    children: dict[str | None, list[str]] = {}
    for t in chart.teams.values():
        children.setdefault(t.parent, []).append(t.name)

    def add_team(parent: Tree, name: str) -> None:
        t = chart.teams[name]
        label = safe(name, "bold cyan")
        if t.description:
            label.append(inert(f" — {t.description}"))
        for key, value in (("owner", t.owner), ("lead", t.lead)):
            if value:
                label.append(inert(f" · {key} {value}"), style="dim")
        if t.may_use:
            label.append(inert(f" · may use: {', '.join(t.may_use)}"), style="dim")
        branch = parent.add(label)
        for member in chart.members(name):
            branch.add(agent_label(chart, member))
        for sub in sorted(children.get(name, [])):
            add_team(branch, sub)

    for top in sorted(children.get(None, [])):
        add_team(root, top)
    loose = sorted(a for a, spec in chart.agents.items() if spec.team is None)
    if loose:
        branch = root.add(Text("no team", style="dim italic"))
        for a in loose:
            branch.add(agent_label(chart, a))
    return root


def agent_label(chart: OrgChart, name: str) -> Text:
    spec = chart.agents[name]
    label = safe(name, "bold")
    if spec.role:
        label.append(inert(f" ({spec.role})"))
    boss = chart.supervisor(name)
    if boss:
        label.append(inert(f" · reports to {boss}"), style="dim")
    if spec.capabilities:
        label.append(inert(f" · capabilities: {', '.join(spec.capabilities)}"), style="dim")
    if spec.owner:
        label.append(inert(f" · owner {spec.owner}"), style="dim")
    may = chart.may_delegate(name)
    if may:
        how = "" if spec.delegates is None else " (set on the agent)"
        label.append(inert(f" · may delegate to: {', '.join(may)}{how}"), style="dim")
    return label


def show_org(state: State) -> int:
    from orgos.cli.common import EXIT_OK
    from orgos.config.project import load_project

    project = load_project(state.root())
    console().print(org_tree(OrgChart(project.org, project.agents)))
    return EXIT_OK
