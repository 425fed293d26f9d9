package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
)

// axeVersion is the axe-core release .ci/run installs from npm.
const axeVersion = "4.14.1"

// axeSource returns axe-core's axe.min.js, which audits a page for WCAG
// violations: the file AXE_CORE_JS names, or the one .ci/run installs
// (npm install --prefix ~/.cache/twofactor-ci axe-core). Without it the
// audit is left out, with a note; under CI=true the test fails.
func axeSource(t *testing.T) string {
	t.Helper()
	paths := []string{os.Getenv("AXE_CORE_JS")}
	if home, err := os.UserHomeDir(); err == nil {
		paths = append(paths, filepath.Join(home, ".cache", "twofactor-ci", "node_modules", "axe-core", "axe.min.js"))
	}
	for _, p := range paths {
		if p == "" {
			continue
		}
		if b, err := os.ReadFile(p); err == nil {
			return string(b)
		}
	}
	const msg = "axe-core not found (set AXE_CORE_JS to axe.min.js, or run: npm install --prefix ~/.cache/twofactor-ci axe-core@" + axeVersion + ")"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg + "; CI=true: the accessibility audit must run")
	}
	t.Log(msg + "; the accessibility audit is left out")
	return ""
}

// axeViolation is one rule axe-core found broken, and where.
type axeViolation struct {
	ID     string   `json:"id"`
	Impact string   `json:"impact"`
	Help   string   `json:"help"`
	Nodes  []string `json:"nodes"`
}

// expectAccessible audits the page with axe-core against WCAG 2.2 A and AA
// and reports every violation, naming the state.
func (b *stateTab) expectAccessible(state string) {
	b.t.Helper()
	if b.axe == "" {
		return
	}
	if !b.js {
		// axe-core needs timers, which do not run while the page's scripts
		// are off: turn them on for the audit (the page's own script, not
		// run at load, stays unrun) and off again.
		b.scripts(true)
		defer b.scripts(false)
	}
	if !evalJS[bool](b.browser, `typeof axe !== "undefined"`) {
		evalJS[bool](b.browser, b.axe+";true")
	}
	vs := result(b.browser, chromedp.Evaluate[[]axeViolation](`axe.run(document, {runOnly: {type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22a", "wcag22aa"]}})
		.then(r => r.violations.map(v => ({id: v.id, impact: v.impact || "", help: v.help, nodes: v.nodes.map(n => n.target.join(" "))})))`, chromedp.EvalAwaitPromise))
	for _, v := range vs {
		b.t.Errorf("%s: axe-core: %s (%s): %s at %s", state, v.ID, v.Impact, v.Help, strings.Join(v.Nodes, ", "))
	}
}

// scripts turns the tab's script execution on or off.
func (b *stateTab) scripts(on bool) {
	b.t.Helper()
	if _, err := chromedp.Call(b.ctx, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: !on}); err != nil {
		b.t.Fatal(err)
	}
}

// focusedSoon is focused, polled for up to two seconds: a page applies
// autofocus shortly after it loads.
func (b *stateTab) focusedSoon(want string) string {
	b.t.Helper()
	got, err := chromedp.Run(b.ctx, chromedp.Poll[bool](fmt.Sprintf(`(e => e && (e.name || e.id || e.tagName) === %q)(document.activeElement)`, want),
		chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(2*time.Second)))
	if err == nil && got {
		return want
	}
	return b.focused()
}

// description is the accessible description of the element sel: the texts
// of the elements its aria-describedby names.
func (b *stateTab) description(sel string) string {
	b.t.Helper()
	return evalJS[string](b.browser, fmt.Sprintf(`(e => (e.getAttribute("aria-describedby") || "").split(/\s+/).filter(Boolean)
		.map(id => (document.getElementById(id) || {textContent: ""}).textContent.trim()).join(" "))(document.querySelector(%q))`, sel))
}
