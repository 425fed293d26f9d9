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
	"time"

	"github.com/go-twofactor/twofactor"
)

// exampleApp is a small login app for the examples: the signed-in user is
// the X-User header (a real app reads its own login session), and alice
// has a number on file.
type exampleApp struct {
	tf     *twofactor.Manager
	srv    *httptest.Server
	codes  chan string
	client *http.Client
	user   string
	next   string // the hidden "next" of the last page, posted as a browser would
}

func newExampleApp(routes func(mux *http.ServeMux, tf *twofactor.Manager), opts ...twofactor.Option) *exampleApp {
	a := &exampleApp{codes: make(chan string, 10)}
	numbers := map[string]string{"alice": "+31612345678"}
	user := func(r *http.Request) string { return r.Header.Get("X-User") }
	all := append([]twofactor.Option{
		twofactor.WithLogger(slog.New(slog.DiscardHandler)),
		twofactor.WithSubject(user),
		twofactor.WithPhoneLookup(func(r *http.Request) (string, error) { return numbers[user(r)], nil }),
	}, opts...)
	provider := &twofactor.Mock{OnCode: func(_ twofactor.Verification, code string) { a.codes <- code }}
	tf, err := twofactor.New(provider, nil, all...)
	if err != nil {
		log.Fatal(err)
	}
	a.tf = tf
	mux := http.NewServeMux()
	mux.Handle("/2fa/", tf.Handler())
	routes(mux, tf)
	a.srv = httptest.NewTLSServer(mux)
	a.client = a.srv.Client()
	a.client.Jar, _ = cookiejar.New(nil)
	return a
}

// do sends a request as the signed-in user and prints where it ended.
func (a *exampleApp) do(method, path string, form url.Values) {
	if form != nil && a.next != "" && form.Get("next") == "" {
		form.Set("next", a.next)
	}
	req, _ := http.NewRequest(method, a.srv.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("X-User", a.user)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	// Redirects keep the user header, as a browser keeps its login cookie.
	a.client.CheckRedirect = func(r *http.Request, _ []*http.Request) error {
		r.Header.Set("X-User", a.user)
		return nil
	}
	res, err := a.client.Do(req)
	if err != nil {
		log.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	text := string(body)
	if _, rest, ok := strings.Cut(text, `name="next" value="`); ok {
		a.next, _, _ = strings.Cut(rest, `"`)
	}
	if _, title, ok := strings.Cut(text, "<title>"); ok {
		text, _, _ = strings.Cut(title, "</title>")
	}
	fmt.Println(res.Request.URL.Path, res.StatusCode, text)
}

// RequireFresh guards a sensitive page (step-up): a session verified more
// than five minutes ago confirms it's still the user before going on.
func ExampleManager_RequireFresh() {
	now := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	a := newExampleApp(func(mux *http.ServeMux, tf *twofactor.Manager) {
		mux.Handle("/settings", tf.RequireFresh(5*time.Minute)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			rec, _ := twofactor.RecordFrom(r)
			fmt.Fprintf(w, "settings of %s, verified by %s at %s", rec.Subject, rec.Method, rec.VerifiedAt.UTC().Format("15:04"))
		})))
	}, twofactor.WithClock(func() time.Time { return now }))
	defer a.srv.Close()
	a.user = "alice"

	a.do(http.MethodGet, "/settings", nil)                               // into the flow
	a.do(http.MethodPost, "/2fa/send", url.Values{})                     // code to the number on file
	a.do(http.MethodPost, "/2fa/check", url.Values{"code": {<-a.codes}}) // and back
	now = now.Add(10 * time.Minute)                                      // later…
	a.do(http.MethodGet, "/settings", nil)                               // confirm it's still alice
	a.do(http.MethodPost, "/2fa/send", url.Values{})                     // a new code
	a.do(http.MethodPost, "/2fa/check", url.Values{"code": {<-a.codes}}) // and back
	// Output:
	// /2fa/ 200 Verify your phone
	// /2fa/ 200 Enter your code
	// /settings 200 settings of alice, verified by sms at 09:00
	// /2fa/ 200 Verify your phone
	// /2fa/ 200 Enter your code
	// /settings 200 settings of alice, verified by sms at 09:10
}

