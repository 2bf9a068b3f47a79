// AgentHub dashboard: a plain client of the REST API (/api/v1) and of Socket.IO (SPEC §5, §6),
// with the agent features of SPEC §11 it can show: streamed drafts, activity, threads, unread
// counts. Three views (#/rooms, #/agents, #/audit): rooms and their messages (archive, private
// room members, DMs, history paged upward on scroll, gaps in seq filled; admins: live numbers);
// agents and their API tokens (admins: every agent; others: their own); the audit trail (admins).
//
// Security notes:
// - Every string that comes from the hub (names, topics, bodies, notes) is rendered with
//   textContent, never parsed as HTML: bodies are stored verbatim and may contain markup.
// - The API key lives in memory (and in sessionStorage only if the operator asks); it is sent
//   only in the Authorization header of the token exchange and, for a non-admin minting its own
//   token (SPEC §6 refuses a JWT there), of that request; never in a URL.
// - A new token's key is shown once, as text, and kept nowhere but that element.
// - The page runs under `Content-Security-Policy: default-src 'self'`: no inline code or style.
'use strict';

(() => {
  const API = '/api/v1';
  const KEY_STORAGE = 'agenthub.apiKey';
  const PAGE = 100; // list page size (the API's maximum)
  const HISTORY = 50; // messages fetched per history page
  const GAP_PAGE = 100; // messages fetched per page when filling a gap in seq
  const LIVE_EVERY = 5000; // ms between polls of GET /stats (admins)

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
    messages: new Map(), // seq -> entry {li, message, replies, count, more, marker, total}
    // The seqs of the selected room known to be all on screen, low..high (null until its first
    // history page): older pages load before `low`, a gap after `high` is filled from history.
    range: null,
    hasOlder: false, // the hub has messages before range.low
    loadingOlder: null, // the room whose older page is being loaded
    filling: null, // the room whose gap is being filled
    gapTimer: null,
    removedFrom: null, // the room this page's agent was just removed from (room:removed)
    liveTimer: null,
    reloading: 0, // room and agent list reloads under way
    liveTicket: null,
    drafts: new Map(), // stream id -> draft {li, text, marker, index, body, pending, replyTo}
    earlyDeltas: new Map(), // stream id -> [delta] that came before the stream's draft
    activity: new Map(), // agent id -> {line, timer}
    agentsReload: null,
    view: 'rooms', // the view shown: rooms | agents | audit
    rooms: [], // the room list as last loaded
    agents: [], // the agent list as last loaded
    agentsById: new Map(), // agent id -> agent (audit rows name their agent)
    unread: new Map(), // room name -> unread count (GET /me/unread)
    readSeq: new Map(), // room name -> the highest seq this page marked read
    readTimer: null,
    detail: null, // the agent whose detail is open
    tokens: [], // its tokens
    card: null, // its card (SPEC §12), null when it has published none
    cardError: null, // why its card could not be loaded
    agentFilter: null, // the Agents list's filter query (`skill=…&method=…&online=true`), null: none
    filteredAgents: null, // the agents that filter matched, as last loaded
    audit: null, // the audit view's filter and paging: freshAudit()
  };

  function freshAudit() {
    return { cursors: [null], page: 0, next: null, events: [], filter: { type: '', agent: '' }, loading: false };
  }
  state.audit = freshAudit();

  const $ = (id) => document.getElementById(id);

  /** Runs `handler` when the form `id` is submitted, instead of the browser's submit. */
  function onSubmit(id, handler) {
    $(id).addEventListener('submit', (event) => {
      event.preventDefault();
      handler();
    });
  }

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

  /**
   * A REST call with the current JWT (or `options.credential`, the API key where a JWT is
   * refused); answers the parsed JSON body (null for 204).
   */
  async function api(path, options = {}) {
    const headers = { Authorization: `Bearer ${options.credential || state.jwt}` };
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
  const agentPath = (name) => `/agents/${encodeURIComponent(name)}`;
  const isAdmin = () => Boolean(state.me && state.me.role === 'admin');

  /** The claims of a JWT (not verified: only to tell which token this page signed in with). */
  function jwtClaims(jwt) {
    try {
      const part = jwt.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
      return JSON.parse(atob(part));
    } catch (_) {
      return {};
    }
  }

  /** A `<time>` showing an RFC 3339 timestamp in local time, or `none` when there is none. */
  function timeEl(iso, none) {
    if (!iso) return el('span', 'muted', none || '—');
    const time = el('time', null, new Date(iso).toLocaleString());
    time.dateTime = iso;
    time.title = iso;
    return time;
  }

  /** A status line under a form: `text`, shown as an error when `bad`. */
  function setStatus(id, text, bad) {
    const node = $(id);
    node.textContent = text || '';
    node.classList.toggle('bad', Boolean(bad));
  }

  /**
   * Lists are redrawn as data comes in (polls, presence): a control that had the keyboard
   * focus gets it back in the new list, found by its `data-focus-key`.
   */
  function focusKeyIn(container) {
    const active = document.activeElement;
    return active && container.contains(active) ? active.dataset.focusKey : undefined;
  }

  function refocus(container, key) {
    if (key === undefined) return;
    const again = [...container.querySelectorAll('[data-focus-key]')].find((n) => n.dataset.focusKey === key);
    if (again) again.focus();
  }

  /** A button with a text label (a listener on click). */
  function button(text, className, onClick) {
    const b = el('button', className, text);
    b.type = 'button';
    if (onClick) b.addEventListener('click', onClick);
    return b;
  }

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
    $('nav').hidden = false;
    $('nav-audit').hidden = !isAdmin();
    $('agents-admin').hidden = !isAdmin();
    $('new-room').hidden = me.role === 'observer'; // observers create no rooms (SPEC §4)
    $('new-dm').hidden = !canDm(); // nor send DMs
    $('live').hidden = !isAdmin();
    connectSocket();
    showView(viewFromHash(), false);
    if (isAdmin()) startLive();
    await reloadLists();
    state.pollTimer = setInterval(() => reloadLists(), 30000);
  }

  function logout(reason) {
    clearTimeout(state.refreshTimer);
    clearInterval(state.pollTimer);
    stopLive();
    if (state.socket) {
      state.socket.removeAllListeners();
      state.socket.disconnect();
    }
    clearTimeout(state.readTimer);
    Object.assign(state, {
      key: null, jwt: null, jwtExpiresAt: 0, jwtIssuedAt: 0, me: null,
      socket: null, socketJwt: null, room: null, rooms: [], agents: [], detail: null, tokens: [],
      readTimer: null, view: 'rooms', audit: freshAudit(),
    });
    for (const id of ['room-form', 'dm-form', 'member-form', 'agent-form', 'token-form', 'audit-form']) {
      $(id).reset();
    }
    $('audit-page').textContent = 'Page 1';
    $('audit-older').disabled = true;
    $('audit-newer').disabled = true;
    state.members.clear();
    state.agentsById.clear();
    state.unread.clear();
    state.readSeq.clear();
    clearRoomState();
    sessionStorage.removeItem(KEY_STORAGE);
    const dialog = $('confirm');
    if (dialog.open) dialog.close('cancel');
    hideNewKey();
    $('rooms').replaceChildren();
    $('agents').replaceChildren();
    $('agent-rows').replaceChildren();
    $('token-rows').replaceChildren();
    $('audit-rows').replaceChildren();
    $('agent-detail').hidden = true;
    for (const id of ['room-form-status', 'dm-form-status', 'room-status', 'member-status',
      'agent-form-status', 'agent-status', 'token-status', 'audit-status']) {
      setStatus(id, '');
    }
    $('live').hidden = true;
    $('room-archive').hidden = true;
    $('manage-members').hidden = true;
    $('nav').hidden = true;
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
    // The room list says it is being reloaded (assistive technology, and tests, can wait).
    state.reloading += 1;
    $('rooms').setAttribute('aria-busy', 'true');
    try {
      const [rooms, agents, unread] = await Promise.all([
        listAll('/rooms?archived=true', 'rooms'), // archived rooms too: they show as archived
        listAll('/agents', 'agents'),
        api('/me/unread').catch(() => null), // unread counts are a nicety: never fatal
      ]);
      if (unread) setUnread(unread.rooms);
      state.rooms = rooms;
      // The selected room follows what the hub says of it now (archived elsewhere, a new topic).
      const current = state.room && rooms.find((r) => r.name === state.room.name);
      if (current) {
        const wasArchived = state.room.archived;
        Object.assign(state.room, current);
        renderRoomHead();
        if (wasArchived && !current.archived) joinCurrentRoom();
      }
      renderRooms();
      setAgents(agents);
    } catch (err) {
      if (err.status === 401) await refreshToken();
      else showError(`Could not load rooms and agents: ${err.message}`);
    } finally {
      state.reloading -= 1;
      if (state.reloading === 0) $('rooms').removeAttribute('aria-busy');
    }
  }

  function setUnread(rows) {
    state.unread.clear();
    for (const row of rows) {
      // What this page has just marked read counts as read until the hub has caught up.
      const read = state.readSeq.get(row.room) || 0;
      state.unread.set(row.room, Math.max(0, Math.min(row.unread, row.last_seq - read)));
    }
  }

  function renderRooms() {
    const list = $('rooms');
    const focused = focusKeyIn(list);
    list.replaceChildren();
    if (state.rooms.length === 0) list.append(el('li', 'muted', 'No rooms yet.'));
    for (const room of state.rooms) {
      const li = el('li');
      const link = button(room.name, 'room-link', () => selectRoom(room));
      link.dataset.focusKey = room.name;
      if (state.room && state.room.name === room.name) {
        link.classList.add('current');
        link.setAttribute('aria-current', 'true');
      }
      if (room.topic) link.title = room.topic;
      li.append(link);
      if (isDm(room)) li.append(el('span', 'muted', 'DM'));
      else if (room.private) li.append(el('span', 'muted', 'private'));
      if (room.archived) li.append(el('span', 'muted', 'archived'));
      const unread = state.unread.get(room.name) || 0;
      if (unread > 0) {
        const badge = el('span', 'badge', `${unread} unread`);
        badge.id = `unread-${room.name}`;
        link.setAttribute('aria-describedby', badge.id);
        li.append(badge);
      }
      list.append(li);
    }
    refocus(list, focused);
  }

  function setAgents(agents) {
    state.agents = agents;
    state.agentsById = new Map(agents.map((a) => [a.id, a]));
    renderAgents();
    renderAgentTable();
    if (state.agentFilter) reloadFilteredAgents();
    if (state.view === 'audit') renderAudit(state.audit.events); // agents' names for their ids
    for (const id of ['audit-agent-names', 'dm-agent-names']) {
      $(id).replaceChildren(...agents.map((a) => {
        const option = el('option');
        option.value = a.name;
        return option;
      }));
    }
  }

  function renderAgents() {
    const list = $('agents');
    const focused = focusKeyIn(list);
    list.replaceChildren();
    for (const agent of state.agents) {
      const li = el('li');
      li.append(el('span', agent.online ? 'dot online' : 'dot'));
      li.append(el('span', null, agent.display_name));
      li.append(el('span', 'muted', `${agent.name} · ${agent.role}${agent.disabled ? ' · disabled' : ''}`));
      li.title = agent.online ? 'online' : 'offline';
      // "Message": the New DM form, addressed to this agent.
      if (canDm() && !agent.disabled && agent.name !== state.me.name) {
        const dm = button('Message', 'small', () => startDm(agent.name));
        dm.setAttribute('aria-label', `Message ${agent.name}`);
        dm.dataset.focusKey = `dm:${agent.name}`;
        li.append(dm);
      }
      list.append(li);
    }
    refocus(list, focused);
  }

  /** Agents' online flags change with presence: reload them, at most once a second. */
  function reloadAgentsSoon() {
    if (state.agentsReload) return;
    state.agentsReload = setTimeout(async () => {
      state.agentsReload = null;
      try {
        setAgents(await listAll('/agents', 'agents'));
      } catch (_) { /* the 30 s poll tries again */ }
    }, 1000);
  }

  /** `POST /rooms` from the form; the new room is opened. */
  async function createRoom() {
    const name = $('room-new-name').value.trim();
    const topic = $('room-new-topic').value.trim();
    const body = { name, private: $('room-new-private').checked };
    if (topic) body.topic = topic;
    if (!name) return;
    setStatus('room-form-status', 'Creating…');
    let room;
    try {
      room = await api('/rooms', { method: 'POST', body });
    } catch (err) {
      setStatus('room-form-status', `Not created: ${err.message}`, true);
      return;
    }
    // The hub makes a room's creator its first member, so a private room is readable at once.
    const note = `Created ${room.private ? 'private ' : ''}room ${room.name}.`;
    setStatus('room-form-status', note);
    $('room-form').reset();
    await reloadLists();
    const listed = state.rooms.find((r) => r.name === room.name);
    if (listed) selectRoom(listed);
  }

  /**
   * Marks what the selected room shows as read (`PUT /rooms/{name}/cursor`), at most once a
   * second, and only while the Rooms view is shown: that is what unread counts count.
   */
  function markReadSoon() {
    if (state.readTimer || !state.room || state.view !== 'rooms') return;
    state.readTimer = setTimeout(async () => {
      state.readTimer = null;
      const room = state.room;
      if (!room || state.view !== 'rooms' || state.messages.size === 0) return;
      const seq = Math.max(...state.messages.keys());
      if (seq <= (state.readSeq.get(room.name) || 0)) return;
      try {
        await api(`${roomPath(room.name)}/cursor`, { method: 'PUT', body: { seq } });
        state.readSeq.set(room.name, seq);
        if (state.unread.has(room.name)) {
          state.unread.set(room.name, Math.max(0, (room.last_seq || seq) - seq));
          renderRooms();
        }
      } catch (_) { /* not fatal: the count stays */ }
    }, 1000);
  }

  async function selectRoom(room) {
    const previous = state.room;
    if (previous && state.socket && previous.name !== room.name) {
      state.socket.emit('room:leave', { room: previous.name }, () => {});
    }
    state.room = room;
    state.members.clear();
    clearRoomState();
    $('messages').replaceChildren();
    $('members').replaceChildren();
    $('older').hidden = true;
    $('no-room').hidden = true;
    $('room-view').hidden = false;
    $('send-note').textContent = '';
    if (!previous || previous.name !== room.name) {
      setStatus('room-status', '');
      setStatus('member-status', '');
      $('member-form').reset();
      $('room-topic-edit').value = room.topic || '';
    }
    for (const link of document.querySelectorAll('#rooms .room-link')) {
      const current = link.textContent === room.name;
      link.classList.toggle('current', current);
      if (current) link.setAttribute('aria-current', 'true');
      else link.removeAttribute('aria-current');
    }
    renderRoomHead();
    try {
      const [history, presence] = await Promise.all([
        api(`${roomPath(room.name)}/messages?limit=${HISTORY}`),
        api(`${roomPath(room.name)}/presence`),
      ]);
      if (state.room !== room) return; // another room was picked meanwhile
      history.messages.forEach((m) => addMessage(m, false));
      const seqs = history.messages.map((m) => m.seq);
      state.range = seqs.length > 0 ? { low: seqs[0], high: seqs[seqs.length - 1] } : { low: 1, high: 0 };
      advanceRange();
      setHasOlder(history.has_more);
      renderMembers(presence.members);
      scrollToEnd();
      markReadSoon();
      checkGap(); // a live message of before the page came in meanwhile
    } catch (err) {
      showError(`Could not load ${room.name}: ${err.message}`);
    }
    joinCurrentRoom();
  }

  const isDm = (room) => room.name.startsWith('dm:');
  /** Admins and the room's creator archive it and manage its members (SPEC §6). */
  const mayManage = (room) => Boolean(state.me && (isAdmin() || room.created_by === state.me.name));
  const canDm = () => Boolean(state.me && state.me.role !== 'observer');

  /** The selected room's name, topic, flags and the controls its owner gets. */
  function renderRoomHead() {
    const room = state.room;
    if (!room) return;
    $('room-name').textContent = room.name;
    $('room-topic').textContent = room.topic || '';
    $('room-flags').textContent = [room.private && 'private', room.archived && 'archived (read-only)']
      .filter(Boolean).join(' · ');
    const owner = mayManage(room) && !isDm(room);
    const archive = $('room-archive');
    archive.hidden = !owner;
    archive.textContent = room.archived ? 'Unarchive room' : 'Archive room';
    archive.classList.toggle('danger', !room.archived);
    archive.classList.toggle('secondary', Boolean(room.archived));
    $('manage-members').hidden = !(owner && room.private);
    $('topic-form').hidden = !owner;
    updateSendForm();
  }

  /** `PATCH /rooms/{name}` `{"topic"}` from the room head's form (an empty topic clears it). */
  async function saveTopic() {
    const room = state.room;
    if (!room || !mayManage(room)) return;
    const topic = $('room-topic-edit').value.trim();
    setStatus('room-status', 'Saving the topic…');
    let changed;
    try {
      changed = await api(roomPath(room.name), { method: 'PATCH', body: { topic: topic || null } });
    } catch (err) {
      if (state.room === room) setStatus('room-status', `Topic not saved: ${err.message}`, true);
      return;
    }
    Object.assign(room, changed);
    const listed = state.rooms.find((r) => r.name === room.name);
    if (listed && listed !== room) Object.assign(listed, changed);
    renderRooms();
    if (state.room !== room) return;
    $('room-topic-edit').value = room.topic || '';
    setStatus('room-status', room.topic ? `Saved the topic of ${room.name}.` : `Cleared the topic of ${room.name}.`);
    renderRoomHead();
  }

  /** `PATCH /rooms/{name}` `{"archived"}`: an archived room is read-only (SPEC §3). */
  async function toggleArchive() {
    const room = state.room;
    if (!room || !mayManage(room)) return;
    const archived = !room.archived;
    setStatus('room-status', archived ? 'Archiving…' : 'Unarchiving…');
    let changed;
    try {
      changed = await api(roomPath(room.name), { method: 'PATCH', body: { archived } });
    } catch (err) {
      setStatus('room-status', `Not changed: ${err.message}`, true);
      return;
    }
    Object.assign(room, changed);
    const listed = state.rooms.find((r) => r.name === room.name);
    if (listed && listed !== room) Object.assign(listed, changed);
    renderRooms();
    if (state.room !== room) return;
    setStatus('room-status', `${room.name} is ${room.archived ? 'archived: read-only' : 'no longer archived'}.`);
    renderRoomHead();
    // Sockets already in a room stay in it when it is archived; one that could not join can now.
    if (!room.archived) joinCurrentRoom();
  }

  /** The agent name typed in the members form. */
  function memberName() {
    return $('member-name').value.trim();
  }

  /** `PUT /rooms/{name}/members/{agent}`: the agent may read and join the private room. */
  async function addMember() {
    const room = state.room;
    const agent = memberName();
    if (!room || !agent) return;
    setStatus('member-status', `Adding ${agent}…`);
    try {
      await api(`${roomPath(room.name)}/members/${encodeURIComponent(agent)}`, { method: 'PUT' });
    } catch (err) {
      if (state.room === room) setStatus('member-status', `Not added: ${err.message}`, true);
      return;
    }
    if (state.room !== room) return;
    setStatus('member-status', `Added ${agent} to ${room.name}.`);
    $('member-form').reset();
  }

  /**
   * `DELETE /rooms/{name}/members/{agent}` after a confirmation: the hub takes the agent's
   * sockets out of the room at once (SPEC §5).
   */
  async function removeMember() {
    const room = state.room;
    const agent = memberName();
    if (!room) return;
    if (!agent) {
      setStatus('member-status', 'Type the name of the agent to remove.', true);
      $('member-name').focus();
      return;
    }
    const ok = await confirmAction({
      title: `Remove ${agent} from ${room.name}?`,
      text: `${agent} can no longer read or join the private room ${room.name}; its sockets in it are taken out now.`,
      ok: 'Remove member',
      returnFocus: $('member-name'),
    });
    if (!ok || state.room !== room) return;
    setStatus('member-status', `Removing ${agent}…`);
    try {
      await api(`${roomPath(room.name)}/members/${encodeURIComponent(agent)}`, { method: 'DELETE' });
    } catch (err) {
      if (state.room === room) setStatus('member-status', `Not removed: ${err.message}`, true);
      return;
    }
    if (state.room !== room) return;
    setStatus('member-status', `Removed ${agent} from ${room.name}.`);
    $('member-form').reset();
  }

  /** The New DM form, addressed to `name`, with the focus on its message. */
  function startDm(name) {
    $('dm-to').value = name;
    setStatus('dm-form-status', '');
    $('dm-body').focus();
  }

  const dmRoomName = (a, b) => `dm:${[a, b].sort().join(':')}`;

  /**
   * The first DM (`dm:send` on the page's socket; `POST /rooms/dm:a:b/messages` while it is
   * not connected), then the `dm:<a>:<b>` room it went to, opened in the room list.
   */
  async function sendDm() {
    const to = $('dm-to').value.trim();
    const input = $('dm-body');
    const body = input.value;
    if (!to || !body.trim() || !canDm()) return;
    const payload = { to, body, client_id: randomId() };
    setStatus('dm-form-status', 'Sending…');
    let message;
    try {
      const socket = state.socket;
      if (socket && socket.connected) {
        message = await new Promise((resolve, reject) => {
          socket.timeout(10000).emit('dm:send', payload, (err, ack) => {
            if (err) reject(new Error('no answer from the hub; try again'));
            else if (!ack.ok) reject(new Error(describe(ack)));
            else resolve(ack.message);
          });
        });
      } else {
        message = await api(`${roomPath(dmRoomName(state.me.name, to))}/messages`, {
          method: 'POST',
          body: { body, client_id: payload.client_id },
        });
      }
    } catch (err) {
      setStatus('dm-form-status', `Not sent: ${err.message}`, true);
      return;
    }
    setStatus('dm-form-status', `Sent to ${to}.`);
    $('dm-form').reset();
    await reloadLists();
    let room = state.rooms.find((r) => r.name === message.room);
    if (!room) {
      try {
        room = await api(roomPath(message.room));
      } catch (err) {
        showError(`Could not open ${message.room}: ${err.message}`);
        return;
      }
    }
    await selectRoom(room);
    $('body').focus();
  }

  /** One page of the room's history: on the page's socket (`message:history`), else REST. */
  function historyPage(room, params) {
    const query = { limit: HISTORY, ...params };
    const socket = state.socket;
    if (socket && socket.connected) {
      return new Promise((resolve, reject) => {
        socket.timeout(10000).emit('message:history', { room: room.name, ...query }, (err, ack) => {
          if (err) reject(new Error('no answer from the hub'));
          else if (!ack.ok) reject(new Error(describe(ack)));
          else resolve(ack);
        });
      });
    }
    const search = new URLSearchParams(Object.entries(query).map(([k, v]) => [k, String(v)]));
    return api(`${roomPath(room.name)}/messages?${search}`);
  }

  function setHasOlder(more) {
    state.hasOlder = Boolean(more);
    $('older').hidden = !state.hasOlder;
  }

  /** The page before the oldest message shown, the scroll position kept where it was. */
  async function loadOlder() {
    const room = state.room;
    const range = state.range;
    if (!room || !range || !state.hasOlder || state.loadingOlder === room) return;
    state.loadingOlder = room;
    try {
      const page = await historyPage(room, { before: range.low });
      if (state.room !== room) return;
      const pane = $('messages').parentElement;
      const fromBottom = pane.scrollHeight - pane.scrollTop;
      page.messages.forEach((m) => addMessage(m, false));
      if (page.messages.length > 0) range.low = Math.min(range.low, page.messages[0].seq);
      setHasOlder(page.has_more && page.messages.length > 0);
      pane.scrollTop = pane.scrollHeight - fromBottom;
    } catch (err) {
      if (state.room === room) showError(`Could not load older messages: ${err.message}`);
    } finally {
      if (state.loadingOlder === room) state.loadingOlder = null;
    }
    // Still at the top (a short page, a tall window): the page before that one, too.
    if (state.room === room && state.hasOlder && isAtTop()) loadOlder();
  }

  function isAtTop() {
    const pane = $('messages').parentElement;
    return pane.scrollTop <= 16;
  }

  /** Scrolled to the top of the messages: the previous page comes in above. */
  function onMessagesScroll() {
    if (state.room && state.range && state.hasOlder && isAtTop()) loadOlder();
  }

  /** `range.high` moves on over the seqs that are now on screen. */
  function advanceRange() {
    const range = state.range;
    if (!range) return;
    while (state.messages.has(range.high + 1)) range.high += 1;
  }

  /** A message beyond `range.high` + 1 came in (a lost message:new, a reconnect): fill it. */
  function checkGap() {
    const range = state.range;
    if (!range || state.messages.size === 0) return;
    advanceRange();
    if (Math.max(...state.messages.keys()) > range.high) fillGapSoon();
  }

  /** A moment's wait first: messages from two nodes may come a little out of order. */
  function fillGapSoon() {
    if (state.gapTimer) return;
    state.gapTimer = setTimeout(() => {
      state.gapTimer = null;
      fillGap();
    }, 250);
  }

  /** `message:history` `after` the last seq known to be shown, a page at a time. */
  async function fillGap() {
    const room = state.room;
    const range = state.range;
    if (!room || !range || state.filling === room) return;
    state.filling = room;
    try {
      for (let page = 0; page < 20; page += 1) {
        advanceRange();
        if (state.room !== room || Math.max(...state.messages.keys()) <= range.high) break;
        const body = await historyPage(room, { after: range.high, limit: GAP_PAGE });
        if (state.room !== room || body.messages.length === 0) break;
        const atEnd = isAtEnd();
        body.messages.forEach((m) => addMessage(m, true));
        range.high = Math.max(range.high, body.messages[body.messages.length - 1].seq);
        if (atEnd) scrollToEnd();
        markReadSoon();
      }
    } catch (err) {
      if (state.room === room) showError(`Could not fill the gap in ${room.name}: ${err.message}`);
    } finally {
      if (state.filling === room) state.filling = null;
    }
  }

  function canSend() {
    const room = state.room;
    return Boolean(state.me && state.me.role !== 'observer' && room && !room.archived
      && state.removedFrom !== room.name);
  }

  const ARCHIVED_NOTE = 'This room is archived: read-only.';

  function updateSendForm() {
    const ok = canSend();
    $('body').disabled = !ok;
    $('send-form').querySelector('button').disabled = !ok;
    if (!state.room) return;
    const note = $('send-note');
    if (state.me && state.me.role === 'observer') note.textContent = 'Observers read only.';
    else if (state.room.archived) note.textContent = ARCHIVED_NOTE;
    else if (note.textContent === ARCHIVED_NOTE) note.textContent = '';
  }

  // ---------------------------------------------------------------------------------------
  // Messages and presence
  // ---------------------------------------------------------------------------------------

  function scrollToEnd() {
    const pane = $('messages').parentElement;
    pane.scrollTop = pane.scrollHeight;
  }

  /** Forgets the selected room's messages, drafts and activity. */
  function clearRoomState() {
    state.messages.clear();
    state.range = null;
    state.hasOlder = false;
    state.removedFrom = null;
    clearTimeout(state.gapTimer);
    state.gapTimer = null;
    state.drafts.clear();
    state.earlyDeltas.clear();
    for (const { timer } of state.activity.values()) clearTimeout(timer);
    state.activity.clear();
    $('activity').replaceChildren();
  }

  /** The first line of a message or draft: who sent it, then `parts`. */
  function metaLine(sender, ...parts) {
    const meta = el('div', 'meta');
    meta.append(el('span', 'sender', sender.display_name), el('span', null, sender.name), ...parts);
    return meta;
  }

  /** "↪ reply to #seq", shown while the root is not on screen (hidden once nested under it). */
  function replyMarker(replyTo) {
    return replyTo === null || replyTo === undefined ? null : el('span', 'reply-to', `↪ reply to #${replyTo}`);
  }

  /** The list a message or draft replying to `replyTo` goes in: its root's replies, if shown. */
  function listFor(replyTo) {
    const root = replyTo === null || replyTo === undefined ? null : state.messages.get(replyTo);
    return root ? root.replies : $('messages');
  }

  /** Puts `li` in `list` in seq order, before drafts (they get their seq when they finish). */
  function insertInOrder(list, li, seq) {
    for (const child of list.children) {
      if (child !== li && (child.classList.contains('draft') || Number(child.dataset.seq) > seq)) {
        list.insertBefore(li, child);
        return;
      }
    }
    list.append(li);
  }

  /** Moves a message or draft shown on its own under its root `entry`. */
  function nestUnder(entry, li, seq, marker) {
    if (marker) marker.hidden = true;
    if (seq === null) entry.replies.append(li);
    else insertInOrder(entry.replies, li, seq);
  }

  /** A root's "N replies" line, and "show all" while some replies are not on screen. */
  function updateReplies(entry) {
    const shown = entry.replies.querySelectorAll(':scope > li:not(.draft)').length;
    entry.total = Math.max(entry.total, shown);
    entry.count.textContent = `${entry.total} ${entry.total === 1 ? 'reply' : 'replies'}`;
    entry.count.hidden = entry.total === 0;
    entry.more.hidden = shown >= entry.total;
  }

  /**
   * Adds a message of the selected room in seq order, a reply under its root when the root is
   * shown; a seq already shown is kept (SPEC §5). The finished message of a stream replaces its
   * draft. `live`: a message newer than the reply counts read so far (message:new, missed).
   */
  function addMessage(message, live) {
    if (!state.room || message.room !== state.room.name) return;
    if (message.stream) dropDraft(message.stream);
    if (state.messages.has(message.seq)) return;
    const li = el('li');
    li.dataset.seq = String(message.seq);
    if (state.me && message.sender.id === state.me.id) li.classList.add('mine');
    const time = el('time', null, new Date(message.created_at).toLocaleString());
    time.dateTime = message.created_at;
    const marker = replyMarker(message.reply_to);
    const meta = metaLine(message.sender, time, el('span', null, `#${message.seq}`));
    if (marker) meta.append(marker);
    const entry = {
      li,
      message,
      marker,
      replies: el('ol', 'replies'),
      count: el('span', 'reply-count'),
      more: el('button', 'small', 'show all'),
      total: message.reply_count || 0,
    };
    entry.more.type = 'button';
    entry.more.addEventListener('click', () => loadThread(entry));
    const thread = el('div', 'thread');
    thread.append(entry.count, entry.more);
    li.append(meta, el('div', 'text', message.body), thread, entry.replies);
    if (message.metadata) li.title = `metadata: ${JSON.stringify(message.metadata)}`;
    state.messages.set(message.seq, entry);

    const root = message.reply_to === null ? undefined : state.messages.get(message.reply_to);
    if (root) {
      nestUnder(root, li, message.seq, marker);
      if (live) root.total += 1;
      updateReplies(root);
    } else {
      insertInOrder($('messages'), li, message.seq);
    }
    // Its replies (and drafts of replies) that were shown on their own go under it now.
    const top = $('messages');
    for (const other of state.messages.values()) {
      if (other.message.reply_to === message.seq && other.li.parentElement === top) {
        nestUnder(entry, other.li, other.message.seq, other.marker);
      }
    }
    for (const draft of state.drafts.values()) {
      if (draft.replyTo === message.seq && draft.li.parentElement === top) {
        nestUnder(entry, draft.li, null, draft.replyMarker);
      }
    }
    updateReplies(entry);
  }

  /** Loads the replies to a root (`?thread=seq`, newest first, up to 10 pages). */
  async function loadThread(entry) {
    const room = state.room;
    const seq = entry.message.seq;
    let before = null;
    try {
      for (let page = 0; page < 10; page += 1) {
        const query = `thread=${seq}&limit=100${before === null ? '' : `&before=${before}`}`;
        const body = await api(`${roomPath(room.name)}/messages?${query}`);
        if (state.room !== room) return;
        body.messages.forEach((m) => addMessage(m, false));
        if (!body.has_more || body.messages.length === 0) break;
        before = body.messages[0].seq;
      }
      // What the hub has is what there is (replies may have been counted before some loaded).
      entry.total = entry.replies.querySelectorAll(':scope > li:not(.draft)').length;
      updateReplies(entry);
    } catch (err) {
      showError(`Could not load the replies to #${seq}: ${err.message}`);
    }
  }

  /**
   * Shows a stream being written (a `stream:start`, or one of `room:join`'s `streams` with its
   * `text` so far and the `index` of its last delta), then the deltas that came before it.
   */
  function showDraft(stream) {
    if (!state.room || stream.room !== state.room.name) return;
    let draft = state.drafts.get(stream.id);
    if (!draft) {
      const li = el('li', 'draft');
      li.dataset.stream = stream.id;
      if (state.me && stream.sender.id === state.me.id) li.classList.add('mine');
      const marker = el('span', 'streaming', 'streaming…');
      const replyTo = stream.reply_to === undefined ? null : stream.reply_to;
      const reply = replyMarker(replyTo);
      const meta = metaLine(stream.sender, marker);
      if (reply) meta.append(reply);
      const text = el('div', 'text');
      li.append(meta, text);
      draft = { li, text, marker, replyMarker: reply, index: -1, body: '', pending: new Map(), replyTo };
      state.drafts.set(stream.id, draft);
      const list = listFor(replyTo);
      if (list !== $('messages') && reply) reply.hidden = true;
      list.append(li); // drafts come after every finished message
    }
    if (typeof stream.text === 'string' && Number.isInteger(stream.index) && stream.index > draft.index) {
      draft.body = stream.text;
      draft.index = stream.index;
    }
    for (const delta of state.earlyDeltas.get(stream.id) || []) draft.pending.set(delta.index, delta.text);
    state.earlyDeltas.delete(stream.id);
    applyDeltas(draft);
  }

  function addDelta(delta) {
    if (!state.room || delta.room !== state.room.name) return;
    const draft = state.drafts.get(delta.id);
    if (!draft) {
      // Its stream:start, or the room:join ack with its text so far, is still to come.
      const early = state.earlyDeltas.get(delta.id) || [];
      if (early.length < 10000) early.push(delta);
      state.earlyDeltas.set(delta.id, early);
      return;
    }
    draft.pending.set(delta.index, delta.text);
    applyDeltas(draft);
  }

  /** Appends the pending deltas that follow the draft's text, in index order. */
  function applyDeltas(draft) {
    for (const index of [...draft.pending.keys()]) {
      if (index <= draft.index) draft.pending.delete(index); // already in the text
    }
    while (draft.pending.has(draft.index + 1)) {
      draft.index += 1;
      draft.body += draft.pending.get(draft.index);
      draft.pending.delete(draft.index);
    }
    draft.text.textContent = draft.body;
    // A hole (a lost delta) stops the draft; the finished message still replaces it.
    draft.marker.textContent = draft.pending.size > 0 ? 'streaming… (a part is missing)' : 'streaming…';
  }

  function dropDraft(id) {
    const draft = state.drafts.get(id);
    state.earlyDeltas.delete(id);
    if (!draft) return;
    state.drafts.delete(id);
    draft.li.remove();
  }

  /** An aborted stream: its draft is struck through for a few seconds, then goes. */
  function abortDraft({ id, room, reason }) {
    if (!state.room || room !== state.room.name) return;
    const draft = state.drafts.get(id);
    state.earlyDeltas.delete(id);
    if (!draft) return;
    state.drafts.delete(id);
    draft.li.classList.add('aborted');
    draft.marker.textContent = `aborted: ${reason || 'no reason given'}`;
    setTimeout(() => draft.li.remove(), 4000);
  }

  const DOING = { typing: 'is typing…', thinking: 'is thinking…', tool: 'is calling a tool…' };

  /** `activity`: "<name> is thinking…" under the messages until idle or its expires_at. */
  function showActivity(activity) {
    if (!state.room || activity.room !== state.room.name) return;
    const id = activity.agent.id;
    clearActivity(id);
    const doing = Object.hasOwn(DOING, activity.state) ? DOING[activity.state] : null;
    if (!doing) return; // idle (or a state this page does not know)
    const line = el('span', 'doing', `${activity.agent.display_name} ${doing}`);
    if (activity.detail) line.append(el('span', 'detail', activity.detail));
    $('activity').append(line);
    let ms = Date.parse(activity.expires_at) - Date.now();
    // A clock far from the hub's: fall back on the 10 s a state lasts (SPEC §11).
    if (!(ms > 0 && ms <= 15000)) ms = 10000;
    state.activity.set(id, { line, timer: setTimeout(() => clearActivity(id), ms) });
  }

  function clearActivity(agentId) {
    const shown = state.activity.get(agentId);
    if (!shown) return;
    clearTimeout(shown.timer);
    shown.line.remove();
    state.activity.delete(agentId);
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
        addMessage(ack.message, true); // the sending socket gets no message:new of its own
        advanceRange();
        scrollToEnd();
        markReadSoon();
      }
      input.focus();
    });
  }

  // ---------------------------------------------------------------------------------------
  // Socket.IO
  // ---------------------------------------------------------------------------------------

  const JOIN_FAILED = 'Live updates unavailable: ';

  function joinCurrentRoom() {
    const room = state.room;
    const socket = state.socket;
    if (!room || !socket || !socket.connected) return;
    const payload = { room: room.name };
    // Catch up on what we missed: everything after the last seq known to be on screen.
    if (state.range) payload.since = state.range.high;
    else if (state.messages.size > 0) payload.since = Math.max(...state.messages.keys());
    const draftsBefore = [...state.drafts.keys()];
    socket.timeout(10000).emit('room:join', payload, (err, ack) => {
      if (state.room !== room) return;
      if (err) {
        showError(`Joining ${room.name} timed out.`);
        return;
      }
      if (!ack.ok) {
        // Archived rooms and observers in missing rooms answer forbidden: history stays.
        // (An archived room says so already.)
        if (!room.archived) $('send-note').textContent = `${JOIN_FAILED}${describe(ack)}`;
        return;
      }
      state.room = Object.assign(room, ack.room);
      const note = $('send-note');
      if (note.textContent.startsWith(JOIN_FAILED)) note.textContent = '';
      renderMembers(ack.members);
      const atEnd = isAtEnd();
      ack.missed.forEach((m) => addMessage(m, true)); // a finished stream replaces its draft
      if (state.range && ack.missed.length > 0) {
        state.range.high = Math.max(state.range.high, ack.missed[ack.missed.length - 1].seq);
      }
      // More than `missed` holds (or live messages beyond it): the rest from history.
      if (ack.missed_truncated) fillGapSoon();
      else checkGap();
      // Drafts of before this join that are no longer open were aborted meanwhile.
      const open = new Set((ack.streams || []).map((s) => s.id));
      for (const id of draftsBefore) if (!open.has(id)) dropDraft(id);
      (ack.streams || []).forEach(showDraft);
      if (atEnd) scrollToEnd();
      renderRoomHead();
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
      if (isAdmin() && state.liveTimer) pollLive(); // this page's own connection counts too
    });
    socket.on('disconnect', (reason) => {
      setConn('off', 'disconnected');
      // No idle will come for what agents were doing; the rejoin brings drafts up to date.
      for (const id of [...state.activity.keys()]) clearActivity(id);
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
      addMessage(message, true);
      if (atEnd) scrollToEnd();
      if (state.room && message.room === state.room.name) {
        state.room.last_seq = Math.max(state.room.last_seq || 0, message.seq);
        checkGap(); // a seq beyond the last one shown + 1: what came between, from history
        markReadSoon();
      } else if (message.room.startsWith('dm:') && !state.rooms.some((r) => r.name === message.room)) {
        reloadLists(); // a DM room new to this page: list it
      }
    });
    // This page's agent was taken out of a private room (SPEC §5): it reads it no more.
    socket.on('room:removed', ({ room }) => {
      if (state.room && state.room.name === room) {
        state.removedFrom = room;
        updateSendForm();
        $('send-note').textContent = `You were removed from ${room}.`;
      }
      reloadLists();
    });
    socket.on('stream:start', (stream) => {
      const atEnd = isAtEnd();
      showDraft(stream);
      if (atEnd) scrollToEnd();
    });
    socket.on('stream:delta', (delta) => {
      const atEnd = isAtEnd();
      addDelta(delta);
      if (atEnd) scrollToEnd();
    });
    socket.on('stream:abort', abortDraft);
    socket.on('activity', showActivity);
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
  // Live numbers (admins): GET /stats every 5 s while the page is open
  // ---------------------------------------------------------------------------------------

  const LIVE_FIELDS = [
    ['live-connections', 'connections', (n) => String(n)],
    ['live-rate', 'messages_per_second', (n) => n.toFixed(1)],
    ['live-rooms', 'rooms', (n) => String(n)],
    ['live-agents', 'agents', (n) => String(n)],
  ];

  function startLive() {
    stopLive();
    pollLive();
    state.liveTimer = setInterval(() => pollLive(), LIVE_EVERY);
  }

  function stopLive() {
    clearInterval(state.liveTimer);
    state.liveTimer = null;
    state.liveTicket = null;
    showLive(null);
  }

  async function pollLive() {
    if (!isAdmin()) return;
    const ticket = {};
    state.liveTicket = ticket;
    let stats = null;
    try {
      stats = await api('/stats');
      // Anything but the numbers this panel knows counts as unavailable too.
      if (!stats || LIVE_FIELDS.some(([, key]) => typeof stats[key] !== 'number')) stats = null;
    } catch (_) {
      stats = null; // 404 until the route exists, 403, a network error: "unavailable"
    }
    if (state.liveTicket !== ticket) return; // signed out, or a newer poll answered
    showLive(stats, true);
  }

  /** The numbers, or dashes and "unavailable" (`polled`: a poll answered; else: reset). */
  function showLive(stats, polled) {
    for (const [id, key, format] of LIVE_FIELDS) {
      const text = stats ? format(stats[key]) : '—';
      if ($(id).textContent !== text) $(id).textContent = text;
    }
    const note = !polled ? '' : stats ? `Updated ${new Date().toLocaleTimeString()}` : 'unavailable';
    setStatus('live-status', note, polled && !stats);
  }

  // ---------------------------------------------------------------------------------------
  // Views: #/rooms, #/agents, #/audit
  // ---------------------------------------------------------------------------------------

  const VIEWS = ['rooms', 'agents', 'audit'];

  function viewFromHash() {
    const name = (location.hash || '').replace(/^#\/?/, '').split('/')[0];
    return VIEWS.includes(name) ? name : 'rooms';
  }

  /** Shows one view; `focus`: move the keyboard focus to its heading (a navigation). */
  function showView(name, focus) {
    if (name === 'audit' && !isAdmin()) name = 'rooms';
    const changed = state.view !== name;
    // A new key is shown once: leaving the view that shows it forgets it.
    if (changed && state.view === 'agents') hideNewKey();
    state.view = name;
    for (const view of VIEWS) $(`view-${view}`).hidden = view !== name;
    for (const link of document.querySelectorAll('#nav a')) {
      if (link.dataset.view === name) link.setAttribute('aria-current', 'page');
      else link.removeAttribute('aria-current');
    }
    const wanted = `#/${name}`;
    if (location.hash !== wanted && !(name === 'rooms' && !location.hash)) {
      history.replaceState(null, '', wanted);
    }
    if (name === 'rooms') markReadSoon();
    if (name === 'agents' && (changed || !state.detail)) openAgentsView();
    if (name === 'audit' && changed) loadAudit();
    if (focus) $(`${name}-title`).focus();
  }

  // ---------------------------------------------------------------------------------------
  // Agents and their tokens
  // ---------------------------------------------------------------------------------------

  /** Admins: the list (and the open detail, refreshed); others: their own agent. */
  function openAgentsView() {
    if (isAdmin()) {
      renderAgentTable();
      if (state.detail) openAgent(state.detail.name, false);
    } else if (state.me) {
      openAgent(state.me.name, false);
    }
  }

  function renderAgentTable() {
    const rows = $('agent-rows');
    if (!isAdmin()) {
      rows.replaceChildren();
      return;
    }
    const focused = focusKeyIn(rows);
    const shown = state.agentFilter && state.filteredAgents ? state.filteredAgents : state.agents;
    rows.replaceChildren(...shown.map((agent) => {
      const tr = el('tr');
      if (state.detail && state.detail.name === agent.name) tr.classList.add('current');
      const name = el('td');
      const open = button(agent.name, 'link', () => openAgent(agent.name, true));
      open.dataset.focusKey = agent.name;
      if (state.detail && state.detail.name === agent.name) open.setAttribute('aria-current', 'true');
      name.append(open);
      const online = el('td');
      online.append(el('span', agent.online ? 'dot online' : 'dot'), el('span', null, agent.online ? 'online' : 'offline'));
      tr.append(
        name,
        el('td', null, agent.display_name),
        el('td', null, agent.role),
        online,
        el('td', agent.disabled ? 'bad' : 'muted', agent.disabled ? 'disabled' : 'no'),
      );
      return tr;
    }));
    refocus(rows, focused);
  }

  /** The filter typed above the Agents list, as a query (null when nothing is asked). */
  function agentFilterQuery() {
    const params = new URLSearchParams();
    const skill = $('agent-filter-skill').value.trim();
    const method = $('agent-filter-method').value.trim();
    if (skill) params.set('skill', skill);
    if (method) params.set('method', method);
    if ($('agent-filter-online').checked) params.set('online', 'true');
    const query = params.toString();
    return query || null;
  }

  /** `GET /agents?skill=&method=&online=true` (each optional, AND), every page of it. */
  async function filterAgents() {
    state.agentFilter = agentFilterQuery();
    if (!state.agentFilter) {
      state.filteredAgents = null;
      setStatus('agent-filter-status', '');
      renderAgentTable();
      return;
    }
    setStatus('agent-filter-status', 'Filtering…');
    await reloadFilteredAgents();
  }

  async function reloadFilteredAgents() {
    const query = state.agentFilter;
    if (!query) return;
    let agents;
    try {
      agents = await listAll(`/agents?${query}`, 'agents');
    } catch (err) {
      if (state.agentFilter === query) setStatus('agent-filter-status', `Not filtered: ${err.message}`, true);
      return;
    }
    if (state.agentFilter !== query) return; // a newer filter was asked meanwhile
    state.filteredAgents = agents;
    const n = agents.length;
    setStatus('agent-filter-status', `${n} agent${n === 1 ? '' : 's'} match${n === 1 ? 'es' : ''} the filter.`);
    renderAgentTable();
  }

  /** `POST /agents` from the form (admins). */
  async function createAgent() {
    const name = $('agent-new-name').value.trim();
    const display = $('agent-new-display').value.trim();
    if (!name) return;
    const body = { name, role: $('agent-new-role').value };
    if (display) body.display_name = display;
    setStatus('agent-form-status', 'Creating…');
    try {
      const agent = await api('/agents', { method: 'POST', body });
      setStatus('agent-form-status', `Created agent ${agent.name} (${agent.role}).`);
      $('agent-form').reset();
      setAgents(await listAll('/agents', 'agents'));
    } catch (err) {
      setStatus('agent-form-status', `Not created: ${err.message}`, true);
    }
  }

  /** Opens an agent's detail: its facts, Disable/Enable (admins), its tokens. */
  async function openAgent(name, focus) {
    const switching = !state.detail || state.detail.name !== name;
    if (switching) {
      hideNewKey();
      setStatus('agent-status', '');
      setStatus('token-status', '');
      setStatus('display-status', '');
      setStatus('card-status', '');
      $('token-form').reset();
      $('skill-form').reset();
    }
    let agent;
    let tokens;
    let card;
    try {
      [agent, tokens, card] = await Promise.all([
        api(agentPath(name)),
        listAll(`${agentPath(name)}/tokens`, 'tokens'),
        loadCard(name),
      ]);
    } catch (err) {
      showError(`Could not load agent ${name}: ${err.message}`);
      return;
    }
    state.detail = agent;
    state.tokens = tokens;
    state.card = card.card;
    state.cardError = card.error;
    if (switching) {
      $('agent-display-edit').value = agent.display_name;
      $('card-methods').value = card.card ? card.card.methods.join(', ') : '';
    }
    renderDetail();
    renderAgentTable();
    if (focus) $('agent-detail-title').focus();
  }

  function renderDetail() {
    const agent = state.detail;
    const box = $('agent-detail');
    if (!agent) {
      box.hidden = true;
      return;
    }
    box.hidden = false;
    const self = state.me && agent.id === state.me.id;
    $('agent-detail-title').textContent = self && !isAdmin() ? `Your agent: ${agent.name}` : agent.name;
    const facts = $('agent-facts');
    facts.replaceChildren();
    const fact = (term, value) => {
      const dd = el('dd');
      dd.append(value instanceof Node ? value : document.createTextNode(String(value)));
      facts.append(el('dt', null, term), dd);
    };
    fact('Display name', agent.display_name);
    fact('Role', agent.role);
    fact('Online', agent.online ? 'online' : 'offline');
    fact('Disabled', agent.disabled ? 'yes' : 'no');
    fact('Created', timeEl(agent.created_at));
    const toggle = $('agent-toggle');
    toggle.hidden = !isAdmin();
    toggle.textContent = agent.disabled ? 'Enable' : 'Disable';
    toggle.classList.toggle('danger', !agent.disabled);
    $('display-form').hidden = !isAdmin();
    $('card-form').hidden = !(isAdmin() || self);
    $('skill-form').hidden = !(isAdmin() || self);
    renderCard();
    renderTokens();
  }

  /** Whether `agent`'s detail is still the one open (it is reloaded as a new object). */
  const stillOpen = (agent) => Boolean(state.detail && state.detail.name === agent.name);

  /** `GET /agents/{name}/card`: `{card}` (null on 404: none published) or `{error}`. */
  async function loadCard(name) {
    try {
      return { card: await api(`${agentPath(name)}/card`), error: null };
    } catch (err) {
      if (err.status === 404) return { card: null, error: null };
      return { card: null, error: `Could not load the card: ${err.message}` };
    }
  }

  /** The open agent's card: description, version, skills (id, name), methods. */
  function renderCard() {
    const view = $('card-view');
    const card = state.card;
    if (!card) {
      view.replaceChildren(el('p', state.cardError ? 'status bad' : 'muted', state.cardError || 'No card'));
      return;
    }
    const facts = el('dl', 'facts');
    const fact = (term, value) => {
      const dd = el('dd');
      dd.append(value instanceof Node ? value : document.createTextNode(String(value)));
      facts.append(el('dt', null, term), dd);
    };
    fact('Description', card.description || '—');
    fact('Version', card.version || '—');
    const skills = Array.isArray(card.skills) ? card.skills : [];
    if (skills.length === 0) {
      fact('Skills', 'none');
    } else {
      const list = el('ul', 'plain');
      for (const skill of skills) {
        const li = el('li');
        li.append(el('code', null, skill.id), ' ', document.createTextNode(skill.name));
        if (skill.description) li.append(' — ', document.createTextNode(skill.description));
        if (canEditCard()) {
          const remove = button('Remove', 'small skill-remove', () => removeSkill(skill.id));
          remove.setAttribute('aria-label', `Remove skill ${skill.id}`);
          remove.dataset.focusKey = `skill:${skill.id}`;
          li.append(remove);
        }
        list.append(li);
      }
      fact('Skills', list);
    }
    if (card.methods.length === 0) {
      fact('Methods', 'none');
    } else {
      const methods = el('span', 'methods');
      card.methods.forEach((m, i) => {
        if (i > 0) methods.append(', ');
        methods.append(el('code', null, m));
      });
      fact('Methods', methods);
    }
    fact('Updated', timeEl(card.updated_at));
    view.replaceChildren(facts);
  }

  /** Admins and the agent itself may publish its card. */
  function canEditCard() {
    const agent = state.detail;
    return Boolean(agent && (isAdmin() || (state.me && agent.id === state.me.id)));
  }

  /**
   * `PUT /agents/{name}/card` with these skills; the published card keeps its methods,
   * description and version. Answers whether it was published.
   */
  async function putSkills(skills, done) {
    const agent = state.detail;
    if (!agent) return false;
    const card = state.card;
    const body = { skills, methods: card && Array.isArray(card.methods) ? card.methods : [] };
    if (card && card.description !== null && card.description !== undefined) body.description = card.description;
    if (card && card.version !== null && card.version !== undefined) body.version = card.version;
    setStatus('card-status', 'Publishing…');
    let published;
    try {
      published = await api(`${agentPath(agent.name)}/card`, { method: 'PUT', body });
    } catch (err) {
      if (stillOpen(agent)) setStatus('card-status', `Not published: ${err.message}`, true);
      return false;
    }
    if (!stillOpen(agent)) return false;
    state.card = published;
    state.cardError = null;
    setStatus('card-status', done);
    const focused = focusKeyIn($('card-view'));
    renderCard();
    refocus($('card-view'), focused);
    return true;
  }

  const currentSkills = () => (state.card && Array.isArray(state.card.skills) ? state.card.skills : [])
    .map((s) => (s.description ? { id: s.id, name: s.name, description: s.description } : { id: s.id, name: s.name }));

  /** The skill typed in the form, added to the card (published at once). */
  async function addSkill() {
    const id = $('skill-id').value.trim();
    const name = $('skill-name').value.trim();
    const description = $('skill-description').value.trim();
    if (!id || !name) return;
    const skill = description ? { id, name, description } : { id, name };
    const skills = currentSkills().filter((s) => s.id !== id).concat([skill]);
    const agent = state.detail;
    if (await putSkills(skills, `Added skill ${id} to the card of ${agent.name}.`)) $('skill-form').reset();
  }

  async function removeSkill(id) {
    const agent = state.detail;
    if (!agent) return;
    const skills = currentSkills().filter((s) => s.id !== id);
    if (await putSkills(skills, `Removed skill ${id} from the card of ${agent.name}.`)) {
      // The Remove button went with the skill: the keyboard focus goes back to the form.
      if (!document.activeElement || document.activeElement === document.body) $('skill-id').focus();
    }
  }

  /** `PATCH /agents/{name}` `{"display_name"}` (admins). */
  async function saveDisplayName() {
    const agent = state.detail;
    if (!agent || !isAdmin()) return;
    const displayName = $('agent-display-edit').value.trim();
    if (!displayName) return;
    setStatus('display-status', 'Saving…');
    let changed;
    try {
      changed = await api(agentPath(agent.name), { method: 'PATCH', body: { display_name: displayName } });
    } catch (err) {
      if (stillOpen(agent)) setStatus('display-status', `Not saved: ${err.message}`, true);
      return;
    }
    if (!stillOpen(agent)) return;
    state.detail = Object.assign({}, state.detail, changed);
    $('agent-display-edit').value = changed.display_name;
    setStatus('display-status', `Saved: ${changed.name} is shown as ${changed.display_name}.`);
    renderDetail();
    try {
      setAgents(await listAll('/agents', 'agents'));
    } catch (_) { /* the list catches up on its next reload */ }
  }

  /**
   * `PUT /agents/{name}/card` with the methods typed (comma-separated); a card already
   * published keeps its skills, description and version.
   */
  async function publishCard() {
    const agent = state.detail;
    if (!agent) return;
    const methods = $('card-methods').value.split(',').map((m) => m.trim()).filter(Boolean);
    const card = state.card;
    const body = { skills: card && Array.isArray(card.skills) ? card.skills : [], methods };
    if (card && card.description !== null && card.description !== undefined) body.description = card.description;
    if (card && card.version !== null && card.version !== undefined) body.version = card.version;
    setStatus('card-status', 'Publishing…');
    let published;
    try {
      published = await api(`${agentPath(agent.name)}/card`, { method: 'PUT', body });
    } catch (err) {
      if (stillOpen(agent)) setStatus('card-status', `Not published: ${err.message}`, true);
      return;
    }
    if (!stillOpen(agent)) return;
    state.card = published;
    state.cardError = null;
    $('card-methods').value = published.methods.join(', ');
    const n = published.methods.length;
    setStatus('card-status', `Published the card of ${agent.name} (${n} method${n === 1 ? '' : 's'}).`);
    renderCard();
  }

  function renderTokens() {
    const rows = $('token-rows');
    const focused = focusKeyIn(rows);
    const mine = state.jwt ? jwtClaims(state.jwt).tid : null;
    if (state.tokens.length === 0) {
      const tr = el('tr');
      const td = el('td', 'muted', 'No tokens.');
      td.colSpan = 7;
      tr.append(td);
      rows.replaceChildren(tr);
      return;
    }
    rows.replaceChildren(...state.tokens.map((token) => {
      const tr = el('tr');
      tr.dataset.token = token.id;
      if (token.revoked_at) tr.classList.add('revoked');
      const name = el('td', null, token.name);
      name.id = `token-${token.id}`;
      if (token.id === mine) name.append(' ', el('span', 'badge', 'this session'));
      const action = el('td');
      if (!token.revoked_at) {
        const revoke = button('Revoke', 'danger small-danger', () => revokeToken(token));
        revoke.setAttribute('aria-describedby', name.id);
        revoke.dataset.focusKey = token.id;
        action.append(revoke);
      }
      const cell = (node) => {
        const td = el('td');
        td.append(node);
        return td;
      };
      tr.append(
        name,
        cell(el('code', null, token.prefix)),
        cell(timeEl(token.created_at)),
        cell(timeEl(token.last_used_at, 'never')),
        cell(timeEl(token.expires_at, 'never')),
        cell(timeEl(token.revoked_at, 'no')),
        action,
      );
      return tr;
    }));
    refocus(rows, focused);
  }

  async function reloadTokens() {
    const agent = state.detail;
    if (!agent) return;
    try {
      const tokens = await listAll(`${agentPath(agent.name)}/tokens`, 'tokens');
      if (state.detail !== agent) return;
      state.tokens = tokens;
      renderTokens();
    } catch (err) {
      setStatus('token-status', `Could not load the tokens: ${err.message}`, true);
    }
  }

  /** Disable (after a confirmation: it kicks the agent's sockets) or enable the open agent. */
  async function toggleAgent() {
    const agent = state.detail;
    if (!agent || !isAdmin()) return;
    const disabled = !agent.disabled;
    if (disabled) {
      const self = agent.id === state.me.id;
      const ok = await confirmAction({
        title: `Disable ${agent.name}?`,
        text: `Its sockets are disconnected and its keys refused until it is enabled again.${
          self ? ' This is your own agent: this page will be signed out.' : ''}`,
        ok: 'Disable',
        returnFocus: $('agent-toggle'),
      });
      if (!ok) return;
    }
    try {
      const changed = await api(agentPath(agent.name), { method: 'PATCH', body: { disabled } });
      if (state.detail !== agent) return;
      state.detail = Object.assign({}, agent, changed);
      setStatus('agent-status', `${changed.name} is ${changed.disabled ? 'disabled' : 'enabled'}.`);
      renderDetail();
      setAgents(await listAll('/agents', 'agents'));
    } catch (err) {
      setStatus('agent-status', `Not changed: ${err.message}`, true);
    }
  }

  /**
   * `POST /agents/{name}/tokens`. Admins mint with their JWT; an agent minting its own token
   * must present the API key it signed in with (SPEC §6 answers a JWT with 403).
   */
  async function createToken() {
    const agent = state.detail;
    if (!agent) return;
    const body = {};
    const name = $('token-new-name').value.trim();
    const days = $('token-new-days').value.trim();
    if (name) body.name = name;
    if (days) body.expires_in_days = Number(days);
    const options = { method: 'POST', body };
    if (!isAdmin()) {
      if (!state.key) {
        setStatus('token-status', 'Sign in with an API key to create tokens.', true);
        return;
      }
      options.credential = state.key;
    }
    hideNewKey();
    setStatus('token-status', 'Creating…');
    let created;
    try {
      created = await api(`${agentPath(agent.name)}/tokens`, options);
    } catch (err) {
      setStatus('token-status', `Not created: ${err.message}`, true);
      return;
    }
    if (state.detail !== agent) return;
    $('token-form').reset();
    setStatus('token-status', `Created token ${created.name} (${created.prefix}…).`);
    $('new-key-value').textContent = created.key;
    $('copy-status').textContent = '';
    $('new-key').hidden = false;
    $('copy-key').focus();
    await reloadTokens();
  }

  function hideNewKey() {
    $('new-key-value').textContent = '';
    $('copy-status').textContent = '';
    $('new-key').hidden = true;
  }

  /** Copies the new key: the Clipboard API, else a selection and the copy command. */
  async function copyKey() {
    const node = $('new-key-value');
    const key = node.textContent;
    if (!key) return;
    try {
      await navigator.clipboard.writeText(key);
      $('copy-status').textContent = 'Copied.';
      return;
    } catch (_) { /* no clipboard permission (or no secure context): select it instead */ }
    const range = document.createRange();
    range.selectNodeContents(node);
    const selection = getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
    const copied = document.execCommand && document.execCommand('copy');
    $('copy-status').textContent = copied ? 'Copied.' : 'Selected: press Ctrl+C (⌘C) to copy.';
  }

  /** `DELETE /tokens/{id}` after a confirmation; the hub kicks its sockets (SPEC §4). */
  async function revokeToken(token) {
    const agent = state.detail;
    const mine = state.jwt && jwtClaims(state.jwt).tid === token.id;
    const row = [...$('token-rows').rows].find((tr) => tr.dataset.token === token.id);
    const revokeButton = row && row.querySelector('button');
    const ok = await confirmAction({
      title: `Revoke token ${token.name}?`,
      text: `The key ${token.prefix}… stops working now and every socket that uses it is disconnected.${
        mine ? ' This page signed in with it: it will be signed out.' : ''}`,
      ok: 'Revoke token',
      returnFocus: revokeButton,
    });
    if (!ok) return;
    try {
      await api(`/tokens/${encodeURIComponent(token.id)}`, { method: 'DELETE' });
      setStatus('token-status', `Revoked token ${token.name}.`);
    } catch (err) {
      setStatus('token-status', `Not revoked: ${err.message}`, true);
      return;
    }
    if (state.detail === agent) await reloadTokens();
    $('token-new-name').focus();
  }

  /**
   * A page-level confirmation (a modal `<dialog>`): resolves true when the operator confirms.
   * Focus starts on Cancel; Escape cancels; focus goes back to `returnFocus` afterwards.
   */
  function confirmAction({ title, text, ok, returnFocus }) {
    const dialog = $('confirm');
    if (dialog.open) dialog.close('cancel');
    $('confirm-title').textContent = title;
    $('confirm-text').textContent = text;
    $('confirm-ok').textContent = ok;
    dialog.returnValue = '';
    return new Promise((resolve) => {
      dialog.addEventListener('close', () => {
        resolve(dialog.returnValue === 'ok');
        if (returnFocus && returnFocus.isConnected) returnFocus.focus();
      }, { once: true });
      dialog.showModal();
      $('confirm-cancel').focus();
    });
  }

  // ---------------------------------------------------------------------------------------
  // Audit (admins): newest first, filtered by type and agent, a page at a time
  // ---------------------------------------------------------------------------------------

  const AUDIT_PAGE = 50;

  /** Loads page `state.audit.page` of the current filter (its cursor is known). */
  async function loadAudit() {
    const audit = state.audit;
    if (!isAdmin()) return;
    const params = new URLSearchParams();
    if (audit.filter.type) params.set('type', audit.filter.type);
    if (audit.filter.agent) params.set('agent', audit.filter.agent);
    params.set('limit', String(AUDIT_PAGE));
    const cursor = audit.cursors[audit.page];
    if (cursor) params.set('cursor', cursor);
    const ticket = {};
    audit.loading = ticket;
    setStatus('audit-status', 'Loading…');
    $('audit-older').disabled = true;
    $('audit-newer').disabled = true;
    let body;
    try {
      body = await api(`/audit?${params}`);
    } catch (err) {
      if (state.audit !== audit || audit.loading !== ticket) return;
      audit.loading = false;
      setStatus('audit-status', `Could not load the audit log: ${err.message}`, true);
      $('audit-newer').disabled = audit.page === 0;
      return;
    }
    if (state.audit !== audit || audit.loading !== ticket) return; // a newer one is under way
    audit.loading = false;
    audit.next = body.next_cursor;
    audit.events = body.events;
    renderAudit(body.events);
    $('audit-page').textContent = `Page ${audit.page + 1}`;
    $('audit-newer').disabled = audit.page === 0;
    $('audit-older').disabled = !audit.next;
    const filter = [audit.filter.type, audit.filter.agent && `agent ${audit.filter.agent}`]
      .filter(Boolean).join(', ');
    setStatus('audit-status', `${body.events.length} event(s)${filter ? ` (${filter})` : ''}.`);
  }

  function renderAudit(events) {
    const rows = $('audit-rows');
    if (events.length === 0) {
      const tr = el('tr');
      const td = el('td', 'muted', 'No events.');
      td.colSpan = 5;
      tr.append(td);
      rows.replaceChildren(tr);
      return;
    }
    rows.replaceChildren(...events.map((event) => {
      const tr = el('tr');
      tr.dataset.type = event.type;
      const time = el('td');
      time.append(timeEl(event.created_at));
      const agent = event.agent_id ? state.agentsById.get(event.agent_id) : null;
      const details = el('td');
      details.append(el('code', 'details', JSON.stringify(event.details)));
      tr.append(
        time,
        el('td', null, event.type),
        el('td', agent ? null : 'muted', agent ? agent.name : (event.agent_id || '—')),
        el('td', null, event.ip || '—'),
        details,
      );
      return tr;
    }));
  }

  /** A new filter starts again at the newest page. */
  function filterAudit() {
    state.audit.filter = { type: $('audit-type').value, agent: $('audit-agent').value.trim() };
    state.audit.cursors = [null];
    state.audit.page = 0;
    loadAudit();
  }

  function auditPage(step) {
    const audit = state.audit;
    if (step > 0) {
      if (!audit.next) return;
      audit.cursors[audit.page + 1] = audit.next;
      audit.page += 1;
    } else {
      if (audit.page === 0) return;
      audit.page -= 1;
    }
    audit.cursors.length = audit.page + 1;
    loadAudit();
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
    onSubmit('room-form', createRoom);
    onSubmit('agent-form', createAgent);
    onSubmit('token-form', createToken);
    $('agent-toggle').addEventListener('click', () => toggleAgent());
    $('copy-key').addEventListener('click', () => copyKey());
    $('hide-key').addEventListener('click', () => {
      hideNewKey();
      $('token-new-name').focus();
    });
    onSubmit('audit-form', filterAudit);
    $('audit-type').addEventListener('change', () => filterAudit());
    $('audit-older').addEventListener('click', () => auditPage(1));
    $('audit-newer').addEventListener('click', () => auditPage(-1));
    // Navigation: the links (and Back / Forward) change the hash; the view follows, and the
    // keyboard focus moves to its heading.
    window.addEventListener('hashchange', () => {
      if (state.me) showView(viewFromHash(), true);
    });
    $('older').addEventListener('click', () => loadOlder());
    $('messages').parentElement.addEventListener('scroll', () => onMessagesScroll(), { passive: true });
    $('room-archive').addEventListener('click', () => toggleArchive());
    onSubmit('topic-form', saveTopic);
    onSubmit('display-form', saveDisplayName);
    onSubmit('card-form', publishCard);
    onSubmit('skill-form', addSkill);
    onSubmit('agent-filter', filterAgents);
    onSubmit('member-form', addMember);
    $('member-remove').addEventListener('click', () => removeMember());
    onSubmit('dm-form', sendDm);
    $('dm-body').addEventListener('keydown', (event) => {
      if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        $('dm-form').requestSubmit();
      }
    });
    onSubmit('send-form', sendMessage);
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
