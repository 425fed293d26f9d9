package twofactor_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// doc.go's map ("Where each idea lives") names every file of the package,
// so a new file is placed in it when it is added.
func TestDocMapNamesEveryFile(t *testing.T) {
	doc, err := os.ReadFile("doc.go")
	if err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 10 {
		t.Fatalf("found only %d Go files: run from the package directory", len(files))
	}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		if !strings.Contains(string(doc), f) {
			t.Errorf("doc.go's map does not name %s: say in it what the file holds", f)
		}
	}
}
