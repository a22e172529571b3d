"""A small, safe expression language for conditions, lists and templates.

Expressions read data, nothing else: paths (``steps.lookup.output.items[0]``,
``input.order_id``, ``item``), literals, comparisons, ``and``/``or``/``not``,
``in``, arithmetic on numbers, and ``len``/``any``/``all``. They are parsed
with Python's grammar, then every node is checked against a short list and
evaluated here: there is no ``eval``, no attribute of a Python object, no call
but the three above. A path that does not exist is ``null``, not an error.
"""

from __future__ import annotations

import ast
import json
import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from orgos.errors import OrgosError

_CONSTS = {"true": True, "false": False, "null": None, "none": None}
_FUNCS: dict[str, Callable[[Any], Any]] = {"len": len, "any": any, "all": all}
_CMP: dict[type[ast.cmpop], Callable[[Any, Any], Any]] = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.In: lambda a, b: a in b,
    ast.NotIn: lambda a, b: a not in b,
}
_BIN: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.Mod: operator.mod,
}
TEMPLATE = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)


class ExprError(OrgosError, ValueError):
    """An expression that cannot be parsed or evaluated."""


@dataclass(frozen=True, slots=True)
class Expr:
    source: str
    tree: ast.expr

    def __call__(self, env: Mapping[str, Any]) -> Any:
        try:
            return _eval(self.tree, env)
        except ExprError:
            raise
        except Exception as exc:  # a type mismatch in the data (e.g. "a" < 1)
            raise ExprError(f"{self.source!r}: {type(exc).__name__}: {exc}") from None

    def paths(self) -> list[tuple[str, ...]]:
        """Every data path read, as far as it is spelled out
        (``steps.lookup.output.items[0]`` reads ``("steps", "lookup", "output", "items")``)."""
        out: list[tuple[str, ...]] = []
        _collect(self.tree, out)
        return out


def _collect(node: ast.AST, out: list[tuple[str, ...]]) -> None:
    if isinstance(node, ast.Attribute | ast.Subscript | ast.Name):
        p = _path(node)
        if p:
            if p not in out:
                out.append(p)
            inner: ast.AST = node
            while isinstance(inner, ast.Attribute | ast.Subscript):  # indexes read data too
                if isinstance(inner, ast.Subscript):
                    _collect(inner.slice, out)
                inner = inner.value
            return
    for child in ast.iter_child_nodes(node):
        _collect(child, out)


def parse(source: str) -> Expr:
    """Parse and check an expression (raises ExprError naming the problem)."""
    text = source.strip()
    if not text:
        raise ExprError("empty expression")
    try:
        tree = ast.parse(text, mode="eval").body
    except SyntaxError as exc:
        raise ExprError(f"{source!r}: syntax error at column {exc.offset}") from None
    for node in ast.walk(tree):
        _check(node, source)
    return Expr(text, tree)


_ALLOWED = (
    ast.BoolOp, ast.And, ast.Or, ast.UnaryOp, ast.Not, ast.USub, ast.Compare, ast.Name,
    ast.Attribute, ast.Subscript, ast.Constant, ast.List, ast.Tuple, ast.Load, ast.BinOp,
    ast.IfExp, *_CMP, *_BIN,
)  # fmt: skip


def _check(node: ast.AST, source: str) -> None:
    if isinstance(node, ast.Call):
        if not (isinstance(node.func, ast.Name) and node.func.id in _FUNCS) or node.keywords:
            raise ExprError(f"{source!r}: only len(), any() and all() may be called")
        if len(node.args) != 1:
            raise ExprError(f"{source!r}: {node.func.id}() takes one argument")
        return
    if not isinstance(node, _ALLOWED):
        raise ExprError(f"{source!r}: {type(node).__name__} is not allowed in an expression")
    if isinstance(node, ast.Attribute) and node.attr.startswith("_"):
        raise ExprError(f"{source!r}: names may not start with '_'")


