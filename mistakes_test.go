package twofactor_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/gorilla/sessions"

	"github.com/go-twofactor/twofactor"
)

// Configuration mistakes a first user makes fail at start, with a message
// that names the fix.
func TestMistakesFailAtStart(t *testing.T) {
	key32 := []byte("test hash key, 32 bytes long....")
	page := func(body string) fstest.MapFS {
		return fstest.MapFS{"phone.html": {Data: []byte(body)}}
	}
	tests := []struct {
		name  string
		store sessions.Store
		opts  []twofactor.Option
		want  []string // all in the error
	}{
		{"unknown default region", nil, []twofactor.Option{twofactor.WithDefaultRegion("XX")}, []string{`"XX"`, `such as "NL"`}},
		{"UK for GB", nil, []twofactor.Option{twofactor.WithDefaultRegion("uk")}, []string{`"GB"`}},
		{"unknown allowed region", nil, []twofactor.Option{twofactor.WithFraudGuard(func(g *twofactor.FraudGuard) { g.Regions = []string{"NL", "QQ"} })}, []string{"FraudGuard.Regions", `"QQ"`}},
		{"misspelled text key", nil, []twofactor.Option{twofactor.WithTemplates(page(`{{define "content"}}<h1>{{.T.phone_titel}}</h1>{{end}}`))},
			[]string{"phone.html", ".T.phone_titel", "did you mean .T.phone_title?"}},
		{"misspelled text key in a branch never taken", nil, []twofactor.Option{twofactor.WithTemplates(page(`{{define "content"}}{{if .Change}}{{.T.change_tittle}}{{end}}{{end}}`))},
			[]string{".T.change_tittle", "did you mean .T.change_title?"}},
		{"unknown text key by index", nil, []twofactor.Option{twofactor.WithTemplates(page(`{{define "content"}}{{index .T "nope"}}{{end}}`))},
			[]string{".T.nope"}},
		{"unknown text key in printf", nil, []twofactor.Option{twofactor.WithTemplates(fstest.MapFS{"layout.html": {Data: []byte(`{{printf .T.back_too "x"}}{{block "content" .}}{{end}}`)}})},
			[]string{"layout.html", ".T.back_too", "did you mean .T.back_to?"}},
		{"misspelled file name", nil, []twofactor.Option{twofactor.WithTemplates(fstest.MapFS{"phone.html": {Data: []byte(`{{define "content"}}x{{end}}`)}, "Code.html": {Data: []byte("x")}})},
			[]string{`"Code.html"`, `did you mean "code.html"?`}},
		{"unknown file name", nil, []twofactor.Option{twofactor.WithTemplates(fstest.MapFS{"account.html": {Data: []byte("x")}})},
			[]string{`"account.html"`, "the flow reads only layout.html"}},
		{"templates one directory too high", nil, []twofactor.Option{twofactor.WithTemplates(fstest.MapFS{"templates/phone.html": {Data: []byte("x")}})},
			[]string{`fs.Sub(fsys, "templates")`}},
		{"5-byte hash key", sessions.NewCookieStore([]byte("12345")), nil, []string{"hash key (pair 1) is 5 bytes", "at least 32", "GenerateRandomKey(32)"}},
		{"short hash key of a second pair", sessions.NewCookieStore(key32, nil, []byte("old")), nil, []string{"pair 2", "3 bytes"}},
		{"bad block key", sessions.NewCookieStore(key32, []byte("12345")), nil, []string{"block key must be 16, 24 or 32 bytes"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := twofactor.New(&twofactor.Mock{}, tt.store, tt.opts...)
			if err == nil || m != nil {
				t.Fatalf("New = %v, %v; want an error", m, err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			if !strings.HasPrefix(err.Error(), "twofactor: ") {
				t.Errorf("error %q does not say where it comes from", err)
			}
		})
	}

	// What is right still starts.
	good := []struct {
		name  string
		store sessions.Store
		opts  []twofactor.Option
	}{
		{"real regions", nil, []twofactor.Option{twofactor.WithDefaultRegion("gb"), twofactor.WithFraudGuard(func(g *twofactor.FraudGuard) { g.Regions = []string{"NL", "be", "GB"} })}},
		{"an override with other files in subdirectories", nil, []twofactor.Option{twofactor.WithTemplates(fstest.MapFS{
			"phone.html": {Data: []byte(`{{define "content"}}<h1>{{.T.phone_title}}</h1>{{index .T "send_button"}}{{end}}`)}, "README": {Data: []byte("x")}, "img/logo.svg": {Data: []byte("x")}})}},
		{"32-byte keys", sessions.NewCookieStore(key32, []byte("test block key, 32 bytes long..."), key32, nil), nil},
	}
	for _, tt := range good {
		if _, err := twofactor.New(&twofactor.Mock{}, tt.store, tt.opts...); err != nil {
			t.Errorf("%s: New: %v", tt.name, err)
		}
	}
}

// RequireFresh with less than a minute panics when the route is set up,
// with the fix in the message; a minute or more works.
func TestRequireFreshBelowAMinute(t *testing.T) {
	m, err := twofactor.New(&twofactor.Mock{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		within time.Duration
		want   string
	}{
		{5, "did you mean RequireFresh(5*time.Minute)?"},
		{0, "RequireFresh(5*time.Minute)"},
		{-time.Minute, "RequireFresh(5*time.Minute)"},
		{59 * time.Second, "at least a minute"},
	} {
		t.Run(fmt.Sprint(tt.within), func(t *testing.T) {
			defer func() {
				err, _ := recover().(error)
				if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.HasPrefix(err.Error(), "twofactor: RequireFresh(") {
					t.Errorf("RequireFresh(%v) panicked with %v; want an error saying %q", tt.within, err, tt.want)
				}
			}()
			m.RequireFresh(tt.within)
		})
	}
	h := m.RequireFresh(twofactor.MinFresh)(http.NotFoundHandler())
	if h == nil {
		t.Fatal("RequireFresh(MinFresh) returned no middleware")
	}
}
