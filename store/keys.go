package store

// Every key of the records database starts with a one-byte tag naming its
// table. This file declares them all, so that no two tables ever share a
// tag (TestTagsDistinct): store's own tables, the tables it lends to
// other packages (as Table values, used through Txn), and the keys that
// only a migration reads. The layout of each table's keys is documented
// by its owner: store's in doc.go, the others' in their packages.
//
// To add a table: pick a tag no entry of tables uses, add a const and an
// entry below (and a Table var if another package owns it), and document
// its keys in the owner package. A table of an existing database needs no
// migration step when it starts empty; one that must be filled from what
// is stored does (see schema.go).

// store's own tables (see doc.go).
const (
	tagLog     = 'l'
	tagIndex   = 'i'
	tagHead    = 'h'
	tagExtra   = 'x'
	tagFlag    = 'e'
	tagTomb    = 't'
	tagFeed    = 'f'
	tagProfile = 'p'
	// tagOmission indexes the YieldOmission records of every log (package
	// requests judges them against the agency's log).
	tagOmission = 'o'
	// tagFloor holds the floor of a log held from mid-way (horizon.go).
	tagFloor = 'b'
	// tagVersion is the schema version key (schema.go): the key is the
	// tag alone.
	tagVersion = 'v'
)

// Tables lent to other packages.
const (
	// requests (requests/service.go)
	tagIssuerDoc     = 'D' // D I: a trusted issuer's document, verified when stored
	tagAgencyCred    = 'G' // G L A I (empty): credential I certifies agency A
	tagCredRevoked   = 'V' // V I: ID of credential I's earliest revocation
	tagCredRevokeSeq = 'W' // W I: least valid_through_seq of I's revocations (8)
	// tagRequestsMeta held requests' "K 1", the mark that the untrusted
	// documents of a version-1 database were removed. Only Open reads it,
	// to recognise a version-2 database written before the version key.
	tagRequestsMeta = 'K'

	// clips (clips/grants.go, clips/audit.go)
	tagGrant           = 'R' // R L O G: grant G of owner O
	tagGrantRevocation = 'Y' // Y G: revocation of this node's grant G
	tagTransfer        = 'Z' // Z I: transfer record of received clip I
	tagGrantOutbox     = 'O' // O G (empty): grant G still to deliver
	tagAccessLog       = 'A' // A T R: one attempt to fetch a clip
	tagFetchInbox      = 'T' // T L O G: grant G of owner O, its clips still to fetch
	tagReceipt         = 'J' // J G I: the grantee's transfer record of clip I under this node's grant G

	// sharing (sharing/holds.go)
	tagHoldIndex   = 'H' // H I L O G: clip I held for grant G of owner O
	tagSharingMeta = 'S' // S "hold-index": the hold index is built

	// member (member/service.go)
	tagMemberDoc = 'M' // M I: a membership document, verified when stored
	tagOwnInvite = 'N' // N I: an invite this node made (InviteInfo, no secret)

	// feed (feed/feed.go)
	tagMute = 'U' // U P (empty): this home muted author P (local only)

	// mesh (mesh/addrbook.go)
	tagAddrBook = 'B' // B P: member neighbor P's latest signed peer record, with when it was last seen

	// integrations/frigate (integrations/frigate/queue.go)
	tagFrigatePending = 'Q' // Q E: Frigate event E, its clip still to import
	tagFrigateDone    = 'E' // E E: Frigate event E, handled (its clip imported or refused)
)

// The tables of other packages. Each package documents its key layout;
// keys passed to Txn are the key after the tag.
var (
	IssuerDocs            = Table{tagIssuerDoc}
	AgencyCredentials     = Table{tagAgencyCred}
	CredentialRevocations = Table{tagCredRevoked}
	CredentialRevokedSeqs = Table{tagCredRevokeSeq}

	Grants           = Table{tagGrant}
	GrantRevocations = Table{tagGrantRevocation}
	Transfers        = Table{tagTransfer}
	GrantOutbox      = Table{tagGrantOutbox}
	AccessLog        = Table{tagAccessLog}
	FetchInbox       = Table{tagFetchInbox}
	Receipts         = Table{tagReceipt}

	HoldIndex   = Table{tagHoldIndex}
	SharingMeta = Table{tagSharingMeta}

	MemberDocs = Table{tagMemberDoc}
	OwnInvites = Table{tagOwnInvite}
	Mutes      = Table{tagMute}

	AddrBook = Table{tagAddrBook}

	FrigatePending = Table{tagFrigatePending}
	FrigateDone    = Table{tagFrigateDone}
)

// tables is every tag of the records database, with its owner.
var tables = []struct {
	tag   byte
	name  string
	owner string
}{
	{tagLog, "log slots", "store"},
	{tagIndex, "record index", "store"},
	{tagHead, "log heads", "store"},
	{tagExtra, "equivocation proofs", "store"},
	{tagFlag, "equivocation flags", "store"},
	{tagTomb, "tombstones", "store"},
	{tagFeed, "feed index", "store"},
	{tagProfile, "profiles", "store"},
	{tagOmission, "yield omission index", "store"},
	{tagFloor, "log floors (logs held from a horizon)", "store"},
	{tagVersion, "schema version", "store"},

	{tagIssuerDoc, "issuer documents", "requests"},
	{tagAgencyCred, "agency credentials", "requests"},
	{tagCredRevoked, "credential revocations", "requests"},
	{tagCredRevokeSeq, "credential revocation positions", "requests"},
	{tagRequestsMeta, "requests' marks (read by migrations only)", "requests"},

	{tagGrant, "grants", "clips"},
	{tagGrantRevocation, "grant revocations", "clips"},
	{tagTransfer, "transfer records", "clips"},
	{tagGrantOutbox, "grant outbox", "clips"},
	{tagAccessLog, "access log", "clips"},
	{tagFetchInbox, "grants to fetch (an agency's inbox)", "clips"},
	{tagReceipt, "receipts: agencies' transfer records of this home's clips", "clips"},

	{tagHoldIndex, "hold index", "sharing"},
	{tagSharingMeta, "sharing's marks", "sharing"},

	{tagMemberDoc, "membership documents", "member"},
	{tagOwnInvite, "own invites", "member"},
	{tagMute, "muted authors", "feed"},

	{tagAddrBook, "address book (neighbors' signed peer records)", "mesh"},

	{tagFrigatePending, "Frigate events whose clips are still to import", "integrations/frigate"},
	{tagFrigateDone, "Frigate events handled", "integrations/frigate"},
}
