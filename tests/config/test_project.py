"""Project loading: mistakes surface at load time with file and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from orgos.config.project import load_project
from orgos.errors import ConfigError

TOOLS = '''
from orgos import tool

@tool(idempotent=True)
def lookup(order_id: str) -> str:
    """Look an order up."""
    return order_id
'''


def project(tmp_path: Path, agents: dict[str, str], orgos_yaml: str = "name: t\n") -> Path:
    (tmp_path / "orgos.yaml").write_text(orgos_yaml)
    (tmp_path / "tools.py").write_text(TOOLS)
    (tmp_path / "agents").mkdir()
    for name, text in agents.items():
        (tmp_path / "agents" / name).write_text(text)
    return tmp_path


def test_a_valid_project_loads(tmp_path: Path) -> None:
    p = load_project(
        project(
            tmp_path,
            {"a.yaml": "name: a\ntools: [lookup]\ndelegates: [b]\n", "b.yaml": "name: b\n"},
        )
    )
    assert sorted(p.agents) == ["a", "b"]
    assert list(p.tools) == ["lookup"]
    assert p.store_url() == f"sqlite:///{tmp_path.resolve()}/.orgos/orgos.db"


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        ({"a.yaml": "name: a\ntools: [lookup\n"}, r"a\.yaml:3: invalid YAML"),
        ({"a.yaml": "name: a\n  role: x\n"}, r"a\.yaml:2: invalid YAML"),
        ({"a.yaml": "name: a\nmax_steps: many\n"}, r"a\.yaml:2: max_steps: Input should be a valid integer"),
        ({"a.yaml": "name: a\ncolour: blue\n"}, r"a\.yaml:2: colour: Extra inputs are not permitted"),
        ({"a.yaml": "name: Bad Name\n"}, r"a\.yaml:1: name: String should match pattern"),
        ({"a.yaml": "name: a\ntools:\n  - lookup\n  - refund\n"},
         r"a\.yaml:4: agent 'a' uses unknown tool 'refund'; known tools: lookup"),
        ({"a.yaml": "name: a\ndelegates: [ghost]\n"}, r"a\.yaml:1: agent 'a' delegates to unknown agent 'ghost'"),
        ({"a.yaml": "name: a\n", "b.yaml": "name: a\n"}, r"b\.yaml:1: agent 'a' is already defined in .*a\.yaml:1"),
        ({"a.yaml": "name: a\noutput: {type: objekt}\n"}, r"a\.yaml:2: output: Value error, output is not a valid JSON Schema"),
        ({"a.yaml": "agents:\n  - name: a\n  - name: b\n    max_steps: 0\n"},
         r"a\.yaml:4: max_steps: Input should be greater than or equal to 1"),
    ],
)  # fmt: skip
def test_bad_specs_name_file_and_line(tmp_path: Path, files: dict[str, str], expected: str) -> None:
    with pytest.raises(ConfigError, match=expected):
        load_project(project(tmp_path, files))


def test_bad_project_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"orgos\.yaml:2: durability: String should match"):
        load_project(project(tmp_path, {}, "name: t\ndurability: sometimes\n"))
    with pytest.raises(ConfigError, match="not found; run `orgos init"):
        load_project(tmp_path / "nowhere")


def test_broken_tools_file(tmp_path: Path) -> None:
    p = project(tmp_path, {})
    (p / "tools.py").write_text("import nonexistent_module_xyz\n")
    with pytest.raises(ConfigError, match=r"tools\.py: importing failed: ModuleNotFoundError"):
        load_project(p)


async def test_limits_in_orgos_yaml_reach_the_kernel(tmp_path: Path) -> None:
    from orgos import Runtime

    p = project(tmp_path, {"a.yaml": "name: a\n"},
                "name: t\nlimits:\n  delegation_depth: 2\n  for_each: 50\n")  # fmt: skip
    rt = Runtime.from_project(p, models={})
    limits = rt.kernel.limits
    assert (limits.delegation_depth, limits.for_each) == (2, 50)
    assert limits.runs_per_tree == 5000  # the rest keep their defaults
    (tmp_path / "orgos.yaml").write_text("name: t\nlimits:\n  delegation_depth: 2\n  depth: 3\n")
    with pytest.raises(ConfigError, match=r"orgos\.yaml:4: limits\.depth: Extra inputs"):
        load_project(p)
