package main

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/go-twofactor/twofactor"
	"github.com/go-twofactor/twofactor/bird"
	"github.com/go-twofactor/twofactor/failover"
	"github.com/go-twofactor/twofactor/messagebird"
	"github.com/go-twofactor/twofactor/twilioverify"
)

// providerSettings are the provider settings BirdBank reads from the
// environment. Any of the providers may be set up; with several, BirdBank
// fails over between them in this order: Bird's workspace Verify API,
// Bird's platform API, Twilio Verify, MessageBird's classic API.
type providerSettings struct {
	MessageBirdKey string // MESSAGEBIRD_API_KEY: MessageBird's classic API
	BirdKey        string // BIRD_API_KEY: Bird's platform (bk_{region}_…), or a workspace access key

	BirdAccessKey   string // BIRD_ACCESS_KEY: Bird's workspace API (api.bird.com)
	BirdWorkspaceID string // BIRD_WORKSPACE_ID
	BirdNavigatorID string // BIRD_NAVIGATOR_ID, or
	BirdChannelID   string // BIRD_CHANNEL_ID

	TwilioAccountSID     string // TWILIO_ACCOUNT_SID
	TwilioAuthToken      string // TWILIO_AUTH_TOKEN
	TwilioAPIKey         string // TWILIO_API_KEY, instead of the auth token
	TwilioAPISecret      string // TWILIO_API_SECRET
	TwilioServiceSID     string // TWILIO_VERIFY_SERVICE_SID: sign-in codes (no PSD2)
	TwilioPSD2ServiceSID string // TWILIO_VERIFY_PSD2_SERVICE_SID, optional: transfer codes (PSD2)
}

// providerSettingsFrom reads the settings with getenv (os.Getenv).
func providerSettingsFrom(getenv func(string) string) providerSettings {
	return providerSettings{
		MessageBirdKey:   getenv("MESSAGEBIRD_API_KEY"),
		BirdKey:          getenv("BIRD_API_KEY"),
		BirdAccessKey:    getenv("BIRD_ACCESS_KEY"),
		BirdWorkspaceID:  getenv("BIRD_WORKSPACE_ID"),
		BirdNavigatorID:  getenv("BIRD_NAVIGATOR_ID"),
		BirdChannelID:    getenv("BIRD_CHANNEL_ID"),
		TwilioAccountSID: getenv("TWILIO_ACCOUNT_SID"),
		TwilioAuthToken:  getenv("TWILIO_AUTH_TOKEN"),
		TwilioAPIKey:     getenv("TWILIO_API_KEY"),
		TwilioAPISecret:  getenv("TWILIO_API_SECRET"),
		TwilioServiceSID: getenv("TWILIO_VERIFY_SERVICE_SID"),

		TwilioPSD2ServiceSID: getenv("TWILIO_VERIFY_PSD2_SERVICE_SID"),
	}
}

// namedProvider is a provider and the name BirdBank logs for it.
type namedProvider struct {
	name string
	twofactor.Provider
}

