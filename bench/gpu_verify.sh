#!/usr/bin/env bash
# GPU verification of the LightLLM path, end to end, on a machine with one NVIDIA GPU.
#
#   bench/gpu_verify.sh [verify|tune|h200|h200b|vision|tp2]   (from the repository root; results go to $OUT)
#
# Needs: python3 with torch + CUDA, LightLLM's source in .lightllm/src (v1.0.1, fc72ffab) and
# the wheels of its missing dependencies in .whl/ (docs/gpu.md says how to get both).
# verify: random-weight Qwen3-8B-shaped checkpoint -> `python -m server launch` -> a streamed
#         chat through server.client.ChatClient -> bench/serving.py -> stop through the
#         launcher -> no process left -> HF transformers baseline -> a start that fails
#         (KV pool too large) is reported with its traceback.
# tune:   HF baseline, then LightLLM flag variants one after another (an 8B model with its KV
#         pool leaves no room for a second on an 80 GB GPU): single stream, TTFT, 128 concurrent.
# h200:   (issue 10, one H200) GPU name/bandwidth/copy, the floor, Qwen3-8B with Qwen's real
#         tokenizer through the launcher, a streamed chat, py-spy on every LightLLM process during
#         a single stream, serving.py, the RAG load (bench/rag_prompts_long.jsonl, 2-4k tokens, and
#         bench/rag_prompts.jsonl, the app's defaults).
# h200b:  flag variants (single stream + TTFT each, TUNE_VARIANTS), then `vision`.
# vision: the Qwen2-VL-shaped model (the launcher adds --enable_multimodal) and a chart through the
#         finance page's client path (the endpoint's image tag in the text).
# tp2:    (two GPUs) a Llama-3.1-70B-shaped checkpoint (141 GB) in RAM (tmpfs), `launch --tp 2`,
#         memory per GPU, single stream, 32 concurrent, a streamed chat as the medical page sends it.
# The launcher and client run from $PROJ (default .gpuassets/proj when it exists: a snapshot of
# the committed server/ and settings.py, so other engineers' edits in progress do not travel).
set -uo pipefail
MODE=${1:-verify}
OUT=${OUT:-/tmp/gpu_verify_out}
mkdir -p "$OUT"
ROOT=$(pwd)
exec > >(tee -a "$OUT/run.log") 2>&1
PROJ=${PROJ:-$ROOT}; [ -d "$ROOT/.gpuassets/proj/server" ] && PROJ=$ROOT/.gpuassets/proj
export LEGAL_RAG_CODE_ROOT=$PROJ
TOKENIZER=$ROOT/.gpuassets/qwen-tokenizer  # Qwen's real tokenizer (bench/gpu_checkpoint.py --export-qwen-tokenizer)
# call it with & (or in a pipeline): it execs, so $! is the launcher's own pid
launcher() { cd "$PROJ" && exec python3 -m server launch "$@"; }
big_tmpfs() {  # $1: GB wanted in /dev/shm (tmpfs is sized from the RAM seen at boot, which starts small here)
  local have; have=$(df --output=size -B1G /dev/shm | tail -1)
  [ "$have" -ge "$1" ] || mount -o remount,size="$1"G /dev/shm || echo "remount of /dev/shm failed"
  df -h /dev/shm | tail -1
}

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
[ "$MODE" = tp2 ] || big_tmpfs 80
MODEL=/dev/shm/qwen3-8b-random
[ "$(df --output=avail -B1G /dev/shm | tail -1)" -gt 40 ] || MODEL=/tmp/qwen3-8b-random
TOK_ARG=(); [ -f "$TOKENIZER/tokenizer.json" ] && TOK_ARG=(--tokenizer "$TOKENIZER")
if [ "$MODE" != tp2 ] && [ "$MODE" != vision ] && [ ! -f "$MODEL/config.json" ]; then
  python3 bench/gpu_checkpoint.py --out "$MODEL" "${TOK_ARG[@]}" || exit 1
fi

wait_ready() {  # $1: launcher's stdout file, $2: launcher pid
  for _ in $(seq 600); do
    grep -q '^ready: ' "$1" && return 0
    kill -0 "$2" 2>/dev/null || { echo "launcher exited:"; cat "$1"; return 1; }
    sleep 1
  done
  return 1
}
url_of() { sed -n 's/^ready: \(http[^ ]*\).*/\1/p' "$1"; }
pgid_of() { sed -n 's/^ready: .*pid group \([0-9]*\).*/\1/p' "$1"; }
show_left() {
  echo "--- processes left (lightllm|gunicorn|api_server):"
  ps -eo pid,pgid,stat,etime,args | grep -E 'lightllm|gunicorn|api_server' | grep -v grep || echo "none"
}

