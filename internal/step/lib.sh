# lib: shared head of every provisioning step; the step's own part follows.
set -euo pipefail
changed=false
marker_dir=/var/lib/homelab/steps

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

# finish prints the step's last line.
finish() {
  if $changed; then echo changed; else echo unchanged; fi
}
