package pb

// The generated code registers record.proto as porchlight/record/record.proto in the
// global protobuf registry; tools/protoc pins protoc and protoc-gen-go.
//go:generate ../../tools/protoc porchlight/record/record.proto
