#!/usr/bin/env bash
# facts: what the host is, read-only, as one JSON object on stdout.
# Run as root (sudo) so the checksums of root-only managed files can be read.
set -euo pipefail

# json prints its argument as a JSON string.
json() {
  local v=${1//\\/\\\\}
  v=${v//\"/\\\"}
  v=${v//$'\n'/\\n}
  v=${v//$'\t'/\\t}
  v=${v//$'\r'/\\r}
  printf '"%s"' "$v"
}

machine_id=$(tr -d '[:space:]' </etc/machine-id 2>/dev/null || true)
host_name=$(cat /proc/sys/kernel/hostname)
# os-release is parsed, not sourced: it is data, not a script to run as root.
os_release() { sed -n "s/^$1=//p" /etc/os-release | tr -d '"' | head -n 1; }
os_id=$(os_release ID)
os_version=$(os_release VERSION_ID)
arch=$(uname -m)

# The stack that owns the network configuration. Checked in this order so a
# host keeps the same answer after this project has configured it.
stack=""
if compgen -G '/etc/netplan/*.yaml' >/dev/null && command -v netplan >/dev/null; then
  stack=netplan
elif systemctl is-active --quiet NetworkManager 2>/dev/null; then
  stack=networkmanager
elif systemctl is-active --quiet systemd-networkd 2>/dev/null && compgen -G '/etc/systemd/network/*.network' >/dev/null; then
  stack=networkd
elif [[ -f /etc/network/interfaces ]] && command -v ifup >/dev/null; then
  stack=ifupdown
fi

iface=$(ip -4 route show default 2>/dev/null | awk '{for (i = 1; i < NF; i++) if ($i == "dev") { print $(i + 1); exit }}')
mac=""
addresses=""
if [[ -n $iface ]]; then
  mac=$(cat "/sys/class/net/$iface/address" 2>/dev/null || true)
  while read -r a; do
    addresses+="${addresses:+,}$(json "$a")"
  done < <(ip -4 -o addr show dev "$iface" 2>/dev/null | awk '{print $4}')
fi

# What the default interface is: the static-IP step writes plain Ethernet
# configuration, so a bridge, bond, VLAN or Wi-Fi link must be refused before
# anything changes. The kernel's link kind (ip -d) names virtual links (veth).
iface_kind=""
if [[ -n $iface ]]; then
  sys=/sys/class/net/$iface
  link_kind=$(ip -d -j link show dev "$iface" 2>/dev/null | sed -n 's/.*"info_kind":"\([^"]*\)".*/\1/p' || true)
  if [[ -d $sys/bridge ]]; then
    iface_kind=bridge
  elif [[ -d $sys/bonding ]]; then
    iface_kind=bond
  elif [[ -e /proc/net/vlan/$iface || $link_kind == vlan ]]; then
    iface_kind=vlan
  elif [[ -d $sys/wireless || -e $sys/phy80211 ]]; then
    iface_kind=wifi
  elif [[ -n $link_kind ]]; then
    iface_kind=$link_kind
  elif [[ $(cat "$sys/type" 2>/dev/null || true) == 1 ]]; then
    iface_kind=ethernet
  else
    iface_kind=unknown
  fi
fi

snap_installed=false
snap_version=""
snap_channel=""
if command -v snap >/dev/null && row=$(snap list microk8s 2>/dev/null | awk 'NR == 2'); then
  if [[ -n $row ]]; then
    snap_installed=true
    snap_version=$(awk '{print $2}' <<<"$row")
    snap_channel=$(awk '{print $4}' <<<"$row")
  fi
fi

# Step markers, written by each provisioning step (lib.sh's mark): what it
# applied and what it owns, so an effect undone by hand shows here. A step is
# intact while its files match their checksum, each block it manages in a
# shared file (only the lines from its BEGIN to its END marker) matches its
# checksum, each of its packages is installed and each of its units enabled.
# block_lines, block_sum and pkg_installed are lib.sh's, word for word.
block_lines() {
  [[ -f $1 ]] || return 0
  awk -v b="$2" -v e="$3" 'on { print; if (index($0, e) == 1) on = 0; next } index($0, b) == 1 { on = 1; print }' "$1"
}

block_sum() {
  local lines
  lines=$(block_lines "$@")
  if [[ -z $lines ]]; then echo missing; else printf '%s\n' "$lines" | sha256sum | awk '{print $1}'; fi
}

pkg_installed() {
  [[ $(dpkg-query -W -f='${Status}\n' "$1" 2>/dev/null) == *"ok installed"* ]]
}

markers=""
for m in /var/lib/homelab/steps/*; do
  [[ -f $m ]] || continue
  state="" hash="" redo=0 sum="" files="" packages="" blocks=() units=()
  while IFS='=' read -r k v; do
    case $k in
    state) state=$v ;;
    hash) hash=$v ;;
    redo) redo=$v ;;
    sum) sum=$v ;;
    files) files=$v ;;
    packages) packages=$v ;;
    block) blocks+=("$v") ;;
    unit) units+=("$v") ;;
    esac
  done <"$m"
  [[ $redo =~ ^[0-9]+$ ]] || redo=0
  read -r -a list <<<"$files"
  current=$(for f in "${list[@]}"; do
    if [[ -f $f ]]; then sha256sum <"$f"; else echo missing; fi
  done | sha256sum | awk '{print $1}')
  intact=false
  [[ -n $sum && $current == "$sum" ]] && intact=true
  if $intact; then
    for b in "${blocks[@]}"; do
      IFS=$'\t' read -r block_file block_begin block_end block_want <<<"$b"
      [[ $block_want != missing && $(block_sum "$block_file" "$block_begin" "$block_end") == "$block_want" ]] || intact=false
    done
    read -r -a list <<<"$packages"
    for p in "${list[@]}"; do
      if $intact && ! pkg_installed "$p"; then intact=false; fi
    done
    for u in "${units[@]}"; do
      if $intact && ! systemctl is-enabled --quiet "$u" 2>/dev/null; then intact=false; fi
    done
  fi
  markers+="${markers:+,}$(json "$(basename "$m")"):{\"state\":$(json "$state"),\"hash\":$(json "$hash"),\"redo\":$redo,\"intact\":$intact}"
done

printf '{"machineId":%s,"hostname":%s,"osId":%s,"osVersion":%s,"arch":%s,' \
  "$(json "$machine_id")" "$(json "$host_name")" "$(json "$os_id")" "$(json "$os_version")" "$(json "$arch")"
printf '"networkStack":%s,"interface":%s,"interfaceKind":%s,"mac":%s,"addresses":[%s],' \
  "$(json "$stack")" "$(json "$iface")" "$(json "$iface_kind")" "$(json "$mac")" "$addresses"
printf '"microk8s":{"installed":%s,"version":%s,"channel":%s},"markers":{%s}}\n' \
  "$snap_installed" "$(json "$snap_version")" "$(json "$snap_channel")" "$markers"