def _path(node: ast.AST) -> tuple[str, ...] | None:
    parts: list[str] = []
    while True:
        if isinstance(node, ast.Attribute):
            parts.append(node.attr)
            node = node.value
        elif isinstance(node, ast.Subscript):
            if isinstance(node.slice, ast.Constant) and isinstance(node.slice.value, str):
                parts.append(node.slice.value)
            else:
                parts.clear()  # an index: the path so far ends here
            node = node.value
        elif isinstance(node, ast.Name):
            if node.id in _CONSTS or node.id in _FUNCS:
                return None
            parts.append(node.id)
            return tuple(reversed(parts))
        else:
            return None


def _get(value: Any, key: Any) -> Any:
    if isinstance(value, Mapping):
        return value.get(key)
    if isinstance(value, list | tuple | str) and isinstance(key, int):
        return value[key] if -len(value) <= key < len(value) else None
    return None


def _eval(node: ast.expr, env: Mapping[str, Any]) -> Any:
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Name):
        if node.id in _CONSTS:
            return _CONSTS[node.id]
        return env.get(node.id)
    if isinstance(node, ast.Attribute):
        return _get(_eval(node.value, env), node.attr)
    if isinstance(node, ast.Subscript):
        return _get(_eval(node.value, env), _eval(node.slice, env))
    if isinstance(node, ast.BoolOp):
        if isinstance(node.op, ast.And):
            result: Any = True
            for v in node.values:
                result = _eval(v, env)
                if not result:
                    return result
            return result
        result = False
        for v in node.values:
            result = _eval(v, env)
            if result:
                return result
        return result
    if isinstance(node, ast.UnaryOp):
        v = _eval(node.operand, env)
        return (not v) if isinstance(node.op, ast.Not) else -v
    if isinstance(node, ast.Compare):
        left = _eval(node.left, env)
        for op, comp in zip(node.ops, node.comparators, strict=True):
            right = _eval(comp, env)
            if not _CMP[type(op)](left, right):
                return False
            left = right
        return True
    if isinstance(node, ast.BinOp):
        return _BIN[type(node.op)](_eval(node.left, env), _eval(node.right, env))
    if isinstance(node, ast.IfExp):
        return _eval(node.body, env) if _eval(node.test, env) else _eval(node.orelse, env)
    if isinstance(node, ast.List | ast.Tuple):
        return [_eval(e, env) for e in node.elts]
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        arg = _eval(node.args[0], env)
        return _FUNCS[node.func.id](arg if arg is not None else [])
    raise ExprError(f"{type(node).__name__} is not allowed")


def template_exprs(text: str) -> list[Expr]:
    """The expressions inside ``{{ }}`` of a template."""
    return [parse(m.group(1)) for m in TEMPLATE.finditer(text)]


class Exprs:
    """Parsed expressions by source: a workflow parses each once, not once per
    branch or per replay."""

    def __init__(self) -> None:
        self._parsed: dict[str, Expr] = {}

    def get(self, source: str) -> Expr:
        e = self._parsed.get(source)
        if e is None:
            e = self._parsed[source] = parse(source)
        return e


def render(text: str, env: Mapping[str, Any], exprs: Exprs | None = None) -> Any:
    """Fill a template. A template that is one ``{{ expr }}`` and nothing else
    yields the value itself (a list stays a list); otherwise text."""
    get = parse if exprs is None else exprs.get
    m = TEMPLATE.fullmatch(text.strip())
    if m is not None:
        return get(m.group(1))(env)

    def fill(match: re.Match[str]) -> str:
        v = get(match.group(1))(env)
        return v if isinstance(v, str) else json.dumps(v, ensure_ascii=False)

    return TEMPLATE.sub(fill, text)


def render_data(value: Any, env: Mapping[str, Any], exprs: Exprs | None = None) -> Any:
    """Fill every string template inside a JSON-like value."""
    if isinstance(value, str):
        return render(value, env, exprs) if "{{" in value else value
    if isinstance(value, dict):
        return {k: render_data(v, env, exprs) for k, v in value.items()}
    if isinstance(value, list):
        return [render_data(v, env, exprs) for v in value]
    return value
