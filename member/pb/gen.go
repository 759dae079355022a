// Package pb holds the generated code of member.proto, the wire format of
// membership documents and the join protocol (see package member).
package pb

// The generated code registers member.proto as porchlight/member/pb/member.proto
// in the global protobuf registry; tools/protoc pins protoc and protoc-gen-go.
//go:generate ../../tools/protoc porchlight/member/pb/member.proto
