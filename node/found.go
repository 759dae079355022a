package node

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"

	"github.com/porchlight-mesh/porchlight/member"
	"github.com/porchlight-mesh/porchlight/store"
)

// Found creates a data directory like Init, and a new invite-only
// neighborhood named name whose founder (and first steward) is this home.
// inviteBy is who may invite: "any" member (the default) or "stewards".
// It returns the config written.
func Found(dir string, cfg Config, name, inviteBy string) (Config, error) {
	if name == "" {
		return cfg, errors.New("the neighborhood needs a name (--found \"Maple St\")")
	}
	if inviteBy == "" {
		inviteBy = member.InviteByAny
	}
	key, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		return cfg, err
	}
	raw, id, err := member.NewCharter(key, name, inviteBy, nil, "", time.Now())
	if err != nil {
		return cfg, err
	}
	cfg.Charter, cfg.Neighborhood = id.String(), member.NeighborhoodID(id)
	if err := initDir(dir, cfg, key, map[string][]byte{CharterFile: raw}); err != nil {
		return cfg, err
	}
	saved, err := LoadConfig(dir)
	return saved.Config, err
}

// AdoptCharter makes the open neighborhood of an existing data directory
// invite-only: this home signs a charter that adopts the neighborhood's
// name (its ID, topics and logs stay) and becomes its founder. The other
// homes then join with invites, keeping their data. The node must be
// stopped; it takes effect at the next start.
func AdoptCharter(dir, name, inviteBy string) (Config, error) {
	s, err := LoadConfig(dir)
	if err != nil {
		return Config{}, err
	}
	cfg := s.Config
	if cfg.Charter != "" {
		return cfg, fmt.Errorf("this neighborhood already has a charter (%s)", cfg.Charter)
	}
	if name == "" {
		name = cfg.Neighborhood
	}
	if inviteBy == "" {
		inviteBy = member.InviteByAny
	}
	key, err := LoadKey(dir)
	if err != nil {
		return cfg, err
	}
	raw, id, err := member.NewCharter(key, name, inviteBy, nil, cfg.Neighborhood, time.Now())
	if err != nil {
		return cfg, err
	}
	if err := writeFileAtomic(filepath.Join(dir, CharterFile), raw, 0o600); err != nil {
		return cfg, err
	}
	cfg.Charter = id.String()
	return cfg, SaveConfig(dir, cfg)
}

// JoinResult says what Join did.
type JoinResult struct {
	Config Config
	// Admitted: a member admitted this home already. Otherwise the invite
	// is kept and claimed when the node first reaches a member.
	Admitted bool
	// By is the member that admitted it.
	By peer.ID
	// Adopted: an existing data directory of the open neighborhood the
	// charter adopts joined it, keeping its identity and data.
	Adopted bool
}

// ErrInviteRefused wraps a member's refusal of an invite (revoked, used
// up, ...): nothing was created.
var ErrInviteRefused = errors.New("invite refused")

// joinTimeout bounds the attempt to reach a member at join time.
const joinTimeout = 10 * time.Second

