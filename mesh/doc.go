// Package mesh connects a node to its neighborhood: the libp2p host, mDNS
// discovery, the two gossipsub topics with their validator, and the catch-up
// sync protocol that makes logs converge after restarts and partitions.
//
// It carries signed logs and knows no record's meaning: the domain
// packages build the records a node writes (Mesh.Append) and judge the
// ones it receives (Rules). Posts and the feed are package feed's;
// agency requests and issuer documents, package requests'.
//
// # Topics
//
//	porchlight/<neighborhood>/feed/1      profiles, posts, retractions
//	porchlight/<neighborhood>/requests/1  agency requests and updates, and
//	                                      issuer documents (credentials,
//	                                      revocations)
//
// A message's data is exactly one marshaled envelope (see package record);
// the message ID is the SHA-256 of the data, so a record relayed twice is
// one message, and gossipsub messages are unsigned and carry no author
// fields (StrictNoSign, WithNoAuthor): every record already carries its
// author's signature. Topic traffic flows only with neighbors: peers that
// completed the handshake (below); see notNeighborScore, inspectRPC and,
// for the check of each RPC as it leaves, wireGate.
// Each neighbor has a budget of messages, charged before validation
// (PeerRecordBurst and the like). The topic validator opens
// the record (signature, author, limits), applies the Rules (package
// requests) and ingests it into the store before it is relayed:
//
//	Reject  the sender relayed something no honest node would: bad signature,
//	        author not the signer, oversized, malformed, body limits broken,
//	        another neighborhood.
//	Ignore  duplicates, and faults that depend on local state or clocks
//	        (timestamp ahead of our clock, prev mismatch, seq jump), and
//	        records held because what they depend on (a credential, an
//	        earlier record of the log) has not arrived: the sender is then
//	        synced with, and the record relayed once sync brings it.
//	Accept  new records, and a second record for an (author, seq) already
//	        held: that is equivocation, and relaying it spreads the proof.
//
// Peer scoring is on (see scoreParams): invalid messages cost a peer dearly
// and it is graylisted after a handful; IP colocation and mesh-delivery
// penalties are off, since many homes share one address behind NAT and a
// quiet neighborhood topic would punish honest peers for silence.
//
// A member's node that sends FloodStrikes of its own records over the
// per-author limits (refused, or held behind one refused) within a minute,
// by gossip or sync, is disconnected and refused for 10 minutes: every
// node reaches that verdict from the records alone, so only a modified
// node sends them, and most of a flood arrives by sync, which gossipsub's
// score does not see.
//
// # Catch-up: /porchlight/sync/2
//
// Gossip carries live traffic only. On every new connection and topic join
// (asking the peer to pull back), two heartbeats later, whenever a record
// arrives ahead of a gap or is held (unless what it waits for is the record
// of its log that the Rules refused last: the sender would send that again,
// and everything after it), after any pull that brought news (from every
// other neighbor, so news travels on hop by hop), and every SyncInterval, a
// node pulls from connected peers in rounds. A round is one stream: the
// requester writes a varint-length-delimited SyncRequest and reads one
// SyncResponse.
//
// A request carries one page: its neighborhood, a range of authors (after,
// until] with every head the requester holds in it (per author the
// contiguous seq it holds, that record's ID and whether it holds an
// equivocation proof), and a range of issuer-document IDs with every ID it
// holds in it; at most MaxSyncHeads heads and MaxSyncDocIDs IDs, so a
// request stays under half a MiB however large the neighborhood. Authors are
// ordered as store.HeadsAfter returns them, document IDs bytewise. The
// responder answers for the page only, including authors and documents the
// requester lacks in it: the documents, then per author the envelopes the
// requester lacks in log order (plus conflicting versions) and stubs for
// retracted records, and "more" with the cursor to resume from if the round
// was cut at MaxSyncRecords records or MaxSyncBytes. The requester verifies
// every envelope exactly as gossip does and walks the pages, asking again
// while it makes progress (see docs/protocol.md for the fields). A pull
// between members opens with a digest of everything the requester holds
// (syncDigest); a responder holding the same answers in_sync and the pull
// ends after that one small round, which is what most periodic pulls find.
//
// Sync is the one protocol where a small request earns a large answer, so
// each peer has a budget of rounds (SyncRoundsPerSecond) and response bytes
// (SyncBytesPerSecond, SyncBurstBytes); a round waits for its peer's budget.
// A peer that has not yet completed a round gets at most StrangerSyncBytes.
//
// A round is the neighborhood handshake: a request naming this
// neighborhood, or an answer naming it, makes the peer a neighbor
// (IsNeighbor). A peer that is not one within HandshakeTimeout is
// disconnected; a responder of another neighborhood refuses, and a
// graylisted neighbor is disconnected too. Each such peer is refused for a
// while by the connection gater, and logged once.
//
// # Serving other neighborhoods (Config.Serve)
//
// A node may serve other neighborhoods besides its own for agency
// requests only: an agency covering several, or a home bridging them (see
// docs/protocol.md, "Agencies across neighborhoods"). It names a served
// neighborhood in its sync requests to peers there (static peers of
// Config.Serve, or peers that named it first) with requests_only set, and
// answers a request naming one as that neighborhood. Both ways such a
// peer is an Agency (restricted): it is sent issuer documents and agency
// logs only, and what it sends that is neither is refused. A served
// neighborhood's topics are not joined: gossipsub knows a message by the
// hash of its data whatever its topic, so a node cannot publish one record
// on two topics. Records cross by sync instead: whenever a node stores a
// new record of an agency log or an issuer document, every neighbor of a
// served neighborhood, and every neighbor that serves this node's
// neighborhood for requests only, is asked to pull (bridge). A node that
// serves others
// and does not know a peer's neighborhood waits for the peer's first
// request rather than name the wrong one.
//
// # Discovery
//
// Each node answers mDNS queries for _porchlight._tcp on every up,
// multicast-capable interface (IPv4 and IPv6; a family that fails is
// skipped), with TXT records
//
//	pl=1  id=<peer ID>  nt=<tag>  a=<multiaddr> (one per address)
//
// where the tag is DiscoveryTag(neighborhood), a hash: the LAN does not
// learn the neighborhood's name or ID.
//
// A query is answered only on the interface it arrived on, and only with
// that interface's addresses (responder.go): the LAN does not learn the
// node's VPN or container addresses. Answers are rate-limited per
// interface. Queries use hashicorp/mdns's client.
//
// An answer is anyone's word: the node dials only the addresses that lie on
// the networks of the interface the query went out on, at most 4 dials at
// once and 2 new ones a second, and after a failed dial it leaves that peer
// ID and those addresses alone for 30 s, doubling to 10 minutes. A stranger
// on the LAN cannot make it dial hosts elsewhere, or the same host over and
// over.
//
// hashicorp/mdns never announces, so a node queries at start, again after
// 2 s and 5 s, then every MDNSInterval (10 s): a newcomer is seen by the
// others within about 10 s, and sees them within a second or two. Peers of
// another neighborhood are never dialled. Static peers (--peer) are dialled
// at start and redialled while disconnected.
//
// # Address book: /porchlight/peers/1
//
// Each node keeps, per member neighbor, its latest signed peer record
// (go-libp2p's peer.PeerRecord in a core/record envelope, as identify
// sends it; identify itself keeps only the addresses, so the mesh puts
// the envelope into the host's certified address book) and when it last
// saw it connected, in table B of the store (key: peer ID bytes; value:
// seen unix seconds, 8 bytes big-endian | seq, 8 | envelope), at most
// MaxAddrBookEntries entries of at most MaxPeerRecordSize bytes. A full
// book drops its least recently seen entry for a connected neighbor, and
// takes no record a neighbor sends.
//
// Exchange is a stream protocol of its own rather than fields of the sync
// handshake: sync rounds are frequent, paged and budgeted for logs, while
// peer records change rarely and are asked for once after the handshake
// and every 10 minutes; a separate protocol keeps the sync messages
// unchanged (no protobuf change for every node at once), gets its own
// resource-manager stream limit, and is easy to refuse to anyone who is
// not a member. The requester closes its write side; the responder, if
// the requester is a member neighbor on its roster and has not been
// answered in the last 10 s (on this connection), writes up to MaxPeersPerAnswer
// uvarint-length-prefixed envelopes (the members of its book, most
// recently seen first, never the requester's own) and closes; anyone else
// gets a reset stream. A received record is kept only if it is at most
// MaxPeerRecordSize, its envelope verifies, it is signed by the peer it
// names, that peer is a member on this node's roster and its seq is
// higher than the one held; its addresses then go to the host's certified
// address book. Under the open policy (no Membership) there is no
// exchange, neither asked nor answered: any neighbor could hand the node
// records pointing anywhere; an open neighborhood keeps to mDNS and
// static peers, and each node redials only the neighbors it was
// connected to itself.
//
// At start and every 5 s, while it has fewer than 32 neighbors, a node
// dials up to 3 members of its book it is not connected to, most recently
// seen first, backing off per peer as mDNS dials do. An entry not seen
// connected (nor renewed by a newer record; relaying the same record
// again renews nothing) for AddrBookMaxAge (30 days) is dropped.
//
// # Beyond one network: anchors, relays and hole punching
//
// The host runs go-libp2p's own traversal stack (traversal.go): TCP and
// QUIC on port 7781, the circuit relay v2 transport, AutoRelay, DCUtR
// hole punching, AutoNAT v2 (client and server) and v1 (client and
// service), and a port mapping asked of the router (UPnP, NAT-PMP;
// Config.NoNATPortMap, and never for loopback-only listeners).
//
// An anchor is a member node reachable from the internet: configured as
// one (Config.Anchor: it takes itself to be public), or found public by
// AutoNAT, when libp2p starts its relay service. It serves its
// neighborhood only. Relay reservations and circuits go to members and
// trusted agencies (relayACL; a peer still in its handshake is waited
// for, at most until its handshake is due), with limits sized for a
// street (MaxReservations, MaxReservationsPerIP, RelayCircuitDuration,
// RelayCircuitData). AutoNAT streams of a stranger are reset before
// their handler runs (gatedResources). A stranger is disconnected when
// its handshake is due, as everywhere. A configured anchor also accepts
// a connection from every member of a street (resource and connection
// manager limits of MaxReservations and more).
//
// Every other node is an AutoRelay client whose candidates are the
// anchors it knows: Config.Anchors and AddAnchor (dialled, kept
// connected, protected from trimming), then connected neighbors that run
// the relay service and members of the address book with public
// addresses of their own. It looks for them from the start (libp2p waits
// for AutoNAT's first verdict otherwise) and retries a refusing anchor
// after 15 s. Its relay addresses are in its signed peer record, so the
// address book carries them to other members; a connection through an
// anchor is upgraded to a direct one by DCUtR where the NATs allow.
//
// Gossipsub does not use relayed ("limited") connections. Sync, the
// address-book exchange and pings do (network.WithAllowLimitedConn), and
// a node that stored new records syncs, a second later, with every
// neighbor it reaches only by relay (mutually: the neighbor pulls in
// turn), so posts cross a relayed path in seconds. A neighbor reached by
// relay only is a neighbor (IsNeighbor, Peers) with path PathRelayed.
//
// Anchors are the rendezvous: while a member of its book is not
// connected, a node asks each connected anchor for its records at once
// and every 10 s, half as often after each answer with nothing new
// (down to every 10 minutes). An anchor sees every home that connects to
// it, with its current addresses, so homes whose addresses all changed
// find each other again. A newer record clears the dial backoff of its
// peer.
package mesh
