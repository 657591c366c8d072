#!/usr/bin/env bash
# The installed tree (cmake --install): its executables run from the prefix without LD_LIBRARY_PATH, finding ssm's
# libraries beside them; the CMake package names no path of this machine's torch; a consumer project
# (tests/package/consumer) builds against it with find_package(ssm): ssm::ssm_ops runs an op, ssm::ssm (the layers)
# trains a small model whose loss falls.
#   tests/package/test_install_tree.sh BUILD_DIR PREFIX TORCH_CMAKE_PREFIX
set -euo pipefail
build=$1 prefix=$2 torch_prefix=$3
root=$(cd "$(dirname "$0")/../.." && pwd)
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
torch_dir=$(dirname "$(dirname "$(dirname "$torch_prefix")")")  # .../site-packages/torch/share/cmake -> .../torch
if grep -l "$torch_dir" "$prefix"/lib/cmake/ssm/*.cmake; then
  echo "FAIL: the CMake package holds this machine's torch path ($torch_dir)"; fail=1
else
  echo "ok: no torch path in the CMake package"
fi
launcher=()
if command -v ccache >/dev/null; then launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache); export CCACHE_BASEDIR=$root; fi
consumer=$prefix/consumer-build
check "a consumer configures with find_package(ssm)" cmake -S "$root/tests/package/consumer" -B "$consumer" \
  -DCMAKE_BUILD_TYPE=Release "-DCMAKE_PREFIX_PATH=$prefix;$torch_prefix" "${launcher[@]}"
check "the consumer builds" cmake --build "$consumer"
check "the consumer runs (fft_conv and its gradient)" "$consumer/consumer"
if [ -x "$build/ssm" ]; then
  check "a consumer of the layers (ssm::ssm) trains: its loss falls" "$consumer/consumer_layers"
fi
exit $fail
