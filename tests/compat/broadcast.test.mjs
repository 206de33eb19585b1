// Broadcast through @supabase/realtime-js 2.109.0: self and ack, both
// protocol versions (vsn 2.0.0 sends binary kind-3 frames), public and
// private topics kept apart, and the HTTP endpoints with a service token.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startWalcast, subscribe, eventQueue, nextEvent, token } from './harness.mjs';

let walcast;
before(async () => (walcast = await startWalcast()));
after(async () => walcast?.stop());

async function member(client, name, config) {
  const queue = eventQueue();
  const channel = client.channel(name, { config }).on('broadcast', { event: '*' }, (p) => queue.push(p));
  const { status, err } = await subscribe(channel);
  assert.equal(status, 'SUBSCRIBED', String(err));
  return { channel, queue };
}

for (const vsn of ['1.0.0', '2.0.0']) {
  test(`vsn ${vsn}: others receive a broadcast, the sender only with self; ack resolves ok`, async () => {
    const a = walcast.client({ vsn });
    const b = walcast.client({ vsn });
    const sender = await member(a, `room-${vsn}`, { broadcast: { self: false, ack: true } });
    const other = await member(b, `room-${vsn}`, { broadcast: { self: false } });
    const result = await sender.channel.send({ type: 'broadcast', event: 'cursor', payload: { x: 1 } });
    assert.equal(result, 'ok');
    const got = await nextEvent(other.queue);
    assert.equal(got.event, 'cursor');
    assert.deepEqual(got.payload, { x: 1 });
    await assert.rejects(nextEvent(sender.queue, 300), /no event/, 'no echo without self');

    const selfish = await member(a, `selfish-${vsn}`, { broadcast: { self: true } });
    await selfish.channel.send({ type: 'broadcast', event: 'ping', payload: { n: 2 } });
    assert.deepEqual((await nextEvent(selfish.queue)).payload, { n: 2 });
    a.disconnect();
    b.disconnect();
  });
}

test('public and private channels of the same name are different topics', async () => {
  const a = walcast.client();
  const b = walcast.client();
  const publicMember = await member(a, 'shared', { private: false });
  const privateMember = await member(b, 'shared', { private: true });
  const sender = await member(walcast.client(), 'shared', { private: false });
  await sender.channel.send({ type: 'broadcast', event: 'hello', payload: { to: 'public' } });
  assert.deepEqual((await nextEvent(publicMember.queue)).payload, { to: 'public' });
  await assert.rejects(nextEvent(privateMember.queue, 300), /no event/);
  a.disconnect();
  b.disconnect();
});

test('HTTP broadcast with a service token reaches members; other tokens get 401', async () => {
  const client = walcast.client();
  const { queue } = await member(client, 'http-room', {});
  const base = walcast.realtimeUrl.replace('ws://', 'http://').replace(/\/realtime\/v1$/, '');
  const post = (path, body, role) =>
    fetch(base + path, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token({ role })}` },
      body: JSON.stringify(body),
    });

  const ok = await post('/api/broadcast', { messages: [{ topic: 'http-room', event: 'notice', payload: { a: 1 }, id: 'm1' }] }, 'service_role');
  assert.equal(ok.status, 202);
  const got = await nextEvent(queue);
  assert.equal(got.event, 'notice');
  assert.deepEqual(got.payload, { a: 1 });
  assert.deepEqual(got.meta, { id: 'm1' });

  const single = await post('/api/broadcast/http-room/events/typing', { who: 'agent' }, 'service_role');
  assert.equal(single.status, 202);
  const typing = await nextEvent(queue);
  assert.equal(typing.event, 'typing');
  assert.deepEqual(typing.payload, { who: 'agent' });

  const anon = await post('/api/broadcast', { messages: [{ topic: 'http-room', event: 'x', payload: {} }] }, 'anon');
  assert.equal(anon.status, 401);
  assert.ok((await anon.json()).error);
  const bad = await post('/api/broadcast', { messages: [{ topic: 'http-room', payload: {} }] }, 'service_role');
  assert.equal(bad.status, 422);
  assert.deepEqual(await bad.json(), { error: 'messages[0].event must be a non-empty string' });
  client.disconnect();
});
