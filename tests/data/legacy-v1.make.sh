#!/usr/bin/env bash
# How tests/data/legacy-v1.custodia was made: with the build of commit
# 30b61f1 (envelope version 1, only the last evidence chunk padded), so that
# tests/it/hardening.rs can check that vaults written then still read.
#   bash tests/data/legacy-v1.make.sh /path/to/custodia-built-at-30b61f1
# Passphrase: tests/it/common OWNER_PASS. Exhibits: small.txt (14 bytes),
# empty.bin (0 bytes), big.bin (1 048 676 bytes, byte i = i mod 251;
# SHA-256 51a6eef4…c347a7).
set -euo pipefail
B=$1
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
cd "$W"
printf '%s\n' "Réfugié « côté » à Almaty, été 2026" > owner.pass
export CUSTODIA_VAULT="$W/legacy-v1.custodia" CUSTODIA_PASSPHRASE_FILE="$W/owner.pass"
export CUSTODIA_STATE_DIR="$W/state"
"$B" init --name "Dossier KZ-2026-014 Astana" --user "maître-dupont" --insecure-fast-kdf \
    --recovery-key-out "$W/rk.txt"
"$B" case new KZ-2026-014 --title "Déserteur, Astana"
printf 'Évgueni a quitté Astana le 3 mars.\n' > body.txt
"$B" statement add --case KZ-2026-014 --witness "Évgueni Ivanov" --file body.txt
printf 'photo de test.' > small.txt
: > empty.bin
python3 -c "open('big.bin','wb').write(bytes(i % 251 for i in range(1048676)))"
"$B" evidence add --case KZ-2026-014 small.txt empty.bin big.bin
cp "$W/legacy-v1.custodia" "$(cd "$(dirname "$0")" && pwd)/legacy-v1.custodia"
