/**
 * The kernel matrix (issue 21): boots Debian's own kernels under QEMU and runs every program variant
 * the agent generates against a workload in each, with the agent's own probing predicting which
 * routes each kernel serves. Run by ./matrix (which bundles this and the guest side); see the
 * README's "Kernel matrix" section for how to run it, what it costs and what it caches.
 *
 * Caches (under $HARDEN_CACHE/kernel-matrix):
 *   apt/<suite>/          private apt state, only to resolve and fetch a kernel not cached yet
 *   kernels/<suite>.abi   the ABI the suite's linux-image-amd64 pointed at when fetched
 *   kernels/<abi>/vmlinuz the kernel (old ABIs vanish from the archive: never deleted)
 *   rootfs/<key>.cpio     the guest's root filesystem, keyed by the ./rootfs script's bytes
 *   results/<abi>/        facts-<key>.json and cell-<key>.json, keyed by sha256 of the program
 *                         text, the vmlinuz, the rootfs key and the guest scripts
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { RECORDERS } from '../../lib/agent/recorders';
import {
  BEGIN_MARK,
  expectationOf,
  jestReport,
  judge,
  KERNELS,
  needsOf,
  renderTable,
  replaceMarked,
  variants,
  type Cell,
  type Variant,
} from './cells';
import { decodeRecords, type FactsRecord, type GuestPlan, type ProgramRecord } from './protocol';

const REPO = process.env.HARDEN_REPO_ROOT ?? process.cwd();
const HERE = path.join(REPO, 'scripts/kernels');
const BUNDLES = process.env.KMATRIX_BUNDLES ?? path.join(REPO, 'dist/kernels');
const CACHE =
  process.env.KMATRIX_CACHE ??
  path.join(process.env.HARDEN_CACHE ?? '/var/cache/kubectl-harden', 'kernel-matrix');
const READY_TIMEOUT_S = 300;

const log = (msg: string) => process.stderr.write(`matrix: ${msg}\n`);
const sha256 = (...parts: (string | Buffer)[]) => {
  const h = createHash('sha256');
  for (const p of parts) h.update(createHash('sha256').update(p).digest());
  return h.digest('hex');
};

function run(cmd: string, args: string[], opts: { cwd?: string; input?: Buffer; timeoutS?: number } = {}) {
  const r = spawnSync(cmd, args, {
    cwd: opts.cwd,
    input: opts.input,
    timeout: opts.timeoutS ? opts.timeoutS * 1000 : undefined,
    maxBuffer: 1 << 30,
  });
  if (r.error) throw new Error(`${cmd}: ${r.error.message}`);
  if (r.status !== 0) {
    throw new Error(
      `${cmd} ${args.slice(0, 3).join(' ')} exited ${r.status ?? r.signal}: ${r.stderr.toString().trim().split('\n').slice(-3).join(' / ')}`,
    );
  }
  return r.stdout;
}

// ------------------------------------------------------------------------------------ kernels

const MIRRORS: Record<string, string> = {
  'bullseye-security': 'http://deb.debian.org/debian-security',
  'bookworm-security': 'http://deb.debian.org/debian-security',
  'trixie-security': 'http://deb.debian.org/debian-security',
  'trixie-backports': 'http://deb.debian.org/debian',
};

/** apt-get/apt-cache on a private state for one suite (no lock, no host sources). */
function apt(suite: string, tool: 'apt-get' | 'apt-cache', args: string[], cwd?: string) {
  const d = path.join(CACHE, 'apt', suite);
  for (const sub of ['state/lists/partial', 'cache/archives/partial', 'parts'])
    fs.mkdirSync(path.join(d, sub), { recursive: true });
  const sl = `deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] ${MIRRORS[suite]} ${suite} main\n`;
  fs.writeFileSync(path.join(d, 'sources.list'), sl);
  if (!fs.existsSync(path.join(d, 'status'))) fs.writeFileSync(path.join(d, 'status'), '');
  const o = (k: string, v: string) => ['-o', `${k}=${v}`];
  const opts = [
    ...o('Dir::Etc::SourceList', path.join(d, 'sources.list')),
    ...o('Dir::Etc::SourceParts', path.join(d, 'parts')),
    ...o('Dir::Etc::PreferencesParts', path.join(d, 'parts')),
    ...o('Dir::Etc::Preferences', '/dev/null'),
    ...o('Dir::State', path.join(d, 'state')),
    ...o('Dir::State::status', path.join(d, 'status')),
    ...o('Dir::Cache', path.join(d, 'cache')),
    ...o('Debug::NoLocking', '1'),
    ...o('APT::Architecture', 'amd64'),
    ...o('APT::Architectures', 'amd64'),
    ...o('Acquire::Languages', 'none'),
  ];
  return run(tool, [...opts, ...args], { cwd, timeoutS: 600 }).toString();
}

