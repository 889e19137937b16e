// Package apperr defines the domain errors of auditlogd and the public codes
// they carry.
//
// Domain services return these errors; the GraphQL presenter and the HTTP
// handlers turn them into the contract's error codes in one place. Any error
// that is not an *Error is, by definition, an internal fault: its text is logged
// and never shown to a client.
package apperr

import (
	"errors"
	"fmt"
	"net/http"
	"time"
)

// Code is a public error code, exactly as docs/API.md §6 spells it.
type Code string

// The codes of the public contract that domain code may produce.
const (
	Unauthenticated      Code = "UNAUTHENTICATED"
	Forbidden            Code = "FORBIDDEN"
	BusinessPlanRequired Code = "BUSINESS_PLAN_REQUIRED"
	NotFound             Code = "NOT_FOUND"
	Gone                 Code = "GONE"
	BadUserInput         Code = "BAD_USER_INPUT"
	Conflict             Code = "CONFLICT"
	RateLimited          Code = "RATE_LIMITED"
	Internal             Code = "INTERNAL"
)

// Error is an error a client may see: a code, a message written for the
// client, and for bad input the name of the offending field.
type Error struct {
	Code    Code
	Message string
	// Field names the input field at fault (BAD_USER_INPUT only), e.g. "first".
	Field string
	// RetryAfter says when to try again (RATE_LIMITED only).
	RetryAfter time.Duration
	// Status overrides the HTTP status of the code, for refusals that HTTP
	// names more precisely (413 for a body too large, 415 for a media type);
	// zero means the code's own status (see HTTPStatus).
	Status int
}

func (e *Error) Error() string {
	if e.Field != "" {
		return fmt.Sprintf("%s: %s: %s", e.Code, e.Field, e.Message)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

// Is makes errors.Is(err, apperr.ErrNotFound) true for every *Error with the
// same code, whatever its message.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code && t.Message == "" && t.Field == "" && t.Status == 0
}

// Sentinels for errors.Is. They carry no message, so they match any error of
// their code.
var (
	ErrUnauthenticated      = &Error{Code: Unauthenticated}
	ErrForbidden            = &Error{Code: Forbidden}
	ErrBusinessPlanRequired = &Error{Code: BusinessPlanRequired}
	ErrNotFound             = &Error{Code: NotFound}
	ErrGone                 = &Error{Code: Gone}
	ErrBadUserInput         = &Error{Code: BadUserInput}
	ErrConflict             = &Error{Code: Conflict}
	ErrRateLimited          = &Error{Code: RateLimited}
)

// New returns an error with the given code and client-facing message.
func New(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Invalid reports bad input in the named field.
func Invalid(field, format string, args ...any) *Error {
	return &Error{Code: BadUserInput, Field: field, Message: fmt.Sprintf(format, args...)}
}

// Throttled reports too many requests; try again after retryAfter.
func Throttled(retryAfter time.Duration, format string, args ...any) *Error {
	return &Error{Code: RateLimited, Message: fmt.Sprintf(format, args...), RetryAfter: retryAfter}
}

// As returns the *Error inside err, if any.
func As(err error) (*Error, bool) {
	var e *Error
	if errors.As(err, &e) {
		return e, true
	}
	return nil, false
}

// CodeOf returns the public code of err: its own for an *Error, INTERNAL for
// anything else.
func CodeOf(err error) Code {
	if e, ok := As(err); ok {
		return e.Code
	}
	return Internal
}

// statuses is the one table from code to HTTP status. The plain-HTTP
// handlers (401, 403, 404, 410, 429 …) answer with it; a GraphQL response
// answers 200 with the code in the body, except RATE_LIMITED (429).
var statuses = map[Code]int{
	Unauthenticated:      http.StatusUnauthorized,
	Forbidden:            http.StatusForbidden,
	BusinessPlanRequired: http.StatusForbidden,
	NotFound:             http.StatusNotFound,
	Gone:                 http.StatusGone,
	BadUserInput:         http.StatusBadRequest,
	Conflict:             http.StatusConflict,
	RateLimited:          http.StatusTooManyRequests,
	Internal:             http.StatusInternalServerError,
}

// HTTPStatus is the HTTP status that answers err outside GraphQL: the
// error's own Status if it has one, else its code's; 500 for anything that
// is not an *Error.
func HTTPStatus(err error) int {
	e, ok := As(err)
	if !ok {
		return http.StatusInternalServerError
	}
	if e.Status != 0 {
		return e.Status
	}
	if st, ok := statuses[e.Code]; ok {
		return st
	}
	return http.StatusInternalServerError
}

// WithStatus returns a copy of e answered with HTTP status.
func (e *Error) WithStatus(status int) *Error {
	c := *e
	c.Status = status
	return &c
}
