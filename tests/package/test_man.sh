#!/usr/bin/env bash
# The man pages render with man -l, without groff warnings, and show each program's own options
# (they are generated from its --help). usage: test_man.sh MAN_DIR    exit 77 without man
set -euo pipefail
dir=$1
command -v man >/dev/null || { echo "man not found: skipped"; exit 77; }
fail() { echo "FAILED: $*" >&2; exit 1; }
# page:expected text in its rendering (one option or subcommand per program, from its --help)
for spec in "ipc-managerd.8:--snapshot" "ipc-managerd.8:directive value" "ipc-ctl.1:--socket" \
            "ipc-shm.1:remove the segments whose creator" "ipc-lifecycle.1:--subreaper" \
            "ipc-lifecycle.1:daemonize"; do
  page=$dir/${spec%%:*} want=${spec#*:}
  [ -f "$page" ] || fail "no $page"
  name=$(basename "${page%.*}")
  text=$(MANWIDTH=100 man --warnings -l "$page" 2>"$dir/warnings.txt")
  [ -s "$dir/warnings.txt" ] && { cat "$dir/warnings.txt"; fail "$page renders with warnings"; }
  grep -q "^NAME" <<<"$text" || fail "$page has no NAME section"
  grep -q "^ *$name - " <<<"$text" || fail "$page does not name $name"
  grep -q "^SYNOPSIS" <<<"$text" || fail "$page has no SYNOPSIS"
  grep -qF -- "$want" <<<"$text" || fail "$page does not show '$want'"
done
echo "man pages render: $(cd "$dir" && ls ./*.[18] | tr '\n' ' ')"