/** The suite's kernel: cached, or resolved (linux-image-amd64 → its ABI) and fetched. */
function kernelOf(suite: string): { abi: string; vmlinuz: string } {
  const dir = path.join(CACHE, 'kernels');
  const abiFile = path.join(dir, `${suite}.abi`);
  const cached = fs.existsSync(abiFile) ? fs.readFileSync(abiFile, 'utf8').trim() : '';
  if (cached && fs.existsSync(path.join(dir, cached, 'vmlinuz')) && !process.env.KMATRIX_REFRESH) {
    return { abi: cached, vmlinuz: path.join(dir, cached, 'vmlinuz') };
  }
  log(`${suite}: resolving linux-image-amd64`);
  apt(suite, 'apt-get', ['-q', 'update']);
  const meta = apt(suite, 'apt-cache', ['show', '--no-all-versions', 'linux-image-amd64']);
  const abi = /^Depends:.*?\blinux-image-([0-9][^\s,]*?-amd64)(?:-unsigned)?\b/m.exec(meta)?.[1];
  if (!abi) throw new Error(`${suite}: linux-image-amd64 names no linux-image-<abi>`);
  const out = path.join(dir, abi);
  if (!fs.existsSync(path.join(out, 'vmlinuz'))) {
    fs.mkdirSync(dir, { recursive: true });
    const tmp = fs.mkdtempSync(path.join(dir, '.fetch-'));
    try {
      // From 6.16 on, linux-image-<abi> is a metapackage and the image is in linux-binary-<abi>.
      const candidates = [`linux-image-${abi}`, `linux-binary-${abi}`];
      for (const pkg of candidates) {
        try {
          apt(suite, 'apt-get', ['-q', 'download', pkg], tmp);
        } catch (e) {
          if (pkg === candidates[0]) throw e;
          continue;
        }
        const deb = fs.readdirSync(tmp).find((f) => f.startsWith(`${pkg}_`) && f.endsWith('.deb'));
        if (!deb) continue;
        run('dpkg-deb', ['-x', deb, 'x'], { cwd: tmp });
        const found = [`x/boot/vmlinuz-${abi}`, `x/usr/lib/modules/${abi}/vmlinuz`]
          .map((f) => path.join(tmp, f))
          .find((f) => fs.existsSync(f));
        if (found) {
          fs.mkdirSync(out, { recursive: true });
          fs.copyFileSync(found, path.join(out, 'vmlinuz.tmp'));
          fs.renameSync(path.join(out, 'vmlinuz.tmp'), path.join(out, 'vmlinuz'));
          break;
        }
        fs.rmSync(path.join(tmp, 'x'), { recursive: true, force: true });
      }
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
    if (!fs.existsSync(path.join(out, 'vmlinuz')))
      throw new Error(`${suite}: no vmlinuz in linux-image-${abi} or linux-binary-${abi}`);
  }
  fs.writeFileSync(abiFile, `${abi}\n`);
  return { abi, vmlinuz: path.join(out, 'vmlinuz') };
}

// ------------------------------------------------------------------------------------- rootfs

function rootfs(): { key: string; file: string } {
  const script = path.join(HERE, 'rootfs');
  const key = sha256(fs.readFileSync(script)).slice(0, 16);
  const dir = path.join(CACHE, 'rootfs');
  const file = path.join(dir, `${key}.cpio`);
  fs.mkdirSync(dir, { recursive: true });
  if (!fs.existsSync(file)) {
    log(`building the guest rootfs ${key} (mmdebstrap)`);
    const t0 = Date.now();
    run(script, [file], { timeoutS: 1800 });
    log(`rootfs built in ${Math.round((Date.now() - t0) / 1000)} s`);
  }
  // Only the current root filesystem is kept (each is ~400 MB).
  for (const f of fs.readdirSync(dir))
    if (f.endsWith('.cpio') && f !== `${key}.cpio`) fs.rmSync(path.join(dir, f));
  return { key, file };
}

// ---------------------------------------------------------------------------------------- boot

/** The guest's own files, appended to the rootfs as a second cpio archive (the kernel reads both). */
function guestFiles(): Record<string, Buffer> {
  return {
    init: fs.readFileSync(path.join(HERE, 'init')),
    'matrix/guest.cjs': fs.readFileSync(path.join(BUNDLES, 'guest.cjs')),
    'matrix/workload.cjs': fs.readFileSync(path.join(BUNDLES, 'workload.cjs')),
  };
}

function overlayCpio(files: Record<string, Buffer>, work: string): Buffer {
  const stage = path.join(work, 'overlay');
  fs.rmSync(stage, { recursive: true, force: true });
  for (const [rel, data] of Object.entries(files)) {
    const f = path.join(stage, rel);
    fs.mkdirSync(path.dirname(f), { recursive: true });
    fs.writeFileSync(f, data, { mode: rel === 'init' ? 0o755 : 0o644 });
  }
  const list = run('find', ['.', '-mindepth', '1'], { cwd: stage })
    .toString()
    .split('\n')
    .filter(Boolean)
    .sort()
    .join('\n');
  return run('cpio', ['--quiet', '-o', '-H', 'newc', '-R', '0:0', '--reproducible'], {
    cwd: stage,
    input: Buffer.from(`${list}\n`),
  });
}

function accel(): string[] {
  const want = process.env.KMATRIX_ACCEL ?? 'auto';
  const hw = /\b(vmx|svm)\b/.test(fs.readFileSync('/proc/cpuinfo', 'utf8')) && fs.existsSync('/dev/kvm');
  if (want === 'kvm' || (want === 'auto' && hw)) return ['-accel', 'kvm', '-cpu', 'host'];
  return ['-accel', 'tcg', '-cpu', 'max'];
}

interface Boot {
  records: ReturnType<typeof decodeRecords>;
  seconds: number;
  problem?: string;
}

function boot(
  abi: string,
  vmlinuz: string,
  rootfsFile: string,
  plan: GuestPlan,
  files: Record<string, Buffer>,
): Boot {
  const work = path.join(CACHE, 'work');
  fs.mkdirSync(work, { recursive: true });
  const initrd = path.join(work, 'initrd.cpio');
  fs.copyFileSync(rootfsFile, initrd);
  fs.appendFileSync(
    initrd,
    overlayCpio({ ...files, 'matrix/plan.json': Buffer.from(JSON.stringify(plan)) }, work),
  );
  const out = path.join(CACHE, 'results', abi);
  fs.mkdirSync(out, { recursive: true });
  const serial = path.join(out, 'serial.txt');
  const consoleLog = path.join(out, 'console.log');
  // Never read an earlier boot's records as this one's.
  for (const f of [serial, consoleLog]) fs.rmSync(f, { force: true });
  const limitS = 120 + plan.programs.length * (READY_TIMEOUT_S + 120);
  const t0 = Date.now();
  const r = spawnSync(
    process.env.KMATRIX_QEMU ?? 'qemu-system-x86_64',
    [
      ...accel(),
      ...['-m', '2G', '-smp', '2', '-nodefaults', '-no-user-config', '-display', 'none', '-no-reboot'],
      ...['-kernel', vmlinuz, '-initrd', initrd],
      ...['-append', 'console=ttyS0 rdinit=/init panic=-1 loglevel=4'],
      ...['-serial', `file:${consoleLog}`, '-serial', `file:${serial}`],
    ],
    { timeout: limitS * 1000, stdio: ['ignore', 'ignore', 'pipe'] },
  );
  const seconds = (Date.now() - t0) / 1000;
  fs.rmSync(initrd, { force: true });
  const records = fs.existsSync(serial) ? decodeRecords(fs.readFileSync(serial, 'utf8')) : [];
  let problem: string | undefined;
  if (r.error) problem = `QEMU: ${r.error.message}`;
  else if (r.status !== 0) {
    const err = r.stderr.toString().trim().split('\n').slice(-2).join(' / ');
    problem = `QEMU exited ${r.status ?? r.signal}${err ? `: ${err}` : ''}`;
  }
  if (!records.some((x) => x.type === 'done')) {
    const tail = fs.existsSync(consoleLog)
      ? fs.readFileSync(consoleLog, 'utf8').trim().split('\n').slice(-3).join(' / ')
      : '';
    const why =
      problem ??
      (seconds >= limitS ? `the VM did not finish within ${limitS} s` : 'the guest runner did not finish');
    problem = tail ? `${why}; console: ${tail}` : why;
  }
  return { records, seconds, problem };
}

// ----------------------------------------------------------------------------------------- main

interface Args {
  json?: string;
  readme: boolean;
  only?: string[];
}

function parseArgs(argv: string[]): Args {
  const a: Args = { readme: true };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--json') a.json = argv[++i];
    else if (argv[i] === '--no-readme') a.readme = false;
    else if (argv[i] === '--only') a.only = argv[++i].split(',');
    else throw new Error(`unknown argument ${argv[i]} (--json FILE, --no-readme, --only SUITE,…)`);
  }
  return a;
}

