package redisstate

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// The user record's operations (twofactor.State), each one Lua script, so
// a revocation and a use of what it revokes can never interleave. The
// record's layout is twofactor's (see twofactor.State): "g" the
// generation, "s:"+grant "<gen> <device or -> <idle ms> <end ms>",
// "d:"+device "<gen> …". Times come from the caller's clock.

var generationScript = redis.NewScript(`
local g = redis.call('HGET', KEYS[1], 'g')
if not g then
	g = ARGV[1]
	redis.call('HSET', KEYS[1], 'g', g)
end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return g
`)

// Generation implements twofactor.State.
func (s *State) Generation(ctx context.Context, key, gen string, ttl time.Duration) (string, error) {
	ms, err := millis(ttl)
	if err != nil {
		return "", fail("generation", err)
	}
	var out string
	err = s.do(ctx, func(ctx context.Context) error {
		var err error
		out, err = generationScript.Run(ctx, s.client, []string{s.key(key)}, gen, ms).Text()
		return err
	})
	if err != nil {
		return "", fail("generation", err)
	}
	return out, nil
}

var newGenerationScript = redis.NewScript(`
local old = redis.call('HGET', KEYS[1], 'g')
redis.call('HSET', KEYS[1], 'g', ARGV[1])
if ARGV[2] ~= '' and old then
	local f = 's:' .. ARGV[2]
	local v = redis.call('HGET', KEYS[1], f)
	if v then
		local gen, dev, idle, fin = string.match(v, '^(%S+) (%S+) (%d+) (%d+)$')
		if gen == old then
			redis.call('HSET', KEYS[1], f, ARGV[1] .. ' - ' .. idle .. ' ' .. fin)
		end
	end
end
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
`)

// NewGeneration implements twofactor.State.
func (s *State) NewGeneration(ctx context.Context, key, gen, keep string, ttl time.Duration) error {
	ms, err := millis(ttl)
	if err != nil {
		return fail("newgeneration", err)
	}
	err = s.do(ctx, func(ctx context.Context) error {
		return newGenerationScript.Run(ctx, s.client, []string{s.key(key)}, gen, keep, ms).Err()
	})
	if err != nil {
		return fail("newgeneration", err)
	}
	return nil
}

// grantLiveLua defines live(v, g, now, dev): whether the grant value v is
// live in a record of generation g at now, dev looking up a device field.
const grantLiveLua = `
local function live(v, g, now, devfield)
	local gen, dev, idle, fin = string.match(v, '^(%S+) (%S+) (%d+) (%d+)$')
	if not gen or gen ~= g or now >= tonumber(idle) or now >= tonumber(fin) then
		return false
	end
	if dev ~= '-' then
		local d = devfield(dev)
		if not d or string.match(d, '^(%S+)') ~= gen then
			return false
		end
	end
	return true, gen, dev, tonumber(idle), fin
end
`

var addGrantScript = redis.NewScript(grantLiveLua + `
local key, grant, gen, device = KEYS[1], ARGV[1], ARGV[2], ARGV[3]
local now, max = tonumber(ARGV[8]), tonumber(ARGV[6])
local cur = redis.call('HGET', key, 'g')
if cur and cur ~= gen then
	return 0
end
if device ~= '-' then
	local d = redis.call('HGET', key, 'd:' .. device)
	if not d or string.match(d, '^(%S+)') ~= gen then
		return 0
	end
end
redis.call('HSET', key, 'g', gen)
local all = redis.call('HGETALL', key)
local fields = {}
for i = 1, #all, 2 do
	fields[all[i]] = all[i + 1]
end
local function devfield(d) return fields['d:' .. d] end
local n, oldest, oldestIdle = 0, nil, nil
for f, v in pairs(fields) do
	if string.sub(f, 1, 2) == 's:' then
		local ok, _, _, idle = live(v, gen, now, devfield)
		if ok then
			n = n + 1
			if not oldest or idle < oldestIdle then
				oldest, oldestIdle = f, idle
			end
		else
			redis.call('HDEL', key, f)
		end
	end
end
if max > 0 and n >= max then
	redis.call('HDEL', key, oldest)
end
redis.call('HSET', key, 's:' .. grant, gen .. ' ' .. device .. ' ' .. ARGV[4] .. ' ' .. ARGV[5])
redis.call('PEXPIRE', key, ARGV[7])
return 1
`)

// AddGrant implements twofactor.State.
func (s *State) AddGrant(ctx context.Context, key, grant, gen, device string, now, idle, end time.Time, max int, ttl time.Duration) (bool, error) {
	ms, err := millis(ttl)
	if err != nil {
		return false, fail("addgrant", err)
	}
	if gen == "" || containsSpace(gen+device+grant) {
		return false, fail("addgrant", fmt.Errorf("bad generation %q, device %q or grant %q", gen, device, grant))
	}
	if device == "" {
		device = "-"
	}
	var ok bool
	err = s.do(ctx, func(ctx context.Context) error {
		n, err := addGrantScript.Run(ctx, s.client, []string{s.key(key)},
			grant, gen, device, idle.UnixMilli(), end.UnixMilli(), max, ms, now.UnixMilli()).Int64()
		ok = n == 1
		return err
	})
	if err != nil {
		return false, fail("addgrant", err)
	}
	return ok, nil
}

// checkGrantLua defines check_grant(key, grant, now, want): CheckGrant on
// the user record at Redis key key, as 1 (live) or 0. It is shared by
// checkGrantScript and the session store's gate script (session.go), so
// both judge a grant alike.
const checkGrantLua = grantLiveLua + `
local function check_grant(key, grant, now, want)
	local f = 's:' .. grant
	local v = redis.call('HGET', key, f)
	if not v then
		return 0
	end
	local g = redis.call('HGET', key, 'g')
	local ok, gen, dev, idle, fin = live(v, g, now, function(d) return redis.call('HGET', key, 'd:' .. d) end)
	if not ok then
		redis.call('HDEL', key, f)
		return 0
	end
	if tonumber(want) > idle then
		local w = want
		if tonumber(want) > tonumber(fin) then
			w = fin
		end
		redis.call('HSET', key, f, gen .. ' ' .. dev .. ' ' .. w .. ' ' .. fin)
	end
	return 1
end
`

var checkGrantScript = redis.NewScript(checkGrantLua + `
return check_grant(KEYS[1], ARGV[1], tonumber(ARGV[2]), ARGV[3])
`)

// CheckGrant implements twofactor.State.
func (s *State) CheckGrant(ctx context.Context, key, grant string, now, idle time.Time) (bool, error) {
	var want int64
	if !idle.IsZero() {
		want = idle.UnixMilli()
	}
	var ok bool
	err := s.do(ctx, func(ctx context.Context) error {
		n, err := checkGrantScript.Run(ctx, s.client, []string{s.key(key)}, grant, now.UnixMilli(), want).Int64()
		ok = n == 1
		return err
	})
	if err != nil {
		return false, fail("checkgrant", err)
	}
	return ok, nil
}

func containsSpace(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' {
			return true
		}
	}
	return false
}
