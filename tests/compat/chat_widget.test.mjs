// The chat widget end to end, through @supabase/realtime-js 2.109.0 against
// the product configuration (config/walcast.toml): a visitor token opens
// its own conversation's three channels and receives agent replies,
// assignment and typing (client broadcast, typing_indicators rows and
// pg_logical_emit_message), never another conversation's. A routed topic
// joined without bindings receives its table's changes as broadcast
// events. Rolled-back transactions deliver nothing. Both protocol versions.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { startWalcast, eventQueue, nextEvent } from './harness.mjs';
import {
  PRODUCT_CONFIG, tokens, lit, createConversation, rowJson, emitSql, expectJoined, UUID, COMMIT_TIMESTAMP,
} from './chat_fixtures.mjs';

let walcast;
const TENANT = randomUUID();
const OTHER_TENANT = randomUUID();

before(async () => {
  walcast = await startWalcast({ config: PRODUCT_CONFIG });
  walcast.psql(`INSERT INTO tenants VALUES (${lit(TENANT)}, 'acme'), (${lit(OTHER_TENANT)}, 'globex')`);
});
after(async () => walcast?.stop());

/** Inserts one message; returns its id. */
function message(conversation, tenant, body, { sender = 'agent', senderId = 'a1', metadata = '{}', createdAt } = {}) {
  const created = createdAt ? lit(createdAt) : 'now()';
  return walcast.psql(
    `INSERT INTO messages (conversation_id, tenant_id, sender_type, sender_id, body, metadata, created_at)
     VALUES (${lit(conversation)}, ${lit(tenant)}, ${lit(sender)}, ${lit(senderId)}, ${lit(body)}, ${lit(metadata)}, ${created}) RETURNING id`,
  );
}

function typingUpsert(conversation, participant, isTyping) {
  walcast.psql(
    `INSERT INTO typing_indicators (conversation_id, participant_id, participant_type, is_typing)
     VALUES (${lit(conversation)}, ${lit(participant)}, 'agent', ${isTyping})
     ON CONFLICT (conversation_id, participant_id) DO UPDATE SET is_typing = EXCLUDED.is_typing, updated_at = now()`,
  );
}

/** The widget's three channels, each event pushed to its queue. */
async function joinWidget(client, conversation) {
  const messages = eventQueue();
  const updates = eventQueue();
  const typing = eventQueue();
  const channels = [
    client
      .channel(`conversation:${conversation}:messages`)
      .on('postgres_changes', { event: 'INSERT', schema: 'public', table: 'messages', filter: `conversation_id=eq.${conversation}` }, (p) => messages.push(p)),
    client
      .channel(`conversation:${conversation}:updates`)
      .on('postgres_changes', { event: 'UPDATE', schema: 'public', table: 'conversations', filter: `id=eq.${conversation}` }, (p) => updates.push(p)),
    client
      .channel(`conversation:${conversation}:typing`)
      .on('broadcast', { event: 'typing' }, (p) => typing.push({ kind: 'broadcast', ...p }))
      .on('postgres_changes', { event: '*', schema: 'public', table: 'typing_indicators', filter: `conversation_id=eq.${conversation}` }, (p) =>
        typing.push({ kind: 'row', ...p }),
      ),
  ];
  for (const channel of channels) await expectJoined(channel);
  return { messages, updates, typing, typingChannel: channels[2] };
}

async function quiet(queue, what, ms = 300) {
  await assert.rejects(nextEvent(queue, ms), /no event/, what);
}

