package record

import "github.com/porchlight-mesh/porchlight/record/pb"

const (
	// MaxYieldShares bounds the shares (clips) of one Yield record, so it
	// stays under MaxSize; an agency that received more writes several.
	MaxYieldShares = 256
	// MaxOmissionTransfer and MaxOmissionGrant bound the envelopes a
	// YieldOmission carries (package clips: MaxTransferSize, MaxGrantSize).
	MaxOmissionTransfer = 1 << 10
	MaxOmissionGrant    = 8 << 10
)

// checkYield checks a Yield's shape; package requests applies its rules.
func checkYield(y *pb.Yield, seq uint64) error {
	if y == nil {
		return invalid(ReasonMalformed, "empty yield")
	}
	if len(y.GetRequestId()) != len(ID{}) || y.GetRequestSeq() == 0 || y.GetRequestSeq() >= seq {
		return invalid(ReasonMissing, "a yield names an earlier request of the same log by seq and 32-byte ID")
	}
	n := len(y.GetShares())
	if n == 0 || n > MaxYieldShares {
		return invalid(ReasonMalformed, "a yield has 1 to %d shares, not %d", MaxYieldShares, n)
	}
	for i, s := range y.GetShares() {
		if len(s.GetCommitment()) != len(ID{}) {
			return invalid(ReasonMalformed, "yield share %d: commitment is %d bytes, want %d", i, len(s.GetCommitment()), len(ID{}))
		}
	}
	if int(y.GetNewHomes()) > n {
		return invalid(ReasonMalformed, "a yield counts %d new homes for %d clips", y.GetNewHomes(), n)
	}
	return nil
}

// checkOmission checks a YieldOmission's shape; package requests verifies
// the envelopes it carries and judges it against the agency's log.
func checkOmission(o *pb.YieldOmission) error {
	if o == nil {
		return invalid(ReasonMalformed, "empty yield omission")
	}
	if n := len(o.GetTransfer()); n == 0 || n > MaxOmissionTransfer {
		return invalid(ReasonMalformed, "a yield omission carries a transfer record of 1 to %d bytes, not %d", MaxOmissionTransfer, n)
	}
	if n := len(o.GetGrant()); n == 0 || n > MaxOmissionGrant {
		return invalid(ReasonMalformed, "a yield omission carries a grant of 1 to %d bytes, not %d", MaxOmissionGrant, n)
	}
	return nil
}
