package api

import (
	"net/http"

	"github.com/porchlight-mesh/porchlight/feed"
)

// PostCheckJSON is the answer of POST /api/v1/posts/check: the
// anti-profiling advice on a post before it is written (feed.CheckDescription),
// shared by the web UI's composer and `porchlight post`. Nothing is stored.
type PostCheckJSON struct {
	// Prompt: ask the author for a fuller description before posting; the
	// author may post anyway.
	Prompt          bool `json:"prompt"`
	Person          bool `json:"person"`
	RaceOrEthnicity bool `json:"race_or_ethnicity"`
	// Descriptors are the kinds of detail other than race or ethnicity the
	// post gives (clothing, hair, build, age range, vehicle, behavior);
	// Suggest those it does not.
	Descriptors []string `json:"descriptors"`
	Suggest     []string `json:"suggest"`
	// Need is how many kinds of detail the prompt asks for.
	Need int `json:"need"`
	// Why is the explanation to show with the prompt; empty without one.
	Why string `json:"why,omitempty"`
}

func (s *Server) checkPost(w http.ResponseWriter, r *http.Request) error {
	var in NewPostJSON
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	c := feed.CheckDescription(in.Kind, in.Text)
	out := PostCheckJSON{Prompt: c.Prompt, Person: c.Person, RaceOrEthnicity: c.RaceOrEthnicity,
		Descriptors: c.Descriptors, Suggest: c.Suggest, Need: feed.MinDescriptors, Why: c.Why}
	if out.Descriptors == nil {
		out.Descriptors = []string{}
	}
	if out.Suggest == nil {
		out.Suggest = []string{}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}
