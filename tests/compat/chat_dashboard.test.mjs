// The agent dashboard end to end, through @supabase/realtime-js 2.109.0
// against the product configuration (config/walcast.toml): the tenant's
// conversation list, joins of conversations checked by SQL, and presence of
// the tenant's agents. Never another tenant's.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { startWalcast, eventQueue, nextEvent } from './harness.mjs';
import { PRODUCT_CONFIG, tokens, lit, createConversation, rowJson, expectJoined, expectRefused, sleep, UUID } from './chat_fixtures.mjs';

let walcast;
const TENANT = randomUUID();
const OTHER_TENANT = randomUUID();

before(async () => {
  walcast = await startWalcast({ config: PRODUCT_CONFIG });
  walcast.psql(`INSERT INTO tenants VALUES (${lit(TENANT)}, 'acme'), (${lit(OTHER_TENANT)}, 'globex')`);
});
after(async () => walcast?.stop());

for (const vsn of ['1.0.0', '2.0.0']) {
  test(`vsn ${vsn}: the conversation list gets its tenant's new conversation, status change and assignment, never another tenant's`, async () => {
    const agent = walcast.client({ vsn, apikey: tokens.agent(TENANT, 'a1') });
    const list = eventQueue();
    const channel = agent
      .channel(`tenant:${TENANT}:conversations`)
      .on('postgres_changes', { event: '*', schema: 'public', table: 'conversations', filter: `tenant_id=eq.${TENANT}` }, (p) => list.push(p));
    await expectJoined(channel);

    createConversation(walcast, OTHER_TENANT, 'stranger');
    const created = createConversation(walcast, TENANT, `visitor-${vsn}`);
    const inserted = await nextEvent(list);
    assert.equal(inserted.eventType, 'INSERT');
    assert.equal(inserted.table, 'conversations');
    assert.match(inserted.new.id, UUID);
    assert.equal(inserted.new.id, created);
    assert.deepEqual(inserted.new, rowJson(walcast, 'conversations', created));

    const foreign = createConversation(walcast, OTHER_TENANT, 'stranger-2');
    walcast.psql(`UPDATE conversations SET status = 'active' WHERE id = ${lit(foreign)}`);
    walcast.psql(`UPDATE conversations SET status = 'active' WHERE id = ${lit(created)}`);
    const status = await nextEvent(list);
    assert.equal(status.eventType, 'UPDATE');
    assert.equal(status.new.id, created);
    assert.equal(status.old.status, 'waiting');
    assert.equal(status.new.status, 'active');
    assert.equal(status.new.assigned_agent_id, null);

    walcast.psql(`UPDATE conversations SET assigned_agent_id = 'b9' WHERE id = ${lit(foreign)}`);
    walcast.psql(`UPDATE conversations SET assigned_agent_id = 'a1' WHERE id = ${lit(created)}`);
    const assigned = await nextEvent(list);
    assert.equal(assigned.eventType, 'UPDATE');
    assert.equal(assigned.new.id, created);
    assert.equal(assigned.old.assigned_agent_id, null);
    assert.equal(assigned.new.assigned_agent_id, 'a1');
    assert.equal(assigned.old.status, 'active');

    await assert.rejects(nextEvent(list, 300), /no event/, 'no other tenant, no duplicate');
    await agent.removeAllChannels();
    agent.disconnect();
  });
}

test('an agent joins the channels of a conversation of its tenant; another tenant\'s, a missing one and a non-uuid id are refused', async () => {
  const agent = walcast.client({ apikey: tokens.agent(TENANT, 'a1') });
  const ours = createConversation(walcast, TENANT, 'v-ours');
  const theirs = createConversation(walcast, OTHER_TENANT, 'v-theirs');

  const messages = eventQueue();
  const joined = agent
    .channel(`conversation:${ours}:messages`)
    .on('postgres_changes', { event: 'INSERT', schema: 'public', table: 'messages', filter: `conversation_id=eq.${ours}` }, (p) => messages.push(p));
  await expectJoined(joined, 'the SQL check finds the conversation in the agent\'s tenant');
  await expectJoined(agent.channel(`conversation:${ours}:updates`).on('postgres_changes', { event: 'UPDATE', schema: 'public', table: 'conversations', filter: `id=eq.${ours}` }, () => {}));
  await expectJoined(agent.channel(`conversation:${ours}:typing`).on('broadcast', { event: 'typing' }, () => {}));

  for (const kind of ['messages', 'updates', 'typing']) {
    const reason = await expectRefused(agent, agent.channel(`conversation:${theirs}:${kind}`));
    assert.match(reason, /access query found no row/, reason);
    assert.ok(!reason.includes(theirs) && !reason.includes(OTHER_TENANT), `the refusal names no value: ${reason}`);
  }
  await expectRefused(agent, agent.channel(`conversation:${randomUUID()}:messages`));
  await expectRefused(agent, agent.channel('conversation:not-a-uuid:messages'));
  await expectRefused(agent, agent.channel("conversation:' OR 1=1 --:messages"));
  await expectRefused(agent, agent.channel(`tenant:${OTHER_TENANT}:conversations`));
  await expectRefused(agent, agent.channel('room:1'), /^Unauthorized: .*no route names this topic/);

  // The joined channel works, and a failed join left it alone.
  walcast.psql(`INSERT INTO messages (conversation_id, tenant_id, sender_type, body) VALUES (${lit(theirs)}, ${lit(OTHER_TENANT)}, 'visitor', 'theirs')`);
  walcast.psql(`INSERT INTO messages (conversation_id, tenant_id, sender_type, body) VALUES (${lit(ours)}, ${lit(TENANT)}, 'visitor', 'ours')`);
  assert.equal((await nextEvent(messages)).new.body, 'ours');
  await assert.rejects(nextEvent(messages, 300), /no event/);

  // A token of another tenant cannot read ours either.
  const stranger = walcast.client({ apikey: tokens.agent(OTHER_TENANT, 'b1') });
  await expectRefused(stranger, stranger.channel(`conversation:${ours}:messages`));
  await expectRefused(stranger, stranger.channel(`tenant:${TENANT}:conversations`), /^Unauthorized: /);
  await agent.removeAllChannels();
  agent.disconnect();
  stranger.disconnect();
});

