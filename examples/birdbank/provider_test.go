package main

import (
	"bytes"
	"io"
	"log/slog"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/go-twofactor/twofactor"
	"github.com/go-twofactor/twofactor/failover"
)

const (
	envMB       = "live_mbkeys3kr1t1"
	envBird     = "bk_eu1_birds3kr1t2"
	envSID      = "AC0123456789abcdef0123456789abcdef"
	envToken    = "tokens3kr1t3"
	envKey      = "SKfedcba9876543210fedcba9876543210"
	envSecret   = "apis3kr1t4"
	envService  = "VA00112233445566778899aabbccddeeff"
	envAccess   = "AbCdEfGhs3kr1t5MnOpQrStUvWxYz01"
	envWS       = "0b6f5a57-2f0e-4c8a-9d3e-5f1a2b3c4d5e"
	envNav      = "7c9e6679-7425-40de-944b-e07fc1f90ae7"
	envChan     = "f47ac10b-58cc-4372-a567-0e02b2c3d479"
	wsName      = "Bird workspace"
	envPSD2     = "VAffeeddccbbaa99887766554433221100"
	mbName      = "MessageBird"
	birdName    = "Bird (eu1)"
	twilioName  = "Twilio Verify"
	secretsHint = "s3kr1t"
)

func env(kv ...string) func(string) string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) string { return m[k] }
}

var (
	twilioToken = []string{"TWILIO_ACCOUNT_SID", envSID, "TWILIO_AUTH_TOKEN", envToken, "TWILIO_VERIFY_SERVICE_SID", envService}
	twilioKey   = []string{"TWILIO_API_KEY", envKey, "TWILIO_API_SECRET", envSecret, "TWILIO_VERIFY_SERVICE_SID", envService}
	mbEnv       = []string{"MESSAGEBIRD_API_KEY", envMB}
	birdEnv     = []string{"BIRD_API_KEY", envBird}
	wsEnv       = []string{"BIRD_ACCESS_KEY", envAccess, "BIRD_WORKSPACE_ID", envWS, "BIRD_NAVIGATOR_ID", envNav}
	wsChanEnv   = []string{"BIRD_API_KEY", envAccess, "BIRD_WORKSPACE_ID", envWS, "BIRD_CHANNEL_ID", envChan}
	psd2Env     = []string{"TWILIO_VERIFY_PSD2_SERVICE_SID", envPSD2}
)

func join(parts ...[]string) []string {
	var all []string
	for _, p := range parts {
		all = append(all, p...)
	}
	return all
}