// Recovery codes: the app shows a new set once; a user without their
// phone signs in with one of them, once.
func ExampleManager_NewRecoveryCodes() {
	a := newExampleApp(func(mux *http.ServeMux, tf *twofactor.Manager) {
		mux.Handle("/account", tf.Require(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			rec, _ := twofactor.RecordFrom(r)
			fmt.Fprintf(w, "account of %s, verified by %s", rec.Subject, rec.Method)
		})))
	}, twofactor.WithRecoveryCodes(new(twofactor.MemoryRecoveryStore))) // your database table in a real app
	defer a.srv.Close()

	codes, err := a.tf.NewRecoveryCodes(context.Background(), "alice")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(len(codes), "codes like", len(codes[0]), "characters:", strings.Count(codes[0], "-"), "dashes")

	a.user = "alice"
	a.do(http.MethodGet, "/account", nil)
	a.do(http.MethodPost, "/2fa/recover", url.Values{"recovery_code": {codes[0]}})
	a.client.Jar, _ = cookiejar.New(nil) // another browser: the used code fails
	a.do(http.MethodPost, "/2fa/recover", url.Values{"recovery_code": {codes[0]}})
	// Output:
	// 10 codes like 14 characters: 2 dashes
	// /2fa/ 200 Verify your phone
	// /account 200 account of alice, verified by recovery_code
	// /2fa/recover 400 Error: Verify your phone
}

// SignOutEverywhere revokes every verification and remembered device of a
// user, on every server: after a password reset, or when they ask.
func ExampleManager_SignOutEverywhere() {
	a := newExampleApp(func(mux *http.ServeMux, tf *twofactor.Manager) {
		mux.Handle("/account", tf.Require(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprint(w, "account")
		})))
	})
	defer a.srv.Close()
	a.user = "alice"
	a.do(http.MethodGet, "/account", nil)
	a.do(http.MethodPost, "/2fa/send", url.Values{})
	a.do(http.MethodPost, "/2fa/check", url.Values{"code": {<-a.codes}})

	if err := a.tf.SignOutEverywhere(context.Background(), "alice"); err != nil {
		log.Fatal(err)
	}
	a.do(http.MethodGet, "/account", nil)
	// Output:
	// /2fa/ 200 Verify your phone
	// /2fa/ 200 Enter your code
	// /account 200 account
	// /2fa/ 200 Verify your phone
}

// Grant verifies a session by a factor of the app's own (here, pretend a
// security key just answered); the gate treats it like a code.
func ExampleManager_Grant() {
	a := newExampleApp(func(mux *http.ServeMux, tf *twofactor.Manager) {
		mux.HandleFunc("POST /webauthn/finish", func(w http.ResponseWriter, r *http.Request) {
			// … check the security key's answer, then:
			if err := tf.Grant(w, r, "webauthn", ""); err != nil {
				http.Error(w, "try again", http.StatusServiceUnavailable)
				return
			}
			http.Redirect(w, r, "/account", http.StatusSeeOther)
		})
		mux.Handle("/account", tf.Require(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			rec, _ := twofactor.RecordFrom(r)
			fmt.Fprintf(w, "verified by %s", rec.Method)
		})))
	})
	defer a.srv.Close()
	a.user = "alice"
	a.do(http.MethodPost, "/webauthn/finish", url.Values{})
	// Output:
	// /account 200 verified by webauthn
}

// WithEnrolment: a user with no number on file proves one, and the app
// saves it.
func ExampleWithEnrolment() {
	saved := map[string]string{}
	a := newExampleApp(func(mux *http.ServeMux, tf *twofactor.Manager) {
		mux.Handle("/account", tf.Require(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			rec, _ := twofactor.RecordFrom(r)
			fmt.Fprintf(w, "number %s", rec.MaskedPhone())
		})))
	}, twofactor.WithEnrolment(func(r *http.Request, phone string) error {
		saved[r.Header.Get("X-User")] = phone // your users table
		return nil
	}))
	defer a.srv.Close()
	a.user = "bob" // no number on file
	a.do(http.MethodGet, "/account", nil)
	a.do(http.MethodPost, "/2fa/send", url.Values{"phone": {"+31 6 87654321"}})
	a.do(http.MethodPost, "/2fa/check", url.Values{"code": {<-a.codes}})
	fmt.Println("saved:", saved["bob"])
	// Output:
	// /2fa/ 200 Verify your phone
	// /2fa/ 200 Enter your code
	// /account 200 number +31 6 •••••321
	// saved: +31687654321
}

