#!/usr/bin/env bash
# Installs the loopback test servers the context and cloud-credential tests start themselves:
# moto's server (S3, ECR), gcp-storage-emulator (GCS), the cloud SDKs (extras), and Azurite (Azure Blob, npm)
# into .cache/node. Idempotent: does nothing when everything is already there. Only PyPI and npm are used.
set -euo pipefail
cd "$(dirname "$0")/.."
PIP=".venv/bin/pip"
[ -x "$PIP" ] || PIP="python3 -m pip"
PY=".venv/bin/python"
[ -x "$PY" ] || PY="python3"

if ! "$PY" -c "import moto.server, gcp_storage_emulator, boto3, git, google.cloud.storage, azure.storage.blob, azure.identity, flask" 2>/dev/null; then
  echo "installing test services (pip): moto[server], gcp-storage-emulator, cloud extras"
  $PIP install -q 'moto[server]>=5' 'gcp-storage-emulator>=2024.8' -e '.[s3,gcs,azure,git]'
fi

if [ ! -x .cache/node/bin/azurite-blob ] && [ ! -x .cache/node/node_modules/.bin/azurite-blob ]; then
  if command -v npm >/dev/null 2>&1; then
    echo "installing test services (npm): azurite into .cache/node"
    mkdir -p .cache/node
    npm install --silent --no-audit --no-fund --prefix .cache/node azurite@3 >/dev/null
  else
    echo "npm not found: Azure Blob context tests will be skipped" >&2
  fi
fi

if [ ! -x .cache/node/node_modules/.bin/gitlab-ci-local ]; then
  if command -v npm >/dev/null 2>&1; then
    echo "installing test tools (npm): gitlab-ci-local@4.73.0 into .cache/node"
    mkdir -p .cache/node
    npm install --silent --no-audit --no-fund --prefix .cache/node gitlab-ci-local@4.73.0 >/dev/null
  else
    echo "npm not found: the gitlab-ci-local tests will be skipped" >&2
  fi
fi
