package pb_test

import (
	"testing"

	"google.golang.org/protobuf/reflect/protoregistry"

	"github.com/porchlight-mesh/porchlight/clips/pb"
)

// clips.proto registers under a path of its own, so a dependency's clips.proto
// cannot clash with it in the global registry.
func TestRegisteredUnderFullPath(t *testing.T) {
	const path = "porchlight/clips/clips.proto"
	fd, err := protoregistry.GlobalFiles.FindFileByPath(path)
	if err != nil {
		t.Fatalf("%s is not registered: %v", path, err)
	}
	if got := (&pb.Manifest{}).ProtoReflect().Descriptor().ParentFile(); got != fd {
		t.Fatalf("Manifest is declared in %s, want %s", got.Path(), path)
	}
	if fd.Package() != "porchlight.clips" {
		t.Fatalf("%s declares package %s, want porchlight.clips (message names are part of the descriptor)", path, fd.Package())
	}
}
