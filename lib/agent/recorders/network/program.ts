/**
 * bpftrace program text for network sessions. Pure: the same targets give the same text.
 *
 * What was verified on bpftrace 0.17 and 0.23 / Linux 6.18 (tracepoints only, no kprobes):
 * - `sock:inet_sock_set_state` CLOSE→SYN_SENT runs inside connect() (the connecting task, so
 *   `cgroup` is the container's), with both addresses and the remote port already set (the local
 *   port is still 0). SYN_SENT→ESTABLISHED and SYN_RECV→ESTABLISHED run wherever the peer's packet
 *   is processed: softirq, or (over veth) the *peer's* task. So egress is counted at SYN_SENT by
 *   cgroup (an attempt, whether it then succeeds or fails) and ingress at SYN_RECV→ESTABLISHED by
 *   the local address being a traced pod's IP.
 * - The tracepoint's `saddr_v6`/`daddr_v6` hold the v4-mapped address for AF_INET sockets, and an
 *   IPv4 peer of a `[::]` listener shows as AF_INET6 with a v4-mapped address: keying on the v6
 *   fields alone covers both families (the parser turns ::ffff:a.b.c.d back into a.b.c.d).
 * - UDP is told apart from TCP (and from ping/raw sockets) by the socket itself: fd → file →
 *   `struct socket` → `sk->sk_protocol` through `curtask`, read only for target cgroups. TCP's
 *   connect() is left to the state tracepoint; sendto() on a TCP socket ignores the address anyway.
 * - Context arrays cannot be map keys or pointer-cast, but `ntop()` of them can be a key and equals
 *   `ntop(pton("…"))` of the same bytes; `pton()` refuses dotted IPv4-in-IPv6, hence hex groups.
 * - `else if` made 0.17 emit unloadable code ("unreachable insn"); plain `if`s are used.
 * - A UDP server's side: recvfrom/recvmsg/recvmmsg fill the sender's address only on return, so
 *   sys_enter stores the buffer's address per thread and sys_exit reads it (checked on both with
 *   Python's recvfrom and recvmsg, IPv4 and IPv6: the sender's address and the socket's bound port).
 */
import { isIP } from 'node:net';
import { flippedMaps, type ProgramPart } from '../../core/program';

/**
 * Flow maps, two of each (flipped per interval like the syscall sets, so a flow first seen while
 * the other is printed is not cleared unseen). Keys, all numbers host order:
 *   tcpEgress  [cgroup, local ip, remote ip, remote port]
 *   tcpIngress [local ip, local port, remote ip]
 *   udpEgress  [cgroup, remote ip, remote port]
 *   udpIngress [cgroup, local port, remote ip]
 * Ephemeral ports (egress source, ingress peer) are left out: a policy never names them.
 */
export const NET_MAPS = {
  tcpEgress: ['@tcpe0', '@tcpe1'],
  tcpIngress: ['@tcpi0', '@tcpi1'],
  udpEgress: ['@udpe0', '@udpe1'],
  udpIngress: ['@udpi0', '@udpi1'],
} as const;

/**
 * UDP peers by [cgroup, ip, port], per phase like the flow maps but never printed: who a target
 * sent to (so a datagram back from there is an answer, not ingress) and who sent to it (so a
 * datagram back is a server's reply, not egress to a client's ephemeral port). The map of the
 * phase being entered is cleared, so an entry lives one to two intervals.
 */
const UDP_SENT = ['@udps0', '@udps1'] as const;
const UDP_RECEIVED = ['@udpr0', '@udpr1'] as const;
/** tid → the receive call's sockaddr buffer and fd, from sys_enter to sys_exit (when it is filled). */
const RECV_ADDR = '@urecv';
const RECV_FD = '@urfd';
export type NetMapKind = keyof typeof NET_MAPS;

const PHASE = '@nphase';
const TCP_SYN_SENT = 2;
const TCP_ESTABLISHED = 1;
const TCP_SYN_RECV = 3;
const IPPROTO_TCP = 6;
const IPPROTO_UDP = 17;
const AF_INET = 2;
const AF_INET6 = 10;

/**
 * The 16 bytes the tracepoint carries for an address, as a literal bpftrace 0.17's pton() accepts:
 * IPv6 in hex groups only (a dotted IPv4 tail is refused), IPv4 as its v4-mapped form.
 */
export function ptonLiteral(ip: string): string {
  const family = isIP(ip);
  if (family === 4) {
    const [a, b, c, d] = ip.split('.').map(Number);
    return `::ffff:${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  if (family === 6 && !ip.includes('%')) {
    // The WHATWG URL parser canonicalises IPv6 and rewrites a dotted tail into hex groups.
    return new URL(`http://[${ip}]/`).hostname.slice(1, -1);
  }
  throw new Error(`invalid pod IP ${JSON.stringify(ip)}`);
}

