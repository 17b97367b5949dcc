#!/usr/bin/env bash
# Byte-for-byte artifact comparison between two builds (a refactor must not change what is written).
#
#   scripts/compare-artifacts.sh record BIN PLUGIN_DIR OUT
#       runs all four experiments offline, in prompt_only and in full mode, with fixed seeds and
#       experiment ids, into OUT/_artifacts (cache off, --jobs 1); their progress goes to OUT.stderr.log.
#   scripts/compare-artifacts.sh diff OUT_A OUT_B
#       compares two recorded trees after masking what differs between any two runs of one build
#       (wall-clock times, durations and the report's seconds column, the tree's own path, the
#       plugin library's path, the index's path-keyed memo in index/.cache and the
#       plugin files' modification times); prints every differing file and exits 1 if any.
#
# Run `record` twice with the same build first: `diff` of those two must be empty (it is the check
# that the masking hides nothing real).
set -euo pipefail

record() {
  local bin plugins out
  bin=$(realpath "$1"); plugins=$(realpath "$2"); out=$3
  rm -rf "$out" "$out.stderr.log"; mkdir -p "$out"; out=$(realpath "$out")
  cd "$out"
  local common=(--plugin-dir "$plugins" --no-default-plugin-dirs --cache off --jobs 1)
  # shellcheck disable=SC2129 # one redirect per command keeps each line whole when read alone
  for mode in prompt_only full; do
    "$bin" experiments run 3x3 --seed 3 --experiment-id "3x3_$mode" --mode "$mode" "${common[@]}" >/dev/null 2>>"$out.stderr.log"
    "$bin" experiments run profile_v5_3x3 --seed 5 --runs-per-set 1 --experiment-id "v5_$mode" --mode "$mode" "${common[@]}" >/dev/null 2>>"$out.stderr.log"
    "$bin" experiments run ab_refinement_block --seed 7 --runs 3 --experiment-id "ab_refine_$mode" --mode "$mode" "${common[@]}" >/dev/null 2>>"$out.stderr.log"
    "$bin" experiments run ab_scenespec_json_intermediary --seed 9 --runs 3 --experiment-id "ab_scene_$mode" --mode "$mode" "${common[@]}" >/dev/null 2>>"$out.stderr.log"
  done
  echo "recorded $(find "$out" -type f | wc -l) files in $out"
}

# Masks one file's volatile parts; prints the result.
mask() {
  local root=$1 file=$2
  sed -E \
    -e "s#$root#<ROOT>#g" \
    -e 's#/[^"<> ]*/(libexp_[a-z0-9_]+\.so)#<PLUGINS>/\1#g' \
    -e 's#[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?(Z|[+-][0-9]{2}:?[0-9]{2})?#<TIME>#g' \
    -e 's#[0-9]{8}_[0-9]{6}#<STAMP>#g' \
    -e 's#"([a-z_]*(duration|elapsed|_ms|_secs|_seconds|mtime|modified)[a-z_]*)": ?[0-9.e+-]+#"\1": <N>#g' \
    -e 's#\b[0-9]+(\.[0-9]+)? ?(ms|s)\b#<DUR>#g' \
    -e 's#(<td>[a-z_]+</td><td class="num">)[0-9.]+(</td>)#\1<SECONDS>\2#g' \
    "$file"
}

# The index's registries are ordered by creation time, which the mask hides: compare their rows
# as a sorted set.
masked() {
  case "$2" in
    ./_artifacts/index/*.csv|./_artifacts/index/*.jsonl) mask "$1" "$1/$2" | sort ;;
    *) mask "$1" "$1/$2" ;;
  esac
}

diff_trees() {
  local a b status=0
  a=$(realpath "$1"); b=$(realpath "$2")
  local files
  files=$( (cd "$a" && find . -type f; cd "$b" && find . -type f) | grep -v -e '/\.lock$' -e '/cache/' -e '/index/\.cache/' | sort -u)
  local compared=0
  while IFS= read -r file; do
    if [[ ! -f "$a/$file" || ! -f "$b/$file" ]]; then
      echo "only in one tree: $file"; status=1; continue
    fi
    compared=$((compared + 1))
    if cmp -s "$a/$file" "$b/$file"; then continue; fi
    case "$file" in
      *.png|*.jpg|*.sqlite*) echo "differs (binary): $file"; status=1; continue ;;
    esac
    if ! diff -q <(masked "$a" "$file") <(masked "$b" "$file") >/dev/null; then
      echo "differs: $file"
      diff <(masked "$a" "$file") <(masked "$b" "$file") | head -6 | sed 's/^/    /' || true
      status=1
    fi
  done <<<"$files"
  echo "compared $compared files"
  return $status
}

case "${1:-}" in
  record) shift; record "$@" ;;
  diff) shift; diff_trees "$@" ;;
  *) sed -n '2,14p' "$0"; exit 2 ;;
esac
