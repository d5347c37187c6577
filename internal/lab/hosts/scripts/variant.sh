#!/bin/bash
# variant.sh STACK: turn the full root into one network stack's host, offline (the
# container runs with no network). Each stack keeps only what its distribution ships.
set -euo pipefail
stack=$1
purge() { dpkg --purge "$@" >/dev/null; }
case $stack in
netplan)
  purge network-manager ifupdown
  systemctl enable systemd-networkd.service
  ;;
networkd)
  purge netplan.io network-manager ifupdown
  systemctl enable systemd-networkd.service
  ;;
networkmanager)
  purge netplan.io ifupdown
  systemctl disable systemd-networkd.service systemd-networkd.socket
  systemctl enable NetworkManager.service
  ;;
ifupdown)
  purge netplan.io network-manager
  systemctl disable systemd-networkd.service systemd-networkd.socket
  systemctl enable networking.service
  ;;
*)
  echo "unknown network stack $stack" >&2
  exit 2
  ;;
esac
apt-get clean
echo "variant $stack"
