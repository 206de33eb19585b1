// The agent dashboard: the tenant's conversation list (live through
// `tenant:<id>:conversations`), who is online (presence on
// `tenant:<id>:agents`), and the open conversation's three channels.
// `?agent=<name>` signs in without the form.

import {
  api,
  ApiError,
  connectRealtime,
  conversationChannels,
  formatTime,
  h,
  MessageList,
  subscribe,
  TypingState,
  TypingSender,
  watchLiveness,
  stored,
  showProblem,
} from './chat.js';

const STORAGE_KEY = 'walcast-demo-agent';
const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);

/** The agent token: stored, or issued by the dev API for a name. */
async function signIn() {
  const asked = params.get('agent')?.trim();
  let saved = stored.get(STORAGE_KEY);
  if (asked && saved?.name?.toLowerCase() !== asked.toLowerCase()) saved = null;
  if (saved?.token) {
    try {
      await api('/conversations', { token: saved.token });
      return saved;
    } catch (err) {
      if (!(err instanceof ApiError) || ![401, 403].includes(err.status)) throw err;
    }
  }
  const name = asked || (await askName());
  const agent = await api('/agents', { method: 'POST', body: { name } });
  stored.set(STORAGE_KEY, agent);
  return agent;
}

function askName() {
  const form = $('sign-in');
  form.hidden = false;
  $('agent-name').focus();
  return new Promise((resolve) => {
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      const name = $('agent-name').value.trim();
      if (!name) return;
      form.hidden = true;
      resolve(name);
    });
  });
}

