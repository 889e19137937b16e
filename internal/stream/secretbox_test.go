package stream

import (
	"errors"
	"testing"
)

func TestSecretBoxRoundTripsAndBindsTheStream(t *testing.T) {
	box, err := NewSecretBox([]byte("export-secret-0123456789-abcdefghijklmnopqrstuvwxyz"))
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := box.Seal("stream-a", "whsec_abc")
	if err != nil {
		t.Fatal(err)
	}
	if got, err := box.Open("stream-a", sealed); err != nil || got != "whsec_abc" {
		t.Fatalf("Open = %q, %v", got, err)
	}
	if _, err := box.Open("stream-b", sealed); !errors.Is(err, ErrSealedSecret) {
		t.Errorf("a secret opened for another stream: %v", err)
	}
	other, _ := NewSecretBox([]byte("another-secret-0123456789-abcdefghijklmnopqrstuvwxyz"))
	if _, err := other.Open("stream-a", sealed); !errors.Is(err, ErrSealedSecret) {
		t.Errorf("a secret opened with another key: %v", err)
	}
	sealed[len(sealed)-1] ^= 1
	if _, err := box.Open("stream-a", sealed); !errors.Is(err, ErrSealedSecret) {
		t.Errorf("an altered secret opened: %v", err)
	}
	again, _ := box.Seal("stream-a", "whsec_abc")
	if string(again) == string(sealed) {
		t.Error("two seals of one secret are equal (the nonce is not random)")
	}
}
