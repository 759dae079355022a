package requests_test

import (
	"testing"
	"time"

	"github.com/porchlight-mesh/porchlight/record"
	"github.com/porchlight-mesh/porchlight/record/pb"
	"github.com/porchlight-mesh/porchlight/requests"
)

// revokeThrough signs, by hand, a revocation of cred from at that names the
// last log position it still covers (0: none named).
func (f *ruleFixture) revokeThrough(cred *record.Doc, at time.Time, through uint64) *record.Doc {
	f.t.Helper()
	d, err := record.SealRevocation(&pb.Revocation{Credential: cred.ID[:], RevokedAt: at.UnixMilli(), Reason: "badge lost", ValidThroughSeq: through}, f.issuerKey)
	if err != nil {
		f.t.Fatal(err)
	}
	return d
}

// TestRevokedAgencyCannotBackdateRequest plays a revoked or expired agency
// that still holds its key and signs a request claiming a time when its
// credential was still good. The credential is judged at the claimed time,
// so the claim must be pinned: by the position the issuer names in the
// revocation, and by the times already in the agency's own log.
func TestRevokedAgencyCannotBackdateRequest(t *testing.T) {
	const ms = time.Millisecond
	const day = 24 * time.Hour
	tests := []struct {
		name string
		// story runs on a fixture whose agency has made one request at
		// ruleBase (seq 1); it returns the record to judge.
		story func(f *ruleFixture) *record.Signed
		want  record.Reason
	}{
		{
			name: "revoked through seq 1, request at seq 2 dated before the revocation",
			story: func(f *ruleFixture) *record.Signed {
				f.ingestDoc(f.revokeThrough(f.cred, ruleBase.Add(time.Hour), 1))
				at := ruleBase.Add(time.Hour - ms)
				return f.mustSign(f.agency, at, ruleRequestBody(ruleRequest(f.cred, at)))
			},
			want: record.ReasonRevoked,
		},
		{
			name: "revoked through seq 2 with seq 2 a post, request at seq 3 dated at seq 2's time",
			story: func(f *ruleFixture) *record.Signed {
				f.append(f.agency, ruleBase.Add(time.Minute), rulePostBody)
				f.ingestDoc(f.revokeThrough(f.cred, ruleBase.Add(day), 2))
				at := ruleBase.Add(time.Minute)
				return f.mustSign(f.agency, at, ruleRequestBody(ruleRequest(f.cred, at)))
			},
			want: record.ReasonRevoked,
		},
		{
			name: "revoked, request dated before the agency's previous record",
			story: func(f *ruleFixture) *record.Signed {
				f.ingestDoc(f.revoke(f.cred, ruleBase.Add(time.Hour)))
				at := ruleBase.Add(-ms)
				return f.mustSign(f.agency, at, ruleRequestBody(ruleRequest(f.cred, at)))
			},
			want: record.ReasonTime,
		},
		{
			name: "expired, request under it dated before a later request under the renewal",
			story: func(f *ruleFixture) *record.Signed {
				// The renewal is good from not_after on: the agency used it
				// a day after the first credential expired.
				renewal, err := requests.Certify(f.issuerKey, f.agency.id, "Springfield PD", ruleJurisdiction, ruleNotAfter, ruleNotAfter.Add(30*day))
				if err != nil {
					t.Fatal(err)
				}
				f.ingestDoc(renewal)
				after := ruleNotAfter.Add(day)
				f.append(f.agency, after, ruleRequestBody(ruleRequest(renewal, after)))
				at := ruleNotAfter.Add(-time.Hour)
				return f.mustSign(f.agency, at, ruleRequestBody(ruleRequest(f.cred, at)))
			},
			want: record.ReasonTime,
		},
		{
			name: "expired, issuer pins the log position: request dated before not_after",
			story: func(f *ruleFixture) *record.Signed {
				f.ingestDoc(f.revokeThrough(f.cred, ruleNotAfter, 1))
				at := ruleNotAfter.Add(-ms)
				return f.mustSign(f.agency, at, ruleRequestBody(ruleRequest(f.cred, at)))
			},
			want: record.ReasonRevoked,
		},
		// What stays valid.
		{
			name: "revoked through seq 2: the request at seq 2, arriving after the revocation",
			story: func(f *ruleFixture) *record.Signed {
				f.ingestDoc(f.revokeThrough(f.cred, ruleBase.Add(day), 2))
				at := ruleBase.Add(time.Hour)
				return f.mustSign(f.agency, at, ruleRequestBody(ruleRequest(f.cred, at)))
			},
		},
		{
			name: "a request dated the very millisecond of the previous record",
			story: func(f *ruleFixture) *record.Signed {
				return f.mustSign(f.agency, ruleBase, ruleRequestBody(ruleRequest(f.cred, ruleBase)))
			},
		},
		{
			// The residual the threat model names: without a position, only
			// the log's own times bound a backdated request.
			name: "revoked without a position: request dated between the last record and the revocation",
			story: func(f *ruleFixture) *record.Signed {
				f.ingestDoc(f.revoke(f.cred, ruleBase.Add(time.Hour)))
				at := ruleBase.Add(time.Minute)
				return f.mustSign(f.agency, at, ruleRequestBody(ruleRequest(f.cred, at)))
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newRuleFixture(t, requests.Config{})
			f.request(ruleBase)
			s := tt.story(f)
			if tt.want == record.ReasonRevoked {
				// The agency's page says so, at the time the request claims.
				ag, _, err := f.svc.Agency(f.agency.id, s.Created())
				if err != nil || ag.CredentialStatus != requests.StatusRevoked {
					t.Errorf("Agency at %v: status %q, %v; want revoked", s.Created(), ag.CredentialStatus, err)
				}
			}
			err := f.svc.CheckEntry(s)
			ruleVerdict(t, "CheckEntry", err, tt.want, false)
		})
	}
}
