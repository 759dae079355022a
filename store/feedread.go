package store

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/dgraph-io/badger/v4"
	"github.com/libp2p/go-libp2p/core/peer"
	"google.golang.org/protobuf/proto"

	"github.com/porchlight-mesh/porchlight/record"
	"github.com/porchlight-mesh/porchlight/record/pb"
)

// The feed index entry of a live post, f C I, holds what a page of the
// feed shows: A S P, the author and seq (as an i I value) followed by the
// post itself (P, the Post message of the record's entry, protobuf). So a
// page is one scan of the index, without a lookup of each post's log slot
// (which, at a year of a street's posts, was most of a page's cost: a
// Badger Get searches every level of the LSM tree). Entries written
// before schema version 3 held A S alone, or nothing (before 2026-11-28);
// the step to version 3 rewrote them, and FeedPosts still reads one
// through the log slot.

// feedValue is the value of a live post's feed index entry.
func feedValue(a peer.ID, seq uint64, p *pb.Post) []byte {
	v := seqKey(0, a, seq)[1:]
	// Deterministic is not needed (nothing hashes it); Marshal of a post
	// that was decoded from a valid record cannot fail.
	b, err := proto.MarshalOptions{}.MarshalAppend(v, p)
	if err != nil {
		return v
	}
	return b
}

// FeedPost is a live post as the feed index holds it: what a page of the
// feed shows, without the record's envelope (get that with Record).
type FeedPost struct {
	ID      record.ID
	Author  peer.ID
	Seq     uint64
	Created int64 // the author's created time, Unix ms
	Post    *pb.Post
}

// Cursor is the position of p in the feed, to ask for the page after it.
func (p FeedPost) Cursor() Cursor { return Cursor{Created: p.Created, ID: p.ID} }

// FeedPosts returns up to limit live posts, newest first, strictly before
// the cursor (the zero Cursor: from the newest), as Feed does; its cost is
// one scan of the feed index, whatever the depth of the page.
func (d *DB) FeedPosts(limit int, before Cursor) ([]FeedPost, error) {
	var out []FeedPost
	err := d.bdb.View(func(txn *badger.Txn) error {
		opts := badger.DefaultIteratorOptions
		opts.Reverse = true
		opts.PrefetchValues = false
		it := txn.NewIterator(opts)
		defer it.Close()
		start := []byte{tagFeed + 1}
		if before != (Cursor{}) {
			start = feedKey(before.Created, before.ID)
		}
		for it.Seek(start); it.ValidForPrefix([]byte{tagFeed}) && len(out) < limit; it.Next() {
			k := it.Item().Key()
			if bytes.Compare(k, start) >= 0 {
				continue
			}
			if len(k) != 1+8+len(record.ID{}) {
				return fmt.Errorf("corrupt feed index key %x", k)
			}
			fp := FeedPost{Created: int64(binary.BigEndian.Uint64(k[1:]))}
			copy(fp.ID[:], k[9:])
			var legacy bool
			err := it.Item().Value(func(v []byte) error {
				if len(v) == 0 {
					legacy = true
					return nil
				}
				a, seq, err := parseAuthorSeq(v)
				if err != nil {
					return err
				}
				rest := v[1+len(a)+8:]
				if len(rest) == 0 {
					legacy = true
					return nil
				}
				fp.Author, fp.Seq, fp.Post = a, seq, new(pb.Post) // a is a copy (a string)
				if err := proto.Unmarshal(rest, fp.Post); err != nil {
					return fmt.Errorf("corrupt feed index entry of post %s: %w", fp.ID, err)
				}
				return nil
			})
			if err != nil {
				return err
			}
			if legacy {
				ok, err := legacyFeedPost(txn, &fp)
				if err != nil {
					return err
				}
				if !ok {
					continue
				}
			}
			out = append(out, fp)
		}
		return nil
	})
	return out, err
}

