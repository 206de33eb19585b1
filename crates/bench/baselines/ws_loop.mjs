// B3 baseline (b): Node `ws`, the mainstream Node WebSocket server, with a
// loop over a topic's sockets. Same protocol subset as bun_publish.js: an
// ok `phx_reply` to `phx_join` (adding the socket to the topic's set),
// `heartbeat` and `phx_leave`; a publisher socket on /publish sends
// `<topic>\n<payload>` per message and the server sends one frame
// `[null,null,<topic>,"postgres_changes",<payload>]`, built once into a
// Buffer, to every socket of the topic. No PostgreSQL on this path.
//
//   PORT=4101 node ws_loop.mjs
import { WebSocketServer } from 'ws';

const port = Number(process.env.PORT ?? 4101);
const topics = new Map(); // topic -> Set<WebSocket>

function reply(ws, joinRef, ref, topic, response) {
  ws.send(JSON.stringify([joinRef, ref, topic, 'phx_reply', { status: 'ok', response }]));
}

const wss = new WebSocketServer({ host: '127.0.0.1', port, perMessageDeflate: false, clientTracking: false });
wss.on('connection', (ws, req) => {
  const publisher = req.url.startsWith('/publish');
  const joined = new Set();
  ws.on('message', (data) => {
    const text = data.toString();
    if (publisher) {
      const newline = text.indexOf('\n');
      const topic = text.slice(0, newline);
      const frame = Buffer.from(`[null,null,${JSON.stringify(topic)},"postgres_changes",${text.slice(newline + 1)}]`);
      const members = topics.get(topic);
      if (members) for (const member of members) member.send(frame, { binary: false });
      return;
    }
    const [joinRef, ref, topic, event, payload] = JSON.parse(text);
    if (event === 'phx_join') {
      if (!topics.has(topic)) topics.set(topic, new Set());
      topics.get(topic).add(ws);
      joined.add(topic);
      const bindings = (payload?.config?.postgres_changes ?? []).map((b, i) => ({ id: i + 1, ...b }));
      reply(ws, joinRef, ref, topic, { postgres_changes: bindings });
    } else if (event === 'phx_leave') {
      topics.get(topic)?.delete(ws);
      joined.delete(topic);
      reply(ws, joinRef, ref, topic, {});
    } else if (event === 'heartbeat') {
      reply(ws, joinRef, ref, topic, {});
    }
  });
  ws.on('close', () => {
    for (const topic of joined) topics.get(topic)?.delete(ws);
  });
});
wss.on('listening', () => console.log(`node ${process.version} ws listening on 127.0.0.1:${port}`));
