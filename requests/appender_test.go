package requests_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/porchlight-mesh/porchlight/record"
	"github.com/porchlight-mesh/porchlight/record/pb"
	"github.com/porchlight-mesh/porchlight/requests"
)

// refusingLog is an Appender that writes nothing.
type refusingLog struct{ id peer.ID }

func (l refusingLog) ID() peer.ID { return l.id }
func (l refusingLog) Append(func(*pb.Entry)) (*record.Signed, error) {
	return nil, errors.New("refusingLog writes nothing")
}

// The Service exists before the mesh it writes to (it is the mesh's
// Rules): writes fail until the appender is set, which happens once.
func TestWritesNeedAnAppenderSetOnce(t *testing.T) {
	f := newRuleFixture(t, requests.Config{})
	if _, err := f.svc.Create(requests.NewRequest{}); err == nil || !strings.Contains(err.Error(), "SetAppender") {
		t.Fatalf("Create without an appender = %v, want the no-appender error", err)
	}
	if _, err := f.svc.Close(record.ID{}, ""); err == nil || !strings.Contains(err.Error(), "SetAppender") {
		t.Fatalf("Close without an appender = %v, want the no-appender error", err)
	}
	if err := f.svc.SetAppender(nil); err == nil {
		t.Fatal("SetAppender(nil) succeeded")
	}
	if err := f.svc.SetAppender(refusingLog{id: f.agency.id}); err != nil {
		t.Fatal(err)
	}
	if err := f.svc.SetAppender(refusingLog{id: f.agency.id}); err == nil {
		t.Fatal("a second SetAppender succeeded")
	}
	if _, err := f.svc.Create(requests.NewRequest{}); err == nil || strings.Contains(err.Error(), "SetAppender") {
		t.Fatalf("Create with an appender = %v, want a rule's error", err)
	}
}

// OnDocument hears of each trusted document once, when it is first stored;
// an untrusted issuer's is not stored, and not announced.
func TestOnDocumentOncePerStoredDocument(t *testing.T) {
	var got []record.ID
	f := newRuleFixture(t, requests.Config{OnDocument: func(d *record.Doc) { got = append(got, d.ID) }})
	if len(got) != 1 || got[0] != f.cred.ID {
		t.Fatalf("after the credential: OnDocument saw %v, want [%s]", got, f.cred.ID)
	}
	if _, err := f.svc.IngestDoc(f.cred.Raw); err != nil {
		t.Fatal(err)
	}
	strangerKey, _ := ruleNewKey(t)
	if _, err := f.svc.IngestDoc(f.certify(strangerKey, f.agency.id, ruleJurisdiction).Raw); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 {
		t.Fatalf("OnDocument saw %v, want only the first credential", got)
	}
}
