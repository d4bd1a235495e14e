#!/usr/bin/env bash
# GPU verification of the LightLLM path, end to end, on a machine with one NVIDIA GPU.
#
#   bench/gpu_verify.sh [verify|tune]      (from the repository root; results go to $OUT)
#
# Needs: python3 with torch + CUDA, LightLLM's source in .lightllm/src (v1.0.1, fc72ffab) and
# the wheels of its missing dependencies in .whl/ (docs/gpu.md says how to get both).
# verify: random-weight Qwen3-8B-shaped checkpoint -> `python -m server launch` -> a streamed
#         chat through server.client.ChatClient -> bench/serving.py -> stop through the
#         launcher -> no process left -> HF transformers baseline -> a start that fails
#         (KV pool too large) is reported with its traceback.
# tune:   HF baseline, then LightLLM flag variants one after another (an 8B model with its KV
#         pool leaves no room for a second on an 80 GB GPU): single stream, TTFT, 128 concurrent.
set -uo pipefail
MODE=${1:-verify}
OUT=${OUT:-/tmp/gpu_verify_out}
mkdir -p "$OUT"
ROOT=$(pwd)
exec > >(tee -a "$OUT/run.log") 2>&1

if [ -d .whl ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
  export PYTHONPATH=/tmp/site PATH=/tmp/site/bin:$PATH  # LightLLM runs `gunicorn` from PATH
fi
export PYTHONUNBUFFERED=1
export LEGAL_RAG_LIGHTLLM_PYTHON=python3 LEGAL_RAG_LIGHTLLM_DIR=$ROOT/.lightllm/src LEGAL_RAG_DATA_DIR=/tmp/legal-rag-data
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 -c "import torch, transformers; print('torch', torch.__version__, 'transformers', transformers.__version__)"
(cd .lightllm/src && python3 -c "import lightllm.server.api_http" 2>&1 | tail -5) || exit 1

# /dev/shm is RAM: loading 16 GB from it takes seconds, from disk much longer
MODEL=/dev/shm/qwen3-8b-random
[ "$(df --output=avail -B1G /dev/shm | tail -1)" -gt 40 ] || MODEL=/tmp/qwen3-8b-random
[ -f "$MODEL/config.json" ] || python3 bench/gpu_checkpoint.py --out "$MODEL" || exit 1

wait_ready() {  # $1: launcher's stdout file, $2: launcher pid
  for _ in $(seq 600); do
    grep -q '^ready: ' "$1" && return 0
    kill -0 "$2" 2>/dev/null || { echo "launcher exited:"; cat "$1"; return 1; }
    sleep 1
  done
  return 1
}
url_of() { sed -n 's/^ready: \(http[^ ]*\).*/\1/p' "$1"; }
show_left() {
  echo "--- processes left (lightllm|gunicorn|api_server):"
  ps -eo pid,pgid,stat,etime,args | grep -E 'lightllm|gunicorn|api_server' | grep -v grep || echo "none"
}

if [ "$MODE" = verify ]; then
  T0=$(date +%s)
  python3 -m server launch --model-dir "$MODEL" --name legal --log "$OUT/lightllm.log" >"$OUT/launch.out" &
  LAUNCHER=$!
  wait_ready "$OUT/launch.out" $LAUNCHER || { tail -40 "$OUT/lightllm.log"; exit 1; }
  echo "LightLLM ready after $(( $(date +%s) - T0 )) s: $(head -1 "$OUT/launch.out")"
  URL=$(url_of "$OUT/launch.out")
  curl -s -o /dev/null -w "GET /health -> %{http_code}\n" "${URL%/v1}/health"
  python3 bench/gpu_chat.py "$URL" legal
  python3 bench/serving.py --base-url "$URL" --model legal --model-dir "$MODEL" --json "$OUT/bench.json" 2>&1
  kill -TERM $LAUNCHER; wait $LAUNCHER; echo "launcher exit status: $?"
  show_left
  nvidia-smi --query-gpu=memory.used --format=csv,noheader
  # the HF baseline needs the GPU memory LightLLM's KV pool held
  python3 bench/serving.py --hf-baseline "$MODEL" --json "$OUT/hf.json" 2>&1
  python3 bench/gpu_floor.py --json "$OUT/floor.json"
  # fail fast: a KV pool that cannot fit makes LightLLM log a traceback and hang
  T0=$(date +%s)
  LEGAL_RAG_MAX_TOTAL_TOKEN_NUM=5000000 python3 -m server launch --model-dir "$MODEL" --name oom \
    --log "$OUT/lightllm-oom.log" 2>&1 | tail -4
  echo "failed start reported after $(( $(date +%s) - T0 )) s"
  show_left
fi

if [ "$MODE" = tune ]; then
  LOGS=/tmp/tune-logs; mkdir -p $LOGS  # $OUT brings back 8 files at most
  if [ -z "${TUNE_VARIANTS:-}" ]; then  # TUNE_VARIANTS="a b": only those, no baselines
    python3 bench/serving.py --hf-baseline "$MODEL" --json "$OUT/hf.json" 2>&1
    python3 bench/gpu_floor.py --json "$OUT/floor.json"
  fi
  # variant -> "--mode value;extra LightLLM flags" (LOGINFO: LightLLM at log level info)
  VARIANTS=(${TUNE_VARIANTS:-gqa base loginfo gqashort})
  declare -A FLAGS=(
    [base]=";"
    [gqa]="triton_gqa_flashdecoding;"
    [loginfo]="triton_gqa_flashdecoding;--disable_log_stats"
    [gqashort]="triton_gqa_flashdecoding;--graph_max_len_in_batch 2048"
    [nochunk]="triton_gqa_flashdecoding;--disable_chunked_prefill"
    [noradix]="triton_gqa_flashdecoding;--disable_dynamic_prompt_cache --disable_chunked_prefill"
  )
  for v in "${VARIANTS[@]}"; do
    T0=$(date +%s)
    LEVEL=debug; [ "$v" = loginfo ] && LEVEL=info
    LIGHTLLM_LOG_LEVEL=$LEVEL python3 -m server launch --model-dir "$MODEL" --name "tune-$v" \
      --log "$LOGS/lightllm-$v.log" --mode "${FLAGS[$v]%%;*}" --extra-args="${FLAGS[$v]#*;}" >"$LOGS/launch-$v.out" &
    PID=$!
    wait_ready "$LOGS/launch-$v.out" $PID || { tail -30 "$LOGS/lightllm-$v.log"; continue; }
    echo "=== variant $v: ${FLAGS[$v]} (ready after $(( $(date +%s) - T0 )) s)"
    python3 bench/serving.py --base-url "$(url_of "$LOGS/launch-$v.out")" --model "tune-$v" \
      --model-dir "$MODEL" --concurrency 128 --repeats 2 --json "$LOGS/tune-$v.json" 2>&1
    kill -TERM $PID; wait $PID
  done
  show_left
fi
