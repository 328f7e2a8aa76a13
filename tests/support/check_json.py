#!/usr/bin/env python3
"""check_json.py - the programs' --json documents against their schemas (docs/json.md).

  check_json.py DOC.json...   validates each document against docs/json/KIND.schema.json,
                              KIND taken from the document's own "kind"; exit 1 on the
                              first document that does not conform (every error listed).
  check_json.py self-test     without any service: every kind that
                              libmapsync/core/json_format.h lists has a schema, a section
                              in docs/json.md and an example the schema accepts; and the
                              schemas reject a document without "format", with an unknown
                              top-level field, of another kind or another version.

The integration tests call the first form from expect_json (tests/integration/lib.sh) on
everything the programs print with --json, so every test that reads JSON checks it too.
Uses python3-jsonschema (Debian 12: 4.10, draft 2020-12).
"""
import copy
import json
import os
import re
import sys

import jsonschema

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCHEMAS = os.path.join(ROOT, "docs", "json")


def schema_for(kind):
    path = os.path.join(SCHEMAS, kind + ".schema.json")
    if not re.fullmatch(r"[a-z]+\.[a-z-]+", kind) or not os.path.isfile(path):
        return None, path
    with open(path, encoding="utf-8") as f:
        return json.load(f), path


def errors_of(doc):
    """The schema errors of one document, as lines; empty when it conforms."""
    if not isinstance(doc, dict):
        return ["the top level is a %s, not an object with format and kind" % type(doc).__name__]
    if "format" not in doc or "kind" not in doc:
        return ["no top-level \"format\" and \"kind\" (docs/json.md)"]
    kind = doc["kind"]
    schema, path = schema_for(kind) if isinstance(kind, str) else (None, "?")
    if schema is None:
        return ["kind %r has no schema (%s)" % (kind, path)]
    validator = jsonschema.Draft202012Validator(schema)
    out = []
    for e in sorted(validator.iter_errors(doc), key=lambda e: list(e.absolute_path)):
        where = "/".join(str(p) for p in e.absolute_path) or "(top level)"
        out.append("%s: %s: %s" % (os.path.basename(path), where, e.message[:300]))
    return out


def check_files(files):
    bad = 0
    for name in files:
        try:
            with open(name, encoding="utf-8") as f:
                doc = json.load(f)
        except (OSError, ValueError) as e:
            print("%s: not JSON: %s" % (name, e), file=sys.stderr)
            bad += 1
            continue
        errs = errors_of(doc)
        for line in errs:
            print("%s: %s" % (name, line), file=sys.stderr)
        bad += bool(errs)
    return 1 if bad else 0


def listed_kinds():
    with open(os.path.join(ROOT, "libmapsync", "core", "json_format.h"), encoding="utf-8") as f:
        text = f.read()
    return re.findall(r'inline constexpr JsonFormat \w+\{"([^"]+)", (\d+)\};', text)


def self_test():
    failures = []
    fail = failures.append
    kinds = listed_kinds()
    if len(kinds) < 10:
        fail("json_format.h: found only %d kinds; did its layout change?" % len(kinds))
    with open(os.path.join(ROOT, "docs", "json.md"), encoding="utf-8") as f:
        guide = f.read()
    names = {k for k, _ in kinds}
    on_disk = {n[: -len(".schema.json")] for n in os.listdir(SCHEMAS) if n.endswith(".schema.json")}
    for extra in sorted(on_disk - names):
        fail("docs/json/%s.schema.json: no such kind in json_format.h" % extra)
    for kind, version in kinds:
        schema, path = schema_for(kind)
        if schema is None:
            fail("%s: no schema %s" % (kind, path))
            continue
        if "\n## `%s`" % kind not in guide:
            fail("%s: no section \"## `%s`\" in docs/json.md" % (kind, kind))
        try:
            jsonschema.Draft202012Validator.check_schema(schema)
        except jsonschema.exceptions.SchemaError as e:
            fail("%s: not a valid draft 2020-12 schema: %s" % (path, e.message))
            continue
        if schema.get("additionalProperties") is not False:
            fail("%s: the top level must not allow unknown fields" % path)
        if schema["properties"].get("format", {}).get("const") != int(version):
            fail("%s: format is not the constant %s that json_format.h says" % (path, version))
        examples = schema.get("examples") or []
        if not examples:
            fail("%s: no example" % path)
            continue
        good = examples[0]
        for line in errors_of(good):
            fail("%s: its example does not conform: %s" % (kind, line))
        # The negative checks: each must be rejected, or the schema cannot fail a test.
        broken = {
            "without format": {k: v for k, v in good.items() if k != "format"},
            "with an unknown top-level field": dict(good, surprise=1),
            "of another version": dict(good, format=int(version) + 1),
            "with format as a string": dict(good, format="%s/%s" % (kind, version)),
        }
        required = [k for k in schema.get("required", []) if k not in ("format", "kind")]
        if required:
            broken["without " + required[0]] = {k: v for k, v in good.items() if k != required[0]}
        for what, doc in broken.items():
            if not errors_of(copy.deepcopy(doc)):
                fail("%s: a document %s passes its schema" % (kind, what))
    if errors_of([]) == [] or errors_of({"format": 1, "kind": "no.such-kind"}) == []:
        fail("check_json.py accepts an array or an unknown kind")
    for f in failures:
        print("FAIL " + f, file=sys.stderr)
    print("json schemas: %d kinds, %d failure(s)" % (len(kinds), len(failures)))
    return 1 if failures else 0


def main(argv):
    if argv[1:] == ["self-test"]:
        return self_test()
    if len(argv) < 2 or argv[1].startswith("-"):
        print(__doc__, file=sys.stderr)
        return 64
    return check_files(argv[1:])


if __name__ == "__main__":
    sys.exit(main(sys.argv))
