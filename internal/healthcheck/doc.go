// Package healthcheck is the probe the container images run as their
// HEALTHCHECK: a GET of a local health endpoint of the server this very
// container runs, from the same listen address the server was given.
package healthcheck
