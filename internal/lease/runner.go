package lease

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"time"
)

// DefaultTTL is the lifetime of an acquisition or renewal when a Runner's
// TTL is zero: a dead replica's job moves to another within about 20 s.
const DefaultTTL = 15 * time.Second

// releaseTimeout bounds the release of a lease when the Runner stops.
const releaseTimeout = 5 * time.Second

// errExpired is the cause of a job's cancellation when the holding ran out by
// the local clock before a renewal succeeded.
var errExpired = errors.New("lease: expired before it was renewed")

// Runner runs Job on this replica only while it holds the lease Name.
//
// It never starts the job without a holding, and cancels the job's context as
// soon as a renewal fails or the holding runs out. The holding runs out, by
// the local clock, nine tenths of the TTL after the acquisition or last
// renewal was *sent*: the database started its TTL later, when it ran the
// statement, so the local deadline comes first whatever the two clocks read
// (only their rates matter), and the last tenth is the job's time to stop
// before another replica can take over. A job that does not stop in time (or
// a process that was frozen) is caught by fencing its writes with the Lease
// it was given.
type Runner struct {
	Store Store
	// Name names the lease (and the job).
	Name string
	// Owner identifies this replica (NewOwner).
	Owner string
	// TTL is how long an acquisition or renewal holds the lease
	// (DefaultTTL when zero).
	TTL time.Duration
	// RenewEvery is the interval between renewals (TTL/3 when zero): a
	// renewal has more than half the TTL to complete, even when the
	// database is slow or retries a conflict.
	RenewEvery time.Duration
	// RetryEvery is how often a replica that does not hold the lease tries
	// to take it, with ±20 % jitter (TTL/3 when zero). A dead holder's job
	// moves within about TTL + RetryEvery.
	RetryEvery time.Duration
	// Job is the work. It runs until its context ends, and may return
	// earlier: the Runner then releases the lease and, after RetryEvery,
	// competes for it again.
	Job func(ctx context.Context, l Lease) error
	// Log receives acquisitions, losses and failures (none when nil).
	Log *slog.Logger
}

func (r *Runner) withDefaults() Runner {
	c := *r
	if c.TTL <= 0 {
		c.TTL = DefaultTTL
	}
	if c.RenewEvery <= 0 {
		c.RenewEvery = c.TTL / 3
	}
	if c.RetryEvery <= 0 {
		c.RetryEvery = c.TTL / 3
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	c.Log = c.Log.With("lease", c.Name, "owner", c.Owner)
	return c
}

// Run competes for the lease and runs the job while holding it, until ctx
// ends. On return the job has stopped and the lease is released.
func (r *Runner) Run(ctx context.Context) {
	c := r.withDefaults()
	for {
		c.holdOnce(ctx)
		if ctx.Err() != nil {
			return
		}
		jitter := 0.8 + 0.4*rand.Float64()
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Duration(float64(c.RetryEvery) * jitter)):
		}
	}
}

// holdOnce tries to acquire the lease and, when it does, runs the job until
// the holding ends: the job returned, a renewal failed, the holding ran out,
// or ctx ended.
func (r *Runner) holdOnce(ctx context.Context) {
	sent := time.Now()
	l, err := r.Store.Acquire(ctx, r.Name, r.Owner, r.TTL)
	if err != nil {
		if !errors.Is(err, ErrHeld) && ctx.Err() == nil {
			r.Log.Warn("lease: acquisition failed", "error", err.Error())
		}
		return
	}
	deadline := sent.Add(r.holding())
	if !time.Now().Before(deadline) {
		r.Log.Warn("lease: acquisition took longer than the TTL; not starting the job", "token", l.Token)
		r.release(ctx, l)
		return
	}
	r.Log.Info("lease: acquired", "token", l.Token)

	jobCtx, cancelJob := context.WithCancelCause(ctx)
	defer cancelJob(nil)
	watchdog := time.AfterFunc(time.Until(deadline), func() { cancelJob(errExpired) })
	defer watchdog.Stop()
	done := make(chan error, 1)
	go func(l Lease) { done <- r.Job(jobCtx, l) }(l)
	renew := time.NewTimer(r.RenewEvery)
	defer renew.Stop()
	jobDone := jobCtx.Done()
	for {
		select {
		case err := <-done:
			cause := context.Cause(jobCtx)
			switch {
			case ctx.Err() != nil:
				r.Log.Info("lease: job stopped for shutdown", "token", l.Token)
			case errors.Is(cause, errExpired):
				r.Log.Warn("lease: holding ran out before a renewal succeeded; job stopped", "token", l.Token)
			case err != nil:
				r.Log.Error("lease: job failed", "token", l.Token, "error", err.Error())
			default:
				r.Log.Info("lease: job finished", "token", l.Token)
			}
			r.release(ctx, l)
			return
		case <-jobDone:
			// Shutdown or expiry: the job is told; no more renewals, wait
			// for it to return (above).
			jobDone = nil
			renew.Stop()
		case <-renew.C:
			sent := time.Now()
			rctx, cancel := context.WithDeadline(ctx, deadline)
			next, err := r.Store.Renew(rctx, l, r.TTL)
			cancel()
			if err == nil && !watchdog.Stop() {
				err = errExpired // ran out while the renewal was in flight
			}
			if err != nil {
				cancelJob(err)
				<-done
				if ctx.Err() != nil {
					r.Log.Info("lease: job stopped for shutdown", "token", l.Token)
				} else {
					r.Log.Warn("lease: renewal failed; job stopped", "token", l.Token, "error", err.Error())
				}
				if !errors.Is(err, ErrLost) {
					r.release(ctx, l) // it may still be ours: let others take it now
				}
				return
			}
			l.ExpiresAt = next.ExpiresAt
			deadline = sent.Add(r.holding())
			watchdog.Reset(time.Until(deadline))
			renew.Reset(r.RenewEvery)
		}
	}
}

// holding is how long after sending an acquisition or renewal the job may
// run on it: the TTL less a tenth, the job's time to stop.
func (r *Runner) holding() time.Duration { return r.TTL - r.TTL/10 }

// release gives the lease up, even when ctx has ended (shutdown), within
// releaseTimeout. Failing is harmless: the lease then expires.
func (r *Runner) release(ctx context.Context, l Lease) {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), releaseTimeout)
	defer cancel()
	if err := r.Store.Release(rctx, l); err != nil {
		r.Log.Warn("lease: release failed; it will expire", "token", l.Token, "error", err.Error())
	}
}
