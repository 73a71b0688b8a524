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
flags = {}  # block -> [(flag, path in block, type)]
for name in order:
    items = entries[name] = []
    stack = []  # (indent, name)
    flag = None
    for line in blocks[name]:
        stripped = line.strip()
        if stripped.startswith("# CLI flag: -"):
            flag = stripped[len("# CLI flag: "):].split()[0]
            continue
        if line.lstrip().startswith("#") or not line.strip():
            continue
        this_flag, flag = flag, None
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
            if this_flag and "<prefix>" not in this_flag:
                flags.setdefault(name, []).append((this_flag, f"{prefix + '.' if prefix else ''}{key}", typ))
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

# Loki's command-line flags with the absolute key path each sets: a block's
# flags are absolute when the block is used in one place only.
uses = {}
def walk(block, prefix, seen):
    for path, typ in expand(block):
        if typ.startswith("<") and typ[1:-1] in names and typ[1:-1] not in seen:
            inner = typ[1:-1]
            uses.setdefault(inner, []).append(f"{prefix}{path}.")
            walk(inner, f"{prefix}{path}.", seen | {inner})
walk("root", "", {"root"})
flag_paths = {}
def add_flags(block, prefix):
    for f, path, typ in flags.get(block, []):
        flag_paths.setdefault(f, set()).add((prefix + path, typ))
    for path, typ in entries[block]:
        if typ.startswith("@inline "):
            inner = typ.split(" ", 1)[1]
            add_flags(inner, f"{prefix}{path}." if path else prefix)
add_flags("root", "")
for block, prefixes in uses.items():
    if len(set(prefixes)) == 1:
        add_flags(block, prefixes[0])
out.append("@flags")
for f in sorted(flag_paths):
    if len(flag_paths[f]) == 1:
        (path, typ), = flag_paths[f]
        out.append(f"{f} {path} {typ}")

open(__file__.rsplit("/", 1)[0] + "/keys.txt", "w", encoding="utf-8").write("\n".join(out) + "\n")
print(f"{sum(1 for l in out if not l.startswith(('#', '@')))} keys in {len(order)} blocks")
