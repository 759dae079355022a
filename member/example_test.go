package member_test

import (
	"fmt"

	"github.com/porchlight-mesh/porchlight/member"
	"github.com/porchlight-mesh/porchlight/record"
)

// A neighborhood founded by a charter is named by the charter's ID.
func ExampleNeighborhoodID() {
	id, _ := record.ParseID("5e1bd3a2c1f0e9d8c7b6a5948372615049382716a5b4c3d2e1f0a9b8c7d6e5f4")
	fmt.Println(member.NeighborhoodID(id))
	// Output: nblyn5hiwb6du5rr5wuwkig4tbkbetqjyw
}
