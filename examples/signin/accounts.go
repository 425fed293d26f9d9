package main

import (
	"errors"
	"regexp"
	"strings"
	"sync"
	"unicode/utf8"

	"golang.org/x/crypto/bcrypt"
)

// accounts is the app's user table, in memory for the demo: a real app
// keeps it in its database. It is safe for concurrent use.
type accounts struct {
	cost  int    // bcrypt cost
	dummy []byte // a hash to compare against for unknown names, so they take as long as known ones

	mu     sync.Mutex
	byName map[string]*account
}

// account is one user. Only the password's bcrypt hash is kept.
type account struct {
	name  string
	hash  []byte
	phone string // E.164, "" until the user enrols
	gen   int64  // login generation: "sign out everywhere" bumps it, ending every login session
}

var (
	errTaken       = errors.New("that name is taken")
	errNoSuchUser  = errors.New("no such user")
	validName      = regexp.MustCompile(`^[A-Za-z0-9_-]{3,32}$`)
	maxPasswordLen = 72 // bytes: bcrypt reads no further
)

func newAccounts(cost int) (*accounts, error) {
	if cost == 0 {
		cost = bcrypt.DefaultCost
	}
	dummy, err := bcrypt.GenerateFromPassword([]byte("no such user: a hash to spend the same time on"), cost)
	if err != nil {
		return nil, err
	}
	return &accounts{cost: cost, dummy: dummy, byName: make(map[string]*account)}, nil
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

// create adds an account with no number; errTaken if the name is in use.
func (s *accounts) create(name, password, phone string) error {
	if s.exists(name) { // answer a taken name before spending a hash on it
		return errTaken
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(password), s.cost)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.byName[key(name)]; ok {
		return errTaken
	}
	s.byName[key(name)] = &account{name: key(name), hash: hash, phone: phone}
	return nil
}

func (s *accounts) exists(name string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.byName[key(name)]
	return ok
}

// authenticate returns the account's name when password is its password.
// An unknown name costs the same bcrypt comparison as a wrong password,
// which bcrypt makes in constant time.
func (s *accounts) authenticate(name, password string) (string, bool) {
	s.mu.Lock()
	a, ok := s.byName[key(name)]
	s.mu.Unlock()
	hash := s.dummy
	if ok {
		hash = a.hash
	}
	if len(password) > maxPasswordLen {
		// No account has such a password (sign-up refuses them), and bcrypt
		// would refuse it: spend the same time and say no.
		ok, password = false, password[:maxPasswordLen]
	}
	err := bcrypt.CompareHashAndPassword(hash, []byte(password))
	if !ok || err != nil {
		return "", false
	}
	return a.name, true
}

// phone returns the user's number on file ("" for none).
func (s *accounts) phone(name string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if a, ok := s.byName[key(name)]; ok {
		return a.phone
	}
	return ""
}

func (s *accounts) setPhone(name, phone string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.byName[key(name)]
	if !ok {
		return errNoSuchUser
	}
	a.phone = phone
	return nil
}

// generation returns the user's login generation; false for an unknown user.
func (s *accounts) generation(name string) (int64, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.byName[key(name)]
	if !ok {
		return 0, false
	}
	return a.gen, true
}

// endLogins ends every login session of the user.
func (s *accounts) endLogins(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if a, ok := s.byName[key(name)]; ok {
		a.gen++
	}
}
