package pb_test

import (
	"testing"

	"google.golang.org/protobuf/reflect/protoregistry"

	"github.com/porchlight-mesh/porchlight/record/pb"
)

// record.proto registers under a path of its own, so a dependency's record.proto
// cannot clash with it in the global registry.
func TestRegisteredUnderFullPath(t *testing.T) {
	const path = "porchlight/record/record.proto"
	fd, err := protoregistry.GlobalFiles.FindFileByPath(path)
	if err != nil {
		t.Fatalf("%s is not registered: %v", path, err)
	}
	if got := (&pb.Entry{}).ProtoReflect().Descriptor().ParentFile(); got != fd {
		t.Fatalf("Entry is declared in %s, want %s", got.Path(), path)
	}
	if fd.Package() != "porchlight.record" {
		t.Fatalf("%s declares package %s, want porchlight.record (message names are part of the descriptor)", path, fd.Package())
	}
}
