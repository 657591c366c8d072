#!/usr/bin/env bash
# The ssm command's contract: exit 0 on success, non-zero with a message on stderr on failure.
# usage: test_cli.sh SSM_BINARY
set -u
ssm=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0 fail=0
# expect CODE REGEX -- ARGS...: runs ssm ARGS, checks the exit code (0 or "nonzero") and that REGEX is in the output.
expect() {
  local code=$1 regex=$2
  shift 3
  local out rc
  out=$("$ssm" "$@" 2>&1)
  rc=$?
  if { [ "$code" = 0 ] && [ $rc -ne 0 ]; } || { [ "$code" = nonzero ] && [ $rc -eq 0 ]; } || ! grep -qE -- "$regex" <<<"$out"; then
    echo "FAIL: ssm $* -> exit $rc, expected $code and /$regex/; output:"; echo "$out" | head -5
    fail=$((fail + 1))
  else
    pass=$((pass + 1))
  fi
}
printf 'model:\n  d_model: 64\n  d_modle: 3\n' >"$tmp/typo.yaml"
printf 'model:\n  n_layers: zero\n' >"$tmp/type.yaml"
expect 0 "usage: ssm <command>" -- --help
expect 0 "config keys:" -- train --help
expect 0 "model.s4d.dt_min" -- train --help
expect 0 "usage: ssm eval" -- eval --help
expect 0 "perturb fourier" -- eval --help
expect nonzero "--perturb must be fourier" -- eval "$tmp/x.pt" --perturb gauss --eps 0.1
expect nonzero "--eps needs non-negative numbers" -- eval "$tmp/x.pt" --perturb fourier --eps 0.1,big
expect 0 "usage: ssm data listops" -- data --help
expect 0 "usage: ssm bench" -- bench --help
expect 0 "LibTorch 2" -- info
expect nonzero "no command given" --
expect nonzero "unknown command 'trian'" -- trian
expect nonzero "no config file given" -- train
expect nonzero "no such config file" -- train "$tmp/none.yaml"
expect nonzero "typo.yaml:3: model.d_modle: unknown key" -- train "$tmp/typo.yaml"
expect nonzero "type.yaml:2: model.n_layers: expected an integer" -- train "$tmp/type.yaml"
expect nonzero "--set model.width: unknown key" -- train "$tmp/type.yaml" --set model.width=3
expect nonzero "unknown option '--fast'" -- train "$tmp/typo.yaml" --fast
expect nonzero "no checkpoint to resume from" -- train "$tmp/type.yaml" --set model.n_layers=1 --set "trainer.out_dir=$tmp/run" --resume
expect nonzero "config.yaml: missing" -- eval "$tmp/nowhere/best.pt"
expect nonzero "--out DIR is required" -- data listops --train 5
expect nonzero "needs a non-negative integer" -- data listops --out "$tmp/lo" --train many
expect 0 "wrote 30 / 5 / 5 ListOps" -- data listops --out "$tmp/lo" --train 30 --val 5 --test 5 --min-length 10 --max-length 40
expect nonzero "basic_train.tsv exists: .*--force" -- data listops --out "$tmp/lo" --train 30 --val 5 --test 5 --min-length 10 --max-length 40
expect 0 "wrote 20 / 5 / 5 ListOps" -- data listops --out "$tmp/lo" --train 20 --val 5 --test 5 --min-length 10 --max-length 40 --force
expect 0 "usage: ssm data listops" -- data listops --help
expect nonzero "--train needs a non-negative integer, got '18446744073709551617'" -- data listops --out "$tmp/lo2" --train 18446744073709551617
expect nonzero "--train 1000000000 is beyond .*at most 100000000" -- data listops --out "$tmp/lo2" --train 1000000000
expect nonzero "--max-depth must be >= 2" -- data listops --out "$tmp/lo2" --max-depth 0
expect nonzero "must be cpu, cuda or all" -- bench --device tpu
expect nonzero "--op must be one of butterfly_conv, diag_scan, fft_conv, selective_scan, selective_scan_2d, vandermonde" -- bench --op fftconv
expect 0 "butterfly_conv +cpu +float32 +B16_H256_L1024_Lk1024_D_float32 +fwd\+bwd +paired" -- bench --op butterfly_conv --quick --repeats 1 --json "$tmp/b.json"
printf 'data:\n  task: listops\n  sfmnist:\n    permute: true\n' >"$tmp/owner.yaml"
expect 0 "data.forecast.horizon" -- train --help
expect 0 "data.uea.problem" -- train --help
expect nonzero "owner.yaml:4: data.sfmnist.permute: belongs to task sfmnist, but data.task is listops" -- train "$tmp/owner.yaml"
expect nonzero "data.task: expected one of sfmnist, listops, forecast, uea" -- train "$tmp/owner.yaml" --set data.task=weather
# A forecasting run end to end: train, then eval prints the task's metrics.
{ echo "x,OT"; for i in $(seq 0 299); do echo "$((i % 7)),$((i % 5))"; done; } >"$tmp/toy.csv"
fc=(--set data.task=forecast --set "data.root=$tmp" --set data.forecast.file=toy.csv --set data.forecast.lookback=12
    --set data.forecast.horizon=4 --set model.d_model=8 --set model.n_layers=1 --set model.d_state=4
    --set trainer.max_steps=3 --set trainer.threads=1 --set "trainer.out_dir=$tmp/fc")
