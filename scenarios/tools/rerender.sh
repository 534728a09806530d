#!/usr/bin/env bash
# Re-renders every results file given in all four formats with two rigor
# binaries and reports any byte difference.
# usage: rerender.sh BEFORE AFTER results.json...
set -uo pipefail
before=$1 after=$2; shift 2
out=$(mktemp -d); diffs=0; n=0
for r in "$@"; do
  name=$(basename "$(dirname "$r")")
  for f in console html markdown junit; do
    "$before" report "$r" --format $f --color never > "$out/$name.$f.before" 2>/dev/null; b=$?
    "$after"  report "$r" --format $f --color never > "$out/$name.$f.after" 2>/dev/null; a=$?
    n=$((n+1))
    if [ $a -ne $b ] || ! cmp -s "$out/$name.$f.before" "$out/$name.$f.after"; then
      diffs=$((diffs+1)); echo "DIFFERS: $r $f (exit $b -> $a)"
      diff "$out/$name.$f.before" "$out/$name.$f.after" | head -5
    fi
  done
done
echo "$n renders, $diffs differ ($out)"
