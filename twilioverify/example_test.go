package twilioverify_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"

	"github.com/go-twofactor/twofactor"
	"github.com/go-twofactor/twofactor/twilioverify"
)

// Example sends a code that confirms a transfer and checks two answers. A
// small stand-in for Twilio plays Verify here; in production leave BaseURL
// and HTTPClient empty and take the SIDs and secrets from the Twilio Console.
func Example() {
	const sid = "VE0123456789abcdef0123456789abcdef"
	fake := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch {
		case r.URL.Path == "/v2/Services/VA00112233445566778899aabbccddeeff/Verifications":
			io.WriteString(w, `{"sid":"`+sid+`","status":"pending","date_created":"2026-05-03T14:00:00Z"}`)
		case r.FormValue("Code") == "424242" && r.FormValue("Amount") == "EUR 500.00":
			io.WriteString(w, `{"sid":"`+sid+`","status":"approved","valid":true}`)
		default:
			io.WriteString(w, `{"sid":"`+sid+`","status":"pending","valid":false}`)
		}
	}))
	defer fake.Close()

	p, err := twilioverify.New(twilioverify.Config{
		APIKey:     "SKfedcba9876543210fedcba9876543210",
		APISecret:  "keysecret",
		ServiceSID: "VA00112233445566778899aabbccddeeff",
		BaseURL:    fake.URL,
		HTTPClient: fake.Client(),
	})
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	v, err := p.Send(ctx, twofactor.Request{Phone: "+31612345678", Amount: "EUR 500.00", Payee: "NL91ABNA0417164300"})
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
