// AgentHub dashboard: a plain client of the REST API (/api/v1) and of Socket.IO (SPEC §5, §6).
//
// Security notes:
// - Every string that comes from the hub (names, topics, bodies, notes) is rendered with
//   textContent, never parsed as HTML: bodies are stored verbatim and may contain markup.
// - The API key lives in memory (and in sessionStorage only if the operator asks); it is sent
//   only in the Authorization header of the token exchange, never in a URL.
// - The page runs under `Content-Security-Policy: default-src 'self'`: no inline code or style.
'use strict';

(() => {
  const API = '/api/v1';
  const KEY_STORAGE = 'agenthub.apiKey';
  const PAGE = 100; // list page size (the API's maximum)
  const HISTORY = 50; // messages fetched per history page

  const state = {
    key: null, // API key
    jwt: null, // current access token
    jwtExpiresAt: 0, // ms since epoch
    jwtIssuedAt: 0,
    refreshTimer: null,
    pollTimer: null,
    me: null,
    socket: null,
    socketJwt: null, // the token the live socket was authenticated with (or refreshed to)
    room: null, // the selected room object
    members: new Map(), // agent name -> member
    messages: new Map(), // seq -> <li>, for the selected room
    agentsReload: null,
  };

  const $ = (id) => document.getElementById(id);

  /** A new element, its text set with textContent (safe for any string). */
  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function showError(text) {
    const box = $('error');
    box.textContent = text || '';
    box.hidden = !text;
  }

  function setConn(kind, text) {
    const conn = $('conn');
    conn.className = `conn ${kind}`;
    conn.textContent = text;
  }

  class ApiError extends Error {
    constructor(status, code, message) {
      super(`${code || status}: ${message || 'request failed'}`);
      this.status = status;
      this.code = code;
    }
  }

  /** A REST call with the current JWT; answers the parsed JSON body (null for 204). */
  async function api(path, options = {}) {
    const headers = { Authorization: `Bearer ${state.jwt}` };
    if (options.body !== undefined) headers['Content-Type'] = 'application/json';
    const res = await fetch(API + path, {
      method: options.method || 'GET',
      headers,
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
      cache: 'no-store',
      credentials: 'omit',
    });
    const body = res.status === 204 ? null : await res.json().catch(() => null);
    if (!res.ok) {
      const err = (body && body.error) || {};
      throw new ApiError(res.status, err.code, err.message);
    }
    return body;
  }

  /** Every page of a list endpoint (`{"<plural>":[…],"next_cursor"}`), up to 20 pages. */
  async function listAll(path, plural) {
    const items = [];
    let cursor = null;
    for (let page = 0; page < 20; page += 1) {
      const sep = path.includes('?') ? '&' : '?';
      const query = `${sep}limit=${PAGE}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
      const body = await api(path + query);
      items.push(...body[plural]);
      cursor = body.next_cursor;
      if (!cursor) break;
    }
    return items;
  }

  const roomPath = (name) => `/rooms/${encodeURIComponent(name)}`;

  // ---------------------------------------------------------------------------------------
  // Tokens: exchange the API key for a JWT, and again before it expires.
  // ---------------------------------------------------------------------------------------

  async function exchangeKey() {
    const res = await fetch(`${API}/auth/token`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${state.key}` },
      cache: 'no-store',
      credentials: 'omit',
    });
    const body = await res.json().catch(() => null);
    if (!res.ok) {
      const err = (body && body.error) || {};
      throw new ApiError(res.status, err.code, err.message);
    }
    state.jwt = body.access_token;
    state.jwtIssuedAt = Date.now();
    state.jwtExpiresAt = state.jwtIssuedAt + body.expires_in * 1000;
    clearTimeout(state.refreshTimer);
    // Two minutes before expiry (the hub warns sockets at one minute), or halfway through a
    // shorter lifetime; at least 5 s from now.
    const ttl = body.expires_in;
    const inMs = Math.max(5000, (ttl - Math.min(120, ttl / 2)) * 1000);
    state.refreshTimer = setTimeout(() => refreshToken(), inMs);
    return body;
  }

  /** Gets a fresh JWT (unless ours was just issued) and hands it to the live socket. */
  async function refreshToken() {
    try {
      if (Date.now() - state.jwtIssuedAt > 5000) await exchangeKey();
    } catch (err) {
      if (err.status === 401) {
        logout('The API key was refused (revoked, expired or its agent disabled).');
      } else {
        showError(`Could not refresh the access token: ${err.message}`);
        clearTimeout(state.refreshTimer);
        state.refreshTimer = setTimeout(() => refreshToken(), 15000);
      }
      return;
    }
    const socket = state.socket;
    if (socket && socket.connected && state.socketJwt !== state.jwt) {
      const token = state.jwt;
      socket.timeout(10000).emit('auth:refresh', { token }, (err, ack) => {
        if (!err && ack && ack.ok) state.socketJwt = token;
        else showError(`auth:refresh failed: ${err ? 'no answer' : describe(ack)}`);
      });
    }
  }

  function describe(ack) {
    const e = ack && ack.error;
    return e ? `${e.code}: ${e.message}` : 'unexpected answer';
  }

  // ---------------------------------------------------------------------------------------
  // Sign in and out
  // ---------------------------------------------------------------------------------------

  async function login(key, remember) {
    state.key = key;
    showError('');
    try {
      await exchangeKey();
      state.me = await api('/me');
    } catch (err) {
      state.key = null;
      sessionStorage.removeItem(KEY_STORAGE);
      showError(err.status === 401 ? 'That API key was refused.' : `Sign-in failed: ${err.message}`);
      return;
    }
    if (remember) sessionStorage.setItem(KEY_STORAGE, key);
    $('api-key').value = '';
    $('login').hidden = true;
    $('app').hidden = false;
    $('logout').hidden = false;
    const me = state.me;
    $('whoami').textContent = `${me.display_name} (${me.name}) · ${me.role}`;
    connectSocket();
    await reloadLists();
    state.pollTimer = setInterval(() => reloadLists(), 30000);
  }

  function logout(reason) {
    clearTimeout(state.refreshTimer);
    clearInterval(state.pollTimer);
    if (state.socket) {
      state.socket.removeAllListeners();
      state.socket.disconnect();
    }
    Object.assign(state, {
      key: null, jwt: null, jwtExpiresAt: 0, jwtIssuedAt: 0, me: null,
      socket: null, socketJwt: null, room: null,
    });
    state.members.clear();
    state.messages.clear();
    sessionStorage.removeItem(KEY_STORAGE);
    $('rooms').replaceChildren();
    $('agents').replaceChildren();
    $('whoami').textContent = '';
    $('logout').hidden = true;
    $('app').hidden = true;
    $('login').hidden = false;
    $('room-view').hidden = true;
    $('no-room').hidden = false;
    setConn('off', 'offline');
    showError(reason || '');
  }

  // ---------------------------------------------------------------------------------------
  // Rooms and agents
  // ---------------------------------------------------------------------------------------

  async function reloadLists() {
    try {
      const [rooms, agents] = await Promise.all([
        listAll('/rooms', 'rooms'),
        listAll('/agents', 'agents'),
      ]);
      renderRooms(rooms);
      renderAgents(agents);
    } catch (err) {
      if (err.status === 401) await refreshToken();
      else showError(`Could not load rooms and agents: ${err.message}`);
    }
  }

  function renderRooms(rooms) {
    const list = $('rooms');
    list.replaceChildren();
    if (rooms.length === 0) list.append(el('li', 'muted', 'No rooms yet.'));
    for (const room of rooms) {
      const li = el('li');
      const button = el('button', 'room-link', room.name);
      button.type = 'button';
      if (state.room && state.room.name === room.name) button.classList.add('current');
      if (room.topic) button.title = room.topic;
      button.addEventListener('click', () => selectRoom(room));
      li.append(button);
      if (room.private) li.append(el('span', 'muted', 'private'));
      if (room.archived) li.append(el('span', 'muted', 'archived'));
      list.append(li);
    }
  }

  function renderAgents(agents) {
    const list = $('agents');
    list.replaceChildren();
    for (const agent of agents) {
      const li = el('li');
      li.append(el('span', agent.online ? 'dot online' : 'dot'));
      li.append(el('span', null, agent.display_name));
      li.append(el('span', 'muted', `${agent.name} · ${agent.role}${agent.disabled ? ' · disabled' : ''}`));
      li.title = agent.online ? 'online' : 'offline';
      list.append(li);
    }
  }

  /** Agents' online flags change with presence: reload them, at most once a second. */
  function reloadAgentsSoon() {
    if (state.agentsReload) return;
    state.agentsReload = setTimeout(async () => {
      state.agentsReload = null;
      try {
        renderAgents(await listAll('/agents', 'agents'));
      } catch (_) { /* the 30 s poll tries again */ }
    }, 1000);
  }

  async function selectRoom(room) {
    const previous = state.room;
    if (previous && state.socket && previous.name !== room.name) {
      state.socket.emit('room:leave', { room: previous.name }, () => {});
    }
    state.room = room;
    state.members.clear();
    state.messages.clear();
    $('messages').replaceChildren();
    $('members').replaceChildren();
    $('no-room').hidden = true;
    $('room-view').hidden = false;
    $('room-name').textContent = room.name;
    $('room-topic').textContent = room.topic || '';
    $('room-flags').textContent = [room.private && 'private', room.archived && 'archived (read-only)']
      .filter(Boolean).join(' · ');
    $('send-note').textContent = '';
    for (const button of document.querySelectorAll('#rooms .room-link')) {
      button.classList.toggle('current', button.textContent === room.name);
    }
    updateSendForm();
    try {
      const [history, presence] = await Promise.all([
        api(`${roomPath(room.name)}/messages?limit=${HISTORY}`),
        api(`${roomPath(room.name)}/presence`),
      ]);
      if (state.room !== room) return; // another room was picked meanwhile
      history.messages.forEach(addMessage);
      $('older').hidden = !history.has_more;
      renderMembers(presence.members);
      scrollToEnd();
    } catch (err) {
      showError(`Could not load ${room.name}: ${err.message}`);
    }
    joinCurrentRoom();
  }

  async function loadOlder() {
    const room = state.room;
    const oldest = Math.min(...state.messages.keys());
    if (!room || !Number.isFinite(oldest)) return;
    try {
      const page = await api(`${roomPath(room.name)}/messages?before=${oldest}&limit=${HISTORY}`);
      if (state.room !== room) return;
      const pane = $('messages').parentElement;
      const fromBottom = pane.scrollHeight - pane.scrollTop;
      page.messages.forEach(addMessage);
      pane.scrollTop = pane.scrollHeight - fromBottom;
      $('older').hidden = !page.has_more;
    } catch (err) {
      showError(`Could not load older messages: ${err.message}`);
    }
  }

  function canSend() {
    const room = state.room;
    return Boolean(state.me && state.me.role !== 'observer' && room && !room.archived);
  }

  function updateSendForm() {
    const ok = canSend();
    $('body').disabled = !ok;
    $('send-form').querySelector('button').disabled = !ok;
    if (!state.room) return;
    if (state.me && state.me.role === 'observer') $('send-note').textContent = 'Observers read only.';
    else if (state.room.archived) $('send-note').textContent = 'This room is archived: read-only.';
  }

  // ---------------------------------------------------------------------------------------
  // Messages and presence
  // ---------------------------------------------------------------------------------------

  function scrollToEnd() {
    const pane = $('messages').parentElement;
    pane.scrollTop = pane.scrollHeight;
  }

  /** Adds a message of the selected room in seq order; a seq already shown is kept (SPEC §5). */
  function addMessage(message) {
    if (!state.room || message.room !== state.room.name || state.messages.has(message.seq)) return;
    const li = el('li');
    if (state.me && message.sender.id === state.me.id) li.classList.add('mine');
    const meta = el('div', 'meta');
    meta.append(el('span', 'sender', message.sender.display_name));
    meta.append(el('span', null, message.sender.name));
    const time = el('time', null, new Date(message.created_at).toLocaleString());
    time.dateTime = message.created_at;
    meta.append(time);
    meta.append(el('span', null, `#${message.seq}`));
    li.append(meta, el('div', 'text', message.body));
    if (message.metadata) li.title = `metadata: ${JSON.stringify(message.metadata)}`;

    const list = $('messages');
    const later = [...state.messages.keys()].filter((seq) => seq > message.seq);
    state.messages.set(message.seq, li);
    if (later.length === 0) list.append(li);
    else list.insertBefore(li, state.messages.get(Math.min(...later)));
  }

  function renderMembers(members) {
    state.members.clear();
    for (const member of members) state.members.set(member.agent.name, member);
    drawMembers();
  }

  function drawMembers() {
    const list = $('members');
    list.replaceChildren();
    const members = [...state.members.values()].sort((a, b) => a.agent.name.localeCompare(b.agent.name));
    if (members.length === 0) list.append(el('li', 'muted', 'Nobody.'));
    for (const member of members) {
      const li = el('li');
      li.append(el('span', `dot ${member.status}`));
      li.append(el('span', null, member.agent.display_name));
      if (member.status !== 'online') li.append(el('span', 'muted', member.status));
      if (member.note) li.append(el('span', 'muted', member.note));
      li.title = `${member.agent.name}, ${member.connections} connection(s) since ${member.since}`;
      list.append(li);
    }
  }

  function randomId() {
    const bytes = new Uint8Array(16);
    crypto.getRandomValues(bytes); // works on plain http too, unlike crypto.randomUUID
    return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
  }

  function sendMessage() {
    const input = $('body');
    const body = input.value;
    const room = state.room;
    if (!body.trim() || !room || !state.socket || !canSend()) return;
    // A client_id makes a retry after a lost ack safe: the hub answers the stored message.
    const payload = { room: room.name, body, client_id: randomId() };
    input.disabled = true;
    state.socket.timeout(10000).emit('message:send', payload, (err, ack) => {
      input.disabled = !canSend();
      if (err) {
        $('send-note').textContent = 'No answer from the hub; try again.';
      } else if (!ack.ok) {
        $('send-note').textContent = `Not sent: ${describe(ack)}`;
      } else {
        $('send-note').textContent = '';
        if (input.value === body) input.value = '';
        addMessage(ack.message); // the sending socket gets no message:new of its own
        scrollToEnd();
      }
      input.focus();
    });
  }

  // ---------------------------------------------------------------------------------------
  // Socket.IO
  // ---------------------------------------------------------------------------------------

  function joinCurrentRoom() {
    const room = state.room;
    const socket = state.socket;
    if (!room || !socket || !socket.connected) return;
    const payload = { room: room.name };
    const seqs = [...state.messages.keys()];
    if (seqs.length > 0) payload.since = Math.max(...seqs); // catch up on what we missed
    socket.timeout(10000).emit('room:join', payload, (err, ack) => {
      if (state.room !== room) return;
      if (err) {
        showError(`Joining ${room.name} timed out.`);
        return;
      }
      if (!ack.ok) {
        // Archived rooms and observers in missing rooms answer forbidden: history stays.
        $('send-note').textContent = `Live updates unavailable: ${describe(ack)}`;
        return;
      }
      state.room = Object.assign(room, ack.room);
      renderMembers(ack.members);
      const atEnd = isAtEnd();
      ack.missed.forEach(addMessage);
      if (atEnd) scrollToEnd();
      updateSendForm();
    });
  }

  function isAtEnd() {
    const pane = $('messages').parentElement;
    return pane.scrollHeight - pane.scrollTop - pane.clientHeight < 40;
  }

  function connectSocket() {
    if (typeof io !== 'function') {
      showError('The Socket.IO client did not load; live updates are off.');
      return;
    }
    setConn('wait', 'connecting…');
    // auth as a callback: every (re)connection presents the current JWT, never in the URL.
    const socket = io({
      auth: (cb) => {
        state.socketJwt = state.jwt;
        cb({ token: state.jwt });
      },
    });
    state.socket = socket;

    socket.on('connect', () => {
      setConn('on', 'live');
      joinCurrentRoom();
    });
    socket.on('disconnect', (reason) => {
      setConn('off', 'disconnected');
      // The hub closed us (token expiry, kick, shutdown): the client does not retry by itself.
      if (reason === 'io server disconnect') {
        setTimeout(async () => {
          if (state.socket !== socket) return;
          await refreshToken();
          if (state.socket === socket) socket.connect();
        }, 2000);
      }
    });
    socket.on('connect_error', async (err) => {
      setConn('off', `cannot connect: ${err.message}`);
      if (err.message === 'unauthorized') {
        // Stale token: get a new one; a refused key ends the session in refreshToken.
        await refreshToken();
        setTimeout(() => { if (state.socket === socket && !socket.connected) socket.connect(); }, 3000);
      }
    });
    socket.on('auth:expiring', () => refreshToken());
    socket.on('hub:error', (e) => showError(`${e.event}: ${e.code}: ${e.message}`));
    socket.on('message:new', (message) => {
      const atEnd = isAtEnd();
      addMessage(message);
      if (atEnd) scrollToEnd();
    });
    socket.on('presence:join', ({ room, member }) => {
      if (state.room && room === state.room.name) {
        state.members.set(member.agent.name, member);
        drawMembers();
      }
      reloadAgentsSoon();
    });
    socket.on('presence:update', ({ room, member }) => {
      if (state.room && room === state.room.name) {
        state.members.set(member.agent.name, member);
        drawMembers();
      }
    });
    socket.on('presence:leave', ({ room, agent }) => {
      if (state.room && room === state.room.name) {
        state.members.delete(agent.name);
        drawMembers();
      }
      reloadAgentsSoon();
    });
  }

  // ---------------------------------------------------------------------------------------
  // Wiring
  // ---------------------------------------------------------------------------------------

  document.addEventListener('DOMContentLoaded', () => {
    $('login-form').addEventListener('submit', (event) => {
      event.preventDefault();
      const key = $('api-key').value.trim();
      if (key) login(key, $('remember').checked);
    });
    $('logout').addEventListener('click', () => logout());
    $('refresh').addEventListener('click', () => reloadLists());
    $('older').addEventListener('click', () => loadOlder());
    $('send-form').addEventListener('submit', (event) => {
      event.preventDefault();
      sendMessage();
    });
    $('body').addEventListener('keydown', (event) => {
      if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        sendMessage();
      }
    });
    // A marker for automated checks: the scripts ran (CSP allowed them) and Socket.IO loaded.
    document.body.dataset.ready = typeof io === 'function' ? 'yes' : 'no-socket-io';

    const saved = sessionStorage.getItem(KEY_STORAGE);
    if (saved) login(saved, true);
  });
})();
