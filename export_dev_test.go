package twofactor

import "io"

// SetDevOut makes development mode print the Mock's codes to w until the
// returned function restores standard error.
func SetDevOut(w io.Writer) (restore func()) {
	old := devOut
	devOut = w
	return func() { devOut = old }
}