// Each combination of settings picks its providers, in failover order,
// without a call to any of them.
func TestProviderSelection(t *testing.T) {
	tests := []struct {
		name  string
		env   []string
		names []string
		types []string
	}{
		{"none", nil, nil, nil},
		{"MessageBird", mbEnv, []string{mbName}, []string{"*messagebird.Provider"}},
		{"Bird", birdEnv, []string{birdName}, []string{"*bird.Provider"}},
		{"Twilio auth token", twilioToken, []string{twilioName}, []string{"*twilioverify.Provider"}},
		{"Twilio API key", twilioKey, []string{twilioName}, []string{"*twilioverify.Provider"}},
		{"Twilio API key and account", join(twilioKey, []string{"TWILIO_ACCOUNT_SID", envSID}), []string{twilioName}, []string{"*twilioverify.Provider"}},
		{"Bird workspace, navigator", wsEnv, []string{wsName}, []string{"*bird.Workspace"}},
		{"Bird workspace, channel, access key in BIRD_API_KEY", wsChanEnv, []string{wsName}, []string{"*bird.Workspace"}},
		{"MessageBird and Bird", join(birdEnv, mbEnv), []string{birdName, mbName}, []string{"*bird.Provider", "*messagebird.Provider"}},
		{"Bird and Twilio", join(twilioToken, birdEnv), []string{birdName, twilioName}, []string{"*bird.Provider", "*twilioverify.Provider"}},
		{"MessageBird and Twilio", join(twilioKey, mbEnv), []string{twilioName, mbName}, []string{"*twilioverify.Provider", "*messagebird.Provider"}},
		{"all three", join(twilioToken, birdEnv, mbEnv), []string{birdName, twilioName, mbName},
			[]string{"*bird.Provider", "*twilioverify.Provider", "*messagebird.Provider"}},
		{"both Bird APIs", join(birdEnv, wsEnv), []string{wsName, birdName}, []string{"*bird.Workspace", "*bird.Provider"}},
		{"all four", join(mbEnv, twilioKey, birdEnv, wsEnv), []string{wsName, birdName, twilioName, mbName},
			[]string{"*bird.Workspace", "*bird.Provider", "*twilioverify.Provider", "*messagebird.Provider"}},
		{"Bird and Twilio with PSD2", join(twilioToken, birdEnv, psd2Env), []string{birdName, twilioName}, []string{"*bird.Provider", "*twilioverify.Provider"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := providerSettingsFrom(env(tt.env...))
			ps, err := s.providers()
			if err != nil {
				t.Fatal(err)
			}
			var names, types []string
			for _, p := range ps {
				names = append(names, p.name)
				types = append(types, reflect.TypeOf(p.Provider).String())
			}
			if !reflect.DeepEqual(names, tt.names) || !reflect.DeepEqual(types, tt.types) {
				t.Errorf("providers = %v %v, want %v %v", names, types, tt.names, tt.types)
			}

			var logs bytes.Buffer
			p, err := chooseProvider(s, slog.New(slog.NewTextHandler(&logs, nil)))
			if err != nil {
				t.Fatal(err)
			}
			switch len(tt.names) {
			case 0:
				if p != nil || logs.Len() != 0 {
					t.Errorf("no settings: provider %T, logs %q; want nil (the mock) and no log", p, logs.String())
				}
			case 1:
				if p != ps[0].Provider && reflect.TypeOf(p) != reflect.TypeOf(ps[0].Provider) {
					t.Errorf("provider %T, want %s", p, tt.types[0])
				}
				if !strings.Contains(logs.String(), "sending real codes through "+tt.names[0]) {
					t.Errorf("logs = %q", logs.String())
				}
			default:
				if _, ok := p.(*failover.Provider); !ok {
					t.Errorf("provider %T, want *failover.Provider", p)
				}
				if want := "failover, in this order: " + strings.Join(tt.names, ", "); !strings.Contains(logs.String(), want) {
					t.Errorf("logs = %q, want %q", logs.String(), want)
				}
			}
			if strings.Contains(logs.String(), secretsHint) {
				t.Errorf("logs show a secret: %q", logs.String())
			}
		})
	}
}

