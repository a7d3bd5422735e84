"""Size limits that keep the package readable: no module over 400 lines, no function over 60.

Every exception is listed here with its reason; an entry that is no longer needed fails too, so
the list cannot go stale.
"""

from __future__ import annotations

import ast
from pathlib import Path

import tui_label

PACKAGE = Path(tui_label.__file__).resolve().parent
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60

# "path relative to tui_label/" or "path::qualified.function" -> why it is allowed to be longer.
# A module or function allowed over the limits, with the reason (none today).
EXCEPTIONS: dict[str, str] = {}


def modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def long_functions(path: Path) -> dict[str, int]:
    found: dict[str, int] = {}

    def walk(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                name = prefix + child.name
                if not isinstance(child, ast.ClassDef):
                    length = (child.end_lineno or child.lineno) - child.lineno + 1
                    if length > MAX_FUNCTION_LINES:
                        found[name] = length
                walk(child, name + ".")
            else:
                walk(child, prefix)

    walk(ast.parse(path.read_text(encoding="utf-8")), "")
    return found


def oversized() -> dict[str, int]:
    over: dict[str, int] = {}
    for path in modules():
        rel = path.relative_to(PACKAGE).as_posix()
        lines = len(path.read_text(encoding="utf-8").splitlines())
        if lines > MAX_MODULE_LINES:
            over[rel] = lines
        for name, length in long_functions(path).items():
            over[f"{rel}::{name}"] = length
    return over


def test_no_module_or_function_over_the_limits():
    over = {k: v for k, v in oversized().items() if k not in EXCEPTIONS}
    assert over == {}, "over the limits (split them, or list them in EXCEPTIONS with a reason)"


def test_every_exception_is_still_needed():
    assert sorted(set(EXCEPTIONS) - set(oversized())) == []


def test_the_checker_sees_a_long_function(tmp_path):
    # The limits are only as good as the walk: a nested long function must be found.
    body = "\n".join(f"        x{i} = {i}" for i in range(MAX_FUNCTION_LINES))
    source = tmp_path / "m.py"
    source.write_text(f"class A:\n    def f(self):\n{body}\n")
    assert long_functions(source) == {"A.f": MAX_FUNCTION_LINES + 1}
