// auditlogd: the admin's Audit Log page (/audit-log) and the invite page
// (/invite/TOKEN). Plain JavaScript, no framework and no build step.
//
// Safety rules of this file:
// - Every value that comes from the API or the URL is put on the page with
//   textContent, createElement or setAttribute; never as HTML.
// - The bearer token lives in sessionStorage only. It is never put in a URL
//   this page builds; a #token= fragment is read once and removed from the
//   address bar.
// - The page talks to its own origin only (/graphql); the export download
//   goes to the signed URL the API returns.
(() => {
  'use strict';

  const TOKEN_KEY = 'auditlogd.token';
  const GRAPHQL_URL = '/graphql';
  const PAGE_SIZE = 50;
  const REQUEST_TIMEOUT_MS = 30000;

  // The actions, in the order of the filter and with their group.
  const ACTIONS = [
    'PUBLIC_INVITE_LINK_CREATED', 'PUBLIC_INVITE_LINK_DELETED', 'PUBLIC_INVITE_LINK_ACCEPTED',
    'EMAIL_INVITE_CREATED', 'EMAIL_INVITE_DELETED', 'EMAIL_INVITE_ACCEPTED',
    'MEMBER_ADDED', 'MEMBER_REMOVED', 'MEMBER_ROLE_UPDATED',
    'AUDIT_LOG_EXPORTED',
  ];
  const ROLE = { ADMIN: 'Admin', MEMBER: 'Member' };
  const ROLE_PLURAL = { ADMIN: 'Admins', MEMBER: 'Members' };
  const PLAN = { FREE: 'Free', TEAMS: 'Teams', BUSINESS: 'Business' };

  const VIEWER_QUERY = `query AuditLogViewer {
  viewer { id email name }
  workspaces { id name plan viewerRole }
}`;

  // One request per page of events; totalCount only with the first page.
  const LOG_QUERY = `query AuditLogPage($workspaceId: ID!, $first: Int!, $after: String, $filter: AuditLogFilter, $withCount: Boolean!) {
  auditLog(workspaceId: $workspaceId, first: $first, after: $after, filter: $filter) {
    totalCount @include(if: $withCount)
    nodes {
      id action occurredAt
      actor { id email type }
      target { type id label }
      previousRole role ipAddress userAgent requestId
    }
    pageInfo { hasNextPage endCursor }
  }
}`;

  const EXPORT_MUTATION = `mutation AuditLogExport($input: ExportAuditLogInput!) {
  exportAuditLog(input: $input) { id format url expiresAt }
}`;

  const ACCEPT_MUTATION = `mutation AcceptInvite($token: String!) {
  acceptInvite(token: $token) { role workspace { id name } }
}`;

  const $ = (id) => document.getElementById(id);

  // ---------------------------------------------------------------- helpers

  /** el makes an element with optional class and text. */
  function el(tag, className, text) {
    const e = document.createElement(tag);
    if (className) e.className = className;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }

  function show(node, visible) {
    if (node) node.hidden = !visible;
  }

  // ----------------------------------------------------------- the session

  const session = {
    get() {
      try { return sessionStorage.getItem(TOKEN_KEY) || ''; } catch (_) { return ''; }
    },
    set(token) {
      try { sessionStorage.setItem(TOKEN_KEY, token); } catch (_) { /* private mode: the token is lost on reload */ }
      memoryToken = token;
    },
    clear() {
      try { sessionStorage.removeItem(TOKEN_KEY); } catch (_) { /* nothing to clear */ }
      memoryToken = '';
    },
    token() { return this.get() || memoryToken; },
  };
  let memoryToken = '';

  /** normalizeToken finds a JWT in what was pasted ("Bearer …", a JSON header, …). */
  function normalizeToken(raw) {
    const m = String(raw || '').match(/[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]*/);
    return m ? m[0] : '';
  }

  /** takeTokenFromFragment accepts #token=… once and removes it from the address bar. */
  function takeTokenFromFragment() {
    if (!location.hash || location.hash.length < 2) return;
    const params = new URLSearchParams(location.hash.slice(1));
    if (!params.has('token')) return;
    const token = normalizeToken(params.get('token'));
    params.delete('token');
    const rest = params.toString();
    history.replaceState(history.state, '', location.pathname + location.search + (rest ? '#' + rest : ''));
    if (token) session.set(token);
  }

  // -------------------------------------------------------------- the API

  /** ApiError is a failed request, sorted into the kinds the page explains. */
  class ApiError extends Error {
    constructor(kind, message, details) {
      super(message);
      this.kind = kind; // unauthenticated, forbidden, business, not_found, bad_input, conflict, rate_limited, network, server, aborted
      this.code = (details && details.code) || '';
      this.status = (details && details.status) || 0;
      this.requestId = (details && details.requestId) || '';
      this.retryAfter = (details && details.retryAfter) || 0;
    }
  }

  const KIND_OF_CODE = {
    UNAUTHENTICATED: 'unauthenticated',
    FORBIDDEN: 'forbidden',
    BUSINESS_PLAN_REQUIRED: 'business',
    NOT_FOUND: 'not_found',
    BAD_USER_INPUT: 'bad_input',
    GRAPHQL_VALIDATION_FAILED: 'bad_input',
    GRAPHQL_PARSE_FAILED: 'bad_input',
    CONFLICT: 'conflict',
    RATE_LIMITED: 'rate_limited',
  };

  /** gql sends one GraphQL operation with the session's token. */
  async function gql(query, variables, signal) {
    const token = session.token();
    if (!token) throw new ApiError('unauthenticated', 'You are not signed in.');
    const ctrl = new AbortController();
    const timer = setTimeout(() => ctrl.abort(), REQUEST_TIMEOUT_MS);
    const onAbort = () => ctrl.abort();
    if (signal) signal.addEventListener('abort', onAbort);
    let res;
    try {
      res = await fetch(GRAPHQL_URL, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', 'Accept': 'application/json', 'Authorization': 'Bearer ' + token },
        body: JSON.stringify({ query, variables }),
        credentials: 'omit',
        cache: 'no-store',
        referrerPolicy: 'no-referrer',
        signal: ctrl.signal,
      });
    } catch (_) {
      if (signal && signal.aborted) throw new ApiError('aborted', 'The request was cancelled.');
      throw new ApiError('network', 'The server could not be reached.');
    } finally {
      clearTimeout(timer);
      if (signal) signal.removeEventListener('abort', onAbort);
    }
    const details = { status: res.status, requestId: res.headers.get('X-Request-Id') || '' };
    let body = null;
    try { body = await res.json(); } catch (_) { body = null; }
    const first = body && Array.isArray(body.errors) && body.errors.length ? body.errors[0] : null;
    details.code = (first && first.extensions && first.extensions.code) || '';
    const message = (first && typeof first.message === 'string') ? first.message : '';
    if (res.status === 401 || details.code === 'UNAUTHENTICATED') {
      throw new ApiError('unauthenticated', message || 'The token is not valid.', details);
    }
    if (res.status === 429 || details.code === 'RATE_LIMITED') {
      details.retryAfter = parseInt(res.headers.get('Retry-After') || '', 10) || 0;
      throw new ApiError('rate_limited', message || 'Too many requests.', details);
    }
    if (first) throw new ApiError(KIND_OF_CODE[details.code] || 'server', message, details);
    if (!res.ok || !body || !body.data) {
      throw new ApiError('server', 'The server answered HTTP ' + res.status + '.', details);
    }
    return body.data;
  }

  // ----------------------------------------------------------- formatting

  const localTime = new Intl.DateTimeFormat(undefined, {
    year: 'numeric', month: 'short', day: 'numeric', hour: 'numeric', minute: '2-digit', second: '2-digit',
  });
  const shortTime = new Intl.DateTimeFormat(undefined, { hour: 'numeric', minute: '2-digit' });

  function utcText(d) {
    return d.toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC');
  }

  function plural(n, one, many) {
    return n.toLocaleString() + ' ' + (n === 1 ? one : many);
  }

  /** describe puts an event's action in words; parts are text or {em: text}. */
  function describe(ev) {
    const t = ev.target || null;
    const label = t && t.label ? t.label : '';
    const self = !!(t && t.type === 'USER' && ev.actor && t.id === ev.actor.id);
    const role = ROLE[ev.role] || '';
    const prev = ROLE[ev.previousRole] || '';
    const asRole = role ? ' as ' + role : '';
    const was = prev ? ' (was ' + prev + ')' : '';
    const who = (fallback) => ({ em: label || (t && t.id) || fallback });
    switch (ev.action) {
      case 'PUBLIC_INVITE_LINK_CREATED':
        return ['created a public invite link' + (ROLE_PLURAL[ev.role] ? ' for ' + ROLE_PLURAL[ev.role] : '')];
      case 'PUBLIC_INVITE_LINK_DELETED':
        return ['deleted a public invite link'];
      case 'PUBLIC_INVITE_LINK_ACCEPTED':
        return ['joined through a public invite link' + asRole];
      case 'EMAIL_INVITE_CREATED':
        return label ? ['invited ', { em: label }, ' by email' + asRole] : ['sent an email invite' + asRole];
      case 'EMAIL_INVITE_DELETED':
        return label ? ['deleted the email invite for ', { em: label }] : ['deleted an email invite'];
      case 'EMAIL_INVITE_ACCEPTED':
        return ['accepted an email invite' + asRole];
      case 'MEMBER_ADDED':
        return self ? ['joined the workspace' + asRole] : ['added ', who('a user'), asRole];
      case 'MEMBER_REMOVED':
        return self ? ['left the workspace' + was] : ['removed ', who('a user'), was];
      case 'MEMBER_ROLE_UPDATED':
        if (self) return ['changed their own role' + (prev ? ' from ' + prev : '') + (role ? ' to ' + role : '')];
        return ['changed ', who('a user'), "'s role" + (prev ? ' from ' + prev : '') + (role ? ' to ' + role : '')];
      case 'AUDIT_LOG_EXPORTED':
        return ['exported the audit log' + (label === 'CSV' || label === 'JSON' ? ' as ' + label : '')];
      default:
        return [String(ev.action || 'unknown action').toLowerCase().replace(/_/g, ' ')];
    }
  }

  function actorText(actor) {
    if (!actor) return 'Unknown';
    if (actor.email) return actor.email;
    if (actor.type === 'SYSTEM') return 'System';
    if (actor.type === 'SERVICE') return 'Service ' + actor.id;
    return actor.id;
  }

  function targetText(t) {
    if (!t) return '—';
    switch (t.type) {
      case 'USER': return t.label || t.id;
      case 'INVITE_LINK': return t.label ? t.label + ' (email invite)' : 'Public invite link';
      case 'EXPORT': return t.label ? t.label + ' export' : 'Export';
      case 'WORKSPACE': return t.label || 'Workspace';
      default: return t.label || t.id;
    }
  }

  // ------------------------------------------------------ shared sign-in

  /** signInUI wires the sign-in form; onToken runs after a token is stored. */
  function signInUI(onToken) {
    const form = $('signin-form');
    const input = $('token-input');
    const error = $('token-error');
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      const token = normalizeToken(input.value);
      if (!token) {
        error.textContent = 'That does not look like a token. Paste the whole JWT: three parts separated by dots.';
        show(error, true);
        input.setAttribute('aria-invalid', 'true');
        input.focus();
        return;
      }
      show(error, false);
      input.removeAttribute('aria-invalid');
      input.value = '';
      session.set(token);
      onToken();
    });
    $('sign-out').addEventListener('click', () => {
      session.clear();
      location.reload();
    });
  }

  /** showSignIn shows the sign-in form; expired explains why it is back. */
  function showSignIn(expired) {
    session.clear();
    show($('loading-page'), false);
    show($('session'), false);
    show($('signin-alert'), !!expired);
    show($('signin'), true);
    document.body.dataset.state = expired ? 'expired' : 'signed-out';
    const input = $('token-input');
    if (input) input.focus();
  }

  function showSession(viewer) {
    $('viewer-email').textContent = viewer.email || viewer.id;
    show($('session'), true);
    show($('signin'), false);
  }

  /** errorText returns a title and an explanation for a failed request. */
  function errorText(e, what) {
    switch (e.kind) {
      case 'network':
        return ['The server could not be reached', 'Check your network connection, then retry.'];
      case 'rate_limited':
        return ['Too many requests', 'The server asks you to slow down. ' +
          (e.retryAfter ? 'Retry in ' + plural(e.retryAfter, 'second', 'seconds') + '.' : 'Retry in a moment.')];
      case 'bad_input':
        return [what + ' could not be loaded', (e.message || 'The request was not accepted.') + ' Retry to start again from the newest events.'];
      default:
        return [what + ' could not be loaded',
          'Something went wrong on the server' + (e.status && e.status !== 200 ? ' (HTTP ' + e.status + ')' : '') + '. ' +
          'Retry; if it keeps failing, contact your administrator' + (e.requestId ? ' and quote the request id below.' : '.')];
    }
  }

  // ======================================================== the log page

  function auditLogPage() {
    const state = {
      viewer: null,
      workspaces: [],
      workspaceId: '',
      filter: emptyFilter(),
      shown: 0,
      total: null,
      endCursor: null,
      hasNext: false,
      seq: 0,
      controller: null,
      retry: null,
      loaded: false,
    };

    const app = $('app');
    const rowsBody = $('log-rows');
    const status = $('status');
    const exportButton = $('export-button');
    const exportMenu = $('export-menu');
    const actionFilter = $('action-filter');

    function emptyFilter() {
      return { actions: [], actor: '', target: '', from: '', to: '' };
    }

    function sameFilter(a, b) {
      return a.actions.join(',') === b.actions.join(',') && a.actor === b.actor &&
        a.target === b.target && a.from === b.from && a.to === b.to;
    }

    function isFiltered(f) {
      return !sameFilter(f, emptyFilter());
    }

    const DATE = /^\d{4}-\d{2}-\d{2}$/;

    function validDate(s) {
      if (!s || !DATE.test(s)) return '';
      const [y, m, d] = s.split('-').map(Number);
      const dt = new Date(y, m - 1, d);
      return dt.getFullYear() === y && dt.getMonth() === m - 1 && dt.getDate() === d ? s : '';
    }

    /** localDay returns local midnight of a YYYY-MM-DD date, plus days. */
    function localDay(s, plusDays) {
      const [y, m, d] = s.split('-').map(Number);
      return new Date(y, m - 1, d + (plusDays || 0));
    }

    // ---- the URL: workspace and filters, never the token

    function readURL() {
      const q = new URLSearchParams(location.search);
      const wanted = new Set((q.get('actions') || '').split(',').map((s) => s.trim()));
      return {
        workspaceId: q.get('workspace') || '',
        filter: {
          actions: ACTIONS.filter((a) => wanted.has(a)),
          actor: (q.get('actor') || '').trim(),
          target: (q.get('target') || '').trim(),
          from: validDate(q.get('from')),
          to: validDate(q.get('to')),
        },
      };
    }

    function writeURL(push) {
      const parts = [];
      const add = (k, v) => { if (v) parts.push(k + '=' + encodeURIComponent(v)); };
      add('workspace', state.workspaceId);
      if (state.filter.actions.length) parts.push('actions=' + state.filter.actions.map(encodeURIComponent).join(','));
      add('actor', state.filter.actor);
      add('target', state.filter.target);
      add('from', state.filter.from);
      add('to', state.filter.to);
      const url = location.pathname + (parts.length ? '?' + parts.join('&') : '');
      if (url === location.pathname + location.search) return;
      if (push) history.pushState(null, '', url);
      else history.replaceState(null, '', url);
    }

    // ---- the filter form

    function filterToForm(f) {
      for (const box of document.querySelectorAll('#filters input[name="action"]')) {
        box.checked = f.actions.includes(box.value);
      }
      $('filter-actor').value = f.actor;
      $('filter-target').value = f.target;
      $('filter-from').value = f.from;
      $('filter-to').value = f.to;
      updateActionSummary();
    }

    function formToFilter() {
      const actions = [];
      for (const box of document.querySelectorAll('#filters input[name="action"]')) {
        if (box.checked) actions.push(box.value);
      }
      return {
        actions: ACTIONS.filter((a) => actions.includes(a)),
        actor: $('filter-actor').value.trim(),
        target: $('filter-target').value.trim(),
        from: validDate($('filter-from').value),
        to: validDate($('filter-to').value),
      };
    }

    function updateActionSummary() {
      const checked = Array.from(document.querySelectorAll('#filters input[name="action"]:checked'));
      let text = 'All actions';
      if (checked.length === 1) text = checked[0].parentElement.textContent.trim();
      else if (checked.length > 1) text = checked.length + ' actions';
      $('action-summary').textContent = text;
    }

    /** apiFilter turns the page's filter into an AuditLogFilter (or null). */
    function apiFilter(f) {
      const out = {};
      if (f.actions.length) out.actions = f.actions;
      if (f.actor) out.actorEmail = f.actor;
      if (f.target) out.targetLabel = f.target;
      if (f.from) out.since = localDay(f.from).toISOString();
      if (f.to) out.until = localDay(f.to, 1).toISOString(); // the whole "to" day
      return Object.keys(out).length ? out : null;
    }

    function applyFilters() {
      const f = formToFilter();
      const err = $('filter-error');
      if (f.from && f.to && f.from > f.to) {
        err.textContent = '“From” is after “To”: choose a “From” date on or before the “To” date.';
        show(err, true);
        $('filter-from').setAttribute('aria-invalid', 'true');
        return;
      }
      show(err, false);
      $('filter-from').removeAttribute('aria-invalid');
      if (sameFilter(f, state.filter) && state.loaded) return;
      state.filter = f;
      writeURL(true);
      loadFirstPage();
    }

    let checkboxTimer = 0;

    function bindFilters() {
      const form = $('filters');
      form.addEventListener('submit', (e) => {
        e.preventDefault();
        clearTimeout(checkboxTimer);
        applyFilters();
      });
      form.addEventListener('change', (e) => {
        const t = e.target;
        if (t.name === 'action') {
          updateActionSummary();
          clearTimeout(checkboxTimer);
          checkboxTimer = setTimeout(applyFilters, 250);
          return;
        }
        applyFilters();
      });
      const clear = () => {
        clearTimeout(checkboxTimer);
        filterToForm(emptyFilter());
        actionFilter.open = false;
        applyFilters();
      };
      $('clear-filters').addEventListener('click', clear);
      $('state-clear-filters').addEventListener('click', () => { clear(); $('filter-actor').focus(); });
      // The action list closes on Escape and on a click elsewhere.
      actionFilter.addEventListener('keydown', (e) => {
        if (e.key === 'Escape' && actionFilter.open) {
          actionFilter.open = false;
          actionFilter.querySelector('summary').focus();
        }
      });
      document.addEventListener('click', (e) => {
        if (actionFilter.open && !actionFilter.contains(e.target)) actionFilter.open = false;
      });
    }

    // ---- the states

    const STATES = ['state-empty', 'state-no-match', 'state-forbidden', 'state-business', 'state-no-workspace', 'state-error'];

    /** setState shows one state panel (or none) and records it on #app. */
    function setState(name) {
      for (const id of STATES) show($(id), id === 'state-' + name);
      // Filters make no sense where there is no log to filter.
      show($('filters'), !['forbidden', 'business', 'no-workspace'].includes(name));
      app.dataset.state = name;
      document.body.dataset.state = name;
    }

    function currentWorkspace() {
      return state.workspaces.find((w) => w.id === state.workspaceId) || null;
    }

    function setExportEnabled(on) {
      exportButton.disabled = !on;
      if (!on) closeExportMenu(false);
    }

    function showError(e, what, retry) {
      const [title, text] = errorText(e, what);
      $('error-title').textContent = title;
      $('error-text').textContent = text;
      $('error-request-id').textContent = e.requestId;
      show($('error-request'), !!e.requestId);
      state.retry = retry;
      actionFilter.open = false; // it would cover the message
      setState('error');
      status.textContent = title + '.';
      // Keyboard users land on Retry unless they are somewhere that still makes sense.
      const active = document.activeElement;
      if (!active || active === document.body || active.disabled || active.getClientRects().length === 0) $('retry').focus();
    }

    /** failed handles an error of a log request; retry runs the request again. */
    function failed(e, retry) {
      if (e.kind === 'aborted') return;
      const ws = currentWorkspace();
      setBusy(false);
      switch (e.kind) {
        case 'unauthenticated':
          showSignIn(true);
          show(app, false);
          return;
        case 'forbidden':
          show($('log-wrap'), false);
          show($('load-more'), false);
          $('forbidden-text').textContent = ws
            ? 'You are ' + (ws.viewerRole === 'ADMIN' ? 'an Admin' : 'a ' + (ROLE[ws.viewerRole] || 'member')) + ' of “' + ws.name + '”, and only its admins can see its activity.'
            : 'You are not an admin of this workspace.';
          setState('forbidden');
          status.textContent = 'Only admins can see the audit log.';
          setExportEnabled(false);
          return;
        case 'business':
          show($('log-wrap'), false);
          show($('load-more'), false);
          $('business-text').textContent = ws
            ? '“' + ws.name + '” is on the ' + (PLAN[ws.plan] || ws.plan) + ' plan.'
            : 'This workspace is not on the Business plan.';
          setState('business');
          status.textContent = 'The audit log needs the Business plan.';
          setExportEnabled(false);
          return;
        default:
          show($('log-wrap'), state.shown > 0);
          showError(e, 'The audit log', retry);
          setExportEnabled(false);
      }
    }

    function setBusy(busy) {
      $('log-wrap').setAttribute('aria-busy', busy ? 'true' : 'false');
      $('load-more').disabled = busy;
      app.classList.toggle('is-loading', busy);
    }

    // ---- the table

    /** cell makes a td with its column name (shown on narrow screens) and one body holding nodes. */
    function cell(label, className, ...nodes) {
      const td = el('td', className);
      td.dataset.label = label;
      td.setAttribute('role', 'cell');
      const body = el('div', 'cell-body');
      body.append(...nodes);
      td.append(body);
      return td;
    }

    function renderRow(ev) {
      const tr = el('tr');
      tr.setAttribute('role', 'row');
      tr.dataset.action = ev.action;
      tr.dataset.id = ev.id;

      const when = new Date(ev.occurredAt);
      const time = el('time', null, isNaN(when) ? ev.occurredAt : localTime.format(when));
      time.setAttribute('datetime', ev.occurredAt);
      if (!isNaN(when)) time.title = utcText(when);
      const tdTime = cell('Time', 'col-time', time);

      const tdActor = cell('Actor', 'col-actor', el('span', 'actor', actorText(ev.actor)));

      const sentence = el('span', 'action-text');
      for (const part of describe(ev)) {
        if (!part) continue;
        sentence.append(typeof part === 'string' ? document.createTextNode(part) : el('strong', null, part.em));
      }
      const tdAction = cell('Action', 'col-action', sentence);

      const target = el('span', 'target', targetText(ev.target));
      if (ev.target) target.title = ev.target.type + ' ' + ev.target.id;
      const tdTarget = cell('Target', 'col-target', target);

      const ip = [el('span', 'ip', ev.ipAddress || '—')];
      if (ev.userAgent || ev.requestId) {
        const more = el('details', 'event-details');
        more.append(el('summary', null, 'Details'));
        const dl = el('dl');
        const add = (k, v) => { if (v) { dl.append(el('dt', null, k), el('dd', null, v)); } };
        add('Browser', ev.userAgent);
        add('Request id', ev.requestId);
        add('Event id', ev.id);
        more.append(dl);
        ip.push(more);
      }
      const tdIP = cell('IP address', 'col-ip', ...ip);

      tr.append(tdTime, tdActor, tdAction, tdTarget, tdIP);
      return tr;
    }

    function updateCounts() {
      const total = state.total;
      $('log-count').textContent = total === null ? '' : plural(total, 'event', 'events');
      show($('load-more'), state.hasNext);
      let text;
      if (total === null) text = 'Showing ' + plural(state.shown, 'event', 'events') + '.';
      else if (state.shown >= total && !state.hasNext) text = 'Showing all ' + plural(total, 'event', 'events') + '.';
      else text = 'Showing ' + state.shown.toLocaleString() + ' of ' + plural(total, 'event', 'events') + '.';
      status.textContent = text;
    }

    // ---- loading

    function startRequest() {
      if (state.controller) state.controller.abort();
      state.controller = new AbortController();
      return { seq: ++state.seq, signal: state.controller.signal };
    }

    async function loadFirstPage() {
      const ws = currentWorkspace();
      if (!ws) return;
      const req = startRequest();
      state.loaded = false;
      state.shown = 0;
      state.total = null;
      state.endCursor = null;
      state.hasNext = false;
      rowsBody.replaceChildren();
      show($('log-wrap'), true);
      show($('load-more'), false);
      $('log-count').textContent = '';
      setExportEnabled(false);
      setState('loading');
      setBusy(true);
      status.textContent = 'Loading the audit log…';
      document.title = 'Audit Log · ' + ws.name + ' · auditlogd';
      let data;
      try {
        data = await gql(LOG_QUERY, {
          workspaceId: ws.id, first: PAGE_SIZE, after: null, filter: apiFilter(state.filter), withCount: true,
        }, req.signal);
      } catch (e) {
        if (req.seq === state.seq) failed(e, loadFirstPage);
        return;
      }
      if (req.seq !== state.seq) return;
      const conn = data.auditLog;
      state.loaded = true;
      state.total = typeof conn.totalCount === 'number' ? conn.totalCount : null;
      appendPage(conn);
      setBusy(false);
      if (state.shown === 0) {
        show($('log-wrap'), false);
        setState(isFiltered(state.filter) ? 'no-match' : 'empty');
        status.textContent = isFiltered(state.filter) ? 'No events match these filters.' : 'No user management activity in the last 90 days.';
      } else {
        setState('ready');
      }
      setExportEnabled(true);
    }

    async function loadMore() {
      const ws = currentWorkspace();
      if (!ws || !state.hasNext) return;
      const req = startRequest();
      setBusy(true);
      status.textContent = 'Loading more events…';
      let data;
      try {
        data = await gql(LOG_QUERY, {
          workspaceId: ws.id, first: PAGE_SIZE, after: state.endCursor, filter: apiFilter(state.filter), withCount: false,
        }, req.signal);
      } catch (e) {
        if (req.seq !== state.seq) return;
        // A cursor the server does not know any more (it restarted with a
        // new key): start again from the newest events.
        failed(e, e.kind === 'bad_input' ? loadFirstPage : () => { setState('ready'); loadMore(); });
        return;
      }
      if (req.seq !== state.seq) return;
      const before = state.shown;
      appendPage(data.auditLog);
      setBusy(false);
      setState('ready');
      // Keep the keyboard where the reader is: on the first new row.
      const first = rowsBody.rows[before];
      if (first && !state.hasNext) {
        first.tabIndex = -1;
        first.focus({ preventScroll: false });
      }
    }

    function appendPage(conn) {
      const frag = document.createDocumentFragment();
      for (const ev of conn.nodes) frag.append(renderRow(ev));
      rowsBody.append(frag);
      state.shown += conn.nodes.length;
      state.hasNext = !!conn.pageInfo.hasNextPage;
      state.endCursor = conn.pageInfo.endCursor || null;
      updateCounts();
    }

    // ---- export

    function openExportMenu() {
      show(exportMenu, true);
      exportButton.setAttribute('aria-expanded', 'true');
      const first = exportMenu.querySelector('button');
      if (first) first.focus();
    }

    function closeExportMenu(focusButton) {
      if (exportMenu.hidden) return;
      show(exportMenu, false);
      exportButton.setAttribute('aria-expanded', 'false');
      if (focusButton) exportButton.focus();
    }

    function bindExport() {
      exportButton.addEventListener('click', () => {
        if (exportMenu.hidden) openExportMenu();
        else closeExportMenu(true);
      });
      $('export').addEventListener('keydown', (e) => {
        if (exportMenu.hidden) return;
        const options = Array.from(exportMenu.querySelectorAll('button'));
        const i = options.indexOf(document.activeElement);
        if (e.key === 'Escape') {
          e.preventDefault();
          closeExportMenu(true);
        } else if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
          e.preventDefault();
          const next = e.key === 'ArrowDown' ? i + 1 : i - 1;
          options[(next + options.length) % options.length].focus();
        }
      });
      document.addEventListener('click', (e) => {
        if (!exportMenu.hidden && !$('export').contains(e.target)) closeExportMenu(false);
      });
      for (const option of exportMenu.querySelectorAll('button[data-format]')) {
        option.addEventListener('click', () => exportLog(option.dataset.format));
      }
    }

    function exportStatus(text, link, isError) {
      show($('export-status'), true);
      $('export-status-text').textContent = text;
      show($('export-link-row'), !!link);
      $('export-status').classList.toggle('is-error', !!isError);
    }

    async function exportLog(format) {
      const ws = currentWorkspace();
      if (!ws) return;
      closeExportMenu(true);
      exportButton.disabled = true;
      exportStatus('Preparing the ' + format + ' export…', false);
      try {
        const data = await gql(EXPORT_MUTATION, {
          input: { workspaceId: ws.id, format, filter: apiFilter(state.filter) },
        });
        const exp = data.exportAuditLog;
        let url;
        try {
          url = new URL(exp.url, location.href);
        } catch (_) {
          url = null;
        }
        if (!url || (url.protocol !== 'https:' && url.protocol !== 'http:')) {
          throw new ApiError('server', 'The server returned an unusable download link.');
        }
        const link = $('export-link');
        link.href = url.href;
        link.setAttribute('download', '');
        const expires = new Date(exp.expiresAt);
        $('export-expires').textContent = isNaN(expires) ? exp.expiresAt : shortTime.format(expires);
        if (!isNaN(expires)) $('export-expires').title = utcText(expires);
        const n = state.total;
        exportStatus('Your ' + format + ' export' + (n === null ? '' : ' of ' + plural(n, 'event', 'events')) +
          (isFiltered(state.filter) ? ' that match the filters' : '') + ' is downloading. Times in the file are in UTC.', true);
        document.body.dataset.export = exp.format;
        startDownload(url.href);
      } catch (e) {
        if (e.kind === 'unauthenticated') {
          showSignIn(true);
          show(app, false);
          return;
        }
        let text;
        if (e.kind === 'forbidden') text = 'The export could not be started: only admins can export the audit log.';
        else if (e.kind === 'business') text = 'The export could not be started: exports need the Business plan.';
        else if (e.kind === 'rate_limited') text = 'The export could not be started: too many requests. Try again in a moment.';
        else if (e.kind === 'network') text = 'The export could not be started: the server could not be reached. Check your connection and try again.';
        else text = 'The export could not be started. Refresh the page and try again; if it keeps failing, contact your administrator' +
          (e.requestId ? ' and quote request id ' + e.requestId : '') + '.';
        exportStatus(text, false, true);
      } finally {
        exportButton.disabled = !state.loaded;
      }
    }

    /** startDownload follows the signed URL; the server answers with an attachment. */
    function startDownload(href) {
      const a = document.createElement('a');
      a.href = href;
      a.setAttribute('download', '');
      a.rel = 'noopener noreferrer';
      a.hidden = true;
      document.body.append(a);
      a.click();
      a.remove();
    }

    // ---- workspaces and the session

    function fillWorkspaces() {
      const select = $('workspace');
      select.replaceChildren();
      for (const ws of state.workspaces) {
        const o = el('option', null, ws.name + ' — ' + (PLAN[ws.plan] || ws.plan) + ', ' + (ROLE[ws.viewerRole] || ws.viewerRole));
        o.value = ws.id;
        select.append(o);
      }
      select.value = state.workspaceId;
    }

    /** preferredWorkspace is the first one whose log the viewer can read. */
    function preferredWorkspace() {
      const ok = state.workspaces.find((w) => w.viewerRole === 'ADMIN' && w.plan === 'BUSINESS');
      return (ok || state.workspaces.find((w) => w.viewerRole === 'ADMIN') || state.workspaces[0]).id;
    }

    async function startSession() {
      show($('signin'), false);
      show($('loading-page'), true);
      document.body.dataset.state = 'signing-in';
      let data;
      try {
        data = await gql(VIEWER_QUERY, {});
      } catch (e) {
        show($('loading-page'), false);
        if (e.kind === 'unauthenticated') {
          showSignIn(true);
          return;
        }
        show(app, true);
        app.classList.add('no-session'); // no workspaces to pick or filter yet
        showError(e, 'Your workspaces', startSession);
        return;
      }
      show($('loading-page'), false);
      app.classList.remove('no-session');
      state.viewer = data.viewer;
      state.workspaces = data.workspaces || [];
      showSession(state.viewer);
      show(app, true);
      const fromURL = readURL();
      state.filter = fromURL.filter;
      filterToForm(state.filter);
      if (!state.workspaces.length) {
        show($('log-wrap'), false);
        $('workspace').disabled = true;
        setState('no-workspace');
        status.textContent = 'You are not a member of any workspace.';
        return;
      }
      const known = state.workspaces.some((w) => w.id === fromURL.workspaceId);
      state.workspaceId = known ? fromURL.workspaceId : preferredWorkspace();
      show($('workspace-note'), !!fromURL.workspaceId && !known);
      $('workspace-note').textContent = fromURL.workspaceId && !known
        ? 'The workspace in the link you opened is not one of your workspaces; showing another one.' : '';
      fillWorkspaces();
      writeURL(false);
      loadFirstPage();
    }

    function bindWorkspace() {
      $('workspace').addEventListener('change', (e) => {
        state.workspaceId = e.target.value;
        show($('workspace-note'), false);
        show($('export-status'), false);
        writeURL(true);
        loadFirstPage();
      });
    }

    window.addEventListener('popstate', () => {
      if (!state.viewer) return;
      const u = readURL();
      if (u.workspaceId && state.workspaces.some((w) => w.id === u.workspaceId)) {
        state.workspaceId = u.workspaceId;
        $('workspace').value = u.workspaceId;
      }
      state.filter = u.filter;
      filterToForm(u.filter);
      loadFirstPage();
    });

    $('retry').addEventListener('click', () => {
      const retry = state.retry || loadFirstPage;
      state.retry = null;
      retry();
    });
    $('load-more').addEventListener('click', loadMore);
    bindFilters();
    bindExport();
    bindWorkspace();
    signInUI(startSession);
    filterToForm(readURL().filter);

    // The hook of integrations.js (the Live toggle and the Integrations tab):
    // what it may use of this page. Live puts the events it receives on top
    // of the table with prependEvent, rendered like the page's own rows.
    function prependEvent(ev) {
      if (!state.loaded || Array.from(rowsBody.rows).some((tr) => tr.dataset.id === ev.id)) return null;
      const tr = renderRow(ev);
      rowsBody.prepend(tr);
      state.shown += 1;
      if (state.total !== null) state.total += 1;
      show($('log-wrap'), true);
      if (app.dataset.state !== 'ready') setState('ready');
      updateCounts();
      return tr;
    }
    window.auditLogPage = Object.freeze({
      token: () => session.token(),
      workspace: currentWorkspace,
      loaded: () => state.loaded,
      filter: () => apiFilter(state.filter), // as sent to the API, or null
      logQuery: LOG_QUERY,
      prependEvent,
      reload: loadFirstPage,
      signInAgain: () => { showSignIn(true); show(app, false); },
    });

    if (session.token()) startSession();
    else showSignIn(false);
  }

  // ====================================================== the invite page

  function invitePage() {
    const m = location.pathname.match(/^\/invite\/([^/]+)\/?$/);
    let inviteToken = '';
    try { inviteToken = m ? decodeURIComponent(m[1]) : ''; } catch (_) { inviteToken = ''; }

    function fail(title, text, e, retry) {
      $('invite-error-title').textContent = title;
      $('invite-error-text').textContent = text;
      $('error-request-id').textContent = (e && e.requestId) || '';
      show($('error-request'), !!(e && e.requestId));
      show($('invite-error'), true);
      const again = $('invite-retry');
      show(again, !!retry);
      again.onclick = retry || null;
      document.body.dataset.state = 'error';
    }

    async function accept() {
      const button = $('accept-invite');
      button.disabled = true;
      show($('invite-error'), false);
      $('invite-status').textContent = 'Accepting the invite…';
      let data;
      try {
        data = await gql(ACCEPT_MUTATION, { token: inviteToken });
      } catch (e) {
        button.disabled = false;
        $('invite-status').textContent = '';
        switch (e.kind) {
          case 'unauthenticated':
            show($('invite'), false);
            showSignIn(true);
            return;
          case 'not_found':
            fail('This invite is not valid any more', 'It may have expired, been deleted by an admin, or already been used. Ask an admin of the workspace for a new invite.', e);
            return;
          case 'forbidden':
            fail('This invite is for someone else', 'The invite was sent to another email address, or your email address is not verified. Sign in with the account the invite was sent to.', e);
            return;
          case 'rate_limited':
            fail('Too many attempts', 'Wait ' + (e.retryAfter ? plural(e.retryAfter, 'second', 'seconds') : 'a minute') + ', then try again.', e, accept);
            return;
          default: {
            const [title, text] = errorText(e, 'The invite');
            fail(title === 'The invite could not be loaded' ? 'The invite could not be accepted' : title, text, e, accept);
          }
        }
        return;
      }
      const mship = data.acceptInvite;
      show($('invite'), false);
      $('invite-done-title').textContent = 'You joined “' + mship.workspace.name + '”';
      $('invite-done-text').textContent = 'You are a' + (mship.role === 'ADMIN' ? 'n Admin' : ' Member') + ' of “' + mship.workspace.name + '”.';
      const link = $('invite-done-link');
      link.href = '/audit-log?workspace=' + encodeURIComponent(mship.workspace.id);
      show(link.parentElement, mship.role === 'ADMIN');
      show($('invite-done'), true);
      document.body.dataset.state = 'accepted';
      $('invite-done').tabIndex = -1;
      $('invite-done').focus();
    }

    async function startSession() {
      show($('signin'), false);
      show($('loading-page'), true);
      let data;
      try {
        data = await gql('query InviteViewer { viewer { id email } }', {});
      } catch (e) {
        show($('loading-page'), false);
        if (e.kind === 'unauthenticated') {
          showSignIn(true);
          return;
        }
        const [title, text] = errorText(e, 'Your account');
        fail(title, text, e, () => { show($('invite-error'), false); startSession(); });
        return;
      }
      show($('loading-page'), false);
      showSession(data.viewer);
      show($('invite'), true);
      document.body.dataset.state = 'ready';
    }

    signInUI(startSession);
    $('accept-invite').addEventListener('click', accept);
    if (!inviteToken) {
      show($('loading-page'), false);
      fail('This invite link is incomplete', 'Open the whole link from the invitation you received.', null);
      return;
    }
    if (session.token()) startSession();
    else showSignIn(false);
  }

  // ----------------------------------------------------------------- boot

  function boot() {
    takeTokenFromFragment();
    // A #token= link opened in this tab later (same page, new fragment)
    // signs in again with that token.
    window.addEventListener('hashchange', () => {
      if (!new URLSearchParams(location.hash.slice(1)).has('token')) return;
      takeTokenFromFragment();
      location.reload();
    });
    if (document.body.dataset.page === 'invite') invitePage();
    else auditLogPage();
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', boot);
  else boot();
})();
