// auditlogd: the Audit Log page's Live toggle, its Integrations tab (API
// keys and log streams) and its Settings tab (trusted domains). Plain
// JavaScript, no framework and no build step. It runs after audit-log.js and
// uses only the page's elements and the hook that script exposes
// (window.auditLogPage).
//
// Safety rules of this file, as in audit-log.js:
// - Every value from the API goes on the page as text (textContent,
//   createElement, setAttribute, an input's value); never as HTML.
// - The bearer token is read from the page's session and sent to this origin
//   only: in the Authorization header of /graphql requests, and in the
//   connection_init message of the websocket (browsers cannot give a
//   websocket a header).
// - A new API key's token and a new stream's signing secret are shown once,
//   in a read-only field, and leave the page when the admin is done with them.
(() => {
  'use strict';

  const page = window.auditLogPage;
  if (!page || document.body.dataset.page !== 'audit-log') return;

  const GRAPHQL_URL = '/graphql';
  const REQUEST_TIMEOUT_MS = 30000;
  const STREAM_REFRESH_MS = 5000;
  // Live: reconnect after 1 s, 2 s, 4 s, … up to 30 s (with jitter); give up
  // when the server keeps closing the connection before accepting it.
  const MIN_BACKOFF_MS = 1000;
  const MAX_BACKOFF_MS = 30000;
  const MAX_FAILED_OPENS = 5;
  const ACK_TIMEOUT_MS = 10000;
  const PING_EVERY_MS = 20000;
  const PONG_TIMEOUT_MS = 10000;
  const NEW_ROW_MS = 8000;
  const SUBSCRIPTION_ID = 'live';

  const PLAN = { FREE: 'Free', TEAMS: 'Teams', BUSINESS: 'Business' };
  const FIELD_LABEL = {
    'input.name': 'Name', 'input.expiresAt': 'Expiry', 'input.url': 'Endpoint URL',
    'input.description': 'Description', 'input.startAt': 'Start',
  };

  const $ = (id) => document.getElementById(id);

  // ---------------------------------------------------------------- helpers

  /** h makes an element. props: class, text, hidden, on<event> handlers, other attributes; children: nodes or text. */
  function h(tag, props, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(props || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === 'class') e.className = v;
      else if (k === 'text') e.textContent = String(v);
      else if (k === 'hidden') e.hidden = true;
      else if (k === 'value') e.value = v;
      else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, v === true ? '' : String(v));
    }
    for (const c of children.flat()) {
      if (c === null || c === undefined || c === false) continue;
      e.append(typeof c === 'string' ? document.createTextNode(c) : c);
    }
    return e;
  }

  function show(node, visible) {
    if (node) node.hidden = !visible;
  }

  function plural(n, one, many) {
    return n.toLocaleString() + ' ' + (n === 1 ? one : many);
  }

  const localTime = new Intl.DateTimeFormat(undefined, {
    year: 'numeric', month: 'short', day: 'numeric', hour: 'numeric', minute: '2-digit',
  });
  const clockTime = new Intl.DateTimeFormat(undefined, { hour: 'numeric', minute: '2-digit', second: '2-digit' });

  function utcText(d) {
    return d.toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC');
  }

  /** timeEl shows an API time in the viewer's zone, UTC on hover; empty is the fallback text. */
  function timeEl(value, empty) {
    if (!value) return h('span', { class: 'muted', text: empty });
    const d = new Date(value);
    if (isNaN(d)) return h('span', { text: value });
    return h('time', { datetime: value, title: utcText(d), text: localTime.format(d) });
  }

  /** localDayEnd is the end of a YYYY-MM-DD day in the viewer's zone (the next local midnight). */
  function localDayEnd(s) {
    const [y, m, d] = s.split('-').map(Number);
    return new Date(y, m - 1, d + 1);
  }

  let uid = 0;
  const nextId = (prefix) => prefix + '-' + (++uid);

  // ---------------------------------------------------------------- the API

  /** Problem is a failed request or a field's error, sorted into the kinds the page explains. */
  class Problem extends Error {
    constructor(kind, message, d) {
      super(message);
      this.kind = kind; // unauthenticated, forbidden, business, not_found, bad_input, conflict, rate_limited, network, server
      this.code = (d && d.code) || '';
      this.field = (d && d.field) || '';
      this.status = (d && d.status) || 0;
      this.requestId = (d && d.requestId) || '';
      this.retryAfter = (d && d.retryAfter) || 0;
    }
  }

  const KIND_OF_CODE = {
    UNAUTHENTICATED: 'unauthenticated',
    FORBIDDEN: 'forbidden',
    BUSINESS_PLAN_REQUIRED: 'business',
    NOT_FOUND: 'not_found',
    BAD_USER_INPUT: 'bad_input',
    GRAPHQL_VALIDATION_FAILED: 'bad_input',
    CONFLICT: 'conflict',
    RATE_LIMITED: 'rate_limited',
  };

  function problemOf(err, d) {
    const ext = (err && err.extensions) || {};
    const code = ext.code || '';
    return new Problem(KIND_OF_CODE[code] || 'server', (err && typeof err.message === 'string') ? err.message : '',
      Object.assign({}, d, { code, field: ext.field || '' }));
  }

  /**
   * api sends one operation with the session's token. It resolves to
   * {data, errors} — a field's error (a list the viewer may not see) leaves
   * the rest of the data — and rejects with a Problem when there is no data.
   */
  async function api(query, variables) {
    const token = page.token();
    if (!token) throw new Problem('unauthenticated', 'You are not signed in.');
    const ctrl = new AbortController();
    const timer = setTimeout(() => ctrl.abort(), REQUEST_TIMEOUT_MS);
    let res;
    try {
      res = await fetch(GRAPHQL_URL, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', 'Accept': 'application/json', 'Authorization': 'Bearer ' + token },
        body: JSON.stringify({ query, variables: variables || {} }),
        credentials: 'omit',
        cache: 'no-store',
        referrerPolicy: 'no-referrer',
        signal: ctrl.signal,
      });
    } catch (_) {
      throw new Problem('network', 'The server could not be reached.');
    } finally {
      clearTimeout(timer);
    }
    const d = { status: res.status, requestId: res.headers.get('X-Request-Id') || '' };
    let body = null;
    try { body = await res.json(); } catch (_) { body = null; }
    const errors = body && Array.isArray(body.errors) ? body.errors : [];
    const first = errors.length ? problemOf(errors[0], d) : null;
    if (res.status === 401 || (first && first.code === 'UNAUTHENTICATED')) {
      throw new Problem('unauthenticated', (first && first.message) || 'The token is not valid.', d);
    }
    if (res.status === 429 || (first && first.code === 'RATE_LIMITED')) {
      d.retryAfter = parseInt(res.headers.get('Retry-After') || '', 10) || 0;
      throw new Problem('rate_limited', (first && first.message) || 'Too many requests.', Object.assign(d, { code: 'RATE_LIMITED' }));
    }
    if (!body || !body.data) {
      if (first) throw first;
      throw new Problem('server', 'The server answered HTTP ' + res.status + '.', d);
    }
    return { data: body.data, errors, d };
  }

  /** errorAt returns the Problem of the error at path (['workspace', 'apiKeys']), or null. */
  function errorAt(result, ...path) {
    const err = result.errors.find((e) => Array.isArray(e.path) && path.every((p, i) => e.path[i] === p));
    return err ? problemOf(err, result.d) : null;
  }

  /** problemText puts a failed change in words: the API's message, and its code. */
  function problemText(e) {
    let text;
    switch (e.kind) {
      case 'network': text = 'The server could not be reached. Check your connection and try again.'; break;
      case 'rate_limited': text = 'Too many requests. Try again ' + (e.retryAfter ? 'in ' + plural(e.retryAfter, 'second', 'seconds') : 'in a moment') + '.'; break;
      case 'forbidden': text = 'Only admins of this workspace can do this' + (e.message ? ' (' + e.message + ').' : '.'); break;
      case 'business': text = 'This needs the Business plan' + (e.message ? ' (' + e.message + ').' : '.'); break;
      case 'bad_input': {
        const label = FIELD_LABEL[e.field];
        text = (label ? label + ': ' : '') + (e.message || 'the server did not accept this.');
        break;
      }
      default:
        text = e.message || 'Something went wrong on the server' + (e.status ? ' (HTTP ' + e.status + ')' : '') + '.';
        if (e.requestId && !text.includes(e.requestId)) text += ' Request id: ' + e.requestId + '.';
    }
    return text;
  }

  /** showProblem writes e into the error element el (with its code), and marks the field it concerns. */
  function showProblem(el, e, fields) {
    el.replaceChildren(document.createTextNode(problemText(e)));
    if (e.code) el.append(' ', h('code', { class: 'error-code', text: e.code }));
    show(el, true);
    const input = fields && fields[e.field];
    if (input) {
      input.setAttribute('aria-invalid', 'true');
      input.focus();
    }
  }

  function clearProblem(el, fields) {
    show(el, false);
    el.textContent = '';
    for (const input of Object.values(fields || {})) input.removeAttribute('aria-invalid');
  }

  /** sessionEnded sends the viewer to the page's "sign in again" form. */
  function sessionEnded() {
    stopLive('');
    integ.stopRefresh();
    page.signInAgain();
  }

  // ================================================================= Live

  // The subscription selects exactly the fields of the page's own query
  // (the "nodes { … }" of audit-log.js's LOG_QUERY), plus sequence, so that
  // the rows Live adds carry everything the page's renderRow reads — also
  // when that query gains fields.
  const FALLBACK_FIELDS = 'id action occurredAt actor { id email type } target { type id label } previousRole role ipAddress userAgent requestId flags';

  function eventFields() {
    const q = String(page.logQuery || '');
    const i = q.indexOf('nodes {');
    if (i < 0) return FALLBACK_FIELDS;
    let depth = 0;
    for (let j = i + 6; j < q.length; j++) {
      if (q[j] === '{') depth++;
      else if (q[j] === '}' && --depth === 0) return q.slice(i + 7, j).trim().replace(/\s+/g, ' ');
    }
    return FALLBACK_FIELDS;
  }

  const SUBSCRIPTION = 'subscription AuditLogLive($workspaceId: ID!, $afterSequence: Int) {\n' +
    '  auditLogEvents(workspaceId: $workspaceId, afterSequence: $afterSequence) { sequence ' + eventFields() + ' }\n}';
  const HEAD_QUERY = 'query AuditLogLiveHead($workspaceId: ID!) { auditLogHead(workspaceId: $workspaceId) { sequence } }';
  const PROBE_QUERY = 'query AuditLogLiveProbe { viewer { id } }';

  // ---- matching the page's filters (the API's AuditLogFilter) on the client

  /** asciiLower lower-cases A–Z only, as the server compares emails and labels. */
  function asciiLower(s) {
    return String(s).replace(/[A-Z]/g, (c) => c.toLowerCase());
  }

  /** labelKey is how the server compares actorEmail and targetLabel: a canonical email, or the label with ASCII case folded. */
  function labelKey(s) {
    const t = String(s || '').trim();
    const at = t.lastIndexOf('@');
    if (at > 0 && at < t.length - 1) {
      let domain = t.slice(at + 1);
      try { domain = new URL('http://' + domain + '/').hostname; } catch (_) { domain = asciiLower(domain); }
      return asciiLower(t.slice(0, at)) + '@' + domain;
    }
    return asciiLower(t);
  }

  /** matches reports whether ev passes the filter the page sent with its query (null: everything). */
  function matches(filter, ev) {
    if (!filter) return true;
    const at = Date.parse(ev.occurredAt);
    for (const [key, want] of Object.entries(filter)) {
      if (want === null || want === undefined) continue;
      switch (key) {
        case 'actions': if (want.length && !want.includes(ev.action)) return false; break;
        case 'actorId': if (!ev.actor || ev.actor.id !== want) return false; break;
        case 'actorEmail': if (!ev.actor || !ev.actor.email || labelKey(ev.actor.email) !== labelKey(want)) return false; break;
        case 'targetId': if (!ev.target || ev.target.id !== want) return false; break;
        case 'targetLabel': if (!ev.target || !ev.target.label || labelKey(ev.target.label) !== labelKey(want)) return false; break;
        case 'since': if (!(at >= Date.parse(want))) return false; break;
        case 'until': if (!(at < Date.parse(want))) return false; break;
        case 'flags': if (want.length && !(Array.isArray(ev.flags) && ev.flags.some((f) => want.includes(f)))) return false; break;
        default: return false; // a filter this file does not know: add no row rather than a wrong one
      }
    }
    return true;
  }

  // ---- state

  const live = {
    on: false,
    phase: 'off', // off, connecting, live, reconnecting, stopped
    reason: '',
    ws: null,
    session: 0, // bumped for every socket and every stop: callbacks of older ones are ignored
    workspaceId: '',
    workspaceName: '',
    lastSeq: 0,
    acked: false,
    attempt: 0,
    failedOpens: 0,
    queue: [],
    added: 0,
    retryTimer: 0,
    retryAt: 0,
    tick: 0,
    ackTimer: 0,
    pingTimer: 0,
    pongTimer: 0,
    expiryTimer: 0,
  };

  // ---- the controls: a switch in the toolbar, a status line under it

  const liveToggle = h('button', {
    type: 'button', id: 'live-toggle', class: 'button live-toggle', role: 'switch', 'aria-checked': 'false',
    'aria-describedby': 'live-help',
  }, h('span', { class: 'live-dot', 'aria-hidden': 'true' }), 'Live');
  const liveControl = h('div', { class: 'live-control', id: 'live-control', hidden: true }, liveToggle,
    h('span', { id: 'live-help', class: 'visually-hidden', text: 'New events appear at the top of the table as they happen.' }));
  const liveText = h('span', { id: 'live-text' });
  const liveCountdown = h('span', { id: 'live-countdown', 'aria-hidden': 'true' });
  const liveRetry = h('button', { type: 'button', class: 'button button-small', id: 'live-retry', hidden: true, text: 'Reconnect now' });
  const liveStatus = h('div', { id: 'live-status', class: 'live-status', hidden: true },
    h('span', { class: 'live-dot', 'aria-hidden': 'true' }),
    h('p', { class: 'live-status-text', role: 'status', 'aria-live': 'polite' }, liveText, liveCountdown),
    liveRetry);

  function setPhase(phase) {
    live.phase = phase;
    renderLive();
  }

  function renderLive() {
    const phase = live.phase;
    document.body.dataset.live = phase;
    liveToggle.setAttribute('aria-checked', live.on ? 'true' : 'false');
    liveToggle.dataset.phase = phase;
    liveStatus.dataset.phase = phase;
    show(liveStatus, phase !== 'off');
    show(liveRetry, phase === 'reconnecting' && !!live.retryTimer);
    liveCountdown.textContent = '';
    const filter = page.filter();
    let text = '';
    switch (phase) {
      case 'connecting':
        text = 'Connecting to live events…';
        break;
      case 'live': {
        text = 'Live: new events appear at the top as they happen';
        text += filter ? ', if they match the filters.' : '.';
        if (filter && filter.until && Date.parse(filter.until) <= Date.now()) {
          text += ' The date filter ends in the past, so no new event will match it.';
        }
        if (live.added) text += ' ' + plural(live.added, 'new event', 'new events') + ' added.';
        break;
      }
      case 'reconnecting': {
        text = (live.reason ? live.reason + ' ' : '') + 'Reconnecting; no event will be missed.';
        const secs = Math.ceil((live.retryAt - Date.now()) / 1000);
        if (live.retryTimer && secs > 0) liveCountdown.textContent = ' Next try in ' + secs + ' s.';
        break;
      }
      case 'stopped':
        text = 'Live stopped: ' + live.reason;
        break;
    }
    if (liveText.textContent !== text) liveText.textContent = text;
  }

  // ---- the protocol: graphql-transport-ws, by hand

  function send(ws, msg) {
    if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(msg));
  }

  function clearTimers() {
    clearTimeout(live.retryTimer);
    clearInterval(live.tick);
    clearTimeout(live.ackTimer);
    clearInterval(live.pingTimer);
    clearTimeout(live.pongTimer);
    live.retryTimer = live.tick = live.ackTimer = live.pingTimer = live.pongTimer = 0;
  }

  /** closeSocket ends the current socket politely; its events are ignored from now on. */
  function closeSocket() {
    const ws = live.ws;
    const acked = live.acked;
    live.ws = null;
    live.acked = false;
    live.session++;
    if (!ws) return;
    if (ws.readyState === WebSocket.CONNECTING) {
      // Closing a socket that is still connecting makes the browser log an
      // error; close it as soon as it opens instead.
      ws.addEventListener('open', () => ws.close(1000, 'Live turned off'));
      return;
    }
    if (ws.readyState === WebSocket.OPEN) {
      if (acked) send(ws, { id: SUBSCRIPTION_ID, type: 'complete' });
      ws.close(1000, 'Live turned off');
    }
  }

  function wsURL() {
    return (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + GRAPHQL_URL;
  }

  function connect() {
    clearTimers();
    closeSocket();
    const token = page.token();
    if (!token) {
      sessionEnded();
      return;
    }
    const my = live.session;
    let ws;
    try {
      ws = new WebSocket(wsURL(), 'graphql-transport-ws');
    } catch (_) {
      retry('The live connection could not be opened.');
      return;
    }
    live.ws = ws;
    ws.addEventListener('open', () => {
      if (my !== live.session) return;
      send(ws, { type: 'connection_init', payload: { Authorization: 'Bearer ' + token } });
      live.ackTimer = setTimeout(() => {
        if (my === live.session) dropped('The server did not accept the live connection in time.');
      }, ACK_TIMEOUT_MS);
    });
    ws.addEventListener('message', (e) => {
      if (my === live.session) onMessage(ws, e.data);
    });
    ws.addEventListener('close', () => {
      if (my === live.session) onClosed();
    });
  }

  function subscribe(ws) {
    send(ws, {
      id: SUBSCRIPTION_ID,
      type: 'subscribe',
      payload: {
        query: SUBSCRIPTION,
        operationName: 'AuditLogLive',
        variables: { workspaceId: live.workspaceId, afterSequence: live.lastSeq },
      },
    });
  }

  function onMessage(ws, raw) {
    let m;
    try { m = JSON.parse(raw); } catch (_) { return; }
    if (!m || typeof m.type !== 'string') return;
    switch (m.type) {
      case 'connection_ack':
        clearTimeout(live.ackTimer);
        live.acked = true;
        live.attempt = 0;
        live.failedOpens = 0;
        subscribe(ws);
        startPing(ws);
        setPhase('live');
        return;
      case 'ping':
        send(ws, { type: 'pong', payload: m.payload });
        return;
      case 'pong':
        clearTimeout(live.pongTimer);
        live.pongTimer = 0;
        return;
      case 'next': {
        if (m.id !== SUBSCRIPTION_ID) return;
        const p = m.payload || {};
        if (Array.isArray(p.errors) && p.errors.length) {
          ended(p.errors);
          return;
        }
        const ev = p.data && p.data.auditLogEvents;
        if (ev) onEvent(ev);
        return;
      }
      case 'error':
        if (m.id === SUBSCRIPTION_ID) ended(Array.isArray(m.payload) ? m.payload : []);
        return;
      case 'complete':
        // Ended without a word (ended() has stopped or moved on after an
        // error): start again where it stopped.
        if (m.id === SUBSCRIPTION_ID) dropped('The server ended the live view.');
        return;
    }
  }

  function startPing(ws) {
    clearInterval(live.pingTimer);
    live.pingTimer = setInterval(() => {
      send(ws, { type: 'ping' });
      clearTimeout(live.pongTimer);
      live.pongTimer = setTimeout(() => dropped('The server stopped answering.'), PONG_TIMEOUT_MS);
    }, PING_EVERY_MS);
  }

  /** ended handles the subscription's errors: the server refused it or cut it off. */
  function ended(errors) {
    const err = errors[0] || {};
    const code = (err.extensions && err.extensions.code) || '';
    const message = typeof err.message === 'string' ? err.message : '';
    const name = '“' + live.workspaceName + '”';
    switch (code) {
      case 'UNAUTHENTICATED':
        sessionEnded();
        return;
      case 'FORBIDDEN':
        stopLive('only admins of ' + name + ' can watch its log, and you are not one of them (any more).');
        return;
      case 'BUSINESS_PLAN_REQUIRED':
        stopLive(name + ' is not on the Business plan (any more); live events are part of it.');
        return;
      case 'CONFLICT': // the page fell behind: resume at once from the last event it has
        closeSocket();
        live.attempt = 0;
        retry('', 0);
        return;
      case 'RATE_LIMITED':
      case 'INTERNAL':
      case '':
        closeSocket();
        retry('The server could not serve live events' + (message ? ' (' + message + ').' : '.'));
        return;
      default:
        stopLive((message || 'the server refused the live view') + ' (' + code + ').');
    }
  }

  /** onEvent adds a new event to the table once, if it matches the filters. */
  function onEvent(ev) {
    const seq = Number(ev.sequence);
    if (!Number.isFinite(seq) || seq <= live.lastSeq) return;
    live.lastSeq = seq;
    if (!matches(page.filter(), ev)) return;
    if (!page.loaded()) {
      // The table is loading (a new filter, or Live just started): add the
      // event when it is there, unless its first page already has it.
      live.queue.push(ev);
      if (live.queue.length > 1000) live.queue.shift();
      return;
    }
    addRow(ev);
  }

  function addRow(ev) {
    const tr = page.prependEvent(ev);
    if (!tr) return;
    live.added++;
    tr.classList.add('live-new');
    setTimeout(() => tr.classList.remove('live-new'), NEW_ROW_MS);
    renderLive();
  }

  function flushQueue() {
    const queued = live.queue;
    live.queue = [];
    const filter = page.filter();
    for (const ev of queued) if (matches(filter, ev)) addRow(ev);
  }

  /** dropped: a live connection was lost; come back with backoff. */
  function dropped(why) {
    if (!live.on) return;
    closeSocket();
    retry(why);
  }

  /** onClosed: the socket closed. Before the server accepted it, a plain request says why. */
  async function onClosed() {
    if (!live.on) return;
    const wasLive = live.acked;
    live.ws = null;
    live.acked = false;
    clearTimers();
    if (wasLive) {
      retry('The live connection was lost.');
      return;
    }
    const my = ++live.session;
    try {
      await api(PROBE_QUERY);
    } catch (e) {
      if (my !== live.session || !live.on) return;
      if (e.kind === 'unauthenticated') sessionEnded();
      else retry(e.kind === 'network' ? 'The server cannot be reached.' : 'The server is not answering as it should.');
      return;
    }
    if (my !== live.session || !live.on) return;
    if (++live.failedOpens >= MAX_FAILED_OPENS) {
      stopLive('the server, or a proxy in front of it, keeps refusing the live connection (websocket). The rest of the page works as before; try Live again later.');
      return;
    }
    retry('The server closed the live connection before it started.');
  }

  /** retry reconnects after a backoff (or after delay ms). */
  function retry(why, delay) {
    if (!live.on) return;
    clearTimers();
    live.attempt++;
    if (delay === undefined) {
      const ceiling = Math.min(MAX_BACKOFF_MS, MIN_BACKOFF_MS * 2 ** Math.min(live.attempt - 1, 10));
      delay = Math.round(ceiling / 2 + Math.random() * ceiling / 2);
    }
    live.reason = why;
    live.retryAt = Date.now() + delay;
    live.retryTimer = setTimeout(reconnectNow, delay);
    live.tick = setInterval(renderLive, 1000);
    setPhase('reconnecting');
  }

  function reconnectNow() {
    if (!live.on) return;
    clearTimers();
    renderLive();
    connect();
  }

  /** startLive turns Live on for the page's workspace. */
  async function startLive() {
    const ws = page.workspace();
    if (!ws) return;
    clearTimers();
    closeSocket();
    Object.assign(live, {
      on: true, reason: '', workspaceId: ws.id, workspaceName: ws.name, lastSeq: 0,
      attempt: 0, failedOpens: 0, queue: [], added: 0,
    });
    const my = live.session;
    setPhase('connecting');
    let head;
    try {
      const r = await api(HEAD_QUERY, { workspaceId: ws.id });
      const p = errorAt(r, 'auditLogHead');
      if (p) throw p;
      head = r.data.auditLogHead.sequence;
    } catch (e) {
      if (my !== live.session || !live.on) return;
      if (e.kind === 'unauthenticated') sessionEnded();
      else if (e.kind === 'forbidden') stopLive('only admins of “' + ws.name + '” can watch its log.');
      else if (e.kind === 'business') stopLive('“' + ws.name + '” is not on the Business plan; live events are part of it.');
      else stopLive(problemText(e));
      return;
    }
    if (my !== live.session || !live.on) return;
    live.lastSeq = head;
    // The table was loaded a while ago: load its first page again, so that
    // nothing between then and the head is missing. The subscription sends
    // what comes after the head; an event in both is added once.
    page.reload();
    connect();
    watchExpiry();
  }

  /** stopLive turns Live off; reason (if any) says why, in the status line. */
  function stopLive(reason) {
    const was = live.on || live.phase !== 'off';
    live.on = false;
    clearTimers();
    clearTimeout(live.expiryTimer);
    closeSocket();
    live.queue = [];
    live.reason = reason || '';
    if (was || reason) setPhase(reason ? 'stopped' : 'off');
  }

  /** watchExpiry checks the session when the token's exp passes (a socket outlives its token otherwise). */
  function watchExpiry() {
    clearTimeout(live.expiryTimer);
    let exp = 0;
    try {
      const part = page.token().split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
      exp = Number(JSON.parse(atob(part + '==='.slice((part.length + 3) % 4))).exp) * 1000 || 0;
    } catch (_) {
      exp = 0;
    }
    if (!exp) return;
    const wait = Math.max(exp - Date.now(), 0) + 1000;
    if (wait > 2147483647) return;
    live.expiryTimer = setTimeout(async () => {
      if (!live.on) return;
      try {
        await api(PROBE_QUERY);
      } catch (e) {
        if (e.kind === 'unauthenticated' && live.on) {
          sessionEnded();
          return;
        }
      }
      // The server's clock still accepts it: look again in a minute.
      if (live.on) live.expiryTimer = setTimeout(watchExpiry, 60000);
    }, wait);
  }

  liveToggle.addEventListener('click', () => {
    if (live.on) stopLive('');
    else startLive();
  });
  liveRetry.addEventListener('click', () => {
    live.attempt = 0;
    reconnectNow();
  });
  window.addEventListener('online', () => {
    if (live.on && live.phase === 'reconnecting' && live.retryTimer) reconnectNow();
  });

  // ========================================================= Integrations

  const KEYS_QUERY = `query IntegrationsKeys($workspaceId: ID!) {
  workspace(id: $workspaceId) {
    id name plan viewerRole
    apiKeys { id name prefix createdAt createdBy { id email } expiresAt lastUsedAt revokedAt }
  }
}`;
  const STREAMS_QUERY = `query IntegrationsStreams($workspaceId: ID!) {
  workspace(id: $workspaceId) {
    id name plan viewerRole
    logStreams { id url description createdAt createdBy { id email } status deliveredThrough lastDeliveryAt lastError }
  }
  auditLogHead(workspaceId: $workspaceId) { sequence }
}`;
  const CREATE_KEY = `mutation IntegrationsCreateKey($input: CreateApiKeyInput!) {
  createApiKey(input: $input) { token apiKey { id name prefix } }
}`;
  const REVOKE_KEY = `mutation IntegrationsRevokeKey($workspaceId: ID!, $id: ID!) {
  revokeApiKey(workspaceId: $workspaceId, id: $id) { revokedApiKeyId }
}`;
  const CREATE_STREAM = `mutation IntegrationsCreateStream($input: CreateLogStreamInput!) {
  createLogStream(input: $input) { signingSecret stream { id url } }
}`;
  const DELETE_STREAM = `mutation IntegrationsDeleteStream($workspaceId: ID!, $id: ID!) {
  deleteLogStream(workspaceId: $workspaceId, id: $id) { deletedLogStreamId }
}`;

  /** secretBox shows a secret once: a read-only field, Copy, and Done (which removes it from the page). */
  function secretBox(o) {
    const fieldId = nextId('secret');
    const titleId = nextId('secret-title');
    const input = h('input', {
      id: fieldId, class: 'secret-value', type: 'text', readonly: true, value: o.value,
      autocomplete: 'off', autocapitalize: 'off', spellcheck: 'false', 'aria-describedby': titleId + '-once',
    });
    const copied = h('p', { class: 'copy-status', role: 'status', 'aria-live': 'polite' });
    const copy = h('button', { type: 'button', class: 'button button-primary copy-button', text: 'Copy' });
    const done = h('button', { type: 'button', class: 'button done-button', text: o.done });
    const box = h('div', { class: 'secret-once', role: 'region', 'aria-labelledby': titleId, tabindex: '-1' },
      h('h3', { id: titleId, class: 'secret-title', text: o.title }),
      h('p', { id: titleId + '-once', class: 'secret-warning' }, h('strong', { text: 'Copy it now: you will not see it again.' }), ' ' + o.why),
      h('div', { class: 'secret-row' }, h('label', { for: fieldId, class: 'visually-hidden', text: o.label }), input, copy),
      copied,
      h('p', { class: 'help' }, ...o.usage),
      h('div', { class: 'actions-row' }, done));
    input.addEventListener('focus', () => input.select());
    copy.addEventListener('click', async () => {
      let ok = false;
      try {
        await navigator.clipboard.writeText(input.value);
        ok = true;
      } catch (_) {
        input.focus();
        input.select();
        try { ok = document.execCommand('copy'); } catch (__) { ok = false; }
      }
      copied.textContent = ok ? 'Copied to the clipboard.' : 'This browser blocked copying: the value is selected, press Ctrl+C (⌘C on a Mac).';
      if (!ok) input.select();
    });
    done.addEventListener('click', () => {
      input.value = '';
      box.remove();
      if (o.onDone) o.onDone();
    });
    return box;
  }

  /** confirmDialog asks before a change that cannot be undone; action runs on "yes" and may throw a Problem. */
  const dialog = (() => {
    const title = h('h2', { id: 'confirm-title', class: 'confirm-title' });
    const text = h('p', { id: 'confirm-text' });
    const error = h('p', { class: 'field-error', role: 'alert', hidden: true });
    const cancel = h('button', { type: 'button', class: 'button', id: 'confirm-cancel', text: 'Cancel' });
    const yes = h('button', { type: 'button', class: 'button button-danger', id: 'confirm-yes' });
    const el = h('dialog', { id: 'confirm-dialog', class: 'confirm-dialog', 'aria-labelledby': 'confirm-title', 'aria-describedby': 'confirm-text' },
      title, text, error, h('div', { class: 'actions-row confirm-actions' }, cancel, yes));
    let action = null;
    cancel.addEventListener('click', () => el.close());
    yes.addEventListener('click', async () => {
      if (!action) return;
      yes.disabled = cancel.disabled = true;
      clearProblem(error);
      try {
        const after = await action();
        el.close();
        if (typeof after === 'function') after();
      } catch (e) {
        if (e.kind === 'unauthenticated') {
          el.close();
          sessionEnded();
          return;
        }
        showProblem(error, e);
      } finally {
        yes.disabled = cancel.disabled = false;
      }
    });
    el.addEventListener('close', () => { action = null; });
    return {
      el,
      ask(o) {
        title.textContent = o.title;
        text.textContent = o.text;
        yes.textContent = o.yes;
        clearProblem(error);
        action = o.action;
        el.showModal();
        cancel.focus();
      },
    };
  })();

  /** badge is a status in words with a colour (the words carry the meaning). */
  function badge(kind, text, title) {
    return h('span', { class: 'badge badge-' + kind, title }, text);
  }

  const integ = (() => {
    let workspaceId = '';
    let refreshTimer = 0;
    let keysLoad = 0;
    let streamsLoad = 0;

    // ---- the panel

    const explain = h('div', { id: 'integrations-explain', class: 'state state-warning', hidden: true },
      h('h2', { class: 'state-title', id: 'integrations-explain-title' }),
      h('p', { id: 'integrations-explain-text' }),
      h('p', { id: 'integrations-explain-more' }));

    // API keys
    const keyName = h('input', {
      id: 'key-name', name: 'name', type: 'text', maxlength: '100', autocomplete: 'off', spellcheck: 'false',
      placeholder: 'Splunk', required: true, 'aria-describedby': 'key-name-help key-error',
    });
    const keyExpiry = h('select', { id: 'key-expiry', name: 'expiry', 'aria-describedby': 'key-error' },
      h('option', { value: 'never', text: 'Never' }),
      h('option', { value: '30', text: 'In 30 days' }),
      h('option', { value: '90', text: 'In 90 days' }),
      h('option', { value: '365', text: 'In 1 year' }),
      h('option', { value: 'date', text: 'On a date…' }));
    const keyDate = h('input', { id: 'key-date', name: 'date', type: 'date', 'aria-describedby': 'key-date-help key-error' });
    const keyDateField = h('div', { class: 'field field-date', hidden: true },
      h('label', { for: 'key-date', text: 'Valid until' }), keyDate,
      h('span', { id: 'key-date-help', class: 'visually-hidden', text: 'Inclusive: the key works until the end of that day.' }));
    const keyError = h('p', { id: 'key-error', class: 'field-error form-error', role: 'alert', hidden: true });
    const keySubmit = h('button', { type: 'submit', class: 'button button-primary', id: 'key-create', text: 'Create key' });
    const keyForm = h('form', { id: 'key-form', class: 'integ-form', novalidate: true, 'aria-label': 'Create an API key' },
      h('fieldset', { class: 'integ-fieldset', id: 'key-fieldset' },
        h('legend', { class: 'visually-hidden', text: 'New API key' }),
        h('div', { class: 'field field-grow' },
          h('label', { for: 'key-name', text: 'Name' }), keyName,
          h('span', { id: 'key-name-help', class: 'help', text: 'The tool that will use it, so you can tell keys apart.' })),
        h('div', { class: 'field' }, h('label', { for: 'key-expiry', text: 'Expires' }), keyExpiry),
        keyDateField,
        h('div', { class: 'form-buttons' }, keySubmit)),
      keyError);
    const keySecret = h('div', { id: 'key-secret' });
    const keysNote = h('p', { id: 'keys-note', class: 'note note-warning', hidden: true });
    const keysStatus = h('p', { id: 'keys-status', class: 'status integ-status', role: 'status', 'aria-live': 'polite', tabindex: '-1' });
    const keysRows = h('tbody', { id: 'keys-rows' });
    const keysTable = h('div', { class: 'table-wrap integ-table-wrap', id: 'keys-wrap', hidden: true },
      h('table', { class: 'integ-table', id: 'keys-table' },
        h('caption', { class: 'visually-hidden', id: 'keys-caption', text: 'API keys' }),
        h('thead', {}, h('tr', {},
          ...['Name', 'Created', 'Created by', 'Last used', 'Expires', 'Status'].map((t) => h('th', { scope: 'col', text: t })),
          h('th', { scope: 'col' }, h('span', { class: 'visually-hidden', text: 'Actions' })))),
        keysRows));
    const keysSection = h('section', { id: 'keys-section', class: 'panel integ-section', 'aria-labelledby': 'keys-title' },
      h('div', { class: 'integ-head' },
        h('h2', { id: 'keys-title', text: 'API keys' }),
        h('p', { class: 'help' }, 'A key gives one tool — a SIEM, a compliance or backup job — read-only access to this workspace’s audit log: ',
          'queries, exports and live events, without a person’s token. Send it as ', h('code', { text: 'Authorization: Bearer alk_…' }), '.')),
      keySecret, keysNote, keyForm, keysStatus, keysTable);

    // Log streams
    const streamURL = h('input', {
      id: 'stream-url', name: 'url', type: 'url', inputmode: 'url', autocomplete: 'off', spellcheck: 'false', required: true,
      placeholder: 'https://siem.example.com/auditlogd', 'aria-describedby': 'stream-url-help stream-error',
    });
    const streamDesc = h('input', {
      id: 'stream-description', name: 'description', type: 'text', maxlength: '500', autocomplete: 'off',
      placeholder: 'Splunk HEC', 'aria-describedby': 'stream-error',
    });
    const startNow = h('input', { type: 'radio', name: 'startAt', value: 'NOW', id: 'stream-start-now', checked: true });
    const startEarliest = h('input', { type: 'radio', name: 'startAt', value: 'EARLIEST', id: 'stream-start-earliest' });
    const streamError = h('p', { id: 'stream-error', class: 'field-error form-error', role: 'alert', hidden: true });
    const streamSubmit = h('button', { type: 'submit', class: 'button button-primary', id: 'stream-create', text: 'Add stream' });
    const streamForm = h('form', { id: 'stream-form', class: 'integ-form', novalidate: true, 'aria-label': 'Add a log stream' },
      h('fieldset', { class: 'integ-fieldset', id: 'stream-fieldset' },
        h('legend', { class: 'visually-hidden', text: 'New log stream' }),
        h('div', { class: 'field field-grow' },
          h('label', { for: 'stream-url', text: 'Endpoint URL' }), streamURL,
          h('span', { id: 'stream-url-help', class: 'help', text: 'HTTPS, reachable from the internet. auditlogd POSTs JSON batches to it.' })),
        h('div', { class: 'field' }, h('label', { for: 'stream-description', text: 'Description (optional)' }), streamDesc),
        h('fieldset', { class: 'field start-choice' },
          h('legend', { text: 'Send' }),
          h('label', {}, startNow, ' New events only'),
          h('label', {}, startEarliest, ' Every retained event first')),
        h('div', { class: 'form-buttons' }, streamSubmit)),
      streamError);
    const streamSecret = h('div', { id: 'stream-secret' });
    const streamsNote = h('p', { id: 'streams-note', class: 'note note-warning', hidden: true });
    const streamsStatus = h('p', { id: 'streams-status', class: 'status integ-status', role: 'status', 'aria-live': 'polite', tabindex: '-1' });
    const streamsRefresh = h('button', { type: 'button', class: 'button button-small button-quiet', id: 'streams-refresh', text: 'Refresh' });
    const streamsUpdated = h('span', { id: 'streams-updated', class: 'muted' });
    const streamsList = h('ul', { id: 'streams-list', class: 'stream-list', 'aria-label': 'Log streams' });
    const streamsBody = h('div', { id: 'streams-body' }, streamSecret, streamForm,
      h('div', { class: 'integ-status-row' }, streamsStatus, h('span', { class: 'refresh' }, streamsUpdated, streamsRefresh)),
      streamsList);
    const streamsSection = h('section', { id: 'streams-section', class: 'panel integ-section', 'aria-labelledby': 'streams-title' },
      h('div', { class: 'integ-head' },
        h('h2', { id: 'streams-title', text: 'Log streams' }),
        h('p', { class: 'help' }, 'auditlogd sends every event of this workspace, in order, to your endpoint within seconds, ',
          'signed with a secret shown once (header ', h('code', { text: 'X-Auditlog-Signature' }), '), ',
          'and retries with backoff until it answers 2xx: nothing is skipped.')),
      streamsNote, streamsBody);

    const panel = h('div', { id: 'integrations-panel', role: 'tabpanel', 'aria-labelledby': 'tab-integrations', class: 'integrations', hidden: true },
      h('p', { class: 'integ-lede', text: 'Connect a SIEM or compliance tool to this workspace’s audit log: an API key lets it pull the log; a log stream pushes each event to it as it happens.' }),
      explain, keysSection, streamsSection);
    document.body.append(dialog.el);

    // ---- explanations

    function setExplain(title, text, more) {
      $('integrations-explain-title').textContent = title;
      $('integrations-explain-text').textContent = text;
      $('integrations-explain-more').textContent = more || '';
      show($('integrations-explain-more'), !!more);
      show(explain, true);
    }

    function layout(ws) {
      const admin = ws.viewerRole === 'ADMIN';
      const business = ws.plan === 'BUSINESS';
      panel.dataset.access = !admin ? 'not-admin' : business ? 'ok' : 'not-business';
      show(explain, false);
      if (!admin) {
        setExplain('Only admins can manage integrations',
          'You are a ' + (ws.viewerRole === 'MEMBER' ? 'Member' : String(ws.viewerRole).toLowerCase()) + ' of “' + ws.name + '”; its API keys and log streams are managed by its admins.',
          'Ask an admin of the workspace for the Admin role, or choose another workspace.');
      } else if (!business) {
        setExplain('API keys and log streams are part of the Business plan',
          '“' + ws.name + '” is on the ' + (PLAN[ws.plan] || ws.plan) + ' plan. Once it is on Business, its admins can create API keys and log streams here.',
          'Keys created while it was on Business do not work until then; you can still see and revoke them below.');
      }
      show(keysSection, admin);
      show(streamsSection, admin);
      $('key-fieldset').disabled = !business;
      keysNote.textContent = business ? '' : 'Creating keys needs the Business plan.';
      show(keysNote, admin && !business);
      streamsNote.textContent = business ? '' : 'Log streams need the Business plan.';
      show(streamsNote, admin && !business);
      show(streamsBody, business);
    }

    // ---- API keys

    function keyStatus(k) {
      if (k.revokedAt) return badge('off', 'Revoked', 'Revoked ' + utcText(new Date(k.revokedAt)));
      if (k.expiresAt && Date.parse(k.expiresAt) <= Date.now()) return badge('off', 'Expired');
      return badge('ok', 'Active');
    }

    function cell(label, ...children) {
      return h('td', { 'data-label': label }, h('div', { class: 'cell-body' }, ...children));
    }

    function renderKeys(keys) {
      keysRows.replaceChildren();
      for (const k of keys) {
        const revoke = k.revokedAt ? null : h('button', {
          type: 'button', class: 'button button-small button-danger-quiet', text: 'Revoke',
          'aria-label': 'Revoke the key “' + k.name + '”',
          onclick: () => askRevoke(k),
        });
        keysRows.append(h('tr', { 'data-id': k.id, class: k.revokedAt ? 'is-revoked' : null },
          cell('Name', h('span', { class: 'key-name', text: k.name }), ' ', h('code', { class: 'key-prefix', title: 'The first characters of the key', text: k.prefix + '…' })),
          cell('Created', timeEl(k.createdAt, '—')),
          cell('Created by', h('span', { text: (k.createdBy && (k.createdBy.email || k.createdBy.id)) || '—' })),
          cell('Last used', timeEl(k.lastUsedAt, 'Never')),
          cell('Expires', timeEl(k.expiresAt, 'Never')),
          cell('Status', keyStatus(k)),
          cell('Actions', revoke || h('span', { class: 'muted', text: '—' }))));
      }
      show(keysTable, keys.length > 0);
      const active = keys.filter((k) => !k.revokedAt && !(k.expiresAt && Date.parse(k.expiresAt) <= Date.now())).length;
      keysStatus.textContent = keys.length
        ? plural(keys.length, 'key', 'keys') + ', ' + active.toLocaleString() + ' active.'
        : 'No API keys yet.';
    }

    /** loadKeys lists the keys; withStreams: the caller loads the streams itself. */
    async function loadKeys(withStreams) {
      const id = workspaceId;
      const my = ++keysLoad;
      keysStatus.textContent = 'Loading API keys…';
      let r;
      try {
        r = await api(KEYS_QUERY, { workspaceId: id });
      } catch (e) {
        if (my !== keysLoad) return;
        if (e.kind === 'unauthenticated') return sessionEnded();
        keysStatus.textContent = 'The API keys could not be loaded: ' + problemText(e);
        return;
      }
      if (my !== keysLoad || id !== workspaceId) return;
      const ws = r.data.workspace;
      if (!ws) {
        setExplain('This workspace is not available', 'You are not a member of it (any more).');
        show(keysSection, false);
        show(streamsSection, false);
        return;
      }
      layout(ws); // with the plan and role of now, not of when the page was opened
      if (ws.viewerRole === 'ADMIN' && ws.plan === 'BUSINESS' && !withStreams) loadStreams(false);
      const p = errorAt(r, 'workspace', 'apiKeys');
      if (p) {
        keysStatus.textContent = p.kind === 'forbidden' ? '' : 'The API keys could not be loaded: ' + problemText(p);
        show(keysTable, false);
        return;
      }
      renderKeys(ws.apiKeys || []);
    }

    function keyExpiresAt() {
      const v = keyExpiry.value;
      if (v === 'never') return { value: null };
      if (v === 'date') {
        if (!/^\d{4}-\d{2}-\d{2}$/.test(keyDate.value)) return { error: 'Choose the last day on which the key may be used.' };
        const end = localDayEnd(keyDate.value);
        if (end <= new Date()) return { error: 'Choose a day from today on: the key would already have expired.' };
        return { value: end.toISOString() };
      }
      return { value: new Date(Date.now() + Number(v) * 86400000).toISOString() };
    }

    async function createKey(e) {
      e.preventDefault();
      const fields = { 'input.name': keyName, 'input.expiresAt': keyExpiry.value === 'date' ? keyDate : keyExpiry };
      clearProblem(keyError, fields);
      const name = keyName.value.trim();
      if (!name) {
        showProblem(keyError, new Problem('bad_input', 'give the key a name, for example the tool that will use it.', { field: 'input.name' }), fields);
        return;
      }
      const exp = keyExpiresAt();
      if (exp.error) {
        showProblem(keyError, new Problem('bad_input', exp.error, { field: 'input.expiresAt' }), fields);
        return;
      }
      keySubmit.disabled = true;
      const id = workspaceId;
      let r;
      try {
        r = await api(CREATE_KEY, { input: { workspaceId: id, name, expiresAt: exp.value } });
      } catch (err) {
        keySubmit.disabled = false;
        if (err.kind === 'unauthenticated') return sessionEnded();
        showProblem(keyError, err, fields);
        return;
      }
      keySubmit.disabled = false;
      if (id !== workspaceId) return;
      const created = r.data.createApiKey;
      keyForm.reset();
      show(keyDateField, false);
      const box = secretBox({
        title: 'API key “' + created.apiKey.name + '” created',
        why: 'auditlogd keeps only a hash of it. Put it in the secret store of the tool that will use it.',
        label: 'The new API key',
        value: created.token,
        usage: ['Send it as ', h('code', { text: 'Authorization: Bearer ' + created.apiKey.prefix + '…' }),
          ' to ', h('code', { text: location.origin + GRAPHQL_URL }), '. It can read this workspace’s audit log and nothing else.'],
        done: 'Done, I have stored it',
        onDone: () => keyName.focus(),
      });
      keySecret.replaceChildren(box);
      box.focus();
      await loadKeys(true);
    }

    function askRevoke(k) {
      dialog.ask({
        title: 'Revoke the API key “' + k.name + '”?',
        text: 'Anything that uses it (' + k.prefix + '…) gets HTTP 401 from now on. This cannot be undone; create a new key if the tool needs access again.',
        yes: 'Revoke key',
        action: async () => {
          await api(REVOKE_KEY, { workspaceId, id: k.id });
          await loadKeys(true);
          keysStatus.textContent = 'The key “' + k.name + '” was revoked; requests with it now get HTTP 401. ' + keysStatus.textContent;
          return () => keysStatus.focus();
        },
      });
    }

    // ---- log streams

    const cards = new Map(); // stream id → its card's parts, updated in place by each refresh

    function streamCard(s) {
      const parts = {
        url: h('span', { class: 'stream-url' }),
        badge: h('span', { class: 'stream-badge' }),
        desc: h('p', { class: 'stream-desc' }),
        delivered: h('dd', {}),
        lastDelivery: h('dd', {}),
        created: h('dd', {}),
        error: h('div', { class: 'stream-error', hidden: true },
          h('p', { class: 'stream-error-title', text: 'Last error' }), h('p', { class: 'stream-error-text' })),
        remove: h('button', {
          type: 'button', class: 'button button-small button-danger-quiet', text: 'Delete',
          'aria-label': 'Delete the stream to ' + s.url, onclick: () => askDelete(s),
        }),
      };
      parts.li = h('li', { class: 'stream-card', 'data-id': s.id },
        h('div', { class: 'stream-top' }, h('h3', { class: 'stream-title' }, parts.url), parts.badge),
        parts.desc,
        h('dl', { class: 'stream-facts' },
          h('div', {}, h('dt', { text: 'Delivered' }), parts.delivered),
          h('div', {}, h('dt', { text: 'Last delivery' }), parts.lastDelivery),
          h('div', {}, h('dt', { text: 'Created' }), parts.created)),
        parts.error,
        h('div', { class: 'stream-actions' }, parts.remove));
      return parts;
    }

    function fillCard(parts, s, head) {
      parts.li.dataset.status = s.status;
      parts.url.textContent = s.url;
      parts.desc.textContent = s.description || '';
      show(parts.desc, !!s.description);
      let b;
      if (s.status === 'FAILING') b = badge('error', 'Failing', 'Three or more deliveries in a row failed; auditlogd keeps retrying with backoff.');
      else if (s.lastError) b = badge('warn', 'Retrying', 'The last delivery failed; auditlogd retries with backoff.');
      else b = badge('ok', 'Healthy');
      parts.li.dataset.health = s.status === 'FAILING' ? 'failing' : s.lastError ? 'retrying' : 'ok';
      parts.badge.replaceChildren(b);
      const through = Number(s.deliveredThrough) || 0;
      const behind = head === null ? 0 : Math.max(head - through, 0);
      parts.delivered.replaceChildren(
        document.createTextNode(through ? 'Through event ' + through.toLocaleString() : 'Nothing yet'),
        h('span', { class: behind ? 'behind' : 'muted', text: head === null ? '' : behind ? ' · ' + plural(behind, 'event', 'events') + ' waiting' : ' · up to date' }));
      parts.delivered.dataset.through = String(through);
      parts.lastDelivery.replaceChildren(timeEl(s.lastDeliveryAt, 'None yet'));
      parts.created.replaceChildren(timeEl(s.createdAt, '—'),
        document.createTextNode(s.createdBy && (s.createdBy.email || s.createdBy.id) ? ' by ' + (s.createdBy.email || s.createdBy.id) : ''));
      parts.error.querySelector('.stream-error-text').textContent = s.lastError || '';
      show(parts.error, !!s.lastError);
    }

    function renderStreams(streams, head) {
      const seen = new Set();
      let prev = null;
      for (const s of streams) {
        seen.add(s.id);
        let parts = cards.get(s.id);
        if (!parts) {
          parts = streamCard(s);
          cards.set(s.id, parts);
        }
        fillCard(parts, s, head);
        // Keep the API's order (newest first) without moving cards that are in place (focus stays).
        const want = prev ? prev.nextSibling : streamsList.firstChild;
        if (want !== parts.li) streamsList.insertBefore(parts.li, want);
        prev = parts.li;
      }
      for (const [id, parts] of cards) {
        if (!seen.has(id)) {
          parts.li.remove();
          cards.delete(id);
        }
      }
      const failing = streams.filter((s) => s.status === 'FAILING').length;
      const retrying = streams.filter((s) => s.status !== 'FAILING' && s.lastError).length;
      let summary = 'No log streams yet.';
      if (streams.length) {
        const bad = [failing ? failing + ' failing' : '', retrying ? retrying + ' retrying' : ''].filter(Boolean);
        summary = plural(streams.length, 'stream', 'streams') + (bad.length ? ': ' + bad.join(', ') + '.' : ', all healthy.');
      }
      streamsStatus.textContent = summary;
      streamsUpdated.textContent = 'Updated ' + clockTime.format(new Date()) + ' ';
    }

    async function loadStreams(quiet) {
      const id = workspaceId;
      const my = ++streamsLoad;
      if (!quiet) streamsStatus.textContent = 'Loading log streams…';
      let r;
      try {
        r = await api(STREAMS_QUERY, { workspaceId: id });
      } catch (e) {
        if (my !== streamsLoad) return;
        if (e.kind === 'unauthenticated') return sessionEnded();
        streamsStatus.textContent = 'The log streams could not be loaded: ' + problemText(e);
        return;
      }
      if (my !== streamsLoad || id !== workspaceId) return;
      const ws = r.data.workspace;
      if (!ws) return;
      const p = errorAt(r, 'workspace', 'logStreams');
      if (p) {
        if (p.kind === 'business' || p.kind === 'forbidden') layout(ws);
        else streamsStatus.textContent = 'The log streams could not be loaded: ' + problemText(p);
        return;
      }
      const head = r.data.auditLogHead ? Number(r.data.auditLogHead.sequence) : null;
      renderStreams(ws.logStreams || [], head);
    }

    async function createStream(e) {
      e.preventDefault();
      const fields = { 'input.url': streamURL, 'input.description': streamDesc, 'input.startAt': startNow };
      clearProblem(streamError, fields);
      const url = streamURL.value.trim();
      if (!url) {
        showProblem(streamError, new Problem('bad_input', 'enter the HTTPS address that should receive the events.', { field: 'input.url' }), fields);
        return;
      }
      const description = streamDesc.value.trim();
      streamSubmit.disabled = true;
      const id = workspaceId;
      let r;
      try {
        r = await api(CREATE_STREAM, {
          input: { workspaceId: id, url, description: description || null, startAt: startEarliest.checked ? 'EARLIEST' : 'NOW' },
        });
      } catch (err) {
        streamSubmit.disabled = false;
        if (err.kind === 'unauthenticated') return sessionEnded();
        showProblem(streamError, err, fields);
        return;
      }
      streamSubmit.disabled = false;
      if (id !== workspaceId) return;
      const created = r.data.createLogStream;
      streamForm.reset();
      const box = secretBox({
        title: 'Log stream to ' + created.stream.url + ' added',
        why: 'This is the signing secret: your endpoint checks each delivery’s X-Auditlog-Signature header with it. auditlogd does not show it again.',
        label: 'The signing secret of the new stream',
        value: created.signingSecret,
        usage: ['The header is ', h('code', { text: 't=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<body>">' }),
          ', like Stripe’s webhooks; receivers dedupe events by id.'],
        done: 'Done, I have stored it',
        onDone: () => streamURL.focus(),
      });
      streamSecret.replaceChildren(box);
      box.focus();
      await loadStreams(false);
    }

    function askDelete(s) {
      dialog.ask({
        title: 'Delete the log stream to ' + s.url + '?',
        text: 'auditlogd stops sending events to it at once. The events stay in the log; a new stream can send them again from the earliest one kept.',
        yes: 'Delete stream',
        action: async () => {
          await api(DELETE_STREAM, { workspaceId, id: s.id });
          await loadStreams(true);
          streamsStatus.textContent = 'The stream to ' + s.url + ' was deleted. ' + streamsStatus.textContent;
          return () => streamsStatus.focus();
        },
      });
    }

    // ---- refreshing while the tab is open

    function stopRefresh() {
      clearInterval(refreshTimer);
      refreshTimer = 0;
    }

    function startRefresh() {
      stopRefresh();
      refreshTimer = setInterval(() => {
        if (document.hidden || panel.hidden || panel.dataset.access !== 'ok') return;
        loadStreams(true);
      }, STREAM_REFRESH_MS);
    }

    keyExpiry.addEventListener('change', () => {
      show(keyDateField, keyExpiry.value === 'date');
      if (keyExpiry.value === 'date') keyDate.focus();
    });
    keyForm.addEventListener('submit', createKey);
    streamForm.addEventListener('submit', createStream);
    streamsRefresh.addEventListener('click', () => loadStreams(false));
    for (const input of [keyName, keyDate, streamURL, streamDesc]) {
      input.addEventListener('input', () => input.removeAttribute('aria-invalid'));
    }

    return {
      panel,
      stopRefresh,
      /** open shows the workspace's keys and streams (again when it changed). */
      open(ws) {
        if (ws.id !== workspaceId) {
          workspaceId = ws.id;
          keySecret.replaceChildren();
          streamSecret.replaceChildren();
          keysRows.replaceChildren();
          streamsList.replaceChildren();
          cards.clear();
          keyForm.reset();
          streamForm.reset();
          clearProblem(keyError);
          clearProblem(streamError);
          show(keyDateField, false);
          show(keysTable, false);
          streamsUpdated.textContent = '';
        }
        layout(ws);
        loadKeys(false); // and the streams, once it knows the plan
        startRefresh();
      },
      close() {
        stopRefresh();
      },
    };
  })();


  // ============================================================= Settings

  const TRUSTED_QUERY = `query SettingsTrustedDomains($workspaceId: ID!) {
  workspace(id: $workspaceId) {
    id name plan viewerRole
    trustedDomains
    members { role user { id email } }
  }
}`;
  const SET_TRUSTED = `mutation SettingsSetTrustedDomains($workspaceId: ID!, $domains: [String!]!) {
  setTrustedDomains(workspaceId: $workspaceId, domains: $domains) { id trustedDomains }
}`;

  const displayDomain = typeof page.displayDomain === 'function' ? page.displayDomain : (d) => d;

  /** splitDomains reads the text field: entries separated by commas or line breaks; blank ones are dropped. */
  function splitDomains(text) {
    return String(text).split(/[,\r\n]+/).map((d) => d.trim()).filter(Boolean);
  }

  const settings = (() => {
    let workspaceId = '';
    let loads = 0;
    let edited = false; // the admin has typed since the list was last loaded or saved: a reload keeps their text

    const explain = h('div', { id: 'settings-explain', class: 'state state-warning', hidden: true },
      h('h2', { class: 'state-title', id: 'settings-explain-title' }),
      h('p', { id: 'settings-explain-text' }));
    const current = h('div', { id: 'trusted-current', class: 'trusted-current' });
    const input = h('textarea', {
      id: 'trusted-input', name: 'domains', rows: '5', autocomplete: 'off', autocapitalize: 'off', spellcheck: 'false',
      placeholder: 'example.com\n*.example.org', 'aria-describedby': 'trusted-help trusted-error',
    });
    const error = h('p', { id: 'trusted-error', class: 'field-error form-error', role: 'alert', hidden: true });
    const status = h('p', { id: 'trusted-status', class: 'status integ-status', role: 'status', 'aria-live': 'polite', tabindex: '-1' });
    const save = h('button', { type: 'submit', class: 'button button-primary', id: 'trusted-save', text: 'Save' });
    const form = h('form', { id: 'trusted-form', class: 'integ-form trusted-form', novalidate: true, 'aria-label': 'Edit the trusted domains' },
      h('div', { class: 'field' },
        h('label', { for: 'trusted-input', text: 'Edit the list' }), input,
        h('span', { id: 'trusted-help', class: 'help' },
          'One per line, or separated by commas. ', h('code', { text: '*.example.com' }),
          ' trusts every subdomain of example.com (list example.com too to trust it as well). Leave it empty to trust your admins’ domains again.')),
      error,
      h('div', { class: 'actions-row' }, save));
    const section = h('section', { id: 'trusted-section', class: 'panel integ-section', 'aria-labelledby': 'trusted-title' },
      h('div', { class: 'integ-head' },
        h('h2', { id: 'trusted-title', text: 'Trusted domains' }),
        h('p', { class: 'help', text: 'The Activity tab flags, under “Needs a look”, every invite, addition or acceptance of someone whose email domain is not trusted — for example a personal gmail.com address. Changes apply to events from now on; past events keep their flags.' })),
      current, status, form);
    const panel = h('div', { id: 'settings-panel', role: 'tabpanel', 'aria-labelledby': 'tab-settings', class: 'integrations settings', hidden: true },
      h('p', { class: 'integ-lede', text: 'Settings of this workspace’s audit log.' }),
      explain, section);

    /** renderCurrent shows the list in force; with none set, the admins' domains that stand in for it. */
    function renderCurrent(list, adminDomains) {
      current.dataset.count = String(list.length);
      if (list.length) {
        current.replaceChildren(
          h('p', { class: 'trusted-now', text: 'Trusted now (' + list.length + '):' }),
          h('ul', { class: 'domain-list', id: 'trusted-list' }, list.map((d) => h('li', { class: 'domain', 'data-domain': d, text: displayDomain(d) }))));
        return;
      }
      current.replaceChildren(h('p', { class: 'trusted-now', id: 'trusted-none' },
        'None set, so the email domains of this workspace’s admins are trusted' +
        (adminDomains.length ? ': ' + adminDomains.join(', ') + '.' : '.')));
    }

    function adminDomainsOf(members) {
      const out = new Set();
      for (const m of members || []) {
        const email = (m.role === 'ADMIN' && m.user && m.user.email) || '';
        const at = email.lastIndexOf('@');
        if (at >= 0 && at < email.length - 1) out.add(email.slice(at + 1).toLowerCase());
      }
      return Array.from(out).sort();
    }

    let adminDomains = [];

    async function loadTrusted() {
      const id = workspaceId;
      const my = ++loads;
      panel.dataset.loaded = 'false';
      status.textContent = 'Loading the trusted domains…';
      let r;
      try {
        r = await api(TRUSTED_QUERY, { workspaceId: id });
      } catch (e) {
        if (my !== loads) return;
        if (e.kind === 'unauthenticated') return sessionEnded();
        status.textContent = 'The trusted domains could not be loaded: ' + problemText(e);
        return;
      }
      if (my !== loads || id !== workspaceId) return;
      const ws = r.data.workspace;
      if (!ws) {
        setExplain('This workspace is not available', 'You are not a member of it (any more).');
        return;
      }
      if (ws.viewerRole !== 'ADMIN') {
        setExplain('Only admins can change the trusted domains',
          'You are a ' + (ws.viewerRole === 'MEMBER' ? 'Member' : String(ws.viewerRole).toLowerCase()) + ' of “' + ws.name + '”; ask one of its admins.');
        return;
      }
      show(explain, false);
      show(section, true);
      const p = errorAt(r, 'workspace', 'trustedDomains');
      if (p) {
        status.textContent = 'The trusted domains could not be loaded: ' + problemText(p);
        return;
      }
      adminDomains = adminDomainsOf(ws.members);
      const list = ws.trustedDomains || [];
      renderCurrent(list, adminDomains);
      if (!edited) input.value = list.join('\n');
      status.textContent = '';
      panel.dataset.loaded = 'true';
    }

    function setExplain(title, text) {
      $('settings-explain-title').textContent = title;
      $('settings-explain-text').textContent = text;
      show(explain, true);
      show(section, false);
      panel.dataset.loaded = 'true';
    }

    async function saveTrusted(e) {
      e.preventDefault();
      const fields = { domains: input };
      clearProblem(error, fields);
      const domains = splitDomains(input.value);
      save.disabled = true;
      const id = workspaceId;
      let r;
      try {
        r = await api(SET_TRUSTED, { workspaceId: id, domains });
      } catch (err) {
        save.disabled = false;
        if (err.kind === 'unauthenticated') return sessionEnded();
        showProblem(error, err, fields);
        return;
      }
      save.disabled = false;
      if (id !== workspaceId) return;
      const p = errorAt(r, 'setTrustedDomains');
      if (p || !r.data.setTrustedDomains) {
        showProblem(error, p || new Problem('server', 'The server did not save the list.'), fields);
        return;
      }
      const list = r.data.setTrustedDomains.trustedDomains || [];
      renderCurrent(list, adminDomains);
      input.value = list.join('\n');
      edited = false;
      status.textContent = list.length
        ? 'Saved: ' + plural(list.length, 'trusted domain', 'trusted domains') + '. New events are flagged against them.'
        : 'Cleared: your admins’ domains are trusted again.';
      status.focus();
      page.reload(); // the Activity tab shows the TRUSTED_DOMAINS_UPDATED event
    }

    form.addEventListener('submit', saveTrusted);
    input.addEventListener('input', () => {
      input.removeAttribute('aria-invalid');
      edited = true;
    });

    return {
      panel,
      open(ws) {
        if (ws.id !== workspaceId) {
          workspaceId = ws.id;
          current.replaceChildren();
          input.value = '';
          clearProblem(error, { domains: input });
          status.textContent = '';
          edited = false;
        }
        loadTrusted();
      },
    };
  })();

  // ======================================================= tabs and layout

  const app = $('app');
  const toolbar = app.querySelector('.toolbar');
  const exportBox = $('export');

  toolbar.insertBefore(liveControl, exportBox);
  toolbar.after(liveStatus);

  const tabActivity = h('button', { type: 'button', role: 'tab', id: 'tab-activity', 'aria-controls': 'activity-panel', 'aria-selected': 'true', text: 'Activity' });
  const tabIntegrations = h('button', { type: 'button', role: 'tab', id: 'tab-integrations', 'aria-controls': 'integrations-panel', 'aria-selected': 'false', tabindex: '-1', text: 'Integrations' });
  const tabSettings = h('button', { type: 'button', role: 'tab', id: 'tab-settings', 'aria-controls': 'settings-panel', 'aria-selected': 'false', tabindex: '-1', text: 'Settings' });
  const tabs = h('div', { class: 'view-tabs', id: 'view-tabs', role: 'tablist', 'aria-label': 'Audit log sections', hidden: true }, tabActivity, tabIntegrations, tabSettings);
  const activity = h('div', { id: 'activity-panel', role: 'tabpanel', 'aria-labelledby': 'tab-activity' });
  {
    // Everything of #app below the toolbar and its notes is the Activity tab.
    const keep = new Set([toolbar, liveStatus, $('workspace-note'), $('export-status')]);
    const rest = Array.from(app.children).filter((n) => !keep.has(n));
    $('export-status').after(tabs);
    tabs.after(activity);
    activity.append(...rest);
    activity.after(integ.panel);
    integ.panel.after(settings.panel);
  }

  const VIEWS = { activity: [tabActivity, activity], integrations: [tabIntegrations, integ.panel], settings: [tabSettings, settings.panel] };
  const ORDER = ['activity', 'integrations', 'settings'];
  const hashOf = (v) => (v === 'activity' ? '' : '#' + v);

  // #integrations and #settings open their tab (also "#integrations=", what
  // is left of "#integrations&token=…" once audit-log.js has taken the token).
  const hashView = /^#(integrations|settings)=?$/.exec(location.hash);
  let view = hashView ? hashView[1] : 'activity';

  function selectView(next, focus) {
    view = next;
    for (const [name, [tab, panel]] of Object.entries(VIEWS)) {
      tab.setAttribute('aria-selected', String(name === view));
      tab.tabIndex = name === view ? 0 : -1;
      show(panel, name === view);
    }
    app.dataset.view = view;
    const hash = hashOf(view);
    if (location.hash !== hash) history.replaceState(history.state, '', location.pathname + location.search + hash);
    if (focus) VIEWS[view][0].focus();
    const ws = page.workspace();
    if (view === 'integrations' && ws) integ.open(ws);
    else integ.close();
    if (view === 'settings' && ws) settings.open(ws);
    update();
  }

  for (const name of ORDER) {
    VIEWS[name][0].addEventListener('click', () => selectView(name, false));
  }
  // The summary strip's way to the setting its "outside your domains" depends on.
  const week = $('week');
  if (week) {
    week.append(h('p', { class: 'week-more' }, h('button', {
      type: 'button', class: 'link-button', id: 'week-trusted-domains', text: 'Trusted domains…',
      onclick: () => selectView('settings', true),
    })));
  }
  tabs.addEventListener('keydown', (e) => {
    const order = ORDER;
    let i = order.indexOf(view);
    if (e.key === 'ArrowRight' || e.key === 'ArrowLeft') i = (i + (e.key === 'ArrowRight' ? 1 : order.length - 1)) % order.length;
    else if (e.key === 'Home') i = 0;
    else if (e.key === 'End') i = order.length - 1;
    else return;
    e.preventDefault();
    selectView(order[i], true);
  });

  // ---- following the page: its state (data-state on body) and workspace

  const NO_LOG = ['forbidden', 'business', 'no-workspace'];
  const SIGNED_OUT = ['signed-out', 'expired', 'signing-in'];
  let shownWorkspace = '';

  function update() {
    const st = document.body.dataset.state || '';
    const ws = page.workspace();
    const session = !!ws && !SIGNED_OUT.includes(st) && !app.classList.contains('no-session');
    show(tabs, session && st !== 'no-workspace');
    const readable = session && ws.viewerRole === 'ADMIN' && ws.plan === 'BUSINESS' && !NO_LOG.includes(st);
    show(liveControl, (readable || live.on) && view === 'activity');
  }

  function onPageState() {
    const st = document.body.dataset.state || '';
    const ws = page.workspace();
    if (SIGNED_OUT.includes(st)) {
      if (live.on || live.phase !== 'off') stopLive('');
      integ.close();
    } else if (live.on && (!ws || ws.id !== live.workspaceId)) {
      stopLive('you switched to another workspace.');
    } else if (live.on && NO_LOG.includes(st)) {
      stopLive(st === 'business' ? 'this workspace is not on the Business plan (any more).' : 'you may not read this workspace’s log (any more).');
    }
    if (live.queue.length && page.loaded()) flushQueue();
    if (ws && ws.id !== shownWorkspace && !SIGNED_OUT.includes(st)) {
      shownWorkspace = ws.id;
      if (view === 'integrations') integ.open(ws);
      if (view === 'settings') settings.open(ws);
    }
    if (ws && view !== 'activity' && location.hash !== hashOf(view) && !SIGNED_OUT.includes(st)) {
      history.replaceState(history.state, '', location.pathname + location.search + hashOf(view));
    }
    update();
    if (live.phase === 'live') renderLive(); // the filters may have changed
  }

  new MutationObserver(onPageState).observe(document.body, { attributes: true, attributeFilter: ['data-state'] });
  selectView(view, false);
  renderLive();
  onPageState();
})();
