package client_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/porchlight-mesh/porchlight/client"
)

// A refusal of the API is a *client.Error: errors.Is matches its code
// against the sentinels, errors.As gives the status, code and message.
func ExampleError() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprintln(w, `{"code":"not_found","error":"no grant 0011 of this home"}`)
	}))
	defer srv.Close()
	c, err := client.New(client.Config{URL: srv.URL, Token: "secret"})
	if err != nil {
		panic(err)
	}
	err = c.RevokeGrant(context.Background(), "0011")
	fmt.Println(errors.Is(err, client.ErrNotFound), errors.Is(err, client.ErrUnauthorized))
	var e *client.Error
	if errors.As(err, &e) {
		fmt.Println(e.Status, e.Code, e.Message)
	}
	// Output:
	// true false
	// 404 not_found no grant 0011 of this home
}
