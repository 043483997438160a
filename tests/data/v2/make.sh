#!/usr/bin/env bash
# Rebuilds the stored format fixtures of tests/data/v2/ (issue 17) with a
# custodia binary: the vault this format version writes, two bundles, and
# damaged copies of the vault, made with sqlite3.
#
#   usage: bash tests/data/v2/make.sh PATH/TO/custodia   (from anywhere)
#
# The committed files are what tests/it/fixtures.rs opens: it asserts `check
# --json` and `bundle verify --json` on them against tests/data/v2/expected/.
# Rerunning this script gives new random ids, keys and nonces, so after a
# rebuild the snapshots must be regenerated (UPDATE_SNAPSHOTS=1 cargo test
# --test it fixtures::) and the diff reviewed: a rebuild is a format event.
# A new format version gets its own tests/data/vN/ (with this script
# adapted); never rebuild v2 with a later build: every later build must
# still open the files written by this one.
# Deterministic: passphrases, record contents, exhibit bytes, the age
# identity (committed once, reused if present), the damage offsets.
# Needs: sqlite3, age-keygen (age), awk, coreutils.
set -euo pipefail
bin=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
here=$(cd "$(dirname "$0")" && pwd)
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
cd "$W"
export CUSTODIA_STATE_DIR=$W/state HOME=$W/home
mkdir -p "$HOME"
c() { "$bin" "$@"; }

printf '%s\n' "Réfugié « côté » à Almaty, été 2026" > owner.pass
printf '%s\n' "Témoignage d'Amina — clé n°7 éàü" > amina.pass
printf '%s\n' "Partir sans laisser de clé, 2026" > leaving.pass
printf '%s\n' "Greffe de la CNDA — réception 2026" > court.pass
# The age identity bundles are encrypted to (committed; made once).
if [ -f "$here/court.age-identity" ]; then cp "$here/court.age-identity" identity.txt
else age-keygen -o identity.txt 2>/dev/null; fi
recipient=$(age-keygen -y identity.txt)

# A second vault (a sending office) whose export is imported into the main one.
export CUSTODIA_VAULT=$W/sender.custodia CUSTODIA_PASSPHRASE_FILE=$W/court.pass
c init --name "Cabinet partenaire, Almaty" --user "avocate-partenaire" --insecure-fast-kdf \
  --recovery-key-out sender.recovery >/dev/null
c case new KZ-2026-020 --title "Témoin d'Almaty" >/dev/null
printf '%s\n' "Мы уехали из Алматы ночью, 4 октября 2022 года." > s1.txt
c statement add --case KZ-2026-020 --witness "Айгерим Н." --language ru --place "Алматы" \
  --taken-at 2026-02-11 --file s1.txt >/dev/null
printf 'scan du passeport (test)\n' > passeport.txt
c evidence add --case KZ-2026-020 --description "Passeport" passeport.txt >/dev/null
c key public > sender.pub
c export --case KZ-2026-020 --no-encrypt --out sender-bundle.tar >/dev/null

# The main vault.
export CUSTODIA_VAULT=$W/vault.custodia CUSTODIA_PASSPHRASE_FILE=$W/owner.pass
c init --name "Dossier KZ-2026-014 Astana" --user "maître-dupont" --insecure-fast-kdf \
  --recovery-key-out recovery.key >/dev/null
c user add "Amina Q." --new-passphrase-file amina.pass >/dev/null
c user add "Départ" --new-passphrase-file leaving.pass >/dev/null
c user remove "Départ" >/dev/null
c signer add "Cabinet partenaire" sender.pub >/dev/null
c case new KZ-2026-014 --title "Déserteur, Astana — recours" --description "Recours CNDA" >/dev/null
printf '%s\n' "Je m’appelle Évgueni. J’ai déserté en septembre 2022 et je suis arrivé à Astana." > fr.txt
printf '%s\n' "Je m’appelle Évgueni. J’ai déserté le 23 septembre 2022." > fr2.txt
printf '%s\n' "Меня зовут Евгений. Я дезертировал в сентябре 2022 года." > ru.txt
printf '%s\n' "اسمي يفغيني. هربت من الخدمة في سبتمبر ٢٠٢٢." > ar.txt
fr=$(c statement add --case KZ-2026-014 --witness "Évgueni Ivanov" --pseudonym "Témoin A" \
  --protected --language fr --taken-at 2026-03-02 --place "Café, Astana" \
  --interviewer "Me Dupont" --source "https://example.org/temoignage" --file fr.txt)
