// Presence sync/join/leave and token lifetime through
// @supabase/realtime-js 2.109.0.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startWalcast, subscribe, eventQueue, nextEvent, token } from './harness.mjs';

let walcast;
before(async () => (walcast = await startWalcast()));
after(async () => walcast?.stop());

test('presence: sync, join and leave reach the other member', async () => {
  const a = walcast.client();
  const b = walcast.client();
  const events = eventQueue();
  const watcher = b
    .channel('lobby', { config: { presence: { key: 'bob' } } })
    .on('presence', { event: 'join' }, (p) => events.push(p))
    .on('presence', { event: 'leave' }, (p) => events.push(p));
  assert.equal((await subscribe(watcher)).status, 'SUBSCRIBED');

  const tracker = a.channel('lobby', { config: { presence: { key: 'ann' } } }).on('presence', { event: 'sync' }, () => {});
  assert.equal((await subscribe(tracker)).status, 'SUBSCRIBED');
  assert.equal(await tracker.track({ status: 'online' }), 'ok');

  const join = await nextEvent(events);
  assert.equal(join.event, 'join');
  assert.equal(join.key, 'ann');
  assert.equal(join.newPresences[0].status, 'online');
  assert.deepEqual(Object.keys(watcher.presenceState()), ['ann']);

  a.disconnect();
  const leave = await nextEvent(events);
  assert.equal(leave.event, 'leave');
  assert.equal(leave.key, 'ann');
  b.disconnect();
});

test('a late joiner gets the current presence state', async () => {
  const a = walcast.client();
  const first = a.channel('hall', { config: { presence: { key: 'ann' } } }).on('presence', { event: 'sync' }, () => {});
  assert.equal((await subscribe(first)).status, 'SUBSCRIBED');
  await first.track({ mood: 'happy' });
  await new Promise((r) => setTimeout(r, 200));

  const b = walcast.client();
  const synced = eventQueue();
  const late = b.channel('hall', { config: { presence: { key: 'bob' } } }).on('presence', { event: 'sync' }, () => synced.push(late.presenceState()));
  assert.equal((await subscribe(late)).status, 'SUBSCRIBED');
  const state = await nextEvent(synced);
  assert.equal(state.ann[0].mood, 'happy');
  a.disconnect();
  b.disconnect();
});

test('setAuth refreshes the token without a reply; an expiring token closes the channel', async () => {
  const client = walcast.client();
  const now = Math.floor(Date.now() / 1000);
  await client.setAuth(token({ role: 'anon', exp: now + 2 }));
  const system = eventQueue();
  const statuses = eventQueue();
  const channel = client.channel('short').on('system', {}, (p) => system.push(p));
  channel.subscribe((status) => statuses.push(status));
  assert.equal(await nextEvent(statuses), 'SUBSCRIBED');

  // Refresh: the channel outlives the first token.
  await client.setAuth(token({ role: 'anon', exp: now + 4 }));
  await new Promise((r) => setTimeout(r, 2500));
  assert.equal(channel.state, 'joined', 'still joined after the first token expired');

  const expired = await nextEvent(system, 5000);
  assert.equal(expired.extension, 'system');
  assert.equal(expired.status, 'error');
  assert.match(expired.message, /^Token has expired \d+ seconds ago$/);
  assert.equal(await nextEvent(statuses, 2000), 'CLOSED');
  client.disconnect();
});