async function main() {
  const me = await signIn();
  const { token, tenant_id: tenantId } = me;
  $('app').hidden = false;
  $('me-name').textContent = me.name;
  $('sign-out').addEventListener('click', (event) => {
    event.preventDefault();
    stored.remove(STORAGE_KEY);
    location.href = location.pathname;
  });

  const conversations = new Map(); // id → row (with assigned_agent_name when known)
  const agentNames = new Map([[me.agent_id, me.name]]);
  const unread = new Map(); // id → messages that arrived while it was not open
  let open = null; // { id, channels }

  const client = connectRealtime(token);

  // ---- the conversation list ------------------------------------------
  function remember(row) {
    const before = conversations.get(row.id);
    if (row.assigned_agent_name) agentNames.set(row.assigned_agent_id, row.assigned_agent_name);
    const name = row.assigned_agent_id ? agentNames.get(row.assigned_agent_id) : null;
    conversations.set(row.id, { ...before, ...row, assigned_agent_name: name ?? null });
    if (row.assigned_agent_id && !name) {
      // An agent this page has not seen yet: the API knows the name.
      api(`/conversations/${row.id}`, { token })
        .then((full) => full.assigned_agent_name && remember(full))
        .then(renderAll)
        .catch(report);
    }
  }

  async function refetchList() {
    const rows = await api('/conversations', { token });
    for (const row of rows) remember(row);
    renderAll();
  }

  function renderList() {
    const time = (row) => Date.parse(row.updated_at) || 0;
    const rows = [...conversations.values()].sort((a, b) => time(b) - time(a));
    $('empty').hidden = rows.length > 0;
    $('conversations').replaceChildren(
      ...rows.map((row) => {
        const count = unread.get(row.id) ?? 0;
        const item = h(
          'li',
          {
            class: `conv status-${row.status}${open?.id === row.id ? ' active' : ''}`,
            'data-id': row.id,
            tabindex: '0',
          },
          h(
            'div',
            { class: 'conv-top' },
            h('span', { class: 'conv-subject' }, row.subject || 'Visitor'),
            count ? h('span', { class: 'badge', title: 'unread messages' }, String(count)) : null,
          ),
          h(
            'div',
            { class: 'conv-bottom' },
            h('span', { class: `tag tag-${row.status}` }, row.status),
            h('span', { class: 'assignee' }, row.assigned_agent_name ?? (row.assigned_agent_id ? 'an agent' : 'unassigned')),
            h('time', {}, formatTime(row.updated_at)),
          ),
        );
        item.addEventListener('click', () => openConversation(row.id));
        item.addEventListener('keydown', (event) => event.key === 'Enter' && openConversation(row.id));
        return item;
      }),
    );
  }

  const inbox = client
    .channel(`tenant:${tenantId}:conversations`)
    .on(
      'postgres_changes',
      { event: '*', schema: 'public', table: 'conversations', filter: `tenant_id=eq.${tenantId}` },
      (change) => {
        if (change.eventType === 'DELETE') {
          conversations.delete(change.old.id);
        } else {
          const row = change.new;
          const old = change.old ?? {};
          // Sending a message bumps updated_at and nothing else.
          const newMessage =
            change.eventType === 'UPDATE' &&
            row.updated_at !== old.updated_at &&
            row.status === old.status &&
            row.assigned_agent_id === old.assigned_agent_id;
          if (newMessage && open?.id !== row.id) unread.set(row.id, (unread.get(row.id) ?? 0) + 1);
          remember(row);
        }
        renderAll();
      },
    );
  subscribe(inbox, () => refetchList().catch(report));

  // ---- presence: who is online ----------------------------------------
  const team = client
    .channel(`tenant:${tenantId}:agents`, { config: { presence: { key: me.agent_id } } })
    .on('presence', { event: 'sync' }, renderAgents);
  subscribe(team, () => {
    // The server forgets presence with the socket: track on every join.
    team.track({ agent_id: me.agent_id, name: me.name, online_at: new Date().toISOString() }).catch(report);
  });

  function renderAgents() {
    const online = Object.values(team.presenceState())
      .map((metas) => metas[0])
      .filter(Boolean)
      .sort((a, b) => String(a.name).localeCompare(String(b.name)));
    for (const agent of online) agentNames.set(agent.agent_id, agent.name);
    $('agents').replaceChildren(
      ...online.map((agent) =>
        h('li', { 'data-agent': agent.agent_id }, h('span', { class: 'dot' }), agent.name, agent.agent_id === me.agent_id ? ' (you)' : ''),
      ),
    );
  }

  // ---- the open conversation -----------------------------------------
  const list = new MessageList($('messages'), (message) => ({
    side: message.sender_type === 'visitor' ? 'theirs' : 'mine',
    label: labelOf(message),
  }));
  const typing = new TypingState(me.agent_id, (who) => {
    $('typing').textContent = who.some((w) => w.type === 'visitor')
      ? 'Visitor is typing…'
      : who.length
        ? 'Another agent is typing…'
        : '';
  });
  const sender = new TypingSender({ participant_id: me.agent_id, participant_type: 'agent' });

  function labelOf(message) {
    switch (message.sender_type) {
      case 'visitor':
        return conversations.get(open?.id)?.subject || 'Visitor';
      case 'agent':
        return message.sender_id === me.agent_id ? 'You' : (agentNames.get(message.sender_id) ?? 'Agent');
      case 'bot':
        return 'Bot';
      default:
        return 'System';
    }
  }

  function openConversation(id) {
    if (open?.id === id) return;
    if (open) {
      sender.stop();
      for (const channel of open.channels.all) client.removeChannel(channel);
    }
    list.clear();
    typing.clear();
    unread.delete(id);
    const current = { id, channels: null };
    open = current;
    const isOpen = () => open === current;
    current.channels = conversationChannels(client, id, {
      onMessage(message) {
        if (!isOpen()) return;
        list.merge([message]);
        if (message.sender_type === 'visitor') {
          typing.update({ participant_id: message.sender_id, is_typing: false });
        }
      },
      onUpdate(row) {
        remember(row);
        renderAll();
      },
      onTyping: (payload, updatedAt) => isOpen() && typing.update(payload, updatedAt),
      onMessagesSubscribed: () =>
        api(`/conversations/${id}/messages`, { token })
          .then((messages) => isOpen() && list.merge(messages))
          .catch(report),
      onUpdatesSubscribed: () =>
        api(`/conversations/${id}`, { token })
          .then((row) => {
            remember(row);
            renderAll();
          })
          .catch(report),
    });
    sender.channel = current.channels.typing;
    renderAll();
    $('input').focus();
  }

  function renderThread() {
    const row = open && conversations.get(open.id);
    $('placeholder').hidden = Boolean(row);
    $('open').hidden = !row;
    if (!row) return;
    $('thread-title').textContent = row.subject || 'Visitor';
    const assignee =
      row.assigned_agent_id === me.agent_id
        ? 'assigned to you'
        : row.assigned_agent_id
          ? `assigned to ${row.assigned_agent_name ?? 'another agent'}`
          : 'unassigned';
    const status = row.status.charAt(0).toUpperCase() + row.status.slice(1);
    $('thread-sub').textContent = `${status} · ${assignee}`;
    const closed = row.status === 'closed';
    const mine = row.assigned_agent_id === me.agent_id;
    $('assign').hidden = mine || closed;
    $('assign').textContent = row.assigned_agent_id ? 'Take over' : 'Assign to me';
    $('close').disabled = closed;
    $('input').disabled = closed;
    $('send').disabled = closed;
    $('input').placeholder = closed ? 'This conversation is closed' : 'Reply…';
  }

  function renderAll() {
    renderList();
    renderThread();
  }

  $('assign').addEventListener('click', async () => {
    if (!open) return;
    try {
      remember(await api(`/conversations/${open.id}/assign`, { method: 'POST', token, body: { agent_id: me.agent_id } }));
      renderAll();
    } catch (err) {
      report(err);
    }
  });
  $('close').addEventListener('click', async () => {
    if (!open) return;
    try {
      remember(await api(`/conversations/${open.id}/close`, { method: 'POST', token }));
      renderAll();
    } catch (err) {
      report(err);
    }
  });

  const input = $('input');
  input.addEventListener('input', () => input.value.trim() && sender.keystroke());
  input.addEventListener('keydown', (event) => {
    if (event.key === 'Enter' && !event.shiftKey) {
      event.preventDefault();
      $('composer').requestSubmit();
    }
  });
  $('composer').addEventListener('submit', async (event) => {
    event.preventDefault();
    const body = input.value.trim();
    if (!body || !open) return;
    sender.stop();
    input.value = '';
    try {
      const message = await api(`/conversations/${open.id}/messages`, {
        method: 'POST',
        token,
        body: { sender_type: 'agent', sender_id: me.agent_id, body },
      });
      list.merge([message]);
    } catch (err) {
      input.value = body;
      report(err);
    }
  });

  watchLiveness(client, () => [inbox, team, ...(open?.channels.all ?? [])], $('status'));
  renderAll();
}

function report(err) {
  console.error(err);
  showProblem(err.message);
  setTimeout(() => {
    $('problem').hidden = true;
  }, 5000);
}

main().catch((err) => {
  console.error(err);
  showProblem(`The dashboard could not start: ${err.message}`);
  $('app').hidden = false;
});
