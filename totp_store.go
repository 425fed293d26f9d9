package twofactor

import (
	"context"
	"strconv"
	"strings"
	"time"
)

// stateTOTP is the TOTPStore of WithTOTP(nil): a user's sealed record is
// a field of one map in the State, so every server sharing the State knows
// it. The record's field is named by its id ("s:" + id), and its last use
// is the field "u:" + id, so that removing one record (DeleteField) is one
// atomic call that never removes the record that replaced it. The map
// lives totpLife after the record was added or last used.
type stateTOTP struct{ s State }

func totpKey(subject string) string { return "totp:" + subject }

// TOTPSecret implements TOTPStore: the newest record, should a replacement
// have left an older one for a moment.
func (t stateTOTP) TOTPSecret(ctx context.Context, subject string) (string, time.Time, error) {
	fields, err := t.s.Fields(ctx, totpKey(subject))
	if err != nil {
		return "", time.Time{}, storeErr(err)
	}
	best, bestAdded, bestID := "", int64(-1), ""
	for f, v := range fields {
		id, ok := strings.CutPrefix(f, "s:")
		if !ok {
			continue
		}
		rid, added, _, ok := splitRecord(v)
		if !ok || rid != id {
			continue
		}
		n, _ := strconv.ParseInt(added, 10, 64)
		if n > bestAdded || n == bestAdded && id > bestID {
			best, bestAdded, bestID = v, n, id
		}
	}
	var last time.Time
	if ms, err := strconv.ParseInt(fields["u:"+bestID], 10, 64); err == nil && best != "" {
		last = time.UnixMilli(ms)
	}
	return best, last, nil
}

// SetTOTPSecret implements TOTPStore.
func (t stateTOTP) SetTOTPSecret(ctx context.Context, subject, record string) error {
	id, _, _, ok := splitRecord(record)
	if !ok {
		return errBadRecord
	}
	key := totpKey(subject)
	if err := t.s.SetField(ctx, key, "s:"+id, record, totpLife); err != nil {
		return storeErr(err)
	}
	fields, err := t.s.Fields(ctx, key)
	if err != nil {
		return storeErr(err)
	}
	for f := range fields {
		if f != "s:"+id && f != "u:"+id {
			if _, err := t.s.DeleteField(ctx, key, f); err != nil {
				return storeErr(err)
			}
		}
	}
	return nil
}

// DeleteTOTPSecret implements TOTPStore.
func (t stateTOTP) DeleteTOTPSecret(ctx context.Context, subject, record string) (bool, error) {
	id, _, _, ok := splitRecord(record)
	if !ok {
		return false, nil
	}
	key := totpKey(subject)
	fields, err := t.s.Fields(ctx, key)
	if err != nil {
		return false, storeErr(err)
	}
	if fields["s:"+id] != record {
		return false, nil
	}
	had, err := t.s.DeleteField(ctx, key, "s:"+id)
	if err != nil {
		return false, storeErr(err)
	}
	if _, err := t.s.DeleteField(ctx, key, "u:"+id); err != nil {
		return had, storeErr(err)
	}
	return had, nil
}

// TOTPUsed implements TOTPStore. The time is written only while the record
// is there; a removal racing it leaves at most a stray time, which no
// record reads and which ends with the map.
func (t stateTOTP) TOTPUsed(ctx context.Context, subject, record string, at time.Time) error {
	id, _, _, ok := splitRecord(record)
	if !ok {
		return errBadRecord
	}
	key := totpKey(subject)
	fields, err := t.s.Fields(ctx, key)
	if err != nil {
		return storeErr(err)
	}
	if fields["s:"+id] != record {
		return nil
	}
	return storeErr(t.s.SetField(ctx, key, "u:"+id, strconv.FormatInt(at.UnixMilli(), 10), totpLife))
}
