# lib: shared head of every provisioning step; the step's own part follows.
set -euo pipefail
changed=false
marker_dir=/var/lib/homelab/steps
# apt_get waits this long (seconds) for another apt or dpkg to let go of its
# locks: on a freshly booted Ubuntu, unattended-upgrades holds them for minutes.
apt_lock_timeout=600
apt_lock_poll=5

# put_file PATH MODE: write stdin to PATH unless it already holds exactly that.
# Returns 0 when it wrote, 1 when the file was already right.
put_file() {
  local path=$1 mode=$2 tmp
  tmp=$(mktemp)
  cat >"$tmp"
  if [[ -f $path ]] && cmp -s "$tmp" "$path"; then
    rm -f "$tmp"
    return 1
  fi
  install -D -m "$mode" "$tmp" "$path"
  rm -f "$tmp"
  changed=true
  return 0
}

# files_sum FILE...: one checksum over the files' contents, as the facts
# probe computes it, so an edit by hand shows up as drift.
files_sum() {
  local f
  for f in "$@"; do
    if [[ -f $f ]]; then sha256sum <"$f"; else echo missing; fi
  done | sha256sum | awk '{print $1}'
}

# block_lines FILE BEGIN END: the lines of FILE from each line starting with
# BEGIN to the next starting with END, as sed's /^BEGIN/,/^END/ range takes
# them; nothing when FILE or the block is absent. The facts probe holds the
# same function.
block_lines() {
  [[ -f $1 ]] || return 0
  awk -v b="$2" -v e="$3" 'on { print; if (index($0, e) == 1) on = 0; next } index($0, b) == 1 { on = 1; print }' "$1"
}

# block_sum FILE BEGIN END: a checksum of the block, "missing" when it is absent.
block_sum() {
  local lines
  lines=$(block_lines "$@")
  if [[ -z $lines ]]; then echo missing; else printf '%s\n' "$lines" | sha256sum | awk '{print $1}'; fi
}

# pkg_installed NAME: dpkg says the package is installed. The facts probe
# holds the same function.
pkg_installed() {
  [[ $(dpkg-query -W -f='${Status}\n' "$1" 2>/dev/null) == *"ok installed"* ]]
}

# mark STATE [--packages 'NAME...'] [--block FILE BEGIN END]... [--unit UNIT]... [FILE...]:
# record what this step applied, for the facts probe, which reports the step
# intact only while all of it holds: each FILE as written (a checksum), each
# package installed, each block in a shared file as written (only the lines
# from BEGIN to END: other edits of FILE are not drift), each unit enabled.
# What cannot hold right after the step ran is an error, not a marker that
# would re-run the step on every up.
mark() {
  local state=$1 packages="" pkgs=() blocks=() units=() p u sum
  shift
  while [[ $# -gt 0 ]]; do
    case $1 in
    --packages)
      packages=$2
      read -r -a pkgs <<<"$packages"
      shift 2
      ;;
    --block)
      if [[ -z $2 || -z $3 || -z $4 || "$2$3$4" == *[$'\t\n']* ]]; then
        echo "mark: a block needs a file, a begin and an end marker, without tabs or newlines" >&2
        return 1
      fi
      sum=$(block_sum "$2" "$3" "$4")
      if [[ $sum == missing ]]; then
        echo "mark: no block '$3' in $2" >&2
        return 1
      fi
      blocks+=("$2"$'\t'"$3"$'\t'"$4"$'\t'"$sum")
      shift 4
      ;;
    --unit)
      units+=("$2")
      shift 2
      ;;
    *) break ;;
    esac
  done
  if [[ $packages == *$'\n'* ]]; then
    echo "mark: package names hold no newline" >&2
    return 1
  fi
  for p in "${pkgs[@]}"; do
    if ! pkg_installed "$p"; then
      echo "mark: package $p is not installed after this step (a virtual package? name the package that provides it)" >&2
      return 1
    fi
  done
  for u in "${units[@]}"; do
    if ! systemctl is-enabled --quiet "$u"; then
      echo "mark: unit $u is not enabled after this step" >&2
      return 1
    fi
  done
  mkdir -p "$marker_dir"
  {
    printf 'state=%s\nhash=%s\nredo=%s\nsum=%s\nfiles=%s\n' \
      "$state" "$step_hash" "$step_redo" "$(files_sum "$@")" "$*"
    if [[ -n $packages ]]; then printf 'packages=%s\n' "$packages"; fi
    for p in "${blocks[@]}"; do printf 'block=%s\n' "$p"; done
    for u in "${units[@]}"; do printf 'unit=%s\n' "$u"; done
  } >"$marker_dir/$step_name.tmp"
  mv "$marker_dir/$step_name.tmp" "$marker_dir/$step_name"
}

# apt_get ARG...: apt-get, non-interactive, waiting up to $apt_lock_timeout
# seconds for the locks. Every step runs apt-get through it. DPkg::Lock::Timeout
# makes apt wait for the dpkg lock; the lock on the package lists that
# `apt-get update` takes has no such option (apt 2.6 fails at once), so a run
# that failed on a lock is retried every $apt_lock_poll seconds until the
# deadline. Messages are in English so the lock error can be told apart.
apt_get() {
  local deadline=$((SECONDS + apt_lock_timeout)) left err rc
  while true; do
    left=$((deadline - SECONDS))
    if ((left < 1)); then left=1; fi
    rc=0
    { err=$(DEBIAN_FRONTEND=noninteractive LC_ALL='' LC_MESSAGES=C apt-get -o DPkg::Lock::Timeout="$left" "$@" 2>&1 >&3 3>&-); } 3>&1 || rc=$?
    if ((rc != 0)) && [[ $err == *"Could not get lock"* ]] && ((SECONDS + apt_lock_poll < deadline)); then
      sleep "$apt_lock_poll"
      continue
    fi
    if [[ -n $err ]]; then printf '%s\n' "$err" >&2; fi
    return "$rc"
  done
}

# finish prints the step's last line.
finish() {
  if $changed; then echo changed; else echo unchanged; fi
}
