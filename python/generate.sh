#!/usr/bin/env bash
# Generates the Python code for proto/kannon/v1/*.proto into python/kannon_gen/ (committed,
# like gen/ for TypeScript): messages (*_pb2.py + *.pyi) and the gRPC stubs of the orchestrator
# service (orchestrator_pb2_grpc.py). Uses grpcio-tools from the project's venv (npm run python-env),
# so the output depends only on python/requirements.txt and proto/.
#
#   npm run generate:python
#
# grpcio-tools writes absolute imports (`from kannon.v1 import test_pb2`), so the output root is
# kannon_gen/ and kannon_gen/__init__.py puts that directory on sys.path: `import kannon_gen` first,
# then `from kannon.v1 import bus_pb2`. google.protobuf.* comes from the protobuf package.
set -euo pipefail
cd "$(dirname "$0")/.."

python=$(node --import tsx scripts/python-env.ts | tail -n 1)
out=python/kannon_gen
rm -rf "$out/kannon"
mkdir -p "$out/kannon/v1"
"$python" -m grpc_tools.protoc -I proto \
  --python_out="$out" --pyi_out="$out" --grpc_python_out="$out" \
  proto/kannon/v1/*.proto
# Only orchestrator.proto declares a service; the other *_pb2_grpc.py files would be empty shells.
for f in "$out"/kannon/v1/*_pb2_grpc.py; do
  [[ $(basename "$f") == orchestrator_pb2_grpc.py ]] || rm "$f"
done
printf '# Generated package (python/generate.sh).\n' > "$out/kannon/__init__.py"
printf '# Generated package (python/generate.sh).\n' > "$out/kannon/v1/__init__.py"
echo "generated $(ls "$out"/kannon/v1/*.py | wc -l) files in $out/kannon/v1" >&2