// Incomplete or malformed settings stop BirdBank at start with a clear
// error that names what is wrong and repeats no secret.
func TestProviderSettingsErrors(t *testing.T) {
	tests := []struct {
		name string
		env  []string
		want string
	}{
		{"Twilio without service", []string{"TWILIO_ACCOUNT_SID", envSID, "TWILIO_AUTH_TOKEN", envToken}, "missing TWILIO_VERIFY_SERVICE_SID"},
		{"Twilio without token", []string{"TWILIO_ACCOUNT_SID", envSID, "TWILIO_VERIFY_SERVICE_SID", envService}, "missing TWILIO_AUTH_TOKEN"},
		{"Twilio token without account", []string{"TWILIO_AUTH_TOKEN", envToken, "TWILIO_VERIFY_SERVICE_SID", envService}, "missing TWILIO_ACCOUNT_SID"},
		{"Twilio key without secret", []string{"TWILIO_API_KEY", envKey, "TWILIO_VERIFY_SERVICE_SID", envService}, "missing TWILIO_API_SECRET"},
		{"Twilio secret without key", []string{"TWILIO_API_SECRET", envSecret, "TWILIO_VERIFY_SERVICE_SID", envService}, "missing TWILIO_API_KEY"},
		{"Twilio service only", []string{"TWILIO_VERIFY_SERVICE_SID", envService}, "missing TWILIO_AUTH_TOKEN"},
		{"Twilio token and key", join(twilioToken, twilioKey), "not both"},
		{"Twilio bad service", []string{"TWILIO_ACCOUNT_SID", envSID, "TWILIO_AUTH_TOKEN", envToken, "TWILIO_VERIFY_SERVICE_SID", "VA1s3kr1t"}, "ServiceSID"},
		{"Bird bad key", []string{"BIRD_API_KEY", "live_s3kr1t"}, "BIRD_API_KEY"},
		{"MessageBird key as Bird's", []string{"BIRD_API_KEY", envMB}, "did you mean MESSAGEBIRD_API_KEY?"},
		{"Bird key as MessageBird's", []string{"MESSAGEBIRD_API_KEY", envBird}, "Bird's platform"},
		{"MessageBird test key", []string{"MESSAGEBIRD_API_KEY", "test_mbkeys3kr1t1"}, "test keys cannot send"},
		{"MessageBird quoted key", []string{"MESSAGEBIRD_API_KEY", `"` + envMB + `"`}, "quotes"},
		{"Twilio PSD2 only", []string{"TWILIO_ACCOUNT_SID", envSID, "TWILIO_AUTH_TOKEN", envToken, "TWILIO_VERIFY_PSD2_SERVICE_SID", envPSD2}, "sign-in codes need a service without PSD2"},
		{"Twilio PSD2 same service", join(twilioToken, []string{"TWILIO_VERIFY_PSD2_SERVICE_SID", envService}), "PSD2ServiceSID"},
		{"Bird key of the wrong region form", []string{"BIRD_API_KEY", "bk_europe_s3kr1t"}, "bk_{region}_{secret}"},
		{"MessageBird bad key", []string{"MESSAGEBIRD_API_KEY", "live s3kr1t"}, "MESSAGEBIRD_API_KEY"},
		{"a bad one among good ones", join(mbEnv, []string{"TWILIO_API_KEY", envKey}), "incomplete Twilio settings"},
		{"Bird workspace id alone", []string{"BIRD_WORKSPACE_ID", envWS}, "missing BIRD_ACCESS_KEY, BIRD_NAVIGATOR_ID or BIRD_CHANNEL_ID"},
		{"Bird workspace id with a platform key", join(birdEnv, []string{"BIRD_WORKSPACE_ID", envWS, "BIRD_NAVIGATOR_ID", envNav}),
			"missing BIRD_ACCESS_KEY (BIRD_API_KEY holds a bk_… key of Bird's platform API"},
		{"Bird workspace without navigator", []string{"BIRD_ACCESS_KEY", envAccess, "BIRD_WORKSPACE_ID", envWS}, "missing BIRD_NAVIGATOR_ID or BIRD_CHANNEL_ID"},
		{"Bird navigator alone", []string{"BIRD_NAVIGATOR_ID", envNav}, "missing BIRD_ACCESS_KEY, BIRD_WORKSPACE_ID"},
		{"Bird access key alone in BIRD_API_KEY", []string{"BIRD_API_KEY", envAccess}, "BIRD_API_KEY holds no bk_… key"},
		{"Bird navigator and channel", join(wsEnv, []string{"BIRD_CHANNEL_ID", envChan}), "BIRD_NAVIGATOR_ID or BIRD_CHANNEL_ID, not both"},
		{"Bird two access keys", join(wsEnv, []string{"BIRD_API_KEY", envAccess}), "conflicting Bird settings"},
		{"Bird workspace id not a UUID", join(wsEnv, []string{"BIRD_WORKSPACE_ID", "my-workspace"}), "BIRD_WORKSPACE_ID: bird: WorkspaceConfig.WorkspaceID must be a UUID"},
		{"Bird navigator not a UUID", join(wsEnv, []string{"BIRD_NAVIGATOR_ID", "otp-navigator"}), "BIRD_NAVIGATOR_ID: bird: WorkspaceConfig.NavigatorID must be a UUID"},
		{"Bird channel not a UUID", []string{"BIRD_ACCESS_KEY", envAccess, "BIRD_WORKSPACE_ID", envWS, "BIRD_CHANNEL_ID", "sms"}, "BIRD_CHANNEL_ID: bird: WorkspaceConfig.ChannelID must be a UUID"},
		{"Bird access key malformed", join(wsEnv, []string{"BIRD_ACCESS_KEY", "s3kr1t key"}), "BIRD_ACCESS_KEY: bird: access key must be"},
		{"Bird access key is a platform key", join(wsEnv, []string{"BIRD_ACCESS_KEY", "bk_eu1_s3kr1t"}), "BIRD_ACCESS_KEY: bird: access key is a key of Bird's platform API"},
		{"Bird access key in BIRD_API_KEY malformed", join(wsChanEnv, []string{"BIRD_API_KEY", "live s3kr1t"}), "BIRD_API_KEY: bird: access key must be"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs bytes.Buffer
			p, err := chooseProvider(providerSettingsFrom(env(tt.env...)), slog.New(slog.NewTextHandler(&logs, nil)))
			if err == nil || p != nil {
				t.Fatalf("chooseProvider = %v, %v; want an error", p, err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %q, want it to say %q", err, tt.want)
			}
			if strings.Contains(err.Error(), secretsHint) || strings.Contains(logs.String(), secretsHint) {
				t.Errorf("a secret shows: err %q, logs %q", err, logs.String())
			}
		})
	}
}

