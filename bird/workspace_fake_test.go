package bird

import (
	"testing"

	"github.com/go-twofactor/twofactor/internal/fakebird"
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
