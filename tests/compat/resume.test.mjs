// Resuming a channel with clients/js/walcast-resume.js: a connection cut
// without a close frame, a routed topic's change broadcasts, positions
// walcast cannot replay from (too old, another epoch, malformed), a resume
// that missed more than a connection's queue holds, and the plain
// realtime-js client rejoining after a gateway restart. PostgreSQL runs on
// its own so that walcast can be restarted.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, connect } from 'node:net';
import { startPostgres, serveWalcast, subscribe, token } from './harness.mjs';
import { PRODUCT_CONFIG, tokens } from './chat_fixtures.mjs';
import { resumable, createRowsTable, startCollectors, startWriter, expectExactlyOnce, committedIds, closeCollectors, until, sleep } from './resume_fixtures.mjs';

let pg;
let walcast; // the default replay window
let small; // WALCAST_REPLAY_MAX_EVENTS=10, on its own slot

before(async () => {
  pg = await startPostgres();
  walcast = await serveWalcast({ databaseUrl: pg.url });
  small = await serveWalcast({ databaseUrl: pg.url, env: { WALCAST_SLOT: 'walcast_small', WALCAST_REPLAY_MAX_EVENTS: '10' } });
  createRowsTable(pg, 'rows');
});
after(async () => {
  await walcast?.stop();
  await small?.stop();
  await pg?.stop();
});

const insert = (conv, n = 1, table = 'rows') => pg.psql(`INSERT INTO ${table} (conv) SELECT ${conv} FROM generate_series(1, ${n})`);

/** The underlying ws WebSocket of a realtime-js client. */
const wsOf = (client) => client.socketAdapter.getSocket().conn;

/** A channel on `conv` of `rows` through the helper, collecting ids and
 * ResumeUnavailable messages; resolves once SUBSCRIBED. */
async function rowsChannel(client, conv, options = {}) {
  const seen = { ids: [], unavailable: [], statuses: [] };
  seen.channel = resumable(
    client.channel(`rows-${conv}-${Math.random().toString(36).slice(2)}`).on('postgres_changes', { event: 'INSERT', schema: 'public', table: 'rows', filter: `conv=eq.${conv}` }, (p) => seen.ids.push(p.new.id)),
    { ...options, onResumeUnavailable: (m) => seen.unavailable.push(m.message) },
  );
  await new Promise((resolve) =>
    seen.channel.subscribe((status, err) => {
      seen.statuses.push(err ? `${status}: ${err.message}` : status);
      if (status === 'SUBSCRIBED') resolve();
    }),
  );
  return seen;
}

test('the helper sends the last position in every rejoin', async () => {
  const client = walcast.client();
  const seen = await rowsChannel(client, 100);
  assert.equal(seen.channel.joinPush.payload().config.resume, undefined, 'nothing to resume from yet');
  insert(100, 3);
  await until(() => seen.ids.length === 3, 5000, 'three inserts');
  const { position } = seen.channel.walcast;
  assert.match(position, /^[0-9a-f]{16}\/[0-9A-F]{16}\.[0-9a-f]{8}$/i);
  assert.deepEqual(seen.channel.joinPush.payload().config.resume, { position });
  // What realtime-js puts in the payload (bindings, access token) is kept.
  assert.equal(seen.channel.joinPush.payload().config.postgres_changes.length, 1);
  await client.setAuth(token({ role: 'anon', n: 2 }));
  assert.deepEqual(seen.channel.joinPush.payload().config.resume, { position }, 'setAuth keeps the position');
  assert.ok(seen.channel.joinPush.payload().access_token);
  client.disconnect();
});