// legacyFeedPost fills fp from the log slot, for a feed index entry
// written before schema version 3 (see FeedPosts). ok is false if the slot
// no longer holds the post.
func legacyFeedPost(txn *badger.Txn, fp *FeedPost) (ok bool, err error) {
	pos, err := txn.Get(indexKey(fp.ID))
	if errors.Is(err, badger.ErrKeyNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	pv, err := pos.ValueCopy(nil)
	if err != nil {
		return false, err
	}
	a, seq, err := parseAuthorSeq(pv)
	if err != nil {
		return false, err
	}
	sl, found, err := getSlot(txn, a, seq)
	if err != nil || !found || sl.raw == nil || sl.id != fp.ID {
		return false, err
	}
	s, err := record.DecodeTrusted(sl.raw)
	if err != nil {
		return false, err
	}
	if s.Entry.GetPost() == nil {
		return false, nil
	}
	fp.Author, fp.Seq, fp.Post = a, seq, s.Entry.GetPost()
	return true, nil
}

// ErrBadCursor is returned by ParseCursor for a string that is not a
// feed cursor.
var ErrBadCursor = errors.New("not a feed cursor (take it from the previous page's next link)")

// cursorLen is the length of a cursor's bytes: created (8) and ID.
const cursorLen = 8 + len(record.ID{})

// String is c for a URL: the created time and ID, base64url. The zero
// Cursor is "".
func (c Cursor) String() string {
	if c == (Cursor{}) {
		return ""
	}
	b := binary.BigEndian.AppendUint64(make([]byte, 0, cursorLen), uint64(c.Created))
	return base64.RawURLEncoding.EncodeToString(append(b, c.ID[:]...))
}

// ParseCursor parses Cursor.String's form; "" is the zero Cursor. Any
// other string that is not one is ErrBadCursor.
func ParseCursor(s string) (Cursor, error) {
	if s == "" {
		return Cursor{}, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) != cursorLen {
		return Cursor{}, ErrBadCursor
	}
	c := Cursor{Created: int64(binary.BigEndian.Uint64(b))}
	copy(c.ID[:], b[8:])
	if c.Created < 0 {
		return Cursor{}, ErrBadCursor
	}
	return c, nil
}

// AuthorInfo is what the feed shows of a post's author.
type AuthorInfo struct {
	Name    string // the latest profile name; "" if none is known
	Flagged bool   // the author equivocated
}

// Author returns what the feed shows of author a: Name and Head's
// Flagged, in one read. It is cached until a record of a's is written (a
// profile or an equivocation is one), so a page of the feed reads each
// author's once, not once a page.
func (d *DB) Author(a peer.ID) (AuthorInfo, error) {
	d.authorMu.Lock()
	ai, ok := d.authors[a]
	g := d.gen.Load()
	d.authorMu.Unlock()
	if ok {
		return ai, nil
	}
	err := d.bdb.View(func(txn *badger.Txn) error {
		it, err := txn.Get(authorKey(tagProfile, a))
		switch {
		case err == nil:
			if err := it.Value(func(v []byte) error {
				if len(v) >= 8 {
					ai.Name = string(v[8:])
				}
				return nil
			}); err != nil {
				return err
			}
		case !errors.Is(err, badger.ErrKeyNotFound):
			return err
		}
		_, err = txn.Get(authorKey(tagFlag, a))
		switch {
		case err == nil:
			ai.Flagged = true
		case !errors.Is(err, badger.ErrKeyNotFound):
			return err
		}
		return nil
	})
	if err != nil {
		return AuthorInfo{}, err
	}
	d.authorMu.Lock()
	// A write since g may have changed what was read: cache only what is
	// current (wrote bumps gen under this lock).
	if d.gen.Load() == g {
		if len(d.authors) >= maxCachedAuthors {
			clear(d.authors)
		}
		d.authors[a] = ai
	}
	d.authorMu.Unlock()
	return ai, nil
}
