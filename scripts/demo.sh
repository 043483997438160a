#!/usr/bin/env bash
# A guided tour on a fresh machine: builds custodia, creates a vault with
# real-looking testimony, exports a sealed bundle for a court and verifies it,
# with the stock tools too when they are installed (age, minisign, bagit.py).
# Builds into $CARGO_TARGET_DIR when set. Everything it makes (vault, bundle,
# the court's unpacked copy with report.html) stays in one folder, named at
# the end: $DEMO_DIR if set, else a new custodia-demo.XXXXXX under /tmp.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
TARGET="${CARGO_TARGET_DIR:-target}"
case "$TARGET" in /*) ;; *) TARGET="$PWD/$TARGET" ;; esac
BIN="$TARGET/release/custodia"
if [ -n "${DEMO_DIR:-}" ]; then
  mkdir -p "$DEMO_DIR"
  WORK=$(cd "$DEMO_DIR" && pwd)
else
  WORK=$(mktemp -d "${TMPDIR:-/tmp}/custodia-demo.XXXXXX")
fi
cd "$WORK"
export CUSTODIA_VAULT="$WORK/dossiers.custodia" CUSTODIA_STATE_DIR="$WORK/state"
printf 'rivière lente, cerf-volant et thé noir\n' > pass.txt
export CUSTODIA_PASSPHRASE_FILE="$WORK/pass.txt"
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "Create the vault (Argon2id calibrated to about 1 s on this machine)"
"$BIN" --user "Claire Dupont" init --name "Cabinet Dupont — asile" --recovery-key-file recovery.txt
"$BIN" info

say "A case and three statements (French, Russian, Arabic)"
"$BIN" case new KZ-2026-014 --title "Déserteur réfugié au Kazakhstan — recours" --tag asile
cat > evgueni.txt <<'TXT'
Je m'appelle Évgueni. J'ai quitté l'armée russe en septembre 2022 et je suis
parti au Kazakhstan. Au café « Зерно » à Astana, j'ai raconté au journaliste
comment les officiers nous traitaient de дезертиры. Si je retourne en Russie,
je serai poursuivi : c'est pour cela que je demande l'asile.
TXT
S1=$("$BIN" statement add --case KZ-2026-014 --witness "Évgueni Ivanov" --pseudonym "Témoin A" \
      --protected --language fr --taken-at 2026-03-14 --place "Astana, café Zerno" \
      --interviewer "Me Dupont" --source "https://example.org/temoignage-astana" --file evgueni.txt)
printf 'Меня мобилизовали в сентябре. Я отказался ехать на фронт и уехал в Казахстан.\n' |
  "$BIN" statement add --case KZ-2026-014 --witness "Ольга Петренко" --language ru --stdin >/dev/null
printf 'شَهَادَة: رأيت الجنود يغادرون القرية في الليل.\n' |
  "$BIN" statement add --case KZ-2026-014 --witness "Amina Q." --language ar --stdin >/dev/null
"$BIN" statement list

say "Amend (a new version; the original stays readable), then seal"
{ echo "Précision du témoin : c'était le 21 septembre 2022."; cat evgueni.txt; } > evgueni-v2.txt
"$BIN" statement amend "${S1:0:8}" --file evgueni-v2.txt --reason "Date précisée par le témoin"
"$BIN" statement seal "${S1:0:8}"
"$BIN" statement history "${S1:0:8}"

say "Evidence, streamed in and fingerprinted"
head -c 4000000 /dev/urandom > "enregistrement-entretien.ogg"
printf '\x89PNG\r\n\x1a\n' > "Фото_кафе.png"; head -c 20000 /dev/urandom >> "Фото_кафе.png"
"$BIN" evidence add --case KZ-2026-014 --statement "${S1:0:8}" --description "Entretien et photo" \
  "enregistrement-entretien.ogg" "Фото_кафе.png"

say "Search: accent-, case- and script-insensitive"
"$BIN" search evgueni
"$BIN" search 'дезертир'
"$BIN" search '"parti au kazakhstan"'

say "Custody log, check and a checkpoint receipt"
"$BIN" log "${S1:0:8}"
"$BIN" check
RECEIPT=$("$BIN" checkpoint)
echo "$RECEIPT"

say "Export a sealed bundle for the court"
"$BIN" key public > signer.pub
if command -v age-keygen >/dev/null 2>&1; then
  age-keygen -o court.key 2>/dev/null
  "$BIN" export --case KZ-2026-014 --recipient "$(age-keygen -y court.key)" --redact-names --out bundle.age
  "$BIN" bundle verify bundle.age --identity court.key --signer signer.pub
  say "The court's side, with stock tools only"
  age -d -i court.key bundle.age > bundle.tar
else
  "$BIN" export --case KZ-2026-014 --no-encrypt --redact-names --out bundle.tar
  "$BIN" bundle verify bundle.tar --signer signer.pub
fi
mkdir court && tar -xf bundle.tar -C court
ls court/KZ-2026-014 court/KZ-2026-014/data
if command -v minisign >/dev/null 2>&1; then
  minisign -Vm court/KZ-2026-014/tagmanifest-sha256.txt -p signer.pub
fi
if command -v bagit.py >/dev/null 2>&1; then
  bagit.py --validate court/KZ-2026-014
fi
say "Done: the bundle verified."
echo "Everything is kept in $WORK:"
echo "  vault          $WORK/dossiers.custodia (passphrase in pass.txt, recovery key in recovery.txt)"
echo "  bundle         $WORK/$(ls bundle.age 2>/dev/null || echo bundle.tar)"
echo "  report         $WORK/court/KZ-2026-014/data/report.html (open it in a browser)"
echo "  court's copy   $WORK/court/KZ-2026-014"
echo "Remove it with: rm -rf '$WORK'"
