// Package strength rates how hard a password is to guess, with the model
// of zxcvbn (Wheeler, USENIX Security 2016) and the word lists, keyboard
// graphs and scoring of github.com/trustelem/zxcvbn, whose ratings it
// reproduces exactly, but for passwords with l33t substitutes (p@$$w0rd),
// which it may rate easier to guess, never harder: it also tries the
// readings of the substitutes that the library loses. Call Rate when a
// password is being set.
//
// It replaces only the library's matcher and word lists, because the
// matcher builds maps of the lists' 94,000 words when the program starts,
// and the frequency package builds its own map of them, heap that every
// garbage collection must then walk in a process that rates a password
// only when one is set. Here the lists are embedded text (words/, written
// from the library's by internal/genwords) and indexed on the first
// rating, in tables that hold no pointers.
//
// It must not import github.com/trustelem/zxcvbn, its matching package
// or its frequency package (all build maps at start), nor a
// backtracking regular expression package: repeats and dates are found
// in plain Go. Tests import the library to check that Rate rates every
// password as it does, or easier to guess where the password holds a
// substitute, and that the embedded lists are the library's.
package strength
