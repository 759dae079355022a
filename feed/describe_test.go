package feed_test

import (
	"fmt"
	"slices"
	"testing"

	"github.com/porchlight-mesh/porchlight/feed"
)

// TestCheckDescription is the table of the anti-profiling prompt's
// triggers. A change to the word lists (describe_words.go) adds its case
// here, with the case it must not catch.
func TestCheckDescription(t *testing.T) {
	cases := []struct {
		name   string
		kind   string
		text   string
		prompt bool
		person bool
		race   bool
		desc   []string // categories found, nil for none
	}{
		// The triggers.
		{"person and only race", "safety", "Black man on Elm St just now, keep an eye out", true, true, true, nil},
		{"person, race and one descriptor", "safety", "Hispanic guy trying car doors on Maple", true, true, true, []string{feed.DescBehavior}},
		{"person, race and two descriptors", "safety", "White man in a red hoodie trying car doors on Maple", false, true, true, []string{feed.DescClothing, feed.DescBehavior}},
		{"person, race and three descriptors", "safety", "Asian woman, about 5'4, grey ponytail, took the parcel from no. 12", false, true, true, []string{feed.DescHair, feed.DescBuild, feed.DescBehavior}},
		{"person without race or description", "safety", "Someone was trying car doors on Maple St around 7pm. Lock up tonight!", false, true, false, []string{feed.DescBehavior}},
		{"person with one descriptor, no race", "safety", "A tall man was at the corner", false, true, false, []string{feed.DescBuild}},
		{"no person", "safety", "Streetlight out at Elm and 3rd, very dark at night", false, false, false, nil},
		{"race word but no person", "safety", "Hispanic heritage festival cancelled, the park is closed", false, false, true, nil},
		{"empty", "safety", "", false, false, false, nil},

		// Other kinds are never prompted.
		{"general kind", "general", "Black man on Elm St just now", false, true, true, nil},
		{"lost-found kind", "lost-found", "Found: a white guy's wallet near the park", false, true, true, nil},
		{"event kind", "event", "Latino heritage potluck, everyone welcome", false, false, true, nil},

		// Colours and nationalities describe things more often than people.
		{"black hoodie is clothing", "safety", "Man in a black hoodie and black jeans took a package", false, true, false, []string{feed.DescClothing, feed.DescBehavior}},
		{"black-haired is hair", "safety", "A black-haired man knocking on doors", false, true, false, []string{feed.DescHair, feed.DescBehavior}},
		{"her white car is a car", "safety", "Someone smashed her white car window", false, true, false, []string{feed.DescBehavior}},
		{"his black hair is hair", "safety", "He had his black hair in braids", false, true, false, []string{feed.DescHair}},
		{"dressed in black", "safety", "A man dressed in black ran off", false, true, false, []string{feed.DescClothing, feed.DescBehavior}},
		{"the car was white", "safety", "The guy drove off, the car was white", false, true, false, []string{feed.DescVehicle}},
		{"the guy was white", "safety", "The guy was white, that's all I saw", true, true, true, nil},
		{"she is asian", "safety", "She is Asian I think", true, true, true, nil},
		{"colour after a person", "safety", "Suspect: male, black, near the school", true, true, true, nil},
		{"colour with an adjective between", "safety", "Saw a white young guy near the school", true, true, true, []string{feed.DescAge}},
		{"nationality restaurant", "safety", "Someone broke into the Mexican restaurant on 5th", false, true, false, []string{feed.DescBehavior}},
		{"plural race noun", "safety", "Blacks hanging around the park again", true, true, true, nil},
		{"phrase across a hyphen", "safety", "African-American teen near the bus stop", true, true, true, []string{feed.DescAge}},
		{"skin tone", "safety", "Dark-skinned guy near the bus stop", true, true, true, nil},

		// Words inside other words, case, punctuation, plurals.
		{"man inside other words", "safety", "Mantle of the human statue in the Manor garden was taken", false, false, false, nil},
		{"asian inside caucasian is still race", "safety", "CAUCASIAN MALE!!!", true, true, true, nil},
		{"upper case", "safety", "BLACK GUY RUNNING", true, true, true, []string{feed.DescBehavior}},
		{"punctuation around words", "safety", "guy,white,(hoodie);running...", false, true, false, []string{feed.DescClothing, feed.DescBehavior}},
		{"plural person", "safety", "Two Black guys near the school", true, true, true, nil},
		{"plural clothing", "safety", "Two Black guys, both in hoodies, pulling door handles", false, true, true, []string{feed.DescClothing, feed.DescBehavior}},
		{"shorts is clothing not build", "safety", "Hispanic man in shorts", true, true, true, []string{feed.DescClothing}},
		{"possessive", "safety", "The Latino man's backpack was blue, he ran toward 5th", false, true, true, []string{feed.DescClothing, feed.DescBehavior}},
		{"no person in neighborhood", "safety", "Package stolen in the neighborhood last night", false, false, false, nil},
		{"age by decade", "safety", "Black man in his 30s, beard", false, true, true, []string{feed.DescHair, feed.DescAge}},
		{"mid decade", "safety", "White woman, mid-40s, driving a silver sedan", false, true, true, []string{feed.DescAge, feed.DescVehicle}},
		{"height in one word", "safety", "Asian male approx 6ft", true, true, true, []string{feed.DescBuild}},
		{"curly apostrophe possessive", "safety", "The Black guy’s dog", true, true, true, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := feed.CheckDescription(c.kind, c.text)
			if got.Prompt != c.prompt || got.Person != c.person || got.RaceOrEthnicity != c.race || !slices.Equal(got.Descriptors, c.desc) {
				t.Errorf("CheckDescription(%q, %q) = prompt %v person %v race %v descriptors %q; want %v %v %v %q",
					c.kind, c.text, got.Prompt, got.Person, got.RaceOrEthnicity, got.Descriptors, c.prompt, c.person, c.race, c.desc)
			}
			if got.Prompt != (got.Why != "") {
				t.Errorf("prompt %v with explanation %q", got.Prompt, got.Why)
			}
			if len(got.Descriptors)+len(got.Suggest) != 6 {
				t.Errorf("descriptors %q and suggestions %q do not cover the six categories", got.Descriptors, got.Suggest)
			}
		})
	}
}

func ExampleCheckDescription() {
	c := feed.CheckDescription("safety", "Black man on Elm St just now")
	fmt.Println(c.Prompt, c.Suggest)
	c = feed.CheckDescription("safety", "Black man in a grey hoodie, grey beard, on Elm St just now")
	fmt.Println(c.Prompt, c.Descriptors)
	// Output:
	// true [clothing hair build age range vehicle behavior]
	// false [clothing hair]
}
