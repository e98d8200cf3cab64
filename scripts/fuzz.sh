#!/usr/bin/env bash
# Run every fuzz target for SECONDS each (default 600) and print executions per target.
# Two fuzz crates: the CLI's (fuzz/) and gzip-exact's (crates/gzip-exact/fuzz/, target
# `rebuild`). New inputs go to DIR/work/TARGET; the committed seeds in DIR/corpus/TARGET are
# only read.
# cargo fuzz needs nightly flags (-Zsanitizer); RUSTC_BOOTSTRAP=1 lets the stable toolchain, the
# only one this project assumes, accept them. SANITIZER=none skips AddressSanitizer (CI's smoke:
# the code is safe Rust, and it builds faster).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-600}
sanitizer=${SANITIZER:-address}
targets=${FUZZ_TARGETS:-"image_list reference www_authenticate registry_responses bundle_file bundle_members rebuild patch oci_layout chart_values"}
command -v cargo-fuzz >/dev/null || cargo install --locked cargo-fuzz
export RUSTC_BOOTSTRAP=1
# The fuzz crate a target is in.
dir_of() {
  case $1 in
    rebuild) echo crates/gzip-exact/fuzz ;;
    *) echo fuzz ;;
  esac
}
for d in $(for t in $targets; do dir_of "$t"; done | sort -u); do
  cargo fuzz build --fuzz-dir "$d" -O -s "$sanitizer"
done
summary=()
status=0
for t in $targets; do
  d=$(dir_of "$t")
  mkdir -p "$d/work/$t"
  log=$d/work/$t.log
  # -rss_limit_mb: a crafted bundle must not make the reader use more than this.
  if cargo fuzz run --fuzz-dir "$d" -O -s "$sanitizer" "$t" "$d/work/$t" "$d/corpus/$t" -- \
      -max_total_time="$seconds" -rss_limit_mb=1024 -timeout=20 -print_final_stats=1 >"$log" 2>&1; then
    result=ok
  else
    result="FAILED (see $log and $d/artifacts/$t)"
    status=1
  fi
  runs=$(grep -o '^stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo 0)
  summary+=("$(printf '%-18s %6ss %12s runs  %s' "$t" "$seconds" "$runs" "$result")")
done
printf '%s\n' "${summary[@]}"
exit $status
