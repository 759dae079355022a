package pb_test

import (
	"testing"

	"google.golang.org/protobuf/reflect/protoregistry"

	"github.com/porchlight-mesh/porchlight/mesh/pb"
)

// sync.proto registers under a path of its own, so a dependency's sync.proto
// cannot clash with it in the global registry.
func TestRegisteredUnderFullPath(t *testing.T) {
	const path = "porchlight/mesh/sync.proto"
	fd, err := protoregistry.GlobalFiles.FindFileByPath(path)
	if err != nil {
		t.Fatalf("%s is not registered: %v", path, err)
	}
	if got := (&pb.SyncRequest{}).ProtoReflect().Descriptor().ParentFile(); got != fd {
		t.Fatalf("SyncRequest is declared in %s, want %s", got.Path(), path)
	}
	if fd.Package() != "porchlight.mesh" {
		t.Fatalf("%s declares package %s, want porchlight.mesh (message names are part of the descriptor)", path, fd.Package())
	}
}
