package feed

// The word lists of the anti-profiling prompt (CheckDescription). They are
// the whole of what the prompt knows about language, kept in this one file
// so that a change to them is reviewed as such.
//
// How to review or change them:
//
//   - Words are lower case, single words; a phrase is its words separated
//     by one space and matches those words in a row ("african american"
//     also matches "African-American": hyphens and punctuation split
//     words). A word matches whole words only: "man" never matches
//     "mantle" or "human".
//   - A plural made by adding "s" or "es" matches by itself ("guys",
//     "hoodies"); list irregular plurals ("men", "women") as words. A word
//     that is itself in a list keeps its own meaning: "shorts" is
//     clothing, not the build "short".
//   - raceWords count wherever they appear. raceAdjectives (colours and
//     nationalities, which mostly describe other things: "black hoodie",
//     "white car", "Mexican restaurant") count only next to a person word
//     ("Black man", "a guy, white,", "the woman was Asian") or as a plural
//     noun ("whites").
//   - A descriptor category counts once, however many of its words a post
//     holds: the prompt asks for two different kinds of detail.
//   - Behaviour words are what a person did that a neighbour could
//     recognize. Being somewhere is not behaviour: "walking", "standing",
//     "loitering", "wandering" and "lurking" are left out on purpose,
//     because "walking around the neighborhood" is exactly what profiling
//     posts say about people who did nothing.
//   - Build leaves out "foot" ("fled on foot"); heights like 6ft, 180cm
//     and 5'10" and ages like 20s or mid-30s are recognized by pattern in
//     describe.go.
//   - Vehicle words do not include "car": most safety posts are about
//     cars (a break-in, trying car doors), not the person's vehicle.
//   - Every change comes with a case in TestCheckDescription that shows
//     it, including the case it must not catch.
//
// The lists trade recall for few false prompts: the prompt is advice the
// author can dismiss, and a prompt on a post that needed none teaches
// people to dismiss it.

// personWords mark a post that mentions a person.
var personWords = []string{
	"man", "men", "woman", "women", "guy", "dude", "boy", "girl", "kid", "teen", "teenager",
	"youth", "person", "people", "someone", "somebody", "male", "female", "suspect",
	"individual", "stranger", "lady", "ladies", "gentleman", "gentlemen", "juvenile", "adult",
}

// personPronouns mark a post that mentions a person too, but unlike
// personWords they do not make a colour next to them a race ("her white
// car" is a car).
var personPronouns = []string{"he", "she", "him", "his", "her", "hers"}

// linkingVerbs make a colour or nationality after a person word a race:
// "the man was white", "she is Asian" (but "the car was white").
var linkingVerbs = []string{"is", "was", "are", "were", "looked", "looks", "appeared", "seemed"}

// raceWords name race or ethnicity wherever they appear.
var raceWords = []string{
	"race", "racial", "ethnic", "ethnicity", "hispanic", "latino", "latina", "latinx",
	"caucasian", "biracial", "african american", "native american", "pacific islander",
	"middle eastern", "mixed race", "person of color", "people of color", "poc",
	"skin", "skinned", "complexion",
}

// raceAdjectives name race or ethnicity only next to a person word (or as a
// plural noun); elsewhere they describe things ("black hoodie").
var raceAdjectives = []string{
	"black", "white", "brown", "asian", "arab", "indian", "mexican", "chinese", "african",
	"korean", "japanese", "vietnamese", "filipino", "somali", "haitian", "jamaican",
	"puerto rican", "dominican", "russian", "gypsy", "roma",
}

// Descriptor categories other than race or ethnicity: the details that
// help neighbours recognize one person rather than suspect a group.
const (
	DescClothing = "clothing"
	DescHair     = "hair"
	DescBuild    = "build"
	DescAge      = "age range"
	DescVehicle  = "vehicle"
	DescBehavior = "behavior"
)

// descriptorOrder is the order categories are reported and suggested in.
var descriptorOrder = []string{DescClothing, DescHair, DescBuild, DescAge, DescVehicle, DescBehavior}

// descriptorWords are the words of each category.
var descriptorWords = map[string][]string{
	DescClothing: {
		"wearing", "wore", "dressed", "hoodie", "hoody", "hooded", "hood", "jacket", "coat", "shirt",
		"t shirt", "tshirt", "tee", "jeans", "pants", "trousers", "shorts", "skirt", "dress",
		"hat", "cap", "beanie", "mask", "gloves", "shoes", "sneakers", "boots", "sandals",
		"backpack", "vest", "sweater", "sweatshirt", "sweatpants", "uniform", "glasses",
		"sunglasses", "scarf", "tracksuit", "overalls", "apron", "helmet",
	},
	DescHair: {
		"hair", "haired", "bald", "balding", "beard", "bearded", "mustache", "moustache", "goatee",
		"ponytail", "braids", "braided", "dreadlocks", "dreads", "locs", "afro", "buzz cut",
		"buzzcut", "shaved head", "blond", "blonde", "brunette", "redhead", "curly", "bun", "mohawk",
	},
	DescBuild: {
		"tall", "short", "thin", "skinny", "slim", "slender", "heavy", "heavyset", "stocky",
		"muscular", "athletic", "overweight", "petite", "build", "height", "ft", "feet",
		"lbs", "pounds", "cm",
	},
	DescAge: {
		"young", "younger", "old", "older", "elderly", "aged", "middle aged", "years old",
		"year old", "yo", "teen", "teenager", "twenties", "thirties", "forties",
		"fifties", "sixties", "juvenile", "adult",
	},
	DescVehicle: {
		"sedan", "suv", "truck", "pickup", "van", "minivan", "motorcycle", "scooter", "bicycle",
		"bike", "hatchback", "coupe", "license plate", "plate", "plates", "driving", "drove",
		"driver", "honda", "toyota", "ford", "chevy", "chevrolet", "nissan", "tesla", "bmw",
		"hyundai", "kia", "subaru", "jeep", "dodge", "volkswagen", "vw", "mercedes",
	},
	DescBehavior: {
		"trying", "tried", "checking", "checked", "pulling", "pulled", "peering", "peeked",
		"looking into", "looked into", "casing", "carrying", "carried", "took", "taking",
		"stole", "stealing", "grabbed", "grabbing", "broke", "breaking", "smashed", "knocking",
		"knocked", "climbing", "climbed", "jumped", "ran", "running", "fled", "yelling",
		"shouting", "following", "followed", "filming", "photographing", "ringing", "rang",
		"kicked", "threw", "throwing", "spray", "painting",
	},
}