for (const vsn of ['1.0.0', '2.0.0']) {
  test(`vsn ${vsn}: the widget gets replies in commit order with typed values, its assignment and typing three ways, nothing of other conversations`, async () => {
    const visitorId = `visitor-${vsn}`;
    const mine = createConversation(walcast, TENANT, visitorId);
    const sameTenant = createConversation(walcast, TENANT, 'someone-else');
    const otherTenant = createConversation(walcast, OTHER_TENANT, 'stranger');
    const widget = walcast.client({ vsn, apikey: tokens.visitor(mine, TENANT, visitorId) });
    const { messages, updates, typing, typingChannel } = await joinWidget(widget, mine);

    // Agent replies, interleaved with messages of other conversations.
    // created_at deliberately out of commit order: commit order rules.
    message(sameTenant, TENANT, 'not yours (same tenant)');
    const r1 = message(mine, TENANT, 'Hi, I am Ann', {
      metadata: '{"source": "dashboard", "n": 1, "tags": ["greeting"], "nested": {"ok": true, "none": null}}',
      createdAt: '2025-01-02 03:04:05.678+00',
    });
    message(otherTenant, OTHER_TENANT, 'not yours (other tenant)', { senderId: 'b1' });
    const r2 = message(mine, TENANT, 'How can I help?', { createdAt: '2025-01-02 03:04:05.001+00' });
    message(sameTenant, TENANT, 'still not yours');
    const [r3, r4] = walcast
      .psql(
        `INSERT INTO messages (conversation_id, tenant_id, sender_type, sender_id, body, metadata)
         VALUES (${lit(mine)}, ${lit(TENANT)}, 'agent', 'a1', 'one transaction, first', '{"i": 1}'),
                (${lit(mine)}, ${lit(TENANT)}, 'agent', 'a1', 'one transaction, second', '{"i": 2}') RETURNING id`,
      )
      .split('\n');

    const got = [];
    for (let i = 0; i < 4; i++) got.push(await nextEvent(messages));
    assert.deepEqual(
      got.map((e) => e.new.body),
      ['Hi, I am Ann', 'How can I help?', 'one transaction, first', 'one transaction, second'],
      'own replies only, in commit order',
    );
    for (const [event, id] of got.map((e, i) => [e, [r1, r2, r3, r4][i]])) {
      assert.equal(event.eventType, 'INSERT');
      assert.equal(event.schema, 'public');
      assert.equal(event.table, 'messages');
      assert.match(event.commit_timestamp, COMMIT_TIMESTAMP);
      assert.deepEqual(event.new, rowJson(walcast, 'messages', id), 'the record is to_jsonb of the row');
    }
    const first = got[0].new;
    assert.match(first.id, UUID);
    assert.equal(first.conversation_id, mine);
    assert.equal(first.tenant_id, TENANT);
    assert.equal(first.created_at, '2025-01-02T03:04:05.678+00:00', 'timestamptz as to_jsonb prints it');
    assert.deepEqual(first.metadata, { source: 'dashboard', n: 1, tags: ['greeting'], nested: { ok: true, none: null } }, 'jsonb arrives as an object');
    assert.equal(got[1].new.created_at, '2025-01-02T03:04:05.001+00:00');
    assert.deepEqual(got[3].new.metadata, { i: 2 });
    await quiet(messages, 'no message of another conversation, no duplicate');

    // Assignment: "You're now connected to a1".
    walcast.psql(`UPDATE conversations SET status = 'active', assigned_agent_id = 'a2' WHERE id IN (${lit(sameTenant)}, ${lit(otherTenant)})`);
    walcast.psql(`UPDATE conversations SET assigned_agent_id = 'a1', status = 'active' WHERE id = ${lit(mine)}`);
    const assigned = await nextEvent(updates);
    assert.equal(assigned.eventType, 'UPDATE');
    assert.equal(assigned.table, 'conversations');
    assert.equal(assigned.old.assigned_agent_id, null);
    assert.equal(assigned.old.status, 'waiting');
    assert.equal(assigned.old.id, mine);
    assert.equal(assigned.new.assigned_agent_id, 'a1');
    assert.equal(assigned.new.status, 'active');
    assert.deepEqual(assigned.new, rowJson(walcast, 'conversations', mine));
    await quiet(updates, 'no update of another conversation');

    // Typing, way 1: a client broadcast from the agent on the same topic.
    const agent = walcast.client({ vsn, apikey: tokens.agent(TENANT, 'a1') });
    const agentHears = eventQueue();
    const agentTyping = agent
      .channel(`conversation:${mine}:typing`, { config: { broadcast: { ack: true } } })
      .on('broadcast', { event: 'typing' }, (p) => agentHears.push(p));
    await expectJoined(agentTyping, 'the agent joins the typing topic of a conversation of its tenant');
    assert.equal(await agentTyping.send({ type: 'broadcast', event: 'typing', payload: { participant_id: 'a1', is_typing: true } }), 'ok');
    const fromClient = await nextEvent(typing);
    assert.equal(fromClient.kind, 'broadcast');
    assert.equal(fromClient.event, 'typing');
    assert.deepEqual(fromClient.payload, { participant_id: 'a1', is_typing: true });
    // ...and the visitor's typing reaches the agent.
    await typingChannel.send({ type: 'broadcast', event: 'typing', payload: { participant_id: visitorId, is_typing: true } });
    assert.deepEqual((await nextEvent(agentHears)).payload, { participant_id: visitorId, is_typing: true });

    // Way 2: typing_indicators rows (another conversation's first).
    typingUpsert(sameTenant, 'a2', true);
    typingUpsert(otherTenant, 'b1', true);
    typingUpsert(mine, 'a1', true);
    const row = await nextEvent(typing);
    assert.equal(row.kind, 'row');
    assert.equal(row.eventType, 'INSERT');
    assert.equal(row.table, 'typing_indicators');
    assert.equal(row.new.conversation_id, mine);
    assert.equal(row.new.participant_id, 'a1');
    assert.equal(row.new.is_typing, true);
    typingUpsert(mine, 'a1', false);
    const stopped = await nextEvent(typing);
    assert.equal(stopped.kind, 'row');
    assert.equal(stopped.eventType, 'UPDATE');
    assert.equal(stopped.new.is_typing, false);
    assert.equal(stopped.new.participant_id, 'a1');

    // Way 3: pg_logical_emit_message from a service.
    walcast.psql(emitSql(`conversation:${sameTenant}:typing`, 'typing', { participant_id: 'a2', is_typing: true }));
    walcast.psql(emitSql(`conversation:${otherTenant}:typing`, 'typing', { participant_id: 'b1', is_typing: true }));
    walcast.psql(emitSql(`conversation:${mine}:typing`, 'typing', { participant_id: 'a1', is_typing: true }));
    const emitted = await nextEvent(typing);
    assert.equal(emitted.kind, 'broadcast');
    assert.equal(emitted.event, 'typing');
    assert.deepEqual(emitted.payload, { participant_id: 'a1', is_typing: true });
    await quiet(typing, 'no typing of another conversation');
    await quiet(messages, 'still no foreign message', 50);
    await quiet(updates, 'still no foreign update', 50);

    await widget.removeAllChannels();
    await agent.removeAllChannels();
    widget.disconnect();
    agent.disconnect();
  });

  test(`vsn ${vsn}: a routed topic joined without bindings receives INSERT and UPDATE broadcast events with record and meta.position`, async () => {
    const mine = createConversation(walcast, TENANT, 'v-bc');
    const sameTenant = createConversation(walcast, TENANT, 'v-other');
    const otherTenant = createConversation(walcast, OTHER_TENANT, 'stranger');
    const widget = walcast.client({ vsn, apikey: tokens.visitor(mine, TENANT, 'v-bc') });
    const inserts = eventQueue();
    const all = eventQueue();
    const channel = widget
      .channel(`conversation:${mine}:messages`)
      .on('broadcast', { event: 'INSERT' }, (p) => inserts.push(p))
      .on('broadcast', { event: '*' }, (p) => all.push(p));
    await expectJoined(channel);

    message(sameTenant, TENANT, 'not yours');
    message(otherTenant, OTHER_TENANT, 'not yours either');
    const id = message(mine, TENANT, 'hello over broadcast', { metadata: '{"k": [1, 2]}' });
    const inserted = await nextEvent(inserts);
    assert.equal(inserted.type, 'broadcast');
    assert.equal(inserted.event, 'INSERT');
    const { payload, meta } = inserted;
    assert.deepEqual(Object.keys(payload).sort(), ['commit_timestamp', 'old_record', 'operation', 'record', 'schema', 'table']);
    assert.equal(payload.schema, 'public');
    assert.equal(payload.table, 'messages');
    assert.equal(payload.operation, 'INSERT');
    assert.match(payload.commit_timestamp, COMMIT_TIMESTAMP);
    assert.deepEqual(payload.record, rowJson(walcast, 'messages', id));
    assert.equal(payload.old_record, null);
    assert.equal(typeof meta?.position, 'string');
    assert.ok(meta.position.length > 0);
    assert.equal((await nextEvent(all)).event, 'INSERT', 'the same event, once');

    walcast.psql(`UPDATE messages SET body = 'edited' WHERE id = ${lit(id)}`);
    const updated = await nextEvent(all);
    assert.equal(updated.event, 'UPDATE');
    assert.equal(updated.payload.operation, 'UPDATE');
    assert.equal(updated.payload.record.body, 'edited');
    assert.deepEqual(updated.payload.old_record, { id }, 'REPLICA IDENTITY DEFAULT: the key');
    assert.ok(updated.meta.position > meta.position, `positions order events: ${updated.meta.position} > ${meta.position}`);
    await assert.rejects(nextEvent(inserts, 300), /no event/, 'no other conversation, no duplicate');
    assert.equal(all.length, 0);
    await widget.removeAllChannels();
    widget.disconnect();
  });
}

