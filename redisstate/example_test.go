package redisstate_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/go-twofactor/twofactor"
	"github.com/go-twofactor/twofactor/redisstate"
)

// Example shares twofactor's server-side state between app servers through
// Redis. It needs a running server, so it is compiled but not run by go test.
func Example() {
	client := redis.NewClient(&redis.Options{
		Addr: "localhost:6379",
		// Let context deadlines cut off slow commands and free their
		// connection; the State bounds every call either way.
		ContextTimeoutEnabled: true,
	})
	defer client.Close()

	state, err := redisstate.New(client,
		redisstate.WithPrefix("myapp:2fa:"),
		redisstate.WithTimeout(time.Second),
	)
	if err != nil {
		log.Fatal(err)
	}
	var _ twofactor.State = state

	// Count a send to a phone number in a one-hour window.
	n, ttl, err := state.Incr(context.Background(), "sends:+31612345678", 1, time.Hour)
	if errors.Is(err, twofactor.ErrStoreUnavailable) {
		// Fail closed: answer 503 rather than skip the limit.
		log.Print(err)
		return
	}
	fmt.Printf("send %d this hour; the window resets in %v\n", n, ttl.Round(time.Minute))
}
