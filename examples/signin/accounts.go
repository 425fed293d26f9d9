package main

import (
	"context"
	"errors"
	"regexp"
	"strings"
	"unicode/utf8"

	"golang.org/x/crypto/bcrypt"
)

// accounts is the app's user table: names, password hashes, numbers on
// file and login generations, kept in a store (memory, or Redis when the
// app runs on several servers). It is safe for concurrent use.
type accounts struct {
	cost  int    // bcrypt cost
	dummy []byte // a hash to compare against for unknown names, so they take as long as known ones
	st    store
}

var (
	errTaken       = errors.New("that name is taken")
	errNoSuchUser  = errors.New("no such user")
	validName      = regexp.MustCompile(`^[A-Za-z0-9_-]{3,32}$`)
	maxPasswordLen = 72 // bytes: bcrypt reads no further
)

func newAccounts(cost int, st store) (*accounts, error) {
	if cost == 0 {
		cost = bcrypt.DefaultCost
	}
	dummy, err := bcrypt.GenerateFromPassword([]byte("no such user: a hash to spend the same time on"), cost)
	if err != nil {
		return nil, err
	}
	return &accounts{cost: cost, dummy: dummy, st: st}, nil
}

// checkSignup says what is wrong with a new name and password, or "".
func checkSignup(name, password string) string {
	switch {
	case !validName.MatchString(name):
		return "Choose a username of 3 to 32 letters, digits, - or _."
	case utf8.RuneCountInString(password) < 8:
		return "Choose a password of at least 8 characters."
	case len(password) > maxPasswordLen:
		return "Choose a password of at most 72 bytes."
	}
	return ""
}

// key is the name accounts are filed under: names differ by more than
// case, so "Alice" cannot sign up beside "alice".
func key(name string) string { return strings.ToLower(name) }

// create adds an account; errTaken if the name is in use.
func (s *accounts) create(ctx context.Context, name, password, phone string) error {
	// Answer a taken name before spending a hash on it.
	if _, ok, err := s.st.user(ctx, key(name)); err != nil || ok {
		if err == nil {
			err = errTaken
		}
		return err
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(password), s.cost)
	if err != nil {
		return err
	}
	return s.st.createUser(ctx, user{Name: key(name), Hash: hash, Phone: phone})
}

// authenticate returns the account when password is its password. An
// unknown name costs the same bcrypt comparison as a wrong password, which
// bcrypt makes in constant time. Only a store failure is an error.
func (s *accounts) authenticate(ctx context.Context, name, password string) (user, bool, error) {
	u, ok, err := s.st.user(ctx, key(name))
	if err != nil {
		return user{}, false, err
	}
	hash := s.dummy
	if ok {
		hash = u.Hash
	}
	if len(password) > maxPasswordLen {
		// No account has such a password (sign-up refuses them), and bcrypt
		// would refuse it: spend the same time and say no.
		ok, password = false, password[:maxPasswordLen]
	}
	if err := bcrypt.CompareHashAndPassword(hash, []byte(password)); !ok || err != nil {
		return user{}, false, nil
	}
	return u, true, nil
}

// phone returns the user's number on file ("" for none).
func (s *accounts) phone(ctx context.Context, name string) (string, error) {
	u, _, err := s.st.user(ctx, key(name))
	return u.Phone, err
}
