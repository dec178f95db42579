#!/usr/bin/env bash
# Two "hosts" on one machine: network namespaces A and B joined by a veth pair, and `mpirun -np 2`
# with one rank in each, so MPI traffic is real TCP across the veth (tests and link benchmarks).
#
#   scripts/two_hosts.sh [--rate 1gbit] [--delay 0.1ms] [--timeout 300] -- [mpirun args] PROGRAM [args]
#
# mpirun runs inside A (the local host); Open MPI reaches B through a launcher script given as its
# rsh agent, which runs the remote daemon under `ip netns exec B`. --rate/--delay shape both veth
# ends (netem; tbf when netem is missing and no delay is asked). Exits with mpirun's status, or 77
# with one "two_hosts: SKIP: <reason>" line when namespaces or shaping are not available here.
set -uo pipefail

rate="" delay="" limit=300
while [ $# -gt 0 ]; do
  case "$1" in
    --rate) rate=$2; shift 2 ;;
    --delay) delay=$2; shift 2 ;;
    --timeout) limit=$2; shift 2 ;;
    --) shift; break ;;
    *) echo "usage: $0 [--rate 1gbit] [--delay 0.1ms] [--timeout SECONDS] -- [mpirun args] PROGRAM [args]" >&2
       exit 2 ;;
  esac
done
[ $# -gt 0 ] || { echo "two_hosts: nothing to run after --" >&2; exit 2; }

skip() { echo "two_hosts: SKIP: $*"; exit 77; }
for tool in ip tc mpirun timeout; do
  command -v "$tool" >/dev/null || skip "'$tool' not found (scripts/setup.sh installs it)"
done

# Namespaces are private, so the fixed subnet cannot clash with the host's or another run's.
ns_a="flotilla-a-$$" ns_b="flotilla-b-$$" ip_a=10.231.0.1 ip_b=10.231.0.2 dev=flveth
work=$(mktemp -d "${TMPDIR:-/tmp}/flotilla-two-hosts-$$.XXXXXX")

# Ends whatever still runs in the namespaces (only this script's processes can be there), then
# deletes them; deleting a namespace removes its veth end and so the whole pair.
teardown() {
  for ns in "$ns_a" "$ns_b"; do
    [ -e "/run/netns/$ns" ] || continue
    ip netns pids "$ns" 2>/dev/null | xargs -r kill -KILL 2>/dev/null
    ip netns del "$ns" 2>/dev/null
  done
  rm -rf "$work"
}
trap teardown EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

err=$(ip netns add "$ns_a" 2>&1) || skip "cannot create a network namespace (needs root/CAP_SYS_ADMIN): $err"
ip netns add "$ns_b" || exit 1
err=$(ip -n "$ns_a" link add "$dev" type veth peer name "$dev" netns "$ns_b" 2>&1) ||
  skip "cannot create a veth pair between namespaces: $err"
for side in "$ns_a $ip_a" "$ns_b $ip_b"; do
  read -r ns addr <<<"$side"
  # No IPv6: its neighbour discovery would only add noise to the byte counters.
  ip netns exec "$ns" sh -c 'echo 1 > /proc/sys/net/ipv6/conf/all/disable_ipv6' 2>/dev/null
  ip -n "$ns" addr add "$addr/24" dev "$dev" && ip -n "$ns" link set lo up && ip -n "$ns" link set "$dev" up ||
    exit 1
done

# Shaping: netem has both rate and delay; tbf (rate only) is the fallback for kernels without sch_netem.
# tbf's bucket holds 1 ms at the rate (at least 16 kB), so bursts cannot hide the limit.
if [ -n "$rate$delay" ]; then
  netem=(netem ${rate:+rate "$rate"} ${delay:+delay "$delay"} limit 10000)
  if err=$(tc -n "$ns_a" qdisc add dev "$dev" root "${netem[@]}" 2>&1); then
    qdisc=("${netem[@]}")
  elif [ -z "$delay" ]; then
    bits=$(echo "$rate" |
      awk '{ n = $0 + 0; u = tolower($0); sub(/^[0-9.]+/, "", u);
             m = (u == "kbit") ? 1e3 : (u == "mbit") ? 1e6 : (u == "gbit") ? 1e9 : (u == "bit" || u == "") ? 1 : 0;
             printf "%.0f", n * m }')
    [ "$bits" -gt 0 ] 2>/dev/null || { echo "two_hosts: --rate '$rate' must be a number with bit/kbit/mbit/gbit" >&2; exit 2; }
    burst=$(( bits / 8 / 1000 > 16000 ? bits / 8 / 1000 : 16000 ))
    qdisc=(tbf rate "$rate" burst "$burst" latency 100ms)
    tc -n "$ns_a" qdisc add dev "$dev" root "${qdisc[@]}" || skip "neither netem ($err) nor tbf can shape the veth"
  else
    skip "--delay needs the netem qdisc, which this kernel lacks: $err"
  fi
  tc -n "$ns_b" qdisc replace dev "$dev" root "${qdisc[@]}" || exit 1
  echo "two_hosts: both veth ends shaped: ${qdisc[*]}"
fi

# The hostfile names the two addresses; Open MPI sees A's as local and starts B's daemon via the agent.
printf '%s slots=1\n%s slots=1\n' "$ip_a" "$ip_b" >"$work/hostfile"
cat >"$work/launcher" <<EOF
#!/bin/sh
# Open MPI's rsh agent: "launcher HOST COMMAND..." runs COMMAND in HOST's namespace, as ssh would.
host=\$1; shift
case "\$host" in
  $ip_a) ns=$ns_a ;;
  $ip_b) ns=$ns_b ;;
  *) echo "two_hosts launcher: unknown host \$host" >&2; exit 1 ;;
esac
exec ip netns exec "\$ns" sh -c "\$*"
EOF
chmod +x "$work/launcher"

# TCP only and only on the veth; no binding, since both "hosts" share this machine's cores.
mpirun=(mpirun -np 2 --hostfile "$work/hostfile" --mca plm_rsh_agent "$work/launcher"
        --mca btl "tcp,self" --mca btl_tcp_if_include "$dev" --mca oob_tcp_if_include "$dev" --bind-to none)
[ "$(id -u)" -eq 0 ] && mpirun+=(--allow-run-as-root)

counters() { ip netns exec "$ns_a" cat "/sys/class/net/$dev/statistics/tx_bytes" "/sys/class/net/$dev/statistics/rx_bytes" | xargs; }
read -r tx0 rx0 <<<"$(counters)"
start=$(date +%s.%N)
# In the background, so that a signal to this script runs the trap at once instead of after mpirun.
timeout -k 10 "$limit" ip netns exec "$ns_a" "${mpirun[@]}" "$@" &
wait $!
status=$?
read -r tx1 rx1 <<<"$(counters)"
seconds=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')
echo "two_hosts: veth $ns_a <-> $ns_b: tx_bytes=$((tx1 - tx0)) rx_bytes=$((rx1 - rx0)) (seen from A) in ${seconds} s"
[ $status -eq 124 ] || [ $status -eq 137 ] && echo "two_hosts: mpirun stopped by the ${limit} s timeout" >&2
exit $status
