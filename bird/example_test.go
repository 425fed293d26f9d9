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

// Example sends a code and checks two answers. A small stand-in for Bird's
// API plays the platform here; in production leave BaseURL and HTTPClient
// empty and pass the key from Bird's dashboard (Developer → API keys).
func Example() {
	fake := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/json")
		switch {
		case r.URL.Path == "/v1/verify/verifications":
			io.WriteString(w, `{"id":"vrf_42","status":"pending","expires_at":"2026-05-03T14:10:00Z"}`)
		case strings.Contains(string(body), `"code":"424242"`):
			io.WriteString(w, `{"success":true,"verification":{"id":"vrf_42","status":"verified","to":{"phone_number":"+31612345678"}}}`)
		default:
			io.WriteString(w, `{"success":false,"reason":"incorrect_code","attempts_remaining":2}`)
		}
	}))
	defer fake.Close()

	p, err := bird.New("bk_eu1_example", bird.Config{
		Language:   "nl", // Bird writes and translates the SMS text itself
		BaseURL:    fake.URL,
		HTTPClient: fake.Client(),
	})
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	v, err := p.Send(ctx, twofactor.Request{Phone: "+31612345678"})
	if err != nil {
		log.Fatal(err) // errors.Is(err, twofactor.ErrInvalidPhone), ErrRateLimited, ErrUnavailable, ...
	}
	fmt.Println("sent, expires", v.ExpiresAt.Format("15:04"))

	err = p.Check(ctx, v.ID, "000000")
	fmt.Println("wrong code:", errors.Is(err, twofactor.ErrInvalidCode))
	fmt.Println("right code:", p.Check(ctx, v.ID, "424242"))
	// Output:
	// sent, expires 14:10
	// wrong code: true
	// right code: <nil>
}
