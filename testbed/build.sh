#!/usr/bin/env bash
# Builds etcd, kube-apiserver, kube-controller-manager and kube-scheduler from the
# Go modules pinned in go.mod/go.sum, into a cache outside the repo keyed by
# go.sum, and prints the directory that holds them. A second run with the same
# go.sum builds nothing.
#
# Static (CGO_ENABLED=0) and -trimpath, as Kubernetes' own hack/lib/golang.sh builds
# these servers; the -X flags make /version report the real version instead of
# v0.0.0-master.
set -euo pipefail
cd "$(dirname "$0")"
K8S_VERSION=$(cat K8S_VERSION)
key=$(cat go.sum go.mod etcd/main.go build.sh | sha256sum | cut -c1-16)
cache=${WORKSPACE_SPAWNER_TESTBED_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/workspace-spawner/testbed}
out="$cache/$K8S_VERSION-$key"
bins=(etcd kube-apiserver kube-controller-manager kube-scheduler)
have=1
for b in "${bins[@]}"; do [ -x "$out/$b" ] || have=0; done
if [ "$have" = 1 ]; then echo "$out"; exit 0; fi

major=${K8S_VERSION#v}; major=${major%%.*}
minor=${K8S_VERSION#v*.}; minor=${minor%%.*}
pkg=k8s.io/component-base/version
ldflags="-s -w -X $pkg.gitVersion=$K8S_VERSION -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor"
ldflags="$ldflags -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
tmp="$out.tmp.$$"
mkdir -p "$tmp"
trap 'rm -rf "$tmp"' EXIT
export CGO_ENABLED=0
echo "building ${bins[*]} ($K8S_VERSION) into $out" >&2
go build -trimpath -ldflags "$ldflags" -o "$tmp/etcd" ./etcd
for b in kube-apiserver kube-controller-manager kube-scheduler; do
  go build -trimpath -ldflags "$ldflags" -o "$tmp/$b" "k8s.io/kubernetes/cmd/$b"
done
rm -rf "$out"
mv "$tmp" "$out"
trap - EXIT
echo "$out"
