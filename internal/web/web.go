// Package web serves the admin's Audit Log page: a plain HTML page, its
// stylesheets and scripts (audit-log.*, and integrations.* for the Live
// toggle and the Integrations and Settings tabs), embedded in the binary,
// that talk to the GraphQL API of the same origin. It also serves the page behind invite URLs
// (/invite/{token}), where a signed-in user accepts an invite.
//
// The pages carry a strict Content-Security-Policy (scripts, styles and
// requests from the page's own origin only; no inline code) and the assets are
// fingerprinted so that browsers may cache them for a year.
package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
)

// ContentSecurityPolicy is sent with the pages: nothing but the page's own
// scripts, styles and API; no framing, no forms posting anywhere. connect-src
// 'self' also covers the Live toggle's websocket to the same host (ws: or
// wss:, as CSP Level 3 has it: Chrome 71+, Firefox, Safari 16+).
const ContentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; " +
	"img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// Paths the package serves.
const (
	// PagePath is the Audit Log page.
	PagePath = "/audit-log"
	// AssetsPath is the prefix of the page's stylesheet and script.
	AssetsPath = PagePath + "/assets/"
	// InvitePath is the prefix of invite URLs; the token follows it.
	InvitePath = "/invite/"
)

// Cache-Control values: pages are revalidated each time (they are tiny and
// name the current assets); an asset requested with its current fingerprint
// never changes.
const (
	cachePage      = "no-cache"
	cacheImmutable = "public, max-age=31536000, immutable"
	cacheAsset     = "public, max-age=300"
)

//go:embed static
var static embed.FS

// file is one embedded file, ready to serve.
type file struct {
	name        string
	contentType string
	body        []byte
	etag        string
	version     string // first bytes of the content hash, for ?v=
}

// Site holds the embedded files. Its zero value is not usable; use New.
type Site struct {
	assets     map[string]*file
	auditLog   *file
	invitePage *file
}

// New loads the embedded files, fingerprints the assets and points the pages
// at the fingerprinted URLs.
func New() *Site {
	s := &Site{assets: map[string]*file{}}
	for _, name := range []string{"audit-log.css", "audit-log.js", "integrations.css", "integrations.js"} {
		s.assets[name] = load(name)
	}
	s.auditLog = s.page("audit-log.html")
	s.invitePage = s.page("invite.html")
	return s
}

// load reads an embedded file; the files are part of the binary, so a missing
// one is a build error and panics.
func load(name string) *file {
	b, err := fs.ReadFile(static, "static/"+name)
	if err != nil {
		panic("web: embedded file missing: " + name)
	}
	sum := sha256.Sum256(b)
	h := hex.EncodeToString(sum[:])
	return &file{name: name, contentType: contentType(name), body: b, etag: `"` + h[:32] + `"`, version: h[:12]}
}

// page loads an HTML page and rewrites its asset URLs to carry the assets'
// fingerprints.
func (s *Site) page(name string) *file {
	f := load(name)
	body := f.body
	for assetName, a := range s.assets {
		ref := []byte(`"` + AssetsPath + assetName + `"`)
		body = bytes.ReplaceAll(body, ref, []byte(`"`+AssetsPath+assetName+"?v="+a.version+`"`))
	}
	sum := sha256.Sum256(body)
	f.body = body
	f.etag = `"` + hex.EncodeToString(sum[:16]) + `"`
	return f
}

func contentType(name string) string {
	switch path.Ext(name) {
	case ".html":
		return "text/html; charset=utf-8"
	case ".css":
		return "text/css; charset=utf-8"
	case ".js":
		return "text/javascript; charset=utf-8"
	}
	return "application/octet-stream"
}

// Mount adds the routes of the site to r: GET and HEAD of /audit-log, of
// /audit-log/assets/{name} and of /invite/{token}.
func (s *Site) Mount(r chi.Router) {
	for _, m := range []string{http.MethodGet, http.MethodHead} {
		r.Method(m, PagePath, http.HandlerFunc(s.serveAuditLog))
		r.Method(m, PagePath+"/", http.HandlerFunc(redirectToPage))
		r.Method(m, AssetsPath+"{name}", http.HandlerFunc(s.serveAsset))
		r.Method(m, InvitePath+"{token}", http.HandlerFunc(s.serveInvite))
	}
}

// Handler returns the site as a handler of its own, for tests and for
// mounting outside a chi router.
func (s *Site) Handler() http.Handler {
	r := chi.NewRouter()
	s.Mount(r)
	return r
}

func (s *Site) serveAuditLog(w http.ResponseWriter, r *http.Request) {
	s.servePage(w, r, s.auditLog)
}

// serveInvite answers every invite URL with the same static page: the page's
// script reads the token from the address bar, so the token is never looked
// at, logged or echoed here.
func (s *Site) serveInvite(w http.ResponseWriter, r *http.Request) {
	s.servePage(w, r, s.invitePage)
}

func (s *Site) servePage(w http.ResponseWriter, r *http.Request, f *file) {
	h := w.Header()
	h.Set("Content-Security-Policy", ContentSecurityPolicy)
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
	h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=()")
	h.Set("Cache-Control", cachePage)
	s.serve(w, r, f)
}

func (s *Site) serveAsset(w http.ResponseWriter, r *http.Request) {
	f, ok := s.assets[chi.URLParam(r, "name")]
	if !ok {
		http.Error(w, "not found", http.StatusNotFound)
		return
	}
	h := w.Header()
	switch v := r.URL.Query().Get("v"); v {
	case f.version:
		h.Set("Cache-Control", cacheImmutable)
	case "":
		h.Set("Cache-Control", cacheAsset)
	default:
		// An old fingerprint: serve the current file, but let nobody keep it.
		h.Set("Cache-Control", "no-cache")
	}
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
	s.serve(w, r, f)
}

// serve writes f with its type and ETag; http.ServeContent answers
// conditional (If-None-Match), range and HEAD requests. The files have no
// modification time: the ETag is the validator.
func (s *Site) serve(w http.ResponseWriter, r *http.Request, f *file) {
	h := w.Header()
	h.Set("Content-Type", f.contentType)
	h.Set("ETag", f.etag)
	http.ServeContent(w, r, f.name, time.Time{}, bytes.NewReader(f.body))
}

// redirectToPage sends /audit-log/ to /audit-log, keeping the query.
func redirectToPage(w http.ResponseWriter, r *http.Request) {
	target := PagePath
	if q := r.URL.RawQuery; q != "" {
		target += "?" + q
	}
	http.Redirect(w, r, target, http.StatusMovedPermanently)
}

// AssetURL returns the fingerprinted URL of an asset ("audit-log.js"), or ""
// when there is no such asset.
func (s *Site) AssetURL(name string) string {
	f, ok := s.assets[strings.TrimPrefix(name, AssetsPath)]
	if !ok {
		return ""
	}
	return AssetsPath + f.name + "?v=" + f.version
}
