# A first working image for a CUDA GPU (the deployment issue finishes it: Space metadata,
# memory plan, health checks). vLLM's official image brings CUDA, torch and vLLM itself.
FROM vllm/vllm-openai:v0.32.0

ENV GRADIO_ANALYTICS_ENABLED=False \
    DEMO_HOST=0.0.0.0 \
    DEMO_PORT=7860 \
    HF_HOME=/data/hf \
    PYTHONUNBUFFERED=1

WORKDIR /app
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
COPY app.py ./
COPY inference ./inference
COPY ui ./ui

RUN useradd --create-home --uid 1000 demo && mkdir -p /data/hf && chown -R demo /data /app
USER demo
VOLUME ["/data/hf"]
EXPOSE 7860
ENTRYPOINT ["python3", "app.py", "--device", "cuda"]
