package requests

import (
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/porchlight-mesh/porchlight/record"
)

// hasUnknownFields reports whether m, or any message inside it, carries
// protobuf fields this version does not know. Issuer documents are signed
// and kept: an unknown field is either padding (bytes a stranger makes a
// node store and relay) or a rule this node cannot enforce, and either way
// the document is refused rather than half-understood.
func hasUnknownFields(m protoreflect.Message) bool {
	if len(m.GetUnknown()) > 0 {
		return true
	}
	found := false
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		switch {
		case fd.IsMap():
			if fd.MapValue().Message() != nil {
				v.Map().Range(func(_ protoreflect.MapKey, mv protoreflect.Value) bool {
					found = hasUnknownFields(mv.Message())
					return !found
				})
			}
		case fd.IsList():
			if fd.Message() != nil {
				for i, l := 0, v.List(); i < l.Len() && !found; i++ {
					found = hasUnknownFields(l.Get(i).Message())
				}
			}
		case fd.Message() != nil:
			found = hasUnknownFields(v.Message())
		}
		return !found
	})
	return found
}

// checkStrict refuses an issuer document with fields this version does not
// know.
func checkStrict(d *record.Doc) error {
	var m protoreflect.Message
	switch {
	case d.Credential != nil:
		m = d.Credential.ProtoReflect()
	case d.Revocation != nil:
		m = d.Revocation.ProtoReflect()
	default:
		return nil
	}
	if hasUnknownFields(m) {
		return record.Invalidf(record.ReasonMalformed, "issuer document %.12s has fields this version of porchlight does not know; if the issuer uses a newer version, upgrade", d.ID)
	}
	return nil
}
