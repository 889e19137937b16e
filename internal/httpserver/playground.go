package httpserver

import (
	"bytes"
	"crypto/sha256"
	"crypto/sha512"
	"embed"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// GraphiQL's release, pinned: the Playground loads exactly these files (the
// versions gqlgen's own playground uses), from the CDN or from
// AUDITLOG_PLAYGROUND_ASSETS, and the browser refuses any other bytes
// (Subresource Integrity).
const (
	GraphiQLVersion = "4.1.2"
	ReactVersion    = "18.2.0"
	playgroundCDN   = "https://cdn.jsdelivr.net/npm/"
	// playgroundTimeout is how long the page waits for GraphiQL before it
	// says that it cannot load.
	playgroundTimeout = 20 * time.Second
)

// playgroundAsset is one pinned file of GraphiQL's release, by its npm
// package and its path inside it (AUDITLOG_PLAYGROUND_ASSETS holds it at
// <package>/<path>, as npm's node_modules does).
type playgroundAsset struct {
	Name      string // what the page calls it when it cannot load it
	Package   string
	Version   string
	Path      string
	Integrity string // sha384-…
	css       bool
}

// PlaygroundAssets are the files the Playground loads, in load order (the
// stylesheet, then the scripts).
var PlaygroundAssets = []playgroundAsset{
	{Name: "GraphiQL's stylesheet", Package: "graphiql", Version: GraphiQLVersion, Path: "graphiql.min.css",
		Integrity: "sha384-1el1QShFBnnXTx9x/Cprg82hZWKt0ry29OAYIXt05swbi0KcZDFoj0CWguMpopJr", css: true},
	{Name: "React", Package: "react", Version: ReactVersion, Path: "umd/react.production.min.js",
		Integrity: "sha384-tMH8h3BGESGckSAVGZ82T9n90ztNXxvdwvdM6UoR56cYcf+0iGXBliJ29D+wZ/x8"},
	{Name: "ReactDOM", Package: "react-dom", Version: ReactVersion, Path: "umd/react-dom.production.min.js",
		Integrity: "sha384-bm7MnzvK++ykSwVJ2tynSE5TRdN+xL418osEVF2DE/L/gfWHj91J2Sphe582B1Bh"},
	{Name: "GraphiQL", Package: "graphiql", Version: GraphiQLVersion, Path: "graphiql.min.js",
		Integrity: "sha384-9XdHu7ajgGJziD4J1zNBKQ842Q/+zZfDv+ib1eMhZWBH6hPAs806x+Jbcf0yNO6B"},
}

// PlaygroundNPMCommand fetches the pinned release into the current folder,
// in the layout AUDITLOG_PLAYGROUND_ASSETS expects (point it at
// ./node_modules). The README quotes it.
const PlaygroundNPMCommand = "npm install --no-save --ignore-scripts --omit=peer --no-package-lock " +
	"graphiql@" + GraphiQLVersion + " react@" + ReactVersion + " react-dom@" + ReactVersion

// PlaygroundOptions configure the Playground at /.
type PlaygroundOptions struct {
	// Disabled turns it off: / and /playground/… answer 404.
	Disabled bool
	// AssetsDir, when set, is a folder holding the pinned release
	// (node_modules layout); the page then loads it from this server
	// instead of the CDN.
	AssetsDir string
}

//go:embed playground
var playgroundFiles embed.FS

var playgroundPage = template.Must(template.ParseFS(playgroundFiles, "playground/index.html"))

// playground serves the page, its loader and, in offline mode, the pinned
// assets from memory.
type playground struct {
	page    []byte
	csp     string
	static  map[string]staticFile // /playground/<name>
	offline map[string]staticFile // /playground/assets/<package>@<version>/<path>
}

type staticFile struct {
	body        []byte
	contentType string
	etag        string
}

// CheckPlaygroundAssets reads the pinned release from dir and checks every
// file against its hash, so that a wrong or missing file stops the server at
// start rather than breaking the page in a browser.
func CheckPlaygroundAssets(dir string) error {
	_, err := readPlaygroundAssets(dir)
	return err
}

func readPlaygroundAssets(dir string) (map[string]staticFile, error) {
	out := map[string]staticFile{}
	for _, a := range PlaygroundAssets {
		p := filepath.Join(dir, a.Package, filepath.FromSlash(a.Path))
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("%s@%s/%s: %w (fetch the release with: %s)", a.Package, a.Version, a.Path, err, PlaygroundNPMCommand)
		}
		if integrity(b) != a.Integrity {
			return nil, fmt.Errorf("%s is not %s@%s/%s (its hash differs); fetch the pinned release with: %s", p, a.Package, a.Version, a.Path, PlaygroundNPMCommand)
		}
		out[a.localPath()] = staticFile{body: b, contentType: contentTypeOf(a.Path), etag: etagOf(b)}
	}
	return out, nil
}