for (const how of ['client side (the socket is destroyed)', 'network (the server never hears of it)']) {
  test(`a connection cut without a close frame, ${how}: exactly once after the resume`, async () => {
    const table = how.startsWith('client') ? 'rows_cut' : 'rows_cut_silent';
    createRowsTable(pg, table);
    // The second case goes through a proxy that drops the client side and
    // leaves the server side open and unread, like a dead NAT entry.
    const proxy = how.startsWith('client') ? null : await tcpProxy(walcast.port);
    const target = proxy ? { ...walcast, client: (o = {}) => proxyClient(walcast, proxy.port, o) } : walcast;
    const collectors = await startCollectors(target, { table, convs: 2 });
    const [plain] = await startCollectors(target, { table, convs: 1, helper: false });
    const writer = startWriter(pg, { table, convs: 2, seconds: 6, perSecond: 200 });
    await sleep(2000);
    if (proxy) proxy.cutAll();
    else for (const c of [...collectors, plain]) wsOf(c.client)._socket.destroy();
    const { code, stderr } = await writer.done;
    assert.equal(code, 0, stderr);
    await expectExactlyOnce(pg, collectors, table);
    for (const c of collectors) {
      assert.deepEqual(c.unavailable, []);
      assert.equal(c.statuses.filter((s) => s === 'SUBSCRIBED').length, 2, `one rejoin: ${c.statuses}`);
    }
    // Sanity: the cut made a gap, which only the helper filled.
    await until(() => plain.statuses.filter((s) => s === 'SUBSCRIBED').length === 2, 10_000, 'the plain client rejoined');
    assert.ok(plain.ids.length < committedIds(pg, table).get(0).length, 'the plain client missed the rows of the gap');
    closeCollectors([...collectors, plain]);
    proxy?.close();
  });
}

test("a routed topic's change broadcasts resume too (meta.position)", async () => {
  const chat = await serveWalcast({ databaseUrl: pg.url, config: PRODUCT_CONFIG, env: { WALCAST_SLOT: 'walcast_chat' } });
  try {
    const tenant = '22222222-2222-2222-2222-222222222222';
    pg.psql(`INSERT INTO tenants VALUES ('${tenant}', 'acme') ON CONFLICT DO NOTHING`);
    const conversation = pg.psql(`INSERT INTO conversations (tenant_id, visitor_id) VALUES ('${tenant}', 'v1') RETURNING id`);
    const client = chat.client({ apikey: tokens.visitor(conversation, tenant) });
    const bodies = [];
    const channel = resumable(client.channel(`conversation:${conversation}:messages`).on('broadcast', { event: 'INSERT' }, (m) => bodies.push(m.payload.record.body)));
    assert.equal((await subscribe(channel)).status, 'SUBSCRIBED');
    const say = (from, to) =>
      pg.psql(`INSERT INTO messages (conversation_id, tenant_id, sender_type, body) SELECT '${conversation}', '${tenant}', 'agent', 'm' || n FROM generate_series(${from}, ${to}) n`);
    say(1, 3);
    await until(() => bodies.length === 3, 5000, 'three messages');
    assert.ok(channel.walcast.position, 'meta.position recorded');
    wsOf(client)._socket.destroy();
    say(4, 10); // while the client is away
    await until(() => bodies.length >= 10, 15_000, () => `messages after the cut: ${bodies}`);
    say(11, 11);
    await until(() => bodies.length >= 11, 5000, 'a live message after the resume');
    await sleep(200);
    assert.deepEqual(bodies, Array.from({ length: 11 }, (_, i) => `m${i + 1}`));
    client.disconnect();
  } finally {
    await chat.stop();
  }
});

test('a resume from a position within the window gets exactly what it missed, then live changes', async () => {
  const client = walcast.client();
  const first = await rowsChannel(client, 101);
  insert(101, 2);
  await until(() => first.ids.length === 2, 5000, 'two inserts');
  const position = first.channel.walcast.position;
  await client.removeChannel(first.channel);
  insert(101, 5);
  insert(102, 5); // another conversation: not replayed
  const again = await rowsChannel(client, 101, { position });
  await until(() => again.ids.length === 5, 5000, () => `replayed ${again.ids}`);
  insert(101, 1);
  await until(() => again.ids.length === 6, 5000, 'a live insert after the replay');
  await sleep(200);
  assert.deepEqual([...first.ids, ...again.ids], committedIds(pg, 'rows').get(101));
  assert.deepEqual(again.unavailable, []);
  client.disconnect();
});

