package record

import (
	"errors"
	"fmt"
)

// Reason names the rule a record broke. Reasons are stable strings: they are
// metric labels and appear in logs.
type Reason string

// Reasons found by Open (from the bytes alone).
const (
	ReasonOversized   Reason = "oversized"
	ReasonMalformed   Reason = "malformed"
	ReasonPayloadType Reason = "payload_type"
	ReasonKeyType     Reason = "key_type"
	ReasonSignature   Reason = "bad_signature"
	ReasonAuthor      Reason = "author_not_signer"
	ReasonSeq         Reason = "bad_seq"
	ReasonPrev        Reason = "bad_prev"
	ReasonTime        Reason = "bad_time"
	ReasonFuture      Reason = "future_time"
	ReasonKind        Reason = "unknown_kind"
	ReasonEmpty       Reason = "empty"
	ReasonTooLong     Reason = "too_long"
	ReasonRetraction  Reason = "bad_retraction"
	ReasonMissing     Reason = "missing_field"
	ReasonArea        Reason = "bad_area"
	// ReasonUnknownFields: the signed payload carries protobuf fields the
	// schema does not define (see CheckKnownFields).
	ReasonUnknownFields Reason = "unknown_fields"
)

// Reasons found against local state (by the store).
const (
	ReasonNeighborhood Reason = "other_neighborhood"
	ReasonDuplicate    Reason = "duplicate"
	ReasonPrevMismatch Reason = "prev_mismatch"
	ReasonSeqJump      Reason = "seq_jump"
	ReasonRetractOther Reason = "retraction_target_mismatch"
)

// Reasons of the request rules (package requests).
const (
	ReasonUncertified  Reason = "uncertified"
	ReasonUntrusted    Reason = "untrusted_issuer"
	ReasonExpired      Reason = "credential_expired"
	ReasonRevoked      Reason = "credential_revoked"
	ReasonAreaSize     Reason = "area_size"
	ReasonJurisdiction Reason = "outside_jurisdiction"
	ReasonWindow       Reason = "bad_window"
	ReasonTooManyOpen  Reason = "too_many_open"
	ReasonUpdateOther  Reason = "update_not_own_request"
	ReasonHeld         Reason = "held"
)

// Reasons of the yield rules (package requests).
const (
	// ReasonYieldOther: a Yield names no request of its own log (another
	// agency's request, or a seq and ID that do not match).
	ReasonYieldOther Reason = "yield_not_own_request"
	// ReasonYieldTwice: a Yield counts a clip (a commitment) that it, or
	// an earlier Yield for the same request, already counted.
	ReasonYieldTwice Reason = "yield_counted_twice"
	// ReasonYieldNotAgency: a Yield in the log of a peer no trusted issuer
	// certified as an agency (a home's).
	ReasonYieldNotAgency Reason = "yield_not_agency"
	// ReasonYield: a Yield's figures are out of bounds (a share of no or
	// impossibly many bytes or seconds, more new homes than clips).
	ReasonYield Reason = "bad_yield"
)

// Reasons of the per-author feed limits (package feed).
const (
	ReasonRate Reason = "rate_limit"
	ReasonSize Reason = "size_limit"
)

// ReasonOmission: a YieldOmission record whose proof does not check
// (package requests, omission.go).
const ReasonOmission Reason = "bad_omission"

// Invalid is the error for a record that breaks a rule.
type Invalid struct {
	Reason Reason
	Detail string
}

func (e *Invalid) Error() string { return fmt.Sprintf("invalid record (%s): %s", e.Reason, e.Detail) }

func invalid(r Reason, format string, args ...any) error {
	return &Invalid{Reason: r, Detail: fmt.Sprintf(format, args...)}
}

// Invalidf returns an *Invalid error; for rules checked outside this package.
func Invalidf(r Reason, format string, args ...any) error { return invalid(r, format, args...) }

// ReasonOf returns the reason of an *Invalid error, or "" for other errors.
func ReasonOf(err error) Reason {
	var inv *Invalid
	if errors.As(err, &inv) {
		return inv.Reason
	}
	return ""
}
