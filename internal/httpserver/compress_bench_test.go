package httpserver

import (
	stdgzip "compress/gzip"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"testing"

	kpgzip "github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

// exportLike is some 10 MB of CSV shaped like an export: ULIDs, RFC 3339
// times, a few actions, emails, addresses and user agents.
func exportLike() []byte {
	rng := rand.New(rand.NewPCG(1, 2))
	actions := []string{"MEMBER_ADDED", "MEMBER_REMOVED", "MEMBER_ROLE_UPDATED", "EMAIL_INVITE_CREATED", "PUBLIC_INVITE_LINK_ACCEPTED"}
	agents := []string{
		"Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
		"Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
	}
	const alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
	ulid := func() string {
		var b [26]byte
		for i := range b {
			b[i] = alphabet[rng.IntN(32)]
		}
		return string(b[:])
	}
	var sb strings.Builder
	for sb.Len() < 10<<20 {
		fmt.Fprintf(&sb, "%s,2026-11-%02dT%02d:%02d:%02d.%03dZ,%s,user-%d,user%d@example.com,USER,USER,user-%d,member%d@example.com,,MEMBER,198.51.100.%d,%s,%s\n",
			ulid(), 1+rng.IntN(28), rng.IntN(24), rng.IntN(60), rng.IntN(60), rng.IntN(1000), actions[rng.IntN(len(actions))],
			rng.IntN(50), rng.IntN(50), rng.IntN(100000), rng.IntN(100000), rng.IntN(255), agents[rng.IntN(len(agents))], ulid())
	}
	return []byte(sb.String())
}

// BenchmarkCompressExport compares, on export-shaped data, the standard
// library's gzip (what chi's Compress middleware uses) with the
// klauspost/compress gzip and zstd that gzhttp uses, at the levels each
// uses by default. It reports MB/s of input and the compressed size.
func BenchmarkCompressExport(b *testing.B) {
	data := exportLike()
	for _, c := range []struct {
		name string
		new  func(w io.Writer) io.WriteCloser
	}{
		{"stdlib-gzip", func(w io.Writer) io.WriteCloser {
			z, _ := stdgzip.NewWriterLevel(w, stdgzip.DefaultCompression)
			return z
		}},
		{"klauspost-gzip", func(w io.Writer) io.WriteCloser {
			z, _ := kpgzip.NewWriterLevel(w, kpgzip.DefaultCompression)
			return z
		}},
		{"klauspost-zstd-fastest", func(w io.Writer) io.WriteCloser {
			z, _ := zstd.NewWriter(w, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(1), zstd.WithLowerEncoderMem(true), zstd.WithWindowSize(128<<10))
			return z
		}},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			var out countWriter
			for b.Loop() {
				out.n = 0
				z := c.new(&out)
				for i := 0; i < len(data); i += 64 << 10 { // as the export's 64 KiB buffer writes
					_, _ = z.Write(data[i:min(i+64<<10, len(data))])
				}
				_ = z.Close()
			}
			b.ReportMetric(float64(out.n)/float64(len(data))*100, "%size")
		})
	}
}

type countWriter struct{ n int }

func (c *countWriter) Write(p []byte) (int, error) { c.n += len(p); return len(p), nil }
