#!/usr/bin/env bash
# Builds the pinned control-plane and node binaries of Kubernetes (and etcd) from the Go module proxy
# into a cache outside the repo.
# Keyed by version: a second run with the binaries present does nothing.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=scripts/testenv/versions.sh
. "$here/versions.sh"

cache=${HARDEN_CACHE:-/var/cache/kubectl-harden}
bin="$cache/bin"
mkdir -p "$bin"
export GOFLAGS=-buildvcs=false GOTOOLCHAIN=local

build_etcd() {
  local out="$bin/etcd-$ETCD_VERSION"
  [ -x "$out" ] && return 0
  local dir="$cache/src/etcd-$ETCD_VERSION"
  mkdir -p "$dir"
  cat >"$dir/main.go" <<'GO'
// etcd's own module carries replace directives, so `go install` cannot build it; this wrapper can.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
GO
  (cd "$dir" && rm -f go.mod go.sum && go mod init harden.dev/etcd >/dev/null 2>&1 &&
    go get "go.etcd.io/etcd/server/v3@$ETCD_VERSION" >/dev/null &&
    go mod tidy >/dev/null &&
    go build -trimpath -ldflags "-s -w" -o "$out.tmp" . && mv "$out.tmp" "$out")
  echo "built $out" >&2
}

build_kube() {
  local want=(kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubectl)
  local missing=0 b
  for b in "${want[@]}"; do [ -x "$bin/$b-$KUBE_VERSION" ] || missing=1; done
  [ "$missing" = 0 ] && return 0
  local dir="$cache/src/kube-$KUBE_VERSION"
  mkdir -p "$dir"
  # k8s.io/kubernetes points every staging module at ./staging; a consumer must replace each one
  # with the published v0.N.M twin. Generate that list from the go.mod the proxy serves.
  local minor=${KUBE_VERSION#v1.}
  local staging="v0.${minor}"
  local gomod
  gomod=$(cd "$dir" && go mod download -json "k8s.io/kubernetes@$KUBE_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
  {
    echo "module harden.dev/kube"
    echo
    echo "go 1.25.0"
    echo
    echo "require k8s.io/kubernetes $KUBE_VERSION"
    echo
    grep -E '^\s*k8s\.io/[^ ]+ => \./staging/' "$gomod" | awk -v v="$staging" '{print "replace " $1 " => " $1 " " v}'
  } >"$dir/go.mod"
  cat >"$dir/tools.go" <<'GO'
//go:build tools

// Keeps the commands' packages in the module graph.
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-proxy"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubectl"
	_ "k8s.io/kubernetes/cmd/kubelet"
)
GO
  if ! (cd "$dir" && go mod tidy -e >/dev/null 2>"$dir/tidy.log"); then
    cat "$dir/tidy.log" >&2
    exit 1
  fi
  local gv="k8s.io/component-base/version"
  local ld="-s -w -X $gv.gitVersion=$KUBE_VERSION -X $gv.gitMajor=1 -X $gv.gitMinor=${minor%%.*} -X $gv.gitTreeState=clean -X $gv.buildDate=1970-01-01T00:00:00Z"
  ld="$ld -X k8s.io/client-go/pkg/version.gitVersion=$KUBE_VERSION"
  for b in "${want[@]}"; do
    [ -x "$bin/$b-$KUBE_VERSION" ] && continue
    (cd "$dir" && go build -trimpath -ldflags "$ld" -o "$bin/$b-$KUBE_VERSION.tmp" "k8s.io/kubernetes/cmd/$b") ||
      { echo "build of $b failed" >&2; exit 1; }
    mv "$bin/$b-$KUBE_VERSION.tmp" "$bin/$b-$KUBE_VERSION"
    echo "built $bin/$b-$KUBE_VERSION" >&2
  done
}

build_etcd
build_kube
