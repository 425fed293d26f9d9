package bird_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/go-twofactor/twofactor"
	"github.com/go-twofactor/twofactor/bird"
)

// ExampleNewWorkspace sends a code through Bird's workspace Verify API and
// checks two answers. A small stand-in for api.bird.com plays Bird here;
// in production leave BaseURL and HTTPClient empty and pass the access key,
// workspace id and navigator id from Bird's dashboard.
func ExampleNewWorkspace() {
	const id = "3f2504e0-4f89-41d3-9a0c-0305e82c3301"
	fake := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/json")
		switch {
		case strings.HasSuffix(r.URL.Path, "/verify"):
			w.WriteHeader(http.StatusAccepted)
			io.WriteString(w, `{"id":"`+id+`","status":"accepted"}`)
		case strings.Contains(string(body), `"code":"424242"`):
			io.WriteString(w, `{"id":"`+id+`","status":"verified"}`)
		default:
			w.WriteHeader(http.StatusUnprocessableEntity)
			io.WriteString(w, `{"code":"VerificationFailed","message":"Verification failed"}`)
		}
	}))
	defer fake.Close()

	p, err := bird.NewWorkspace("AbCdEfGhIjKlMnOpQrStUvWxYz", bird.WorkspaceConfig{
		WorkspaceID: "0b6f5a57-2f0e-4c8a-9d3e-5f1a2b3c4d5e",
		NavigatorID: "7c9e6679-7425-40de-944b-e07fc1f90ae7", // or ChannelID
		Locale:      "nl",                                   // Bird writes and translates the SMS text itself
		BaseURL:     fake.URL,
		HTTPClient:  fake.Client(),
	})
	if err != nil {
		log.Fatal(err) // a *bird.SettingError naming the setting
	}
	ctx := context.Background()
	v, err := p.Send(ctx, twofactor.Request{Phone: "+31612345678"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("sent:", v.ID == id)

	err = p.Check(ctx, v.ID, "000000")
	fmt.Println("wrong code:", errors.Is(err, twofactor.ErrInvalidCode))
	fmt.Println("right code:", p.Check(ctx, v.ID, "424242"))
	// Output:
	// sent: true
	// wrong code: true
	// right code: <nil>
}
