#!/usr/bin/env node
// Restart catch-up: how long a crashed walcast takes to serve again, and to
// bring its clients back, with writes going on the whole time.
//
//   node tests/compat/bench/restart_catchup.mjs [--clients 1000] [--convs 1000]
//        [--backlog 60000] [--rate 5000] [--rows-per-tx 10] [--reconnect-ms N]
//
// A standalone PostgreSQL and `walcast serve` (WALCAST_BIN, default
// target/debug/walcast; use a release build for figures). N realtime-js
// clients (one socket each) join `conv=eq.<i % convs>` through
// clients/js/walcast-resume.js (realtime-js's reconnect backoff, 1/2/5/10 s,
// unless --reconnect-ms makes every retry come after N ms). A writer
// commits `rate` rows a second
// (`rows-per-tx` per transaction). walcast is killed (-9); once `backlog`
// rows have been committed without it, it is started again, and the script
// prints: the time until the port accepts connections, until the replay
// window is ready, until 99% (and 100%) of the clients are subscribed
// again, until every row committed before the restart has reached its
// clients; then, after the writer stops, the gaps and duplicates of every
// client against SELECT. From walcast's own log (its `resumed` debug
// lines), how long each resume took on the server, from the join to live,
// and when the 99th percentile finished: what the server adds, apart from
// how fast this one process can reconnect and read 1,000 clients.
// Everything runs on 127.0.0.1 and stops by itself.

import { parseArgs } from 'node:util';
import { readFileSync } from 'node:fs';
import WebSocket from 'ws';
import { RealtimeClient } from '@supabase/realtime-js';
import { startPostgres, serveWalcast, waitForPort, token, disconnectForGood } from '../harness.mjs';
import { resumable } from '../../../clients/js/walcast-resume.js';

const { values: args } = parseArgs({
  options: {
    clients: { type: 'string', default: '1000' },
    convs: { type: 'string', default: '' },
    backlog: { type: 'string', default: '60000' },
    rate: { type: 'string', default: '5000' },
    'rows-per-tx': { type: 'string', default: '10' },
    // Plain realtime-js, no resume (to compare: rejoins without replay).
    'no-resume': { type: 'boolean', default: false },
    // Reconnect every N ms instead of realtime-js's 1/2/5/10 s backoff, to
    // see the server's catch-up time rather than the client's wait.
    'reconnect-ms': { type: 'string', default: '' },
  },
});
const RECONNECT_MS = args['reconnect-ms'] ? Number(args['reconnect-ms']) : null;
const CLIENTS = Number(args.clients);
const CONVS = Number(args.convs || args.clients);
const BACKLOG = Number(args.backlog);
const RATE = Number(args.rate);
const PER_TX = Number(args['rows-per-tx']);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const now = () => performance.now();
const log = (...a) => console.error(`[${new Date().toISOString().slice(11, 23)}]`, ...a);

const pg = await startPostgres();
const walcast = await serveWalcast({ databaseUrl: pg.url, env: { RUST_LOG: 'info,gateway::delivery=debug' } });
// Leave nothing running behind a failure.
for (const event of ['uncaughtException', 'unhandledRejection', 'SIGINT', 'SIGTERM']) {
  process.on(event, (err) => {
    console.error(err);
    try {
      if (walcast.pid) process.kill(walcast.pid, 'SIGKILL');
    } catch {}
    pg.stop(); // synchronous up to the removal of its directory
    process.exit(2);
  });
}
pg.psql(`CREATE TABLE bench_rows (id bigserial PRIMARY KEY, conv int NOT NULL, body text NOT NULL DEFAULT 'hello')`);
pg.psql(`ALTER PUBLICATION walcast ADD TABLE bench_rows`);

// --- clients ----------------------------------------------------------------
log(`connecting ${CLIENTS} clients over ${CONVS} conversations`);
const apikey = token({ role: 'anon' }, undefined);
const clients = [];
const reasons = new Map();
for (let i = 0; i < CLIENTS; i++) {
  const conv = i % CONVS;
  const reconnect = RECONNECT_MS === null ? {} : { reconnectAfterMs: () => RECONNECT_MS };
  const client = new RealtimeClient(walcast.realtimeUrl, { params: { apikey }, transport: WebSocket, vsn: '2.0.0', ...reconnect });
  const c = { conv, client, ids: [], subscribed: 0, lastSubscribedAt: 0, unavailable: 0 };
  const plain = client.channel(`bench-${i}`).on('postgres_changes', { event: 'INSERT', schema: 'public', table: 'bench_rows', filter: `conv=eq.${conv}` }, (p) => c.ids.push(p.new.id));
  c.channel = args['no-resume'] ? plain : resumable(
    plain,
    {
      onResumeUnavailable: (m) => {
        c.unavailable++;
        const reason = m.message.replace(/\d+/g, 'N');
        reasons.set(reason, (reasons.get(reason) ?? 0) + 1);
      },
    },
  );
  c.statuses = [];
  c.channel.subscribe((status, err) => {
    c.statuses.push(`${((now() - (globalThis.t0 ?? 0)) / 1000).toFixed(2)} ${status}${err ? ' ' + err.message : ''}`);
    if (status === 'SUBSCRIBED') {
      c.subscribed++;
      c.lastSubscribedAt = now();
    }
  });
  clients.push(c);
  if (i % 200 === 199) await sleep(50);
}
await waitUntil(() => clients.every((c) => c.subscribed >= 1), 120_000, 'all clients subscribed');
log('all subscribed');

