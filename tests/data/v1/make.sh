#!/usr/bin/env bash
# How tests/data/v1/vault.custodia was made: by the version-1 build
# (commit f525361, the last before the vault state), with the fast test KDF.
# Kept for the record; the committed file is what tests open, so that every
# later build must still read (and migrate) a vault written by version 1.
#   usage: make.sh PATH/TO/v1/custodia OUTDIR
set -euo pipefail
bin=$1; out=$2
mkdir -p "$out"; cd "$out"
rm -f vault.custodia recovery.key
export CUSTODIA_VAULT=$PWD/vault.custodia CUSTODIA_STATE_DIR=$PWD/.state
printf '%s\n' "Réfugié « côté » à Almaty, été 2026" > owner.pass
printf '%s\n' "Témoignage d'Amina — clé n°7 éàü" > amina.pass
printf '%s\n' "Partir sans laisser de clé, 2026" > leaving.pass
export CUSTODIA_PASSPHRASE_FILE=$PWD/owner.pass
"$bin" init --name "Dossier KZ-2026-014 Astana" --user "maître-dupont" --insecure-fast-kdf \
  --recovery-key-out recovery.key >/dev/null
"$bin" user add "Amina Q." --new-passphrase-file amina.pass >/dev/null
"$bin" user add "Départ" --new-passphrase-file leaving.pass >/dev/null
"$bin" user remove "Départ"
"$bin" case new KZ-2026-014 --title "Déserteur, Astana — recours" >/dev/null
printf '%s\n' "Je m’appelle Évgueni. J’ai déserté en septembre 2022 et je suis arrivé à Astana." > fr.txt
printf '%s\n' "Меня зовут Евгений. Я дезертировал в сентябре 2022 года." > ru.txt
printf '%s\n' "Je m’appelle Évgueni. J’ai déserté le 23 septembre 2022." > fr2.txt
fr=$("$bin" statement add --case KZ-2026-014 --witness "Évgueni Ivanov" --pseudonym "Témoin A" --protected --language fr --file fr.txt)
ru=$("$bin" statement add --case KZ-2026-014 --witness "Евгений" --language ru --file ru.txt)
"$bin" statement amend "$fr" --file fr2.txt --reason "Date corrigée par le témoin" >/dev/null
"$bin" statement seal "$fr" >/dev/null
head -c 300000 /dev/urandom > entretien.ogg
"$bin" evidence add --case KZ-2026-014 entretien.ogg > evidence.txt
"$bin" statement show "$ru" >/dev/null
sha256sum entretien.ogg | cut -d' ' -f1 > entretien.sha256
printf '%s\n%s\n' "$fr" "$ru" > statements.txt
rm -rf .state fr.txt ru.txt fr2.txt leaving.pass vault.custodia-journal entretien.ogg
