// Nothing committed is lost across a crash: a writer commits a row every
// millisecond to 50 conversations while walcast is killed (-9) and
// restarted, or PostgreSQL is restarted (fast and immediate) under it.
// Fifty realtime-js clients, one per conversation, resume through
// clients/js/walcast-resume.js; in the end each has every committed row of
// its conversation exactly once, in commit order (compared with SELECT).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startPostgres, serveWalcast } from './harness.mjs';
import { createRowsTable, startCollectors, startWriter, writeFor, expectExactlyOnce, closeCollectors, metric, sleep } from './resume_fixtures.mjs';

const CONVS = 50;
let pg;
let walcast;

before(async () => {
  pg = await startPostgres();
  walcast = await serveWalcast({ databaseUrl: pg.url });
});
after(async () => {
  await walcast?.stop();
  await pg?.stop();
});

test('kill -9 of walcast mid-stream: every client gets every committed row exactly once', async () => {
  const table = 'rows_kill';
  createRowsTable(pg, table);
  const collectors = await startCollectors(walcast, { table, convs: CONVS });
  const writer = startWriter(pg, { table, convs: CONVS, seconds: 20 });
  await sleep(7000);
  await walcast.kill('SIGKILL');
  await sleep(300); // a moment of nobody serving
  await walcast.start();
  const { code, stderr } = await writer.done;
  assert.equal(code, 0, `the writer failed: ${stderr}`);
  const { rows } = await expectExactlyOnce(pg, collectors, table);
  assert.ok(rows > 10_000, `only ${rows} rows written in 20 s`);
  for (const c of collectors) {
    assert.deepEqual(c.unavailable, [], `conversation ${c.conv} could not resume`);
    assert.ok(c.statuses.filter((s) => s === 'SUBSCRIBED').length >= 2, `conversation ${c.conv} rejoined: ${c.statuses}`);
  }
  const resumes = await metric(walcast, 'walcast_resumes_total');
  if (resumes !== null) assert.ok(resumes >= CONVS, `the rejoins resumed (${resumes})`);
  closeCollectors(collectors);
});

for (const mode of ['fast', 'immediate']) {
  test(`pg_ctl restart -m ${mode} mid-stream: walcast reconnects to the slot, every row exactly once`, async () => {
    const table = `rows_pg_${mode}`;
    createRowsTable(pg, table);
    const collectors = await startCollectors(walcast, { table, convs: CONVS });
    const writing = writeFor(pg, { table, convs: CONVS, seconds: 15 });
    await sleep(6000);
    // PostgreSQL's own default wait is 60 s; a restart that takes half of
    // it is an outage of the database.
    const restarted = await pg.restart(mode, { timeout: 30 }).then(
      () => null,
      async (err) => {
        await pg.forceRestart(); // so that the rest of the suite has a database
        return err;
      },
    );
    const runs = await writing;
    assert.ok(runs >= 2, 'the restart ended the writer, which started again');
    await expectExactlyOnce(pg, collectors, table);
    for (const c of collectors) assert.deepEqual(c.unavailable, [], `conversation ${c.conv} could not resume`);
    closeCollectors(collectors);
    assert.equal(restarted, null, `PostgreSQL did not restart (-m ${mode}) within 30 s with walcast connected: ${restarted?.message}`);
  });
}
