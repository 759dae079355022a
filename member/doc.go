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
//	                  and keeps ≤ 200 of its documents (below)
//	Steward           a steward names or unnames a steward; an unnaming
//	                  keeps documents like a removal
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
// # Reductions and keep
//
// Times are their authors' claims, so a removed member could sign
// documents dated before its removal, and a removed steward a removal of
// its remover dated earlier. A reduction (a Removal; a Steward that
// unnames) therefore lists in keep the IDs of the target's documents that
// the steward's node holds when it signs (Service.Remove and SetSteward
// fill it: the newest MaxKeep, fewer if a long reason leaves no room in
// MaxDocSize). Every document the target signed that is ordered before
// the reduction and not kept is void: skipped, with ReasonVoid. Documents
// ordered after it follow the usual rules (after a removal none counts;
// after an unnaming the target's documents count as a member's).
//
// Edge cases, all deterministic:
//   - An honest race voids too: an admission the target made a moment
//     before its removal, that the steward had not yet received, is void.
//   - Whether a reduction applies may itself depend on documents another
//     reduction voids. Reductions are decided the most senior author's
//     first (see build in roster.go), so when two stewards' reductions
//     would void each other, the more senior steward's stands, whichever
//     is dated first: a steward removed by a more senior one cannot sign
//     its way back, backdating or not.
//   - A node stores a reduction by a removed author even when it is dated
//     after the removal, since it may void that removal.
//
// # Caps
//
// A node stores at most Config.MaxDocs documents (DefaultMaxDocs), and of
// one author at most MaxMemberDocs (MaxStewardDocs for an author that is
// a steward when the document arrives; the founder's are not capped), of
// which MaxMemberRevocations invite revocations for a member that is no
// steward; past these, ReasonAuthorCap.
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
