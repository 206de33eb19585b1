// The slow-consumer policy: a client that stops reading while changes keep
// coming is closed with code 1013 once its bounded outbound queue
// overflows; the clients that read keep getting everything; the stalled
// one reconnects, resumes through clients/js/walcast-resume.js and ends
// with every row exactly once. Twice: large rows (the queue's byte limit
// overflows first) and small rows (its frame limit overflows first).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startPostgres, serveWalcast } from './harness.mjs';
import { createRowsTable, startCollectors, startWriter, expectExactlyOnce, closeCollectors, until, sleep } from './resume_fixtures.mjs';

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

const health = async () => (await fetch(`${walcast.httpUrl}/health`)).json();
/** Open channels, from /health (a number, or {total, ...}). */
const channelCount = async () => {
  const { channels } = await health();
  return typeof channels === 'number' ? channels : channels.total;
};

const cases = [
  // ~200 kB frames, 30 a second: the 8 MiB byte limit is reached first.
  { name: 'large rows (byte limit)', table: 'rows_slow_large', bodyBytes: 200_000, perSecond: 30 },
  // ~0.4 kB frames, 1000 a second: the 1024-frame limit is reached first,
  // so the client has missed more than its queue holds; the replay is paced
  // by the queue.
  { name: 'small rows (frame limit)', table: 'rows_slow_small', bodyBytes: 0, perSecond: 1000 },
];

for (const { name, table, bodyBytes, perSecond } of cases) {
  test(`a client that stops reading, ${name}: closed with 1013, others unaffected, exactly once after it resumes`, async () => {
    createRowsTable(pg, table);
    const readers = [];
    for (let i = 0; i < 3; i++) readers.push(...(await startCollectors(walcast, { table, convs: 1 })));
    // A client that stops reading stops sending heartbeats too (a frozen
    // tab); otherwise realtime-js gives up on the socket by itself first.
    const [stalled] = await startCollectors(walcast, { table, convs: 1, extra: { heartbeatIntervalMs: 3_600_000 } });
    const channelsBefore = await channelCount();
    const writer = startWriter(pg, { table, convs: 1, seconds: 40, perSecond, bodyBytes });
    const socket = stalled.client.socketAdapter.getSocket().conn._socket;
    try {
      await sleep(500);
      socket.pause();
      const pausedAt = Date.now();
      let evictedAfter;
      try {
        // The server gives up on the stalled connection: its channel goes
        // at once (the socket gets CLOSE_GRACE to take the close frame).
        await until(async () => (await channelCount()) < channelsBefore, 30_000, 'walcast did not drop the stalled connection');
        evictedAfter = Date.now() - pausedAt;
      } finally {
        socket.resume();
      }
      await until(() => stalled.closes.length > 0, 15_000, 'the stalled client saw no close');
      assert.equal(stalled.closes[0], 1013, `closed as a slow consumer (${evictedAfter} ms after it stopped reading)`);
      await until(
        () => stalled.statuses.at(-1) === 'SUBSCRIBED' || stalled.unavailable.length > 0,
        15_000,
        () => `the stalled client rejoined: closes ${stalled.closes}; statuses ${stalled.statuses.join(' / ')}`,
      );
      assert.deepEqual(stalled.unavailable, [], 'the stalled client resumed');
      await sleep(1000); // live again for a while
      await writer.stop();
      for (const reader of readers) assert.deepEqual(reader.closes, [], 'the readers stayed connected');
      await expectExactlyOnce(pg, [...readers, stalled], table);
    } finally {
      await writer.stop();
      closeCollectors([...readers, stalled]);
      socket.destroy();
    }
  });
}
