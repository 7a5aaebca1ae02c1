// Package testdb gives tests fresh, empty databases on every storage
// backend: an SQLite file in a temporary directory, and a PostgreSQL schema
// of its own in the database HALLPASS_TEST_DATABASE_URL names.
package testdb