// providers returns the providers s sets up, in failover order: Bird's
// workspace API, Bird's platform, Twilio, MessageBird. None is not an error
// (BirdBank then uses the mock); settings that are there but incomplete or
// malformed are. Errors never repeat a secret.
func (s providerSettings) providers() ([]namedProvider, error) {
	var ps []namedProvider
	if k := strings.ToLower(s.BirdKey); strings.HasPrefix(k, "live_") || strings.HasPrefix(k, "test_") {
		// Neither Bird API takes it: say where it belongs.
		return nil, errors.New("BIRD_API_KEY holds a MessageBird classic key (live_…), which Bird refuses: did you mean MESSAGEBIRD_API_KEY?")
	}
	ws, err := s.birdWorkspace()
	if err != nil {
		return nil, err
	}
	if ws != nil {
		ps = append(ps, namedProvider{"Bird workspace", ws})
	}
	if strings.HasPrefix(s.BirdKey, "bk_") {
		b, err := bird.New(s.BirdKey, bird.Config{})
		if err != nil {
			return nil, fmt.Errorf("BIRD_API_KEY: %w", err)
		}
		ps = append(ps, namedProvider{"Bird (" + b.Region() + ")", b})
	}
	if tw := []string{s.TwilioAccountSID, s.TwilioAuthToken, s.TwilioAPIKey, s.TwilioAPISecret, s.TwilioServiceSID, s.TwilioPSD2ServiceSID}; strings.Join(tw, "") != "" {
		if err := s.twilioComplete(); err != nil {
			return nil, err
		}
		t, err := twilioverify.New(twilioverify.Config{
			AccountSID: s.TwilioAccountSID, AuthToken: s.TwilioAuthToken,
			APIKey: s.TwilioAPIKey, APISecret: s.TwilioAPISecret,
			ServiceSID: s.TwilioServiceSID, PSD2ServiceSID: s.TwilioPSD2ServiceSID,
		})
		if err != nil {
			return nil, fmt.Errorf("TWILIO_* settings: %w", err)
		}
		ps = append(ps, namedProvider{"Twilio Verify", t})
	}
	if s.MessageBirdKey != "" {
		mb, err := newMessageBird(s.MessageBirdKey)
		if err != nil {
			return nil, fmt.Errorf("MESSAGEBIRD_API_KEY: %w", err)
		}
		ps = append(ps, namedProvider{"MessageBird", mb})
	}
	return ps, nil
}

// birdWorkspaceHelp says what Bird's workspace API needs.
const birdWorkspaceHelp = "Bird's workspace API needs BIRD_ACCESS_KEY (or an access key in BIRD_API_KEY), BIRD_WORKSPACE_ID, and BIRD_NAVIGATOR_ID or BIRD_CHANNEL_ID"

