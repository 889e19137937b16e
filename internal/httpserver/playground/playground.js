// The GraphQL Playground's loader. It loads React, ReactDOM and GraphiQL —
// from the CDN, or from this server when AUDITLOG_PLAYGROUND_ASSETS is set —
// each pinned by its Subresource Integrity hash, and renders GraphiQL against
// /graphql. If any of them cannot load (no network, a blocked CDN, a file that
// is not the pinned one) or loading takes too long, it says so and says what
// to do, instead of leaving "Loading…" on the screen.
(function () {
  'use strict';
  var root = document.getElementById('graphiql');
  var config = JSON.parse(root.getAttribute('data-config'));
  var endpoint = window.location.origin + '/graphql';
  var done = false;

  function fail(reason) {
    if (done) return;
    done = true;
    document.getElementById('playground-reason').textContent = reason;
    document.getElementById('playground-endpoint').textContent = endpoint;
    root.hidden = true;
    document.getElementById('playground-offline').hidden = false;
    document.title = 'auditlogd · GraphQL Playground could not load';
  }

  var timer = window.setTimeout(function () {
    fail('GraphiQL did not finish loading from ' + config.source + ' within ' + config.timeoutSeconds +
      ' seconds; the network may be closed or the site blocked.');
  }, config.timeoutSeconds * 1000);

  function element(tag, asset) {
    var el = document.createElement(tag);
    el.crossOrigin = 'anonymous';
    el.integrity = asset.integrity;
    el.onerror = function () {
      window.clearTimeout(timer);
      fail('Could not load ' + asset.name + ' from ' + asset.url + ' (no network, a blocked site, or a file ' +
        'that is not the pinned release).');
    };
    return el;
  }

  var css = element('link', config.css);
  css.rel = 'stylesheet';
  css.href = config.css.url;
  document.head.appendChild(css);

  function load(i) {
    if (done) return;
    if (i === config.scripts.length) {
      start();
      return;
    }
    var s = element('script', config.scripts[i]);
    s.src = config.scripts[i].url;
    s.onload = function () { load(i + 1); };
    document.head.appendChild(s);
  }

  function start() {
    window.clearTimeout(timer);
    if (done) return;
    try {
      var fetcher = window.GraphiQL.createFetcher({ url: endpoint });
      var app = window.React.createElement(window.GraphiQL, {
        fetcher: fetcher,
        // Bearer tokens typed into the headers editor are not kept in
        // localStorage (the Audit Log page shares this origin).
        shouldPersistHeaders: false,
        isHeadersEditorEnabled: true,
        inputValueDeprecation: true,
        defaultHeaders: '{\n  "Authorization": "Bearer <token>"\n}',
        defaultQuery: '# Paste a bearer token in the Headers tab below, then run:\n{\n  viewer { id email name }\n  workspaces { id name plan viewerRole }\n}\n'
      });
      if (window.ReactDOM.createRoot) {
        window.ReactDOM.createRoot(root).render(app);
      } else {
        window.ReactDOM.render(app, root);
      }
      done = true;
    } catch (e) {
      fail('GraphiQL loaded but could not start: ' + e);
    }
  }

  load(0);
})();