// A login app: WithSubject names the signed-in user (from the app's own
// login session; here a header), WithPhoneLookup their number on file. The
// code goes to that number, and the verification belongs to that user: bob
// in the same browser is not verified by alice's code.
func ExampleWithPhoneLookup() {
	a := newExampleApp(func(mux *http.ServeMux, tf *twofactor.Manager) {
		mux.Handle("/account", tf.Require(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			rec, _ := twofactor.RecordFrom(r)
			fmt.Fprintf(w, "account of %s, code sent to %s", rec.Subject, rec.MaskedPhone())
		})))
	}) // newExampleApp sets WithSubject and WithPhoneLookup, as a login app does
	defer a.srv.Close()
	a.user = "alice"
	a.do(http.MethodGet, "/account", nil)
	a.do(http.MethodPost, "/2fa/send", url.Values{}) // no number typed: the one on file
	a.do(http.MethodPost, "/2fa/check", url.Values{"code": {<-a.codes}})
	a.user = "bob" // signs in in the same browser
	a.do(http.MethodGet, "/account", nil)
	// Output:
	// /2fa/ 200 Verify your phone
	// /2fa/ 200 Enter your code
	// /account 200 account of alice, code sent to +31 6 •••••678
	// /2fa/ 200 Verify your phone
}

// WithEvents receives every security event, for an audit log or to tell
// the user ("a new device signed in"). Phone numbers are full E.164: the
// app decides what to keep.
func ExampleWithEvents() {
	var events []string
	a := newExampleApp(func(mux *http.ServeMux, tf *twofactor.Manager) {
		mux.Handle("/account", tf.Require(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprint(w, "account")
		})))
	}, twofactor.WithEvents(func(e twofactor.Event) {
		events = append(events, fmt.Sprintf("%s user=%s method=%s", e.Type, e.Subject, e.Method))
	}))
	defer a.srv.Close()
	a.user = "alice"
	a.do(http.MethodGet, "/account", nil)
	a.do(http.MethodPost, "/2fa/send", url.Values{})
	code := <-a.codes
	a.do(http.MethodPost, "/2fa/check", url.Values{"code": {"000000"}})
	a.do(http.MethodPost, "/2fa/check", url.Values{"code": {code}})
	fmt.Println(strings.Join(events, "\n"))
	// Output:
	// /2fa/ 200 Verify your phone
	// /2fa/ 200 Enter your code
	// /2fa/check 400 Error: Enter your code
	// /account 200 account
	// code_sent user=alice method=
	// check_failed user=alice method=
	// verified user=alice method=sms
}

// Reset at logout revokes the verification on the server: even a copy of
// the cookie no longer passes the gate.
func ExampleManager_Reset() {
	a := newExampleApp(func(mux *http.ServeMux, tf *twofactor.Manager) {
		mux.Handle("/account", tf.Require(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprint(w, "account")
		})))
		mux.HandleFunc("POST /logout", func(w http.ResponseWriter, r *http.Request) {
			if err := tf.Reset(w, r); err != nil {
				http.Error(w, "try again", http.StatusServiceUnavailable)
				return
			}
			// … end the app's own login session too …
			http.Redirect(w, r, "/account", http.StatusSeeOther)
		})
	})
	defer a.srv.Close()
	a.user = "alice"
	a.do(http.MethodGet, "/account", nil)
	a.do(http.MethodPost, "/2fa/send", url.Values{})
	a.do(http.MethodPost, "/2fa/check", url.Values{"code": {<-a.codes}})
	a.do(http.MethodPost, "/logout", url.Values{})
	// Output:
	// /2fa/ 200 Verify your phone
	// /2fa/ 200 Enter your code
	// /account 200 account
	// /2fa/ 200 Verify your phone
}

// The JSON API: the same flow for single-page and mobile apps. Every
// answer is JSON when the request asks for it, errors included.
func Example_jsonAPI() {
	codes := make(chan string, 1)
	now := func() time.Time { return time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC) }
	tf, err := twofactor.New(&twofactor.Mock{OnCode: func(_ twofactor.Verification, c string) { codes <- c }, Now: now}, nil,
		twofactor.WithLogger(slog.New(slog.DiscardHandler)), twofactor.WithClock(now))
	if err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/2fa/", tf.Handler())
	srv := httptest.NewTLSServer(mux)
	defer srv.Close()
	client := srv.Client()
	client.Jar, _ = cookiejar.New(nil)
	call := func(method, path, body string) {
		req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		req.Header.Set("Accept", "application/json")
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		res, err := client.Do(req)
		if err != nil {
			log.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		fmt.Print(res.StatusCode, " ", string(b))
	}
	call(http.MethodPost, "/2fa/send", `{"phone":"+31612345678","next":"/account"}`)
	call(http.MethodPost, "/2fa/check", `{"code":"12345"}`)
	call(http.MethodPost, "/2fa/check", fmt.Sprintf(`{"code":%q}`, <-codes))
	call(http.MethodGet, "/2fa/nowhere", "")
	// Output:
	// 200 {"status":"code_sent","phone":"+31 6 •••••678","channel":"sms","expires_at":"2026-12-01T09:05:00Z","resend_after":30}
	// 400 {"error":{"code":"malformed_code","message":"Please enter the 6-digit code from the message."}}
	// 200 {"status":"verified","redirect":"/account","method":"sms"}
	// 404 {"error":{"code":"not_found","message":"There's no page here."}}
}

