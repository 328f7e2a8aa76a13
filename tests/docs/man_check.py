#!/usr/bin/env python3
"""man_check.py - the man pages are clean and complete.

  man_check.py DOCS_DIR NAME=BINARY...

For each NAME (mapsync, adsync, mboxsync, mapadm): DOCS_DIR/NAME.8 must pass
`mandoc -Tlint -W warning` without a single message, have the sections NAME, SYNOPSIS,
DESCRIPTION, OPTIONS, EXIT STATUS, FILES, EXAMPLES and SEE ALSO, and mention every
subcommand and every option that `BINARY --help` lists, recursively for each subcommand
(`BINARY SUB --help`, `BINARY SUB SUBSUB --help`): a new option without documentation
fails this test. --help itself is exempt.
"""
import os
import re
import subprocess
import sys

SECTIONS = ["NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS", "EXIT STATUS", "FILES", "EXAMPLES", "SEE ALSO"]
ENV = {"PATH": "/usr/bin:/bin", "LC_ALL": "C"}


def run(argv):
    p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=ENV, timeout=60)
    return p.returncode, p.stdout.decode("utf-8", "replace")


def help_tree(binary, path=()):
    """(path, options, subcommands) for the program and each subcommand, from --help."""
    rc, text = run([binary, *path, "--help"])
    if rc != 0:
        raise SystemExit("%s %s --help: exit %d\n%s" % (binary, " ".join(path), rc, text))
    options, subs, section = set(), [], None
    for line in text.splitlines():
        head = re.match(r"^([A-Za-z][A-Za-z ]*):\s*$", line)
        if head:
            section = head.group(1).upper()
            continue
        if not line.startswith(" "):
            continue
        # CLI11 prints "Options:" with "  -c,--config TEXT=...  help", "Subcommands:" with
        # "  build   help" (older versions: upper-case headings, spaces after the comma).
        if section == "OPTIONS":
            names = re.match(r"^\s+((?:-{1,2}[A-Za-z0-9][\w-]*,?\s*)+)", line)
            if names:
                options.update(re.findall(r"-{1,2}[A-Za-z0-9][\w-]*", names.group(1)))
        elif section == "SUBCOMMANDS":
            word = re.match(r"^\s+([a-z][\w-]*)", line)
            if word:
                subs.append(word.group(1))
    out = [(path, options, subs)]
    for s in subs:
        out += help_tree(binary, path + (s,))
    return out


def page_text(page):
    rc, text = run(["mandoc", "-Tascii", page])
    if rc != 0:
        raise SystemExit("mandoc -Tascii %s: exit %d\n%s" % (page, rc, text))
    return re.sub(r".\x08", "", text)  # overstrike (bold, underline) to plain text


def check(docs, name, binary):
    fails = []
    page = os.path.join(docs, name + ".8")
    if not os.path.isfile(page):
        return ["%s: missing" % page]
    rc, lint = run(["mandoc", "-Tlint", "-W", "warning", page])
    if rc != 0 or lint.strip():
        fails.append("%s: mandoc -Tlint -W warning (exit %d):\n%s" % (page, rc, lint.rstrip()))
    text = page_text(page)
    headings = re.findall(r"^([A-Z][A-Z ]+)$", text, re.M)
    for s in SECTIONS:
        if s not in headings:
            fails.append("%s: no %s section" % (page, s))
    words = set(re.findall(r"[\w-]+", text))
    checked = 0
    for path, options, subs in help_tree(binary):
        where = " ".join((name,) + path)
        for s in subs:
            checked += 1
            if s not in words:
                fails.append("%s: subcommand \"%s %s\" is not in the page" % (page, where, s))
        for o in sorted(options - {"-h", "--help"}):
            checked += 1
            if not re.search(r"(?<![\w-])" + re.escape(o) + r"(?![\w-])", text):
                fails.append("%s: option %s of \"%s\" is not in the page" % (page, o, where))
    print("%s: %d subcommands and options checked" % (page, checked))
    return fails


def main(argv):
    if len(argv) < 3:
        print(__doc__, file=sys.stderr)
        return 64
    fails = []
    for arg in argv[2:]:
        name, _, binary = arg.partition("=")
        fails += check(argv[1], name, binary)
    for f in fails:
        print("FAIL " + f, file=sys.stderr)
    print("man pages: %d failure(s)" % len(fails))
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
