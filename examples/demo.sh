#!/usr/bin/env bash
# make demo: build examples/demo with kiln's executor (no registry needed), then inspect the result
# with skopeo, an independent tool.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
[ -x "$PY" ] || PY=python3
out=demo-out
rm -rf "$out" && mkdir -p "$out/context"
cp -r examples/demo/. "$out/context/"
cp /bin/busybox "$out/context/busybox"   # Debian's busybox-static: a base image without a registry

"$PY" -c "from kiln.cli.executor import executor; executor()" --no-push \
  --context "$out/context" \
  --oci-layout-path "$out/oci" \
  --tar-path "$out/image.tar" \
  --digest-file "$out/digest" \
  --reproducible \
  --kaniko-dir "$PWD/$out/work"

echo
echo "image digest: $(cat "$out/digest")"
echo
echo "skopeo inspect oci:$out/oci"
skopeo inspect "oci:$out/oci"
echo
echo "image config (skopeo inspect --config):"
skopeo inspect --config "oci:$out/oci" | "$PY" -c 'import json,sys; c=json.load(sys.stdin); print(json.dumps(c["config"], indent=2)); [print(" ", h.get("created_by","")) for h in c["history"]]'
