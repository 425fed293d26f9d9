package twofactor_test

import (
	"fmt"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"

	"github.com/go-chi/chi/v5"
	"github.com/gorilla/mux"

	"github.com/go-twofactor/twofactor"
)

// routerManager is a Manager for the router examples.
func routerManager() *twofactor.Manager {
	tf, err := twofactor.New(&twofactor.Mock{}, nil, twofactor.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		log.Fatal(err)
	}
	return tf
}

// tryRouter sends the requests every mount must route: the flow's page, a
// POST to the flow, and the gated page.
func tryRouter(h http.Handler) {
	for _, req := range []*http.Request{
		httptest.NewRequest(http.MethodGet, "/2fa/", nil),
		httptest.NewRequest(http.MethodPost, "/2fa/send", strings.NewReader(url.Values{"phone": {"+31612345678"}}.Encode())),
		httptest.NewRequest(http.MethodGet, "/account", nil),
	} {
		if req.Method == http.MethodPost {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		fmt.Println(strings.TrimSpace(fmt.Sprint(req.Method, " ", req.URL.Path, " ", rec.Code, " ", rec.Header().Get("Location"))))
	}
}

var account = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "balance") })

// With net/http's ServeMux, mount the flow at its prefix with the trailing
// slash, so that every path below it goes to the flow.
func Example_serveMux() {
	tf := routerManager()
	mux := http.NewServeMux()
	mux.Handle("/2fa/", tf.Handler())
	mux.Handle("GET /account", tf.Require(account))
	tryRouter(mux)
	// Output:
	// GET /2fa/ 200
	// POST /2fa/send 303 /2fa/
	// GET /account 303 /2fa/?next=%2Faccount
}

// With chi, mount the flow with Mount (or Handle("/2fa/*", …)): a plain
// Handle("/2fa/", …) matches only that one path, and every POST to the
// flow would get 404.
func Example_chi() {
	tf := routerManager()
	r := chi.NewRouter()
	r.Mount("/2fa", tf.Handler())
	r.With(tf.Require).Get("/account", account)
	tryRouter(r)
	// Output:
	// GET /2fa/ 200
	// POST /2fa/send 303 /2fa/
	// GET /account 303 /2fa/?next=%2Faccount
}

// With gorilla/mux, mount the flow with PathPrefix.
func Example_gorillaMux() {
	tf := routerManager()
	r := mux.NewRouter()
	r.PathPrefix("/2fa/").Handler(tf.Handler())
	r.Handle("/account", tf.Require(account)).Methods(http.MethodGet)
	tryRouter(r)
	// Output:
	// GET /2fa/ 200
	// POST /2fa/send 303 /2fa/
	// GET /account 303 /2fa/?next=%2Faccount
}
