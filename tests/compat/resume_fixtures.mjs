// Shared pieces of the resume and fault tests (resume*.test.mjs): a
// server-side writer committing one row per transaction, clients that
// collect what their channel delivers through the resume helper, and the
// exactly-once check against the database. Not a test file itself.

import assert from 'node:assert/strict';
import { resumable } from '../../clients/js/walcast-resume.js';
import { disconnectForGood } from './harness.mjs';

export { resumable };

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Polls `check` every 50 ms until it is truthy; rejects with `what` after `ms`. */
export async function until(check, ms, what) {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms: ${typeof what === 'function' ? what() : what}`);
    await sleep(50);
  }
}

/** One counter or gauge from walcast's /metrics (summed over labels);
 * null when walcast serves no /metrics. */
export async function metric(walcast, name) {
  const response = await fetch(`${walcast.httpUrl}/metrics`);
  if (!response.ok) return null;
  const text = await response.text();
  let sum = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith(name + ' ') || line.startsWith(name + '{')) sum += Number(line.split(' ').pop());
  }
  return sum;
}

/** Creates `table (id bigserial, conv int, body text)` and adds it to walcast's publication. */
export function createRowsTable(pg, table) {
  pg.psql(`CREATE TABLE ${table} (id bigserial PRIMARY KEY, conv int NOT NULL, body text NOT NULL DEFAULT '')`);
  pg.psql(`ALTER PUBLICATION walcast ADD TABLE ${table}`);
}

/**
 * Starts a writer inside PostgreSQL: one row per transaction into `table`,
 * `perSecond` rows a second (paced on the clock, so ~1 ms apart at 1000),
 * conversation `i % convs`, for `seconds`. `done` resolves when it ends
 * (also when a PostgreSQL restart kills it); `stop()` cancels it.
 */
export function startWriter(pg, { table, convs, seconds, perSecond = 1000, bodyBytes = 0 }) {
  const appName = `writer-${table}`;
  const sql = `DO $$
DECLARE
  started timestamptz := clock_timestamp();
  deadline timestamptz := started + interval '${seconds} seconds';
  i bigint := 0;
BEGIN
  WHILE clock_timestamp() < deadline LOOP
    INSERT INTO ${table} (conv, body) VALUES (i % ${convs}, repeat('x', ${bodyBytes}));
    COMMIT;
    i := i + 1;
    PERFORM pg_sleep(greatest(0, extract(epoch FROM started + i * interval '${1000 / perSecond} milliseconds' - clock_timestamp())));
  END LOOP;
END $$`;
  const { child, done } = pg.psqlSpawn(sql, { appName });
  return {
    child,
    done,
    stop() {
      try {
        pg.psql(`SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE application_name = '${appName}'`);
      } catch {}
      return done;
    },
  };
}

/**
 * Keeps a writer going for `seconds` of wall time, restarting it when it
 * dies (a PostgreSQL restart ends its session). Resolves when the time is up.
 */
export async function writeFor(pg, options) {
  const end = Date.now() + options.seconds * 1000;
  let runs = 0;
  while (Date.now() < end - 200) {
    const left = Math.max(1, Math.round((end - Date.now()) / 1000));
    runs++;
    const { done } = startWriter(pg, { ...options, seconds: left });
    const { code } = await done;
    if (code !== 0 && Date.now() < end) await sleep(200); // PostgreSQL is restarting
  }
  return runs;
}

/**
 * One realtime-js client per conversation, each with one channel through
 * the resume helper and a filter `conv=eq.N`; records the ids delivered.
 */
export async function startCollectors(walcast, { table, convs, vsn = '2.0.0', helper = true, extra }) {
  const collectors = [];
  for (let conv = 0; conv < convs; conv++) {
    const client = walcast.client({ vsn, extra });
    const collector = { conv, client, ids: [], statuses: [], unavailable: [], closes: [] };
    let channel = client
      .channel(`rows-${table}-${conv}`)
      .on('postgres_changes', { event: 'INSERT', schema: 'public', table, filter: `conv=eq.${conv}` }, (p) => collector.ids.push(p.new.id));
    if (helper) channel = resumable(channel, { onResumeUnavailable: (m) => collector.unavailable.push(m.message) });
    collector.channel = channel;
    client.socketAdapter.getSocket().onClose((event) => collector.closes.push(event?.code));
    collector.subscribed = new Promise((resolve) => {
      channel.subscribe((status, err) => {
        collector.statuses.push(err ? `${status}: ${err.message}` : status);
        if (status === 'SUBSCRIBED') resolve();
      });
    });
    collectors.push(collector);
  }
  await Promise.all(collectors.map((c) => c.subscribed));
  return collectors;
}

/** The committed ids of each conversation, in commit order. */
export function committedIds(pg, table) {
  const byConv = new Map();
  const text = pg.psql(`SELECT conv, string_agg(id::text, ',' ORDER BY id) FROM ${table} GROUP BY conv`);
  for (const line of text.split('\n').filter(Boolean)) {
    const [conv, ids] = line.split('|');
    byConv.set(Number(conv), ids.split(',').map(Number));
  }
  return byConv;
}

/** Waits until every collector has as many ids as its conversation has
 * rows (or `ms` pass), then asserts each got every committed row exactly
 * once, in commit order. Returns a summary for the test's diagnostics. */
export async function expectExactlyOnce(pg, collectors, table, { ms = 30_000 } = {}) {
  const want = committedIds(pg, table);
  const expected = (c) => want.get(c.conv) ?? [];
  const lagging = () => collectors.filter((c) => c.ids.length < expected(c).length);
  try {
    await until(() => lagging().length === 0, ms, () => `${lagging().length} clients still lagging, e.g. ${describe(lagging()[0], expected(lagging()[0]))}`);
  } catch (err) {
    // Fall through to the exact comparison, which names the gap.
  }
  await sleep(300); // late duplicates
  const rows = [...want.values()].reduce((n, ids) => n + ids.length, 0);
  for (const c of collectors) {
    const got = c.ids;
    const exp = expected(c);
    if (got.length !== exp.length || got.some((id, i) => id !== exp[i])) {
      assert.fail(`conversation ${c.conv}: ${describe(c, exp)}\n  statuses: ${c.statuses.join(' / ')}\n  unavailable: ${c.unavailable.join(' / ')}`);
    }
    assert.equal(c.channel.walcast?.duplicatesDropped ?? 0, 0, `conversation ${c.conv}: walcast sent ${c.channel.walcast?.duplicatesDropped} changes twice`);
  }
  return { rows, clients: collectors.length };
}

function describe(c, exp) {
  if (!c) return '';
  const got = c.ids;
  const seen = new Set();
  const dups = got.filter((id) => seen.has(id) || !seen.add(id));
  const gotSet = new Set(got);
  const missing = exp.filter((id) => !gotSet.has(id));
  const expSet = new Set(exp);
  const extra = got.filter((id) => !expSet.has(id));
  const firstDiff = got.findIndex((id, i) => id !== exp[i]);
  return `got ${got.length} of ${exp.length}; missing ${missing.length} ${JSON.stringify(missing.slice(0, 10))}; duplicates ${dups.length} ${JSON.stringify(dups.slice(0, 10))}; not committed ${extra.length}; first difference at ${firstDiff}`;
}

/** Disconnects every collector's client. */
export function closeCollectors(collectors) {
  for (const c of collectors) disconnectForGood(c.client);
}