// birdWorkspace returns the provider on Bird's workspace API that s sets
// up: nil when none of its settings is there, an error naming the setting
// when one is there but the set is incomplete or unusable. BIRD_API_KEY
// counts as its access key unless it holds a platform key (bk_…).
func (s providerSettings) birdWorkspace() (*bird.Workspace, error) {
	key, keyVar := s.BirdAccessKey, "BIRD_ACCESS_KEY"
	if s.BirdKey != "" && !strings.HasPrefix(s.BirdKey, "bk_") {
		if key != "" {
			return nil, errors.New("conflicting Bird settings: BIRD_ACCESS_KEY and BIRD_API_KEY both hold an access key; set one of them (BIRD_API_KEY is for a bk_… key of Bird's platform)")
		}
		key, keyVar = s.BirdKey, "BIRD_API_KEY"
	}
	if key == "" && s.BirdWorkspaceID == "" && s.BirdNavigatorID == "" && s.BirdChannelID == "" {
		return nil, nil
	}
	var missing []string
	if key == "" {
		m := "BIRD_ACCESS_KEY"
		if s.BirdKey != "" {
			m += " (BIRD_API_KEY holds a bk_… key of Bird's platform API, which the workspace API does not take)"
		}
		missing = append(missing, m)
	}
	if s.BirdWorkspaceID == "" {
		missing = append(missing, "BIRD_WORKSPACE_ID")
	}
	switch {
	case s.BirdNavigatorID != "" && s.BirdChannelID != "":
		return nil, errors.New("conflicting Bird settings: set BIRD_NAVIGATOR_ID or BIRD_CHANNEL_ID, not both")
	case s.BirdNavigatorID == "" && s.BirdChannelID == "":
		missing = append(missing, "BIRD_NAVIGATOR_ID or BIRD_CHANNEL_ID")
	}
	if len(missing) > 0 {
		why := ""
		if keyVar == "BIRD_API_KEY" {
			why = "BIRD_API_KEY holds no bk_… key, so it is taken as an access key of Bird's workspace API; "
		}
		return nil, fmt.Errorf("incomplete Bird workspace settings: %smissing %s (%s)", why, strings.Join(missing, ", "), birdWorkspaceHelp)
	}
	p, err := bird.NewWorkspace(key, bird.WorkspaceConfig{
		WorkspaceID: s.BirdWorkspaceID,
		NavigatorID: s.BirdNavigatorID,
		ChannelID:   s.BirdChannelID,
	})
	var se *bird.SettingError
	if errors.As(err, &se) {
		name := map[string]string{"accessKey": keyVar, "WorkspaceID": "BIRD_WORKSPACE_ID",
			"NavigatorID": "BIRD_NAVIGATOR_ID", "ChannelID": "BIRD_CHANNEL_ID"}[se.Setting]
		if name != "" {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("the Bird workspace settings: %w", err)
	}
	return p, nil
}

// twilioComplete says which Twilio settings are missing, if any.
func (s providerSettings) twilioComplete() error {
	var missing []string
	if s.TwilioServiceSID == "" {
		missing = append(missing, "TWILIO_VERIFY_SERVICE_SID")
		if s.TwilioPSD2ServiceSID != "" {
			missing[len(missing)-1] += " (sign-in codes need a service without PSD2, besides TWILIO_VERIFY_PSD2_SERVICE_SID)"
		}
	}
	token := s.TwilioAuthToken != ""
	key := s.TwilioAPIKey != "" || s.TwilioAPISecret != ""
	switch {
	case token && key:
		return errors.New("conflicting Twilio settings: set TWILIO_AUTH_TOKEN or TWILIO_API_KEY + TWILIO_API_SECRET, not both")
	case key && s.TwilioAPIKey == "":
		missing = append(missing, "TWILIO_API_KEY")
	case key && s.TwilioAPISecret == "":
		missing = append(missing, "TWILIO_API_SECRET")
	case token && s.TwilioAccountSID == "":
		missing = append(missing, "TWILIO_ACCOUNT_SID")
	case !token && !key:
		missing = append(missing, "TWILIO_AUTH_TOKEN (or TWILIO_API_KEY + TWILIO_API_SECRET)")
	}
	if len(missing) > 0 {
		return fmt.Errorf("incomplete Twilio settings: missing %s (Twilio needs TWILIO_ACCOUNT_SID + TWILIO_AUTH_TOKEN, or TWILIO_API_KEY + TWILIO_API_SECRET, and TWILIO_VERIFY_SERVICE_SID)",
			strings.Join(missing, ", "))
	}
	return nil
}

// chooseProvider returns the provider s sets up: nil when none is (newApp
// then uses the mock), the one provider, or a Failover over several. It logs
// the choice and, for a Failover, every switch and circuit change.
func chooseProvider(s providerSettings, log *slog.Logger) (twofactor.Provider, error) {
	ps, err := s.providers()
	if err != nil || len(ps) == 0 {
		return nil, err
	}
	names := make([]string, len(ps))
	list := make([]twofactor.Provider, len(ps))
	for i, p := range ps {
		names[i], list[i] = p.name, p.Provider
	}
	if len(ps) == 1 {
		log.Info("sending real codes through " + names[0])
		return ps[0].Provider, nil
	}
	// Transfer codes go only to providers whose SMS names the amount and
	// payee (MessageBird, Twilio with a PSD2 service). With none of those,
	// they go through any: the transfer page shows what the code confirms.
	unlinked := true
	for _, p := range list {
		if c, ok := p.(twofactor.ActionCarrier); ok && c.CarriesAction() {
			unlinked = false
		}
	}
	if unlinked {
		log.Warn("no provider names a transfer's amount and payee in its SMS; transfer codes are sent without them (set TWILIO_VERIFY_PSD2_SERVICE_SID or MESSAGEBIRD_API_KEY for that)")
	}
	f, err := failover.New(list, failover.Config{
		UnlinkedConfirmations: unlinked,
		OnEvent: func(ev failover.Event) {
			attrs := []any{"event", string(ev.Kind), "provider", names[ev.Provider]}
			if ev.Next >= 0 {
				attrs = append(attrs, "next", names[ev.Next])
			}
			if ev.Err != nil {
				attrs = append(attrs, "err", ev.Err)
			}
			log.Warn("provider failover", attrs...)
		},
	})
	if err != nil {
		return nil, err
	}
	log.Info("sending real codes with failover, in this order: " + strings.Join(names, ", "))
	return f, nil
}

// newMessageBird returns BirdBank's MessageBird provider.
func newMessageBird(key string) (*messagebird.Provider, error) {
	return messagebird.New(key, messagebird.Config{
		Originator: "BirdBank",
		Template:   "Your BirdBank verification code is %token.",
	})
}