if [ "$MODE" = verify ]; then
  T0=$(date +%s)
  launcher --model-dir "$MODEL" --name legal --log "$OUT/lightllm.log" >"$OUT/launch.out" &
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
  LEGAL_RAG_MAX_TOTAL_TOKEN_NUM=5000000 launcher --model-dir "$MODEL" --name oom \
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
    LIGHTLLM_LOG_LEVEL=$LEVEL launcher --model-dir "$MODEL" --name "tune-$v" \
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

start_model() {  # $1 name, then launcher args; sets URL, PID, PGID; prints the ready time
  local name=$1; shift
  local t0; t0=$(date +%s)
  launcher --name "$name" --log "$LOGS/lightllm-$name.log" "$@" >"$LOGS/launch-$name.out" &
  PID=$!
  if ! wait_ready "$LOGS/launch-$name.out" $PID; then
    echo "=== $name did not start"; tail -30 "$LOGS/lightllm-$name.log"; kill -TERM $PID 2>/dev/null; wait $PID; return 1
  fi
  URL=$(url_of "$LOGS/launch-$name.out"); PGID=$(pgid_of "$LOGS/launch-$name.out")
  echo "=== $name ready after $(( $(date +%s) - t0 )) s: $URL (pid group $PGID)"
}
stop_model() { kill -TERM $PID; wait $PID; echo "launcher exit status: $?"; show_left; }
gpu_mem() { nvidia-smi --query-gpu=index,name,memory.used,memory.total --format=csv,noheader; }

if [ "$MODE" = h200 ]; then
  LOGS=/tmp/h200-logs; mkdir -p $LOGS
  python3 bench/gpu_info.py
  python3 bench/gpu_floor.py --json "$OUT/floor.json"
  start_model legal --model-dir "$MODEL" || exit 1
  gpu_mem
  python3 bench/gpu_chat.py "$URL" legal
  # where a decode step's time goes: py-spy on every process of the group during one long stream
  python3 - "$URL" <<'PY' &
import sys, httpx
httpx.post(sys.argv[1] + "/chat/completions", timeout=300, json={"model": "legal", "max_tokens": 2500,
    "ignore_eos": True, "messages": [{"role": "user", "content": "hello"}]})
