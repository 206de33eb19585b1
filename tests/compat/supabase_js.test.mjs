// @supabase/supabase-js 2.109.0 against walcast: an application written
// for Supabase changes only its URL. `createClient(url, key)` derives the
// WebSocket endpoint (`/realtime/v1/websocket`) and the HTTP broadcast
// endpoint (`/realtime/v1/api/broadcast`) from the project URL, and
// `supabase.channel(...)` is realtime-js underneath. Run for both protocol
// versions.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { createClient } from '@supabase/supabase-js';
import { startWalcast, subscribe, eventQueue, nextEvent, token } from './harness.mjs';

let walcast;
let projectUrl;
const TENANT = '22222222-2222-2222-2222-222222222222';
const clients = [];

before(async () => {
  walcast = await startWalcast();
  // ws://127.0.0.1:<port>/realtime/v1 → the project URL http://127.0.0.1:<port>
  projectUrl = walcast.realtimeUrl.replace(/^ws/, 'http').replace(/\/realtime\/v1$/, '');
  walcast.psql(`INSERT INTO tenants VALUES ('${TENANT}', 'acme') ON CONFLICT DO NOTHING`);
});
after(async () => {
  for (const supabase of clients) {
    await supabase.removeAllChannels();
    supabase.realtime.disconnect();
  }
  await walcast?.stop();
});

/** A supabase-js client as an application creates one (Node 20 needs the `ws` transport). */
function supabaseClient(key, vsn) {
  const supabase = createClient(projectUrl, key, {
    auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false },
    realtime: { transport: WebSocket, vsn, heartbeatIntervalMs: 1000 },
  });
  clients.push(supabase);
  return supabase;
}

for (const vsn of ['1.0.0', '2.0.0']) {
  test(`vsn ${vsn}: createClient(url, key).channel(...) receives postgres_changes with typed values`, async () => {
    const supabase = supabaseClient(token({ role: 'anon' }), vsn);
    const conversation = walcast.psql(`INSERT INTO conversations (tenant_id, visitor_id) VALUES ('${TENANT}', 'v-${vsn}') RETURNING id`);
    const inserts = eventQueue();
    const updates = eventQueue();
    const channel = supabase
      .channel(`supabase-js-${vsn}`)
      .on('postgres_changes', { event: 'INSERT', schema: 'public', table: 'messages', filter: `conversation_id=eq.${conversation}` }, (p) => inserts.push(p))
      .on('postgres_changes', { event: 'UPDATE', schema: 'public', table: 'conversations', filter: `id=eq.${conversation}` }, (p) => updates.push(p));
    const { status, err } = await subscribe(channel);
    assert.equal(status, 'SUBSCRIBED', String(err));
    assert.equal(supabase.realtime.socketAdapter.endPointURL().split('?')[0], `${walcast.realtimeUrl}/websocket`);

    walcast.psql(`INSERT INTO messages (conversation_id, tenant_id, sender_type, body, metadata) VALUES ('${conversation}', '${TENANT}', 'agent', 'hi from supabase-js', '{"n": 2}')`);
    walcast.psql(`UPDATE conversations SET status = 'active', assigned_agent_id = 'a1' WHERE id = '${conversation}'`);
    const insert = await nextEvent(inserts);
    assert.equal(insert.eventType, 'INSERT');
    assert.equal(insert.table, 'messages');
    assert.equal(insert.new.body, 'hi from supabase-js');
    assert.deepEqual(insert.new.metadata, { n: 2 });
    const update = await nextEvent(updates);
    assert.equal(update.eventType, 'UPDATE');
    assert.equal(update.old.status, 'waiting', 'REPLICA IDENTITY FULL: the old row');
    assert.equal(update.new.assigned_agent_id, 'a1');
    assert.equal(await supabase.removeChannel(channel), 'ok');
  });

  test(`vsn ${vsn}: broadcast with self and ack, presence sync, through supabase.channel(...)`, async () => {
    const supabase = supabaseClient(token({ role: 'anon' }), vsn);
    const topic = `supabase-js-room-${vsn}`;
    const received = eventQueue();
    const synced = eventQueue();
    const channel = supabase
      .channel(topic, { config: { broadcast: { self: true, ack: true }, presence: { key: 'ann' } } })
      .on('broadcast', { event: 'typing' }, (p) => received.push(p))
      .on('presence', { event: 'sync' }, () => synced.push(channel.presenceState()));
    assert.equal((await subscribe(channel)).status, 'SUBSCRIBED');
    assert.equal(await channel.send({ type: 'broadcast', event: 'typing', payload: { who: 'ann' } }), 'ok', 'acked');
    assert.deepEqual((await nextEvent(received)).payload, { who: 'ann' });
    assert.equal(await channel.track({ online_at: 'now' }), 'ok');
    let state = await nextEvent(synced);
    while (!state.ann) state = await nextEvent(synced);
    assert.equal(state.ann[0].online_at, 'now');
  });

  test(`vsn ${vsn}: httpSend reaches a joined channel through /realtime/v1/api/broadcast`, async () => {
    const listener = supabaseClient(token({ role: 'anon' }), vsn);
    const topic = `supabase-js-http-${vsn}`;
    const received = eventQueue();
    const channel = listener.channel(topic).on('broadcast', { event: 'notice' }, (p) => received.push(p));
    assert.equal((await subscribe(channel)).status, 'SUBSCRIBED');

    // A backend service: the service_role key, no socket joined.
    const backend = supabaseClient(token({ role: 'service_role' }), vsn);
    assert.deepEqual(await backend.channel(topic).httpSend('notice', { text: 'closing soon' }), { success: true });
    const notice = await nextEvent(received);
    assert.equal(notice.event, 'notice');
    assert.deepEqual(notice.payload, { text: 'closing soon' });

    // The anon key may not broadcast over HTTP: the server's error, not a 404.
    const anon = supabaseClient(token({ role: 'anon' }), vsn);
    await assert.rejects(anon.channel(topic).httpSend('notice', { text: 'nope' }), /service_role/);
    await assert.rejects(nextEvent(received, 300), /no event/, 'the refused message never arrives');
  });
}

test('vsn 2.0.0: httpSend with a binary payload arrives as a binary broadcast', async () => {
  const listener = supabaseClient(token({ role: 'anon' }), '2.0.0');
  const received = eventQueue();
  const channel = listener.channel('supabase-js-binary').on('broadcast', { event: 'blob' }, (p) => received.push(p));
  assert.equal((await subscribe(channel)).status, 'SUBSCRIBED');
  const backend = supabaseClient(token({ role: 'service_role' }), '2.0.0');
  const bytes = new Uint8Array([0, 1, 2, 250, 255]);
  assert.deepEqual(await backend.channel('supabase-js-binary').httpSend('blob', bytes.buffer), { success: true });
  const blob = await nextEvent(received);
  assert.deepEqual([...new Uint8Array(blob.payload)], [...bytes]);
});
