#!/usr/bin/env bash
# The device run of issue 22 ([T2-3]) item 4, prepared as one script for a lent GPU (the `device` tool): from the
# repository root, `bash benchmarks/device_run.sh` writes its tables into $OUT (benchmarks/results/device/ without
# it). Tested on the CPU by tests/test_benchmarks.py with DEVICE=cpu and small sizes; on an H200 it is sized to
# finish in about 6 minutes (each step has its own time limit, so one slow step leaves the others their time).
#
#   1. the device and its measured bounds (a float64 and a float32 matmul, a 1 GiB copy);
#   2. all 2^20 PARITY and FIRST words, and the five DFA recognizers at n = RECOGNIZER_N (200 words), through
#      check's tensor path on the device in float64 and float32, with the table of fractions of the bounds;
#   3. the same float64 checks on the machine's CPU cores (16 threads), the side-by-side baseline of the same call.
set -uo pipefail
out="${OUT:-benchmarks/results/device}"
device="${DEVICE:-cuda}"
threads="${THREADS:-16}"
n="${N:-20}"
recognizer_n="${RECOGNIZER_N:-64}"
mkdir -p "$out"
{
  date -u +"%Y-%m-%d %H:%M UTC"
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>/dev/null || echo "no nvidia-smi"
  python -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'available', torch.cuda.is_available())"
} > "$out/device.txt" 2>&1
status=0
step() {  # step LIMIT_S NAME ARGS...: one tensor_check.py run, its table into $out/NAME.txt
  local limit="$1" name="$2"; shift 2
  timeout "$limit" python benchmarks/tensor_check.py --n "$n" --threads "$threads" --out "$out/$name.txt" "$@" \
    > "$out/$name.log" 2>&1 || { echo "$name: exit $?" >> "$out/device.txt"; status=1; }
}
step 150 tensor_check_${device}_float64 --device "$device" --recognizer-n "$recognizer_n" --measure-bounds
step 90 tensor_check_${device}_float32 --device "$device" --dtype float32 --recognizer-n 0 --measure-bounds
step 120 tensor_check_cpu${threads}_baseline_float64 --device cpu --recognizer-n "$recognizer_n"
cat "$out/device.txt" "$out"/tensor_check_*.txt 2>/dev/null | grep -v "^$" | head -80
exit $status
