package twofactor_test

// A software authenticator for the passkey tests: an ECDSA P-256 key per
// credential, attestation "none", assertions signed as an authenticator
// signs them (authenticatorData || SHA-256(clientDataJSON)).

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
	flagUP = 0x01
	flagUV = 0x04
	flagBE = 0x08
	flagBS = 0x10
	flagAT = 0x40
)

var b64 = base64.RawURLEncoding

// softKey is one credential of a software authenticator.
type softKey struct {
	t      *testing.T
	id     []byte
	priv   *ecdsa.PrivateKey
	count  uint32 // last sign counter used; each assertion adds one (unless frozen)
	flags  byte   // UP, UV, BE, BS as the authenticator reports them
	rpID   string // the RP ID it hashes into authenticatorData
	origin string // the origin the "browser" writes into clientDataJSON
	handle []byte // the user handle it was registered with
}

func newSoftKey(t *testing.T, rpID, origin string) *softKey {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	id := make([]byte, 32)
	_, _ = rand.Read(id)
	return &softKey{t: t, id: id, priv: priv, flags: flagUP | flagUV | flagBE, rpID: rpID, origin: origin}
}

func (k *softKey) idString() string { return b64.EncodeToString(k.id) }

// clientData is the clientDataJSON a browser would make.
func (k *softKey) clientData(typ, challenge string) []byte {
	b, _ := json.Marshal(map[string]any{"type": typ, "challenge": challenge, "origin": k.origin, "crossOrigin": false})
	return b
}

func (k *softKey) authData(flags byte, count uint32, attested []byte) []byte {
	h := sha256.Sum256([]byte(k.rpID))
	ad := append([]byte{}, h[:]...)
	ad = append(ad, flags)
	ad = binary.BigEndian.AppendUint32(ad, count)
	return append(ad, attested...)
}

// beginOptions reads a begin answer: {"publicKey": {...}}.
type beginOptions struct {
	PublicKey struct {
		Challenge string `json:"challenge"`
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

func readOptions(t *testing.T, body string) beginOptions {
	t.Helper()
	var o beginOptions
	if err := json.Unmarshal([]byte(body), &o); err != nil || o.PublicKey.Challenge == "" {
		t.Fatalf("begin answer: %v in %q", err, body)
	}
	return o
}

// create answers a registration's options as navigator.credentials.create
// would, with attestation "none".
func (k *softKey) create(o beginOptions) []byte {
	k.t.Helper()
	handle, err := b64.DecodeString(o.PublicKey.User.ID)
	if err != nil {
		k.t.Fatalf("user.id: %v", err)
	}
	k.handle = handle
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
	attested = binary.BigEndian.AppendUint16(attested, uint16(len(k.id)))
	attested = append(attested, k.id...)
	attested = append(attested, cose...)
	ao, err := webauthncbor.Marshal(map[string]any{
		"fmt":      "none",
		"attStmt":  map[string]any{},
		"authData": k.authData(k.flags|flagAT, k.count, attested),
	})
	if err != nil {
		k.t.Fatal(err)
	}
	b, _ := json.Marshal(map[string]any{
		"id": k.idString(), "rawId": k.idString(), "type": "public-key",
		"response": map[string]any{
			"clientDataJSON":    b64.EncodeToString(k.clientData("webauthn.create", o.PublicKey.Challenge)),
			"attestationObject": b64.EncodeToString(ao),
			"transports":        []string{"internal"},
		},
		"clientExtensionResults": map[string]any{},
	})
	return b
}

// get answers a sign-in's challenge as navigator.credentials.get would,
// with the sign counter one up.
func (k *softKey) get(challenge string) []byte {
	k.count++
	return k.getWith(challenge, k.count, k.flags)
}

// getWith is get with a chosen counter and flags.
func (k *softKey) getWith(challenge string, count uint32, flags byte) []byte {
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
		"clientDataJSON":    b64.EncodeToString(cd),
		"authenticatorData": b64.EncodeToString(ad),
		"signature":         b64.EncodeToString(sig),
	}
	if k.handle != nil {
		resp["userHandle"] = b64.EncodeToString(k.handle)
	}
	b, _ := json.Marshal(map[string]any{
		"id": k.idString(), "rawId": k.idString(), "type": "public-key",
		"response": resp, "clientExtensionResults": map[string]any{},
	})
	return b
}
