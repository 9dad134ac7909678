#!/usr/bin/env python3
"""Fails when the files of a crate import each other in a circle.

Each `.rs` file under a crate's `src/` is a node; an edge A -> B means that A names an item of
B through a `crate::`, `super::` or `self::` path, or through a bare path that starts with one of
A's own child modules (or, in the crate root, one of its modules). Paths through the crate root's
re-exports (`crate::Foo` where lib.rs says `pub use bar::Foo`) are followed to the file that
defines the item. Not counted:

- the crate root's own edges (lib.rs and main.rs are facades: `mod` and `pub use` lines), and
  every file's re-exports (`pub use`), which are its public face, not a use of the item;
- test code (files named `tests.rs` or `*_tests.rs`, and every `#[cfg(test)]` item, which is
  stripped from the text), which may use anything.

Usage: import-cycles.py CRATE_DIR...   (prints every circle, exit 1 if there is one)
"""

import re
import sys
from pathlib import Path

IDENT = r"[A-Za-z_][A-Za-z0-9_]*"


def module_path(src: Path, file: Path):
    rel = file.relative_to(src).with_suffix("")
    parts = list(rel.parts)
    if parts in (["lib"], ["main"]):
        return ()
    if parts and parts[-1] == "mod":
        parts = parts[:-1]
    return tuple(parts)


def strip(text: str) -> str:
    """Removes comments, string literals and every `#[cfg(test)]` item (roughly, but enough)."""
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    text = re.sub(r"//[^\n]*", "", text)
    text = re.sub(r'r#*"(?:.|\n)*?"#*', '""', text)
    text = re.sub(r'"(?:\\.|[^"\\])*"', '""', text)
    text = re.sub(r"'(?:\\.|[^'\\])'", "' '", text)
    out, i = [], 0
    for m in re.finditer(r"#\[cfg\(test\)\]", text):
        if m.start() < i:
            continue
        out.append(text[i:m.start()])
        # The item the attribute applies to: up to its `;`, or its whole `{ ... }` block.
        j = m.end()
        while j < len(text) and text[j] not in "{;":
            j += 1
        if j < len(text) and text[j] == "{":
            depth, j = 1, j + 1
            while j < len(text) and depth:
                depth += {"{": 1, "}": -1}.get(text[j], 0)
                j += 1
        else:
            j += 1
        i = j
    out.append(text[i:])
    return "".join(out)


def use_paths(tree: str, prefix=()):
    """Expands a `use` tree (`a::{b, c::{d, e}}`) into paths."""
    tree = tree.strip()
    m = re.match(r"^((?:" + IDENT + r"\s*::\s*)*)\{(.*)\}$", tree, flags=re.S)
    if m:
        head = tuple(s.strip() for s in m.group(1).split("::") if s.strip())
        inner, depth, start, items = m.group(2), 0, 0, []
        for k, c in enumerate(inner):
            if c == "{":
                depth += 1
            elif c == "}":
                depth -= 1
            elif c == "," and depth == 0:
                items.append(inner[start:k])
                start = k + 1
        items.append(inner[start:])
        for item in items:
            if item.strip():
                yield from use_paths(item, prefix + head)
        return
    tree = re.sub(r"\s+as\s+" + IDENT + "$", "", tree)
    segs = tuple(s.strip() for s in tree.split("::") if s.strip())
    if segs and segs[-1] == "self":
        segs = segs[:-1]
    yield prefix + segs


def main(crates):
    failed = False
    for crate in crates:
        src = Path(crate) / "src"
        files = {module_path(src, f): f for f in src.rglob("*.rs")}
        modules = set(files)
        texts = {m: strip(f.read_text()) for m, f in files.items()}
        reexports = {}
        for root in [()]:
            for m in re.finditer(r"pub\s+use\s+([^;]+);", texts.get(root, "")):
                for path in use_paths(m.group(1)):
                    path = path[1:] if path and path[0] in ("self", "crate") else path
                    if path:
                        reexports[path[-1]] = path

        def resolve(path):
            """The module (file) that `path` (absolute, from the crate root) names an item of."""
            for _ in range(4):
                best = ()
                for k in range(len(path), 0, -1):
                    if tuple(path[:k]) in modules:
                        best = tuple(path[:k])
                        break
                if best or not path or path[0] not in reexports:
                    return best
                path = reexports[path[0]] + tuple(path[1:])
            return ()

        def absolute(current, path):
            if not path:
                return None
            head, rest = path[0], tuple(path[1:])
            if head == "crate":
                return rest
            if head in ("self", "super"):
                base = list(current)
                while path and path[0] in ("self", "super"):
                    if path[0] == "super":
                        if not base:
                            return None
                        base.pop()
                    path = path[1:]
                return tuple(base) + tuple(path)
            if current + (head,) in modules:
                return current + (head,)+ rest
            return None

        edges = {m: set() for m in modules}
        for mod, text in texts.items():
            if mod == () or (mod and (mod[-1] == "tests" or mod[-1].endswith("_tests"))):
                continue
            paths = []
            # A re-export (`pub use`) is a module's public face, not something its code uses.
            text = re.sub(r"\bpub(?:\([^)]*\))?\s+use\s+[^;]+;", "", text)
            for m in re.finditer(r"\buse\s+([^;]+);", text):
                paths.extend(use_paths(m.group(1)))
            for m in re.finditer(r"(?<![:\w])((?:crate|super|self)(?:\s*::\s*" + IDENT + r")+)", text):
                paths.append(tuple(s.strip() for s in m.group(1).split("::")))
            for m in re.finditer(r"(?<![:\w])(" + IDENT + r")\s*::\s*" + IDENT, text):
                if mod + (m.group(1),) in modules:
                    paths.append((m.group(1),) + (m.group(0).split("::")[1].strip(),))
            for path in paths:
                target = absolute(mod, path)
                if target is None:
                    continue
                target = resolve(target)
                if target != mod and target != () and target in modules:
                    edges[mod].add(target)
        for cycle in cycles(edges):
            failed = True
            circle, members = cycle
            names = [str(files[m].relative_to(Path(crate))) for m in circle]
            print(f"{crate}: import circle: " + " -> ".join(names + names[:1]))
            if len(members) > len(circle):
                rest = sorted(str(files[m].relative_to(Path(crate))) for m in members)
                print(f"{crate}:   in a knot of {len(members)} files: " + ", ".join(rest))
    return 1 if failed else 0


def cycles(edges):
    """One shortest circle per strongly connected component of more than one file (Tarjan)."""
    index, low, stack, on, sccs, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(edges[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            scc = []
            while True:
                w = stack.pop()
                on.discard(w)
                scc.append(w)
                if w == v:
                    break
            if len(scc) > 1:
                sccs.append(scc)

    sys.setrecursionlimit(10000)
    for v in sorted(edges):
        if v not in index:
            visit(v)
    for scc in sccs:
        members = set(scc)
        start = min(scc)
        # breadth-first search for the shortest way back to `start` inside the component
        prev, frontier, found = {start: None}, [start], None
        while frontier and not found:
            nxt = []
            for v in frontier:
                for w in sorted(edges[v] & members):
                    if w == start:
                        found = v
                        break
                    if w not in prev:
                        prev[w] = v
                        nxt.append(w)
                if found:
                    break
            frontier = nxt
        path, v = [], found
        while v is not None:
            path.append(v)
            v = prev[v]
        yield list(reversed(path)), members


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
