# shellcheck shell=bash
# Shared by the bench-*.sh scripts (sourced, not run): timing and the median.

# time_runs N COMMAND...: runs COMMAND N times (with $RUN set to the 1-based run number) and
# prints each wall time in microseconds, one per line.
time_runs() {
  local runs=$1; shift
  for RUN in $(seq "$runs"); do
    export RUN
    local start end
    start=$(date +%s%N)
    "$@" >/dev/null
    end=$(date +%s%N)
    echo $(( (end - start) / 1000 ))
  done
}

# summarise LABEL: reads microseconds on stdin, prints the median, min and max in milliseconds.
summarise() {
  sort -n | awk -v label="$1" '{ t[NR] = $1 } END {
    median = (NR % 2) ? t[(NR + 1) / 2] : (t[NR / 2] + t[NR / 2 + 1]) / 2
    printf "%s: median %.1f ms over %d runs (min %.1f, max %.1f)\n", label, median / 1000, NR, t[1] / 1000, t[NR] / 1000
  }'
}
