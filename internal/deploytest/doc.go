// Package deploytest holds the end-to-end tests of the school demo and the
// checks of its container deployment. Its tests build the three binaries
// (cmd/hallpass, cmd/schoolapi, cmd/demoapp) once and run them as
// processes, as a person or a container would:
//
//   - schoolapi against a real hallpass: tokens from the real sign-in flow,
//     scopes that follow roles, audiences, and revocation seen at once by
//     introspection;
//   - demoapp in headless Chromium: sign in, read and publish results
//     through the school API, sign out;
//   - docker-compose.yml and the Dockerfile, checked against what the
//     binaries actually read and listen on (no container engine is needed).
//
// The package has no code of its own beyond this comment.
package deploytest
