package twofactor_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"

	"github.com/go-twofactor/twofactor"
)

// A bank confirms a transfer with a code made for its amount and payee. The
// visitor has verified their phone; the transfer form starts a
// confirmation, and the code form confirms it, exactly once. The action's
// details come back from the server-side State, never from the form.
func ExampleManager_Confirm() {
	codes := make(chan string, 2)
	sms := make(chan string, 2)
	provider := &smsText{Mock: &twofactor.Mock{OnCode: func(_ twofactor.Verification, code string) { codes <- code }}, text: sms}
	tf, err := twofactor.New(provider, nil,
		twofactor.WithBranding(twofactor.Branding{Name: "BirdBank"}),
		twofactor.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		log.Fatal(err)
	}

	// answerError answers a confirmation error with its status and code.
	answerError := func(w http.ResponseWriter, err error) {
		var ce *twofactor.ConfirmError
		if !errors.As(err, &ce) {
			http.Error(w, "internal error", http.StatusInternalServerError)
			return
		}
		w.WriteHeader(ce.Status)
		_ = json.NewEncoder(w).Encode(ce) // {"error":{"code":…,"message":…}}
	}

	mux := http.NewServeMux()
	mux.Handle("/2fa/", tf.Handler())
	mux.Handle("POST /transfer", tf.Require(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The app has checked the amount and the IBAN.
		c, err := tf.StartConfirmation(r, twofactor.Action{
			Description: "EUR 500.00 to NL91…4300",
			Details:     map[string]string{"cents": "50000", "iban": "NL91ABNA0417164300"},
			Amount:      "EUR 500.00",
			Payee:       "NL91…4300",
		})
		if err != nil {
			answerError(w, err)
			return
		}
		fmt.Fprint(w, c.ID) // carried by the code form
	})))
	mux.Handle("POST /transfer/confirm", tf.Require(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a, err := tf.Confirm(r, r.FormValue("id"), r.FormValue("code"))
		if err != nil {
			answerError(w, err)
			return
		}
		// Confirmed, once: carry out the transfer from a.Details.
		fmt.Fprintf(w, "Transfer confirmed: %s cents to %s", a.Details["cents"], a.Details["iban"])
	})))
	srv := httptest.NewTLSServer(mux)
	defer srv.Close()
	client := srv.Client()
	client.Jar, _ = cookiejar.New(nil)
	post := func(path string, form url.Values) string {
		res, err := client.PostForm(srv.URL+path, form)
		if err != nil {
			log.Fatal(err)
		}
		defer res.Body.Close()
		body, _ := io.ReadAll(res.Body)
		return string(body)
	}

	// Sign-in: the visitor verifies their phone.
	post("/2fa/send", url.Values{"phone": {"+31612345678"}})
	<-sms
	post("/2fa/check", url.Values{"code": {<-codes}})

	// The transfer: its SMS names the amount and the payee.
	id := post("/transfer", nil)
	fmt.Println(<-sms)
	code := <-codes
	fmt.Print(post("/transfer/confirm", url.Values{"id": {id}, "code": {code}}), "\n")
	// The same confirmation again confirms nothing.
	fmt.Print(post("/transfer/confirm", url.Values{"id": {id}, "code": {code}}))
	// Output:
	// BirdBank: confirm EUR 500.00 to NL91…4300. Code: {code}
	// Transfer confirmed: 50000 cents to NL91ABNA0417164300
	// {"error":{"code":"already_confirmed","message":"This was confirmed already."}}
}

// smsText is a Provider that reports each SMS text, as a provider that
// takes the message text (MessageBird) would send it.
type smsText struct {
	*twofactor.Mock
	text chan<- string
}

func (p *smsText) Send(ctx context.Context, req twofactor.Request) (twofactor.Verification, error) {
	p.text <- req.Message
	return p.Mock.Send(ctx, req)
}
