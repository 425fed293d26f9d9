package bird

import (
	"net/http"
	"testing"

	"github.com/go-twofactor/twofactor/internal/fakebird"
	"github.com/go-twofactor/twofactor/internal/faketls"
	"github.com/go-twofactor/twofactor/providertest"
)

const (
	wsHost      = fakebird.Host
	wsKey       = fakebird.AccessKey
	wsWorkspace = fakebird.WorkspaceID
	wsNavigator = fakebird.NavigatorID
	wsChannel   = fakebird.ChannelID
)

// fakeWorkspace is the shared fake of Bird's workspace Verify API.
type fakeWorkspace struct{ *fakebird.Workspace }

func newFakeWorkspace(t *testing.T) fakeWorkspace { return fakeWorkspace{fakebird.New(t)} }

// provider returns a Workspace that reaches the fake at Bird's real URL,
// with the fake's workspace and (unless cfg names a channel) navigator.
func (f fakeWorkspace) provider(t *testing.T, cfg WorkspaceConfig) *Workspace {
	t.Helper()
	cfg.HTTPClient = f.HTTPClient()
	if cfg.WorkspaceID == "" {
		cfg.WorkspaceID = wsWorkspace
	}
	if cfg.NavigatorID == "" && cfg.ChannelID == "" {
		cfg.NavigatorID = wsNavigator
	}
	p, err := NewWorkspace(wsKey, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// wsFaultBody is an error answer of Bird's main API (the shape a third
// party captured from api.bird.com; see providers.md).
func wsFaultBody(code, field string) string {
	details := "{}"
	if field != "" {
		details = `{"` + field + `":["is invalid"]}`
	}
	return `{"code":"` + code + `","message":"see docs","details":` + details + `}`
}

// wsFaults are the fault matrix's answers in the workspace API's words.
var wsFaults = map[string]http.Handler{
	string(providertest.FaultUnauthorized):      faketls.Answer(401, wsFaultBody("Unauthorized", "")),
	string(providertest.FaultForbidden):         faketls.Answer(403, wsFaultBody("AccessDenied", "")),
	string(providertest.FaultNoBalance):         faketls.Answer(402, wsFaultBody("PaymentRequired", "")),
	string(providertest.FaultNotFound):          faketls.Answer(404, wsFaultBody("NotFound", "")),
	string(providertest.FaultInvalidParameter):  faketls.Answer(422, wsFaultBody("InvalidPayload", ".steps[0].navigatorId")),
	string(providertest.FaultRateLimited):       faketls.Answer(429, wsFaultBody("TooManyRequests", ""), "Retry-After", "42"),
	string(providertest.FaultRateLimitedNoWait): faketls.Answer(429, wsFaultBody("TooManyRequests", "")),
	string(providertest.FaultServerError):       faketls.Answer(503, "<html>503</html>", "Content-Type", "text/html"),
	string(providertest.FaultHangBeforeSend):    faketls.HangBeforeSend,
	string(providertest.FaultHangAfterSend):     faketls.HangAfterSend,
	string(providertest.FaultMalformed):         faketls.Answer(202, `{"id":`),
}

// SetFault puts on a fault of the conformance suite's matrix.
func (f fakeWorkspace) SetFault(fault providertest.Fault) bool {
	return f.Server.SetFault(string(fault), wsFaults)
}
