#!/usr/bin/python3
"""Check that a program's --help usage lines match its man page SYNOPSIS (git t0450).

usage: synopsis.py MANPAGE HELPFILE
Each synopsis line of the man page (separated by .br) must equal, token for token,
one usage line of --help ("usage: ..." or "   or: ..."), and the counts must agree.
"""
import re
import sys


def norm(s):
    s = s.replace("\\-", "-").replace("\\e", "\\").replace('"', "")
    s = re.sub(r"\\f[BIRP]", "", s)
    s = re.sub(r"\s*([\[\]|])\s*", r"\1", s)
    return " ".join(s.split())


def man_synopsis(path):
    lines, cur, inside = [], [], False
    for line in open(path, encoding="utf-8"):
        line = line.rstrip("\n")
        if line.startswith(".SH"):
            if inside:
                break
            inside = line.split(None, 1)[1].strip('"') == "SYNOPSIS"
            continue
        if not inside:
            continue
        if line.startswith(".br"):
            lines.append(norm(" ".join(cur)))
            cur = []
            continue
        m = re.match(r"\.(B|I|RB|RI|BR|IR|BI|IB)\s+(.*)", line)
        if m:
            macro, args = m.groups()
            toks = re.findall(r'"[^"]*"|\S+', args)
            if len(macro) == 2:
                cur.append("".join(t.strip('"') for t in toks))
            else:
                cur.append(" ".join(t.strip('"') for t in toks))
        elif line and not line.startswith("."):
            cur.append(line)
    if cur:
        lines.append(norm(" ".join(cur)))
    return lines


def help_usage(path):
    out = []
    for line in open(path, encoding="utf-8"):
        m = re.match(r"\s*(usage|or):\s+(.*)", line)
        if m:
            out.append(norm(m.group(2)))
    return out


man, helps = man_synopsis(sys.argv[1]), help_usage(sys.argv[2])
if man != helps:
    print("man SYNOPSIS and --help usage differ:")
    for a in man:
        print("  man : " + a)
    for b in helps:
        print("  help: " + b)
    sys.exit(1)
