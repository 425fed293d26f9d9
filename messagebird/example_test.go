package messagebird_test

import (
	"context"
	"errors"
	"log"
	"os"
	"time"

	"github.com/go-twofactor/twofactor"
	"github.com/go-twofactor/twofactor/messagebird"
)

// ExampleNew sends a code by SMS and checks the code the visitor typed. It
// needs a MessageBird access key, so it is not run as a test.
func ExampleNew() {
	mb, err := messagebird.New(os.Getenv("MESSAGEBIRD_API_KEY"), messagebird.Config{
		Originator:  "MyShop",
		Template:    "Your MyShop code is %token.",
		Validity:    5 * time.Minute,
		MaxAttempts: 3,
	})
	if err != nil {
		log.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	v, err := mb.Send(ctx, twofactor.Request{Phone: "+31612345678"})
	if err != nil {
		log.Fatal(err) // errors.Is(err, twofactor.ErrInvalidPhone), ErrNoBalance, ErrUnavailable, ...
	}
	// Keep v.ID server-side (in the session), never in a form field.

	code := "123456" // what the visitor typed
	switch err := mb.Check(ctx, v.ID, code); {
	case err == nil:
		log.Print("verified")
	case errors.Is(err, twofactor.ErrInvalidCode), errors.Is(err, twofactor.ErrMalformedCode):
		log.Print("wrong code, try again")
	case errors.Is(err, twofactor.ErrExpired), errors.Is(err, twofactor.ErrAlreadyUsed):
		log.Print("code no longer valid, send a new one")
	default:
		log.Print("could not check the code, try again later: ", err)
	}
}
