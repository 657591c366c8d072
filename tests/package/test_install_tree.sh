#!/usr/bin/env bash
# The installed tree (cmake --install): its executables run from the prefix without LD_LIBRARY_PATH, finding ssm's
# libraries beside them, and the installed package files are there.
#   tests/package/test_install_tree.sh BUILD_DIR PREFIX
set -euo pipefail
build=$1 prefix=$2
rm -rf "$prefix"
cmake --install "$build" --prefix "$prefix" >/dev/null
unset LD_LIBRARY_PATH
fail=0
check() {  # what, command...: the command must succeed
  local what=$1; shift
  if out=$("$@" 2>&1); then echo "ok: $what"; else echo "FAIL: $what: $*"; echo "$out" | head -5; fail=1; fi
}
check "installed ssm-bench runs" "$prefix/bin/ssm-bench" --list-ops
if [ -x "$build/ssm" ]; then
  check "installed ssm runs" "$prefix/bin/ssm" info
  check "installed ssm computes (PTD init)" "$prefix/bin/ssm" init ptd --n 4 --iterations 5 --cache "$prefix/cache"
fi
for f in include/ssm/ops.h lib/cmake/ssm/ssmConfig.cmake lib/cmake/ssm/ssmTargets.cmake; do
  if [ -f "$prefix/$f" ]; then echo "ok: $f"; else echo "FAIL: $f missing"; fail=1; fi
done
exit $fail
