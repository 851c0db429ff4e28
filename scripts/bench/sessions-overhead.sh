#!/usr/bin/env bash
# Added per-syscall cost of the agent on one pod with: no session, a seccomp session, and a seccomp
# plus a securitycontext session at once (issue 14's closing note). Interleaved rounds in one run,
# the pod's own CPU time (bash `time` user+sys of the loop: an eBPF program runs in the calling
# task), reported as ratios to the untraced round beside it. Needs the test cluster and the agent
# deployed (`eval "$(scripts/testenv/testenv env)"`; run it under the e2e lock).
#   dd:   dd bs=1 count=N, one-byte read+write pairs (2N syscalls): the sys_enter path only.
#   open: N shell redirections `: </etc/hostname` (openat+fcntl+dup2+close each): the capabilities
#         part's openat probes as well.
set -euo pipefail
N=${N:-1000000}
OPENS=${OPENS:-50000}
ROUNDS=${ROUNDS:-5}
NS=bench-sessions
harden() { node "$(dirname "$0")/../../dist/kubectl-harden.cjs" "$@"; }

kubectl create namespace "$NS" --dry-run=client -o yaml | kubectl apply -f - >/dev/null
trap 'kubectl delete namespace "$NS" --wait=false >/dev/null' EXIT
kubectl -n "$NS" run target --image "$HARDEN_IMAGE_REDIS" --restart=Never >/dev/null
kubectl -n "$NS" wait --for=condition=Ready pod/target --timeout=120s >/dev/null

# CPU seconds (user+sys) of one loop in the pod.
cpu() {
  local loop
  case $1 in
    dd) loop="dd if=/dev/zero of=/dev/null bs=1 count=$N 2>/dev/null" ;;
    open) loop="for ((i = 0; i < $OPENS; i++)); do : </etc/hostname; done" ;;
  esac
  kubectl -n "$NS" exec target -- bash -c "TIMEFORMAT='%U %S'; time { $loop; }" 2>&1 | awk '{ print $1 + $2 }'
}

declare -A t
for ((r = 1; r <= ROUNDS; r++)); do
  for mode in none seccomp both; do
    ids=()
    [[ $mode != none ]] && ids+=("seccomp:$(harden seccomp start -n "$NS" -p target)")
    [[ $mode == both ]] && ids+=("sc:$(harden sc start -n "$NS" -p target)")
    sleep 3 # the agent arms the pod's cgroup on its next reconcile
    for kind in dd open; do t[$mode,$kind,$r]=$(cpu $kind); done
    for id in "${ids[@]}"; do harden "${id%%:*}" stop "${id#*:}" -n "$NS" >/dev/null; done
  done
  echo "round $r: $(for k in "${!t[@]}"; do [[ $k == *",$r" ]] && echo -n "$k=${t[$k]} "; done)" >&2
done

# Median over the rounds of each mode's ratio to the untraced run of the same round.
for kind in dd open; do
  per=$([[ $kind == dd ]] && echo $((2 * N)) || echo "$OPENS")
  for mode in seccomp both; do
    for ((r = 1; r <= ROUNDS; r++)); do
      echo "${t[$mode,$kind,$r]} ${t[none,$kind,$r]}"
    done | awk -v kind=$kind -v mode=$mode -v per="$per" '
      { ratio[NR] = $1 / $2; added[NR] = ($1 - $2) / per * 1e9; base[NR] = $2 / per * 1e9 }
      function med(a, n,   i, j, x) {
        for (i = 2; i <= n; i++) { x = a[i]; for (j = i - 1; j > 0 && a[j] > x; j--) a[j + 1] = a[j]; a[j + 1] = x }
        return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
      }
      END {
        n = NR; lo = hi = ratio[1]; for (i = 1; i <= n; i++) { if (ratio[i] < lo) lo = ratio[i]; if (ratio[i] > hi) hi = ratio[i] }
        printf "%-5s %-8s untraced %6.0f ns/op  ratio %.3f [%.2f-%.2f]  added %6.0f ns/op\n", kind, mode, med(base, n), med(ratio, n), lo, hi, med(added, n)
      }'
  done
done
