package main

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/go-twofactor/twofactor"
	"github.com/go-twofactor/twofactor/bird"
	"github.com/go-twofactor/twofactor/twilioverify"
)

// providerSettings are the provider settings BirdBank reads from the
// environment. Any of the three providers may be set up; with several,
// BirdBank fails over between them in the order of the fields.
type providerSettings struct {
	MessageBirdKey string // MESSAGEBIRD_API_KEY: MessageBird's classic API
	BirdKey        string // BIRD_API_KEY: Bird's current platform, bk_{region}_…

	TwilioAccountSID string // TWILIO_ACCOUNT_SID
	TwilioAuthToken  string // TWILIO_AUTH_TOKEN
	TwilioAPIKey     string // TWILIO_API_KEY, instead of the auth token
	TwilioAPISecret  string // TWILIO_API_SECRET
	TwilioServiceSID string // TWILIO_VERIFY_SERVICE_SID
}

// providerSettingsFrom reads the settings with getenv (os.Getenv).
func providerSettingsFrom(getenv func(string) string) providerSettings {
	return providerSettings{
		MessageBirdKey:   getenv("MESSAGEBIRD_API_KEY"),
		BirdKey:          getenv("BIRD_API_KEY"),
		TwilioAccountSID: getenv("TWILIO_ACCOUNT_SID"),
		TwilioAuthToken:  getenv("TWILIO_AUTH_TOKEN"),
		TwilioAPIKey:     getenv("TWILIO_API_KEY"),
		TwilioAPISecret:  getenv("TWILIO_API_SECRET"),
		TwilioServiceSID: getenv("TWILIO_VERIFY_SERVICE_SID"),
	}
}

// namedProvider is a provider and the name BirdBank logs for it.
type namedProvider struct {
	name string
	twofactor.Provider
}

// providers returns the providers s sets up, in failover order: MessageBird,
// Bird, Twilio. None is not an error (BirdBank then uses the mock); settings
// that are there but incomplete or malformed are. Errors never repeat a
// secret.
func (s providerSettings) providers() ([]namedProvider, error) {
	var ps []namedProvider
	if s.MessageBirdKey != "" {
		mb, err := newMessageBird(s.MessageBirdKey)
		if err != nil {
			return nil, fmt.Errorf("MESSAGEBIRD_API_KEY: %w", err)
		}
		ps = append(ps, namedProvider{"MessageBird", mb})
	}
	if s.BirdKey != "" {
		b, err := bird.New(s.BirdKey, bird.Config{})
		if err != nil {
			return nil, fmt.Errorf("BIRD_API_KEY: %w", err)
		}
		ps = append(ps, namedProvider{"Bird (" + b.Region() + ")", b})
	}
	if tw := []string{s.TwilioAccountSID, s.TwilioAuthToken, s.TwilioAPIKey, s.TwilioAPISecret, s.TwilioServiceSID}; strings.Join(tw, "") != "" {
		if err := s.twilioComplete(); err != nil {
			return nil, err
		}
		t, err := twilioverify.New(twilioverify.Config{
			AccountSID: s.TwilioAccountSID, AuthToken: s.TwilioAuthToken,
			APIKey: s.TwilioAPIKey, APISecret: s.TwilioAPISecret,
			ServiceSID: s.TwilioServiceSID,
		})
		if err != nil {
			return nil, fmt.Errorf("TWILIO_* settings: %w", err)
		}
		ps = append(ps, namedProvider{"Twilio Verify", t})
	}
	return ps, nil
}

// twilioComplete says which Twilio settings are missing, if any.
func (s providerSettings) twilioComplete() error {
	var missing []string
	if s.TwilioServiceSID == "" {
		missing = append(missing, "TWILIO_VERIFY_SERVICE_SID")
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
	f, err := twofactor.NewFailover(list, twofactor.FailoverConfig{
		OnEvent: func(ev twofactor.FailoverEvent) {
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
func newMessageBird(key string) (*twofactor.MessageBird, error) {
	return twofactor.NewMessageBird(key, twofactor.MessageBirdConfig{
		Originator: "BirdBank",
		Template:   "Your BirdBank verification code is %token.",
	})
}
