#!/usr/bin/env bash
# prometheus: the shipped alert rules and Grafana dashboard (examples/prometheus,
# examples/grafana) are valid and say what they mean:
#  - `promtool check rules` and `promtool test rules` (made-up series: three 75s in a row
#    alarm, two do not; a gate trip alarms at once; ...);
#  - every PromQL expression of the dashboard parses (checked as a recording rule);
#  - every metric the rules and the dashboard use is one docs/monitoring.md documents
#    (and the programs write: tests/integration/ops_monitoring.sh reads their files).
# promtool comes from Debian's prometheus package (.ci/install-deps.sh); missing, it fails.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
command -v promtool >/dev/null || { echo "prometheus: promtool not installed (package prometheus)" >&2; exit 1; }
command -v jq >/dev/null || { echo "prometheus: jq not installed" >&2; exit 1; }
WS=$(mktemp -d)
trap 'rm -rf "$WS"' EXIT
fail() { echo "prometheus: FAIL: $*" >&2; exit 1; }

cd "$ROOT/examples/prometheus"
promtool check rules mapsync.rules.yml || fail "promtool check rules"
promtool test rules mapsync.rules.test.yml || fail "promtool test rules"

dash=$ROOT/examples/grafana/mapsync.json
jq -e '.panels | length > 0' "$dash" >/dev/null || fail "the dashboard is not JSON with panels"
{
  echo "groups:"
  echo "  - name: dashboard"
  echo "    rules:"
  jq -r '[.panels[].targets[]?.expr] | to_entries[] | "      - record: dashboard_expr_\(.key)\n        expr: \(.value | gsub("\\$instance"; ".*") | @json)"' "$dash"
} > "$WS/dashboard.rules.yml"
promtool check rules "$WS/dashboard.rules.yml" || fail "a dashboard expression does not parse"

# Metric names used, against the documented ones (<p>_x stands for mapsync_x, adsync_x, mboxsync_x).
documented=$(grep -oE '`(<p>|mapsync|adsync|mboxsync)_[a-z_]+' "$ROOT/docs/monitoring.md" | tr -d '`' |
             while read -r m; do
               if [[ $m == '<p>'* ]]; then for p in mapsync adsync mboxsync; do echo "$p${m#<p>}"; done; else echo "$m"; fi
             done | sort -u)
used=$( { grep -oE '\b(mapsync|adsync|mboxsync)_[a-z_]+' mapsync.rules.yml; jq -r '.panels[].targets[]?.expr' "$dash" |
          grep -oE '\b(mapsync|adsync|mboxsync)_[a-z_]+'; } | sort -u)
missing=$(comm -23 <(echo "$used") <(echo "$documented"))
[[ -z $missing ]] || fail "used but not documented in docs/monitoring.md: $missing"
n=$(echo "$used" | wc -l)
(( n >= 20 )) || fail "only $n metric names found in the rules and the dashboard (the check would prove nothing)"
echo "prometheus: ok ($n metric names, $(jq '[.panels[].targets[]?] | length' "$dash") dashboard queries)"
