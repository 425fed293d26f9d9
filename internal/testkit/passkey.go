package testkit

// A software authenticator for the passkey tests: an ECDSA P-256 key per
// credential, attestation "none", assertions signed as an authenticator
// signs them (over authenticatorData || SHA-256(clientDataJSON)).

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"testing"

	"github.com/go-webauthn/webauthn/protocol/webauthncbor"
	"github.com/go-webauthn/webauthn/protocol/webauthncose"
)

// Authenticator data flags.
const (
	FlagUP = 0x01 // user present
	FlagUV = 0x04 // user verified
	FlagBE = 0x08 // backup eligible
	FlagBS = 0x10 // backed up
	flagAT = 0x40 // attested credential data follows
)

// B64 is WebAuthn's base64url, without padding.
var B64 = base64.RawURLEncoding

// Passkey is one credential of a software authenticator, and the browser
// that passes its answers on. Tests change its fields to play an
// attacker: another origin or RP ID, a counter, flags, another's ID.
type Passkey struct {
	t      *testing.T
	ID     []byte
	priv   *ecdsa.PrivateKey
	Count  uint32 // last sign counter used; Get adds one
	Flags  byte   // UP, UV, BE, BS as the authenticator reports them
	RPID   string // the RP ID it hashes into authenticatorData
	Origin string // the origin the browser writes into clientDataJSON
	Handle []byte // the user handle it was registered with
}

// NewPasskey makes a new credential (UP, UV and BE set) for rpID, used
// from origin.
func NewPasskey(t *testing.T, rpID, origin string) *Passkey {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	id := make([]byte, 32)
	_, _ = rand.Read(id)
	return &Passkey{t: t, ID: id, priv: priv, Flags: FlagUP | FlagUV | FlagBE, RPID: rpID, Origin: origin}
}

// IDString is the credential ID in base64url: Factor.ID.
func (k *Passkey) IDString() string { return B64.EncodeToString(k.ID) }

// clientData is the clientDataJSON a browser would make.
func (k *Passkey) clientData(typ, challenge string) []byte {
	b, _ := json.Marshal(map[string]any{"type": typ, "challenge": challenge, "origin": k.Origin, "crossOrigin": false})
	return b
}

func (k *Passkey) authData(flags byte, count uint32, attested []byte) []byte {
	h := sha256.Sum256([]byte(k.RPID))
	ad := append([]byte{}, h[:]...)
	ad = append(ad, flags)
	ad = binary.BigEndian.AppendUint32(ad, count)
	return append(ad, attested...)
}

// PasskeyOptions is a begin answer: {"publicKey": {...}}.
type PasskeyOptions struct {
	PublicKey struct {
		Challenge string `json:"challenge"`
		Timeout   int    `json:"timeout"` // milliseconds
		RPID      string `json:"rpId"`
		RP        struct {
			ID string `json:"id"`
		} `json:"rp"`
		User struct {
			ID string `json:"id"`
		} `json:"user"`
		AllowCredentials []struct {
			ID string `json:"id"`
		} `json:"allowCredentials"`
		ExcludeCredentials []struct {
			ID string `json:"id"`
		} `json:"excludeCredentials"`
		UserVerification       string `json:"userVerification"`
		AuthenticatorSelection struct {
			ResidentKey      string `json:"residentKey"`
			UserVerification string `json:"userVerification"`
		} `json:"authenticatorSelection"`
		Attestation string `json:"attestation"`
	} `json:"publicKey"`
}

// ReadPasskeyOptions reads a begin answer.
func ReadPasskeyOptions(t *testing.T, body string) PasskeyOptions {
	t.Helper()
	var o PasskeyOptions
	if err := json.Unmarshal([]byte(body), &o); err != nil || o.PublicKey.Challenge == "" {
		t.Fatalf("begin answer: %v in %q", err, body)
	}
	return o
}

// Create answers a registration's options as navigator.credentials.create
// would, with attestation "none".
func (k *Passkey) Create(o PasskeyOptions) []byte {
	k.t.Helper()
	handle, err := B64.DecodeString(o.PublicKey.User.ID)
	if err != nil {
		k.t.Fatalf("user.id: %v", err)
	}
	k.Handle = handle
	cose, err := webauthncbor.Marshal(webauthncose.EC2PublicKeyData{
		PublicKeyData: webauthncose.PublicKeyData{KeyType: int64(webauthncose.EllipticKey), Algorithm: int64(webauthncose.AlgES256)},
		Curve:         1, // P-256
		XCoord:        k.priv.X.FillBytes(make([]byte, 32)),
		YCoord:        k.priv.Y.FillBytes(make([]byte, 32)),
	})
	if err != nil {
		k.t.Fatal(err)
	}
	attested := make([]byte, 16) // AAGUID: none
	attested = binary.BigEndian.AppendUint16(attested, uint16(len(k.ID)))
	attested = append(attested, k.ID...)
	attested = append(attested, cose...)
	ao, err := webauthncbor.Marshal(map[string]any{
		"fmt":      "none",
		"attStmt":  map[string]any{},
		"authData": k.authData(k.Flags|flagAT, k.Count, attested),
	})
	if err != nil {
		k.t.Fatal(err)
	}
	b, _ := json.Marshal(map[string]any{
		"id": k.IDString(), "rawId": k.IDString(), "type": "public-key",
		"response": map[string]any{
			"clientDataJSON":    B64.EncodeToString(k.clientData("webauthn.create", o.PublicKey.Challenge)),
			"attestationObject": B64.EncodeToString(ao),
			"transports":        []string{"internal"},
		},
		"clientExtensionResults": map[string]any{},
	})
	return b
}

// Get answers a sign-in's challenge as navigator.credentials.get would,
// with the sign counter one up.
func (k *Passkey) Get(challenge string) []byte {
	k.Count++
	return k.GetWith(challenge, k.Count, k.Flags)
}

// GetWith is Get with a chosen counter and flags.
func (k *Passkey) GetWith(challenge string, count uint32, flags byte) []byte {
	k.t.Helper()
	cd := k.clientData("webauthn.get", challenge)
	ad := k.authData(flags, count, nil)
	h := sha256.Sum256(cd)
	digest := sha256.Sum256(append(append([]byte{}, ad...), h[:]...))
	sig, err := ecdsa.SignASN1(rand.Reader, k.priv, digest[:])
	if err != nil {
		k.t.Fatal(err)
	}
	resp := map[string]any{
		"clientDataJSON":    B64.EncodeToString(cd),
		"authenticatorData": B64.EncodeToString(ad),
		"signature":         B64.EncodeToString(sig),
	}
	if k.Handle != nil {
		resp["userHandle"] = B64.EncodeToString(k.Handle)
	}
	b, _ := json.Marshal(map[string]any{
		"id": k.IDString(), "rawId": k.IDString(), "type": "public-key",
		"response": resp, "clientExtensionResults": map[string]any{},
	})
	return b
}
