package integrity

import (
	"context"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
)

// SigningKeyVar names the variable that holds the path of the signing key
// file.
const SigningKeyVar = "AUDITLOG_SIGNING_KEY"

// The signing key file is PEM:
//
//   - exactly one "PRIVATE KEY" block: the PKCS #8 Ed25519 key that signs
//     heads (`openssl genpkey -algorithm ed25519`);
//   - then any number of "PUBLIC KEY" blocks: retired keys (`openssl pkey
//     -pubout`) that stay published in the JWKS so that heads they signed
//     still verify. Text outside the blocks (a note on when a key was
//     retired) is ignored.
//
// Rotation is therefore one file an operator edits with openssl, and every
// replica reads the same file. docs/INTEGRITY.md walks through it.

// KeyFileError is a bad signing key file. It names the variable and the
// path, so that the process stops with one line saying what to fix.
type KeyFileError struct {
	Var  string
	Path string
	Msg  string
}

func (e *KeyFileError) Error() string { return e.Var + ": " + e.Path + ": " + e.Msg }

// SignerFromEnv returns the Signer that AUDITLOG_SIGNING_KEY names, or, when
// it is unset, a random one with generated true, for the caller to warn that
// heads signed by this process will not verify after it ends. A file that
// cannot be used is a *KeyFileError.
func SignerFromEnv(getenv func(string) string) (s *Signer, generated bool, err error) {
	path := strings.TrimSpace(getenv(SigningKeyVar))
	if path == "" {
		s, err := GenerateSigner()
		return s, true, err
	}
	s, err = ReadSigningKeyFile(path)
	return s, false, err
}

// ReadSigningKeyFile reads a signing key file (see SigningKeyVar).
func ReadSigningKeyFile(path string) (*Signer, error) {
	fail := func(format string, a ...any) error {
		return &KeyFileError{Var: SigningKeyVar, Path: path, Msg: fmt.Sprintf(format, a...)}
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fail("cannot read the key file: %v", err)
	}
	s, err := ParseSigningKeyPEM(data)
	if err != nil {
		return nil, fail("%v", err)
	}
	return s, nil
}

// ParseSigningKeyPEM reads the contents of a signing key file.
func ParseSigningKeyPEM(data []byte) (*Signer, error) {
	var key ed25519.PrivateKey
	var retired []ed25519.PublicKey
	blocks := 0
	for rest := data; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		blocks++
		if len(block.Headers) > 0 {
			return nil, fmt.Errorf("PEM block %d has headers (an encrypted key?); use an unencrypted PKCS #8 key", blocks)
		}
		switch block.Type {
		case "PRIVATE KEY":
			if key != nil {
				return nil, fmt.Errorf("more than one PRIVATE KEY; keep retired keys as PUBLIC KEY blocks (openssl pkey -in OLD.pem -pubout)")
			}
			k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
			if err != nil {
				return nil, fmt.Errorf("the PRIVATE KEY is not PKCS #8: %v", err)
			}
			ed, ok := k.(ed25519.PrivateKey)
			if !ok {
				return nil, fmt.Errorf("the PRIVATE KEY is %s, not Ed25519 (make one with: openssl genpkey -algorithm ed25519)", keyKind(k))
			}
			key = ed
		case "PUBLIC KEY":
			k, err := x509.ParsePKIXPublicKey(block.Bytes)
			if err != nil {
				return nil, fmt.Errorf("PUBLIC KEY block %d: %v", blocks, err)
			}
			ed, ok := k.(ed25519.PublicKey)
			if !ok {
				return nil, fmt.Errorf("PUBLIC KEY block %d is %s, not Ed25519", blocks, keyKind(k))
			}
			retired = append(retired, ed)
		case "ENCRYPTED PRIVATE KEY":
			return nil, fmt.Errorf("the key is encrypted; decrypt it (openssl pkey -in KEY.pem -out PLAIN.pem) and restrict the file's permissions instead")
		default:
			return nil, fmt.Errorf("unexpected PEM block %q; want one PRIVATE KEY (PKCS #8 Ed25519) and optional PUBLIC KEY blocks", block.Type)
		}
	}
	if key == nil {
		if blocks == 0 {
			return nil, fmt.Errorf("no PEM block; want a PKCS #8 Ed25519 PRIVATE KEY (openssl genpkey -algorithm ed25519)")
		}
		return nil, fmt.Errorf("no PRIVATE KEY block; the file must start with the key that signs (PKCS #8 Ed25519)")
	}
	return NewSigner(key, retired...), nil
}

func keyKind(k any) string {
	switch k.(type) {
	case ed25519.PrivateKey, ed25519.PublicKey:
		return "Ed25519"
	}
	t := fmt.Sprintf("%T", k)
	switch {
	case strings.Contains(t, "rsa"):
		return "an RSA key"
	case strings.Contains(t, "ecdsa"):
		return "an ECDSA key"
	case strings.Contains(t, "ecdh"):
		return "an X25519/ECDH key"
	}
	return "a " + t
}

// maxJWKSSize bounds a key set read from a file or URL.
const maxJWKSSize = 1 << 20

// LoadJWKS reads the key set an offline verifier checks heads against: a
// file path, or an http(s) URL such as
// https://audit.example.com/.well-known/auditlog-keys.json fetched with
// client (http.DefaultClient when nil; give it a timeout).
func LoadJWKS(ctx context.Context, source string, client *http.Client) (JWKS, error) {
	var data []byte
	if strings.HasPrefix(source, "https://") || strings.HasPrefix(source, "http://") {
		if client == nil {
			client = http.DefaultClient
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, source, nil)
		if err != nil {
			return JWKS{}, err
		}
		req.Header.Set("Accept", "application/json")
		resp, err := client.Do(req)
		if err != nil {
			return JWKS{}, fmt.Errorf("fetching the keys: %w", err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return JWKS{}, fmt.Errorf("fetching the keys: %s answered %s", source, resp.Status)
		}
		data, err = io.ReadAll(io.LimitReader(resp.Body, maxJWKSSize+1))
		if err != nil {
			return JWKS{}, fmt.Errorf("fetching the keys: %w", err)
		}
	} else {
		f, err := os.Open(source)
		if err != nil {
			return JWKS{}, err
		}
		defer f.Close()
		data, err = io.ReadAll(io.LimitReader(f, maxJWKSSize+1))
		if err != nil {
			return JWKS{}, err
		}
	}
	if len(data) > maxJWKSSize {
		return JWKS{}, fmt.Errorf("the key set is larger than %d bytes", maxJWKSSize)
	}
	return ParseJWKS(data)
}
