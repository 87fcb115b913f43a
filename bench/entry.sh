#!/bin/sh
# The Docker image's entry point (Dockerfile: ENTRYPOINT).
#   docker run --gpus all --ipc=host IMAGE gpu-check [ARGS]   make gpu-check's module on the GPU
#       (bench/gpu_check.py; ARGS go to it); its table is bench/results/gpu.md in the container.
#   docker run … IMAGE [ARGS]                                 the app (ARGS go to app.py).
# GPU_CHECK_FIRST=1 (a Space's variable): the check runs before the app, which then serves its table
# at /gpu-check; a failed check is printed and the app starts anyway.
set -e
if [ "$1" = "gpu-check" ]; then
    shift
    exec python3 -m bench.gpu_check --device cuda "$@"
fi
if [ "${GPU_CHECK_FIRST:-0}" = "1" ]; then
    python3 -m bench.gpu_check --device cuda || echo "gpu-check failed (above); the app starts anyway" >&2
fi
exec python3 app.py --host 0.0.0.0 "$@"
