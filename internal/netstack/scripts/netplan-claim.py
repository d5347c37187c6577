# netplan-claim: which netplan definitions configure the default interface.
# Run by the static-ip step on netplan hosts (netplan itself needs python3 and
# PyYAML, so both are there). Reads /etc/netplan; changes nothing.
#
#   netplan-claim.py others IFACE MAC OURS   files other than OURS that define IFACE
#   netplan-claim.py ids IFACE MAC OURS      the ids of those definitions, one a line
#   netplan-claim.py carry IFACE MAC DESIRED add to DESIRED the match and set-name
#                                            the host's own definition names IFACE by
#
# A definition configures IFACE when its id is IFACE, or its set-name is, or it
# matches IFACE by name or by MAC. Other interfaces, bonds, bridges and Wi-Fi are
# left alone.
import glob
import json
import os
import sys

import yaml


def definitions():
    for path in sorted(glob.glob("/etc/netplan/*.yaml") + glob.glob("/etc/netplan/*.yml")):
        try:
            with open(path) as f:
                doc = yaml.safe_load(f) or {}
        except (OSError, yaml.YAMLError):
            continue
        ethernets = (doc.get("network") or {}).get("ethernets") or {}
        for ident, d in ethernets.items():
            yield path, str(ident), d or {}


def configures(ident, d, iface, mac):
    match = d.get("match") or {}
    return (
        ident == iface
        or d.get("set-name") == iface
        or match.get("name") == iface
        or (mac != "" and str(match.get("macaddress", "")).lower() == mac.lower())
    )


def main():
    mode, iface, mac, path = sys.argv[1:5]
    found = [(p, i, d) for p, i, d in definitions() if configures(i, d, iface, mac)]
    if mode == "others":
        for p in sorted({p for p, _, _ in found if os.path.realpath(p) != os.path.realpath(path)}):
            print(p)
    elif mode == "ids":
        for i in sorted({i for p, i, _ in found if os.path.realpath(p) != os.path.realpath(path)}):
            print(i)
    elif mode == "carry":
        naming = next((d for _, _, d in found if d.get("set-name") == iface and d.get("match")), None)
        if naming is None:
            return
        lines = ["      match:"]
        for k, v in sorted(naming["match"].items()):
            lines.append("        %s: %s" % (k, json.dumps(str(v))))
        lines.append("      set-name: %s" % json.dumps(iface))
        with open(path) as f:
            text = f.read().split("\n")
        head = "    %s:" % json.dumps(iface)
        out = []
        for line in text:
            out.append(line)
            if line == head:
                out.extend(lines)
        with open(path, "w") as f:
            f.write("\n".join(out))
    else:
        sys.exit("unknown mode " + mode)


main()
