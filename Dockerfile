# One image for every role; the role is the argument to `abusewatch serve` (deploy/ and
# docker-compose.yml). CPU torch by default; the GPU variant builds with TORCH_INDEX=cu128.
FROM python:3.11-slim
ARG TORCH_VERSION=2.13.0
ARG TORCH_INDEX=cpu
ENV PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 ABUSEWATCH_DATA_DIR=/var/lib/abusewatch
WORKDIR /app
RUN pip install --no-cache-dir torch==${TORCH_VERSION} --index-url https://download.pytorch.org/whl/${TORCH_INDEX}
COPY pyproject.toml constraints.txt README.md ./
COPY abusewatch ./abusewatch
COPY services ./services
COPY schemas ./schemas
COPY models ./models
COPY policy ./policy
RUN pip install --no-cache-dir -c constraints.txt . && useradd --uid 10001 abusewatch \
    && mkdir -p /var/lib/abusewatch && chown abusewatch /var/lib/abusewatch
USER 10001
EXPOSE 6066 6067 6068 8080
ENTRYPOINT ["abusewatch"]
CMD ["serve", "classifier"]