const unavailable = [
  ['older than the replay window', /^ResumeUnavailable: .*older than the replay window/, async (position, client) => {
    const watcher = await rowsChannel(client, 201);
    insert(201, 30); // the window keeps 10 changes
    await until(() => watcher.ids.length === 30, 5000, 'the 30 inserts went through walcast');
    await client.removeChannel(watcher.channel);
    return position;
  }],
  ['from another epoch', /^ResumeUnavailable: .*another database or replication slot/, async (position) => {
    const epoch = position.slice(0, 16);
    const other = epoch === '0123456789abcdef' ? 'fedcba9876543210' : '0123456789abcdef';
    return other + position.slice(16);
  }],
  ['malformed', /^ResumeUnavailable: .*is not a walcast position/, async () => 'not-a-position'],
];
for (const [what, reason, positionFrom] of unavailable) {
  test(`a position ${what}: ResumeUnavailable, and the channel stays live`, async () => {
    const client = small.client();
    const first = await rowsChannel(client, 200);
    insert(200, 1);
    await until(() => first.ids.length === 1, 5000, 'an insert');
    const position = await positionFrom(first.channel.walcast.position, client);
    await client.removeChannel(first.channel);
    const again = await rowsChannel(client, 200, { position });
    await until(() => again.unavailable.length === 1, 5000, 'a ResumeUnavailable system message');
    assert.match(again.unavailable[0], reason);
    assert.deepEqual(again.statuses, ['SUBSCRIBED']);
    insert(200, 1);
    await until(() => again.ids.length === 1, 5000, 'a live insert after ResumeUnavailable');
    client.disconnect();
  });
}

test('more missed changes than the queue holds (3,000 > 1,024 frames): all replayed, exactly once, in order, then live', async () => {
  const client = walcast.client();
  const first = await rowsChannel(client, 300);
  insert(300, 1);
  await until(() => first.ids.length === 1, 5000, 'an insert');
  const position = first.channel.walcast.position;
  // In transactions of 300, so that the live channel's own queue keeps up.
  for (let i = 0; i < 10; i++) {
    insert(300, 300);
    await sleep(100);
  }
  // Resume only once they are in walcast's window (else some come live).
  await until(() => first.ids.length === 3001, 20_000, () => `the 3,000 inserts went through walcast: ${first.ids.length}`);
  await client.removeChannel(first.channel);
  const again = await rowsChannel(client, 300, { position });
  await until(() => again.ids.length === 3000, 20_000, () => `the replay: ${again.ids.length} of 3000`);
  assert.deepEqual(again.unavailable, []);
  assert.deepEqual(again.ids, first.ids.slice(1), 'what it missed, once, in order');
  insert(300, 1);
  await until(() => again.ids.length === 3001, 5000, 'a live insert');
  assert.equal(again.channel.walcast.duplicatesDropped, 0);
  client.disconnect();
});

test('the plain realtime-js client rejoins by itself after a gateway restart (SIGTERM, then kill -9)', async () => {
  const client = walcast.client();
  const ids = [];
  const statuses = [];
  const channel = client
    .channel('plain-after-restart')
    .on('postgres_changes', { event: 'INSERT', schema: 'public', table: 'rows', filter: 'conv=eq.400' }, (p) => ids.push(p.new.id));
  channel.subscribe((status) => statuses.push(status));
  await until(() => statuses.includes('SUBSCRIBED'), 5000, 'SUBSCRIBED');
  for (const [i, signal] of ['SIGTERM', 'SIGKILL'].entries()) {
    await walcast.restart({ signal });
    await until(() => statuses.filter((s) => s === 'SUBSCRIBED').length === i + 2, 30_000, () => `SUBSCRIBED again after ${signal}: ${statuses}`);
    insert(400, 1);
    await until(() => ids.length === i + 1, 5000, `a new insert after the ${signal} restart`);
  }
  client.disconnect();
});

/** A TCP proxy to `port` whose `cutAll()` destroys every client-side
 * socket and leaves the server side open, paused (never read, never closed). */
async function tcpProxy(port) {
  const pairs = [];
  const server = createServer((downstream) => {
    const upstream = connect(port, '127.0.0.1');
    downstream.pipe(upstream);
    upstream.pipe(downstream);
    const pair = { downstream, upstream };
    pairs.push(pair);
    downstream.on('error', () => {});
    upstream.on('error', () => {});
    downstream.on('close', () => {
      if (!pair.cut) upstream.destroy();
    });
    upstream.on('close', () => downstream.destroy());
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: server.address().port,
    cutAll() {
      for (const pair of pairs.splice(0)) {
        pair.cut = true;
        pair.upstream.unpipe(pair.downstream);
        pair.downstream.unpipe(pair.upstream);
        pair.upstream.pause();
        pair.downstream.destroy();
      }
    },
    close() {
      for (const pair of pairs) pair.upstream.destroy();
      server.close();
    },
  };
}

function proxyClient(walcast, port, options) {
  const client = walcast.client(options);
  // Same client, but through the proxy.
  client.socketAdapter.getSocket().endPoint = `ws://127.0.0.1:${port}/realtime/v1/websocket`;
  return client;
}