test('members of the conversation list may not send broadcast or presence (route broadcast = false)', async () => {
  const agent = walcast.client({ apikey: tokens.agent(TENANT, 'a1') });
  const channel = agent.channel(`tenant:${TENANT}:conversations`, { config: { broadcast: { ack: true } } }).on('broadcast', { event: '*' }, () => {});
  await expectJoined(channel);
  assert.equal(await channel.send({ type: 'broadcast', event: 'spoof', payload: {} }), 'error');
  assert.equal(await channel.track({ online: true }), 'error');
  await agent.removeAllChannels();
  agent.disconnect();
});

test('presence on tenant:<id>:agents: two agents of the tenant see each other; an agent of another tenant is refused', async () => {
  const topic = `tenant:${TENANT}:agents`;
  const member = async (agentId, tenant = TENANT) => {
    const client = walcast.client({ apikey: tokens.agent(tenant, agentId) });
    const syncs = eventQueue();
    const joins = eventQueue();
    const channel = client
      .channel(topic, { config: { presence: { key: agentId } } })
      .on('presence', { event: 'sync' }, () => syncs.push(channel.presenceState()))
      .on('presence', { event: 'join' }, (p) => joins.push(p));
    return { client, channel, syncs, joins };
  };
  const ann = await member('ann');
  await expectJoined(ann.channel);
  assert.equal(await ann.channel.track({ name: 'Ann', status: 'online' }), 'ok');

  const bob = await member('bob');
  await expectJoined(bob.channel);
  assert.equal(await bob.channel.track({ name: 'Bob', status: 'online' }), 'ok');

  const seesBoth = async (who) => {
    for (let i = 0; i < 50; i++) {
      const state = who.channel.presenceState();
      if (state.ann && state.bob) return state;
      await sleep(50);
    }
    return who.channel.presenceState();
  };
  const annView = await seesBoth(ann);
  const bobView = await seesBoth(bob);
  assert.deepEqual(Object.keys(annView).sort(), ['ann', 'bob']);
  assert.deepEqual(Object.keys(bobView).sort(), ['ann', 'bob']);
  assert.equal(annView.bob[0].name, 'Bob');
  assert.equal(bobView.ann[0].status, 'online');
  const joinedBob = await nextEvent(ann.joins);
  assert.ok(['ann', 'bob'].includes(joinedBob.key));

  const mallory = await member('mallory', OTHER_TENANT);
  await expectRefused(mallory.client, mallory.channel);
  // Mallory's own tenant works and shows nobody of ours.
  const own = mallory.client.channel(`tenant:${OTHER_TENANT}:agents`, { config: { presence: { key: 'mallory' } } }).on('presence', { event: 'sync' }, () => {});
  await expectJoined(own);
  assert.equal(await own.track({ name: 'Mallory' }), 'ok');
  await sleep(200);
  assert.deepEqual(Object.keys(own.presenceState()), ['mallory']);
  assert.deepEqual(Object.keys(ann.channel.presenceState()).sort(), ['ann', 'bob'], 'mallory is not among our agents');

  // A visitor may not watch the agents.
  const widget = walcast.client({ apikey: tokens.visitor(createConversation(walcast, TENANT), TENANT) });
  await expectRefused(widget, widget.channel(topic));
  for (const { client } of [ann, bob, mallory]) client.disconnect();
  widget.disconnect();
});
