package workspace

import (
	"context"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/auditlogd/auditlogd/internal/apperr"
	"github.com/auditlogd/auditlogd/internal/audit"
	"github.com/auditlogd/auditlogd/internal/auth"
	"github.com/auditlogd/auditlogd/internal/ids"
	"github.com/auditlogd/auditlogd/internal/stream"
)

// StreamStart says where a new log stream begins.
type StreamStart string

// Where a stream begins (docs/API.md §11).
const (
	// StartNow delivers the events after the stream's own LOG_STREAM_CREATED.
	StartNow StreamStart = "NOW"
	// StartEarliest delivers every retained event first.
	StartEarliest StreamStart = "EARLIEST"
)

const maxStreamDescription = 500

// LogStream is a workspace's push of its log to a partner's endpoint. Its
// delivery state is kept by the deliverer (package stream).
type LogStream struct {
	ID          string
	WorkspaceID string
	URL         string
	Description *string
	CreatedBy   string
	CreatedAt   time.Time
	DeletedAt   *time.Time
	// SealedSecret is the signing secret, sealed (stream.SecretBox).
	SealedSecret     []byte
	Status           stream.Status
	DeliveredThrough int64
	LastDeliveryAt   *time.Time
	LastError        *string
}

// CreateLogStreamInput describes a new stream.
type CreateLogStreamInput struct {
	WorkspaceID string
	URL         string
	Description *string
	StartAt     StreamStart
}

// CreatedLogStream is a new stream and its signing secret, shown only once.
type CreatedLogStream struct {
	Stream        LogStream
	SigningSecret string
}

// StreamPolicy is how log streams may reach endpoints and keep their
// secrets: AllowPrivate (AUDITLOG_STREAM_ALLOW_PRIVATE) lets them use http://
// and private addresses; Resolver checks host names; Secrets seals the
// signing secrets.
type StreamPolicy struct {
	AllowPrivate bool
	Resolver     stream.Resolver
	Secrets      *stream.SecretBox
}

// SetStreamPolicy configures log streams; without it they cannot be created.
func (s *Service) SetStreamPolicy(p StreamPolicy) { s.streams = &p }

// CreateLogStream starts pushing the workspace's log to an endpoint. Admins
// of BUSINESS workspaces only; the URL must be https:// to public addresses
// (unless AllowPrivate); it writes LOG_STREAM_CREATED.
func (s *Service) CreateLogStream(ctx context.Context, p *auth.Principal, in CreateLogStreamInput) (CreatedLogStream, error) {
	// Who may comes before what is asked; the URL check resolves names, so
	// it runs before the transaction takes the workspace's lock, and the
	// rule is checked again under the lock.
	acc, err := s.Access(ctx, p, in.WorkspaceID)
	if err != nil {
		return CreatedLogStream{}, err
	}
	if err := acc.RequireLogRead(); err != nil {
		return CreatedLogStream{}, err
	}
	if s.streams == nil {
		return CreatedLogStream{}, apperr.New(apperr.Internal, "log streams are not configured")
	}
	u, err := stream.ValidateURL(ctx, strings.TrimSpace(in.URL), s.streams.AllowPrivate, s.streams.Resolver)
	if err != nil {
		return CreatedLogStream{}, err
	}
	if in.Description != nil {
		d := strings.TrimSpace(*in.Description)
		if utf8.RuneCountInString(d) > maxStreamDescription {
			return CreatedLogStream{}, apperr.Invalid("input.description", "must be at most %d characters", maxStreamDescription)
		}
		in.Description = &d
		if d == "" {
			in.Description = nil
		}
	}
	if in.StartAt == "" {
		in.StartAt = StartNow
	}
	if in.StartAt != StartNow && in.StartAt != StartEarliest {
		return CreatedLogStream{}, apperr.Invalid("input.startAt", "must be NOW or EARLIEST")
	}
	secret, err := stream.NewSigningSecret()
	if err != nil {
		return CreatedLogStream{}, err
	}
	var out CreatedLogStream
	err = s.asAdmin(ctx, p, in.WorkspaceID, func(tx Store, lk Locked, actor auth.Principal) error {
		if err := lk.Access().RequireLogRead(); err != nil {
			return err
		}
		ls := LogStream{ID: ids.New(lk.Now), WorkspaceID: in.WorkspaceID, URL: u.String(), Description: in.Description,
			CreatedBy: actor.Subject, CreatedAt: lk.Now, Status: stream.Active}
		// The stream's own event is the first this transaction appends:
		// NOW starts after it; EARLIEST with the oldest retained event.
		ls.DeliveredThrough = lk.HeadSequence + 1
		if in.StartAt == StartEarliest {
			ls.DeliveredThrough = lk.PrunedThrough
		}
		sealed, err := s.streams.Secrets.Seal(ls.ID, secret)
		if err != nil {
			return err
		}
		ls.SealedSecret = sealed
		if err := tx.AppendEvents(ctx, s.memberEvent(ctx, actor, audit.LogStreamCreated, in.WorkspaceID, streamRef(ls), nil, nil, lk.Now)); err != nil {
			return err
		}
		if err := tx.CreateLogStream(ctx, ls); err != nil {
			return err
		}
		out = CreatedLogStream{Stream: ls, SigningSecret: secret}
		return nil
	})
	return out, err
}

// DeleteLogStream stops a stream at once; it writes LOG_STREAM_DELETED.
// Streams of other workspaces, and deleted ones, are NOT_FOUND.
func (s *Service) DeleteLogStream(ctx context.Context, p *auth.Principal, workspaceID, id string) error {
	return s.asAdmin(ctx, p, workspaceID, func(tx Store, lk Locked, actor auth.Principal) error {
		if !ids.Valid(id) {
			return apperr.New(apperr.NotFound, "log stream not found")
		}
		ls, err := tx.GetLogStream(ctx, workspaceID, id)
		if err != nil {
			return notFound(err, "log stream not found")
		}
		if ls.DeletedAt != nil {
			return apperr.New(apperr.NotFound, "log stream not found")
		}
		if err := tx.DeleteLogStream(ctx, id, lk.Now); err != nil {
			return err
		}
		return tx.AppendEvents(ctx, s.memberEvent(ctx, actor, audit.LogStreamDeleted, workspaceID, streamRef(ls), nil, nil, lk.Now))
	})
}

// LogStreams lists the workspace's live streams, newest first, for admins of
// BUSINESS workspaces.
func (s *Service) LogStreams(ctx context.Context, p *auth.Principal, workspaceID string) ([]LogStream, error) {
	acc, err := s.Access(ctx, p, workspaceID)
	if err != nil {
		return nil, err
	}
	if err := acc.RequireLogRead(); err != nil {
		return nil, err
	}
	if acc.Key {
		return nil, errKeyOnly
	}
	return s.store.ListLogStreams(ctx, workspaceID)
}

// streamRef is a stream as an event's target: labelled with its URL's host.
func streamRef(ls LogStream) *audit.Target {
	host := ls.URL
	if u, err := url.Parse(ls.URL); err == nil {
		host = u.Host
	}
	return &audit.Target{Type: audit.TargetLogStream, ID: ls.ID, Label: ptr(host)}
}