const flows = flippedMaps(PHASE, NET_MAPS);
const countInto = flows.countInto;

/** `@m<phase>[key] = 1;` into the reply map of the current phase. */
function markInto(pair: readonly [string, string], key: string): string {
  return `if (${PHASE}) { ${pair[1]}[${key}] = 1; } else { ${pair[0]}[${key}] = 1; }`;
}

/** True when neither phase's reply map has the key (a missing key reads as 0). */
const unseenIn = (pair: readonly [string, string], key: string) =>
  `${pair[0]}[${key}] == 0 && ${pair[1]}[${key}] == 0`;

/** Host-order port from a network-order u16 read from user memory. */
const ntohs = (v: string) => `((${v} & 0xff) << 8 | (${v} >> 8))`;

/** [cgroup, ip, port] of a UDP peer, as the family branches below leave them. */
const PEER_KEY = `$c, $ip, ${ntohs('$p')}`;

/** Per family, `$ip` and `$p` (network order) from the sockaddr `$sa`, then `stmt`. */
function peerBranches(stmt: string): string[] {
  return [
    `if ($fam == ${AF_INET}) {`,
    `  $in = (struct sockaddr_in *)$sa;`,
    `  $p = $in->sin_port; $ip = ntop($in->sin_addr.s_addr);`,
    `  ${stmt}`,
    `}`,
    `if ($fam == ${AF_INET6}) {`,
    `  $in6 = (struct sockaddr_in6 *)$sa;`,
    `  $p = $in6->sin6_port; $ip = ntop($in6->sin6_addr.in6_u.u6_addr8);`,
    `  ${stmt}`,
    `}`,
  ];
}

/**
 * Body lines recording a UDP peer from the sockaddr expression `sa` (user memory), if `fd` is a UDP
 * socket. Only AF_INET/AF_INET6 peers count: AF_UNSPEC (a UDP disconnect) and others are skipped.
 */
function udpPeer(sa: string, fd: string): string[] {
  return [
    `$sa = (struct sockaddr *)${sa};`,
    `$fam = $sa->sa_family;`,
    `if ($fam == ${AF_INET} || $fam == ${AF_INET6}) {`,
    // Cast: 0.23 finds no fields of `struct file` through the fdtable entry's own type (`__rcu *`).
    `  $file = (struct file *)*(curtask->files->fdt->fd + ${fd});`,
    `  $sock = (struct socket *)$file->private_data;`,
    // The back-pointer check keeps a non-socket fd (the call fails with ENOTSOCK) from matching.
    `  if ($sock->file == $file && $sock->sk->sk_protocol == ${IPPROTO_UDP}) {`,
    `    $c = cgroup;`,
    // A datagram to whoever sent to this target lately is a reply, not egress.
    ...peerBranches(
      `if (${unseenIn(UDP_RECEIVED, PEER_KEY)}) { ${countInto('udpEgress', PEER_KEY)} ${markInto(UDP_SENT, PEER_KEY)} }`,
    ).map((l) => `    ${l}`),
    `  }`,
    `}`,
  ];
}

/**
 * The receive side of unconnected UDP sockets (servers): recvfrom/recvmsg/recvmmsg. The sender's
 * address is known only when the call returns, written into the caller's buffer, so sys_enter keeps
 * the buffer's user address and fd by thread, and sys_exit reads the address from it.
 * A connected socket is skipped (its peer is fixed and its connect() was counted as egress), and so
 * is a datagram from a peer the target itself sent to lately (the answer to a client's query).
 */
function recvProbes(): string[] {
  const enter = (call: string, nameExpr: string, pre: string[] = []) =>
    probe(`tracepoint:syscalls:sys_enter_${call} /@targets[cgroup]/`, [
      ...pre,
      `if (${nameExpr} != 0) { ${RECV_ADDR}[tid] = (uint64)${nameExpr}; ${RECV_FD}[tid] = args->fd; }`,
    ]);
  const exit = (call: string) =>
    probe(`tracepoint:syscalls:sys_exit_${call} /@targets[cgroup]/`, [
      `$a = ${RECV_ADDR}[tid];`,
      `if ($a != 0) {`,
      // recvmmsg returns the number of messages; the others the bytes: > 0 filled an address.
      `  if (args->ret > 0) {`,
      `    $sa = (struct sockaddr *)uptr($a);`,
      `    $fam = $sa->sa_family;`,
      `    $file = (struct file *)*(curtask->files->fdt->fd + ${RECV_FD}[tid]);`,
      `    $sock = (struct socket *)$file->private_data;`,
      `    if ($sock->file == $file && $sock->sk->sk_protocol == ${IPPROTO_UDP} && $sock->sk->__sk_common.skc_state != ${TCP_ESTABLISHED}) {`,
      `      $c = cgroup; $l = $sock->sk->__sk_common.skc_num;`,
      ...peerBranches(
        `if (${unseenIn(UDP_SENT, PEER_KEY)}) { ${countInto('udpIngress', '$c, $l, $ip')} ${markInto(UDP_RECEIVED, PEER_KEY)} }`,
      ).map((l) => `      ${l}`),
      `    }`,
      `  }`,
      `  delete(${RECV_ADDR}[tid]); delete(${RECV_FD}[tid]);`,
      `}`,
    ]);
  return [
    enter('recvfrom', 'args->addr'),
    exit('recvfrom'),
    enter('recvmsg', '$name', [`$name = ((struct user_msghdr *)args->msg)->msg_name;`]),
    exit('recvmsg'),
    // The first message only, as for sendmmsg.
    enter('recvmmsg', '$name', [`$name = ((struct mmsghdr *)args->mmsg)->msg_hdr.msg_name;`]),
    exit('recvmmsg'),
  ];
}

