package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net"
	"net/http"
	"net/netip"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/ulule/limiter/v3"
	"github.com/ulule/limiter/v3/drivers/store/memory"
	limitredis "github.com/ulule/limiter/v3/drivers/store/redis"
)

// The password step's limits. Every try counts, right or wrong: a person
// signs in a few times a day, a script guessing passwords thousands of
// times. A right password clears its account's count (not its network's).
// Each is a fixed window, counted by github.com/ulule/limiter/v3: in memory
// for one server, in Redis (one atomic script per count) when REDIS_URL is
// set, so that every server counts together.
var (
	// defaultLoginPerAccount limits tries at one account's password, from
	// anywhere, known name or not (an unknown name is limited the same, so
	// a refusal says nothing of whether the account exists).
	defaultLoginPerAccount = limiter.Rate{Limit: 10, Period: 15 * time.Minute}
	// defaultLoginPerNetwork limits tries from one network (an IPv4
	// address, an IPv6 /64), whatever the accounts: one script trying one
	// password on many names. An office behind one address stays well
	// below it.
	defaultLoginPerNetwork = limiter.Rate{Limit: 100, Period: 15 * time.Minute}
	// defaultSignupPerNetwork limits sign-ups (well-formed ones, taken
	// names included: each says whether a name exists) from one network.
	defaultSignupPerNetwork = limiter.Rate{Limit: 10, Period: time.Hour}
)

// limits are the app's own rate limits, before the library's limits on
// codes take over. Safe for concurrent use.
type limits struct {
	loginAccount, loginNetwork, signupNetwork *limiter.Limiter
}

// newLimits keeps the counts in Redis when client is not nil, else in
// memory. Zero rates take the defaults.
func newLimits(client redis.UniversalClient, prefix string, perAccount, perNetwork, signups limiter.Rate) (*limits, error) {
	var st limiter.Store
	if client != nil {
		var err error
		st, err = limitredis.NewStoreWithOptions(client, limiter.StoreOptions{Prefix: prefix + "limit"})
		if err != nil {
			return nil, err
		}
	} else {
		st = memory.NewStoreWithOptions(limiter.StoreOptions{Prefix: "limit", CleanUpInterval: time.Minute})
	}
	or := func(r, def limiter.Rate) limiter.Rate {
		if r.Limit == 0 || r.Period == 0 {
			return def
		}
		return r
	}
	return &limits{
		loginAccount:  limiter.New(st, or(perAccount, defaultLoginPerAccount)),
		loginNetwork:  limiter.New(st, or(perNetwork, defaultLoginPerNetwork)),
		signupNetwork: limiter.New(st, or(signups, defaultSignupPerNetwork)),
	}, nil
}

// counted is one limit and the key a request counts under.
type counted struct {
	l   *limiter.Limiter
	key string
}

// take counts one try against every limit in cs. It first looks at all of
// them and counts nothing when one is used up, so a refusal by one spends
// nothing of another; then it counts each, and refuses when a count went
// past its limit (tries racing for the last places). It returns how long
// until the refusing window ends (0: allowed). The windows run on the wall
// clock (the limiter's).
func take(ctx context.Context, cs ...counted) (time.Duration, error) {
	wait := func(c counted, lc limiter.Context) time.Duration {
		d := time.Until(time.Unix(lc.Reset, 0))
		return min(max(d, time.Second), c.l.Rate.Period)
	}
	for _, c := range cs {
		lc, err := c.l.Peek(ctx, c.key)
		if err != nil {
			return 0, err
		}
		if lc.Remaining == 0 {
			return wait(c, lc), nil
		}
	}
	var refused time.Duration
	for _, c := range cs {
		lc, err := c.l.Get(ctx, c.key)
		if err != nil {
			return 0, err
		}
		if lc.Reached && refused == 0 {
			refused = wait(c, lc)
		}
	}
	return refused, nil
}

// loginKeys are the limits a password try counts against.
func (l *limits) loginKeys(r *http.Request, name string) []counted {
	return []counted{
		{l.loginAccount, "login:account:" + accountKey(name)},
		{l.loginNetwork, "login:net:" + clientNetwork(r)},
	}
}

// passwordRight clears the account's count after a right password.
func (l *limits) passwordRight(ctx context.Context, name string) error {
	_, err := l.loginAccount.Reset(ctx, "login:account:"+accountKey(name))
	return err
}

func (l *limits) signupKeys(r *http.Request) []counted {
	return []counted{{l.signupNetwork, "signup:net:" + clientNetwork(r)}}
}

// accountKey is what an account's tries count under: a hash of the name in
// its key form, so a name of any length or shape makes one short key, and
// known and unknown names count alike.
func accountKey(name string) string {
	sum := sha256.Sum256([]byte(key(name)))
	return hex.EncodeToString(sum[:16])
}

// clientNetwork is the client's network: its IPv4 address or its IPv6 /64 (what
// one subscriber is usually given). It is the connection's address: behind
// a reverse proxy, take the client's address from the proxy's header (only
// from a proxy you trust) instead.
func clientNetwork(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return "unknown"
	}
	a = a.Unmap().WithZone("")
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.String()
	}
	return a.String()
}
