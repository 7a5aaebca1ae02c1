package fositestore

// AssertionKey is assertionKey, for tests that look at the replay store
// itself.
var AssertionKey = assertionKey
