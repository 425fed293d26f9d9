package twofactor_test

import (
	"encoding/json"
	"fmt"
	"log"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/go-twofactor/twofactor"
)

// Passkeys beside SMS. A settings page behind step-up adds one with the
// library's script: a button such as
//
//	<button type="button" hidden data-tf-passkey-register data-tf-prefix="/2fa/">Add a passkey</button>
//	<script src="/2fa/passkey.js" defer></script>
//
// runs the registration with the browser (navigator.credentials.create)
// through the flow's JSON endpoints. After the password, send the user to
// prefix+"passkey" ("Use your passkey", with a text message as the way
// out); Factors lists their passkeys and RemoveFactor removes one.
func ExampleWithPasskeys() {
	a := newExampleApp(func(mux *http.ServeMux, tf *twofactor.Manager) {
		mux.Handle("/settings", tf.RequireFresh(5*time.Minute)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fs, _ := tf.Factors(r)
			fmt.Fprintf(w, "settings: %d factor(s), the first by %s", len(fs), fs[0].Method)
		})))
	}, twofactor.WithPasskeys(twofactor.PasskeyConfig{
		RPID:          "bank.example", // the site's domain: passkeys are bound to it
		RPDisplayName: "BirdBank",
		Origins:       []string{"https://bank.example"},
		// Store: nil keeps the passkeys in the State (WithState).
	}))
	defer a.srv.Close()
	a.user = "alice"
	a.do(http.MethodGet, "/settings", nil)
	a.do(http.MethodPost, "/2fa/send", url.Values{})
	a.do(http.MethodPost, "/2fa/check", url.Values{"code": {<-a.codes}})

	// What passkey.js asks the browser for when "Add a passkey" is pressed.
	req, _ := http.NewRequest(http.MethodPost, a.srv.URL+"/2fa/passkey/register/begin", strings.NewReader(`{"name":"My phone"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-User", a.user)
	res, err := a.client.Do(req)
	if err != nil {
		log.Fatal(err)
	}
	defer res.Body.Close()
	var o struct {
		PublicKey struct {
			RP                     struct{ ID, Name string }
			AuthenticatorSelection struct{ ResidentKey, UserVerification string }
		}
	}
	if err := json.NewDecoder(res.Body).Decode(&o); err != nil {
		log.Fatal(err)
	}
	pk := o.PublicKey
	fmt.Println(res.StatusCode, pk.RP.ID, pk.RP.Name, "resident key", pk.AuthenticatorSelection.ResidentKey, "user verification", pk.AuthenticatorSelection.UserVerification)
	// Output:
	// /2fa/ 200 Verify your phone
	// /2fa/ 200 Enter your code
	// /settings 200 settings: 1 factor(s), the first by sms
	// 200 bank.example BirdBank resident key preferred user verification preferred
}