// --- writer -------------------------------------------------------------------
const txPerSecond = RATE / PER_TX;
const writer = pg.psqlSpawn(
  `DO $$
DECLARE started timestamptz := clock_timestamp(); i bigint := 0;
BEGIN
  LOOP
    INSERT INTO bench_rows (conv) SELECT (random() * ${CONVS - 1})::int FROM generate_series(1, ${PER_TX});
    COMMIT;
    i := i + 1;
    PERFORM pg_sleep(greatest(0, extract(epoch FROM started + i * interval '${1000 / txPerSecond} milliseconds' - clock_timestamp())));
  END LOOP;
END $$`,
  { appName: 'bench-writer' },
);
await sleep(3000);
const count = () => Number(pg.psql('SELECT count(*) FROM bench_rows'));

// --- crash and backlog ------------------------------------------------------
const beforeKill = count();
log(`steady state: ${beforeKill} rows; kill -9`);
await walcast.kill('SIGKILL');
const killedAt = now();
await waitUntil(() => count() - beforeKill >= BACKLOG, 600_000, 'backlog', 100);
const maxAtRestart = Number(pg.psql('SELECT max(id) FROM bench_rows'));
const backlog = count() - beforeKill;
log(`backlog ${backlog} rows after ${((now() - killedAt) / 1000).toFixed(1)} s; restarting`);

// --- restart ------------------------------------------------------------------
const t0 = now();
const t0Wall = Date.now();
const logFrom = walcast.log().length;
globalThis.t0 = t0;
const cpu = cpuSampler();
const ready = walcast.start({ listening: false }).then(() => walcast.waitFor(/replay window ready/, 600_000)).then(() => now() - t0);
await waitForPort(walcast.port, 600_000, 5);
const tPort = now() - t0;
log(`port accepts after ${tPort.toFixed(0)} ms`);

// Rows committed before the restart, per conversation: what "caught up" means.
const owed = new Map();
for (const line of pg.psql(`SELECT conv, count(*) FROM bench_rows WHERE id <= ${maxAtRestart} GROUP BY conv`).split('\n').filter(Boolean)) {
  const [conv, n] = line.split('|').map(Number);
  owed.set(conv, n);
}
// A client told ResumeUnavailable refetches instead: it does not hold the figure up.
const caughtUp = (c) => c.unavailable > 0 || c.ids.filter((id) => id <= maxAtRestart).length >= (owed.get(c.conv) ?? 0);
let tFirst = null;
let t50 = null;
let t99 = null;
let t100 = null;
let tBacklog = null;
await waitUntil(() => {
  const live = clients.filter((c) => c.subscribed >= 2).length;
  if (tFirst === null && live >= 1) tFirst = now() - t0;
  if (t50 === null && live >= 0.5 * CLIENTS) t50 = now() - t0;
  if (t99 === null && live >= 0.99 * CLIENTS) t99 = now() - t0;
  if (t100 === null && live === CLIENTS) t100 = now() - t0;
  if (tBacklog === null && clients.every(caughtUp)) tBacklog = now() - t0;
  return t99 !== null && t100 !== null && tBacklog !== null;
}, args['no-resume'] ? 60_000 : 120_000, () => `catch-up: live ${clients.filter((c) => c.subscribed >= 2).length}, caught up ${clients.filter(caughtUp).length}`).catch((err) => log(err.message));
const tReady = await ready;
const cpuUse = cpu.stop();
if (process.env.BENCH_DEBUG) for (const c of [...clients.filter((c) => c.subscribed < 2).slice(0, 3), ...clients.slice(0, 3)]) log('client:', c.conv, c.statuses.join(' | '));

