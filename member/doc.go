// Package member decides who belongs to an invite-only neighborhood, from
// signed membership documents only, so that every node that holds the same
// documents computes the same roster.
//
// # Wire format
//
// A membership document is a go-libp2p core/record signed envelope with
//
//	domain       "porchlight-member"
//	payload type "/porchlight/member/1"
//	payload      a protobuf pb.Doc (member/pb/member.proto)
//	public key   Ed25519 only, in canonical encoding, at most 8 KiB
//
// identified, like every Porchlight document, by the SHA-256 of the
// envelope. A Doc carries its author (the signer), created (Unix ms) and
// the neighborhood (empty in a charter), and one body:
//
//	Charter           founds the neighborhood: name, who may invite ("any"
//	                  or "stewards"), feed limits, stewards besides the
//	                  founder (its author), the open name it adopts if any
//	Invite            an Ed25519 key whose secret the invite string carries,
//	                  an expiry (at most 30 days after created) and 1 to 100
//	                  uses; it travels only inside admissions
//	Admission         signed by the admitting member: the inviter's Invite,
//	                  the joiner and its claim, ed25519.Sign(secret,
//	                  "porchlight-claim\x00" || invite ID || joiner peer ID)
//	Removal           a steward removes a member (reason ≤ 280 characters)
//	Steward           a steward names or unnames a steward
//	InviteRevocation  the inviter or a steward ends an invite's uses
//
// # Roster
//
// The charter is the document whose ID is the configured charter ID; its
// author is the founder, and the founder and the charter's stewards are the
// first members and stewards. Every other document is applied in order of
// (created, ID), each judged against the roster as it stands at that point;
// one that fails is skipped but stays stored. See roster.go for the rules.
// So two admissions that race for the last use of an invite resolve the
// same way on every node: the earlier one (by created, then ID) wins,
// whatever order they arrived in.
//
// # Invite string
//
// "porchlight:" followed by the lowercase base32 (no padding) of a
// pb.InviteCode: the signed Invite, the 32-byte secret seed and the
// multiaddrs of members to reach. ParseInvite accepts either case (QR
// codes upper-case it).
//
// # Join protocol
//
// A joiner opens /porchlight/join/1 to any member and writes one
// varint-delimited pb.JoinRequest (invite, claim, name, check_only); the
// member answers one pb.JoinResponse: refused (a one-line reason), or the
// admission it signed and published and the rest of the joiner's proof
// (the charter and the admission chains its membership rests on). A member
// reads at most 8 KiB, gives a stream 5 s, and serves a peer two requests
// at once and then one a second, and 10 a second in all.
//
// # Keys
//
//	M I   a membership document (the envelope), verified when stored
//	N I   an invite this node made: pb.InviteInfo, never the secret
package member
