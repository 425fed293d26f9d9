package twofactor

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"
)

// PasskeyStore keeps users' passkeys: a table in the app's database in a
// real app, with one row per passkey (subject, id, record). The library
// hands it records it encodes itself (JSON of under a kilobyte: the
// passkey's public key, name, sign counter, backup flags, when it was made
// and last used); a record holds no secret, only public keys. A passkey's
// id is its credential ID in base64url (usually 22 to 86 characters, at
// most 1,364), unique per user; it is Factor.ID.
//
// Implementations must be safe for concurrent use.
type PasskeyStore interface {
	// Passkeys returns every passkey of subject: its record by its id.
	// None: an empty or nil map.
	Passkeys(ctx context.Context, subject string) (map[string][]byte, error)
	// AddPasskey adds the passkey id of subject with its record.
	AddPasskey(ctx context.Context, subject, id string, record []byte) error
	// UpdatePasskey replaces the record of subject's passkey id after a
	// use (its sign counter, backup state, last use) and reports whether
	// the passkey was there. It must never add one: a passkey removed
	// while it was being used stays removed (in SQL: an UPDATE, and the
	// rows it changed).
	UpdatePasskey(ctx context.Context, subject, id string, record []byte) (bool, error)
	// DeletePasskey removes the passkey id of subject and reports whether
	// it was there.
	DeletePasskey(ctx context.Context, subject, id string) (bool, error)
}

// passkeysLife is how long the passkeys kept in the State (PasskeyConfig
// with no Store) live after the last one was added or used: like
// recoveryCodesLife, long enough for a user who signs in once a year.
const passkeysLife = 400 * 24 * time.Hour

// statePasskeys is the PasskeyStore of PasskeyConfig{Store: nil}: a
// user's passkeys are the fields of one map in the State, so every server
// sharing the State knows them. The field named by a passkey's id is
// written when it is added and removed when it is; the record of its last
// use is the field "u:"+id beside it, which counts only while the
// passkey's own field is there. So an update racing a removal (the State
// has no "write if present") leaves at most a stray "u:" field, never
// the passkey. (A base64url id has no ':'.)
type statePasskeys struct{ s State }

func passkeysKey(subject string) string { return "passkeys:" + subject }

// usedPrefix names the field of a passkey's last use.
const usedPrefix = "u:"

// Passkeys implements PasskeyStore.
func (p statePasskeys) Passkeys(ctx context.Context, subject string) (map[string][]byte, error) {
	fields, err := p.s.Fields(ctx, passkeysKey(subject))
	if err != nil {
		return nil, storeErr(err)
	}
	out := make(map[string][]byte, len(fields))
	for id, v := range fields {
		if strings.HasPrefix(id, usedPrefix) {
			continue
		}
		if used, ok := fields[usedPrefix+id]; ok {
			v = used
		}
		out[id] = []byte(v)
	}
	return out, nil
}

// AddPasskey implements PasskeyStore.
func (p statePasskeys) AddPasskey(ctx context.Context, subject, id string, record []byte) error {
	return storeErr(p.s.SetField(ctx, passkeysKey(subject), id, string(record), passkeysLife))
}

// UpdatePasskey implements PasskeyStore.
func (p statePasskeys) UpdatePasskey(ctx context.Context, subject, id string, record []byte) (bool, error) {
	key := passkeysKey(subject)
	fields, err := p.s.Fields(ctx, key)
	if err != nil {
		return false, storeErr(err)
	}
	if _, ok := fields[id]; !ok {
		return false, nil
	}
	return true, storeErr(p.s.SetField(ctx, key, usedPrefix+id, string(record), passkeysLife))
}

// DeletePasskey implements PasskeyStore.
func (p statePasskeys) DeletePasskey(ctx context.Context, subject, id string) (bool, error) {
	key := passkeysKey(subject)
	had, err := p.s.DeleteField(ctx, key, id)
	if err != nil {
		return false, storeErr(err)
	}
	_, err = p.s.DeleteField(ctx, key, usedPrefix+id)
	return had, storeErr(err)
}

// passkeyRecord is what the library keeps of one passkey: what
// go-webauthn's Credential needs to check an assertion (not the
// registration's attestation, which attestation "none" makes empty), and
// what the user sees.
type passkeyRecord struct {
	Name       string   `json:"name"`
	PublicKey  []byte   `json:"pk"`               // COSE key
	AAGUID     []byte   `json:"aaguid,omitempty"` // authenticator model
	Count      uint32   `json:"count,omitempty"`  // sign counter last seen
	Flags      byte     `json:"flags"`            // authenticator flags: UP, UV, BE, BS (BS updated at each use)
	Transports []string `json:"transports,omitempty"`
	AttType    string   `json:"att_type,omitempty"`
	AttFormat  string   `json:"att_format,omitempty"`
	Created    int64    `json:"created"`             // Unix seconds
	LastUsed   int64    `json:"last_used,omitempty"` // Unix seconds; 0: never
}

// errBadPasskeyRecord is the error of a record the library cannot read.
var errBadPasskeyRecord = errors.New("twofactor: unreadable passkey record")

func decodePasskey(b []byte) (passkeyRecord, error) {
	var rec passkeyRecord
	if err := json.Unmarshal(b, &rec); err != nil || len(rec.PublicKey) == 0 {
		return rec, errBadPasskeyRecord
	}
	return rec, nil
}

func (rec passkeyRecord) encode() []byte {
	b, _ := json.Marshal(rec) // plain fields: never fails
	return b
}

// credential is rec as go-webauthn's Credential with the id raw.
func (rec passkeyRecord) credential(raw []byte) webauthn.Credential {
	c := webauthn.Credential{
		ID:                raw,
		PublicKey:         rec.PublicKey,
		AttestationType:   rec.AttType,
		AttestationFormat: rec.AttFormat,
		Flags:             webauthn.NewCredentialFlags(protocol.AuthenticatorFlags(rec.Flags)),
		Authenticator:     webauthn.Authenticator{AAGUID: rec.AAGUID, SignCount: rec.Count},
	}
	for _, t := range rec.Transports {
		c.Transport = append(c.Transport, protocol.AuthenticatorTransport(t))
	}
	return c
}

// newPasskeyRecord is the record of a credential just registered.
func newPasskeyRecord(c *webauthn.Credential, name string, now time.Time) passkeyRecord {
	rec := passkeyRecord{
		Name:      name,
		PublicKey: c.PublicKey,
		AAGUID:    c.Authenticator.AAGUID,
		Count:     c.Authenticator.SignCount,
		Flags:     byte(c.Flags.ProtocolValue()),
		AttType:   c.AttestationType,
		AttFormat: c.AttestationFormat,
		Created:   now.Unix(),
	}
	for _, t := range c.Transport {
		rec.Transports = append(rec.Transports, string(t))
	}
	return rec
}
