package pb

// The generated code registers clips.proto as porchlight/clips/clips.proto in the
// global protobuf registry; tools/protoc pins protoc and protoc-gen-go.
//go:generate ../../tools/protoc porchlight/clips/clips.proto