PY
  REQ=$!
  sleep 4
  ps -eo pid,pgid,pcpu,nlwp,args | awk -v g="$PGID" '$2 == g' | cut -c1-160
  mkdir -p /tmp/pyspy
  for p in $(ps -eo pid=,pgid= | awk -v g="$PGID" '$2 == g {print $1}'); do
    py-spy record --pid "$p" --idle --nonblocking -r 400 -d 8 --format raw -o "/tmp/pyspy/$p.txt" >/dev/null 2>&1 &
  done
  sleep 10; wait $REQ
  for f in /tmp/pyspy/*.txt; do p=$(basename "$f" .txt); echo "--- pid $p: $(ps -o args= -p "$p" 2>/dev/null | cut -c1-120)"; done
  python3 bench/pyspy_summary.py /tmp/pyspy/*.txt > "$OUT/pyspy.txt"
  grep "^==" "$OUT/pyspy.txt"
  tar -czf "$OUT/pyspy_raw.tgz" -C /tmp/pyspy .
  grep -c "" "$LOGS/lightllm-legal.log"; grep -E "DEBUG|INFO" "$LOGS/lightllm-legal.log" | tail -5 | cut -c1-200
  python3 bench/serving.py --base-url "$URL" --model legal --model-dir "$MODEL" --json "$OUT/bench.json" 2>&1
  python3 bench/serving.py --base-url "$URL" --model legal --skip-basic --rag bench/rag_prompts_long.jsonl \
    --json "$OUT/rag_long.json" 2>&1
  python3 bench/serving.py --base-url "$URL" --model legal --skip-basic --rag bench/rag_prompts.jsonl \
    --rag-users 32 --rag-rounds 2 --json "$OUT/rag_app.json" 2>&1
  gpu_mem
  stop_model
  gzip -c "$LOGS/lightllm-legal.log" > "$OUT/lightllm-legal.log.gz"
fi

if [ "$MODE" = h200b ]; then
  LOGS=/tmp/h200b-logs; mkdir -p $LOGS
  # variant -> "LIGHTLLM_LOG_LEVEL;--mode value;extra LightLLM flags"
  declare -A V=(
    [debug]="debug;triton_gqa_flashdecoding;"
    [info]="info;triton_gqa_flashdecoding;--disable_log_stats"
    [lean]="info;triton_gqa_flashdecoding;--disable_log_stats --disable_dynamic_prompt_cache --disable_chunked_prefill"
    [nograph]="info;triton_gqa_flashdecoding;--disable_log_stats --disable_cudagraph"
  )
  for v in ${TUNE_VARIANTS:-info lean}; do
    IFS=';' read -r level mode extra <<<"${V[$v]}"
    LIGHTLLM_LOG_LEVEL=$level start_model "tune-$v" --model-dir "$MODEL" --mode "$mode" --extra-args="$extra" || continue
    echo "variant $v: LIGHTLLM_LOG_LEVEL=$level --mode $mode $extra"
    python3 bench/serving.py --base-url "$URL" --model "tune-$v" --model-dir "$MODEL" --concurrency "" \
      --repeats 3 --json "$LOGS/tune-$v.json" 2>&1
    stop_model
  done
fi

if [ "$MODE" = h200b ] || [ "$MODE" = vision ]; then
  LOGS=/tmp/h200b-logs; mkdir -p $LOGS
  # the finance page's model: Qwen2-VL-7B shape, LightLLM's qwen2_vl with its ViT
  VL=/dev/shm/qwen2-vl-random
  [ -f "$VL/config.json" ] || PYTHONPATH=$ROOT/.lightllm/src:$PYTHONPATH python3 bench/gpu_checkpoint.py \
    --shape qwen2-vl-7b --out "$VL" "${TOK_ARG[@]}" || exit 1
  # the launcher adds --enable_multimodal itself for qwen2_vl (and prints the endpoint with its image tag)
  start_model finance-lora --model-dir "$VL" --mode "" || { tail -60 "$LOGS/lightllm-finance-lora.log"; exit 1; }
  grep -E "^use it" "$LOGS/launch-finance-lora.out"
  gpu_mem
  python3 bench/gpu_chat.py "$URL" finance-lora --page finance --max-tokens 64
  python3 - "$URL" <<'PY'
import base64, sys, httpx
sys.path.insert(0, "bench")
from gpu_chat import chart_png
url = sys.argv[1] + "/chat/completions"
img = "data:image/png;base64," + base64.b64encode(chart_png()).decode()
tag = "<|vision_start|><|image_pad|><|vision_end|>"
for label, text in (("image part, LightLLM's image tag in the text", tag + "Describe the chart"),
                    ("no image, same text", "Describe the chart")):
    content = [{"type": "text", "text": text}] + ([{"type": "image_url", "image_url": {"url": img}}] if "tag" in label else [])
    r = httpx.post(url, timeout=120, json={"model": "finance-lora", "max_tokens": 8, "messages": [{"role": "user", "content": content}]})
    print(f"{label}: HTTP {r.status_code}, prompt tokens {(r.json().get('usage') or {}).get('prompt_tokens') if r.status_code == 200 else r.text[:200]}")
PY
  stop_model
  grep -iE "visual|vit|multimodal" "$LOGS/lightllm-finance-lora.log" | head -8 | cut -c1-200
fi

if [ "$MODE" = tp2 ]; then
  LOGS=/tmp/tp2-logs; mkdir -p $LOGS
  nvidia-smi --query-gpu=index,name,memory.total --format=csv,noheader; nproc; free -g | head -2
  env | grep -E "NVLS|MULTICAST" || true
  big_tmpfs 200
  M70=/dev/shm/llama3-70b-random
  T0=$(date +%s)
  [ -f "$M70/config.json" ] || python3 bench/gpu_checkpoint.py --shape llama3-70b --out "$M70" --workers 6 || exit 1
  echo "checkpoint in RAM after $(( $(date +%s) - T0 )) s: $(du -sh "$M70" | cut -f1)"; free -g | head -2
  # GPU memory every 15 s while it loads. LightLLM checks at start that a prefill of batch_max_tokens fits;
  # with its default (8192) that check ran out of memory on 70B/tp2 (docs/gpu.md §6.3), 4352 fits
  ( while sleep 15; do echo "mem $(date +%T): $(nvidia-smi --query-gpu=memory.used --format=csv,noheader | tr '\n' ' ')"; done ) &
  MON=$!
  LEGAL_RAG_MAX_TOTAL_TOKEN_NUM=${TP2_KV_TOKENS:-60000} start_model medical-lora --model-dir "$M70" --tp 2 --extra-args="${TP2_EXTRA:---batch_max_tokens 4352}" \
    || { kill $MON; gzip -c "$LOGS/lightllm-medical-lora.log" > "$OUT/lightllm-medical-lora.log.gz"; exit 1; }
  kill $MON
  tr '\0' ' ' < /proc/$(pgrep -f "api_server.*medical-lora" | head -1)/environ | grep -oE "(NCCL_NVLS_ENABLE|TORCH_SYMM_MEM_DISABLE_MULTICAST|NVSHMEM_DISABLE_NVLS)=[^ ]*" | tr '\n' ' '; echo
  gpu_mem
  python3 bench/serving.py --base-url "$URL" --model medical-lora --model-dir "$M70" --tp 2 --concurrency 32 \
    --repeats 2 --json "$OUT/tp2.json" 2>&1
  python3 bench/gpu_chat.py "$URL" medical-lora --page medical
  gpu_mem
  stop_model
  gzip -c "$LOGS/lightllm-medical-lora.log" > "$OUT/lightllm-medical-lora.log.gz"
fi