test('rolled-back transactions deliver nothing: neither a transactional logical message nor an insert', async () => {
  const mine = createConversation(walcast, TENANT, 'v-rb');
  const widget = walcast.client({ apikey: tokens.visitor(mine, TENANT, 'v-rb') });
  const { messages, typing } = await joinWidget(widget, mine);
  const insert = (body) =>
    `INSERT INTO messages (conversation_id, tenant_id, sender_type, body) VALUES (${lit(mine)}, ${lit(TENANT)}, 'agent', ${lit(body)})`;
  const typingMessage = (state) => emitSql(`conversation:${mine}:typing`, 'typing', { participant_id: 'a1', state });

  walcast.psql(`BEGIN; ${typingMessage('rolled back')}; ROLLBACK;`);
  walcast.psql(`BEGIN; ${insert('rolled back')}; ROLLBACK;`);
  walcast.psql(`BEGIN; ${insert('rolled back with a message')}; ${typingMessage('rolled back with a row')}; ROLLBACK;`);
  walcast.psql(`BEGIN; SAVEPOINT s; ${insert('rolled back to a savepoint')}; ${typingMessage('rolled back to a savepoint')}; ROLLBACK TO SAVEPOINT s; ${insert('kept after the savepoint')}; COMMIT;`);
  walcast.psql(insert('committed'));
  walcast.psql(typingMessage('committed'));

  const kept = await nextEvent(messages);
  assert.equal(kept.new.body, 'kept after the savepoint');
  const committed = await nextEvent(messages);
  assert.equal(committed.new.body, 'committed');
  const barrier = await nextEvent(typing);
  assert.equal(barrier.kind, 'broadcast');
  assert.deepEqual(barrier.payload, { participant_id: 'a1', state: 'committed' }, 'the first typing event is the committed one');
  await assert.rejects(nextEvent(messages, 300), /no event/);
  assert.equal(typing.length, 0);
  await widget.removeAllChannels();
  widget.disconnect();
});

test('a non-transactional logical message is delivered even when its transaction rolls back', async () => {
  const mine = createConversation(walcast, TENANT, 'v-nt');
  const widget = walcast.client({ apikey: tokens.visitor(mine, TENANT, 'v-nt') });
  const { typing } = await joinWidget(widget, mine);
  const topic = `conversation:${mine}:typing`;
  walcast.psql(`BEGIN; ${emitSql(topic, 'typing', { n: 'immediate' }, false)}; ROLLBACK;`);
  walcast.psql(emitSql(topic, 'typing', { n: 'barrier' }));
  const first = await nextEvent(typing);
  assert.deepEqual(first.payload, { n: 'immediate' });
  assert.deepEqual((await nextEvent(typing)).payload, { n: 'barrier' });
  await widget.removeAllChannels();
  widget.disconnect();
});
