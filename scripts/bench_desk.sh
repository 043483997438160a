#!/usr/bin/env bash
# The desk's speed and memory (issue 12), beside the command line's:
#   bash scripts/bench_desk.sh                 # 1 GiB upload/download, 10k statements
#   SIZE_MIB=256 STATEMENTS=2000 bash scripts/bench_desk.sh   # quicker
#   CUSTODIA_BIN=target/debug/custodia SIZE_MIB=64 STATEMENTS=200 bash scripts/bench_desk.sh
# Targets: upload and download each within 1.5x `evidence add`/`extract`,
# under 64 MiB RSS for the desk process; a case of 10,000 statements lists
# in under 200 ms; a search answers in under 0.5 s.
# Needs: curl, python3, /usr/bin/time (GNU time). Talks to 127.0.0.1 only.
set -euo pipefail
cd "$(dirname "$0")/.."
SIZE_MIB=${SIZE_MIB:-1024}
STATEMENTS=${STATEMENTS:-10000}
PAIRS=${PAIRS:-5}
# CUSTODIA_BIN=path skips the release build (to try the script quickly).
if [ -z "${CUSTODIA_BIN:-}" ]; then cargo build --release --quiet; fi
BIN="${CUSTODIA_BIN:-${CARGO_TARGET_DIR:-$PWD/target}/release/custodia}"
W=$(mktemp -d "${TMPDIR:-/tmp}/custodia-bench-desk.XXXXXX")
DESK_PID=
cleanup() { [ -n "$DESK_PID" ] && kill -INT "$DESK_PID" 2>/dev/null; rm -rf "$W"; }
trap cleanup EXIT
export CUSTODIA_STATE_DIR="$W/state"
printf 'bench passphrase, not secret\n' > "$W/pass"
V=(--vault "$W/v.custodia" --passphrase-file "$W/pass")
"$BIN" "${V[@]}" init --quiet --user bench --insecure-fast-kdf --recovery-key-out "$W/rk"
"$BIN" "${V[@]}" case new CLI --title cli > /dev/null
head -c $((SIZE_MIB * 1024 * 1024)) /dev/urandom > "$W/file.bin"

secs() { /usr/bin/time -f %e -o "$W/t" "$@" > /dev/null 2> "$W/err" || { cat "$W/err"; exit 1; }; cat "$W/t"; }
median() { sort -g | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else printf "%.3f\n", (a[NR/2]+a[NR/2+1])/2}'; }

/usr/bin/time -v -o "$W/desk-time" "$BIN" --vault "$W/v.custodia" desk --no-open > "$W/url" 2> "$W/desk-err" &
DESK_PID=
for _ in $(seq 100); do [ -s "$W/url" ] && break; sleep 0.1; done
URL=$(head -1 "$W/url")
BASE=${URL%/open/*}
DESK_PID=$(pgrep -P $! | head -1 || true)
J=(-s -b "$W/jar" -c "$W/jar" -H "Origin: $BASE")
curl "${J[@]}" -o /dev/null "$URL"
csrf() { curl "${J[@]}" "$BASE/$1" | sed -n 's/.*name="csrf" content="\([0-9a-f]*\)".*/\1/p' | head -1; }
CSRF=$(csrf "")
curl "${J[@]}" -o /dev/null --data-urlencode "csrf=$CSRF" --data-urlencode "passphrase=$(head -1 "$W/pass")" "$BASE/unlock"

# Alternating pairs, each into a case of its own (the page cache and the
# disk's write-back then weigh on both sides alike): the command line's
# add and extract, the desk's upload and download of the same file.
echo "== ${SIZE_MIB} MiB, median of ${PAIRS} alternating pairs: the command line, then the desk"
: > "$W/rows"
for i in $(seq "$PAIRS"); do
  "$BIN" "${V[@]}" case new "CLI$i" --title cli > /dev/null
  add=$(secs "$BIN" "${V[@]}" evidence add --case "CLI$i" "$W/file.bin")
  id=$("$BIN" "${V[@]}" evidence list --case "CLI$i" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["id"])')
  CASE=$(curl "${J[@]}" -o /dev/null -w '%{redirect_url}' --data "csrf=$CSRF&reference=DESK$i&title=desk" "$BASE/cases")
  CASE=${CASE##*/}
  sync
  up=$(curl "${J[@]}" -o "$W/up.json" -w '%{time_total}' -H "X-CSRF-Token: $CSRF" -H 'X-File-Name: file.bin' \
    -H 'Content-Type: application/octet-stream' -H 'Expect:' -X POST -T "$W/file.bin" "$BASE/case/$CASE/exhibits")
  EID=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["id"])' "$W/up.json")
  sync
  extract=$(secs "$BIN" "${V[@]}" evidence extract "$id" --out "$W/out-cli.bin")
  rm -f "$W/out-cli.bin"; sync
  down=$(curl "${J[@]}" -o "$W/out-desk.bin" -w '%{time_total}' --data "csrf=$CSRF" "$BASE/exhibit/$EID/download")
  cmp "$W/file.bin" "$W/out-desk.bin" && rm -f "$W/out-desk.bin"
  echo "$add $up $extract $down" >> "$W/rows"
done
col() { cut -d' ' -f"$1" "$W/rows" | median; }
ratio() { awk -v a="$1" -v b="$2" '{printf "%.4f\n", $b/$a}' "$W/rows" | median; }
printf '%-34s %8.2f s\n' "evidence add" "$(col 1)" "evidence extract" "$(col 3)"
printf '%-34s %8.2f s  (%.2fx the CLI, median of the pairs: %s)\n' \
  "upload" "$(col 2)" "$(ratio 1 2)" "$(awk '{printf "%.2f ", $2/$1}' "$W/rows")" \
  "download" "$(col 4)" "$(ratio 3 4)" "$(awk '{printf "%.2f ", $4/$3}' "$W/rows")"

echo "== ${STATEMENTS} statements in one case"
python3 - "$W/st.jsonl" "$STATEMENTS" <<'PY'
import json, sys
with open(sys.argv[1], "w") as f:
    for i in range(int(sys.argv[2])):
        f.write(json.dumps({"case": "CLI", "witness": f"Témoin {i}",
                            "body": f"Déposition numéro {i}: je suis parti d'Astana en mars. " * 20}) + "\n")
PY
"$BIN" "${V[@]}" statement import "$W/st.jsonl" > /dev/null
CLI_CASE=$("$BIN" "${V[@]}" case list --json | python3 -c 'import json,sys; print([c["id"] for c in json.load(sys.stdin) if c["reference"]=="CLI"][0])')
for _ in 1 2 3; do
  printf '%-34s %8s s\n' "case page" "$(curl "${J[@]}" -o /dev/null -w '%{time_total}' "$BASE/case/$CLI_CASE")"
done
for _ in 1 2 3; do
  printf '%-34s %8s s\n' "search \"astana mars\"" \
    "$(curl "${J[@]}" -o /dev/null -w '%{time_total}' --data "csrf=$CSRF&q=astana+mars" "$BASE/search")"
done

kill -INT "$DESK_PID" 2>/dev/null || true
wait || true
DESK_PID=
printf '%-34s %8.1f MiB\n' "desk peak RSS" "$(echo "$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$W/desk-time")/1024" | bc -l)"
