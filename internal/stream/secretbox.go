package stream

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
)

// SecretBox seals the signing secrets of log streams for storage. The
// service must be able to sign every delivery, so it keeps the secret, but a
// copy of the database alone does not reveal it: it is sealed with
// AES-256-GCM under a key derived from a secret the replicas share
// (AUDITLOG_EXPORT_SECRET), and bound to the stream's id.
type SecretBox struct {
	aead cipher.AEAD
}

// NewSecretBox derives the sealing key from key.
func NewSecretBox(key []byte) (*SecretBox, error) {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("auditlogd log stream secrets v1"))
	block, err := aes.NewCipher(m.Sum(nil))
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &SecretBox{aead: aead}, nil
}

// Seal encrypts the secret of stream id.
func (b *SecretBox) Seal(id, secret string) ([]byte, error) {
	nonce := make([]byte, b.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	return b.aead.Seal(nonce, nonce, []byte(secret), []byte(id)), nil
}

// ErrSealedSecret means a stored secret cannot be opened: it was sealed with
// another key (AUDITLOG_EXPORT_SECRET changed, or differs between replicas)
// or altered.
var ErrSealedSecret = errors.New("the stream's signing secret cannot be opened: AUDITLOG_EXPORT_SECRET differs from the one it was sealed with")

// Open decrypts the secret of stream id.
func (b *SecretBox) Open(id string, sealed []byte) (string, error) {
	n := b.aead.NonceSize()
	if len(sealed) < n {
		return "", ErrSealedSecret
	}
	plain, err := b.aead.Open(nil, sealed[:n], sealed[n:], []byte(id))
	if err != nil {
		return "", ErrSealedSecret
	}
	return string(plain), nil
}