// Join creates a data directory from an invite string: a new identity, a
// config naming the neighborhood, its charter and the members the invite
// lists, ready to run. It first tries to claim the invite with those
// members: a refusal (revoked, used up, ...) is an error wrapping
// ErrInviteRefused, and nothing is created; if none answers, the invite
// is kept and claimed when the node reaches a member. A garbled,
// tampered or expired invite is refused before anything else.
//
// On an existing data directory of the open neighborhood that the
// invite's charter adopts, it keeps the identity and data (the node must
// be stopped).
func Join(ctx context.Context, dir string, cfg Config, invite string) (JoinResult, error) {
	inv, err := member.ParseInvite(invite, time.Now())
	if err != nil {
		return JoinResult{}, err
	}
	var key crypto.PrivKey
	adopt := false
	if _, err := os.Stat(filepath.Join(dir, KeyFile)); err == nil {
		s, err := LoadConfig(dir)
		if err != nil {
			return JoinResult{}, err
		}
		switch {
		case s.Charter == inv.Charter.String():
			return JoinResult{}, fmt.Errorf("%s: %w: it is already in this neighborhood", dir, ErrExists)
		case s.Charter != "" || s.Neighborhood != inv.Neighborhood:
			return JoinResult{}, fmt.Errorf("%s: %w, of neighborhood %q: join with a new data directory (--data)", dir, ErrExists, s.Neighborhood)
		}
		if key, err = LoadKey(dir); err != nil {
			return JoinResult{}, err
		}
		cfg, adopt = s.Config, true
	} else if key, _, err = crypto.GenerateEd25519Key(rand.Reader); err != nil {
		return JoinResult{}, err
	}
	cfg.Charter, cfg.Neighborhood = inv.Charter.String(), inv.Neighborhood
	for _, a := range inv.Addrs {
		if !slices.Contains(cfg.Peers, a.String()) {
			cfg.Peers = append(cfg.Peers, a.String())
		}
	}
	// Its public addresses (and the relays of its relay addresses) are
	// anchors: the new home reaches the neighborhood from behind any NAT.
	for _, a := range AnchorCandidates(inv.Addrs) {
		cfg.Anchors = withAnchor(cfg.Anchors, a)
	}
	if err := cfg.Check(); err != nil {
		return JoinResult{}, err
	}
	name := cfg.Name
	if name == "" {
		id, _ := peer.IDFromPrivateKey(key)
		name = DefaultName(id)
	}
	admission, proof, by, err := claim(ctx, key, inv, name)
	if err != nil {
		return JoinResult{}, err
	}
	res := JoinResult{Admitted: admission != nil, By: by, Adopted: adopt}
	if adopt {
		err = SaveConfig(dir, cfg)
	} else {
		cfg.Name = name
		err = initDir(dir, cfg, key, nil)
	}
	if err != nil {
		return res, err
	}
	if admission == nil {
		if err := writeFileAtomic(filepath.Join(dir, InviteFile), []byte(invite+"\n"), 0o600); err != nil {
			return res, err
		}
	} else if err := storeAdmission(dir, cfg, key, inv, admission, proof); err != nil {
		return res, err
	}
	saved, err := LoadConfig(dir)
	res.Config = saved.Config
	return res, err
}

// claim tries the invite's members in turn from a host of its own with
// key; admission is nil when none answered. A refusal is an error.
func claim(ctx context.Context, key crypto.PrivKey, inv *member.Invite, name string) (admission []byte, proof [][]byte, by peer.ID, err error) {
	h, err := libp2p.New(libp2p.Identity(key), libp2p.NoListenAddrs, libp2p.Transport(tcp.NewTCPTransport), libp2p.DisableMetrics())
	if err != nil {
		return nil, nil, "", err
	}
	defer h.Close()
	return claimFrom(ctx, h, inv, name)
}

func claimFrom(ctx context.Context, h host.Host, inv *member.Invite, name string) (admission []byte, proof [][]byte, by peer.ID, err error) {
	ctx, cancel := context.WithTimeout(ctx, joinTimeout)
	defer cancel()
	infos, err := peer.AddrInfosFromP2pAddrs(inv.Addrs...)
	if err != nil {
		return nil, nil, "", fmt.Errorf("invite addresses: %w", err)
	}
	// Members are tried in turn, again every second until joinTimeout:
	// a member that refused this identity a moment ago (a home of the
	// open neighborhood that adopted a charter) lets it in again soon.
	for {
		var refusal error
		for _, ai := range infos {
			if ctx.Err() != nil {
				break
			}
			dctx, dcancel := context.WithTimeout(ctx, 3*time.Second)
			err := h.Connect(dctx, ai)
			dcancel()
			if err != nil {
				continue
			}
			admission, proof, err := member.Join(ctx, h, ai.ID, inv, name, false)
			var r *member.Refused
			switch {
			case err == nil:
				return admission, proof, ai.ID, nil
			case errors.As(err, &r):
				// One member's word: another may admit (its roster may
				// be ahead); the refusal stands if none does.
				refusal = fmt.Errorf("%w: %s", ErrInviteRefused, r.Reason)
			}
		}
		if refusal != nil {
			return nil, nil, "", refusal
		}
		select {
		case <-ctx.Done():
			return nil, nil, "", nil
		case <-time.After(time.Second):
		}
	}
}

// storeAdmission stores the admitting member's proof and the admission in
// the new data directory's database, so the node starts as a member.
func storeAdmission(dir string, cfg Config, key crypto.PrivKey, inv *member.Invite, admission []byte, proof [][]byte) error {
	db, err := store.Open(store.Config{Dir: filepath.Join(dir, DBDir), Neighborhood: cfg.Neighborhood})
	if err != nil {
		return fmt.Errorf("open the database (is the node running? stop it first): %w", err)
	}
	defer db.Close()
	svc, err := member.New(member.Config{Store: db, Charter: inv.Charter, Key: key})
	if err != nil {
		return err
	}
	for _, d := range proof {
		_, _ = svc.IngestDoc(d) // the admission below says whether enough arrived
	}
	if _, err := svc.IngestDoc(admission); err != nil {
		return fmt.Errorf("store the admission: %w", err)
	}
	return nil
}
