# syntax=docker/dockerfile:1
# One image for every role; the role is the argument to `abusewatch serve` (deploy/ and
# docker-compose.yml). CPU torch by default; the GPU variant builds with TORCH_INDEX=cu128.
# The wheel carries schemas/, models/ and policy/ (abusewatch/_shipped); the final stage installs
# only the wheel, no source tree, as tests/integration/test_wheel_install.py does.
FROM python:3.11-slim AS wheel
WORKDIR /src
COPY pyproject.toml README.md ./
COPY abusewatch ./abusewatch
COPY services ./services
COPY schemas ./schemas
COPY models ./models
COPY policy ./policy
RUN pip wheel --no-cache-dir --no-deps -w /dist .

FROM python:3.11-slim
ARG TORCH_VERSION=2.13.0
ARG TORCH_INDEX=cpu
# NUMBA_CACHE_DIR: the PDQ index's compiled kernels, kept in /tmp (writable where the root filesystem is read-only).
ENV PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 ABUSEWATCH_DATA_DIR=/var/lib/abusewatch \
    NUMBA_CACHE_DIR=/tmp/numba-cache
RUN pip install --no-cache-dir torch==${TORCH_VERSION} --index-url https://download.pytorch.org/whl/${TORCH_INDEX}
# Bind mounts, so neither the wheel nor the constraints stay in a layer of the image.
RUN --mount=type=bind,from=wheel,source=/dist,target=/dist --mount=type=bind,source=constraints.txt,target=/constraints.txt \
    pip install --no-cache-dir -c /constraints.txt /dist/abusewatch-*.whl && useradd --uid 10001 abusewatch \
    && mkdir -p /var/lib/abusewatch && chown abusewatch /var/lib/abusewatch
WORKDIR /var/lib/abusewatch
USER 10001
EXPOSE 6066 6067 6068 8080
ENTRYPOINT ["abusewatch"]
CMD ["serve", "classifier"]
