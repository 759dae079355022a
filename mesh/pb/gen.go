package pb

// The generated code registers sync.proto as porchlight/mesh/sync.proto in the
// global protobuf registry; tools/protoc pins protoc and protoc-gen-go.
//go:generate ../../tools/protoc porchlight/mesh/sync.proto