const readJson = <T>(f: string): T | undefined =>
  fs.existsSync(f) ? (JSON.parse(fs.readFileSync(f, 'utf8')) as T) : undefined;
function writeJson(f: string, data: unknown) {
  fs.mkdirSync(path.dirname(f), { recursive: true });
  fs.writeFileSync(`${f}.tmp`, `${JSON.stringify(data, null, 1)}\n`);
  fs.renameSync(`${f}.tmp`, f);
}

function main() {
  const args = parseArgs(process.argv.slice(2));
  const t0 = Date.now();
  const all = variants(RECORDERS);
  const needs = needsOf(RECORDERS);
  const files = guestFiles();
  const guestKey = sha256(...Object.entries(files).flatMap(([k, v]) => [k, v]));
  const cells: Cell[] = [];
  const columns: string[] = [];
  const summary: unknown[] = [];
  let fs0: { key: string; file: string } | undefined;
  let fsProblem: string | undefined;
  try {
    fs0 = rootfs();
  } catch (e) {
    fsProblem = `no guest rootfs: ${(e as Error).message}`;
  }
  for (const k of KERNELS.filter((x) => !args.only || args.only.includes(x.suite))) {
    let label = `${k.debian} (${k.suite})`;
    const failAll = (why: string) => {
      columns.push(label);
      for (const v of all) cells.push(judge(RECORDERS, label, v, undefined, undefined, why));
      summary.push({ suite: k.suite, problem: why });
      log(`${k.suite}: ${why}`);
    };
    if (!fs0) {
      failAll(fsProblem as string);
      continue;
    }
    let kernel: { abi: string; vmlinuz: string };
    try {
      kernel = kernelOf(k.suite);
    } catch (e) {
      failAll(`could not fetch the kernel: ${(e as Error).message}`);
      continue;
    }
    const vmKey = sha256(fs.readFileSync(kernel.vmlinuz), fs0.key, guestKey);
    const dir = path.join(CACHE, 'results', kernel.abi);
    const factsFile = path.join(dir, `facts-${sha256(vmKey, JSON.stringify(needs))}.json`);
    const cellFile = (v: Variant) =>
      path.join(
        dir,
        `cell-${sha256(vmKey, v.program.text, JSON.stringify(v.program.env), v.cgroupDir)}.json`,
      );
    let facts = readJson<FactsRecord>(factsFile);
    const runs = new Map<string, ProgramRecord>();
    for (const v of all) {
      const r = readJson<ProgramRecord>(cellFile(v));
      if (r) runs.set(v.id, r);
    }
    const todo = all.filter((v) => !runs.has(v.id));
    let bootProblem: string | undefined;
    let bootS: number | undefined;
    if (todo.length || !facts) {
      log(`${kernel.abi}: booting for ${todo.length ? todo.map((v) => v.id).join(', ') : 'its facts'}`);
      const plan: GuestPlan = {
        needs,
        programs: todo.map((v) => ({
          id: v.id,
          text: v.program.text,
          env: v.program.env,
          cgroupDir: v.cgroupDir,
        })),
        readyTimeoutS: READY_TIMEOUT_S,
      };
      const b = boot(kernel.abi, kernel.vmlinuz, fs0.file, plan, files);
      bootS = b.seconds;
      bootProblem = b.problem;
      log(`${kernel.abi}: ${Math.round(b.seconds)} s${b.problem ? `: ${b.problem}` : ''}`);
      for (const rec of b.records) {
        if (rec.type === 'facts') {
          facts = rec;
          writeJson(factsFile, rec);
        }
        if (rec.type === 'program') {
          runs.set(rec.id, rec);
          const v = all.find((x) => x.id === rec.id);
          // A program that timed out is tried again next time (a loaded host, not the kernel).
          if (v && !rec.timedOut) writeJson(cellFile(v), rec);
        }
      }
    }
    if (!facts) {
      failAll(`the VM reported nothing: ${bootProblem ?? 'no facts'}`);
      continue;
    }
    // Results of programs, kernels or guests no longer in use go (each a few KB, but unbounded).
    const current = new Set([path.basename(factsFile), ...all.map((v) => path.basename(cellFile(v)))]);
    for (const f of fs.readdirSync(dir))
      if (/^(cell|facts)-[0-9a-f]{64}\.json$/.test(f) && !current.has(f)) fs.rmSync(path.join(dir, f));
    label = `${facts.facts.release} (${k.suite})`;
    columns.push(label);
    for (const v of all) {
      const expect = expectationOf(RECORDERS, v.kind, v.route, facts.facts);
      cells.push(
        judge(RECORDERS, label, v, expect, runs.get(v.id), `not run: ${bootProblem ?? 'no result'}`),
      );
    }
    summary.push({
      suite: k.suite,
      abi: kernel.abi,
      bpftrace: facts.bpftrace,
      userRegs: facts.userRegs,
      bootS,
      facts: facts.facts,
      runs: [...runs.values()].map((r) => ({ id: r.id, ready: r.ready, loadS: r.loadS, exit: r.exit })),
    });
  }
  const table = renderTable(columns, cells);
  const passed = cells.filter((c) => c.ok).length;
  const seconds = Math.round((Date.now() - t0) / 1000);
  writeJson(path.join(CACHE, 'results', 'summary.json'), { cells, kernels: summary });
  process.stdout.write(`${table}\n\n`);
  if (args.readme && !args.only) {
    const readme = path.join(REPO, 'README.md');
    const text = fs.readFileSync(readme, 'utf8');
    if (!text.includes(BEGIN_MARK)) log('README.md has no kernel-matrix markers: table not written');
    else fs.writeFileSync(readme, replaceMarked(text, table));
  }
  if (args.json) writeJson(args.json, jestReport(cells));
  log(`${passed} passed, ${cells.length - passed} failed (${seconds} s)`);
  process.exitCode = passed === cells.length ? 0 : 1;
}

main();