// BirdBank starts with each provider: newApp takes what chooseProvider
// picked (no network call is made at start).
func TestAppStartsWithEachProvider(t *testing.T) {
	for _, e := range [][]string{mbEnv, birdEnv, wsEnv, wsChanEnv, twilioToken, twilioKey, join(mbEnv, birdEnv, twilioToken, wsEnv)} {
		log := slog.New(slog.NewTextHandler(&bytes.Buffer{}, nil))
		p, err := chooseProvider(providerSettingsFrom(env(e...)), log)
		if err != nil {
			t.Fatal(err)
		}
		a, err := newApp(config{Provider: p, Log: log})
		if err != nil {
			t.Fatalf("%v: newApp = %v", e[0], err)
		}
		a.Close()
	}
}

// Transfer codes go only to providers whose SMS names the amount and
// payee; with none of them BirdBank says so at start and sends them
// anyway (the page shows the transfer).
func TestTransferCodeProviders(t *testing.T) {
	for _, tt := range []struct {
		name    string
		env     []string
		carries bool
	}{
		{"Bird and Twilio", join(birdEnv, twilioToken), false},
		{"Bird and Twilio with PSD2", join(birdEnv, twilioToken, psd2Env), true},
		{"Bird and MessageBird", join(birdEnv, mbEnv), true},
	} {
		var logs bytes.Buffer
		p, err := chooseProvider(providerSettingsFrom(env(tt.env...)), slog.New(slog.NewTextHandler(&logs, nil)))
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if got := p.(twofactor.ActionCarrier).CarriesAction(); got != tt.carries {
			t.Errorf("%s: CarriesAction = %v, want %v", tt.name, got, tt.carries)
		}
		if warned := strings.Contains(logs.String(), "no provider names a transfer's amount and payee"); warned == tt.carries {
			t.Errorf("%s: logs = %q", tt.name, logs.String())
		}
	}
}

// A MessageBird key in BIRD_API_KEY stops BirdBank at start, saying which
// setting it belongs in.
func TestStartFailsOnMessageBirdKeyInBirdSetting(t *testing.T) {
	for _, k := range []string{"MESSAGEBIRD_API_KEY", "TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "TWILIO_API_KEY", "TWILIO_API_SECRET",
		"TWILIO_VERIFY_SERVICE_SID", "TWILIO_VERIFY_PSD2_SERVICE_SID", "PORT", "HOST"} {
		t.Setenv(k, "")
	}
	t.Setenv("BIRD_API_KEY", envMB)
	t.Chdir(t.TempDir()) // no .env
	var logs bytes.Buffer
	err := run(t.Context(), slog.New(slog.NewTextHandler(&logs, nil)), os.Getenv, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "BIRD_API_KEY") || !strings.Contains(err.Error(), "did you mean MESSAGEBIRD_API_KEY?") {
		t.Fatalf("run = %v, want BirdBank to stop asking whether MESSAGEBIRD_API_KEY was meant", err)
	}
	if strings.Contains(err.Error(), secretsHint) || strings.Contains(logs.String(), secretsHint) {
		t.Errorf("a secret shows: %v %q", err, logs.String())
	}
}
