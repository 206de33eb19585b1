// The chat widget: one visitor, one conversation. The conversation and
// the visitor token come from the dev API (kept in localStorage, so a
// reload continues the chat; `?new=1` starts over, `?name=` names the
// visitor). Messages, assignment and typing arrive through walcast.

import {
  api,
  ApiError,
  connectRealtime,
  conversationChannels,
  MessageList,
  TypingState,
  TypingSender,
  watchLiveness,
  stored,
  showProblem,
} from './chat.js';

const STORAGE_KEY = 'walcast-demo-widget';
const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);

/** The stored conversation if its token still opens it, else a new one. */
async function openSession() {
  if (params.has('new')) {
    stored.remove(STORAGE_KEY);
    params.delete('new');
    history.replaceState(null, '', `${location.pathname}${params.size ? `?${params}` : ''}`);
  }
  const saved = stored.get(STORAGE_KEY);
  if (saved?.token) {
    try {
      const conversation = await api(`/conversations/${saved.conversation_id}`, { token: saved.token });
      return { ...saved, conversation };
    } catch (err) {
      // A fresh database or another secret: start over.
      if (!(err instanceof ApiError) || ![400, 401, 403, 404].includes(err.status)) throw err;
    }
  }
  const created = await api('/conversations', {
    method: 'POST',
    body: { visitor_name: params.get('name') || undefined },
  });
  stored.set(STORAGE_KEY, created);
  const conversation = await api(`/conversations/${created.conversation_id}`, { token: created.token });
  return { ...created, conversation };
}

async function main() {
  const session = await openSession();
  const { conversation_id: id, token, visitor_id: visitorId } = session;
  let current = session.conversation;
  let announced = current.assigned_agent_id;

  $('who').textContent = `You are ${session.visitor_name ?? current.subject ?? 'a visitor'}`;
  const list = new MessageList($('messages'), (message) => ({
    side: message.sender_type === 'visitor' ? 'mine' : 'theirs',
    label: labelOf(message),
  }));
  const typing = new TypingState(visitorId, (who) => {
    $('typing').textContent = who.some((w) => w.type === 'agent') ? 'Agent is typing…' : '';
  });

  function labelOf(message) {
    switch (message.sender_type) {
      case 'visitor':
        return 'You';
      case 'bot':
        return 'Assistant';
      case 'agent':
        return message.sender_id === current.assigned_agent_id && current.assigned_agent_name
          ? current.assigned_agent_name
          : 'Agent';
      default:
        return 'Support';
    }
  }

  /** Shows the conversation's state; announces a new agent once. */
  function show(conversation) {
    current = conversation;
    if (conversation.assigned_agent_id && conversation.assigned_agent_id !== announced) {
      announced = conversation.assigned_agent_id;
      list.notice(`You're now connected to ${conversation.assigned_agent_name ?? 'an agent'}`);
    }
    $('agent-line').textContent =
      conversation.status === 'closed'
        ? 'This conversation is closed'
        : conversation.assigned_agent_name
          ? `Chatting with ${conversation.assigned_agent_name}`
          : 'Waiting for an agent…';
    const closed = conversation.status === 'closed';
    $('input').disabled = closed;
    $('send').disabled = closed;
    $('input').placeholder = closed ? 'This conversation is closed' : 'Write a message…';
  }

  async function refetchConversation() {
    show(await api(`/conversations/${id}`, { token }));
  }

  async function refetchMessages() {
    list.merge(await api(`/conversations/${id}/messages`, { token }));
  }

  show(current);
  const client = connectRealtime(token);
  const channels = conversationChannels(client, id, {
    onMessage(message) {
      list.merge([message]);
      if (message.sender_type === 'agent') {
        typing.update({ participant_id: message.sender_id, is_typing: false });
      }
    },
    onUpdate(row, old) {
      const assignmentChanged = row.assigned_agent_id !== old.assigned_agent_id;
      if (assignmentChanged || row.status !== current.status) {
        // The row has the agent's id; the API knows the name.
        refetchConversation().catch(report);
      }
    },
    onTyping: (payload, updatedAt) => typing.update(payload, updatedAt),
    onMessagesSubscribed: () => refetchMessages().catch(report),
    onUpdatesSubscribed: () => refetchConversation().catch(report),
  });
  watchLiveness(client, () => channels.all, $('status'));

  const sender = new TypingSender({ participant_id: visitorId, participant_type: 'visitor' });
  sender.channel = channels.typing;
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
    if (!body) return;
    sender.stop();
    input.value = '';
    try {
      const message = await api(`/conversations/${id}/messages`, {
        method: 'POST',
        token,
        body: { sender_type: 'visitor', sender_id: visitorId, body },
      });
      list.merge([message]);
    } catch (err) {
      input.value = body;
      report(err);
    }
  });
  input.focus();
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
  showProblem(`The chat could not start: ${err.message}`);
});
