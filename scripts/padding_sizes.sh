#!/usr/bin/env bash
# What `evidence_chunks` reveals of exhibit sizes: for each size, the rows
# an exhibit leaves and the sum of their `data` lengths, as anyone holding
# the file reads them with sqlite3. Figures in SECURITY.md ("Keys,
# passphrases and padding").
#   bash scripts/padding_sizes.sh [BINARY]     # default: target/debug/custodia
# Needs: sqlite3, python3.
set -euo pipefail
BIN=${1:-"$(cd "$(dirname "$0")/.." && pwd)/target/debug/custodia"}
W=$(mktemp -d "${TMPDIR:-/tmp}/custodia-padding.XXXXXX")
trap 'rm -rf "$W"' EXIT
export CUSTODIA_STATE_DIR="$W/state" CUSTODIA_VAULT="$W/v.custodia"
printf 'padding measurement, not secret\n' > "$W/pass"
export CUSTODIA_PASSPHRASE_FILE="$W/pass"
"$BIN" init --user m --insecure-fast-kdf --recovery-key-out "$W/rk" >/dev/null 2>&1
"$BIN" case new C --title t >/dev/null
printf '%12s %5s %12s  %s\n' size rows stored_bytes row_lengths
for n in 0 14 1000 100000 1048575 1048576 1048676 1048680 3000000 10000000 67108865; do
  python3 -c "import os,sys; sys.stdout.buffer.write(os.urandom($n))" > "$W/f"
  id=$("$BIN" evidence add --case C "$W/f" | cut -d' ' -f1)
  sqlite3 "$W/v.custodia" "SELECT count(*), sum(length(data)), group_concat(length(data)) \
      FROM (SELECT data FROM evidence_chunks WHERE record_id = '$id' ORDER BY chunk_index)" |
    awk -F'|' -v n="$n" '{ r=$3; if (length(r) > 60) r=substr(r,1,28) "…" substr(r,length(r)-28);
                           printf "%12d %5d %12d  %s\n", n, $1, $2, r }'
done