: >"$tmp/empty.yaml"
expect 0 "best val mse .*test: loss .*mse .*mae" -- train "$tmp/empty.yaml" "${fc[@]}" --quiet
expect 0 "test split: 57 examples, loss .*, mse .*, mae " -- eval "$tmp/fc/best.pt"
expect 0 "fc/best.state_dict.pt: [0-9]+ tensors \([0-9]+ parameter values\) of step 3" -- export "$tmp/fc/best.pt"
expect 0 "x.pt: " -- export "$tmp/fc/last.pt" --out "$tmp/x.pt"
expect nonzero "export: no checkpoint given" -- export
cp "$tmp/fc/best.pt" "$tmp/best-before.pt"
expect nonzero "is the checkpoint itself; the export would replace it" -- export "$tmp/fc/best.pt" --out "$tmp/fc/best.pt"
cmp -s "$tmp/fc/best.pt" "$tmp/best-before.pt" && pass=$((pass + 1)) || { echo "FAIL: export onto the checkpoint changed it"; fail=$((fail + 1)); }
expect nonzero "config.yaml: missing" -- export "$tmp/nowhere/best.pt"
expect nonzero "export: unknown option '--fast'" -- export "$tmp/fc/best.pt" --fast
expect nonzero "toy.csv: no column 'price'" -- train "$tmp/empty.yaml" "${fc[@]}" --set data.forecast.features=S --set data.forecast.target=price --set "trainer.out_dir=$tmp/fc2"
# A task without a validation split trains (the test uses the last state) and says so; evaluating that split is an error.
expect 0 "wrote 20 / 0 / 5 ListOps" -- data listops --out "$tmp/lo0" --train 20 --val 0 --test 5 --min-length 10 --max-length 40
lo0=(--set data.task=listops --set "data.root=$tmp/lo0" --set data.batch_size=8 --set model.d_model=8 --set model.n_layers=1
  --set model.d_state=4 --set trainer.max_steps=2 --set trainer.threads=1 --set "trainer.out_dir=$tmp/lo0run")
