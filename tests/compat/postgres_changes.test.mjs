// @supabase/realtime-js 2.109.0 against walcast: postgres_changes with
// filters and typed values, SUBSCRIBED means live, and token errors in the
// client's own terms. Run for both protocol versions.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { startWalcast, subscribe, eventQueue, nextEvent, token } from './harness.mjs';

let walcast;
const TENANT = '11111111-1111-1111-1111-111111111111';

before(async () => {
  walcast = await startWalcast();
  walcast.psql(`INSERT INTO tenants VALUES ('${TENANT}', 'acme') ON CONFLICT DO NOTHING`);
});
after(async () => walcast?.stop());

function conversation() {
  return walcast.psql(`INSERT INTO conversations (tenant_id, visitor_id) VALUES ('${TENANT}', 'v1') RETURNING id`);
}

for (const vsn of ['1.0.0', '2.0.0']) {
  test(`vsn ${vsn}: filtered INSERTs arrive with typed values, other rows do not`, async () => {
    const client = walcast.client({ vsn });
    const mine = conversation();
    const other = conversation();
    const queue = eventQueue();
    const channel = client
      .channel(`messages-${vsn}`)
      .on('postgres_changes', { event: 'INSERT', schema: 'public', table: 'messages', filter: `conversation_id=eq.${mine}` }, (p) => queue.push(p));
    const { status, err } = await subscribe(channel);
    assert.equal(status, 'SUBSCRIBED', String(err));

    walcast.psql(`INSERT INTO messages (conversation_id, tenant_id, sender_type, body, metadata) VALUES ('${other}', '${TENANT}', 'visitor', 'not for you', '{}')`);
    walcast.psql(`INSERT INTO messages (conversation_id, tenant_id, sender_type, body, metadata) VALUES ('${mine}', '${TENANT}', 'agent', 'hello', '{"n": 1}')`);
    const event = await nextEvent(queue);
    assert.equal(event.eventType, 'INSERT');
    assert.equal(event.schema, 'public');
    assert.equal(event.table, 'messages');
    assert.equal(event.new.body, 'hello');
    assert.equal(event.new.conversation_id, mine);
    assert.deepEqual(event.new.metadata, { n: 1 });
    assert.match(event.commit_timestamp, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    assert.equal(event.errors, null);
    await assert.rejects(nextEvent(queue, 300), /no event/, 'the other conversation never arrives');
    await client.removeAllChannels();
    client.disconnect();
  });

  test(`vsn ${vsn}: UPDATE and DELETE carry old values per replica identity`, async () => {
    const client = walcast.client({ vsn });
    const id = conversation();
    const queue = eventQueue();
    const channel = client
      .channel(`updates-${vsn}`)
      .on('postgres_changes', { event: '*', schema: 'public', table: 'conversations', filter: `id=eq.${id}` }, (p) => queue.push(p));
    assert.equal((await subscribe(channel)).status, 'SUBSCRIBED');
    walcast.psql(`UPDATE conversations SET status = 'active', assigned_agent_id = 'agent-7' WHERE id = '${id}'`);
    const update = await nextEvent(queue);
    assert.equal(update.eventType, 'UPDATE');
    assert.equal(update.new.status, 'active');
    assert.equal(update.old.status, 'waiting', 'REPLICA IDENTITY FULL sends the old row');
    assert.equal(update.old.assigned_agent_id, null);
    walcast.psql(`DELETE FROM conversations WHERE id = '${id}'`);
    const deleted = await nextEvent(queue);
    assert.equal(deleted.eventType, 'DELETE');
    assert.deepEqual(deleted.new, {});
    assert.equal(deleted.old.id, id);
    assert.equal(deleted.old.status, 'active');
    await client.removeAllChannels();
    client.disconnect();
  });
}

// Every operator, each event, AND lists, `not.`, like/ilike/is: each
// binding gets exactly its rows. SUBSCRIBED itself shows the reply echoed
// every binding as the client sent it (realtime-js otherwise reports "mismatch
// between server and client bindings" and CHANNEL_ERROR).
for (const vsn of ['1.0.0', '2.0.0']) {
  test(`vsn ${vsn}: every filter operator and event selects exactly the matching rows`, async () => {
    const client = walcast.client({ vsn });
    const table = `scores_${vsn.replaceAll('.', '_')}`;
    walcast.psql(`CREATE TABLE ${table} (id int PRIMARY KEY, n int, label text); ALTER TABLE ${table} REPLICA IDENTITY FULL; ALTER PUBLICATION walcast ADD TABLE ${table};`);
    // [event, filter] → the ids (with the event) it must receive, in commit order.
    const cases = {
      'INSERT n=eq.5': ['INSERT 2'],
      'INSERT n=neq.5': ['INSERT 1', 'INSERT 3', 'INSERT 4'],
      'INSERT n=lt.5': ['INSERT 1'],
      'INSERT n=lte.5': ['INSERT 1', 'INSERT 2'],
      'INSERT n=gt.5': ['INSERT 3', 'INSERT 4'],
      'INSERT n=gte.5': ['INSERT 2', 'INSERT 3', 'INSERT 4'],
      'INSERT n=in.(4,6)': ['INSERT 1', 'INSERT 3'],
      'INSERT label=in.(a,"c")': ['INSERT 1', 'INSERT 3'],
      'INSERT n=not.eq.5': ['INSERT 1', 'INSERT 3', 'INSERT 4'],
      'INSERT label=like.b*': ['INSERT 2'],
      'INSERT label=ilike.C*': ['INSERT 3'],
      'INSERT label=is.null': ['INSERT 4'],
      'INSERT n=gte.5,label=eq.c': ['INSERT 3'],
      'UPDATE n=eq.7': ['UPDATE 1'],
      'DELETE n=eq.6': ['DELETE 3'],
      '* id=eq.1': ['INSERT 1', 'UPDATE 1'],
      '* n=lt.7': ['INSERT 1', 'INSERT 2', 'INSERT 3', 'DELETE 3'],
    };
    const got = {};
    let channel = client.channel(`${table}-filters`);
    for (const name of Object.keys(cases)) {
      const [event, filter] = name.split(' ');
      got[name] = [];
      channel = channel.on('postgres_changes', { event, schema: 'public', table, filter }, (p) =>
        got[name].push(`${p.eventType} ${(p.eventType === 'DELETE' ? p.old : p.new).id}`),
      );
    }
    const done = eventQueue();
    channel = channel.on('postgres_changes', { event: 'INSERT', schema: 'public', table, filter: 'id=eq.99' }, () => done.push(true));
    const { status, err } = await subscribe(channel);
    assert.equal(status, 'SUBSCRIBED', String(err));
    walcast.psql(`INSERT INTO ${table} VALUES (1, 4, 'a'), (2, 5, 'b'), (3, 6, 'c'), (4, 8, NULL)`);
    walcast.psql(`UPDATE ${table} SET n = 7 WHERE id = 1`);
    walcast.psql(`DELETE FROM ${table} WHERE id = 3`);
    walcast.psql(`INSERT INTO ${table} VALUES (99, 99, 'end')`);
    await nextEvent(done);
    const isEnd = (key) => key === 'INSERT 99'; // the end marker, not a case
    for (const [name, want] of Object.entries(cases)) assert.deepEqual(got[name].filter((k) => !isEnd(k)), want, name);
    await client.removeAllChannels();
    client.disconnect();
  });

  test(`vsn ${vsn}: a row committed right after SUBSCRIBED is always delivered (200 trials)`, async () => {
    const client = walcast.client({ vsn });
    const id = conversation();
    for (let trial = 0; trial < 200; trial++) {
      const queue = eventQueue();
      const body = `trial-${vsn}-${trial}`;
      const channel = client
        .channel(`race-${vsn}-${trial}`)
        .on('postgres_changes', { event: 'INSERT', schema: 'public', table: 'messages', filter: `body=eq.${body}` }, (p) => queue.push(p));
      assert.equal((await subscribe(channel)).status, 'SUBSCRIBED');
      walcast.psql(`INSERT INTO messages (conversation_id, tenant_id, sender_type, body) VALUES ('${id}', '${TENANT}', 'bot', '${body}')`);
      const event = await nextEvent(queue);
      assert.equal(event.new.body, body);
      await client.removeChannel(channel);
    }
    client.disconnect();
  });
}

test('a bad access token gives CHANNEL_ERROR with the reason; an expired one too', async () => {
  const client = walcast.client();
  const bad = client.channel('bad', { config: {} });
  client.setAuth('not-a-jwt');
  const result = await subscribe(bad);
  assert.equal(result.status, 'CHANNEL_ERROR');
  assert.match(String(result.err), /MalformedJWT: The token provided is not a valid JWT/);
  await client.removeAllChannels();
  client.disconnect();

  const expired = walcast.client();
  await expired.setAuth(token({ role: 'anon', exp: Math.floor(Date.now() / 1000) - 30 }));
  const r2 = await subscribe(expired.channel('expired'));
  assert.equal(r2.status, 'CHANNEL_ERROR');
  assert.match(String(r2.err), /InvalidJWTToken: Token has expired \d+ seconds ago/);
  await expired.removeAllChannels();
  expired.disconnect();
});

test('a bad apikey is refused with HTTP 401 before the upgrade', async () => {
  const url = new URL(walcast.realtimeUrl.replace('ws://', 'http://') + '/websocket?apikey=nope&vsn=2.0.0');
  const { status, body } = await new Promise((resolve, reject) => {
    const req = http.get(url, {
      headers: { Connection: 'Upgrade', Upgrade: 'websocket', 'Sec-WebSocket-Version': '13', 'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==' },
    });
    req.on('response', (res) => {
      let body = '';
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode, body }));
    });
    req.on('upgrade', () => reject(new Error('upgraded with a bad apikey')));
    req.on('error', reject);
  });
  assert.equal(status, 401);
  assert.deepEqual(JSON.parse(body), { error: 'The token provided is not a valid JWT' });
});
