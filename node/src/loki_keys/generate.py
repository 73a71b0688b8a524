#!/usr/bin/env python3
"""Extracts every key of Loki's configuration reference into keys.txt.

The reference is generated inside Loki's repository from its Go structs
(docs/sources/shared/configuration.md). Key names and types are facts about
Loki's config format; nothing else of the document is kept.

    python3 node/src/loki_keys/generate.py /path/to/loki/docs/sources/shared/configuration.md v3.7.6

or, from a bare mirror of github.com/grafana/loki:

    git -C MIRROR show v3.7.6:docs/sources/shared/configuration.md > /tmp/c.md
    python3 node/src/loki_keys/generate.py /tmp/c.md v3.7.6

Output format (keys.txt): `@block NAME` starts a block (`@block root` is the
top level); each following line is `PATH TYPE`, PATH dotted relative to the
block. TYPE is `{}` for an inline section, `<NAME>` for a reference to
another block, or Loki's type text for a leaf.
"""
import re
import sys

src, version = sys.argv[1], sys.argv[2]
lines = open(src, encoding="utf-8").read().split("\n")

# Sections: "### name" followed by a ```yaml block; the top level is the
# block under "Supported contents and default values".
blocks = {}
order = []
current = None
in_yaml = False
for line in lines:
    if line.startswith("### "):
        title = line[4:].strip()
        current = "root" if title.startswith("Supported contents") else title
        continue
    if line.startswith("## "):
        current = None
        continue
    if line.strip() == "```yaml" and current:
        in_yaml = True
        blocks[current] = []
        order.append(current)
        continue
    if line.strip() == "```" and in_yaml:
        in_yaml = False
        current = None
        continue
    if in_yaml:
        blocks[current].append(line)

names = set(blocks)
key_re = re.compile(r"^( *)\[([A-Za-z0-9_.\-]+): (.*?)(?: \| default = .*)?\]\s*$")
section_re = re.compile(r"^( *)([A-Za-z0-9_.\-]+):\s*$")
inline_re = re.compile(r"^( *)\[<([A-Za-z0-9_]+)>\]\s*$")

entries = {}  # block -> [(path, type)]; ("@inline", name) entries are expanded below
for name in order:
    items = entries[name] = []
    stack = []  # (indent, name)
    for line in blocks[name]:
        if line.lstrip().startswith("#") or not line.strip():
            continue
        m = key_re.match(line)
        s = section_re.match(line) if not m else None
        i = inline_re.match(line) if not (m or s) else None
        if not (m or s or i):
            continue
        indent = len((m or s or i).group(1))
        while stack and stack[-1][0] >= indent:
            stack.pop()
        prefix = ".".join(n for _, n in stack)
        if i:
            items.append((prefix, "@inline " + i.group(2)))
        elif m:
            key, typ = m.group(2), m.group(3).strip()
            inner = typ[1:-1] if typ.startswith("<") and typ.endswith(">") else typ
            typ = f"<{inner}>" if inner in names else typ.replace(" ", "_")
            items.append((f"{prefix + '.' if prefix else ''}{key}", typ))
        else:
            key = s.group(2)
            items.append((f"{prefix + '.' if prefix else ''}{key}", "{}"))
            stack.append((indent, key))


def expand(name, prefix=""):
    for path, typ in entries[name]:
        if typ.startswith("@inline "):
            inner = typ.split(" ", 1)[1]
            yield from expand(inner, f"{prefix}{path}." if path else prefix)
        else:
            yield f"{prefix}{path}", typ


out = [
    f"# Every key of Grafana Loki {version}'s configuration reference",
    "# (docs/sources/shared/configuration.md), extracted by generate.py beside this file.",
]
for name in order:
    out.append(f"@block {name}")
    seen = set()
    for path, typ in expand(name):
        if path not in seen:
            seen.add(path)
            out.append(f"{path} {typ}")

open(__file__.rsplit("/", 1)[0] + "/keys.txt", "w", encoding="utf-8").write("\n".join(out) + "\n")
print(f"{sum(1 for l in out if not l.startswith(('#', '@')))} keys in {len(order)} blocks")