ru=$(c statement add --case KZ-2026-014 --witness "Евгений" --language ru --file ru.txt)
ar=$(c statement add --case KZ-2026-014 --witness "يفغيني" --language ar --file ar.txt)
c statement amend "$fr" --file fr2.txt --reason "Date corrigée par le témoin" >/dev/null
c statement seal "$fr" >/dev/null
# A small exhibit with deterministic bytes (byte i = 32 + i mod 90), 3000 bytes.
awk 'BEGIN{for(i=0;i<3000;i++) printf "%c", 32+(i%90)}' > "entretien été.txt"
c evidence add --case KZ-2026-014 --statement "$fr" --description "Notes d'entretien" \
  "entretien été.txt" > evidence.txt
c bundle import sender-bundle.tar >/dev/null   # authenticated by the pinned signer
c key public > owner.pub
# The bundles: plain and to the age identity.
c export --case KZ-2026-014 --no-encrypt --out plain.bundle >/dev/null
# The age bundle re-exports the imported case, from a copy of the vault so
# that the committed vault stays small (each event is about a page).
cp vault.custodia copy.custodia
CUSTODIA_VAULT=$W/copy.custodia c export --case KZ-2026-020 --recipient "$recipient" \
  --out age.bundle >/dev/null

out=$here
mkdir -p "$out/damaged"
cp vault.custodia "$out/vault.custodia"
cp plain.bundle age.bundle owner.pub sender.pub recovery.key owner.pass amina.pass "$out/"
cp identity.txt "$out/court.age-identity"
printf '%s\n%s\n%s\n' "$fr" "$ru" "$ar" > "$out/statements.txt"
cp evidence.txt "$out/evidence.txt"
sha256sum "entretien été.txt" | cut -d' ' -f1 > "$out/exhibit.sha256"

# Damaged copies. A flipped byte: the middle byte of the blob of the one row
# the condition names, XORed with 1, written back with sqlite3.
flip() { # name table column where
  local f=$out/damaged/$1.custodia
  cp vault.custodia "$f"
  local hex
  [ "$(sqlite3 "$f" "SELECT count(*) FROM $2 WHERE $4;")" = 1 ] || { echo "flip $1: not one row" >&2; exit 1; }
  hex=$(sqlite3 "$f" "SELECT hex($3) FROM $2 WHERE $4;")
  local n=$(( ${#hex} / 2 )); local mid=$(( n / 2 ))
  local b=$(( 16#${hex:$((mid*2)):2} ^ 1 ))
  local new=${hex:0:$((mid*2))}$(printf '%02X' $b)${hex:$((mid*2+2))}
  sqlite3 "$f" "UPDATE $2 SET $3 = X'$new' WHERE $4;"
}
flip events-byte events sealed "position = 3"
flip vault-state-byte vault_state state "singleton = 1"
flip overview-byte record_versions overview "record_id = '$ru' AND version = 1"
flip body-byte record_versions body "record_id = '$ru' AND version = 1"
flip search-text-byte search_texts sealed "record_id = '$ru'"
flip record-seal-byte record_seals seal "record_id = '$fr'"
exhibit=$(cut -d' ' -f1 evidence.txt)
flip evidence-chunk-byte evidence_chunks data "record_id = '$exhibit' AND chunk_index = 0"
flip users-byte users profile "position = 2"
flip key-slots-byte key_slots wrapped_master "kind = 'recovery'"
flip imported-custody-byte imported_custody history \
  "record_id = (SELECT min(record_id) FROM imported_custody)"
# Truncated: the file cut to half its length (page-aligned: whole pages lost).
size=$(stat -c %s vault.custodia)
head -c $(( size / 2 )) vault.custodia > "$out/damaged/truncated.custodia"
# Cut log tail: the last event deleted.
cp vault.custodia "$out/damaged/log-tail-cut.custodia"
sqlite3 "$out/damaged/log-tail-cut.custodia" "DELETE FROM events WHERE position = (SELECT max(position) FROM events);"
# Deleted head: the vault_state row deleted.
cp vault.custodia "$out/damaged/vault-state-deleted.custodia"
sqlite3 "$out/damaged/vault-state-deleted.custodia" "DELETE FROM vault_state;"
echo "fixtures written to $out"
