package store

import "testing"

// TestTagsDistinct: no two tables of the records database share a tag,
// every Table lent to another package is declared in tables, and the
// version key is no table's key.
func TestTagsDistinct(t *testing.T) {
	seen := map[byte]string{}
	for _, tb := range tables {
		if tb.tag == 0 {
			t.Errorf("%s (%s) has no tag", tb.name, tb.owner)
		}
		if other, ok := seen[tb.tag]; ok {
			t.Errorf("tag %q is both %s's and %s's", tb.tag, other, tb.name)
		}
		seen[tb.tag] = tb.name
	}
	for _, lent := range []Table{IssuerDocs, AgencyCredentials, CredentialRevocations, CredentialRevokedSeqs,
		Grants, GrantRevocations, Transfers, GrantOutbox, AccessLog, MemberDocs, OwnInvites} {
		if _, ok := seen[lent.tag]; !ok {
			t.Errorf("Table %q is not declared in tables", lent.tag)
		}
	}
	if s := recordsSchema(Config{}); len(s.Key) != 1 || seen[s.Key[0]] != "schema version" {
		t.Errorf("the version key %q is not the schema version's tag", s.Key)
	}
}

// TestStepsEndAtVersion: the records database's steps go one version at
// a time, in order, up to Version.
func TestStepsEndAtVersion(t *testing.T) {
	s := recordsSchema(Config{})
	want := 2 // version 1 has no step: it is the first layout
	for _, st := range s.Steps {
		if st.To != want || st.Run == nil || st.Name == "" {
			t.Errorf("step %+v, want To %d with a name and a Run", st, want)
		}
		want++
	}
	if want-1 != Version || s.Version != Version {
		t.Errorf("steps end at version %d, Version is %d", want-1, Version)
	}
}
