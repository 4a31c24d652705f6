FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY schemas schemas
COPY pipeline pipeline
COPY producers producers
COPY consumers consumers
RUN pip install --no-cache-dir '.[postgres]'
RUN useradd --system --home /data klantsignaal && mkdir -p /data && chown klantsignaal /data
USER klantsignaal
ENV KLANTSIGNAAL_DATA_DIR=/data
EXPOSE 8000
CMD ["klantsignaal", "run", "--host", "0.0.0.0"]
