package twofactor_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"

	"github.com/gorilla/sessions"

	"github.com/go-twofactor/twofactor"
)

// A bank's account page behind SMS verification, driven by a client that
// behaves like a browser: it keeps cookies and follows redirects. The Mock
// provider hands out the codes, so no SMS is sent.
func ExampleNew() {
	codes := make(chan string, 1)
	provider := &twofactor.Mock{OnCode: func(_ twofactor.Verification, code string) { codes <- code }}

	// Any gorilla/sessions store works; keep the keys secret and stable.
	store := sessions.NewCookieStore([]byte("hash key: 32 bytes or more......"), []byte("block key: 16, 24 or 32 bytes..."))
	tf, err := twofactor.New(provider, store, twofactor.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		log.Fatal(err)
	}

	mux := http.NewServeMux()
	mux.Handle("/2fa/", tf.Handler())
	mux.Handle("/account", tf.Require(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "Balance: 1,234.56 EUR")
	})))
	srv := httptest.NewTLSServer(mux)
	defer srv.Close()

	client := srv.Client()
	client.Jar, _ = cookiejar.New(nil)
	show := func(res *http.Response, err error) {
		if err != nil {
			log.Fatal(err)
		}
		defer res.Body.Close()
		body, _ := io.ReadAll(res.Body)
		text := string(body)
		if _, title, ok := strings.Cut(text, "<title>"); ok { // a flow page: show its title
			text, _, _ = strings.Cut(title, "</title>")
		}
		fmt.Println(res.Request.URL.Path, res.StatusCode, text)
	}

	// The visitor opens the account page and lands in the flow.
	show(client.Get(srv.URL + "/account"))
	// They type their number; a code is sent. (The page's form also carries
	// where they were going, in a hidden field "next".)
	show(client.PostForm(srv.URL+"/2fa/send", url.Values{"phone": {"+31 6 12345678"}, "next": {"/account"}}))
	// They type the code and are back where they were going.
	show(client.PostForm(srv.URL+"/2fa/check", url.Values{"code": {<-codes}}))
	// And they stay verified.
	show(client.Get(srv.URL + "/account"))
	// Output:
	// /2fa/ 200 Verify your phone
	// /2fa/ 200 Enter your code
	// /account 200 Balance: 1,234.56 EUR
	// /account 200 Balance: 1,234.56 EUR
}

// Require gates a handler: visitors who have not verified are sent into the
// flow and brought back afterwards; requests that cannot follow a redirect
// (other methods, JSON clients) get 401.
func ExampleManager_Require() {
	tf, err := twofactor.New(&twofactor.Mock{}, nil, twofactor.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		log.Fatal(err)
	}
	account := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Only verified requests get here; twofactor.RecordFrom(r) has their Record.
		fmt.Fprint(w, "Balance: 1,234.56 EUR")
	})

	mux := http.NewServeMux()
	mux.Handle("/2fa/", tf.Handler())
	mux.Handle("/account", tf.Require(account))
	// With chi: r.With(tf.Require).Get("/account", account)
	// With gorilla/mux: r.Handle("/account", tf.Require(account))

	for _, req := range []*http.Request{
		httptest.NewRequest(http.MethodGet, "/account?tab=savings", nil),
		httptest.NewRequest(http.MethodPost, "/account", nil),
	} {
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, req)
		fmt.Println(strings.TrimSpace(fmt.Sprint(req.Method, " ", rec.Code, " ", rec.Header().Get("Location"))))
	}
	// Output:
	// GET 303 /2fa/?next=%2Faccount%3Ftab%3Dsavings
	// POST 401
}

// An API behind the gate answers refusals in its own JSON shape: the gate
// calls the deny handler instead of its own 401, redirect or 503, and
// DenyReason tells the handler why.
func ExampleWithDenyHandler() {
	deny := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch err := twofactor.DenyReason(r); {
		case errors.Is(err, twofactor.ErrStepUpRequired):
			w.WriteHeader(http.StatusForbidden)
			fmt.Fprintln(w, `{"problem":"confirm it's you again","verify":"/2fa/?stepup=1"}`)
		case errors.Is(err, twofactor.ErrNotVerified):
			w.WriteHeader(http.StatusForbidden)
			fmt.Fprintln(w, `{"problem":"second factor needed","verify":"/2fa/"}`)
		default: // matches twofactor.ErrStoreUnavailable; the gate has logged it
			w.Header().Set("Retry-After", "5")
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintln(w, `{"problem":"try again shortly"}`)
		}
	})
	tf, err := twofactor.New(&twofactor.Mock{}, nil,
		twofactor.WithDenyHandler(deny),
		twofactor.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		log.Fatal(err)
	}

	mux := http.NewServeMux()
	mux.Handle("/2fa/", tf.Handler())
	mux.Handle("/api/balance", tf.Require(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, `{"balance":"1,234.56 EUR"}`)
	})))

	for _, method := range []string{http.MethodGet, http.MethodPost} {
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest(method, "/api/balance", nil))
		fmt.Print(method, " ", rec.Code, " ", rec.Body.String())
	}
	// Output:
	// GET 403 {"problem":"second factor needed","verify":"/2fa/"}
	// POST 403 {"problem":"second factor needed","verify":"/2fa/"}
}

// The Mock behaves like the real service: a code works once, and wrong
// guesses are limited.
func ExampleMock() {
	var code string
	mock := &twofactor.Mock{OnCode: func(v twofactor.Verification, c string) {
		code = c // a real app's terminal would show it; tests read it here
	}}
	ctx := context.Background()

	v, err := mock.Send(ctx, twofactor.Request{Phone: "+31612345678"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("code of", len(code), "digits sent to", twofactor.MaskPhone(v.Phone))

	wrong := "1" + code[1:]
	if code[0] == '1' {
		wrong = "2" + code[1:]
	}
	fmt.Println("wrong code:", errors.Is(mock.Check(ctx, v.ID, wrong), twofactor.ErrInvalidCode))
	fmt.Println("right code:", mock.Check(ctx, v.ID, code))
	fmt.Println("used again:", errors.Is(mock.Check(ctx, v.ID, code), twofactor.ErrAlreadyUsed))
	// Output:
	// code of 6 digits sent to +31 6 •••••678
	// wrong code: true
	// right code: <nil>
	// used again: true
}

func ExampleParsePhone() {
	for _, in := range []struct{ typed, region string }{
		{"+31 6 1234 5678", ""},
		{"0031 6 12345678", ""},
		{"06-12345678", "NL"},
		{"06-12345678", ""},
		{"call me", "NL"},
	} {
		e164, err := twofactor.ParsePhone(in.typed, in.region)
		if errors.Is(err, twofactor.ErrInvalidPhone) {
			fmt.Printf("%q: not a valid number\n", in.typed)
			continue
		}
		fmt.Printf("%q: %s\n", in.typed, e164)
	}
	// Output:
	// "+31 6 1234 5678": +31612345678
	// "0031 6 12345678": +31612345678
	// "06-12345678": +31612345678
	// "06-12345678": not a valid number
	// "call me": not a valid number
}

func ExampleMaskPhone() {
	fmt.Println(twofactor.MaskPhone("+31612345678"))
	fmt.Println(twofactor.MaskPhone("+4915123456789"))
	fmt.Println(twofactor.MaskPhone("not a number"))
	// Output:
	// +31 6 •••••678
	// +49 1••• ••••789
	// •••
}