func (a playgroundAsset) localPath() string {
	return "/playground/assets/" + a.Package + "@" + a.Version + "/" + a.Path
}

func integrity(b []byte) string {
	sum := sha512.Sum384(b)
	return "sha384-" + base64.StdEncoding.EncodeToString(sum[:])
}

func etagOf(b []byte) string {
	sum := sha256.Sum256(b)
	return `"` + hex.EncodeToString(sum[:8]) + `"`
}

func contentTypeOf(name string) string {
	switch {
	case strings.HasSuffix(name, ".js"):
		return "text/javascript; charset=utf-8"
	case strings.HasSuffix(name, ".css"):
		return "text/css; charset=utf-8"
	}
	return "application/octet-stream"
}

// newPlayground builds the page for the CDN, or for the assets of dir.
func newPlayground(dir string) (*playground, error) {
	pg := &playground{static: map[string]staticFile{}}
	for _, name := range []string{"playground.js", "playground.css"} {
		b, err := playgroundFiles.ReadFile("playground/" + name)
		if err != nil {
			return nil, err
		}
		pg.static["/playground/"+name] = staticFile{body: b, contentType: contentTypeOf(name), etag: etagOf(b)}
	}
	source := "cdn.jsdelivr.net"
	assetOrigin := "https://cdn.jsdelivr.net"
	if dir != "" {
		files, err := readPlaygroundAssets(dir)
		if err != nil {
			return nil, err
		}
		pg.offline = files
		source, assetOrigin = "this server", ""
	}
	type jsAsset struct {
		Name      string `json:"name"`
		URL       string `json:"url"`
		Integrity string `json:"integrity"`
	}
	cfg := struct {
		Source         string    `json:"source"`
		TimeoutSeconds int       `json:"timeoutSeconds"`
		CSS            jsAsset   `json:"css"`
		Scripts        []jsAsset `json:"scripts"`
	}{Source: source, TimeoutSeconds: int(playgroundTimeout / time.Second)}
	for _, a := range PlaygroundAssets {
		u := playgroundCDN + a.Package + "@" + a.Version + "/" + a.Path
		if dir != "" {
			u = a.localPath()
		}
		j := jsAsset{Name: a.Name, URL: u, Integrity: a.Integrity}
		if a.css {
			cfg.CSS = j
		} else {
			cfg.Scripts = append(cfg.Scripts, j)
		}
	}
	cfgJSON, err := json.Marshal(cfg)
	if err != nil {
		return nil, err
	}
	js := pg.static["/playground/playground.js"]
	var page bytes.Buffer
	if err := playgroundPage.Execute(&page, map[string]any{
		"Config": string(cfgJSON), "Version": strings.Trim(js.etag, `"`), "GraphiQLVersion": GraphiQLVersion,
	}); err != nil {
		return nil, err
	}
	pg.page = page.Bytes()
	// Scripts only from this server and the pinned files (SRI), styles
	// likewise (GraphiQL sets some styles inline), requests to this origin
	// only, no framing, no forms.
	src := "'self'"
	if assetOrigin != "" {
		src += " " + assetOrigin
	}
	pg.csp = "default-src 'none'; script-src " + src + "; style-src " + src + " 'unsafe-inline'; font-src " + src + " data:; " +
		"img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
	return pg, nil
}

// ServeHTTP serves the page at / and its files under /playground/.
func (pg *playground) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	if r.URL.Path == "/" {
		h.Set("Content-Type", "text/html; charset=utf-8")
		h.Set("Content-Security-Policy", pg.csp)
		h.Set("Cache-Control", "no-cache")
		_, _ = w.Write(pg.page)
		return
	}
	f, ok := pg.static[r.URL.Path]
	cache := "public, max-age=300"
	if !ok {
		f, ok = pg.offline[r.URL.Path]
		cache = "public, max-age=31536000, immutable" // the path names the version
	}
	if !ok {
		writeStatus(w, http.StatusNotFound, "not found")
		return
	}
	h.Set("Content-Type", f.contentType)
	h.Set("Cache-Control", cache)
	h.Set("ETag", f.etag)
	if r.Header.Get("If-None-Match") == f.etag {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	_, _ = w.Write(f.body)
}
