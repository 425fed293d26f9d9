package main

// The flow's pages are the library's, with a few changes for this app
// (flowpages/, handed to twofactor.WithTemplates). This test keeps the
// copies in step with the library: each copy must be the library's file
// with exactly the changes below. When the library's pages change, run
//
//	go test ./examples/signin -run TestFlowPagesInStep -update
//
// and look at the diff.

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite flowpages/ from the library's templates")

// flowPatches are this app's changes to the library's pages: each replaces
// one text that must occur exactly once in the library's file.
var flowPatches = map[string][]struct{ old, new string }{
	// A way to sign out from every page of the flow: the user is signed
	// in (by password) there, and may be the wrong one.
	"layout.html": {{
		old: `{{if .AppName}}<span class="tf-app">{{.AppName}}</span>{{end}}</header>`,
		new: `{{if .AppName}}<span class="tf-app">{{.AppName}}</span>{{end}}<form method="post" action="/logout" class="tf-actions"><button type="submit" class="tf-link" id="logout">{{if eq .Lang "nl"}}Afmelden{{else}}Sign out{{end}}</button></form></header>`,
	}},
	"parts.html": {
		// No recovery code for a user who is giving a first number: they
		// have none yet.
		{
			old: `{{define "recovery"}}`,
			new: `{{define "recovery"}}{{if not .Enrol}}`,
		},
		// One "Remember this device" per page: the code form (and an
		// authenticator app's) has its own, so the recovery form has one
		// only where there is no code form.
		{
			old: `{{if .Remember}}<label class="tf-check"><input type="checkbox" name="remember" value="1"> {{.T.remember_label}}</label>{{end}}
<button type="submit" class="tf-secondary">{{.T.recovery_button}}</button>
</form>
{{end}}`,
			new: `{{if and .Remember (not .Factor) (or (not .Channel) .CodeDead)}}<label class="tf-check"><input type="checkbox" name="remember" value="1"> {{.T.remember_label}}</label>{{end}}
<button type="submit" class="tf-secondary">{{.T.recovery_button}}</button>
</form>
{{end}}{{end}}`,
		},
	},
	"phone.html": {
		// A placeholder of the preselected country (from the browser's
		// language), not always a Dutch one, and with JavaScript one that
		// follows the country chosen (flow.js, data-tf-follow).
		{
			old: `placeholder="6 12345678"`,
			new: `data-tf-follow{{with .Example}} placeholder="{{.}}"{{end}}`,
		},
		// Cancel, back where the change started, on the change page.
		{
			old: `{{template "wait" .}}
{{if not .Change}}{{template "others" .}}{{end}}`,
			new: `{{if .Change}}<p><a href="{{if .Next}}{{.Next}}{{else}}/settings{{end}}" id="cancel">{{if eq .Lang "nl"}}Annuleren{{else}}Cancel{{end}}</a></p>{{end}}
{{template "wait" .}}
{{if not .Change}}{{template "others" .}}{{end}}`,
		},
	},
}

func TestFlowPagesInStep(t *testing.T) {
	for file, patches := range flowPatches {
		lib, err := os.ReadFile(filepath.Join("..", "..", "templates", file))
		if err != nil {
			t.Fatal(err)
		}
		want := string(lib)
		for _, p := range patches {
			if n := strings.Count(want, p.old); n != 1 {
				t.Fatalf("%s: the library's page has %q %d times, want once: update flowPatches", file, p.old, n)
			}
			want = strings.Replace(want, p.old, p.new, 1)
		}
		path := filepath.Join("flowpages", file)
		if *update {
			if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != want {
			t.Errorf("%s is not the library's page with this app's changes: run go test -run TestFlowPagesInStep -update", path)
		}
	}
	entries, err := os.ReadDir("flowpages")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if _, ok := flowPatches[e.Name()]; !ok {
			t.Errorf("flowpages/%s is no patched page: remove it", e.Name())
		}
	}
}