const probe = (head: string, body: string[]) => [`${head} {`, ...body.map((l) => `  ${l}`), '}'].join('\n');

/**
 * Network flows of the target cgroups (egress) and of the pod IPs (ingress). The syscall probes'
 * predicate is the single `@targets[cgroup]` lookup, so other pods of the node pay nothing more.
 */
export function netPart(podIPs: string[], anyLocal = false): ProgramPart {
  const seeds = [...new Set(podIPs.map(ptonLiteral))].sort();
  // With no pod address yet, @podip must still be defined for bpftrace to compile; a 0 entry
  // never matches the `if (@podip[...])` test.
  const podips = seeds.length
    ? seeds.map((ip) => `@podip[ntop(pton("${ip}"))] = 1;`)
    : ['@podip[ntop(pton("::"))] = 0;'];
  const begin = [`${PHASE} = 0;`, ...podips];
  // A selector session counts ingress to any local address: a new replica's address is known only
  // after its program is rebuilt, and its first connections must not be lost meanwhile. Connection
  // state changes are rare, so this costs little; user space keeps only target pods' flows.
  const ingressTest = anyLocal ? '1' : '@podip[$l]';
  const probes = [
    probe(`tracepoint:sock:inet_sock_set_state /args->protocol == ${IPPROTO_TCP}/`, [
      // In connect(): the task's own cgroup.
      `if (args->newstate == ${TCP_SYN_SENT}) {`,
      `  if (@targets[cgroup]) {`,
      `    $c = cgroup; $l = ntop(args->saddr_v6); $r = ntop(args->daddr_v6); $p = args->dport;`,
      `    ${countInto('tcpEgress', '$c, $l, $r, $p')}`,
      `  }`,
      `}`,
      // Wherever the peer's ACK is processed: only the local address tells whose it is.
      `if (args->oldstate == ${TCP_SYN_RECV} && args->newstate == ${TCP_ESTABLISHED}) {`,
      `  $l = ntop(args->saddr_v6);`,
      `  if (${ingressTest}) {`,
      `    $r = ntop(args->daddr_v6); $p = args->sport;`,
      `    ${countInto('tcpIngress', '$l, $p, $r')}`,
      `  }`,
      `}`,
    ]),
    probe(`tracepoint:syscalls:sys_enter_connect /@targets[cgroup]/`, udpPeer('args->uservaddr', 'args->fd')),
    probe(`tracepoint:syscalls:sys_enter_sendto /@targets[cgroup]/`, [
      // No address: a connected socket, whose peer connect() recorded.
      `if (args->addr != 0) {`,
      ...udpPeer('args->addr', 'args->fd').map((l) => `  ${l}`),
      `}`,
    ]),
    probe(`tracepoint:syscalls:sys_enter_sendmsg /@targets[cgroup]/`, [
      `$name = ((struct user_msghdr *)args->msg)->msg_name;`,
      `if ($name != 0) {`,
      ...udpPeer('uptr($name)', 'args->fd').map((l) => `  ${l}`),
      `}`,
    ]),
    // The first message only: resolvers batch queries to one (usually connected) peer.
    probe(`tracepoint:syscalls:sys_enter_sendmmsg /@targets[cgroup]/`, [
      `$name = ((struct mmsghdr *)args->mmsg)->msg_hdr.msg_name;`,
      `if ($name != 0) {`,
      ...udpPeer('uptr($name)', 'args->fd').map((l) => `  ${l}`),
      `}`,
    ]),
    ...recvProbes(),
  ];
  return {
    begin,
    probes,
    interval: [
      ...flows.interval,
      `if (${PHASE}) { clear(${UDP_SENT[1]}); clear(${UDP_RECEIVED[1]}); } else { clear(${UDP_SENT[0]}); clear(${UDP_RECEIVED[0]}); }`,
    ],
    end: [
      flows.end,
      `clear(@podip); clear(${PHASE});`,
      [...UDP_SENT, ...UDP_RECEIVED, RECV_ADDR, RECV_FD].map((m) => `clear(${m});`).join(' '),
    ],
  };
}
