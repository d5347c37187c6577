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

# mark STATE FILE...: record what this step applied, for the facts probe.
mark() {
  local state=$1
  shift
  mkdir -p "$marker_dir"
  printf 'state=%s\nhash=%s\nredo=%s\nsum=%s\nfiles=%s\n' \
    "$state" "$step_hash" "$step_redo" "$(files_sum "$@")" "$*" >"$marker_dir/$step_name.tmp"
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
