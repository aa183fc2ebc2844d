# Host-side assertions for the VM scenarios, sourced by run.sh. Counts into PASS/FAIL; SC_FAIL per scenario.
# shellcheck shell=bash
PASS=0; FAIL=0; SC_FAIL=0
pass() { PASS=$((PASS + 1)); echo "  ok    $1"; }
fail() {
  FAIL=$((FAIL + 1)); SC_FAIL=$((SC_FAIL + 1)); echo "  FAIL  $1"
  [ -z "${2:-}" ] || printf '%s\n' "$2" | head -n 25 | sed 's/^/          | /'
}
# expect DESC CMD...: CMD succeeds.
expect() { local d=$1; shift; if "$@"; then pass "$d"; else fail "$d" "command failed: $*"; fi; }
# expect_grep DESC FILE ERE: some line of FILE matches (grep -E, case-insensitive when ERE starts with (?i)).
expect_grep() {
  local d=$1 f=$2 re=$3 flags=-E
  case $re in '(?i)'*) flags=-Ei; re=${re#(?i)} ;; esac
  if [ -f "$f" ] && grep -q $flags -- "$re" "$f"; then pass "$d"
  else fail "$d" "$(printf 'no line matches /%s/ in %s:\n' "$re" "$f"; head -n 20 "$f" 2>/dev/null)"; fi
}
expect_no_grep() {
  local d=$1 f=$2 re=$3 flags=-E
  case $re in '(?i)'*) flags=-Ei; re=${re#(?i)} ;; esac
  if [ ! -f "$f" ]; then fail "$d" "missing file $f"
  elif grep -q $flags -- "$re" "$f"; then fail "$d" "$(printf 'unexpected match /%s/ in %s:\n' "$re" "$f"; grep $flags -- "$re" "$f" | head)"
  else pass "$d"; fi
}
expect_eq() { if [ "$2" = "$3" ]; then pass "$1"; else fail "$1" "got '$2', want '$3'"; fi; }

# Facts read back from a result folder $O (set by the scenario check).
rc_of() { cat "$O/$1.rc" 2>/dev/null || echo missing; }
# dev_field ADDR FIELD [FILE]: driver/group/override/id of a device from a collect-devices listing.
dev_field() {
  local line; line=$(grep -E "^$1 " "${3:-$O/devices.txt}" 2>/dev/null | head -1)
  [ -n "$line" ] || { echo absent; return; }
  printf '%s\n' "$line" | tr ' ' '\n' | sed -n "s/^$2=//p"
}
# busctl get-property output ('s "bound"', 'b false', 'i 9') → the bare value.
prop_value() { sed -E 's/^[a-z]+ //; s/^"(.*)"$/\1/' "$O/$1.txt" 2>/dev/null; }
# managed_states FILE: "ADDRESS STATE GROUPVIABLE REASON" per device object in a GetManagedObjects --json dump.
managed_states() {
  node -e '
    const fs = require("fs");
    let doc; try { doc = JSON.parse(fs.readFileSync(process.argv[1], "utf8")); } catch { process.exit(0); }
    const objects = (doc.data && doc.data[0]) || {};
    for (const [path, ifaces] of Object.entries(objects)) {
      const d = ifaces["org.pciepassthroughd.Device1"]; if (!d) continue;
      const v = (k) => (d[k] ? d[k].data : "");
      console.log([v("Address"), v("State"), v("GroupViable"), JSON.stringify(v("Reason"))].join(" "));
    }' "$1"
}
# lspci_driver ADDR: the "Kernel driver in use" of ADDR in an `lspci -nnk` dump ($O/lspci-nnk.txt).
lspci_driver() {
  awk -v a="${1#0000:}" '$1 == a {d = 1; next} /^[0-9a-f]/ {d = 0} d && /Kernel driver in use:/ {print $NF}' \
    "${2:-$O/lspci-nnk.txt}" 2>/dev/null
}
# json_eval FILE 'JS expression over d' : print the expression's value for the parsed JSON in FILE.
json_eval() {
  node -e 'const d = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")); const v = eval(process.argv[2]); console.log(typeof v === "string" ? v : JSON.stringify(v));' "$1" "$2" 2>/dev/null
}
