// Command porchlight runs and talks to a Porchlight node: a home's place in
// a peer-to-peer neighborhood-safety network. Run `porchlight --help`.
package main

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"

	"github.com/porchlight-mesh/porchlight/client"
)

func main() {
	stopProfile := startProfile()
	err := newRootCmd().Execute()
	stopProfile()
	if err == nil {
		return
	}
	fmt.Fprintln(os.Stderr, "porchlight:", err)
	var ue usageError
	var refused *client.Error
	switch {
	case errors.As(err, &ue), strings.HasPrefix(err.Error(), "unknown command "):
		os.Exit(2)
	case errors.As(err, &refused) && refused.Status == http.StatusBadRequest:
		// The node found the input wrong: a usage error too.
		os.Exit(2)
	}
	os.Exit(1)
}

// usageError is bad command-line input: exit code 2.
type usageError struct{ error }

func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }
