package twofactor

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"maps"
	"net/http"
	"path"
	"slices"
	"strings"
	"text/template/parse"

	"golang.org/x/text/language"
)

//go:embed templates
var builtin embed.FS

// pageNames are the pages of the flow; each is rendered inside layout.html.
var pageNames = []string{"phone.html", "code.html", "message.html", "totp.html", "passkey.html"}

// pages holds the parsed templates and the stylesheet.
type pages struct {
	tmpl map[string]*template.Template
	css  []byte
	js   []byte
	icon []byte
}

// pageData is what every template receives.
type pageData struct {
	Lang       string // "en" or "nl"
	T          dict   // the page texts in Lang: {{.T.phone_title}}
	Error      string // message to show, already translated
	Prefix     string // where the flow is mounted, such as "/2fa/"
	Phone      string // masked number the code goes to
	KnownPhone bool   // known-number mode: no number input
	CodeLength int    // digits in a code
	Channel    string // "sms" or "voice" for the pending code
	ResendIn   int    // seconds until a resend is allowed
	Voice      bool   // "call me instead" is offered
	Link       string // where the message page's link goes
	StepUp     bool   // verified already: confirming it's still them
	Enrol      bool   // known-number mode without a number: asking for one
	Change     bool   // a verified user giving a new number
	Recovery   bool   // "use a recovery code" is offered
	Remember   bool   // "remember this device" is offered
	CodeDead   bool   // the code expired or can't be used any more: "send a new code" leads
	Field      string // the field at fault: "phone", "code" or "recovery_code"
	PhoneValue string // the number as typed, kept after an error
	Country    string // preselected country of the phone form ("NL")
	Example    string // a mobile number of Country as typed after choosing it ("6 12345678"); "" without one
	Countries  []country
	Next       string // local path to return to, carried by the forms
	Retry      bool   // the message page's link tries again
	AppName    string // WithBranding
	LogoURL    string
	HomeURL    string
	Challenge  *ChallengeData // a challenge the phone form carries (challenge.go)
	Factor     string         // on a factor's own page, its kind ("totp"); "" on the SMS pages
	Others     []otherFactor  // the other ways this user can verify, strongest first (factors.go)
}

// pick returns name from the app's templates if it has it, else the
// built-in one.
func pick(override fs.FS, name string) ([]byte, error) {
	if override != nil {
		b, err := fs.ReadFile(override, name)
		if err == nil {
			return b, nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("twofactor: template %s: %w", name, err)
		}
	}
	return builtin.ReadFile("templates/" + name)
}

// templateFiles are the files WithTemplates may override.
var templateFiles = append([]string{"layout.html", "parts.html", "style.css", "flow.js", "passkey.js", "icon.svg"}, pageNames...)

// checkOverride refuses an override FS with a file the flow would ignore
// (a misspelled name) or with none of the flow's files at its root (a
// directory passed one level too high).
func checkOverride(fsys fs.FS) error {
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return fmt.Errorf("twofactor: WithTemplates: reading the root of the FS: %w", err)
	}
	known, dirs := 0, []string{}
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() {
			dirs = append(dirs, name)
			continue
		}
		if slices.Contains(templateFiles, name) {
			known++
			continue
		}
		switch path.Ext(name) {
		case ".html", ".css", ".js", ".tmpl", ".gohtml":
			hint := "the flow reads only " + strings.Join(templateFiles, ", ")
			if near := nearest(name, templateFiles); near != "" {
				hint = fmt.Sprintf("did you mean %q? (%s)", near, hint)
			}
			return fmt.Errorf("twofactor: WithTemplates: file %q is not one of the flow's templates and would be ignored; %s", name, hint)
		}
	}
	if known == 0 {
		hint := "put at least one of " + strings.Join(templateFiles, ", ") + " at its root"
		if len(dirs) == 1 {
			hint = fmt.Sprintf("it holds a directory %q: pass fs.Sub(fsys, %q)", dirs[0], dirs[0])
		}
		return fmt.Errorf("twofactor: WithTemplates: the FS has none of the flow's files at its root, so nothing would be overridden; %s", hint)
	}
	return nil
}

// checkTextKeys refuses a template that names a page text (.T.key or
// index .T "key") that doesn't exist: it would render as nothing.
func checkTextKeys(file string, t *template.Template) error {
	for _, tt := range t.Templates() {
		if tt.Tree == nil {
			continue
		}
		if bad := unknownText(tt.Tree.Root); bad != "" {
			keys := slices.Sorted(maps.Keys(messages["en"]))
			hint := "the texts are listed in the messages of pages.go"
			if near := nearest(bad, keys); near != "" {
				hint = fmt.Sprintf("did you mean .T.%s?", near)
			}
			return fmt.Errorf("twofactor: template %s (in %q): page text .T.%s doesn't exist and would show nothing; %s", file, tt.Name(), bad, hint)
		}
	}
	return nil
}

// unknownText returns the first page text named in n or below it that
// doesn't exist, else "".
func unknownText(n parse.Node) string {
	if key, ok := textKey(n); ok {
		if _, known := messages["en"][key]; !known {
			return key
		}
	}
	for _, c := range textChildren(n) {
		if bad := unknownText(c); bad != "" {
			return bad
		}
	}
	return ""
}

// textKey returns the page text n names, if it names one: .T.key, or
// index .T "key".
func textKey(n parse.Node) (string, bool) {
	switch n := n.(type) {
	case *parse.CommandNode:
		if len(n.Args) == 3 {
			fn, ok1 := n.Args[0].(*parse.IdentifierNode)
			f, ok2 := n.Args[1].(*parse.FieldNode)
			key, ok3 := n.Args[2].(*parse.StringNode)
			if ok1 && ok2 && ok3 && fn.Ident == "index" && len(f.Ident) == 1 && f.Ident[0] == "T" {
				return key.Text, true
			}
		}
	case *parse.FieldNode:
		if len(n.Ident) >= 2 && n.Ident[0] == "T" {
			return n.Ident[1], true
		}
	}
	return "", false
}

// textChildren returns the nodes under n where a page text can be named.
func textChildren(n parse.Node) []parse.Node {
	switch n := n.(type) {
	case *parse.ListNode:
		if n != nil {
			return n.Nodes
		}
	case *parse.ActionNode:
		return []parse.Node{n.Pipe}
	case *parse.IfNode:
		return []parse.Node{n.Pipe, n.List, n.ElseList}
	case *parse.RangeNode:
		return []parse.Node{n.Pipe, n.List, n.ElseList}
	case *parse.WithNode:
		return []parse.Node{n.Pipe, n.List, n.ElseList}
	case *parse.TemplateNode:
		return []parse.Node{n.Pipe}
	case *parse.PipeNode:
		if n != nil {
			nodes := make([]parse.Node, len(n.Cmds))
			for i, c := range n.Cmds {
				nodes[i] = c
			}
			return nodes
		}
	case *parse.CommandNode:
		return n.Args
	case *parse.ChainNode:
		return []parse.Node{n.Node}
	}
	return nil
}

// nearest returns the name in names closest to s by edit distance, when
// it is close enough to be a likely typo, else "".
func nearest(s string, names []string) string {
	best, bestD := "", len(s)/3+2
	for _, n := range names {
		if d := editDistance(strings.ToLower(s), n); d < bestD {
			best, bestD = n, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance of a and b (bytes).
func editDistance(a, b string) int {
	prev, cur := make([]int, len(b)+1), make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			sub := prev[j-1]
			if a[i-1] != b[j-1] {
				sub++
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, sub)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

func loadPages(override fs.FS) (*pages, error) {
	if override != nil {
		if err := checkOverride(override); err != nil {
			return nil, err
		}
	}
	layout, err := pick(override, "layout.html")
	if err != nil {
		return nil, err
	}
	parts, err := pick(override, "parts.html")
	if err != nil {
		return nil, err
	}
	p := &pages{tmpl: make(map[string]*template.Template)}
	for _, name := range pageNames {
		body, err := pick(override, name)
		if err != nil {
			return nil, err
		}
		t, err := template.New("layout.html").Parse(string(layout))
		if err == nil {
			_, err = t.New("parts.html").Parse(string(parts))
		}
		if err == nil {
			_, err = t.New(name).Parse(string(body))
		}
		if err != nil {
			return nil, fmt.Errorf("twofactor: template %s: %w", name, err)
		}
		if err := checkTextKeys(name, t); err != nil {
			return nil, err
		}
		p.tmpl[name] = t
	}
	if p.css, err = pick(override, "style.css"); err != nil {
		return nil, err
	}
	if p.js, err = pick(override, "flow.js"); err != nil {
		return nil, err
	}
	if p.icon, err = pick(override, "icon.svg"); err != nil {
		return nil, err
	}
	return p, p.check()
}

// check executes every page once with sample data of each kind, so that a
// broken template is an error from New rather than a 500 on a first visit.
func (p *pages) check() error {
	samples := []pageData{
		{Lang: "en", T: messages["en"], Prefix: "/2fa/", CodeLength: 6, Countries: countries("en")},
		{Lang: "nl", T: messages["nl"], Prefix: "/2fa/", CodeLength: 6, Phone: "+31 6 •••••678", KnownPhone: true, StepUp: true, Voice: true, ResendIn: 30, Recovery: true, Remember: true, Next: "/account", AppName: "App", LogoURL: "/logo.png", HomeURL: "/"},
		{Lang: "en", T: messages["en"], Prefix: "/2fa/", CodeLength: 6, Error: "x", Field: "phone", PhoneValue: "06", Enrol: true, Change: true, CodeDead: true, Retry: true, Link: "/2fa/", Channel: "voice", Countries: countries("en"), Country: "NL", Factor: "totp", Others: []otherFactor{{Link: "/2fa/?use=sms", Text: "x"}}},
	}
	for _, name := range pageNames {
		for i := range samples {
			if err := p.tmpl[name].ExecuteTemplate(io.Discard, "layout.html", &samples[i]); err != nil {
				return fmt.Errorf("twofactor: template %s: %w", name, err)
			}
		}
	}
	return nil
}

func (p *pages) serveCSS(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/css; charset=utf-8")
	w.Header().Set("Cache-Control", "public, max-age=3600")
	_, _ = w.Write(p.css)
}

func (p *pages) serveJS(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
	w.Header().Set("Cache-Control", "public, max-age=3600")
	_, _ = w.Write(p.js)
}

// serveIcon serves the pages' icon (the browser tab's), so that no page of
// the flow makes the browser ask for a /favicon.ico the app may not have.
func (p *pages) serveIcon(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "image/svg+xml")
	w.Header().Set("Cache-Control", "public, max-age=86400")
	_, _ = w.Write(p.icon)
}

// render executes a page into a buffer first, so a template error becomes a
// clean 500 rather than half a page.
func (m *Manager) render(w http.ResponseWriter, r *http.Request, status int, name string, d *pageData) {
	var buf bytes.Buffer
	if err := m.pages.tmpl[name].ExecuteTemplate(&buf, "layout.html", d); err != nil {
		m.log.Error("twofactor: template failed", "page", name, "err", err)
		http.Error(w, http.StatusText(http.StatusInternalServerError), http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Language", d.Lang)
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// dict is the texts of one language, keyed by message id.
type dict map[string]string

// format returns the message key, with arg in place of %d if it has one.
func (d dict) format(key string, arg int64) string {
	s := d[key]
	if strings.Contains(s, "%d") {
		return fmt.Sprintf(s, arg)
	}
	return s
}

var languages = []language.Tag{language.English, language.Dutch}

var matcher = language.NewMatcher(languages)

// matchLanguage picks "en" or "nl" for an Accept-Language header value or a
// language name.
func matchLanguage(accept string) string {
	tags, _, err := language.ParseAcceptLanguage(accept)
	if err != nil || len(tags) == 0 {
		return "en"
	}
	_, i, conf := matcher.Match(tags...)
	if conf == language.No {
		return "en"
	}
	base, _ := languages[i].Base()
	return base.String()
}

// messages holds the page texts. Keys are the same in every language.
var messages = map[string]dict{
	"en": {
		"title":             "Verify it's you",
		"phone_title":       "Verify your phone",
		"phone_intro":       "Choose your country and enter your mobile number, for example 6 12345678, or start it with + and the country code. We'll text you a code.",
		"known_intro":       "We'll send a verification code to",
		"phone_label":       "Mobile number",
		"send_button":       "Send code",
		"call_button":       "Call me instead",
		"code_title":        "Enter your code",
		"code_intro":        "We've sent a code by SMS to",
		"code_intro_voice":  "We're calling you with a code at",
		"code_label":        "Verification code",
		"check_button":      "Verify",
		"resend_button":     "Didn't get it? Send a new code",
		"resend_wait":       "You can ask for a new code in",
		"seconds":           "seconds",
		"second":            "second",
		"resend_ready":      "You can ask for a new code now.",
		"title_error":       "Error:",
		"code_dead_title":   "Get a new code",
		"other_number":      "Use another number",
		"message_title":     "Verification",
		"start_over":        "Start verification",
		"err_store":         "We can't check your session right now. Please try again in a moment.",
		"err_provider":      "We couldn't reach our messaging service. Please try again in a moment.",
		"err_provider_down": "We can't send codes right now because of a problem on our side. Please try again later.",
		"err_provider_slow": "Our messaging service asked us to slow down. Please wait a little and try again.",
		"err_uncertain":     "We couldn't confirm that your code was sent. Please wait a minute for it before asking for a new one.",
		"err_check_down":    "We couldn't check your code just now. Please try again: this didn't count as a try.",
		"err_destination":   "We can't send codes to this number. Please use another mobile number.",
		"err_required":      "Please verify your phone number to continue.",
		"err_cross_origin":  "This request came from another site and was refused.",
		"err_return":        "That return address isn't allowed.",
		"err_bad_input":     "We couldn't read that request. Please use the form.",
		"err_no_number":     "There's no phone number on file for your account.",
		"err_no_pending":    "There's no code waiting. Please ask for a new one.",
		"err_phone":         "That doesn't look like a valid mobile number. Check the country and the number, for example 6 12345678, or start it with + and the country code.",
		"err_region":        "We can't send codes to numbers in that country.",
		"err_number_type":   "We can only send codes to mobile numbers.",
		"err_no_voice":      "Calls aren't available. Please use SMS.",
		"err_send_limited":  "Too many codes requested. Please wait a little and try again.",
		"err_cooldown":      "A code is on its way. Please wait %d seconds before asking for a new one.",
		"err_locked":        "Too many wrong codes. Verification is locked for now; please try again later.",
		"err_locked_until":  "Too many wrong codes. Verification is locked until %s; no codes are sent until then.",
		"err_paused":        "We can't send codes right now. Please try again later.",
		"err_challenge":     "Many codes are being asked for right now, so your browser first does a short check (about a second) and then sends your code. Without JavaScript, please try again in %d minutes.",
		"err_busy":          "We're very busy right now. Please try again later.",
		"err_too_many":      "Too many wrong tries for this code. Please ask for a new code.",
		"err_expired":       "That code has expired. Please ask for a new one.",
		"err_used":          "That code can't be used any more. Please ask for a new one.",
		"err_wrong_code":    "That code isn't right. You have %d tries left.",
		"err_wrong_one":     "That code isn't right. You have 1 try left.",
		"err_malformed":     "Please enter the %d-digit code from the message.",
		"stepup_intro":      "To continue, confirm it's still you. We'll send a code to",
		"enrol_intro":       "Add your mobile number to protect your account. Choose your country and enter the number, for example 6 12345678, or start it with + and the country code. We'll text you a code.",
		"change_title":      "Change your number",
		"change_intro":      "Choose your country and enter your new mobile number, or start it with + and the country code. We'll text it a code; once you enter it, your other sessions and remembered devices are signed out.",
		"recovery_label":    "Or use a recovery code",
		"recovery_button":   "Use recovery code",
		"remember_label":    "Remember this device",
		"err_recovery":      "That recovery code isn't valid or has been used.",
		"err_save_phone":    "Your number was verified but we couldn't save it. Please try again.",
		"dead_intro":        "That code can't be used any more. Get a new one sent to",
		"new_code_button":   "Send a new code",
		"country_label":     "Country",
		"country_none":      "Country…",
		"try_again":         "Try again",
		"back_to":           "Back to %s",
		"back_home":         "Back",
		"err_phone_country": "Add your country code: choose your country, or start the number with + and the country code.",
		"err_phone_junk":    "That isn't a phone number. Use digits only, for example 6 12345678.",
		"err_cooldown_new":  "You can ask for a code for this number in %d seconds.",
		"err_not_found":     "There's no page here.",
		"err_method":        "That action isn't available here.",
		// Authenticator apps (totp.html) and the other factors' links.
		"totp_title":         "Enter the code from your authenticator app",
		"totp_intro":         "Open the authenticator app on your phone and enter the 6-digit code it shows for this account.",
		"totp_stepup_intro":  "To continue, confirm it's still you: enter the 6-digit code your authenticator app shows.",
		"totp_label":         "Code from your authenticator app",
		"use_totp":           "Use your authenticator app instead",
		"use_sms":            "Text me a code instead",
		"others_label":       "Other ways to verify",
		"err_totp_wrong":     "That code isn't right. Check that your phone's clock is right, and enter the code your authenticator app shows now.",
		"err_totp_malformed": "Please enter the 6-digit code from your authenticator app.",
		"err_totp_used":      "That code has been used already. Wait for your authenticator app to show a new one, and enter that.",
		"err_no_totp":        "There's no authenticator app on your account.",
		"err_no_sms":         "Codes by text message aren't available for your account. Please use your authenticator app.",
	},
	"nl": {
		"title":             "Bevestig dat u het bent",
		"phone_title":       "Bevestig uw telefoonnummer",
		"phone_intro":       "Kies uw land en vul uw mobiele nummer in, bijvoorbeeld 6 12345678, of begin met + en de landcode. We sturen u een code per sms.",
		"known_intro":       "We sturen een verificatiecode naar",
		"phone_label":       "Mobiel nummer",
		"send_button":       "Code versturen",
		"call_button":       "Bel mij liever",
		"code_title":        "Vul uw code in",
		"code_intro":        "We hebben een code per sms gestuurd naar",
		"code_intro_voice":  "We bellen u met een code op",
		"code_label":        "Verificatiecode",
		"check_button":      "Bevestigen",
		"resend_button":     "Niets ontvangen? Stuur een nieuwe code",
		"resend_wait":       "U kunt een nieuwe code aanvragen over",
		"seconds":           "seconden",
		"second":            "seconde",
		"resend_ready":      "U kunt nu een nieuwe code aanvragen.",
		"title_error":       "Fout:",
		"code_dead_title":   "Vraag een nieuwe code aan",
		"other_number":      "Een ander nummer gebruiken",
		"message_title":     "Verificatie",
		"start_over":        "Verificatie starten",
		"err_store":         "We kunnen uw sessie nu niet controleren. Probeer het zo opnieuw.",
		"err_provider":      "We konden onze berichtendienst niet bereiken. Probeer het zo opnieuw.",
		"err_provider_down": "We kunnen nu geen codes versturen door een probleem bij ons. Probeer het later opnieuw.",
		"err_provider_slow": "Onze berichtendienst vraagt ons het rustiger aan te doen. Wacht even en probeer het opnieuw.",
		"err_uncertain":     "We konden niet bevestigen dat je code is verstuurd. Wacht een minuut op de code voordat je een nieuwe aanvraagt.",
		"err_check_down":    "We konden je code nu niet controleren. Probeer het opnieuw: dit telde niet als poging.",
		"err_destination":   "We kunnen geen codes naar dit nummer sturen. Gebruik een ander mobiel nummer.",
		"err_required":      "Bevestig uw telefoonnummer om verder te gaan.",
		"err_cross_origin":  "Dit verzoek kwam van een andere website en is geweigerd.",
		"err_return":        "Dat terugkeeradres is niet toegestaan.",
		"err_bad_input":     "We konden dat verzoek niet lezen. Gebruik het formulier.",
		"err_no_number":     "Er is geen telefoonnummer bekend voor uw account.",
		"err_no_pending":    "Er staat geen code klaar. Vraag een nieuwe aan.",
		"err_phone":         "Dat lijkt geen geldig mobiel nummer. Controleer het land en het nummer, bijvoorbeeld 6 12345678, of begin met + en de landcode.",
		"err_region":        "We kunnen geen codes sturen naar nummers in dat land.",
		"err_number_type":   "We kunnen alleen codes naar mobiele nummers sturen.",
		"err_no_voice":      "Bellen is niet beschikbaar. Gebruik sms.",
		"err_send_limited":  "Te veel codes aangevraagd. Wacht even en probeer het opnieuw.",
		"err_cooldown":      "Er is een code onderweg. Wacht nog %d seconden voordat u een nieuwe aanvraagt.",
		"err_locked":        "Te veel verkeerde codes. Verificatie is tijdelijk geblokkeerd; probeer het later opnieuw.",
		"err_locked_until":  "Te veel verkeerde codes. Verificatie is geblokkeerd tot %s; tot dan sturen we geen codes.",
		"err_paused":        "We kunnen nu geen codes versturen. Probeer het later opnieuw.",
		"err_challenge":     "Er worden nu veel codes aangevraagd, dus uw browser doet eerst een korte controle (ongeveer een seconde) en verstuurt dan uw code. Zonder JavaScript: probeer het over %d minuten opnieuw.",
		"err_busy":          "Het is nu erg druk. Probeer het later opnieuw.",
		"err_too_many":      "Te vaak een verkeerde code voor deze code. Vraag een nieuwe code aan.",
		"err_expired":       "Die code is verlopen. Vraag een nieuwe aan.",
		"err_used":          "Die code kan niet meer gebruikt worden. Vraag een nieuwe aan.",
		"err_wrong_code":    "Die code klopt niet. U heeft nog %d pogingen.",
		"err_wrong_one":     "Die code klopt niet. U heeft nog 1 poging.",
		"err_malformed":     "Vul de code van %d cijfers uit het bericht in.",
		"stepup_intro":      "Bevestig dat u het nog bent om verder te gaan. We sturen een code naar",
		"enrol_intro":       "Voeg uw mobiele nummer toe om uw account te beveiligen. Kies uw land en vul het nummer in, bijvoorbeeld 6 12345678, of begin met + en de landcode. We sturen u een code per sms.",
		"change_title":      "Uw nummer wijzigen",
		"change_intro":      "Kies uw land en vul uw nieuwe mobiele nummer in, of begin met + en de landcode. We sturen er een code naartoe; zodra u die invult, worden uw andere sessies en onthouden apparaten afgemeld.",
		"recovery_label":    "Of gebruik een herstelcode",
		"recovery_button":   "Herstelcode gebruiken",
		"remember_label":    "Dit apparaat onthouden",
		"err_recovery":      "Die herstelcode is niet geldig of al gebruikt.",
		"err_save_phone":    "Uw nummer is bevestigd, maar we konden het niet opslaan. Probeer het opnieuw.",
		"dead_intro":        "Die code kan niet meer gebruikt worden. Laat een nieuwe sturen naar",
		"new_code_button":   "Nieuwe code sturen",
		"country_label":     "Land",
		"country_none":      "Land…",
		"try_again":         "Opnieuw proberen",
		"back_to":           "Terug naar %s",
		"back_home":         "Terug",
		"err_phone_country": "Voeg uw landcode toe: kies uw land, of begin het nummer met + en de landcode.",
		"err_phone_junk":    "Dat is geen telefoonnummer. Gebruik alleen cijfers, bijvoorbeeld 6 12345678.",
		"err_cooldown_new":  "U kunt over %d seconden een code voor dit nummer aanvragen.",
		"err_not_found":     "Hier is geen pagina.",
		"err_method":        "Die actie is hier niet beschikbaar.",
		// Authenticator-apps (totp.html) en de links naar de andere factoren.
		"totp_title":         "Vul de code uit uw authenticator-app in",
		"totp_intro":         "Open de authenticator-app op uw telefoon en vul de code van 6 cijfers in die hij voor dit account toont.",
		"totp_stepup_intro":  "Bevestig dat u het nog bent om verder te gaan: vul de code van 6 cijfers in die uw authenticator-app toont.",
		"totp_label":         "Code uit uw authenticator-app",
		"use_totp":           "Gebruik liever uw authenticator-app",
		"use_sms":            "Stuur mij liever een code per sms",
		"others_label":       "Andere manieren om te bevestigen",
		"err_totp_wrong":     "Die code klopt niet. Controleer of de klok van uw telefoon goed staat, en vul de code in die uw authenticator-app nu toont.",
		"err_totp_malformed": "Vul de code van 6 cijfers uit uw authenticator-app in.",
		"err_totp_used":      "Die code is al gebruikt. Wacht tot uw authenticator-app een nieuwe toont, en vul die in.",
		"err_no_totp":        "Er is geen authenticator-app aan uw account gekoppeld.",
		"err_no_sms":         "Codes per sms zijn voor uw account niet beschikbaar. Gebruik uw authenticator-app.",
	},
}