expect 0 "best val accuracy \(no validation split\); test: loss" -- train "$tmp/empty.yaml" "${lo0[@]}" --quiet
expect nonzero "the val split of .*config.yaml's task \(listops\) is empty" -- eval "$tmp/lo0run/last.pt" --split val
expect 0 "test split: 5 examples" -- eval "$tmp/lo0run/last.pt"
expect 0 "usage: ssm init ptd" -- init --help
expect 0 "kappa\(V\)" -- init ptd --n 8 --iterations 20 --cache "$tmp/cache"
expect nonzero "must be a positive multiple of --blocks" -- init ptd --n 10 --blocks 3
expect nonzero "needs a non-negative number" -- init ptd --n many
# Pathfinder: the generator writes the release layout, refuses to overwrite it, and inspect reports on it.
expect 0 "ssm data pathfinder --out DIR \[--resolution" -- data pathfinder --help
expect nonzero "--resolution must be 32, 64, 128 or 256" -- data pathfinder --out "$tmp/pf" --resolution 48
expect nonzero "--contour-length must be 6, 9 or 14" -- data pathfinder --out "$tmp/pf" --contour-length 7
expect nonzero "--out DIR is required" -- data pathfinder --count 5
expect 0 "wrote 40 Pathfinder-32 images \(contour length 14, [0-9]+ positive\) .* images/s" -- data pathfinder --out "$tmp/pf" --count 40 --per-batch 16
expect nonzero "metadata exists: .*--force" -- data pathfinder --out "$tmp/pf" --count 40
expect 0 "train +32 examples, length 1024-1024 .*labels 0:" -- data inspect pathfinder "$tmp/pf" --set "data.cache_dir=$tmp/cache"
expect 0 "data mapped from the cache" -- data inspect pathfinder "$tmp/pf" --set "data.cache_dir=$tmp/cache"
expect 0 "val +5 examples, length [0-9]+-[0-9]+" -- data inspect listops "$tmp/lo"
expect nonzero "data inspect: needs TASK and DIR" -- data inspect pathfinder
expect nonzero "data.task: expected one of" -- data inspect weather "$tmp/pf"
expect nonzero "unknown data command 'mnist'" -- data mnist
# inspect on the other LRA formats, written here: aclImdb, AAN TSV, CIFAR-10 binary batches.
for d in train/pos train/neg test/pos test/neg; do mkdir -p "$tmp/aclImdb/$d"; done
printf 'a great film' >"$tmp/aclImdb/train/pos/1_9.txt"; printf 'bad' >"$tmp/aclImdb/train/neg/2_1.txt"
printf 'fine\xc3\xa9' >"$tmp/aclImdb/test/pos/3_7.txt"; printf 'awful' >"$tmp/aclImdb/test/neg/4_2.txt"
expect 0 "the val split is the test split" -- data inspect imdb "$tmp/aclImdb" --set data.cache_dir=none --set data.imdb.min_freq=1
expect 0 "train +2 examples, length 4-13 .*labels 0:1 \(50.0%\) 1:1" -- data inspect imdb "$tmp/aclImdb" --set data.cache_dir=none --set data.imdb.min_freq=1
mkdir -p "$tmp/aan"
for s in train eval test; do printf '1.0\tA\tB\tx y\tz\n0.0\tC\tD\tq\tw w w\n' >"$tmp/aan/new_aan_pairs.$s.tsv"; done
expect 0 "train +2 examples, length 2-4 .*second document 2-6" -- data inspect aan "$tmp/aan" --set data.cache_dir=none
printf '1.0\tA\tB\tonly four\n' >"$tmp/aan/new_aan_pairs.eval.tsv"
expect nonzero "new_aan_pairs.eval.tsv:1: expected 5 tab-separated columns" -- data inspect aan "$tmp/aan" --set data.cache_dir=none
mkdir -p "$tmp/cifar"
for f in data_batch_1 data_batch_2 data_batch_3 data_batch_4 data_batch_5 test_batch; do
  { printf '\x03'; head -c 3072 /dev/zero; printf '\x07'; head -c 3072 /dev/zero; } >"$tmp/cifar/$f.bin"
done
expect 0 "train +9 examples, length 1024-1024 .*labels .*3:5 .*7:4" -- data inspect cifar "$tmp/cifar" --set "data.cache_dir=$tmp/cache"
head -c 4000 "$tmp/cifar/data_batch_1.bin" >"$tmp/cifar/test_batch.bin"
expect nonzero "test_batch.bin: record 1 \(at byte 3073\) is short: 927 of 3073 bytes" -- data inspect cifar "$tmp/cifar" --set "data.cache_dir=$tmp/cache"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