// --- settle and check -------------------------------------------------------
await sleep(2000);
pg.psql(`SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE application_name = 'bench-writer'`);
await writer.done;
const total = count();
const want = new Map();
for (const line of pg.psql(`SELECT conv, string_agg(id::text, ',' ORDER BY id) FROM bench_rows GROUP BY conv`).split('\n').filter(Boolean)) {
  const [conv, ids] = line.split('|');
  want.set(Number(conv), ids.split(',').map(Number));
}
const expectedOf = (c) => want.get(c.conv) ?? [];
await waitUntil(() => clients.every((c) => c.ids.length >= expectedOf(c).length), args['no-resume'] ? 5_000 : 120_000, 'final delivery').catch((err) => log(err.message));
await sleep(500);
let gaps = 0;
let duplicates = 0;
let outOfOrder = 0;
let dropped = 0;
let unavailable = 0;
let refetch = 0;
for (const c of clients) {
  const exp = expectedOf(c);
  const got = new Set(c.ids);
  // A client told ResumeUnavailable refetches: its gap is by contract.
  if (c.unavailable) refetch++;
  else gaps += exp.filter((id) => !got.has(id)).length;
  duplicates += c.ids.length - got.size;
  outOfOrder += c.ids.some((id, i) => i > 0 && id <= c.ids[i - 1]) ? 1 : 0;
  dropped += c.channel.walcast?.duplicatesDropped ?? 0;
  unavailable += c.unavailable;
}

const s = (ms) => (ms === null ? 'n/a' : `${(ms / 1000).toFixed(2)} s`);
console.log(`restart catch-up: ${CLIENTS} clients${args['no-resume'] ? ' WITHOUT the resume helper' : ''}, ${CONVS} conversations, writer ${RATE} rows/s (${PER_TX} per transaction), reconnect ${RECONNECT_MS === null ? 'realtime-js backoff (1/2/5/10 s)' : `every ${RECONNECT_MS} ms`}`);
console.log(`  backlog at restart:            ${backlog} rows (${((t0 - killedAt) / 1000).toFixed(1)} s without walcast)`);
console.log(`  port accepts connections:      ${s(tPort)}`);
console.log(`  replay window ready:           ${s(tReady)}`);
console.log(`  first / 50% subscribed again:  ${s(tFirst)} / ${s(t50)}`);
console.log(`  99% of clients subscribed:     ${s(t99)}`);
console.log(`  100% of clients subscribed:    ${s(t100)}`);
console.log(`  backlog delivered to all (*):  ${s(tBacklog)}`);
console.log(`  rows checked:                  ${total} (${clients.reduce((n, c) => n + c.ids.length, 0)} deliveries)`);
console.log(`  gaps: ${gaps}   duplicates: ${duplicates}   clients out of order: ${outOfOrder}   duplicates dropped by the helper: ${dropped}`);
console.log(`  (*) clients told ResumeUnavailable refetch instead (not counted in gaps either): ${refetch} (${unavailable} messages)`);

if (reasons.size) console.log(`  ResumeUnavailable reasons: ${JSON.stringify(Object.fromEntries(reasons))}`);
console.log(`  CPU during catch-up (1 = one core): walcast ${cpuUse.walcast}, this node process ${cpuUse.node}`);
const server = serverResumes(walcast.log().slice(logFrom));
if (server.count) {
  const ms = (x) => `${x.toFixed(1)} ms`;
  console.log(`  server, per resume (join to live): p50 ${ms(server.p50)}, p99 ${ms(server.p99)}, max ${ms(server.max)} over ${server.count} resumes; 99% of them live at ${s(server.done99)}`);
}
for (const c of clients) disconnectForGood(c.client);
await walcast.stop();
await pg.stop();
process.exit(gaps || duplicates || outOfOrder ? 1 : 0);

/** walcast's `resumed` debug lines: per-resume time on the server, and
 * when 99% of the resumes had finished (ms since the restart's spawn, by
 * the log's clock). */
function serverResumes(text) {
  const plain = text.replace(/\x1b\[[0-9;]*m/g, '');
  const lines = [...plain.matchAll(/^(\S+Z)\s+DEBUG .*resumed.*elapsed_us=(\d+)/gm)];
  const took = lines.map((m) => Number(m[2]) / 1000).sort((a, b) => a - b);
  const done = lines.map((m) => Date.parse(m[1]) - t0Wall).sort((a, b) => a - b);
  const at = (list, q) => list[Math.min(list.length - 1, Math.ceil(q * list.length) - 1)];
  return { count: took.length, p50: at(took, 0.5), p99: at(took, 0.99), max: took.at(-1), done99: at(done, 0.99) };
}

/** CPU of walcast (from /proc) and of this process, in cores, from now to stop(). */
function cpuSampler() {
  const ticks = () => {
    try {
      const f = readFileSync(`/proc/${walcast.pid}/stat`, 'utf8').split(') ')[1].split(' ');
      return Number(f[11]) + Number(f[12]);
    } catch {
      return 0;
    }
  };
  const start = { at: now(), walcast: ticks(), node: process.cpuUsage() };
  return {
    stop() {
      const seconds = (now() - start.at) / 1000;
      const node = process.cpuUsage(start.node);
      return {
        walcast: ((ticks() - start.walcast) / 100 / seconds).toFixed(2),
        node: ((node.user + node.system) / 1e6 / seconds).toFixed(2),
      };
    },
  };
}

async function waitUntil(check, ms, what, every = 10) {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out: ${typeof what === 'function' ? what() : what}`);
    await sleep(every);
  }
}
