package provider

import (
	"fmt"
	"strings"

	"github.com/hallpass/hallpass/directory"
)

// shownAsIs is stored text as a page shows it: each character that
// would make it show as other text (directory.DisplayUnsafe: controls,
// direction overrides, invisible characters) written as its escape,
// "\u202E". The service refuses them in what it stores now; audit entries
// keep text as it was recorded, and records from before the service
// refused them keep theirs, so the pages that show such text (the audit
// log, a client's name on the login, consent and sign-out pages) pass it
// through here and it is read as it is.
func shownAsIs(s string) string {
	if !strings.ContainsFunc(s, directory.DisplayUnsafe) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		switch {
		case !directory.DisplayUnsafe(r):
			b.WriteRune(r)
		case r > 0xffff:
			fmt.Fprintf(&b, "\\U%08X", r)
		default:
			fmt.Fprintf(&b, "\\u%04X", r)
		}
	}
	return b.String()
}
