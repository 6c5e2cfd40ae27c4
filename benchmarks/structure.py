"""How the code is laid out: lines per module, the longest classes and
functions, and import cycles among linkgate's modules.

    python benchmarks/structure.py [--top N]

Reads the source with ``ast``; imports nothing from linkgate. Every import
counts toward a cycle, a deferred one inside a function too; one under
``if TYPE_CHECKING`` does not.
"""

from __future__ import annotations

import argparse
import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "linkgate"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def span(node: ast.AST) -> int:
    return node.end_lineno - node.lineno + 1  # type: ignore[attr-defined]


def imports_of(tree: ast.Module, name: str, is_package: bool) -> set[str]:
    """Modules this one imports, at import time or later (inside a function): a deferred import
    hides a cycle rather than removing it. Imports under ``if TYPE_CHECKING`` do not run."""
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped.update(id(inner) for child in node.body for inner in ast.walk(child))
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".")
                if not is_package:
                    base = base[:-1]
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found.add(target)
            found.update(f"{target}.{alias.name}" for alias in node.names)
    return found


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []
    counter = 0

    def connect(node: str) -> None:
        nonlocal counter
        index[node] = low[node] = counter
        counter += 1
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                connect(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            connect(node)
    return groups


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--top", type=int, default=5)
    args = parser.parse_args()

    files = sorted(PACKAGE.rglob("*.py"))
    lines: dict[str, int] = {}
    classes: list[tuple[int, str]] = []
    functions: list[tuple[int, str]] = []
    graph: dict[str, set[str]] = {}
    for path in files:
        name = module_name(path)
        text = path.read_text(encoding="utf-8")
        lines[name] = len(text.splitlines())
        tree = ast.parse(text)
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                classes.append((span(node), f"{name}.{node.name}"))
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                functions.append((span(node), f"{name}.{node.name}"))
        graph[name] = imports_of(tree, name, path.name == "__init__.py")

    known = set(lines)
    # A name imported from a package may be a submodule or an attribute;
    # keep only edges to modules that exist, and drop an edge from a package
    # to its own submodules (importing them is how a package is built).
    for name, targets in graph.items():
        graph[name] = {t for t in targets if t in known and t != name}

    total = sum(lines.values())
    print(f"{len(lines)} modules, {total:,} lines")
    print(f"largest modules (of {len(lines)}):")
    for name, count in sorted(lines.items(), key=lambda item: -item[1])[: args.top]:
        print(f"  {count:5d}  {name}")
    print("longest classes:")
    for count, name in sorted(classes, reverse=True)[: args.top]:
        print(f"  {count:5d}  {name}")
    print("longest functions:")
    for count, name in sorted(functions, reverse=True)[: args.top]:
        print(f"  {count:5d}  {name}")
    found = cycles(graph)
    print(f"import cycles: {len(found)}")
    for group in found:
        print("  " + " <-> ".join(group))


if __name__ == "__main__":
    main()
