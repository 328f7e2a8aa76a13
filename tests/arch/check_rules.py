#!/usr/bin/env python3
"""check_rules.py - enforces libmapsync/rooms.txt, the architecture's rules as data.

  check_rules.py includes SOURCE_DIR    every #include edge of libmapsync/ and apps/ is allowed
  check_rules.py sizes SOURCE_DIR       no file over 600 lines, no function over 100, unless listed
  check_rules.py linkage SOURCE_DIR BUILD_DIR   no program needs a shared library it must not,
                                        and none carries an RPATH or RUNPATH
  check_rules.py self-test SOURCE_DIR   each check above fails on a tree that breaks its rule

Each violation is one line, FILE:LINE: what is wrong; the exit status is 1 when there is one.
The function-length count is a heuristic (a line ending in ") {" or ") const {" opens a body);
it errs towards counting a long block, never towards missing a long function.
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile

MAX_FILE_LINES = 600
MAX_FUNCTION_LINES = 100


def parse_rules(src):
    rules = {"room": {}, "library": [], "binary": {}, "size": {}, "function": set()}
    path = os.path.join(src, "libmapsync", "rooms.txt")
    with open(path, encoding="utf-8") as f:
        for n, raw in enumerate(f, 1):
            line = raw.split("#", 1)[0].strip()
            if not line:
                continue
            m = re.fullmatch(r"(room|library|binary|size|function)\s+([^:\s]+)\s*:\s*(.*)", line)
            if not m:
                sys.exit(f"{path}:{n}: cannot parse: {raw.rstrip()}")
            kind, name, rest = m.group(1), m.group(2), m.group(3).split()
            if kind == "room":
                rules["room"][name] = set(rest)
            elif kind == "library":
                rules["library"].append((name, rest))
            elif kind == "binary":
                rules["binary"][name] = rest
            elif kind == "size":
                rules["size"][name] = int(rest[0])
            else:
                rules["function"].add((name, rest[0]))
    return rules


def sources(src):
    for top in ("libmapsync", "apps"):
        for root, _, files in os.walk(os.path.join(src, top)):
            for fn in sorted(files):
                if fn.endswith((".h", ".cpp")):
                    p = os.path.join(root, fn)
                    yield os.path.relpath(p, src)


def room_of(rel):
    parts = rel.split("/")
    if parts[0] == "libmapsync":
        return parts[1] if len(parts) > 2 else None
    return "apps/" + parts[1] if len(parts) > 2 else None


def check_includes(src, rules):
    bad = []
    include = re.compile(r'^\s*#\s*include\s*([<"])([^>"]+)[>"]')
    for rel in sources(src):
        room = room_of(rel)
        if room is None or room not in rules["room"]:
            bad.append(f"{rel}:1: not in a room named by libmapsync/rooms.txt")
            continue
        allowed = rules["room"][room]
        with open(os.path.join(src, rel), encoding="utf-8") as f:
            for n, line in enumerate(f, 1):
                m = include.match(line)
                if not m:
                    continue
                quote, target = m.group(1), m.group(2)
                if quote == '"':
                    t = target.split("/")
                    if t[0] != "libmapsync":
                        continue
                    if len(t) != 3:
                        bad.append(f"{rel}:{n}: includes {target}, which is in no room")
                        continue
                    other = t[1]
                    if other == room or other in allowed:
                        continue
                    if t[2] == "options.h" and other + ".options" in allowed:
                        continue
                    bad.append(f"{rel}:{n}: includes {target}: room {room} may not depend on room {other}")
                else:
                    for prefix, owners in rules["library"]:
                        if target.startswith(prefix) and not any(
                                rel == o or (o.endswith("/") and rel.startswith(o)) for o in owners):
                            bad.append(f"{rel}:{n}: includes <{target}>, which only {' '.join(owners)} may include")
    return bad


def strip_code(line, in_comment):
    """The line without string and character literals and comments; and whether a /* */
    comment is still open at its end."""
    out, i = [], 0
    while i < len(line):
        if in_comment:
            j = line.find("*/", i)
            if j < 0:
                return "".join(out), True
            i, in_comment = j + 2, False
        elif line.startswith("//", i):
            break
        elif line.startswith("/*", i):
            in_comment, i = True, i + 2
        elif line[i] in "\"'":
            q, i = line[i], i + 1
            while i < len(line) and line[i] != q:
                i += 2 if line[i] == "\\" else 1
            i += 1
        else:
            out.append(line[i])
            i += 1
    return "".join(out), in_comment


OPENS_BODY = re.compile(r"\)\s*(const|override|final|noexcept|mutable|\s)*(->\s*[\w:<>,\s*&]+)?\s*\{\s*$")
CONTROL = re.compile(r"^\s*(\}\s*)?(if|for|while|switch|catch|else|do)\b")


def check_sizes(src, rules):
    bad = []
    for rel in sources(src):
        if not rel.startswith("libmapsync/"):
            continue
        with open(os.path.join(src, rel), encoding="utf-8") as f:
            lines = f.read().split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        limit = rules["size"].get(rel, MAX_FILE_LINES)
        if len(lines) > limit:
            bad.append(f"{rel}:1: {len(lines)} lines, over the limit of {limit} (rooms.txt: size)")
        depth, in_comment, open_bodies = 0, False, []  # (depth at start, line, name)
        for n, raw in enumerate(lines, 1):
            code, in_comment = strip_code(raw, in_comment)
            if OPENS_BODY.search(code) and not CONTROL.match(code):
                m = re.search(r"([~\w:]+)\s*\(", code)
                name = m.group(1) if m else "?"
                if "(" not in code:  # the signature began on an earlier line
                    for back in range(n - 2, max(n - 6, -1), -1):
                        m = re.search(r"([~\w:]+)\s*\(", lines[back])
                        if m:
                            name = m.group(1)
                            break
                open_bodies.append((depth, n, name))
            for ch in code:
                if ch == "{":
                    depth += 1
                elif ch == "}":
                    depth -= 1
                    if open_bodies and depth == open_bodies[-1][0]:
                        _, start, name = open_bodies.pop()
                        length = n - start + 1
                        if length > MAX_FUNCTION_LINES and (rel, name) not in rules["function"]:
                            bad.append(f"{rel}:{start}: function {name} is {length} lines, over "
                                       f"{MAX_FUNCTION_LINES} (rooms.txt: function)")
    return bad


def search_path_problems(path, readelf_out):
    """Every library the programs use is in the loader's default path, so any RPATH or
    RUNPATH is a mistake of the link flags; an empty entry, '.', a relative one or $ORIGIN
    would even load libraries from wherever the program is started or copied."""
    bad = []
    for kind, value in re.findall(r"\((RPATH|RUNPATH)\)\s+Library r(?:un)?path: \[([^\]]*)\]", readelf_out):
        entries = value.split(":")
        risky = [e for e in entries if not e.startswith("/") or "$ORIGIN" in e or "${ORIGIN}" in e]
        why = " (an empty, relative or $ORIGIN entry: libraries from the current directory)" if risky else ""
        bad.append(f"{path}:1: {kind} [{value}]{why}; the programs must carry none")
    return bad


def check_linkage(src, build, rules):
    bad = []
    for prog, forbidden in rules["binary"].items():
        path = os.path.join(build, "apps", prog, prog)
        if not os.path.exists(path):
            bad.append(f"{path}:1: the program is not built")
            continue
        out = subprocess.run(["readelf", "-d", path], check=True, capture_output=True, text=True,
                             env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C"}).stdout
        needed = re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", out)
        if not needed:
            bad.append(f"{path}:1: readelf shows no NEEDED entries (not a dynamic program?)")
        for lib in needed:
            if any(lib.startswith(f) for f in forbidden):
                bad.append(f"{path}:1: {prog} needs {lib}, which rooms.txt forbids it")
        bad += search_path_problems(path, out)
    return bad


def self_test(src):
    """Copies the rules and a few sources into a scratch tree, breaks each rule once, and
    checks that the check reports exactly that."""
    failures = []
    with tempfile.TemporaryDirectory() as tmp:
        os.makedirs(os.path.join(tmp, "libmapsync", "maps"))
        os.makedirs(os.path.join(tmp, "libmapsync", "core"))
        shutil.copy(os.path.join(src, "libmapsync", "rooms.txt"), os.path.join(tmp, "libmapsync"))
        rules = parse_rules(tmp)

        def write(rel, text):
            with open(os.path.join(tmp, rel), "w", encoding="utf-8") as f:
                f.write(text)

        write("libmapsync/core/ok.cpp", '#include "libmapsync/core/error.h"\n')
        write("libmapsync/maps/ok.cpp", '#include "libmapsync/db/database.h"\n')
        if check_includes(tmp, rules) or check_sizes(tmp, rules):
            failures.append("a clean scratch tree was reported")
        cases = [
            ("libmapsync/core/up.cpp", '#include "libmapsync/maps/model.h"\n', "room core may not depend on room maps"),
            ("libmapsync/maps/side.cpp", '#include "libmapsync/mailbox/options.h"\n', "may not depend on room mailbox"),
            ("libmapsync/maps/lib.cpp", "#include <ldap.h>\n", "<ldap.h>, which only"),
            ("libmapsync/flat.cpp", "int x;\n", "not in a room"),
        ]
        for rel, text, expect in cases:
            write(rel, text)
            found = check_includes(tmp, rules)
            if not any(expect in b for b in found):
                failures.append(f"includes: {rel} with {text.strip()} was not reported ({found})")
            os.remove(os.path.join(tmp, rel))
        body = "void long_one() {\n" + "  int x = 0;\n" * MAX_FUNCTION_LINES + "}\n"
        write("libmapsync/core/long.cpp", body)
        if not any("function long_one" in b for b in check_sizes(tmp, rules)):
            failures.append("sizes: a function over the limit was not reported")
        write("libmapsync/core/long.cpp", "int x;\n" * (MAX_FILE_LINES + 1))
        if not any("over the limit" in b for b in check_sizes(tmp, rules)):
            failures.append("sizes: a file over the limit was not reported")
        os.remove(os.path.join(tmp, "libmapsync/core/long.cpp"))
        # linkage: /bin/sh stands in for a program; it needs libc, so forbidding libc must fail.
        os.makedirs(os.path.join(tmp, "build", "apps", "mapsync"))
        shutil.copy("/bin/sh", os.path.join(tmp, "build", "apps", "mapsync", "mapsync"))
        rules["binary"] = {"mapsync": ["libc."]}
        if not any("needs libc" in b for b in check_linkage(tmp, os.path.join(tmp, "build"), rules)):
            failures.append("linkage: a forbidden NEEDED library was not reported")
        rules["binary"] = {"mapsync": ["libnothing"]}
        if check_linkage(tmp, os.path.join(tmp, "build"), rules):
            failures.append("linkage: an allowed program was reported")
        # readelf -d lines as binutils prints them.
        for line, expect in [
            (" 0x1d (RUNPATH)            Library runpath: [/usr/lib/x86_64-linux-gnu/mit-krb5:]", "current directory"),
            (" 0x0f (RPATH)              Library rpath: [$ORIGIN/../lib]", "current directory"),
            (" 0x1d (RUNPATH)            Library runpath: [/opt/lib]", "RUNPATH [/opt/lib]"),
        ]:
            if not any(expect in b for b in search_path_problems("p", line)):
                failures.append(f"linkage: {line.strip()} was not reported")
        if search_path_problems("p", " 0x01 (NEEDED)             Shared library: [libc.so.6]"):
            failures.append("linkage: a program without RUNPATH was reported")
    return failures


def main(argv):
    if len(argv) < 3:
        sys.exit(__doc__)
    mode, src = argv[1], argv[2]
    if mode == "self-test":
        bad = self_test(src)
    else:
        rules = parse_rules(src)
        if mode == "includes":
            bad = check_includes(src, rules)
        elif mode == "sizes":
            bad = check_sizes(src, rules)
        elif mode == "linkage" and len(argv) == 4:
            bad = check_linkage(src, argv[3], rules)
        else:
            sys.exit(__doc__)
    for b in bad:
        print(b)
    print(f"arch {mode}: {'FAIL, ' + str(len(bad)) + ' problem(s)' if bad else 'ok'}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
