#!/usr/bin/env bash
# Speed and memory, side by side with the stock tools in the same run.
#   bash scripts/bench.sh            # 1 GiB ingest/extract, 4 GiB RSS, 10k statements
#   SIZE_MIB=256 BIG_MIB=1024 STATEMENTS=2000 bash scripts/bench.sh   # quicker
#   BIG_STATEMENTS=100000 bash scripts/bench.sh   # also search over 100,000
# Needs: age, age-keygen, /usr/bin/time (GNU time), python3.
set -euo pipefail
cd "$(dirname "$0")/.."
SIZE_MIB=${SIZE_MIB:-1024}
BIG_MIB=${BIG_MIB:-4096}
STATEMENTS=${STATEMENTS:-10000}
cargo build --release --quiet
BIN="$PWD/target/release/custodia"
W=$(mktemp -d "${TMPDIR:-/tmp}/custodia-bench.XXXXXX")
trap 'rm -rf "$W"' EXIT
export CUSTODIA_STATE_DIR="$W/state"
printf 'bench passphrase, not secret\n' > "$W/pass"
V=(--vault "$W/v.custodia" --passphrase-file "$W/pass")
measure() { # label, command...: prints wall seconds and peak RSS
  local label=$1; shift
  /usr/bin/time -f "%e %M" -o "$W/t" "$@" > /dev/null 2> "$W/err" || { cat "$W/err"; exit 1; }
  read -r secs kib < "$W/t"
  printf '%-44s %8.2f s %9.1f MiB peak RSS\n' "$label" "$secs" "$(echo "$kib/1024" | bc -l)"
}

# Unlock cost is measured on a vault at the default (calibrated) KDF; the
# data figures use a second vault made with --insecure-fast-kdf so that the
# 256 MiB Argon2 unlock does not hide the streaming memory and time.
echo "== unlock time at the default (calibrated) KDF"
D=(--vault "$W/default.custodia" --passphrase-file "$W/pass")
measure "init (calibration + first slot)" "$BIN" "${D[@]}" init --quiet --recovery-key-out "$W/rk"
"$BIN" "${D[@]}" info | grep 'Key slot' || true
for _ in 1 2 3; do measure "unlock (user list)" "$BIN" "${D[@]}" user list; done

"$BIN" "${V[@]}" init --quiet --insecure-fast-kdf --recovery-key-out "$W/rk2" 2>/dev/null
"$BIN" "${V[@]}" case new BENCH --title bench > /dev/null

echo "== ${SIZE_MIB} MiB evidence: custodia vs stock age"
head -c $((SIZE_MIB * 1024 * 1024)) /dev/urandom > "$W/file.bin"
age-keygen -o "$W/key" 2>/dev/null
R=$(age-keygen -y "$W/key")
# Custodia fsyncs what it writes before it reports success; the stock tools
# do not. Both baselines are shown: as the tools run, and made durable.
measure "age -r (encrypt ${SIZE_MIB} MiB)" age -r "$R" -o "$W/file.age" "$W/file.bin"
rm -f "$W/file.age"; sync
measure "age -r + fsync (durable baseline)" sh -c "age -r '$R' -o '$W/file.age' '$W/file.bin' && python3 -c 'import os; os.fsync(os.open(\"$W/file.age\", os.O_RDONLY))'"
sync
measure "custodia evidence add (${SIZE_MIB} MiB)" "$BIN" "${V[@]}" evidence add --case BENCH "$W/file.bin"
ID=$("$BIN" "${V[@]}" --json evidence list | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["id"])')
sync
measure "age -d (decrypt ${SIZE_MIB} MiB)" age -d -i "$W/key" -o "$W/file.out1" "$W/file.age"
sync
measure "custodia evidence extract (${SIZE_MIB} MiB)" "$BIN" "${V[@]}" evidence extract "$ID" --out "$W/file.out2"
cmp "$W/file.bin" "$W/file.out2"
sync
measure "tar -c | age -r (export baseline)" sh -c "tar -cf - -C '$W' file.bin | age -r '$R' -o '$W/base.age'"
rm -f "$W/base.age"; sync
measure "tar -c | age -r + fsync (durable)" sh -c "tar -cf - -C '$W' file.bin | age -r '$R' -o '$W/base.age' && python3 -c 'import os; os.fsync(os.open(\"$W/base.age\", os.O_RDONLY))'"
sync
measure "custodia export (${SIZE_MIB} MiB case)" "$BIN" "${V[@]}" export --case BENCH --recipient "$R" --out "$W/bundle.age"
rm -f "$W/file.out1" "$W/file.out2" "$W/file.age" "$W/base.age" "$W/bundle.age"

echo "== peak memory for a ${BIG_MIB} MiB file (target: <= 64 MiB)"
rm -f "$W/file.bin"
head -c $((BIG_MIB * 1024 * 1024)) /dev/zero > "$W/big.bin"
measure "custodia evidence add (${BIG_MIB} MiB)" "$BIN" "${V[@]}" evidence add --case BENCH "$W/big.bin"
rm -f "$W/big.bin"

echo "== ${STATEMENTS} statements of ~5 KB: import and search"
# Statements of ~5 KB in several scripts: gen.py OUT COUNT SEED [RARE_INDEX]
cat > "$W/gen.py" <<'PY'
import json, random, sys
out, count, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rare = int(sys.argv[4]) if len(sys.argv) > 4 else -1
random.seed(seed)
words = ("témoin armée réfugié frontière Astana village soldats nuit interrogatoire "
         "дезертир мобилизация граница свидетель شهادة القرية الجنود asile recours "
         "juge audience procès-verbal commissariat").split()
with open(out, "w") as f:
    for i in range(count):
        body = " ".join(random.choice(words) for _ in range(700))
        if i == rare: body += " Zyxwvutsrq"
        f.write(json.dumps({"case": "BENCH", "witness": f"Témoin {i}", "body": body}, ensure_ascii=False) + "\n")
PY
python3 "$W/gen.py" "$W/st.jsonl" "$STATEMENTS" 7 4242
measure "statement import (${STATEMENTS})" "$BIN" "${V[@]}" statement import "$W/st.jsonl"
search_times() { # label: rare word, common word and phrase, each best of hyperfine runs
  measure "search rare word, $1 statements" "$BIN" "${V[@]}" search zyxwvutsrq
  measure "search common word, $1 statements" "$BIN" "${V[@]}" search --limit 20 armee
  measure "search phrase, $1 statements" "$BIN" "${V[@]}" search --limit 20 '"village soldats"'
  if command -v hyperfine > /dev/null; then
    hyperfine -N --warmup 1 --runs 5 --style basic \
      "$BIN ${V[*]} search zyxwvutsrq" "$BIN ${V[*]} user list" 2>&1 | grep -E 'Time|search|user list'
  fi
}
search_times "$STATEMENTS"

if [ "${BIG_STATEMENTS:-0}" -gt "$STATEMENTS" ]; then
  echo "== grow to ${BIG_STATEMENTS} statements and search again"
  n=$STATEMENTS
  while [ "$n" -lt "$BIG_STATEMENTS" ]; do
    python3 "$W/gen.py" "$W/more.jsonl" 10000 "$n"
    "$BIN" "${V[@]}" --quiet statement import "$W/more.jsonl" > /dev/null
    n=$((n + 10000))
  done
  search_times "$n"
fi