// Check reads a session's verification record outside the gate, such as
// in a page that shows more to verified visitors; RecordFrom reads it in a
// gated handler.
func ExampleManager_Check() {
	a := newExampleApp(func(mux *http.ServeMux, tf *twofactor.Manager) {
		mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
			rec, err := tf.Check(r)
			switch {
			case errors.Is(err, twofactor.ErrNotVerified):
				fmt.Fprint(w, "home (not verified)")
			case err != nil:
				http.Error(w, "try again", http.StatusServiceUnavailable)
			default:
				fmt.Fprintf(w, "home (verified by %s, %s)", rec.Method, rec.MaskedPhone())
			}
		})
	})
	defer a.srv.Close()
	a.user = "alice"
	a.do(http.MethodGet, "/", nil)
	a.do(http.MethodPost, "/2fa/send", url.Values{})
	a.do(http.MethodPost, "/2fa/check", url.Values{"code": {<-a.codes}})
	// Output:
	// / 200 home (not verified)
	// /2fa/ 200 Enter your code
	// / 200 home (verified by sms, +31 6 •••••678)
}

// WithRememberDevice: a browser that ticked "remember this device" signs
// in without a code; the user lists their devices and revokes one.
func ExampleManager_Devices() {
	a := newExampleApp(func(mux *http.ServeMux, tf *twofactor.Manager) {
		mux.Handle("/account", tf.Require(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			rec, _ := twofactor.RecordFrom(r)
			fmt.Fprintf(w, "account, verified by %s", rec.Method)
		})))
		mux.HandleFunc("POST /logout", func(w http.ResponseWriter, r *http.Request) {
			_ = tf.Reset(w, r)
			http.Redirect(w, r, "/account", http.StatusSeeOther)
		})
	}, twofactor.WithRememberDevice(30*24*time.Hour))
	defer a.srv.Close()
	a.user = "alice"
	a.do(http.MethodGet, "/account", nil)
	a.do(http.MethodPost, "/2fa/send", url.Values{})
	a.do(http.MethodPost, "/2fa/check", url.Values{"code": {<-a.codes}, "remember": {"1"}})
	a.do(http.MethodPost, "/logout", url.Values{}) // back to /account: no code needed

	devices, err := a.tf.Devices(context.Background(), "alice")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(len(devices), "remembered device:", devices[0].Name)
	if err := a.tf.RevokeDevice(context.Background(), "alice", devices[0].ID); err != nil {
		log.Fatal(err)
	}
	a.do(http.MethodPost, "/logout", url.Values{}) // now the flow asks for a code
	// Output:
	// /2fa/ 200 Verify your phone
	// /2fa/ 200 Enter your code
	// /account 200 account, verified by sms
	// /account 200 account, verified by device
	// 1 remembered device: Unknown browser
	// /2fa/ 200 Verify your phone
}

// Unlock clears a user's lockout after too many wrong codes, for a support
// desk that has checked who is calling.
func ExampleManager_Unlock() {
	a := newExampleApp(func(mux *http.ServeMux, tf *twofactor.Manager) {
		mux.Handle("/account", tf.Require(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprint(w, "account")
		})))
	}, twofactor.WithLimits(func(l *twofactor.Limits) { l.Account = twofactor.Limit{N: 1, Per: 24 * time.Hour} }))
	defer a.srv.Close()
	a.user = "alice"
	a.do(http.MethodGet, "/account", nil)
	a.do(http.MethodPost, "/2fa/send", url.Values{})
	code := <-a.codes
	a.do(http.MethodPost, "/2fa/check", url.Values{"code": {"000000"}})
	a.do(http.MethodPost, "/2fa/check", url.Values{"code": {code}}) // locked, even the right code
	if err := a.tf.Unlock(context.Background(), "alice", ""); err != nil {
		log.Fatal(err)
	}
	a.do(http.MethodPost, "/2fa/check", url.Values{"code": {code}})
	// Output:
	// /2fa/ 200 Verify your phone
	// /2fa/ 200 Enter your code
	// /2fa/check 400 Error: Enter your code
	// /2fa/check 429 Error: Enter your code
	// /account 200 account
}
