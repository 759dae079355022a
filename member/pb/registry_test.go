package pb_test

import (
	"testing"

	"google.golang.org/protobuf/reflect/protoregistry"

	"github.com/porchlight-mesh/porchlight/member/pb"
)

// member.proto registers under a path of its own, so that no other
// member.proto can clash with it in the global registry.
func TestRegisteredUnderFullPath(t *testing.T) {
	const path = "porchlight/member/pb/member.proto"
	fd, err := protoregistry.GlobalFiles.FindFileByPath(path)
	if err != nil {
		t.Fatalf("%s is not registered: %v", path, err)
	}
	if got := (&pb.Doc{}).ProtoReflect().Descriptor().ParentFile(); got != fd {
		t.Fatalf("Doc is declared in %s, want %s", got.Path(), path)
	}
	if fd.Package() != "porchlight.member" {
		t.Fatalf("%s declares package %s, want porchlight.member", path, fd.Package())
	}
}
