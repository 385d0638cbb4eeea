#!/usr/bin/env bash
# npm run lint:proto — `buf lint` (STANDARD, kannon's own protos; the upstream gRPC protos in
# third_party/ are exempt in buf.yaml), then `buf breaking` of the working tree against the previous
# commit (KANNON_BREAKING_AGAINST, default HEAD~1), so a wire-incompatible change to proto/ fails.
#
# Needs that commit in the clone: a shallow clone (git clone --depth 1) is refused with a message
# saying how to deepen it; a repository with a single commit has nothing to compare and passes.
set -euo pipefail
cd "$(dirname "$0")/.."
PATH="$PWD/node_modules/.bin:$PATH"

buf lint

against=${KANNON_BREAKING_AGAINST:-HEAD~1}
if ! previous=$(git rev-parse --verify --quiet "$against^{commit}"); then
  if [[ $(git rev-parse --is-shallow-repository) == true ]]; then
    echo "lint:proto: buf breaking needs $against, which this shallow clone does not have." >&2
    echo "lint:proto: deepen it (git fetch --deepen=1) or clone without --depth, then run again." >&2
    exit 1
  fi
  if [[ $against == HEAD~1 && $(git rev-list --count HEAD) == 1 ]]; then
    echo "lint:proto: buf lint passed; buf breaking skipped: HEAD is the first commit, there is nothing before it" >&2
    exit 0
  fi
  echo "lint:proto: $against is not a commit of this repository" >&2
  exit 1
fi

# The repository's own object store (a worktree's .git is a file, so ask git where it is), at the
# resolved commit: buf reads it without network.
git_dir=$(git rev-parse --path-format=absolute --git-common-dir)
buf breaking --against "$git_dir#ref=$previous"
echo "lint:proto: buf lint and buf breaking against ${against} (${previous:0:12}) passed" >&2
