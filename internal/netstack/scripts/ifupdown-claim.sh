#!/usr/bin/env bash
# ifupdown-claim: which ifupdown files configure the default interface, and
# taking them over. Run by the static-ip step on ifupdown hosts.
#
#   ifupdown-claim.sh others IFACE OURS    files other than OURS that configure
#                                          IFACE (or /etc/network/interfaces when
#                                          it does not source interfaces.d)
#   ifupdown-claim.sh release IFACE OURS   remove IFACE's stanzas from them, and
#                                          make /etc/network/interfaces source
#                                          interfaces.d; every other stanza stays
set -euo pipefail
mode=$1 iface=$2 ours=$3
main=/etc/network/interfaces

# files prints the ifupdown files but ours.
files() {
  local f
  for f in "$main" /etc/network/interfaces.d/*; do
    if [[ -f $f && $f != "$ours" ]]; then echo "$f"; fi
  done
}

# defines FILE: the file has an auto/allow-* line or an iface stanza for IFACE.
defines() {
  awk -v i="$iface" '
    ($1 == "auto" || $1 ~ /^allow-/) { for (k = 2; k <= NF; k++) if ($k == i) found = 1 }
    $1 == "iface" && $2 == i { found = 1 }
    END { exit !found }' "$1"
}

sources_dir() {
  grep -qE '^[[:space:]]*(source[[:space:]]+/etc/network/interfaces\.d/\*|source-directory[[:space:]]+(/etc/network/)?interfaces\.d)' "$main"
}

case $mode in
others)
  while read -r f; do
    if defines "$f" || { [[ $f == "$main" ]] && ! sources_dir; }; then echo "$f"; fi
  done < <(files)
  ;;
release)
  while read -r f; do
    if defines "$f"; then
      tmp=$(mktemp)
      # drop IFACE from auto/allow-* lines (the line when it named only IFACE)
      # and its iface stanzas up to the next stanza
      awk -v i="$iface" '
        /^[[:space:]]*(iface|auto|allow-[^[:space:]]*|mapping|source|source-directory)([[:space:]]|$)/ { skip = 0 }
        ($1 == "auto" || $1 ~ /^allow-/) {
          line = $1; n = 0
          for (k = 2; k <= NF; k++) if ($k != i) { line = line " " $k; n++ }
          if (n > 0) print line
          next
        }
        $1 == "iface" && $2 == i { skip = 1; next }
        !skip { print }' "$f" >"$tmp"
      cat "$tmp" >"$f"
      rm -f "$tmp"
    fi
  done < <(files)
  if ! sources_dir; then
    printf '\nsource /etc/network/interfaces.d/*\n' >>"$main"
  fi
  ;;
*)
  echo "ifupdown-claim: unknown mode $mode" >&2
  exit 2
  ;;
esac
