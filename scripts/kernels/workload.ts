/**
 * The workload the kernel matrix runs in a fresh pod-like cgroup inside each VM, as root: a chown to
 * another uid (CAP_CHOWN), a TCP server bound to port 80 (CAP_NET_BIND_SERVICE) and a connect to it,
 * an exec, and a UDP exchange (a datagram to a server socket and its reply). The pod's address is
 * 127.0.0.2 (the guest has loopback only; all of 127/8 is local). Prints what it did, exits 0 when
 * everything worked.
 */
import { execFileSync } from 'node:child_process';
import * as dgram from 'node:dgram';
import * as fs from 'node:fs';
import * as net from 'node:net';
import { CHOWN_PATH, CHOWN_UID, EXEC_PATH, POD_IP, TCP_PORT, UDP_PORT } from './protocol';

const did: string[] = [];

function tcp(): Promise<void> {
  return new Promise((resolve, reject) => {
    const server = net.createServer((s) => s.end('hello\n'));
    server.on('error', reject);
    server.listen(TCP_PORT, POD_IP, () => {
      const c = net.connect(TCP_PORT, POD_IP);
      c.on('error', reject);
      c.on('data', () => undefined);
      c.on('close', () => {
        did.push('tcp');
        server.close(() => resolve());
      });
    });
  });
}

function udp(): Promise<void> {
  return new Promise((resolve, reject) => {
    const server = dgram.createSocket('udp4');
    const client = dgram.createSocket('udp4');
    server.on('error', reject);
    client.on('error', reject);
    server.on('message', (_m, from) => server.send('pong', from.port, from.address));
    client.on('message', () => {
      did.push('udp');
      client.close();
      server.close(() => resolve());
    });
    server.bind(UDP_PORT, POD_IP, () => client.send('ping', UDP_PORT, POD_IP));
  });
}

async function main() {
  const file = CHOWN_PATH;
  fs.writeFileSync(file, 'x');
  fs.chownSync(file, CHOWN_UID, CHOWN_UID);
  did.push('chown');
  execFileSync(EXEC_PATH);
  did.push('exec');
  await tcp();
  await udp();
  process.stdout.write(`${did.join(' ')}\n`);
}

const timer = setTimeout(() => {
  process.stdout.write(`timed out after: ${did.join(' ')}\n`);
  process.exit(1);
}, 60_000);
main().then(
  () => clearTimeout(timer),
  (e: unknown) => {
    process.stdout.write(`failed after: ${did.join(' ')}: ${String(e)}\n`);
    process.exit(1);
  },
);
