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
    'API_KEY_CREATED', 'API_KEY_REVOKED', 'LOG_STREAM_CREATED', 'LOG_STREAM_DELETED', 'TRUSTED_DOMAINS_UPDATED',
  ];
  // The flags (docs/API.md §14), in the enum's order, with their names in
  // the filter and on a flagged row.
  const FLAGS = ['EXTERNAL_DOMAIN', 'ADMIN_GRANTED', 'BURST', 'NEW_LOCATION'];
  const FLAG_NAME = {
    EXTERNAL_DOMAIN: 'Outside your trusted domains',
    ADMIN_GRANTED: 'ADMIN role given',
    BURST: 'Burst of changes',
    NEW_LOCATION: 'New network',
  };
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
      previousRole role ipAddress userAgent requestId flags
    }
    pageInfo { hasNextPage endCursor }
  }
}`;

  // The summary strip: the last seven days, from local midnight six days ago.
  const WEEK_QUERY = `query AuditLogWeek($workspaceId: ID!, $since: Time) {
  auditLogSummary(workspaceId: $workspaceId, since: $since) {
    since until total
    byAction { action count }
    byFlag { flag count }
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
      case 'API_KEY_CREATED':
        return label ? ['created the API key ', { em: label }] : ['created an API key'];
      case 'API_KEY_REVOKED':
        return label ? ['revoked the API key ', { em: label }] : ['revoked an API key'];
      case 'LOG_STREAM_CREATED':
        return label ? ['added a log stream to ', { em: label }] : ['added a log stream'];
      case 'LOG_STREAM_DELETED':
        return label ? ['deleted the log stream to ', { em: label }] : ['deleted a log stream'];
      case 'TRUSTED_DOMAINS_UPDATED':
        // The label is the new list, canonical and comma-separated; empty when cleared.
        return label ? ['set the trusted domains to ', { em: label.split(',').map(displayDomain).join(', ') }]
          : ['cleared the trusted domains (the admins’ domains are trusted again)'];
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

  function targetText(t, action) {
    if (!t) return '—';
    switch (t.type) {
      case 'USER': return t.label || t.id;
      case 'INVITE_LINK': return t.label ? t.label + ' (email invite)' : 'Public invite link';
      case 'EXPORT': return t.label ? t.label + ' export' : 'Export';
      case 'WORKSPACE': return action === 'TRUSTED_DOMAINS_UPDATED' ? 'Trusted domains' : t.label || 'Workspace';
      case 'API_KEY': return t.label ? t.label + ' (API key)' : 'API key';
      case 'LOG_STREAM': return t.label ? t.label + ' (log stream)' : 'Log stream';
      default: return t.label || t.id;
    }
  }

  // ------------------------------------------------- why an event is flagged
  //
  // The reasons beside a flagged row, worded exactly as the server's
  // internal/insight/reason.go words them (Reason, DetailsOfEvent): a
  // browser test runs both over the same cases. The details come from the
  // event's own fields: the person's email domain (canonical: IDNA A-label,
  // lower case), the actor's network (IPv4 /24, IPv6 /64).

  const BURST_THRESHOLD = 10;
  const PERSON_ACTIONS_BY_TARGET = ['EMAIL_INVITE_CREATED', 'MEMBER_ADDED'];
  const PERSON_ACTIONS_BY_ACTOR = ['EMAIL_INVITE_ACCEPTED', 'PUBLIC_INVITE_LINK_ACCEPTED'];

  /** personEmail is the email of the person an event invites, adds or admits ('' if none). */
  function personEmail(action, targetLabel, actorEmail) {
    let e = '';
    if (PERSON_ACTIONS_BY_TARGET.includes(action)) e = targetLabel || '';
    else if (PERSON_ACTIONS_BY_ACTOR.includes(action)) e = actorEmail || '';
    return e.includes('@') ? e : '';
  }

  /** parseIPv4 is the four octets of a dotted IPv4 address (no leading zeros), or null. */
  function parseIPv4(s) {
    const parts = s.split('.');
    if (parts.length !== 4) return null;
    const out = [];
    for (const p of parts) {
      if (!/^(0|[1-9][0-9]{0,2})$/.test(p) || Number(p) > 255) return null;
      out.push(Number(p));
    }
    return out;
  }

  /** parseIPv6 is the eight 16-bit groups of an IPv6 address (a zone is dropped), or null. */
  function parseIPv6(s) {
    const zone = s.indexOf('%');
    if (zone >= 0) {
      if (zone === s.length - 1) return null;
      s = s.slice(0, zone);
    }
    let tail = [];
    const lastColon = s.lastIndexOf(':');
    if (lastColon < 0) return null;
    if (s.slice(lastColon + 1).includes('.')) { // an IPv4 address in the last 32 bits
      const v4 = parseIPv4(s.slice(lastColon + 1));
      if (!v4) return null;
      tail = [(v4[0] << 8) | v4[1], (v4[2] << 8) | v4[3]];
      s = s.slice(0, lastColon + 1);
      if (!s.endsWith('::')) s = s.slice(0, -1);
    }
    const halves = s.split('::');
    if (halves.length > 2) return null;
    const groups = (h) => (h === '' ? [] : h.split(':'));
    const head = groups(halves[0]);
    const rest = halves.length === 2 ? groups(halves[1]) : [];
    for (const g of head.concat(rest)) if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return null;
    const known = head.length + rest.length + tail.length;
    if (halves.length === 2 ? known > 7 : known !== 8) return null;
    const zeros = halves.length === 2 ? 8 - known : 0;
    return head.map((g) => parseInt(g, 16)).concat(new Array(zeros).fill(0), rest.map((g) => parseInt(g, 16)), tail);
  }

  /** formatIPv6 writes eight groups as Go's netip does (RFC 5952): the first longest run of two or more zero groups is "::". */
  function formatIPv6(g) {
    let start = -1;
    let len = 0;
    for (let i = 0; i < 8; i++) {
      let j = i;
      while (j < 8 && g[j] === 0) j++;
      if (j - i >= 2 && j - i > len) { start = i; len = j - i; }
      if (j > i) i = j - 1;
    }
    const hex = (a) => a.map((x) => x.toString(16)).join(':');
    if (start < 0) return hex(g);
    return hex(g.slice(0, start)) + '::' + hex(g.slice(start + len));
  }

  /** networkOf is the network (IPv4 /24, IPv6 /64) of an address, as Go's insight.ParseNetwork writes it, or ''. */
  function networkOf(ip) {
    const s = String(ip || '');
    const v4 = parseIPv4(s);
    if (v4) return v4[0] + '.' + v4[1] + '.' + v4[2] + '.0/24';
    const v6 = parseIPv6(s);
    if (!v6) return '';
    if (v6.slice(0, 5).every((x) => x === 0) && v6[5] === 0xffff) { // IPv4-mapped: the IPv4 network
      return (v6[6] >> 8) + '.' + (v6[6] & 255) + '.' + (v6[7] >> 8) + '.0/24';
    }
    return formatIPv6(v6.slice(0, 4).concat([0, 0, 0, 0])) + '/64';
  }

  /** canonicalDomain is a domain name in the form the server compares (IDNA A-label, lower case, no trailing dot), or ''. */
  function canonicalDomain(s) {
    // What the server's IDNA (UTS 46 with STD3 rules) refuses in ASCII, and addresses.
    if (/[\x00-\x2c\x2f\x3a-\x40\x5b-\x60\x7b-\x7f]/.test(s) || parseIPv4(s) || parseIPv6(s)) return '';
    let a;
    try { a = new URL('http://' + s + '/').hostname; } catch (_) { return ''; }
    a = a.toLowerCase().replace(/\.$/, '');
    if (!a || a.length > 253) return '';
    const labels = a.split('.');
    for (const l of labels) {
      if (!l || l.length > 63 || !/^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/.test(l)) return '';
    }
    return /^[0-9]+$/.test(labels[labels.length - 1]) ? '' : a;
  }

  /** emailDomain is the canonical domain of an email address, or ''. */
  function emailDomain(email) {
    const i = email.lastIndexOf('@');
    return i < 0 ? '' : canonicalDomain(email.slice(i + 1));
  }

  /** punycodeDecode decodes one label's punycode (RFC 3492, without "xn--"), or returns null. */
  function punycodeDecode(input) {
    const base = 36;
    const tMin = 1;
    const tMax = 26;
    const adapt = (delta, points, first) => {
      delta = first ? Math.floor(delta / 700) : delta >> 1;
      delta += Math.floor(delta / points);
      let k = 0;
      for (; delta > ((base - tMin) * tMax) >> 1; k += base) delta = Math.floor(delta / (base - tMin));
      return k + Math.floor(((base - tMin + 1) * delta) / (delta + 38));
    };
    const digit = (c) => (c >= 48 && c <= 57 ? c - 22 : c >= 65 && c <= 90 ? c - 65 : c >= 97 && c <= 122 ? c - 97 : base);
    const out = [];
    const b = Math.max(input.lastIndexOf('-'), 0);
    for (let j = 0; j < b; j++) {
      if (input.charCodeAt(j) >= 0x80) return null;
      out.push(input.charCodeAt(j));
    }
    let n = 128;
    let i = 0;
    let bias = 72;
    for (let idx = b > 0 ? b + 1 : 0; idx < input.length;) {
      const old = i;
      for (let w = 1, k = base; ; k += base) {
        if (idx >= input.length) return null;
        const d = digit(input.charCodeAt(idx++));
        if (d >= base) return null;
        i += d * w;
        const t = k <= bias ? tMin : k >= bias + tMax ? tMax : k - bias;
        if (d < t) break;
        w *= base - t;
        if (w > 0x10FFFF * 64) return null;
      }
      bias = adapt(i - old, out.length + 1, old === 0);
      n += Math.floor(i / (out.length + 1));
      i %= out.length + 1;
      if (n > 0x10FFFF) return null;
      out.splice(i++, 0, n);
    }
    return String.fromCodePoint(...out);
  }

  /**
   * displayDomain is a canonical domain for people, as Go's
   * insight.DisplayDomain: as is when plain ASCII, else with its Unicode
   * form beside it — "xn--bcher-kva.de (bücher.de)".
   */
  function displayDomain(d) {
    const wildcard = d.startsWith('*.');
    const base = wildcard ? d.slice(2) : d;
    if (!base.includes('xn--')) return d;
    const labels = [];
    for (const l of base.split('.')) {
      const u = l.startsWith('xn--') ? punycodeDecode(l.slice(4)) : l;
      if (u === null) return d;
      labels.push(u);
    }
    const u = labels.join('.');
    try {
      if (u === base || new URL('http://' + u + '/').hostname !== base) return d; // not a valid IDNA label
    } catch (_) {
      return d;
    }
    return d + ' (' + (wildcard ? '*.' : '') + u + ')';
  }

  /** ordinal is n in English: 1st, 2nd, 3rd, 4th, 11th, 12th, 13th, 21st, …. */
  function ordinal(n) {
    let suffix = 'th';
    if (![11, 12, 13].includes(n % 100)) suffix = { 1: 'st', 2: 'nd', 3: 'rd' }[n % 10] || 'th';
    return n + suffix;
  }

  /** flagDetails are what the reasons of a stored event mention (Go's DetailsOfEvent). */
  function flagDetails(action, targetLabel, actorEmail, ipAddress) {
    const email = personEmail(action, targetLabel, actorEmail);
    return { action, domain: email ? emailDomain(email) : '', burstCount: 0, network: networkOf(ipAddress) };
  }

  /** flagReason is the plain-English reason for one flag (Go's insight.Reason). */
  function flagReason(flag, d) {
    switch (flag) {
      case 'EXTERNAL_DOMAIN': {
        const shown = d.domain ? displayDomain(d.domain) : '';
        const from = shown ? 'someone from ' + shown + ', outside your trusted domains' : 'someone from outside your trusted domains';
        switch (d.action) {
          case 'EMAIL_INVITE_CREATED':
            return 'invited ' + from;
          case 'EMAIL_INVITE_ACCEPTED':
          case 'PUBLIC_INVITE_LINK_ACCEPTED':
            return shown ? 'someone from ' + shown + ' accepted an invite, outside your trusted domains'
              : 'someone from outside your trusted domains accepted an invite';
          default:
            return 'added ' + from;
        }
      }
      case 'ADMIN_GRANTED':
        return 'gave the ADMIN role';
      case 'BURST':
        return d.burstCount >= BURST_THRESHOLD ? ordinal(d.burstCount) + ' change by this person within 10 minutes'
          : ordinal(BURST_THRESHOLD) + ' or later change by this person within 10 minutes';
      case 'NEW_LOCATION':
        return d.network ? 'acted from a new network (' + d.network + ')' : 'acted from a new network';
      default:
        return String(flag);
    }
  }

  /** flagsWithReasons are an event's flags in the enum's order, each with its reason: [{flag, reason}]. */
  function flagsWithReasons(ev) {
    const flags = Array.isArray(ev.flags) ? ev.flags : [];
    if (!flags.length) return [];
    const d = flagDetails(ev.action, ev.target && ev.target.label, ev.actor && ev.actor.email, ev.ipAddress);
    return FLAGS.filter((f) => flags.includes(f)).concat(flags.filter((f) => !FLAGS.includes(f)))
      .map((flag) => ({ flag, reason: flagReason(flag, d) }));
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
    const flagFilter = $('flag-filter');

    function emptyFilter() {
      return { actions: [], flags: [], actor: '', target: '', from: '', to: '' };
    }

    function sameFilter(a, b) {
      return a.actions.join(',') === b.actions.join(',') && a.flags.join(',') === b.flags.join(',') && a.actor === b.actor &&
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
      const flags = new Set((q.get('flags') || '').split(',').map((s) => s.trim()));
      return {
        workspaceId: q.get('workspace') || '',
        filter: {
          actions: ACTIONS.filter((a) => wanted.has(a)),
          flags: FLAGS.filter((f) => flags.has(f)),
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
      if (state.filter.flags.length) parts.push('flags=' + state.filter.flags.join(','));
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
      for (const box of document.querySelectorAll('#filters input[name="flag"]')) {
        box.checked = f.flags.includes(box.value);
      }
      $('filter-actor').value = f.actor;
      $('filter-target').value = f.target;
      $('filter-from').value = f.from;
      $('filter-to').value = f.to;
      updateActionSummary();
      updateFlagSummary();
    }

    function formToFilter() {
      const actions = [];
      for (const box of document.querySelectorAll('#filters input[name="action"]')) {
        if (box.checked) actions.push(box.value);
      }
      const flags = Array.from(document.querySelectorAll('#filters input[name="flag"]:checked')).map((b) => b.value);
      return {
        actions: ACTIONS.filter((a) => actions.includes(a)),
        flags: FLAGS.filter((f) => flags.includes(f)),
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

    /** updateFlagSummary shows the flags filter in words, and "Needs a look" as pressed when it asks for every flag. */
    function updateFlagSummary() {
      const checked = Array.from(document.querySelectorAll('#filters input[name="flag"]:checked')).map((b) => b.value);
      let text = 'Any event';
      if (checked.length === FLAGS.length) text = 'Any reason';
      else if (checked.length === 1) text = FLAG_NAME[checked[0]];
      else if (checked.length > 1) text = checked.length + ' reasons';
      $('flag-summary').textContent = text;
      $('needs-look').setAttribute('aria-pressed', checked.length === FLAGS.length ? 'true' : 'false');
    }

    /** apiFilter turns the page's filter into an AuditLogFilter (or null). */
    function apiFilter(f) {
      const out = {};
      if (f.actions.length) out.actions = f.actions;
      if (f.flags.length) out.flags = f.flags;
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
        if (t.name === 'action' || t.name === 'flag') {
          updateActionSummary();
          updateFlagSummary();
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
        flagFilter.open = false;
        applyFilters();
      };
      // "Needs a look": every flag, at once; pressed again, none.
      $('needs-look').addEventListener('click', () => {
        clearTimeout(checkboxTimer);
        const on = $('needs-look').getAttribute('aria-pressed') !== 'true';
        for (const box of document.querySelectorAll('#filters input[name="flag"]')) box.checked = on;
        updateFlagSummary();
        applyFilters();
      });
      $('clear-filters').addEventListener('click', clear);
      $('state-clear-filters').addEventListener('click', () => { clear(); $('filter-actor').focus(); });
      // The action and reason lists close on Escape and on a click elsewhere.
      for (const list of [actionFilter, flagFilter]) {
        list.addEventListener('keydown', (e) => {
          if (e.key === 'Escape' && list.open) {
            list.open = false;
            list.querySelector('summary').focus();
          }
        });
        document.addEventListener('click', (e) => {
          if (list.open && !list.contains(e.target)) list.open = false;
        });
      }
    }

    // ---- the states

    const STATES = ['state-empty', 'state-no-match', 'state-forbidden', 'state-business', 'state-no-workspace', 'state-error'];

    /** setState shows one state panel (or none) and records it on #app. */
    function setState(name) {
      for (const id of STATES) show($(id), id === 'state-' + name);
      if (['forbidden', 'business', 'no-workspace'].includes(name)) {
        week.seq++;
        week.workspace = '';
        show($('week'), false);
      }
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
      flagFilter.open = false;
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
      const actionNodes = [sentence];
      const reasons = flagsWithReasons(ev);
      if (reasons.length) {
        // A flagged row: a marked edge (CSS) and, under the action, why it deserves a look.
        tr.classList.add('is-flagged');
        tr.dataset.flags = reasons.map((r) => r.flag).join(' ');
        const note = el('div', 'flag-note');
        note.append(el('span', 'flag-badge', 'Needs a look'));
        const list = el('ul', 'flag-reasons');
        for (const r of reasons) {
          const li = el('li', null, r.reason);
          li.dataset.flag = r.flag;
          li.title = FLAG_NAME[r.flag] || r.flag;
          list.append(li);
        }
        note.append(list);
        actionNodes.push(note);
      }
      const tdAction = cell('Action', 'col-action', ...actionNodes);

      const target = el('span', 'target', targetText(ev.target, ev.action));
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

    // ---- the summary strip: this week's counts, each a shortcut to its filter

    // workspace and at: whose counts the strip shows, and since when (ms); a
    // new first page of the same workspace within a minute keeps them.
    const week = { seq: 0, timer: 0, workspace: '', at: 0 };
    const WEEK_FRESH_MS = 60000;
    const weekDay = new Intl.DateTimeFormat(undefined, { weekday: 'short', month: 'short', day: 'numeric' });

    /** weekStartDay is local midnight six days ago (YYYY-MM-DD): "this week" is it and the six days since, today included. */
    function weekStartDay() {
      const d = new Date();
      d.setDate(d.getDate() - 6);
      return d.getFullYear() + '-' + String(d.getMonth() + 1).padStart(2, '0') + '-' + String(d.getDate()).padStart(2, '0');
    }

    // The strip's items: what they count, how they say it, and the filter a click applies (with From: the week's first day).
    const WEEK_ITEMS = [
      { key: 'MEMBER_ADDED', of: 'action', one: 'member added', many: 'members added', filter: { actions: ['MEMBER_ADDED'] },
        title: 'People added to the workspace, by an admin or by accepting an invite' },
      { key: 'EXTERNAL_DOMAIN', of: 'flag', one: 'from outside your domains', many: 'from outside your domains', filter: { flags: ['EXTERNAL_DOMAIN'] },
        title: 'Events that invited, added or admitted someone whose email domain is not one of your trusted domains' },
      { key: 'ADMIN_GRANTED', of: 'flag', one: 'admin grant', many: 'admin grants', filter: { flags: ['ADMIN_GRANTED'] },
        title: 'Events that gave someone the ADMIN role' },
      { key: 'BURST', of: 'flag', optional: true, one: 'change in a burst', many: 'changes in bursts', filter: { flags: ['BURST'] },
        title: 'A person’s 10th or later change to the team within 10 minutes' },
      { key: 'NEW_LOCATION', of: 'flag', optional: true, one: 'from a new network', many: 'from a new network', filter: { flags: ['NEW_LOCATION'] },
        title: 'Events by someone acting from a network they had not used here before' },
    ];

    /** loadWeek fetches the strip's counts; it hides itself where the log cannot be read, and on any failure (the log says why). */
    async function loadWeek() {
      clearTimeout(week.timer);
      const ws = currentWorkspace();
      const strip = $('week');
      const my = ++week.seq;
      week.workspace = '';
      if (!ws || ws.viewerRole !== 'ADMIN' || ws.plan !== 'BUSINESS') {
        show(strip, false);
        return;
      }
      if (strip.dataset.workspace !== ws.id) show(strip, false); // not another workspace's numbers meanwhile
      const from = weekStartDay();
      let data;
      try {
        data = await gql(WEEK_QUERY, { workspaceId: ws.id, since: localDay(from).toISOString() });
      } catch (_) {
        if (my === week.seq) show(strip, false);
        return;
      }
      if (my !== week.seq) return;
      if (!data.auditLogSummary) {
        show(strip, false);
        return;
      }
      renderWeek(data.auditLogSummary, from);
      strip.dataset.workspace = ws.id;
      week.workspace = ws.id;
      week.at = Date.now();
    }

    /** refreshWeekSoon updates the strip a moment after a live event (several events, one request). */
    function refreshWeekSoon() {
      clearTimeout(week.timer);
      week.timer = setTimeout(loadWeek, 1500);
    }

    function renderWeek(sum, from) {
      const strip = $('week');
      const counts = {};
      for (const c of sum.byAction || []) counts['action:' + c.action] = c.count;
      for (const c of sum.byFlag || []) counts['flag:' + c.flag] = c.count;
      strip.dataset.since = sum.since;
      strip.dataset.from = from;
      $('week-range').textContent = 'since ' + weekDay.format(localDay(from)) + ' · ' + plural(sum.total, 'event', 'events') + ' in all';
      const list = $('week-items');
      // The same numbers again: leave the buttons (and the focus on one) alone.
      const shown = JSON.stringify([from, sum.total, WEEK_ITEMS.map((item) => counts[item.of + ':' + item.key] || 0)]);
      if (list.dataset.shown === shown && list.children.length) {
        show(strip, true);
        return;
      }
      list.dataset.shown = shown;
      const focused = list.contains(document.activeElement) ? document.activeElement.dataset.key : '';
      list.replaceChildren();
      for (const item of WEEK_ITEMS) {
        const n = counts[item.of + ':' + item.key] || 0;
        if (item.optional && !n) continue;
        const button = el('button', 'week-item' + (item.of === 'flag' && n ? ' is-flagged' : ''));
        button.type = 'button';
        button.dataset.key = item.key;
        button.dataset.count = String(n);
        button.title = item.title + '. Show them.';
        button.append(el('strong', 'week-n', n.toLocaleString()), document.createTextNode(' ' + (n === 1 ? item.one : item.many)));
        button.addEventListener('click', () => {
          clearTimeout(checkboxTimer);
          actionFilter.open = false;
          flagFilter.open = false;
          state.filter = Object.assign(emptyFilter(), { from }, JSON.parse(JSON.stringify(item.filter)));
          filterToForm(state.filter);
          show($('filter-error'), false);
          writeURL(true);
          loadFirstPage();
        });
        const li = el('li');
        li.append(button);
        list.append(li);
        if (item.key === focused) button.focus();
      }
      show(strip, true);
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
      if (week.workspace !== ws.id || Date.now() - week.at > WEEK_FRESH_MS) loadWeek();
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
      refreshWeekSoon();
      return tr;
    }
    window.auditLogPage = Object.freeze({
      token: () => session.token(),
      workspace: currentWorkspace,
      loaded: () => state.loaded,
      filter: () => apiFilter(state.filter), // as sent to the API, or null
      logQuery: LOG_QUERY,
      prependEvent,
      reload: () => {
        week.at = 0; // the strip too: the caller knows the log changed
        loadFirstPage();
      },
      // The reasons beside a flagged row, and domains as people read them (xn--… with the Unicode form).
      flagReasons: (ev) => flagsWithReasons(ev).map((r) => r.reason),
      displayDomain,
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
