package feed

import (
	"regexp"
	"strings"
	"unicode"
)

// DescriptionCheck is the anti-profiling advice on a post, from
// CheckDescription.
type DescriptionCheck struct {
	// Prompt: ask the author for more detail before posting. The author
	// may still post.
	Prompt bool
	// Person: the post mentions a person.
	Person bool
	// RaceOrEthnicity: the post describes someone by race or ethnicity.
	RaceOrEthnicity bool
	// Descriptors are the categories of other detail the post gives, in
	// the order of Descriptors' constants (DescClothing, ...).
	Descriptors []string
	// Suggest are the categories it does not give, in the same order:
	// what the prompt asks for.
	Suggest []string
	// Why explains the prompt to the author; empty when Prompt is false.
	Why string
}

// MinDescriptors is how many categories of detail other than race or
// ethnicity a safety post that describes someone by race should give.
const MinDescriptors = 2

// PromptWhy is the explanation the prompt shows, in the CLI and the UI.
const PromptWhy = "Your post describes someone by race or ethnicity with fewer than two other details. " +
	"A description like that fits many of your neighbors, and can make innocent people suspects. " +
	"Details such as clothing, hair, build, age range, a vehicle, or what the person did help neighbors " +
	"recognize the one person you saw. Please add at least two, or post anyway if you cannot."

// CheckDescription says whether a post of kind should prompt its author
// for a fuller description of a person (the anti-profiling prompt, after
// Nextdoor's, which cut racial-profiling posts by asking for one).
//
// It prompts for a safety post that mentions a person, describes someone
// by race or ethnicity, and gives fewer than MinDescriptors categories of
// other detail (clothing, hair, build, age range, vehicle, behavior). A
// post that mentions no race or ethnicity is not prompted: "someone was
// trying car doors" describes nobody, and a description without race is
// not the one that turns a whole group into suspects. Other kinds are
// never prompted. The word lists are in describe_words.go.
func CheckDescription(kind, text string) DescriptionCheck {
	var c DescriptionCheck
	toks := tokenize(text)
	found := map[string]bool{}
	for i := range toks {
		if matchAny(toks, i, personWords) > 0 || matchAny(toks, i, personPronouns) > 0 {
			c.Person = true
		}
		if matchAny(toks, i, raceWords) > 0 {
			c.RaceOrEthnicity = true
		}
		if n := matchAny(toks, i, raceAdjectives); n > 0 && raceInContext(toks, i, n) {
			c.RaceOrEthnicity = true
		}
		if pluralOf(toks[i], raceAdjectives) {
			c.RaceOrEthnicity, c.Person = true, true
		}
		for cat, words := range descriptorWords {
			if matchAny(toks, i, words) > 0 {
				found[cat] = true
			}
		}
		if agePattern.MatchString(toks[i]) {
			found[DescAge] = true
		}
		if heightPattern.MatchString(toks[i]) {
			found[DescBuild] = true
		}
	}
	if feetInches.MatchString(text) {
		found[DescBuild] = true
	}
	for _, cat := range descriptorOrder {
		if found[cat] {
			c.Descriptors = append(c.Descriptors, cat)
		} else {
			c.Suggest = append(c.Suggest, cat)
		}
	}
	c.Prompt = kind == "safety" && c.Person && c.RaceOrEthnicity && len(c.Descriptors) < MinDescriptors
	if c.Prompt {
		c.Why = PromptWhy
	}
	return c
}

var (
	// agePattern: 20s, 30s, mid-30s (tokenized as "mid", "30s").
	agePattern = regexp.MustCompile(`^[1-9]0s$`)
	// heightPattern: 6ft, 180cm, 170lbs written as one word.
	heightPattern = regexp.MustCompile(`^[0-9]+(ft|cm|lbs|lb)$`)
	// feetInches: 5'10, 5' 10", 6′2″ (before tokenizing drops the marks).
	feetInches = regexp.MustCompile(`\b[4-7] ?['′’] ?(1[01]|[0-9])\b`)
)

// tokenize splits text into lower-case words: letters and digits, split at
// everything else (spaces, punctuation, hyphens, apostrophes).
func tokenize(text string) []string {
	return strings.FieldsFunc(strings.ToLower(text), func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r)
	})
}

// listed is every single word of every list: a word listed by itself is
// never taken as the plural of another ("shorts" is not "short" + s).
var listed = func() map[string]bool {
	m := map[string]bool{}
	add := func(ws []string) {
		for _, w := range ws {
			if !strings.Contains(w, " ") {
				m[w] = true
			}
		}
	}
	add(personWords)
	add(personPronouns)
	add(raceWords)
	add(raceAdjectives)
	add(linkingVerbs)
	for _, ws := range descriptorWords {
		add(ws)
	}
	return m
}()

// wordIs reports whether tok is w or its plural (w+"s", w+"es").
func wordIs(tok, w string) bool {
	if tok == w {
		return true
	}
	if listed[tok] {
		return false
	}
	return tok == w+"s" || tok == w+"es"
}

// matchAny returns how many tokens from toks[i] one of words (each a word or a
// space-separated phrase) matches, or 0.
func matchAny(toks []string, i int, words []string) int {
	for _, w := range words {
		if n := matchAt(toks, i, w); n > 0 {
			return n
		}
	}
	return 0
}

func matchAt(toks []string, i int, phrase string) int {
	ws := strings.Split(phrase, " ")
	if i+len(ws) > len(toks) {
		return 0
	}
	for k, w := range ws {
		if k == len(ws)-1 {
			if !wordIs(toks[i+k], w) {
				return 0
			}
		} else if toks[i+k] != w {
			return 0
		}
	}
	return len(ws)
}

// pluralOf reports whether tok is the plural of one of words used as a noun
// ("whites"), which names a group of people by race.
func pluralOf(tok string, words []string) bool {
	if listed[tok] {
		return false
	}
	for _, w := range words {
		if !strings.Contains(w, " ") && (tok == w+"s" || tok == w+"es") {
			return true
		}
	}
	return false
}

// isThing reports whether a word a colour can describe (clothing, hair, a
// vehicle) starts at toks[i].
func isThing(toks []string, i int) bool {
	for _, cat := range []string{DescClothing, DescHair, DescVehicle} {
		if matchAny(toks, i, descriptorWords[cat]) > 0 {
			return true
		}
	}
	return false
}

// raceInContext reports whether the colour or nationality of n tokens at
// toks[i] describes a person: before a person word ("Black man", "white
// young guy"), after one unless a thing follows ("a man, black, 6ft" but
// not "man black hoodie"), or after a person and a linking verb ("the guy
// was white", "she is Asian").
func raceInContext(toks []string, i, n int) bool {
	j := i + n
	if j < len(toks) && matchAny(toks, j, personWords) > 0 {
		return true
	}
	if j+1 < len(toks) && !isThing(toks, j) && matchAny(toks, j+1, personWords) > 0 {
		return true
	}
	if i >= 1 && matchAny(toks, i-1, personWords) > 0 && (j >= len(toks) || !isThing(toks, j)) {
		return true
	}
	if i >= 2 && matchAny(toks, i-1, linkingVerbs) > 0 {
		for k := i - 2; k >= 0 && k >= i-3; k-- {
			if matchAny(toks, k, personWords) > 0 || matchAny(toks, k, personPronouns) > 0 {
				return true
			}
		}
	}
	return false
}
