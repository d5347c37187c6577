#!/usr/bin/env bash
# build-root.sh ROOT MIRROR SUITE PACKAGES LATE_PACKAGES USER: debootstrap the Debian
# root every lab host boots from, configured like a fresh server install. Runs as root
# on the machine.
set -euo pipefail
root=$1 mirror=$2 suite=$3 packages=$4 late=$5 user=$6

debootstrap --variant=minbase --include="$packages" "$suite" "$root" "$mirror"

# Packages whose maintainer scripts fail inside debootstrap's ordering (polkitd, pulled
# in by network-manager) install with apt once the base system is configured.
mount -t proc proc "$root/proc"
trap 'umount "$root/proc"' EXIT
IFS=, read -ra late_list <<<"$late"
chroot "$root" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${late_list[@]}"
umount "$root/proc"
trap - EXIT

# Identity is per host: the lab writes a fresh machine-id and host keys into each
# container. An image with an empty machine-id would boot every container with the
# same one.
: >"$root/etc/machine-id"
rm -f "$root/var/lib/dbus/machine-id"
ln -s /etc/machine-id "$root/var/lib/dbus/machine-id"
rm -f "$root"/etc/ssh/ssh_host_*
cat >"$root/etc/ssh/sshd_config.d/10-lab.conf" <<CONF
HostKey /etc/ssh/ssh_host_ed25519_key
PasswordAuthentication no
KbdInteractiveAuthentication no
CONF

# The installer's user: key auth only, passwordless sudo.
chroot "$root" useradd --create-home --uid 1000 --shell /bin/bash --groups sudo "$user"
printf '%s ALL=(ALL) NOPASSWD:ALL\n' "$user" >"$root/etc/sudoers.d/90-$user"
chmod 0440 "$root/etc/sudoers.d/90-$user"

chroot "$root" systemctl enable ssh.service systemd-networkd.service
# Containers have no consoles to log in on.
chroot "$root" systemctl mask getty@tty1.service console-getty.service serial-getty@.service

# Docker bind-mounts /etc/hostname, /etc/hosts and /etc/resolv.conf into every
# container; a real host owns those files (hostnamectl and editors replace them by
# rename, which a bind mount refuses). lab-init turns them into plain files and execs
# systemd. The container keeps CAP_SYS_ADMIN: hostnamectl needs it to set the
# hostname, as on a real host.
cat >"$root/usr/local/sbin/lab-init" <<'INIT'
#!/bin/sh
for f in /etc/hostname /etc/hosts /etc/resolv.conf; do
  if mountpoint -q "$f"; then
    content=$(cat "$f")
    umount "$f" && printf '%s\n' "$content" >"$f" && chmod 0644 "$f"
  fi
done
exec /sbin/init
INIT
chmod 0755 "$root/usr/local/sbin/lab-init"

chroot "$root" apt-get clean
rm -rf "$root"/var/log/*.log "$root"/var/cache/apt/*.bin
echo "built $suite root from $mirror"
